"""Hypothesis property tests of the map queries on all synthetic maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harbour_maps import load_map

NAMES = ["synthetic_channel", "synthetic_river_bend", "synthetic_basin_entry", "synthetic_crossing"]
_MAPS: dict = {}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    if not _MAPS:
        cache = tmp_path_factory.mktemp("hm_cache")
        for n in NAMES:
            _MAPS[n] = load_map(n, cache_dir=cache)
    return _MAPS


unit = st.floats(0.0, 1.0, allow_nan=False)
points = st.lists(st.tuples(unit, unit), min_size=1, max_size=40)


def _scale(m, pts, pad=50.0):
    xmin, ymin, xmax, ymax = m.bounds
    p = np.asarray(pts, dtype=np.float64)
    return np.column_stack([xmin - pad + p[:, 0] * (xmax - xmin + 2 * pad),
                            ymin - pad + p[:, 1] * (ymax - ymin + 2 * pad)])


def _water_points(m, picks, offs):
    """Points in water cells: a cell chosen by `picks` in [0, 1), anywhere inside it."""
    R = m.rasters
    wxy = R.water_xy()
    k = np.minimum((np.asarray(picks) * len(wxy)).astype(int), len(wxy) - 1)
    o = (np.asarray(offs).reshape(-1, 2) - 0.5) * 0.999 * R.resolution
    return wxy[k] + o


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(pts=points)
def test_sdf_sign_agrees_with_water(maps, name, pts):
    m = maps[name]
    xy = _scale(m, pts)
    sd = m.signed_distance(xy)
    wet = m.is_water(xy)
    far = np.abs(sd) > m.rasters.resolution  # away from a one-cell band at the bank
    np.testing.assert_array_equal((sd > 0)[far], wet[far])
    # and with the exact geometry, away from a cell or so of the bank
    exact = shapely.contains_xy(m.water, xy[:, 0], xy[:, 1])
    far2 = np.abs(sd) > 1.5 * m.rasters.resolution
    np.testing.assert_array_equal(exact[far2], wet[far2])
    d = shapely.distance(m.water.boundary, shapely.points(xy))
    inside = shapely.contains_xy(m.extent_local, xy[:, 0], xy[:, 1])
    np.testing.assert_allclose(np.abs(sd)[inside], d[inside], atol=1.0 * m.rasters.resolution)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(picks=st.lists(unit, min_size=1, max_size=20), data=st.data())
def test_rays_end_at_a_bank(maps, name, picks, data):
    m = maps[name]
    r = m.rasters.resolution
    n = len(picks)
    offs = data.draw(st.lists(unit, min_size=2 * n, max_size=2 * n))
    o = _water_points(m, picks, offs)
    # table directions: heading + angle on the 5 deg lattice
    hk = data.draw(st.lists(st.integers(0, 71), min_size=n, max_size=n))
    h = np.radians(np.asarray(hk) * 5.0)
    ang = np.radians(np.arange(-180, 180, 15.0))
    rays = m.cast_rays(o, h, ang)
    assert rays.shape == (n, ang.size)
    assert np.all(rays >= 0) and np.all(rays <= 1500.0)
    phi = h[:, None] + ang[None, :]
    u = np.stack([np.sin(phi), np.cos(phi)], axis=-1)
    end = o[:, None, :] + rays[..., None] * u
    sd_end = m.signed_distance(end.reshape(-1, 2)).reshape(rays.shape)
    ok = (sd_end <= 1.5 * r) | (rays >= 1500.0)
    assert np.all(ok), (rays[~ok], sd_end[~ok])
    # no land before the end (40 samples up to a cell and a half short of the end): an origin away
    # from its cell centre may clip a land corner (sdf >= about -0.4 cell), a ray through land not.
    # (Thin piers, 2 cells, are checked in test_rays_hit_bridge_piers.)
    for t in np.linspace(0.0, 1.0, 41)[:-1]:
        mid = o[:, None, :] + (t * np.maximum(rays - 1.5 * r, 0.0))[..., None] * u
        assert np.all(m.signed_distance(mid.reshape(-1, 2)) > -0.75 * r)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(pts=points, hs=st.lists(st.floats(-20, 20, allow_nan=False), min_size=1, max_size=40),
       angs=st.lists(st.floats(-7, 7, allow_nan=False), min_size=1, max_size=8),
       max_range=st.one_of(st.none(), st.floats(1.0, 3000.0)))
def test_ray_lengths_bounded(maps, name, pts, hs, angs, max_range):
    m = maps[name]
    xy = _scale(m, pts)
    h = np.resize(np.asarray(hs), len(xy))
    rays = m.cast_rays(xy, h, np.asarray(angs), max_range=max_range)
    mr = 1500.0 if max_range is None else min(max_range, 1500.0)
    assert rays.shape == (len(xy), len(angs))
    assert np.all(np.isfinite(rays)) and np.all(rays >= 0) and np.all(rays <= mr)
    assert np.all(rays[~m.is_water(xy)] == 0)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(pts=points)
def test_lane_cross_track_matches_shapely(maps, name, pts):
    m = maps[name]
    xy = _scale(m, pts)
    lc = m.lane_coordinates(xy)
    lines = [shapely.LineString(ln.xy) for ln in m.lanes]
    p = shapely.points(xy)
    d_all = np.array([shapely.distance(ln, p) for ln in lines])  # (L, N)
    d_sel = d_all[lc.lane, np.arange(len(xy))]
    np.testing.assert_allclose(np.abs(lc.cross_m), d_sel, atol=1e-6)
    # the chosen lane is the nearest one, up to the raster cell (exact off water: brute force)
    slack = np.where(m.is_water(xy), math.sqrt(2) * m.rasters.resolution, 1e-6)
    assert np.all(d_sel <= d_all.min(axis=0) + slack)
    # along-track: the point at `along` on the lane is the foot of the perpendicular
    foot = np.array([shapely.get_coordinates(lines[k].interpolate(s))[0] for k, s in zip(lc.lane, lc.along_m,
                                                                                          strict=True)])
    np.testing.assert_allclose(np.hypot(*(xy - foot).T), d_sel, atol=1e-6)
    assert np.all((lc.lane_heading >= 0) & (lc.lane_heading < 2 * math.pi))


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(pts=points)
def test_current_zero_on_land_and_bounded(maps, name, pts):
    m = maps[name]
    xy = _scale(m, pts)
    c = m.current(xy, discharge=3000.0)
    wet = m.is_water(xy)
    assert np.all(c[~wet] == 0)
    vmax = max([r.speed(3000.0) for r in m.current_reaches] + [0.0])
    assert np.all(np.hypot(c[:, 0], c[:, 1]) <= vmax * (1 + 1e-6))  # float32 unit field
