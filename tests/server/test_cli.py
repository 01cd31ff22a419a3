"""The organiser's and the team's commands: event init, teams and tokens, bad configs, store versions,
Ray fallback, disk full during an upload (in process)."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from fastapi.testclient import TestClient

from testbed.server import db
from testbed.server.config import load_event
from tests.server.conftest import Event, auth, make_submission, run_cli, zip_bytes


def test_event_init_team_add_revoke(tmp_path):
    ev = Event(tmp_path, "weekend")
    text = ev.cfg.read_text()
    assert "phases:" in text and "quota:" in text and "upload_max_mb:" in text
    assert ev.admin.startswith("tb_")
    tok = ev.team("Team <One>")
    assert tok.startswith("tb_") and tok != ev.admin
    con = db.connect(ev.data_dir / "event.sqlite")
    stored = b"".join(r["hash"] + r["salt"] for r in con.execute("SELECT * FROM tokens"))
    assert tok.encode() not in stored and tok.split("_", 2)[2].encode() not in stored  # only salted hashes
    assert db.verify_token(con, tok)["role"] == "team"
    assert db.verify_token(con, ev.admin)["role"] == "admin"
    assert db.verify_token(con, tok[:-1] + ("A" if tok[-1] != "A" else "B")) is None
    ev.revoke("Team <One>")
    assert db.verify_token(con, tok) is None
    rc, out, _ = run_cli(["event", "team", "token", "Team <One>", "--event", str(ev.cfg)])
    assert rc == 0 and db.verify_token(con, out.split()[-1]) is not None
    rc, _out, err = run_cli(["event", "team", "add", "Team <One>", "--event", str(ev.cfg)])
    assert rc == 2 and "exists already" in err
    rc, _out, err = run_cli(["event", "init", "weekend"], cwd=tmp_path)
    assert rc == 2 and "exists" in err
    rc, out, _ = run_cli(["event", "team", "list", "--event", str(ev.cfg)])
    assert "Team <One>" in out and "1 team(s)" in out


@pytest.mark.parametrize("edit, needle", [
    ("workers:\n  count: 2\n  colour: red\n", "'workers.colour'"),
    ("phases:\n  - name: dev\n    suite: dev\n    qouta: 3\n", "'phases[0].qouta'"),
    ("limits:\n  upload_max_mb: lots\n", "limits.upload_max_mb: expected a number"),
    ("phases:\n  - name: dev\n    uploads: maybe\n", "phases[0].uploads"),
    ("bogus_top: 1\n", "'bogus_top'"),
])
def test_malformed_event_config_names_the_key(tmp_path, edit, needle):
    cfg = tmp_path / "ev.yaml"
    cfg.write_text("name: ev\n" + ("" if edit.startswith("phases") else "phases: [{name: dev}]\n") + edit)
    rc, _out, err = run_cli(["serve", "--event", str(cfg)])
    assert rc == 2, err
    assert needle in err and str(cfg) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_store_of_a_newer_version_is_refused(tmp_path):
    ev = Event(tmp_path)
    con = sqlite3.connect(ev.data_dir / "event.sqlite")
    with con:
        con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.close()
    rc, _out, err = run_cli(["serve", "--event", str(ev.cfg), "--port", "1"])
    assert rc == 2
    assert "schema version 99" in err and "newer testbed" in err and "Traceback" not in err
    rc, _out, err = run_cli(["event", "team", "add", "x", "--event", str(ev.cfg)])
    assert rc == 2 and "schema version 99" in err


def test_unreachable_ray_falls_back_or_refuses(tmp_path):
    from testbed.cli import CLIError
    from testbed.cli.serve_cmd import plan_backend
    from tests.server.conftest import free_port

    ev = Event(tmp_path)
    cfg = load_event(ev.cfg)
    addr = f"127.0.0.1:{free_port()}"  # nothing listens there
    backend, address, note = plan_backend(cfg, addr)
    assert backend == "local" and address == ""
    assert f"Ray cluster at {addr} is unreachable" in note and "local workers" in note
    ev2 = Event(tmp_path / "strict", **{"workers.fallback_local": False})
    with pytest.raises(CLIError, match="unreachable"):
        plan_backend(load_event(ev2.cfg), addr)
    assert plan_backend(cfg, None) == ("local", "", "")


def test_submit_runs_the_check_first(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "submission.yaml").write_text("team: x\n")
    rc, out, err = run_cli(["submit", str(bad), "--server", "http://127.0.0.1:9", "--token", "tb_x_y"])
    assert rc == 2 and "nothing uploaded" in err
    rc, _out, err = run_cli(["submit", str(bad), "--server", "http://127.0.0.1:9"])
    assert rc == 2 and "token" in err


def test_disk_full_refuses_the_upload_and_stores_nothing(tmp_path, monkeypatch):
    from testbed.server import app as app_module

    ev = Event(tmp_path, **{"baselines": []})
    tok = ev.team("alpha")
    cfg = load_event(ev.cfg)
    data = zip_bytes(make_submission(tmp_path / "s"))
    client = TestClient(app_module.create_app(cfg))
    real_fsync = app_module.os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(app_module.os, "fsync", full)
    r = client.post("/api/submissions", headers=auth(tok), files={"file": ("s.zip", data)})
    assert r.status_code == 507 and "nothing stored" in r.json()["detail"]
    con = db.connect(cfg.db_path)
    assert con.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 0
    assert con.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
    assert not list((cfg.root / "tmp").iterdir()) and not (cfg.root / "uploads").exists()
    monkeypatch.setattr(app_module.os, "fsync", real_fsync)
    r = client.post("/api/submissions", headers=auth(tok), files={"file": ("s.zip", data)})
    assert r.status_code == 201
    assert con.execute("SELECT COUNT(*) FROM jobs WHERE state='queued'").fetchone()[0] == 1


def test_infrastructure_failure_is_retried_then_failed_and_not_charged(tmp_path, monkeypatch):
    """The final suite without its secret cannot be built: the job is retried workers.max_attempts times,
    then the submission fails with the reason, and the team's quota is not charged."""
    from testbed.server import app as app_module
    from testbed.server.jobs import Worker

    monkeypatch.delenv("TESTBED_FINAL_SECRET", raising=False)
    monkeypatch.delenv("TESTBED_FINAL_SECRET_FILE", raising=False)
    ev = Event(tmp_path, **{"baselines": [], "phases.1.uploads": "open", "workers.max_attempts": 2})
    tok = ev.team("alpha")
    cfg = load_event(ev.cfg)
    client = TestClient(app_module.create_app(cfg))
    r = client.post("/api/submissions", headers=auth(tok), data={"phase": "final"},
                    files={"file": ("s.zip", zip_bytes(make_submission(tmp_path / "s")))})
    assert r.status_code == 201
    sid = r.json()["id"]
    w = Worker(cfg, name="t")
    for attempt in (1, 2):
        job = db.claim_job(w.con, w.owner, 60)
        assert job is not None and job["attempts"] == attempt
        w.process(job)
    d = client.get(f"/api/submissions/{sid}", headers=auth(tok)).json()
    assert d["status"] == "failed" and not d["charged"]
    assert "TESTBED_FINAL_SECRET" in d["message"] and "not charged" in d["message"]
    assert client.get("/api/submissions", headers=auth(tok)).json()["quota"]["final"]["used"] == 0
    assert db.claim_job(w.con, w.owner, 60) is None  # nothing left in the queue


def test_a_submission_failing_the_check_is_rejected_with_its_problems(tmp_path):
    from testbed.server import app as app_module
    from testbed.server.jobs import Worker

    ev = Event(tmp_path, **{"baselines": []})
    tok = ev.team("alpha")
    cfg = load_event(ev.cfg)
    folder = make_submission(tmp_path / "s")
    with open(folder / "policy.py", "a") as fh:
        fh.write("\n\ndef make_policy(observation_space, action_space):\n    raise RuntimeError('boom')\n")
    client = TestClient(app_module.create_app(cfg))
    r = client.post("/api/submissions", headers=auth(tok), files={"file": ("s.zip", zip_bytes(folder))})
    assert r.status_code == 201
    w = Worker(cfg, name="t")
    w.process(db.claim_job(w.con, w.owner, 60))
    d = client.get(f"/api/submissions/{r.json()['id']}", headers=auth(tok)).json()
    assert d["status"] == "rejected" and "boom" in d["message"] and d["charged"]
    log = client.get(f"/api/submissions/{r.json()['id']}/logs", headers=auth(tok)).json()["log"]
    assert "submission check failed" in log and str(cfg.root) not in log
