"""CLI errors speak the user's language: one line, exit status 2, naming what was wrong and what would
be right (issue 8 §3); Ctrl-C stops `testbed run` / `testbed live` cleanly and keeps the summary."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _err(capsys, argv):
    code = main(argv)
    cap = capsys.readouterr()
    assert code == 2, (code, cap)
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("testbed: error: "), cap.err
    assert "Traceback" not in cap.err and "LinkConfig(" not in cap.err
    return lines[0]


@pytest.mark.parametrize("argv, must", [
    (["run", "PortEntr-v0"], ["unknown scenario 'PortEntr-v0'", "did you mean 'PortEntry-v0'",
                              "Crossing-v0", "port_entry_busy"]),
    (["run", "testbed/Chanel-v0"], ["unknown scenario", "did you mean 'Channel-v0'"]),
    (["run", "port_entry_bsy"], ["did you mean 'port_entry_busy'"]),
    (["run", "Channel-v0", "trafic.count=3"], ["unknown key 'trafic.count'", "did you mean 'traffic.count'"]),
    (["run", "Channel-v0", "traffic.cont=3"], ["unknown key 'traffic.cont'", "did you mean 'traffic.count'"]),
    (["run", "Channel-v0", "traffic.count=abc"], ["traffic.count = 'abc'", "expected an integer"]),
    (["run", "port_entry_busy", "dt=fast"], ["dt = 'fast'", "expected a number"]),
    (["run", "Channel-v0", "start.speed_ms=[1,x]"], ["start.speed_ms", "expected a list of numbers"]),
    (["run", "Channel-v0", "traffic.count"], ["'traffic.count'", "expected KEY=VALUE"]),
    (["run", "Channel-v0", "ego.vessel_type=M7"], ["ego.vessel_type = 'M7'", "unknown vessel type",
                                                   "known: M6, M8"]),
    (["run", "Channel-v0", "traffic.vessel_types=[M8,M6,XX]"], ["traffic.vessel_types[2] = 'XX'",
                                                                "unknown vessel type"]),
    (["run", "Channel-v0", "link.profile=5g"], ["link.profile = '5g'", "did you mean '5g_sa'",
                                                "known: 5g_nsa, 5g_sa, degraded, ideal, lte, with_outages"]),
    (["live", "Channel-v0", "link.profile=lt", "--ais", "udp://127.0.0.1:1"], ["did you mean 'lte'"]),
])  # fmt: skip
def test_one_line_errors(capsys, argv, must):
    line = _err(capsys, argv)
    for m in must:
        assert m in line, line


def test_same_errors_through_gymnasium_make():
    import gymnasium

    from testbed.config import ConfigError

    with pytest.raises(gymnasium.error.Error, match="(?i)did you mean"):  # gymnasium's own suggestion
        gymnasium.make("testbed/PortEntr-v0")
    with pytest.raises(ConfigError, match=r"unknown key 'trafic.count'.*did you mean 'traffic.count'"):
        gymnasium.make("testbed/Channel-v0", trafic={"count": 3})
    with pytest.raises(ConfigError, match=r"traffic.count = 'abc': expected an integer"):
        gymnasium.make("testbed/Channel-v0", overrides=["traffic.count=abc"])
    with pytest.raises(ConfigError, match=r"traffic.vessel_types\[1\] = 'BOAT'"):
        gymnasium.make("testbed/Channel-v0", traffic={"vessel_types": ["M8", "BOAT"]})


def test_valid_overrides_still_apply(tmp_path, capsys):
    from testbed.scenarios import compose_scenario

    cfg = compose_scenario("port_entry_busy", ["traffic.count=3", "ego.vessel_type=m9", "dt=0.5",
                                               "traffic.vessel_types=[M8,TUG]", "link.profile=lte"])
    assert (cfg.traffic.count, cfg.ego.vessel_type, cfg.dt, cfg.link.profile) == (3, "m9", 0.5, "lte")
    assert cfg.traffic.vessel_types == ["M8", "TUG"]


def test_run_prints_units(tmp_path, capsys):
    assert main(["run", "Channel-v0", "time_limit_s=30", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("episode 0"))
    assert " s " in line and line.rstrip().endswith(" m"), line  # t=   30.0 s ... min CPA=123.4 m
    cpa = line.split("min CPA=")[1]
    assert len(cpa.split(".")[1]) == len("0 m"), line  # one decimal


def _spawn(args, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), SDL_VIDEODRIVER="dummy", MPLBACKEND="Agg")
    return subprocess.Popen([sys.executable, "-m", "testbed", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _wait_for(pred, proc, timeout=120.0):
    t0 = time.monotonic()
    while not pred():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, "timed out"
        time.sleep(0.2)


def test_ctrl_c_in_run_keeps_finished_episodes(tmp_path):
    out = tmp_path / "run"
    proc = _spawn(["run", "Channel-v0", "time_limit_s=20", "--episodes", "100000", "--out", str(out)], tmp_path)
    summary = out / "summary.json"

    def two_done():
        try:
            return len(json.loads(summary.read_text())["episodes"]) >= 2
        except (OSError, ValueError):
            return False

    _wait_for(two_done, proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    s = json.loads(summary.read_text())
    assert s["interrupted"] is True and len(s["episodes"]) >= 2
    assert [e["episode"] for e in s["episodes"]] == list(range(len(s["episodes"])))
    assert s["interrupted_episode"]["episode"] == len(s["episodes"])
    assert "interrupted in episode" in stdout


def test_ctrl_c_in_live_writes_summary(tmp_path):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "live"
    proc = _spawn(["live", "Channel-v0", "--ais", f"udp://127.0.0.1:{port}", "--duration", "100000",
                   "--speed", "20", "--out", str(out)], tmp_path)  # fmt: skip
    first = proc.stdout.readline()
    assert first.startswith("live: Channel-v0"), (first, proc.poll())
    time.sleep(1.5)  # a few steps of the loop
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["interrupted"] is True and s["outcome"] == "interrupted" and s["steps"] > 0
    assert "interrupted: interrupted after t=" in stdout
