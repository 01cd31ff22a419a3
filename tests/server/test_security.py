"""Security of the hackathon server against a real uvicorn process: every attack fails closed with the
right HTTP status and an error body that leaks nothing (no paths, no other team's data, no traceback)."""

from __future__ import annotations

import io
import json
import sqlite3
import time
import zipfile

import httpx
import pytest

from tests.server.conftest import auth, make_submission, no_leak, upload, zip_bytes

GENERIC_401 = {"detail": "missing or invalid token"}
EVIL = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def env(server_factory, tmp_path_factory):
    # no workers: uploads stay queued, which is all these tests need (and costs no CPU)
    ev, srv = server_factory(workers=0, **{"limits.upload_max_mb": 0.2, "limits.uploads_per_window": 3,
                                            "limits.window_s": 600, "phases.1.uploads": "open", "baselines": []})
    for name in ("alpha", "beta", "rapid", "revoked", "slip", "locker", "cli", EVIL):
        ev.team(name)
    ev.revoke("revoked")
    srv.start()
    folder = make_submission(tmp_path_factory.mktemp("sub") / "s", team="alpha")
    good = zip_bytes(folder)
    r = upload(srv.url, ev.tokens["beta"], good, phase="dev")
    assert r.status_code == 201, r.text
    beta_dev = r.json()["id"]
    (folder / "notes.txt").write_text("final variant\n")
    r = upload(srv.url, ev.tokens["beta"], zip_bytes(folder), phase="final")
    assert r.status_code == 201, r.text
    beta_final = r.json()["id"]
    # give beta's hidden-phase submission a finished episode with a replay and a log, as a worker would
    replay = ev.data_dir / "results.sqlite.replays" / beta_final / "final" / "case" / "7.replay"
    replay.parent.mkdir(parents=True, exist_ok=True)
    replay.write_bytes(b"replay-bytes-of-beta")
    (ev.data_dir / "logs").mkdir(exist_ok=True)
    (ev.data_dir / "logs" / f"{beta_dev}.log").write_text(f"beta secret log line {ev.data_dir}\n\x1b[31mred\x1b[0m\n")
    con = sqlite3.connect(ev.data_dir / "event.sqlite")
    with con:
        con.execute("INSERT INTO episodes (submission_id, idx, case_name, seed, status, score, metrics, replay) "
                    "VALUES (?, 0, 'case', '7', 'finished', 0.5, '{}', ?)", (beta_final, str(replay)))
        con.execute("UPDATE submissions SET status='finished', score=0.5 WHERE id=?", (beta_final,))
    con.close()
    return ev, srv, good, beta_dev, beta_final, folder


def count_rows(ev) -> int:
    con = sqlite3.connect(ev.data_dir / "event.sqlite")
    try:
        return con.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    finally:
        con.close()


def test_no_wrong_or_revoked_token(env):
    ev, srv, good, beta_dev, *_ = env
    for headers in ({}, auth("tb_000000000000_nope"), auth("garbage"), auth(ev.tokens["revoked"])):
        for method, path in (("GET", f"/api/submissions/{beta_dev}"), ("GET", "/api/submissions"),
                             ("GET", f"/api/submissions/{beta_dev}/logs")):
            r = httpx.request(method, srv.url + path, headers=headers)
            assert r.status_code == 401, (headers, path, r.text)
            assert r.json() == GENERIC_401
            assert r.headers["www-authenticate"] == "Bearer"
        r = upload(srv.url, None, good) if not headers else httpx.post(
            srv.url + "/api/submissions", headers=headers, files={"file": ("s.zip", good)})
        assert r.status_code == 401 and r.json() == GENERIC_401


def test_other_team_cannot_read_logs_files_or_hidden_replays(env):
    ev, srv, _good, beta_dev, beta_final, _ = env
    a = auth(ev.tokens["alpha"])
    for path in (f"/api/submissions/{beta_dev}", f"/api/submissions/{beta_dev}/logs",
                 f"/api/submissions/{beta_dev}/archive", f"/api/submissions/{beta_final}",
                 f"/api/submissions/{beta_final}/replays/case_7.replay",
                 f"/api/submissions/{beta_final}/episodes/0/trajectory",
                 f"/fragment/submissions/{beta_final}"):
        for headers in (a, {}):
            r = httpx.get(srv.url + path, headers=headers)
            assert r.status_code in (401, 404), (path, r.status_code)
            if headers:
                assert r.status_code == 404 and r.json() == {"detail": "no such submission"} or \
                    r.json() == {"detail": "not found"}, (path, r.text)
            no_leak(r.text, "beta", "replay-bytes", "secret log")
    # a nonexistent id answers exactly the same
    r = httpx.get(srv.url + "/api/submissions/s000000000000/logs", headers=a)
    assert r.status_code == 404 and r.json() == {"detail": "no such submission"}
    # the owner sees its logs, filtered: no server paths, no control characters
    r = httpx.get(srv.url + f"/api/submissions/{beta_dev}/logs", headers=auth(ev.tokens["beta"]))
    assert r.status_code == 200
    log = r.json()["log"]
    assert "beta secret log line" in log and str(ev.data_dir) not in log and "\x1b" not in log
    # hidden-phase scores and replays: not even the owner before the reveal; the admin yes
    r = httpx.get(srv.url + f"/api/submissions/{beta_final}", headers=auth(ev.tokens["beta"]))
    assert r.status_code == 200 and r.json()["score"] is None and r.json()["episodes"] == []
    r = httpx.get(srv.url + f"/api/submissions/{beta_final}/replays/case_7.replay", headers=auth(ev.tokens["beta"]))
    assert r.status_code == 404
    r = httpx.get(srv.url + f"/api/submissions/{beta_final}/replays/case_7.replay", headers=auth(ev.admin))
    assert r.status_code == 200 and r.content == b"replay-bytes-of-beta"
    lb = httpx.get(srv.url + "/api/leaderboard?phase=final").json()
    assert lb["rows"] == [] and "final" not in [p["name"] for p in lb["phases"]]
    assert any(row["score"] == 0.5 for row in
               httpx.get(srv.url + "/api/leaderboard?phase=final", headers=auth(ev.admin)).json()["rows"])


@pytest.mark.parametrize("path", [
    "/api/submissions/{id}/replays/..%2F..%2F..%2Fevent.sqlite",
    "/api/submissions/{id}/replays/..%2f..%2fevent.sqlite",
    "/api/submissions/{id}/replays/%2Fetc%2Fpasswd",
    "/api/submissions/{id}/replays/....//....//event.sqlite",
    "/api/submissions/..%2F..%2Fetc%2Fpasswd/replays/x",
    "/api/submissions/{id}/episodes/0/thumbnail/../../../../etc/passwd",
    "/static/..%2F..%2F..%2Fevent.sqlite",
    "/static/%2e%2e/app.py",
    "/api/maps/..%2F..%2Fetc%2Fpasswd",
])
def test_path_traversal_in_downloads(env, path):
    ev, srv, _good, _beta_dev, beta_final, _ = env
    r = httpx.get(srv.url + path.format(id=beta_final), headers=auth(ev.admin))
    assert r.status_code == 404, (path, r.status_code, r.text[:200])
    no_leak(r.text, "root:", "SQLite format")


def _zip(members: dict[str, bytes], compress=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compress) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compress)
    return buf.getvalue()


def test_zip_slip_and_zip_bomb_are_refused_and_nothing_is_stored(env):
    ev, srv, _good, *_ = env
    tok = ev.tokens["slip"]
    before = count_rows(ev)
    for members, needle in (({"../../evil.py": b"x", "submission.yaml": b"a: 1"}, "zip-slip"),
                            ({"/etc/evil.py": b"x"}, "zip-slip"),
                            ({"submission.yaml": b"a: 1", "big.npz": b"\0" * (60 << 20)}, "zip bomb")):
        r = upload(srv.url, tok, _zip(members))
        assert r.status_code == 400, r.text
        assert needle in r.json()["detail"]
        no_leak(r.text)
    assert count_rows(ev) == before
    assert not (ev.data_dir.parent / "evil.py").exists() and not (ev.data_dir / "evil.py").exists()
    assert list((ev.data_dir / "tmp").iterdir()) == []


def test_oversized_upload_is_refused_before_it_is_stored(env):
    ev, srv, *_ = env
    before = count_rows(ev)
    r = upload(srv.url, ev.tokens["alpha"], b"PK" + b"\0" * 400_000)  # limit 0.2 MB
    assert r.status_code == 413 and r.json() == {"detail": "upload too large"}

    def chunks():  # a well-formed multipart body without Content-Length: counted while it streams
        yield (b'--x\r\nContent-Disposition: form-data; name="file"; filename="s.zip"\r\n'
               b"Content-Type: application/zip\r\n\r\n")
        for _ in range(40):
            yield b"\0" * 10_000
        yield b"\r\n--x--\r\n"

    r = httpx.post(srv.url + "/api/submissions", headers={**auth(ev.tokens["alpha"]),
                                                          "Content-Type": "multipart/form-data; boundary=x"},
                   content=chunks())
    assert r.status_code == 413, r.text
    assert count_rows(ev) == before


def test_rate_limit(env):
    ev, srv, *_ = env
    tok = ev.tokens["rapid"]
    codes = [upload(srv.url, tok, _zip({"x.txt": b"%d" % i})).status_code for i in range(4)]
    assert codes[:3] == [400, 400, 400]  # counted although invalid
    r = upload(srv.url, tok, _zip({"x.txt": b"4"}))
    assert codes[3] == 429 and r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert upload(srv.url, ev.tokens["alpha"], _zip({"y.txt": b"1"})).status_code == 400  # other teams unaffected


def test_non_admin_on_admin_endpoints(env):
    ev, srv, _good, beta_dev, *_ = env
    calls = [("GET", "/api/admin/teams", None), ("POST", "/api/admin/teams", {"name": "x"}),
             ("POST", "/api/admin/teams/1/revoke", None), ("POST", "/api/admin/teams/1/token", None),
             ("GET", "/api/admin/queue", None), ("GET", "/api/admin/workers", None),
             ("POST", "/api/admin/phases/final/reveal", None),
             ("POST", f"/api/admin/submissions/{beta_dev}/reevaluate", None), ("GET", "/fragment/admin", None)]
    for method, path, body in calls:
        r = httpx.request(method, srv.url + path, headers=auth(ev.tokens["alpha"]), json=body)
        assert r.status_code == 403 and r.json() == {"detail": "admin only"}, (path, r.text)
        r = httpx.request(method, srv.url + path, json=body)
        assert r.status_code == 401 and r.json() == GENERIC_401
    assert httpx.get(srv.url + "/api/admin/teams", headers=auth(ev.admin)).status_code == 200
    assert "final" not in [p["name"] for p in httpx.get(srv.url + "/api/phases").json()]  # not revealed


def test_script_injection_in_team_and_submission_names_is_escaped(env):
    ev, srv, _good, _b, _f, folder = env
    (folder / "evil.txt").write_text("make the hash differ")
    r = upload(srv.url, ev.tokens[EVIL], zip_bytes(folder), name=EVIL, phase="dev")
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    for path in ("/", "/fragment/board?phase=dev", f"/submissions/{sid}", f"/fragment/submissions/{sid}"):
        html = httpx.get(srv.url + path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert" in html, path
    page = httpx.get(srv.url + "/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    data = httpx.get(srv.url + "/api/leaderboard?phase=dev").json()
    assert EVIL in [row["team"] for row in data["rows"]]  # JSON carries the raw name; pages escape it
    assert json.dumps(EVIL) in httpx.get(srv.url + "/api/leaderboard?phase=dev").text


def test_duplicate_quota_cancel(env):
    ev, srv, good, beta_dev, *_ = env
    r = upload(srv.url, ev.tokens["beta"], good, phase="dev")
    assert r.status_code == 200 and r.json() == {**r.json(), "id": beta_dev, "duplicate": True}
    # team alpha cannot cancel beta's submission; beta can, while it is queued; not charged afterwards
    assert httpx.post(srv.url + f"/api/submissions/{beta_dev}/cancel",
                      headers=auth(ev.tokens["alpha"])).status_code == 404
    mine = httpx.get(srv.url + "/api/submissions", headers=auth(ev.tokens["beta"])).json()
    used = mine["quota"]["dev"]["used"]
    r = httpx.post(srv.url + f"/api/submissions/{beta_dev}/cancel", headers=auth(ev.tokens["beta"]))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert httpx.post(srv.url + f"/api/submissions/{beta_dev}/cancel",
                      headers=auth(ev.tokens["beta"])).status_code == 409
    mine = httpx.get(srv.url + "/api/submissions", headers=auth(ev.tokens["beta"])).json()
    assert mine["quota"]["dev"]["used"] == used - 1


def test_db_locked_refuses_upload_cleanly(env):
    ev, srv, _good, _b, _f, folder = env
    (folder / "locked.txt").write_text(str(time.time()))
    data = zip_bytes(folder)
    before = count_rows(ev)
    uploads_before = sorted((ev.data_dir / "uploads").iterdir())
    con = sqlite3.connect(ev.data_dir / "event.sqlite", isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    try:
        r = upload(srv.url, ev.tokens["locker"], data)
    finally:
        con.execute("ROLLBACK")
        con.close()
    assert r.status_code == 503, r.text
    assert "nothing stored" in r.json()["detail"] and "retry-after" in r.headers
    assert count_rows(ev) == before
    assert sorted((ev.data_dir / "uploads").iterdir()) == uploads_before
    assert not list((ev.data_dir / "tmp").iterdir())
    r = upload(srv.url, ev.tokens["locker"], data)  # lock gone: the same upload goes through
    assert r.status_code == 201


def test_admin_teams_tokens_reveal_reevaluate_and_log_cap(env):
    ev, srv, _good, beta_dev, beta_final, _ = env
    a = auth(ev.admin)
    r = httpx.post(srv.url + "/api/admin/teams", headers=a, json={"name": "late crew"})
    assert r.status_code == 201
    team_id, tok = r.json()["id"], r.json()["token"]
    assert httpx.get(srv.url + "/api/submissions", headers=auth(tok)).status_code == 200
    assert httpx.post(srv.url + "/api/admin/teams", headers=a, json={"name": "late crew"}).status_code == 409
    assert httpx.post(srv.url + f"/api/admin/teams/{team_id}/revoke", headers=a).json() == {"revoked": 1}
    assert httpx.get(srv.url + "/api/submissions", headers=auth(tok)).status_code == 401
    tok2 = httpx.post(srv.url + f"/api/admin/teams/{team_id}/token", headers=a).json()["token"]
    assert httpx.get(srv.url + "/api/submissions", headers=auth(tok2)).status_code == 200
    names = [t["name"] for t in httpx.get(srv.url + "/api/admin/teams", headers=a).json()]
    assert "late crew" in names and "beta" in names
    # the queue and worker health are visible to the admin
    queue = httpx.get(srv.url + "/api/admin/queue", headers=a).json()
    assert {j["submission_id"] for j in queue} >= {beta_final}
    assert "workers" in httpx.get(srv.url + "/api/admin/workers", headers=a).json()
    # reveal the hidden phase: its scores and replays become public
    assert httpx.get(srv.url + f"/api/submissions/{beta_final}/replays/case_7.replay").status_code == 404
    assert httpx.post(srv.url + "/api/admin/phases/final/reveal", headers=a).json()["revealed"] is True
    assert "final" in [p["name"] for p in httpx.get(srv.url + "/api/phases").json()]
    lb = httpx.get(srv.url + "/api/leaderboard?phase=final").json()
    assert [r["score"] for r in lb["rows"]] == [0.5]
    assert httpx.get(srv.url + f"/api/submissions/{beta_final}/replays/case_7.replay").content == b"replay-bytes-of-beta"
    # re-evaluation: back in the queue, results cleared, the team's quota not charged again
    r = httpx.post(srv.url + f"/api/admin/submissions/{beta_final}/reevaluate", headers=a)
    assert r.status_code == 200 and r.json()["status"] == "queued"
    d = httpx.get(srv.url + f"/api/submissions/{beta_final}", headers=a).json()
    assert d["status"] == "queued" and d["score"] is None and d["episodes"] == []
    # logs are capped for the owner (limits.log_max_kb, default 64)
    (ev.data_dir / "logs" / f"{beta_final}.log").write_text("x" * 100 + "\n" + "line\n" * 40_000)
    log = httpx.get(srv.url + f"/api/submissions/{beta_final}/logs", headers=auth(ev.tokens["beta"])).json()
    assert log["truncated"] and len(log["log"]) <= 64 * 1024 + 200 and log["log"].startswith("[... ")


def test_testbed_submit_prints_the_id_last(env, tmp_path):
    from tests.server.conftest import run_cli

    ev, srv, *_ = env
    folder = make_submission(tmp_path / "cli_sub", team="cli", name="from the cli")
    rc, out, err = run_cli(["submit", str(folder), "--server", srv.url, "--token", ev.tokens["cli"]])
    assert rc == 0, err
    sid = out.split()[-1]
    d = httpx.get(srv.url + f"/api/submissions/{sid}", headers=auth(ev.tokens["cli"])).json()
    assert d["name"] == "from the cli" and d["status"] == "queued" and d["team"] == "cli"
    rc, out, _ = run_cli(["submit", str(folder), "--server", srv.url, "--token", ev.tokens["cli"]])
    assert rc == 0 and out.split()[-1] == sid and "duplicate" in out  # the same folder zips to the same hash
    rc, _out, err = run_cli(["submit", str(folder), "--server", srv.url, "--token", "tb_0_wrong"])
    assert rc == 2 and "HTTP 401" in err


def test_openapi_documents_the_api(env):
    _ev, srv, *_ = env
    spec = httpx.get(srv.url + "/openapi.json").json()
    for path in ("/api/leaderboard", "/api/submissions", "/api/submissions/{sub_id}", "/api/admin/queue",
                 "/api/admin/phases/{name}/reveal", "/api/maps/{name}"):
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert httpx.get(srv.url + "/docs").status_code == 200
