"""The hackathon as people use it: a real server with a real evaluation worker, driven by Chromium.

A team uploads through the form (drag-and-drop target, file chooser), watches its submission go from
queued to finished, sees its new row appear on an open leaderboard page without a reload, opens a
replay in the browser (canvas playback) and the pages are photographed at 1920x1080 and 390x844
(``tests/server/artifacts/``, looked at by a person). A kill -9 of the whole server mid-evaluation
loses nothing: after a restart the job resumes and finishes.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import auth, make_submission, wait_for, zip_bytes

CHROMIUM = "/usr/bin/chromium"
ART = Path(__file__).parent / "artifacts"
TEAM = "Rheinflotte <b>&</b> Co"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (.ci/run installs it)")
pytest.importorskip("playwright", reason="pip install playwright (the test extra); never `playwright install`")

# a tiny phase: two episodes of the dev suite, so the whole flow takes seconds of CPU
TINY = {"phases.0.max_episodes": 2, "phases.0.cases": ["berthing"], "phases.0.time_limit_s": 300.0, "baselines": ["autopilot", "do-nothing"], "refresh_s": 1.0,
        "workers.lease_s": 6.0, "workers.heartbeat_s": 1.0, "workers.thumbnails": True,
        # a second phase with more episodes, so that the kill -9 lands between two of them
        "phases.1.name": "long", "phases.1.suite": "dev", "phases.1.uploads": "open", "phases.1.visibility": "public",
        "phases.1.max_episodes": 5, "phases.1.cases": ["berthing", "crossing", "head_on"], "phases.1.time_limit_s": 300.0}


@pytest.fixture(scope="module")
def live(server_factory, tmp_path_factory):
    ev, srv = server_factory(workers=1, **TINY)
    ev.team(TEAM)
    ev.team("Second Crew")
    srv.start()
    folder = make_submission(tmp_path_factory.mktemp("sub") / "policy", team="rheinflotte", name="autopilot v1")
    zpath = tmp_path_factory.mktemp("zip") / "policy.zip"
    zpath.write_bytes(zip_bytes(folder))
    yield ev, srv, zpath, folder


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _baselines_done(srv):
    data = httpx.get(srv.url + "/api/leaderboard?phase=dev").json()
    return len(data["baselines"]) == 2 and all(r["status"] == "finished" for r in data["baselines"])


def test_upload_watch_leaderboard_replay_screenshots(live, browser):
    ev, srv, zpath, _folder = live
    ART.mkdir(exist_ok=True)
    wait_for(lambda: _baselines_done(srv), 600, 1.0, "the baseline rows")

    board = browser.new_page(viewport={"width": 1920, "height": 1080})
    dialogs = []
    board.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    board.goto(srv.url + "/?phase=dev")
    board.wait_for_selector("tr.baseline")
    assert board.locator("tr.team-row").count() == 0

    team = browser.new_page(viewport={"width": 1280, "height": 900})
    team.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    team.goto(srv.url + "/submit")
    team.fill("#token", ev.tokens[TEAM])
    team.dispatch_event("#token", "change")
    team.set_input_files("#file", str(zpath))
    assert "policy.zip" in team.inner_text("#file-name")
    team.click("#upload-btn")
    team.wait_for_selector("#submission-link", timeout=30_000)
    team.click("#submission-link")
    team.wait_for_url("**/submissions/s*")
    sub_id = team.url.rsplit("/", 1)[-1]
    # the status changes on the page by itself: queued/running -> finished
    seen = set()
    deadline = time.time() + 600
    while time.time() < deadline:
        st = team.locator("#sub-status")
        if st.count():
            seen.add(st.inner_text().strip())
        if seen & {"finished", "rejected", "failed", "cancelled"}:  # a final status: stop waiting
            break
        team.wait_for_timeout(300)
    assert "finished" in seen and seen & {"queued", "running"}, seen  # it changed without a reload
    assert "2 / 2" in team.inner_text("#sub-progress")
    team.wait_for_selector("pre.log")  # the owner's log
    wait_for(lambda: team.inner_text("pre.log") not in ("", "loading…"), 20, 0.5, "the log")

    # the open leaderboard got the new row without a reload
    row = board.locator("tr.team-row", has_text="Rheinflotte")
    row.wait_for(timeout=30_000)
    assert board.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert "<b>" in row.locator(".name").inner_text()  # shown as text, not markup
    assert board.locator("tr.team-row td.rank").first.inner_text().strip() in ("1", "–")
    board.wait_for_timeout(1500)
    board.screenshot(path=str(ART / "leaderboard_1920x1080.png"))

    # open a replay: canvas playback driven by the replay's positions
    play_link = board.locator("tr.team-row a[title='play in the browser']").first
    href = play_link.get_attribute("href")
    player = browser.new_page(viewport={"width": 1920, "height": 1080})
    player.goto(srv.url + href)
    player.wait_for_selector("canvas[data-ready='1']", timeout=30_000)
    player.wait_for_timeout(2500)
    drawn = player.evaluate("""() => { const c = document.getElementById('canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const seen = new Set();
        for (let i = 0; i < d.length; i += 4 * 97) seen.add(d[i] >> 4 << 8 | d[i + 1] >> 4 << 4 | d[i + 2] >> 4);
        return seen.size; }""")
    assert drawn > 5, "the canvas shows a map and ships, not one flat colour"
    t1 = player.inner_text("#clock")
    player.wait_for_timeout(1500)
    assert player.inner_text("#clock") != t1 or player.inner_text("#play-btn") == "Replay"  # it plays
    player.screenshot(path=str(ART / "replay_1920x1080.png"))
    dl = httpx.get(srv.url + player.get_attribute("#dl", "href"))
    assert dl.status_code == 200 and len(dl.content) > 100

    phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    phone.goto(srv.url + "/?phase=dev")
    phone.wait_for_selector("tr.team-row")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the phone page scrolls sideways ({width} px)"
    phone.screenshot(path=str(ART / "leaderboard_390x844.png"))
    phone.goto(srv.url + f"/submissions/{sub_id}")
    phone.screenshot(path=str(ART / "submission_390x844.png"), full_page=True)
    phone.goto(srv.url + href)
    phone.wait_for_selector("canvas[data-ready='1']")
    phone.wait_for_timeout(1000)
    phone.screenshot(path=str(ART / "replay_390x844.png"))
    team.set_viewport_size({"width": 1920, "height": 1080})
    team.screenshot(path=str(ART / "submission_1920x1080.png"))
    assert dialogs == []  # no script from a team name ever ran

    adm = browser.new_page(viewport={"width": 1920, "height": 1080})
    adm.goto(srv.url + "/admin")
    adm.fill("#token", ev.admin)
    adm.dispatch_event("#token", "change")
    adm.wait_for_selector("text=Workers")
    adm.wait_for_selector("td:has-text('Second Crew')")
    adm.screenshot(path=str(ART / "admin_1920x1080.png"), full_page=True)
    for pg in (board, team, player, phone, adm):
        pg.close()


def test_kill9_restart_resumes_and_loses_nothing(live):
    """Upload, kill -9 the server (its worker and evaluator die with it) after the first finished episode,
    restart: the upload is there, the finished episodes are kept (not run again), the rest is evaluated."""
    ev, srv, _zpath, folder = live
    f2 = folder.parent / "policy2"
    shutil.copytree(folder, f2, dirs_exist_ok=True)
    (f2 / "README.txt").write_text("second upload\n")
    h = auth(ev.tokens["Second Crew"])
    wait_for(lambda: not [j for j in httpx.get(srv.url + "/api/admin/queue", headers=auth(ev.admin)).json()
                          if j["state"] in ("queued", "leased")], 600, 1.0, "an idle queue")
    r = httpx.post(srv.url + "/api/submissions", headers=h, files={"file": ("p.zip", zip_bytes(f2))},
                   data={"phase": "long"}, timeout=60)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]

    def get():
        return httpx.get(srv.url + f"/api/submissions/{sid}", headers=h).json()

    def one_done():
        d = get()
        return d if d["episodes_done"] >= 1 else None

    before = wait_for(one_done, 300, 0.1, "a finished episode")
    srv.kill9()
    assert before["status"] == "running" and before["episodes_done"] < 5, before
    srv.start()
    data = get()
    assert data["episodes_done"] >= before["episodes_done"]  # nothing finished was lost

    def settled():
        d = get()
        return d if d["status"] in ("finished", "failed") else None

    data = wait_for(settled, 600, 1.0, "the resumed evaluation")
    assert data["status"] == "finished", data
    assert data["episodes_done"] == data["episodes_total"] == 5 and len(data["episodes"]) == 5
    assert "half-done evaluation(s) resume" in srv.log_text()
    log = httpx.get(srv.url + f"/api/submissions/{sid}/logs", headers=h).json()["log"]
    assert f"{before['episodes_done']} already stored" in log or "already stored" in log, log
    ran = [ln for ln in log.splitlines() if ln.startswith("autopilot v1 ") and " seed " in ln]
    assert len(ran) <= 5 + 1  # at most the one episode that was running at the kill ran twice
    lb = httpx.get(srv.url + "/api/leaderboard?phase=long").json()
    assert "Second Crew" in {r["team"] for r in lb["rows"]}
