"""The replay viewer in a real X server (Xvfb), driven as a person would: keys, clicks, the timeline.

A module fixture starts ``Xvfb :N`` (skipped cleanly when Xvfb is not installed; ``.ci/run`` installs it)
and opens the viewer's window there (SDL's x11 driver).  Events are posted to pygame's queue or sent
through X with xdotool; every assertion is made on what the window shows (its pixels) or on the playhead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pg = pytest.importorskip("pygame")

ROOT = Path(__file__).resolve().parents[2]
W, H = 1280, 800


def record_autopilot_episode(run_episode, path, seed=0, link="5g_sa", time_limit=150.0, traffic=6):
    """A short autopilot episode of PortEntry-v0 recorded by the replay recorder (``run_episode``: the
    ``record_episode`` fixture of conftest.py)."""
    run_episode(path, "testbed/PortEntry-v0", seed=seed, traffic={"count": traffic}, link={"profile": link},
                observation={"targets": "ais"}, overrides=[f"time_limit_s={time_limit}"])
    return Path(path)


@pytest.fixture(scope="module")
def replay_file(tmp_path_factory, record_episode):
    return record_autopilot_episode(record_episode, tmp_path_factory.mktemp("viewer") / "ep.replay")


@pytest.fixture(scope="module")
def xdisplay():
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (Debian package xvfb)")
    for n in range(91, 140):
        if os.path.exists(f"/tmp/.X{n}-lock") or os.path.exists(f"/tmp/.X11-unix/X{n}"):
            continue
        proc = subprocess.Popen([xvfb, f":{n}", "-screen", "0", f"{W + 100}x{H + 100}x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(f"/tmp/.X11-unix/X{n}") or proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc.poll() is None and os.path.exists(f"/tmp/.X11-unix/X{n}"):
            try:
                yield f":{n}"
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            return
        if proc.poll() is None:
            proc.kill()
    pytest.skip("could not start Xvfb")


@pytest.fixture(scope="module")
def window(xdisplay):
    """A real X window for the viewer (SDL x11 driver on the Xvfb display), at the screen's top left."""
    saved = {k: os.environ.get(k) for k in ("DISPLAY", "SDL_VIDEODRIVER", "SDL_VIDEO_WINDOW_POS")}
    os.environ.update(DISPLAY=xdisplay, SDL_VIDEODRIVER="x11", SDL_VIDEO_WINDOW_POS="0,0")
    pg.display.quit()
    pg.display.init()
    if pg.display.get_driver() != "x11":
        pytest.skip(f"SDL has no x11 video driver here ({pg.display.get_driver()})")
    screen = pg.display.set_mode((W, H))
    pg.display.set_caption("viewer test")
    pg.font.init()
    try:
        yield screen
    finally:
        pg.display.quit()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def viewer(replay_file, window):
    from testbed.replay.viewer import open_replays
    from testbed.replay.viewer.app import Viewer

    readers, hmap = open_replays([replay_file])
    v = Viewer(readers, hmap, (W, H))
    pg.event.clear()
    frame(v, window)
    return v


def frame(v, screen, dt: float = 0.0) -> np.ndarray:
    """One turn of the window loop; returns the window's pixels (H, W, 3)."""
    for ev in pg.event.get():
        v.handle_event(ev)
    v.update(dt)
    v.draw(screen)
    pg.display.flip()
    return np.transpose(pg.surfarray.array3d(pg.display.get_surface()), (1, 0, 2)).copy()


def key(k, uni=""):
    pg.event.post(pg.event.Event(pg.KEYDOWN, key=k, unicode=uni, mod=0, scancode=0))


def click(x, y, button=1):
    pg.event.post(pg.event.Event(pg.MOUSEBUTTONDOWN, pos=(int(x), int(y)), button=button))
    pg.event.post(pg.event.Event(pg.MOUSEBUTTONUP, pos=(int(x), int(y)), button=button))


def test_pause_stops_time(viewer, window):
    v = viewer
    v.seek(v.t0 + 20.0)
    a = frame(v, window, dt=0.5)
    assert not v.controls.paused and v.t == pytest.approx(v.t0 + 20.5)
    key(pg.K_SPACE, " ")
    b = frame(v, window, dt=0.0)
    assert v.controls.paused
    t_paused = v.t
    shots = [frame(v, window, dt=0.5) for _ in range(4)]
    assert v.t == t_paused  # time stands still
    assert all(np.array_equal(shots[0], s) for s in shots[1:])  # and so does the picture
    key(pg.K_SPACE, " ")
    c = frame(v, window, dt=2.0)
    assert v.t == pytest.approx(t_paused + 2.0)
    assert not np.array_equal(b, c) and not np.array_equal(a, c)
    # speed x4: one wall second is four simulated seconds
    key(pg.K_PLUS, "+")
    key(pg.K_PLUS, "+")
    t = v.t
    frame(v, window, dt=1.0)
    assert v.controls.speed == 4.0 and v.t == pytest.approx(t + 4.0)


def test_single_frame_step_and_event_jumps(viewer, window):
    v = viewer
    assert v.events, "the recorded episode should have events (handovers on 5g_sa)"
    v.seek(v.t0)
    key(pg.K_PERIOD, ".")
    frame(v, window, dt=1.0)
    assert v.controls.paused and v.frame_index == 1
    key(pg.K_n, "n")
    frame(v, window)
    e0 = v.events[0]
    assert v.t == e0.t and v.frame_index == v.main.step_at_time(e0.t)
    key(pg.K_n, "n")
    frame(v, window)
    nxt = next(e for e in v.events if e.t > e0.t)
    assert v.t == nxt.t
    key(pg.K_p, "p")
    frame(v, window)
    assert v.t == e0.t


def test_scrubbing_to_an_event_shows_that_moment(viewer, window, replay_file):
    from testbed.replay.viewer import open_replays
    from testbed.replay.viewer.app import Viewer

    v = viewer
    key(pg.K_SPACE, " ")  # pause so that the moment stays
    frame(v, window)
    e = v.events[len(v.events) // 2]
    click(round(v.x_of_t(e.t)) + 2, v._timeline_rect().centery)  # 2 px off: snaps to the marker
    shot = frame(v, window)
    assert v.t == e.t
    assert v.frame_index == e.step
    # the window shows what a viewer opened directly at that moment shows
    readers, hmap = open_replays([replay_file])
    ref = Viewer(readers, hmap, (W, H), paused=True)
    ref.seek(e.t)
    surf = pg.Surface((W, H))
    ref.draw(surf)
    ref.draw(surf)
    want = np.transpose(pg.surfarray.array3d(surf), (1, 0, 2))
    assert np.array_equal(shot, want)
    # the top bar says which step it is
    assert f"step {e.step + 1}/{v.main.n}" in v._status_text()


def _traffic_on_screen(v):
    kinds, idx, x, y, r = v._hit
    k = [i for i in range(len(kinds)) if kinds[i] == "traffic" and 40 < x[i] < W - 300 and 80 < y[i] < H - 200]
    return [(int(idx[i]), float(x[i]), float(y[i])) for i in k]


def _find_view_with_traffic(v, window):
    """Pan (as a drag would) to the first traffic vessel in the water, slightly off the centre."""
    v.controls.paused = True
    for t in np.linspace(v.t0, v.t1, 40):
        v.seek(t)
        act = np.flatnonzero(np.isfinite(v.state.tx))
        if len(act):
            v.controls.follow = False
            v.cx, v.cy = v.state.tx[act[0]] + 40.0, v.state.ty[act[0]] - 25.0
            frame(v, window)
            on = _traffic_on_screen(v)
            if on:
                return on
    pytest.fail("no traffic vessel came into view")


def _shows_text(shot, text, colour, xy, v, size="m", tol=60) -> bool:
    """True if ``text`` in ``colour`` is drawn with its top left at ``xy`` in the screenshot."""
    ts = v.text.fonts[size].render(text, True, colour)
    a = pg.surfarray.pixels_alpha(ts).T > 200
    x, y = xy
    h, w = a.shape
    region = shot[y:y + h, x:x + w].astype(int)
    ink = np.abs(region[a] - np.array(colour)).max(axis=1) <= tol
    return a.sum() > 10 and ink.mean() > 0.9


def test_click_selects_the_vessel_under_the_cursor(viewer, window):
    from testbed.replay.viewer.app import UI_TEXT

    v = viewer
    on = _find_view_with_traffic(v, window)
    j, x, y = on[0]
    click(x, y)
    shot = frame(v, window)
    assert v.selected == ("traffic", j)
    name = v.traffic_info[j].name
    r = v._panel_rect
    assert _shows_text(shot, name, UI_TEXT, (r.x + 96, r.y + 30), v)
    other = next(t.name for t in v.traffic_info if t.name != name)
    assert not _shows_text(shot, other, UI_TEXT, (r.x + 96, r.y + 30), v)
    # with follow on, the camera follows the clicked vessel
    key(pg.K_f, "f")
    frame(v, window)
    assert v.controls.follow
    v.seek(v.t + 5.0)
    frame(v, window)
    assert (v.cx, v.cy) == pytest.approx((v.state.tx[j], v.state.ty[j]))
    # the panel lists the details of an AIS target
    title, rows = v._panel_rows(v.state)
    keys = [k for k, _ in rows]
    assert title == "AIS target" and {"MMSI", "type", "size", "speed", "course"} <= set(keys)
    # a click where there is no vessel clears it
    spot = next((x, y) for x in range(300, 900, 37) for y in range(120, 560, 29) if v.vessel_at(x, y) is None)
    click(*spot)
    frame(v, window)
    assert v.selected is None


def test_xdotool_click_selects_through_x(viewer, window, xdisplay):
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed")
    v = viewer
    on = _find_view_with_traffic(v, window)
    j, x, y = on[0]
    env = dict(os.environ, DISPLAY=xdisplay)
    subprocess.run(["xdotool", "mousemove", "--sync", str(int(x)), str(int(y)), "click", "1"], env=env,
                   check=True, timeout=20)
    deadline = time.time() + 5.0
    while v.selected is None and time.time() < deadline:
        frame(v, window)
        time.sleep(0.02)
    assert v.selected == ("traffic", j)


def _diff_mask(a, b):
    return np.any(a != b, axis=-1)


def test_layer_toggles_change_the_pixels_where_the_layer_draws(viewer, window):
    v = viewer
    v.controls.paused = True
    v.seek(v.t0 + 30.0)
    before = frame(v, window)
    legend_before = v._legend_rect.copy()
    key(pg.K_3, "3")  # rays off
    after = frame(v, window)
    assert not v.layers["rays"]
    d = _diff_mask(before, after)
    # where the rays are drawn: segments from the ego to each ray's end
    e = v.state.ego
    ex, ey = v.to_screen(e["x"], e["y"])
    angles, rng = v._rays
    ln = np.clip(v.state.rays, 0, 1) * rng
    a = angles + e["psi"]
    mask = np.zeros((H, W), dtype=bool)
    for k in range(len(a)):
        n = int(max(2, ln[k] * v.scale))
        xs = np.clip(np.rint(ex + np.sin(a[k]) * np.linspace(0, ln[k] * v.scale, n)).astype(int), 0, W - 1)
        ys = np.clip(np.rint(ey - np.cos(a[k]) * np.linspace(0, ln[k] * v.scale, n)).astype(int), 0, H - 1)
        mask[ys, xs] = True
    from scipy.ndimage import binary_dilation

    near = binary_dilation(mask, structure=np.ones((3, 3), bool), iterations=4)  # line width, end dots
    lg = legend_before.union(v._legend_rect).inflate(4, 4)
    near[lg.top:lg.bottom, lg.left:lg.right] = True  # the legend lists the layers
    assert d[mask].mean() > 0.3  # the rays went away
    assert d[~near].sum() == 0  # and nothing else changed
    # lanes and km markers off: the pixels change along the lanes
    key(pg.K_1, "1")
    lanes_off = frame(v, window)
    d = _diff_mask(after, lanes_off)
    on_lane = np.zeros((H, W), dtype=bool)
    for ln_ in v.map.lanes:
        px, py = v.to_screen(ln_.xy[:, 0], ln_.xy[:, 1])
        for k in range(len(px) - 1):
            n = int(max(2, np.hypot(px[k + 1] - px[k], py[k + 1] - py[k])))
            xs = np.rint(np.linspace(px[k], px[k + 1], n)).astype(int)
            ys = np.rint(np.linspace(py[k], py[k + 1], n)).astype(int)
            ok = (xs >= 0) & (xs < W) & (ys >= 0) & (ys < H)
            on_lane[ys[ok], xs[ok]] = True
    assert d[on_lane].sum() > 100
    key(pg.K_1, "1")
    key(pg.K_3, "3")
    frame(v, window)
    assert v.layers["rays"] and v.layers["lanes"]


def test_help_overlay_lists_the_layers(viewer, window):
    from testbed.replay.viewer.app import LAYERS

    v = viewer
    v.controls.paused = True
    a = frame(v, window)
    key(pg.K_h, "h")
    b = frame(v, window)
    assert v.controls.show_help
    assert _diff_mask(a, b)[H // 2 - 100:H // 2 + 100, W // 2 - 300:W // 2 + 300].mean() > 0.3
    assert len(LAYERS) >= 10
    key(pg.K_h, "h")
    c = frame(v, window)
    assert np.array_equal(a, c)


def test_pan_and_zoom_with_the_mouse(viewer, window):
    v = viewer
    v.controls.paused = True
    frame(v, window)
    s0 = v.scale
    pg.event.post(pg.event.Event(pg.MOUSEWHEEL, x=0, y=1, flipped=False, precise_x=0.0, precise_y=1.0))
    frame(v, window)
    assert v.scale == pytest.approx(s0 * 2 ** 0.5)
    cx = v.cx
    pg.event.post(pg.event.Event(pg.MOUSEBUTTONDOWN, pos=(600, 400), button=1))
    pg.event.post(pg.event.Event(pg.MOUSEMOTION, pos=(700, 400), rel=(100, 0), buttons=(1, 0, 0)))
    pg.event.post(pg.event.Event(pg.MOUSEBUTTONUP, pos=(700, 400), button=1))
    frame(v, window)
    assert not v.controls.follow  # dragging stops following
    assert v.cx == pytest.approx(cx - 100 / v.scale)
    key(pg.K_e, "e")
    frame(v, window)
    assert v.controls.follow and (v.cx, v.cy) == pytest.approx((v.state.ego["x"], v.state.ego["y"]))
    # a click on the minimap looks there: its top left is the world's north-west corner
    mm = v._minimap_rect()
    click(mm.x + 1, mm.y + 1)
    frame(v, window)
    assert not v.controls.follow
    assert v.cx == pytest.approx(v.world[0] + mm.w ** -1 * (v.world[2] - v.world[0]), abs=1e-6)
    assert v.cy == pytest.approx(v.world[3] - mm.h ** -1 * (v.world[3] - v.world[1]), abs=1e-6)


def test_comparison_overlays_a_ghost(replay_file, window, tmp_path, record_episode):
    from testbed.replay.viewer import open_replays
    from testbed.replay.viewer.app import Viewer

    b = record_autopilot_episode(record_episode, tmp_path / "b.replay", link="degraded")
    readers, hmap = open_replays([replay_file, b])
    v = Viewer(readers, hmap, (W, H), paused=True)
    v.seek(v.t0 + 60)
    frame(v, window)
    kinds = list(v._hit[0])
    assert "ghost" in kinds and "ego" in kinds
    c = record_autopilot_episode(record_episode, tmp_path / "c.replay", seed=1, time_limit=20.0, traffic=1)
    readers, hmap = open_replays([replay_file, c])
    with pytest.raises(ValueError, match="seed"):
        Viewer(readers, hmap, (W, H))


def test_raw_ais_log_plays_without_an_agent(window):
    from testbed.replay.viewer import open_replays
    from testbed.replay.viewer.app import Viewer

    log = ROOT / "tests" / "ais" / "data" / "pyais__tests_timestamped.ais"
    with pytest.raises(ValueError, match="map"):
        open_replays([str(log)])
    src = ROOT / "testbed" / "data" / "ais" / "duisburg_synth_2h.nmea"
    readers, hmap = open_replays([str(src)], "duisburg_ruhrort")
    v = Viewer(readers, hmap, (W, H), paused=True)
    assert not v.main.has_ego and v.main.n_traffic > 10
    v.seek(v.t0 + 0.4 * (v.t1 - v.t0))
    v.fit_map()
    v.zoom(2)
    frame(v, window)
    on = [i for i, k in enumerate(v._hit[0]) if k == "traffic"]
    assert len(on) >= 5
    j = int(v._hit[1][on[0]])
    click(v._hit[2][on[0]], v._hit[3][on[0]])
    frame(v, window)
    assert v.selected == ("traffic", j)
    assert v.traffic_info[j].mmsi is not None


def test_cli_window_opens_saves_a_screenshot_and_quits_on_q(replay_file, xdisplay, tmp_path):
    """``testbed replay FILE`` as a person starts it: a window appears, ``s`` saves a screenshot, ``q`` closes
    it with status 0."""
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed")
    env = dict(os.environ, DISPLAY=xdisplay, SDL_VIDEODRIVER="x11", SDL_VIDEO_WINDOW_POS="0,0", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "testbed", "replay", str(replay_file)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wid = None
        deadline = time.time() + 60
        while wid is None and time.time() < deadline and proc.poll() is None:
            r = subprocess.run(["xdotool", "search", "--pid", str(proc.pid)], env=env, capture_output=True,
                               text=True, timeout=10)
            wid = r.stdout.split()[0] if r.stdout.split() else None
            time.sleep(0.3)
        assert wid is not None, proc.stderr.read().decode() if proc.poll() is not None else "no window"
        name = subprocess.run(["xdotool", "getwindowname", wid], env=env, capture_output=True, text=True,
                              timeout=10).stdout
        assert name.startswith("Testbed replay - PortEntry-v0")
        time.sleep(1.0)
        assert proc.poll() is None  # it stays open until the user quits
        subprocess.run(["xdotool", "windowfocus", "--sync", wid, "mousemove", "--window", wid, "200", "200",
                        "key", "s"], env=env, check=True, timeout=10)
        deadline = time.time() + 20
        while not list(tmp_path.glob("replay_*.png")) and time.time() < deadline:
            time.sleep(0.2)
        subprocess.run(["xdotool", "key", "q"], env=env, check=True, timeout=10)
        assert proc.wait(30) == 0
        shots = list(tmp_path.glob("replay_PortEntry-v0_*.png"))
        assert len(shots) == 1
        from PIL import Image

        img = np.asarray(Image.open(shots[0]).convert("RGB"))
        assert img.shape == (800, 1280, 3) and img.std() > 20
        assert np.all(img[0, 0] == (18, 24, 34))  # the top bar: a screenshot of the viewer, not a black frame
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_input_is_one_line_with_status_2(replay_file, tmp_path):
    """No display, an unknown layer, a corrupted replay: one line naming the problem, exit status 2."""
    from testbed.replay.viewer import open_replays
    from testbed.replay.viewer.app import Viewer

    readers, hmap = open_replays([replay_file])
    with pytest.raises(ValueError, match="unknown viewer layer 'sonar'"):
        Viewer(readers, hmap, (W, H), layers={"sonar": True})
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.update(SDL_VIDEODRIVER="x11", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "testbed", "replay", str(replay_file)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("testbed:")]
    assert len(err) == 1 and "cannot open the viewer window" in err[0] and "--export" in err[0]
    assert "Traceback" not in r.stderr
    bad = tmp_path / "cut.replay"
    bad.write_bytes(Path(replay_file).read_bytes()[:2000])
    r = subprocess.run([sys.executable, "-m", "testbed", "replay", str(bad)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "cut.replay" in r.stderr and "Traceback" not in r.stderr


def test_resized_window_lays_out_again(viewer):
    v = viewer
    v.resize(1000, 640)
    surf = pg.Surface((1000, 640))
    v.draw(surf)
    img = np.transpose(pg.surfarray.array3d(surf), (1, 0, 2))
    r = v._timeline_rect()
    assert r.right <= 1000 and r.bottom <= 640
    # the timeline's dark band is at the new bottom edge, and the playhead's white knob on it
    assert np.all(img[640 - 3, 5] == (18, 24, 34))
    px = int(round(v.x_of_t(v.t)))
    assert np.any(np.all(img[r.y:r.bottom, max(0, px - 8):px + 8] == (255, 255, 255), axis=-1))
