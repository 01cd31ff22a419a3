"""Load test of the hackathon server (bounded; 127.0.0.1 only).

    python benchmarks/server_load.py [--teams 20] [--clients 200] [--seconds 60] [--uploads-per-team 3]

Starts ``testbed serve`` on a free local port with a fresh event (no evaluation workers unless
``--workers N``: this measures the web tier and the store), then for ``--seconds`` lets ``--clients``
clients poll ``GET /api/leaderboard`` while ``--teams`` teams upload submissions concurrently.
Reports p50/p99 latency and the error count of both, against a baseline measured in the same run
(one client polling the idle server), checks that every upload is accounted for (HTTP 201, a row in
the store, the zip on disk) and runs ``PRAGMA integrity_check`` on the store afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q / 100 * len(xs)))]


def cli(args, cwd):
    from testbed.cli import main

    out = io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out):
            rc = main(args)
    finally:
        os.chdir(old)
    if rc:
        raise SystemExit(f"testbed {' '.join(args)} failed")
    return out.getvalue().strip().splitlines()[-1].split()[-1]


async def poller(client, url, stop_at, lat, errors):
    while time.monotonic() < stop_at:
        t0 = time.perf_counter()
        try:
            r = await client.get(url)
            ok = r.status_code == 200
        except httpx.HTTPError:
            ok = False
        lat.append(time.perf_counter() - t0)
        if not ok:
            errors.append(1)


async def uploader(client, url, token, payloads, stop_at, lat, results):
    for i, data in enumerate(payloads):
        t0 = time.perf_counter()
        try:
            r = await client.post(url + "/api/submissions", headers={"Authorization": f"Bearer {token}"},
                                  files={"file": (f"s{i}.zip", data, "application/zip")}, timeout=120)
            results.append((r.status_code, r.json().get("id") if r.status_code in (200, 201) else r.text[:100]))
        except httpx.HTTPError as exc:
            results.append((0, repr(exc)))
        lat.append(time.perf_counter() - t0)
        remaining = stop_at - time.monotonic()
        if remaining <= 0:
            break
        await asyncio.sleep(min(remaining / max(1, len(payloads) - i), 5.0))


async def run_load(url, tokens, payloads, clients, seconds):
    stop_at = time.monotonic() + seconds
    poll_lat, poll_err, up_lat, up_res = [], [], [], []
    limits = httpx.Limits(max_connections=clients + len(tokens) + 10, max_keepalive_connections=clients + 10)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        tasks = [poller(client, url + "/api/leaderboard", stop_at, poll_lat, poll_err) for _ in range(clients)]
        tasks += [uploader(client, url, tok, payloads[name], stop_at, up_lat, up_res) for name, tok in tokens.items()]
        await asyncio.gather(*tasks)
    return poll_lat, poll_err, up_lat, up_res


async def baseline(url, seconds):
    lat, err = [], []
    async with httpx.AsyncClient(timeout=30) as client:
        await poller(client, url + "/api/leaderboard", time.monotonic() + seconds, lat, err)
    return lat, err


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teams", type=int, default=20)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--uploads-per-team", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0)
    a = ap.parse_args()
    if not (1 <= a.teams <= 100 and 1 <= a.clients <= 1000 and 1 <= a.seconds <= 600):
        raise SystemExit("bounded: teams 1-100, clients 1-1000, seconds 1-600")

    from testbed.cli.submit_cmd import zip_folder
    from testbed.server import worker

    tmp = Path(tempfile.mkdtemp(prefix="server_load_"))
    cli(["event", "init", "load"], tmp)
    cfg = tmp / "conf" / "event" / "load.yaml"
    text = cfg.read_text().replace("uploads_per_window: 5", "uploads_per_window: 1000").replace(
        "baselines: [autopilot, do-nothing]", "baselines: []")
    cfg.write_text(text)
    tokens = {f"team{i:02d}": cli(["event", "team", "add", f"team{i:02d}", "--event", str(cfg)], tmp)
              for i in range(a.teams)}
    template = worker.write_template(tmp / "template", team="load", name="load")
    payloads = {}
    for name in tokens:
        payloads[name] = []
        for k in range(a.uploads_per_team):
            (template / "variant.txt").write_text(f"{name} {k}\n")
            payloads[name].append(zip_folder(template))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    log = open(tmp / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "testbed", "serve", "--event", str(cfg), "--port", str(port),
                             "--workers", str(a.workers)], cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        base_lat, base_err = asyncio.run(baseline(url, min(5.0, a.seconds)))
        t0 = time.monotonic()
        poll_lat, poll_err, up_lat, up_res = asyncio.run(run_load(url, tokens, payloads, a.clients, a.seconds))
        wall = time.monotonic() - t0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()

    ids = [rid for code, rid in up_res if code == 201]
    con = sqlite3.connect(tmp / "events" / "load" / "event.sqlite")
    stored = {r[0] for r in con.execute("SELECT id FROM submissions")}
    jobs = {r[0] for r in con.execute("SELECT submission_id FROM jobs")}
    integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    con.close()
    on_disk = {p.stem for p in (tmp / "events" / "load" / "uploads").glob("*.zip")}
    sent = sum(len(v) for v in payloads.values())
    ms = 1000.0
    print(f"server load: {a.teams} teams x {a.uploads_per_team} uploads, {a.clients} leaderboard clients, "
          f"{wall:.0f} s, {os.cpu_count()} CPUs, {a.workers} evaluation workers")
    print(f"  baseline (1 client, idle):   p50 {pct(base_lat, 50) * ms:7.1f} ms  p99 {pct(base_lat, 99) * ms:7.1f} ms"
          f"  requests {len(base_lat)}  errors {len(base_err)}")
    print(f"  leaderboard under load:      p50 {pct(poll_lat, 50) * ms:7.1f} ms  p99 {pct(poll_lat, 99) * ms:7.1f} ms"
          f"  requests {len(poll_lat)} ({len(poll_lat) / wall:.0f}/s)  errors {len(poll_err)}")
    print(f"  uploads under load:          p50 {pct(up_lat, 50) * ms:7.1f} ms  p99 {pct(up_lat, 99) * ms:7.1f} ms"
          f"  sent {sent}  attempted {len(up_res)}  201: {len(ids)}  errors {len(up_res) - len(ids)}")
    print(f"  ratio leaderboard p50 loaded / idle: {pct(poll_lat, 50) / pct(base_lat, 50):.1f}x; "
          f"mean {statistics.mean(poll_lat) * ms:.1f} ms")
    accounted = set(ids) == stored == jobs == on_disk and len(ids) == len(up_res)
    print(f"  every upload accounted for (201 = rows = jobs = zips on disk): {accounted} "
          f"({len(ids)} / {len(stored)} / {len(jobs)} / {len(on_disk)})")
    print(f"  PRAGMA integrity_check: {integrity}")
    for code, rid in up_res:
        if code != 201:
            print(f"  failed upload: HTTP {code}: {rid}")
    return 0 if accounted and integrity == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
