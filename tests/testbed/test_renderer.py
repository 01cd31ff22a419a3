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


# ------------------------------------------------------------------------------------------------
# follow-camera legibility (issue 8 section 4)

COMPONENTS = {"progress": 0.05, "cross_track": -0.002, "heading": -0.001, "collision": 0.0, "grounding": 0.0,
              "near_miss": 0.0, "speed_limit": -0.03, "energy": -0.005, "smoothness": -0.01, "goal": 0.0}


def _crowded_scene(m):
    """Ego in the middle, four traffic ships right next to it, 72 rays, reward components."""
    sc = _scene(m)
    ex, ey, psi = sc.ego.x, sc.ego.y, sc.ego.psi
    fwd = np.array([np.sin(psi), np.cos(psi)])
    stb = np.array([np.cos(psi), -np.sin(psi)])
    sc.traffic = [VesselSprite(*(np.array([ex, ey]) + a * fwd + b * stb), psi, 85.0, 9.5, f"TMS Name {k}")
                  for k, (a, b) in enumerate([(60, 15), (-60, -15), (120, 0), (-120, 10)])]
    ang = psi + np.linspace(-np.pi, np.pi, 72, endpoint=False)
    sc.ray_world_angles = ang
    sc.ray_lengths = m.cast_rays([[ex, ey]], [0.0], ang)[0]
    sc.reward_components = dict(COMPONENTS)
    return sc


@pytest.mark.parametrize("camera", ["follow", "map"])
def test_labels_do_not_overlap_and_stay_inside(hmap, renderer, camera):
    sc = _crowded_scene(hmap)
    renderer.set_camera(camera)
    try:
        renderer.render(sc)
        labels = renderer.last_labels
    finally:
        renderer.set_camera("follow")
    names = [t for t, _ in labels]
    for v in [sc.ego, *sc.traffic]:
        assert v.name in names  # every visible ship is named
    for i, (t, r) in enumerate(labels):
        assert r.left >= 0 and r.top >= 0 and r.right <= W and r.bottom <= H, (t, r)
        assert not r.colliderect(renderer.last_hud_rect), (t, r)
        for t2, r2 in labels[i + 1:]:
            assert not r.colliderect(r2), (t, r, t2, r2)


def test_map_labels_near_the_frame_edge_are_clamped_inside():
    m = load_map("duisburg_ruhrort")
    r = Renderer(m, "rgb_array", W, H)
    try:
        k = m.km_markers[len(m.km_markers) // 2]
        # put the km marker 3 px from the right edge: its label would stick out on the right
        span_px = 1.0 / r.scale_px_per_m
        ego = (k.xy[0] - (W / 2 - 3) * span_px, k.xy[1])
        sc = RenderScene(0.0, VesselSprite(ego[0], ego[1], 0.0, 110, 11.4, "EGO", "ego"))
        r.render(sc)
        rects = [rr for t, rr in r.last_labels if t == f"km {k.km:g}"]
        assert rects and rects[0].right <= W and rects[0].left >= 0
    finally:
        r.close()


def test_rays_do_not_bury_the_hull(hmap, renderer):
    sc = _crowded_scene(hmap)
    sc.traffic = []
    f = renderer.render(sc)
    c = np.array([W / 2, H / 2])
    psi = sc.ego.psi
    fwd = np.array([np.sin(psi), -np.cos(psi)])
    Lpx = max(sc.ego.length * renderer.scale_px_per_m, renderer.min_hull_px)
    # the hull's centre line (bow to stern, inside the outline) is all ego colour despite 72 rays
    for a in np.linspace(-0.4, 0.3, 15):
        x, y = np.rint(c + a * Lpx * fwd).astype(int)
        assert _close(f[y, x], EGO_COLOUR, 0), (a, f[y, x])
    # rays are translucent: the water shows through a long ray's pixels
    ang = np.asarray(sc.ray_world_angles)
    i = int(np.argmax(sc.ray_lengths))
    d = sc.ray_lengths[i] * 0.6 * renderer.scale_px_per_m
    x, y = np.rint(c + d * np.array([np.sin(ang[i]), -np.cos(ang[i])])).astype(int)
    px = f[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).astype(int)
    ray_rgb = colour_ramp(np.array([sc.ray_lengths[i]]), "rdylgn", 0.0, renderer.ray_colour_range_m)[0]
    assert not np.any(np.all(px == ray_rgb, axis=-1))  # never the opaque ray colour


def test_hud_is_compact_with_a_signed_reward_bar(hmap, renderer):
    sc = _crowded_scene(hmap)
    sc.hud = {"time": "1:05.0", "SOG": "9.1 kn", "heading": "037.4 deg", "rudder": "-0.6 deg", "engine": "+98 %",
              "to goal": "2.99 km", "link SINR": "9.2 dB"}
    f = renderer.render(sc)
    hud = renderer.last_hud_rect
    assert hud.height < 200 and hud.width < 260, hud  # not 15 rows of -0.000
    # the bar: positive 'progress' (colour 0) right of zero, negative components left of it
    from testbed.render import _component_colour

    panel = f[hud.top:hud.bottom, hud.left:hud.right].reshape(-1, 3).astype(int)
    for idx in (0, 6, 8):  # progress, speed_limit, smoothness
        col = np.asarray(_component_colour(idx))
        assert np.any(np.all(panel == col, axis=-1)), idx
    rows = np.flatnonzero(np.any(np.all(f[hud.top:hud.bottom, hud.left:hud.right] == _component_colour(0), axis=-1),
                                 axis=1))  # fmt: skip
    ys = hud.top + rows
    y = int(ys[len(ys) // 2])  # a row through the bar
    xs_pos = np.flatnonzero(np.all(f[y] == _component_colour(0), axis=-1))
    xs_neg = np.flatnonzero(np.all(f[y] == _component_colour(6), axis=-1))
    assert xs_pos.size > 40 and xs_neg.size > 10 and xs_neg.max() < xs_pos.min()
