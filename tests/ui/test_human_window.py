"""``testbed run ... --render human`` in a real X server (Xvfb): keys pressed with xdotool, the window
closed the way a window manager closes it, Ctrl-C; clean exit and summary; screenshots checked."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.ui.xhelpers import close_window, screenshot, start_xvfb, wait_window, xdotool

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None or shutil.which("xdotool") is None,
                                reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)")


@pytest.fixture(scope="module")
def display():
    started = start_xvfb()
    if started is None:
        pytest.skip("Xvfb did not start")
    proc, disp = started
    yield disp
    proc.terminate()
    proc.wait(timeout=20)


def _start_run(display, out, episodes=3):
    env = {**os.environ, "DISPLAY": display, "SDL_VIDEODRIVER": "x11"}
    env.pop("PYGAME_HIDE_SUPPORT_PROMPT", None)
    fo, fe = open(out.parent / "stdout.txt", "w"), open(out.parent / "stderr.txt", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "testbed", "run", "PortEntry-v0", "--agent", "autopilot",
                             "--render", "human", "--episodes", str(episodes), "--out", str(out)],
                            env=env, stdout=fo, stderr=fe)  # fmt: skip
    fo.close()
    fe.close()
    win = wait_window(display, proc.pid)
    if not win:
        proc.kill()
        proc.wait()
        pytest.fail("no window appeared: " + (out.parent / "stderr.txt").read_text()[-2000:])
    return proc, win


def _finish(proc, out, timeout=90):
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("the run did not end after the quit request")
    stdout = (out.parent / "stdout.txt").read_text()
    stderr = (out.parent / "stderr.txt").read_text()
    assert rc in (0, 130), (rc, stderr[-2000:])
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr[-2000:]
    assert "stopped by the user" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert 1 <= len(summary["episodes"]) < 3
    assert summary["episodes"][-1]["outcome"] == "user_quit"
    assert all(e["outcome"] != "user_quit" for e in summary["episodes"][:-1])
    return summary


def _window_box(display, win):
    geo = xdotool(display, "getwindowgeometry", str(win))
    pos = [ln for ln in geo.splitlines() if "Position" in ln][0].split()[1]
    size = [ln for ln in geo.splitlines() if "Geometry" in ln][0].split()[1]
    x, y = (int(v) for v in pos.split(","))
    w, h = (int(v) for v in size.split("x"))
    return x, y, w, h


def test_keys_pause_follow_help_and_ctrl_c(display, tmp_path):
    out = tmp_path / "run"
    proc, win = _start_run(display, out)
    try:
        time.sleep(2.0)
        x, y, w, h = _window_box(display, win)
        assert (w, h) == (800, 600)
        xdotool(display, "mousemove", str(x + w - 2), str(y + h // 2))  # keys go to the window under the pointer
        shots = tmp_path / "shots"
        shots.mkdir()
        running = screenshot(display, shots / "1_running_follow.png")
        if running is None:
            pytest.skip("ffmpeg cannot grab the X screen")
        win_px = running[y:y + h, x:x + w]
        assert len(np.unique(win_px.reshape(-1, 3), axis=0)) > 20  # a drawn map, not a blank window
        xdotool(display, "key", "h")
        time.sleep(1.0)
        helped = screenshot(display, shots / "2_help.png")[y:y + h, x:x + w]
        panel = helped[60:160, w - 240:w - 60].astype(int)
        assert np.mean(panel.sum(axis=-1) < 200) > 0.5  # the dark help panel, top right
        xdotool(display, "key", "space")
        time.sleep(1.0)
        p1 = screenshot(display, shots / "3_paused.png")
        time.sleep(1.5)
        p2 = screenshot(display, shots / "4_paused_later.png")
        assert np.array_equal(p1, p2)  # paused: the simulation (and its clock in the HUD) stands still
        xdotool(display, "key", "f")
        time.sleep(1.0)
        mapped = screenshot(display, shots / "5_paused_map_camera.png")
        assert not np.array_equal(mapped, p2)  # whole-map camera
        xdotool(display, "key", "h", "f", "space")
        time.sleep(1.5)
        resumed = screenshot(display, shots / "6_resumed.png")
        assert not np.array_equal(resumed, p2)
        proc.send_signal(signal.SIGINT)
    finally:
        if proc.poll() is None:
            time.sleep(0.1)
    _finish(proc, out)


def test_window_close_button_ends_the_run_cleanly(display, tmp_path):
    out = tmp_path / "run"
    proc, win = _start_run(display, out)
    time.sleep(1.5)
    close_window(display, win)
    summary = _finish(proc, out)
    assert len(summary["episodes"]) == 1


def test_q_key_ends_the_run_cleanly(display, tmp_path):
    out = tmp_path / "run"
    proc, win = _start_run(display, out)
    time.sleep(1.5)
    xdotool(display, "key", "q")
    _finish(proc, out)
