"""Coverage pictures: flat fields keep a colour range, land is dimmed, labels do not overlap, and the
env's overlay has a legend (issue 8 section 4)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from harbour_maps import load_map
from testbed.link.coverage import Coverage, _place_labels, display_range, draw_coverage


def test_display_range_flat_field_is_centred_with_a_note():
    lo, hi, uni = display_range("latency_p95", np.full(100, 31.9))
    assert uni == pytest.approx(31.9) and lo < 31.9 < hi and hi - lo == pytest.approx(2 * 0.05 * 31.9)
    lo, hi, uni = display_range("sinr", np.r_[np.full(10, 7.0), np.nan])
    assert uni == 7.0 and lo == 6.5 and hi == 7.5
    lo, hi, uni = display_range("sinr", np.linspace(-3, 20, 50))
    assert (lo, hi, uni) == (-10.0, 30.0, None)  # fixed ends of METRICS kept
    lo, hi, uni = display_range("latency_p50", np.linspace(10, 50, 1001))
    assert uni is None and lo == pytest.approx(10.4) and hi == pytest.approx(49.6)  # 1st / 99th percentile
    assert display_range("throughput", np.full(4, np.nan))[:2] == (0.0, 1.0)


def _flat_cov(m, value=31.9, res=20.0):
    x0, y0, x1, y1 = m.bounds
    nx, ny = int(np.ceil((x1 - x0) / res)), int(np.ceil((y1 - y0) / res))
    xx = np.linspace(0, 1, nx)[None, :].repeat(ny, axis=0).astype(np.float32)
    flat = np.full((ny, nx), value, np.float32)
    return Coverage("lte", m.name, -5 + 30 * xx, 100 * xx, flat, flat.copy(), (x0, x0 + nx * res, y0, y0 + ny * res),
                    res, 1)  # fmt: skip


def _rgb(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def test_flat_latency_picture_is_not_one_colour(tmp_path):
    import matplotlib

    m = load_map("synthetic_channel")
    out = draw_coverage(m, _flat_cov(m), tmp_path / "p95.png", metric="latency_p95", width_px=800)
    img = _rgb(out)
    colours, counts = np.unique(img.reshape(-1, 3), axis=0, return_counts=True)
    assert len(colours) > 50 and counts.max() / counts.sum() < 0.6
    # the water shows the middle of the colour ramp, not the black end (the old collapsed range)
    mid = np.rint(np.asarray(matplotlib.colormaps["magma_r"](0.5)[:3]) * 255)
    near_mid = np.all(np.abs(img - mid) <= 6, axis=-1).mean()
    black = np.all(img <= 30, axis=-1).mean()
    assert near_mid > 0.05 and black < 0.02, (near_mid, black)


def test_land_is_dimmed_and_water_keeps_its_colour(tmp_path):
    import matplotlib

    m = load_map("synthetic_channel")
    cov = _flat_cov(m)
    cov.sinr_db[:] = -10.0  # the dark end of viridis everywhere (but one column: not a flat field)
    cov.sinr_db[:, cov.sinr_db.shape[1] // 2] = 30.0
    img = _rgb(draw_coverage(m, cov, tmp_path / "sinr.png", metric="sinr", width_px=800))
    dark = np.rint(np.asarray(matplotlib.colormaps["viridis"](0.0)[:3]) * 255)
    on_ramp = np.all(np.abs(img - dark) <= 6, axis=-1).mean()  # water: full colour
    light = (img.sum(axis=-1) > 600).mean()  # land (and margins): light
    water_share = m.water.area / ((m.bounds[2] - m.bounds[0]) * (m.bounds[3] - m.bounds[1]))
    assert on_ramp > 0.3 * water_share and light > 0.3, (on_ramp, light, water_share)


def test_cell_labels_do_not_overlap_and_stay_inside():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
    try:
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        pts = [((50, 50), "cell-01"), ((50.5, 50.2), "cell-02"), ((51, 49), "cell-03"), ((99.5, 99.5), "cell-04"),
               ((0.2, 0.5), "cell-05")]  # fmt: skip
        fig.canvas.draw()
        texts = _place_labels(ax, pts)
        r = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(r) for t in texts]
        axb = ax.get_window_extent(r)
        for i, a in enumerate(boxes):
            assert a.x0 >= axb.x0 - 1 and a.x1 <= axb.x1 + 1 and a.y0 >= axb.y0 - 1 and a.y1 <= axb.y1 + 1
            for b in boxes[i + 1:]:
                assert not a.overlaps(b), (a, b)
    finally:
        plt.close(fig)


def test_lte_latency_p95_cli_picture(tmp_path, capsys):
    """The case from the issue: an LTE p95 latency map that was entirely black."""
    from testbed.cli import main

    out = tmp_path / "lte_p95.png"
    rc = main(["link", "coverage", "--profile", "lte", "--metric", "latency_p95", "--resolution", "40",
               "--out", str(out)])  # fmt: skip
    assert rc == 0
    import matplotlib

    img = _rgb(out)
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 50
    assert np.all(img <= 30, axis=-1).mean() < 0.02  # not black
    mid = np.rint(np.asarray(matplotlib.colormaps["magma_r"](0.5)[:3]) * 255)
    assert np.all(np.abs(img - mid) <= 6, axis=-1).mean() > 0.03  # the waterway in the ramp's middle
    assert "p95 = 31.9" in capsys.readouterr().out


@pytest.mark.parametrize("metric", ["sinr", "latency_p95"])
def test_env_overlay_has_a_legend(metric):
    import gymnasium as gym

    import testbed  # noqa: F401

    kw = dict(render_mode="rgb_array", camera="map", link={"profile": "lte", "radio_resolution_m": 40.0})
    plain = gym.make("testbed/PortEntry-v0", **kw)
    over = gym.make("testbed/PortEntry-v0", overlay=metric, **kw)
    try:
        plain.reset(seed=0)
        over.reset(seed=0)
        a, b = plain.render(), over.render()
        r = over.unwrapped._renderer
        assert r._legend is not None
        lw, lh = r._legend.get_size()
        H, W = b.shape[:2]
        box = (slice(H - lh - 6, H - 6), slice(W - lw - 6, W - 6))
        assert np.mean(np.any(a[box] != b[box], axis=-1)) > 0.5  # the legend panel is drawn there
        assert len(np.unique(b[box].reshape(-1, 3), axis=0)) > 20  # a colour bar, not a flat box
        land = plain.unwrapped.world.map
        # land stays land: pixels of the land colour are as common as without the overlay
        from testbed.render import LAND_COLOUR

        share = lambda f: np.all(f == LAND_COLOUR, axis=-1).mean()  # noqa: E731
        assert share(b) > 0.8 * share(a), (share(a), share(b), land.name)
    finally:
        plain.close()
        over.close()


@pytest.mark.parametrize("map_name", ["synthetic_channel", "duisburg_ruhrort"])
def test_axis_labels_and_ticks_are_inside_the_picture(map_name):
    """Both axis labels exist, and every tick label (with its minus sign) lies inside the figure."""
    import matplotlib.pyplot as plt

    from testbed.link.coverage import coverage_figure

    m = load_map(map_name)
    fig = coverage_figure(m, _flat_cov(m), "latency_p95", width_px=700)
    try:
        ax = fig.axes[0]
        assert ax.get_xlabel() and ax.get_ylabel()
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        fb = fig.bbox
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        ticks = [t for t in ax.get_xticklabels() if x0 <= t.get_position()[0] <= x1]
        ticks += [t for t in ax.get_yticklabels() if y0 <= t.get_position()[1] <= y1]  # the ones drawn
        texts = [ax.xaxis.label, ax.yaxis.label] + ticks
        negative = [t for t in ticks if t.get_text().startswith("\u2212")]
        assert negative  # both maps extend to negative coordinates
        for t in texts:
            if not t.get_text() or not t.get_visible():
                continue
            bb = t.get_window_extent(r)
            assert bb.x0 >= fb.x0 - 0.5 and bb.x1 <= fb.x1 + 0.5 and bb.y0 >= fb.y0 - 0.5 and bb.y1 <= fb.y1 + 0.5, (
                t.get_text(), bb, fb)
    finally:
        plt.close(fig)
