"""testbed.render: the pygame renderer (headless, SDL_VIDEODRIVER=dummy from tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point

from harbour_maps import load_map
from testbed.render import (
    EGO_COLOUR,
    LAND_COLOUR,
    TRAFFIC_COLOUR,
    WATER_COLOUR,
    Renderer,
    RenderScene,
    VesselSprite,
    colour_ramp,
    save_gif,
    save_png,
)

W, H = 800, 600
MAPS = ["synthetic_channel", "duisburg_ruhrort"]


@pytest.fixture(scope="module", params=MAPS)
def hmap(request):
    return load_map(request.param)


def _ego_xy(m):
    """A water point in the middle of the first lane."""
    ln = m.lanes[0]
    xy = ln.xy[len(ln.xy) // 2]
    assert m.is_water(xy)[0]
    return xy


def _scene(m, shift=0.0) -> RenderScene:
    ex, ey = _ego_xy(m)
    ex += shift
    psi = float(m.lane_coordinates([[ex, ey]]).lane_heading[0])
    ego = VesselSprite(ex, ey, psi, 110.0, 11.4, "EGO", "ego")
    fwd = np.array([np.sin(psi), np.cos(psi)])
    traffic = [VesselSprite(ex + 250 * fwd[0], ey + 250 * fwd[1], psi, 85.0, 9.5, "TMS Alpha"),
               VesselSprite(ex - 200 * fwd[0], ey - 200 * fwd[1], psi + np.pi, 135.0, 11.4, "Bravo")]
    ang = psi + np.linspace(-np.pi, np.pi, 36, endpoint=False)
    lengths = m.cast_rays([[ex, ey]], [0.0], ang)[0]
    goal = (ex + 400 * fwd[0], ey + 400 * fwd[1])
    route = np.array([[ex, ey], goal])
    hud = {"time [s]": 12.5, "speed [kn]": 6.1, "rudder [deg]": -10, "engine [%]": 80, "r:progress": 0.1,
           "status": "ok"}
    return RenderScene(12.5, ego, traffic, (ex, ey), ang, lengths, goal, psi, 40.0, route, hud)


def _drawn_world(m, sc: RenderScene, r: Renderer):
    """Shapely geometry (world metres) of everything drawn that is not background fill, with its
    drawing tolerance already buffered in."""
    px = 1.0 / r.scale_px_per_m  # metres per pixel
    view = r.view_for((sc.ego.x, sc.ego.y))
    parts = [m.water.boundary.buffer(6 * px)]
    parts += [LineString(ln.xy).buffer(12 * px) for ln in m.lanes]
    for b in m.bridges:
        parts.append(LineString(b.xy).buffer(20 * px))
        parts += [p.buffer(4 * px) for p in b.piers]
    parts += [lk.polygon.boundary.buffer(4 * px) for lk in m.locks]
    # labelled points: a box right of the point (labels are drawn at +5 px)
    labelled = [k.xy for k in m.km_markers] + [b.xy for b in m.berths] + [b.xy[-1] for b in m.bridges]
    for bt in m.berths:
        d = np.array([np.sin(bt.heading), np.cos(bt.heading)]) * 0.5 * bt.length_m
        parts.append(LineString([bt.xy - d, bt.xy + d]).buffer(6 * px))
    for p in labelled:
        x, y = p
        parts.append(shapely.box(x - 12 * px, y - 30 * px, x + 220 * px, y + 25 * px))
    for v in [sc.ego, *sc.traffic]:
        parts.append(Point(v.x, v.y).buffer(max(v.length, 10 * px) + 110 * px))
    parts.append(LineString(sc.route_xy).buffer(6 * px))
    parts.append(Point(sc.goal_xy).buffer(sc.goal_radius + 30 * px))
    o = np.asarray(sc.ray_origin)
    for a, ln in zip(sc.ray_world_angles, sc.ray_lengths, strict=True):
        parts.append(LineString([o, o + ln * np.array([np.sin(a), np.cos(a)])]).buffer(4 * px))
    # HUD (top left), scale bar (bottom left), north arrow (top right) in screen space
    inv = lambda c, rr: (view.x0 + c / view.s, view.y1 - rr / view.s)  # noqa: E731
    for c0, r0, c1, r1 in [(0, 0, 300, 260), (0, H - 60, 260, H), (W - 60, 0, W, 60)]:
        (x0, y1), (x1, y0) = inv(c0, r0), inv(c1, r1)
        parts.append(shapely.box(x0, y0, x1, y1))
    return shapely.union_all(parts)


def _quiet_pixel(m, sc, r, water: bool):
    """(row, col) of a pixel well inside water (or land) and away from everything drawn."""
    view = r.view_for((sc.ego.x, sc.ego.y))
    cols, rows = np.meshgrid(np.arange(20, W - 20, 7), np.arange(20, H - 20, 7))
    xy = np.column_stack([view.x0 + (cols.ravel() + 0.5) / view.s, view.y1 - (rows.ravel() + 0.5) / view.s])
    sd = m.signed_distance(xy)
    ok = sd > 30 if water else sd < -30
    drawn = _drawn_world(m, sc, r)
    cand = np.flatnonzero(ok)
    if cand.size:
        hit = shapely.contains_xy(drawn, xy[cand, 0], xy[cand, 1])
        cand = cand[~hit]
    if not cand.size:
        return None
    i = cand[len(cand) // 2]
    return int(rows.ravel()[i]), int(cols.ravel()[i])


def _close(px, colour, tol=3):
    return bool(np.all(np.abs(px.astype(int) - np.asarray(colour)) <= tol))


@pytest.fixture(scope="module")
def renderer(hmap):
    r = Renderer(hmap, "rgb_array", W, H)
    yield r
    r.close()


# ------------------------------------------------------------------------------------------------

def test_import_does_not_import_pygame():
    code = "import sys, testbed.render; print('pygame' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "SDL_VIDEODRIVER": "dummy"})
    assert out.stdout.strip() == "False"


def test_follow_frame_shape_ego_water_land(hmap, renderer):
    sc = _scene(hmap)
    renderer.set_camera("follow")
    f = renderer.render(sc)
    assert isinstance(f, np.ndarray) and f.shape == (H, W, 3) and f.dtype == np.uint8
    assert f.flags.c_contiguous
    assert _close(f[H // 2, W // 2], EGO_COLOUR, 0), f[H // 2, W // 2]
    col, row = renderer.pixel_of((sc.ego.x, sc.ego.y), (sc.ego.x, sc.ego.y))
    assert (int(col), int(row)) == (W // 2, H // 2)
    # a traffic hull centre
    t = sc.traffic[0]
    c, rr = renderer.pixel_of((t.x, t.y), (sc.ego.x, sc.ego.y))
    assert _close(f[int(rr), int(c)], TRAFFIC_COLOUR, 0)
    pw = _quiet_pixel(hmap, sc, renderer, water=True)
    assert pw is not None, "no quiet water pixel found"
    assert _close(f[pw], WATER_COLOUR), (pw, f[pw])
    pl = _quiet_pixel(hmap, sc, renderer, water=False)
    assert pl is not None, "no quiet land pixel found"
    assert _close(f[pl], LAND_COLOUR), (pl, f[pl])


def test_frame_equals_surfarray_array3d(hmap, renderer):
    import pygame

    f = renderer.render(_scene(hmap))
    ref = np.transpose(pygame.surfarray.array3d(renderer._canvas), (1, 0, 2))
    np.testing.assert_array_equal(f, ref)


@pytest.mark.parametrize("size", [(321, 237), (17, 16)])
def test_frame_equals_array3d_odd_sizes(size):
    import pygame

    m = load_map("synthetic_channel")
    r = Renderer(m, "rgb_array", *size)
    try:
        for cam in ("follow", "map"):
            r.set_camera(cam)
            f = r.render(_scene(m))
            assert f.shape == (size[1], size[0], 3)
            np.testing.assert_array_equal(f, np.transpose(pygame.surfarray.array3d(r._canvas), (1, 0, 2)))
    finally:
        r.close()


def test_map_camera(hmap, renderer):
    sc = _scene(hmap)
    renderer.set_camera("follow")
    f_follow = renderer.render(sc)
    renderer.set_camera("map")
    try:
        f_map = renderer.render(sc)
    finally:
        renderer.set_camera("follow")
    assert f_map.shape == (H, W, 3) and f_map.dtype == np.uint8
    assert not np.array_equal(f_map, f_follow)
    renderer.set_camera("map")
    try:
        c, r = renderer.pixel_of((sc.ego.x, sc.ego.y))
    finally:
        renderer.set_camera("follow")
    assert _close(f_map[int(r), int(c)], EGO_COLOUR, 0)  # minimum hull size keeps it visible
    share_water = np.mean(np.all(f_map == WATER_COLOUR, axis=-1))
    share_land = np.mean(np.all(f_map == LAND_COLOUR, axis=-1))
    assert share_water > 0.01 and share_land > 0.2, (share_water, share_land)
    # whole map inside the window
    xmin, ymin, xmax, ymax = hmap.bounds
    renderer.set_camera("map")
    try:
        p = renderer.pixel_of(np.array([[xmin, ymin], [xmax, ymax]]))
    finally:
        renderer.set_camera("follow")
    assert np.all(p >= 0) and np.all(p[:, 0] <= W) and np.all(p[:, 1] <= H)


def test_follow_camera_moves_with_ego(hmap, renderer):
    f0 = renderer.render(_scene(hmap))
    f1 = renderer.render(_scene(hmap, shift=40.0))
    assert not np.array_equal(f0, f1)
    assert _close(f1[H // 2, W // 2], EGO_COLOUR, 0)


def test_scene_without_optional_parts(hmap, renderer):
    ex, ey = _ego_xy(hmap)
    sc = RenderScene(0.0, VesselSprite(ex, ey, 0.0, 80, 9, "e", "ego"), [], None, None, None, None, None, 0.0,
                     None, {})
    f = renderer.render(sc)
    assert f.shape == (H, W, 3)


def test_ego_far_outside_map(hmap, renderer):
    xmin, ymin, xmax, ymax = hmap.bounds
    sc = _scene(hmap)
    sc.ego = VesselSprite(xmax + 1e5, ymax + 1e5, 0.0, 110, 11, "lost", "ego")
    f = renderer.render(sc)
    assert _close(f[H // 4, W - 100], LAND_COLOUR, 0)


def test_overlay(hmap, renderer):
    sc = _scene(hmap)
    renderer.set_camera("follow")
    pw = _quiet_pixel(hmap, sc, renderer, water=True)
    base = renderer.render(sc)[pw]
    xmin, ymin, xmax, ymax = hmap.bounds
    arr = np.ones((20, 30))
    renderer.set_overlay(arr, (xmin, ymin, xmax, ymax), cmap="viridis", alpha=0.5, vmin=0.0, vmax=1.0)
    try:
        px = renderer.render(sc)[pw]
        top = np.array([253, 231, 37])
        expected = (np.asarray(WATER_COLOUR) * (1 - 128 / 255) + top * 128 / 255)
        assert np.all(np.abs(px.astype(float) - expected) <= 3), (px, expected)
        assert _close(renderer.render(sc)[H // 2, W // 2], EGO_COLOUR, 0)  # dynamic layers stay on top
        renderer.set_overlay(np.full((5, 5), np.nan), (xmin, ymin, xmax, ymax))  # NaN: transparent
        assert _close(renderer.render(sc)[pw], base, 0)
    finally:
        renderer.set_overlay(None)
    assert _close(renderer.render(sc)[pw], base, 0)
    with pytest.raises(ValueError):
        renderer.set_overlay(np.ones(5), (0, 0, 1, 1))
    with pytest.raises(ValueError):
        renderer.set_overlay(np.ones((2, 2)), (0, 0, 0, 1))


def test_overlay_in_constructor_and_map_view():
    m = load_map("synthetic_channel")
    xmin, ymin, xmax, ymax = m.bounds
    ov = np.linspace(0, 1, 50)[None, :].repeat(10, axis=0)
    r = Renderer(m, "rgb_array", 320, 240, camera="map", overlay=(ov, (xmin, ymin, xmax, ymax), "gray"))
    plain = Renderer(m, "rgb_array", 320, 240, camera="map")
    try:
        sc = _scene(m)
        assert not np.array_equal(r.render(sc), plain.render(sc))
    finally:
        r.close()
        plain.close()


def test_colour_ramp():
    c = colour_ramp(np.array([0.0, 0.5, 1.0, np.nan]), "gray", 0.0, 1.0)
    assert c.dtype == np.uint8 and c.shape == (4, 3)
    assert c[0].tolist() == [0, 0, 0] and c[2].tolist() == [255, 255, 255] and 126 <= c[1, 0] <= 129
    with pytest.raises(ValueError, match="nope"):
        colour_ramp(np.zeros(3), "nope")


def test_human_mode_headless():
    m = load_map("synthetic_channel")
    r = Renderer(m, "human", 400, 300, fps=1000)
    try:
        assert r.render(_scene(m)) is None
        r.set_camera("map")
        assert r.render(_scene(m)) is None
    finally:
        r.close()
    r.close()  # idempotent
    with pytest.raises(RuntimeError):
        r.render(_scene(m))


def test_bad_arguments():
    m = load_map("synthetic_channel")
    with pytest.raises(ValueError, match="'ansi'"):
        Renderer(m, "ansi")
    with pytest.raises(ValueError, match="'orbit'"):
        Renderer(m, camera="orbit")
    r = Renderer(m, "rgb_array", 200, 150)
    with pytest.raises(ValueError, match="'top'"):
        r.set_camera("top")
    r.close()


def test_save_gif_and_png(tmp_path):
    from PIL import Image

    m = load_map("synthetic_channel")
    r = Renderer(m, "rgb_array", 240, 180)
    frames = [r.render(_scene(m, shift=30.0 * i)) for i in range(4)]
    r.close()
    p = save_gif(frames, tmp_path / "sub" / "ep.gif", fps=5)
    assert p.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    with Image.open(p) as im:
        assert im.n_frames == 4 and im.size == (240, 180)
        assert im.info.get("duration") == 200
    q = save_png(frames[0], tmp_path / "f.png")
    assert q.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(q) as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), frames[0])
    assert sorted(x.name for x in tmp_path.rglob("*") if x.is_file()) == ["ep.gif", "f.png"]
    with pytest.raises(ValueError):
        save_gif([], tmp_path / "x.gif")
    with pytest.raises(ValueError):
        save_png(np.zeros((4, 4)), tmp_path / "x.png")
