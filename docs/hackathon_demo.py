"""A rehearsal hackathon on this machine; writes the README's leaderboard screenshot.

    python docs/hackathon_demo.py [--out docs/leaderboard.png] [--keep DIR]

Runs the organiser's commands (``testbed event init``, ``testbed event team add``, ``testbed serve``) in
a temporary folder, lets four teams submit variants of the template policy with ``testbed submit``,
waits until every submission and both baselines are evaluated (four cases of the ``dev`` suite, one
seed each) and photographs the live leaderboard with Chromium at 1920x1080 (and a phone at 390x844
next to it, ``*_phone.png``). Takes a few minutes of CPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]

TEAMS = {  # team -> (label, engine scale, rudder gain)
    "Ruhrort Robotics": ("cautious v3", 0.8, 1.0),
    "Team Binnenschiff": ("autopilot, tuned", 1.0, 1.0),
    "Lotsen-KI": ("sharper rudder", 1.0, 1.4),
    "Kanal Kapitäne <3": ("half ahead", 0.5, 1.0),
}


def sh(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "testbed", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"testbed {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO / "docs" / "leaderboard.png"))
    ap.add_argument("--keep", default=None, help="run in this folder and keep it")
    a = ap.parse_args()
    root = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="hackathon_demo_"))
    root.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    from testbed.server import worker

    admin = sh("event", "init", "rhine-cup", "--force", cwd=root).split()[-1]
    cfg = root / "conf" / "event" / "rhine-cup.yaml"
    import yaml

    data = yaml.safe_load(cfg.read_text())
    data["title"] = "Rhine Cup 2026"
    data["phases"][0].update(cases=["port_entry", "berthing", "crossing", "head_on"], seeds_per_case=1)
    cfg.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    tokens = {t: sh("event", "team", "add", t, "--event", str(cfg), cwd=root).split()[-1] for t in TEAMS}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    log = open(root / "serve.log", "wb")
    srv = subprocess.Popen([sys.executable, "-m", "testbed", "serve", "--event", str(cfg), "--port", str(port)],
                           cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(200):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        for team, (label, engine, rudder) in TEAMS.items():
            folder = root / "teams" / team.split()[0]
            shutil.rmtree(folder, ignore_errors=True)
            worker.write_template(folder, team=team, name=label)
            p = folder / "policy.py"
            p.write_text(p.read_text().replace(
                "        return np.clip(action, self.low, self.high)",
                f"        action = action * np.array([{rudder}, {engine}], dtype=np.float32)\n"
                "        return np.clip(action, self.low, self.high)"))
            out = sh("submit", str(folder), "--server", url, "--token", tokens[team], cwd=root)
            print(f"{team}: {out.split()[-1]}")
        deadline = time.time() + 1800
        while time.time() < deadline:
            lb = httpx.get(url + "/api/leaderboard").json()
            rows = lb["rows"] + lb["baselines"]
            if len(rows) == len(TEAMS) + 2 and all(r["latest"]["status"] in ("finished", "failed", "rejected")
                                                   for r in rows):
                break
            time.sleep(3)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = b.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(url + "/")
            page.wait_for_selector("tr.team-row")
            page.wait_for_timeout(1500)
            page.screenshot(path=a.out)
            phone = b.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
            phone.goto(url + "/")
            phone.wait_for_selector("tr.team-row")
            phone.screenshot(path=a.out.replace(".png", "_phone.png"))
            b.close()
        from PIL import Image  # a small PNG for the README: the table, 256 colours

        im = Image.open(a.out).convert("RGB").crop((0, 0, 1920, 760))
        im.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(a.out, optimize=True)
        print(f"wrote {a.out}; admin token of the rehearsal: {admin}; folder {root}")
    finally:
        srv.send_signal(signal.SIGINT)
        try:
            srv.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(srv.pid, signal.SIGKILL)
        log.close()
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
