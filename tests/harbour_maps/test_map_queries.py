"""Query tests on the synthetic maps, with known answers from their construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harbour_maps import MapError, load_map
from harbour_maps.build import synthetic

HALF_W = synthetic.CHANNEL["width"] / 2  # 75
HALF_L = synthetic.CHANNEL["length"] / 2  # 1000


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("hm_cache")


@pytest.fixture(scope="module")
def channel(cache):
    return load_map("synthetic_channel", cache_dir=cache)


@pytest.fixture(scope="module")
def bend(cache):
    return load_map("synthetic_river_bend", cache_dir=cache)


@pytest.fixture(scope="module")
def basin(cache):
    return load_map("synthetic_basin_entry", cache_dir=cache)


def test_channel_water_and_sdf(channel):
    r = channel.rasters.resolution
    xy = np.array([[0.0, 0.0], [500.0, 70.0], [-500.0, -74.0], [0.0, 80.0], [0.0, -200.0], [1003.0, 0.0],
                   [1e5, 0.0], [-1e5, 3e5]])
    np.testing.assert_array_equal(channel.is_water(xy), [True, True, True, False, False, False, False, False])
    sd = channel.signed_distance(xy)
    assert sd[0] == pytest.approx(HALF_W, abs=r)
    # the banks lie on cell edges here, so the bilinear sdf is exact up to the mm rounding of the file
    np.testing.assert_allclose(sd[1:5], [5.0, 1.0, -5.0, -125.0], atol=0.05)
    assert sd[5] == pytest.approx(-3.0, abs=0.05)
    assert sd[6] < -9e4 and sd[7] < -3e5  # far outside the raster: still negative, growing
    y = np.linspace(-74, 74, 149)
    sdy = channel.signed_distance(np.column_stack([np.full_like(y, 123.4), y]))
    exact = np.abs(y) >= 2.5  # exact away from the ridge at the axis (cell centres at +-2.5 m)
    np.testing.assert_allclose(sdy[exact], (HALF_W - np.abs(y))[exact], atol=0.05)
    np.testing.assert_allclose(sdy[~exact], HALF_W - np.abs(y[~exact]), atol=r / 2)


def test_queries_accept_empty_and_single(channel):
    e = np.zeros((0, 2))
    assert channel.is_water(e).shape == (0,)
    assert channel.signed_distance(e).shape == (0,)
    assert channel.current(e).shape == (0, 2)
    assert channel.cast_rays(e, np.zeros(0), np.zeros(3)).shape == (0, 3)
    assert channel.lane_coordinates(e).lane.shape == (0,)
    assert channel.is_water([0.0, 0.0]).shape == (1,)


def test_channel_lane_coordinates(channel):
    names = [ln.id for ln in channel.lanes]
    east, west = names.index("lane_east"), names.index("lane_west")
    xy = np.array([[200.0, -50.0], [-300.0, 50.0], [200.0, -30.0], [-999.0, 40.0], [5000.0, -37.5], [0.0, -300.0]])
    lc = channel.lane_coordinates(xy)
    np.testing.assert_array_equal(lc.lane, [east, west, east, west, east, east])
    np.testing.assert_allclose(lc.along_m[:4], [1200.0, 1300.0, 1200.0, 1999.0], atol=0.01)
    np.testing.assert_allclose(lc.cross_m[:4], [12.5, 12.5, -7.5, 2.5], atol=0.01)  # + = starboard
    np.testing.assert_allclose(lc.km[:4], [1.2, 0.7, 1.2, 0.001], atol=1e-5)
    np.testing.assert_allclose(lc.lane_heading[:4], [math.pi / 2, 3 * math.pi / 2] * 2, atol=1e-5)
    # off the raster / on land: brute force still answers
    assert lc.along_m[4] == pytest.approx(2000.0, abs=0.01)
    assert lc.cross_m[5] == pytest.approx(262.5, abs=0.01)  # south of the eastbound lane = starboard


def test_lane_without_km_gives_nan(basin):
    lc = basin.lane_coordinates(np.array([[5.0, 500.0]]))
    assert basin.lanes[lc.lane[0]].id == "lane_basin"
    assert np.isnan(lc.km[0])
    assert lc.along_m[0] == pytest.approx(500.0, abs=0.01)
    assert lc.cross_m[0] == pytest.approx(5.0, abs=0.01)  # east of a northbound lane: starboard


def test_current_in_bend(bend):
    c = synthetic.BEND
    R = c["R"]
    # centreline in the first leg flows east, in the last leg north, in the arc along the tangent
    phis = np.radians([-80.0, -60.0, -45.0, -30.0, -10.0])
    centre = np.column_stack([R * np.cos(phis), R + R * np.sin(phis)])
    pts = np.vstack([[[-400.0, 0.0]], centre, [[R, R + 400.0]]])
    cur = bend.current(pts)
    tang = np.vstack([[[1.0, 0.0]], np.column_stack([-np.sin(phis), np.cos(phis)]), [[0.0, 1.0]]])
    speed = np.hypot(cur[:, 0], cur[:, 1])
    np.testing.assert_allclose(speed, 1.5, rtol=1e-6)  # default discharge 2000 -> 1.5 m/s, fairway
    cosang = np.einsum("ij,ij->i", cur / speed[:, None], tang)
    assert np.all(cosang > math.cos(math.radians(2.0)))
    # slower towards the banks, zero on land
    ys = np.array([0.0, 60.0, 100.0, 130.0, 142.0, 147.0, 160.0, 400.0])  # distinct cells
    cy = bend.current(np.column_stack([np.full_like(ys, -400.0), ys]))
    sp = np.hypot(cy[:, 0], cy[:, 1])
    assert sp[0] == sp[1] == pytest.approx(1.5)
    assert 1.5 > sp[3] > sp[4] > sp[5] > 0
    assert sp[6] == 0 and sp[7] == 0
    # bank profile: (sdf / ramp)^(1/3) at the cell centre
    sd_cell = bend.signed_distance(np.array([[-397.5, 142.5]]))[0]
    assert bend.current(np.array([[-397.5, 142.5]]))[0, 0] == pytest.approx(1.5 * (sd_cell / 60.0) ** (1 / 3),
                                                                             rel=1e-4)


def test_current_scales_with_discharge(bend):
    p = np.array([[-400.0, 0.0], [-400.0, 130.0], [R := synthetic.BEND["R"], R + 300.0]])
    base = bend.current(p, discharge=2000.0)
    np.testing.assert_array_equal(base, bend.current(p))
    np.testing.assert_allclose(bend.current(p, discharge=500.0), base * (0.8 / 1.5), rtol=1e-6)
    np.testing.assert_allclose(bend.current(p, discharge=4000.0), base * (2.0 / 1.5), rtol=1e-6)
    np.testing.assert_allclose(bend.current(p, discharge=1e6), base * (2.5 / 1.5), rtol=1e-6)


def test_constant_current_and_basin(basin):
    p = np.array([[-1000.0, 0.0], [0.0, 500.0], [0.0, 200.0]])
    c1 = basin.current(p, discharge=100.0)
    c2 = basin.current(p, discharge=5000.0)
    np.testing.assert_array_equal(c1, c2)  # speed_ms reach ignores the discharge
    np.testing.assert_allclose(c1[0], [1.2, 0.0], atol=1e-6)
    np.testing.assert_array_equal(c1[1:], 0.0)  # basin beyond the reach's influence


def test_current_needs_discharge(cache, tmp_path):
    import json

    from harbour_maps import map_path
    d = json.loads(map_path("synthetic_river_bend").read_text())
    del d["metadata"]["default_discharge_m3s"]
    p = tmp_path / "nodefault.geojson"
    p.write_text(json.dumps(d))
    m = load_map(p, cache_dir=tmp_path)
    with pytest.raises(MapError, match="no discharge given"):
        m.current(np.zeros((1, 2)))
    assert m.current(np.array([[-400.0, 0.0]]), discharge=2000.0)[0, 0] == pytest.approx(1.5)


def test_rays_in_channel(channel):
    r = channel.rasters.resolution
    rng = np.random.default_rng(0)
    o = np.column_stack([rng.uniform(-600, 600, 200), rng.uniform(-70, 70, 200)])
    h = np.zeros(200)  # heading north: angle 0 = north, +90 = east (starboard), -90 west, 180 south
    rays = channel.cast_rays(o, h, np.radians([0.0, 90.0, -90.0, 180.0]))
    np.testing.assert_allclose(rays[:, 0], HALF_W - o[:, 1], atol=r)
    np.testing.assert_allclose(rays[:, 3], HALF_W + o[:, 1], atol=r)
    np.testing.assert_allclose(rays[:, 1], np.minimum(HALF_L - o[:, 0], 1500.0), atol=r)
    np.testing.assert_allclose(rays[:, 2], np.minimum(HALF_L + o[:, 0], 1500.0), atol=r)
    assert np.any(rays[:, 1:3] == 1500.0)
    # same with a heading east and relative angles, and oblique rays to the bank
    rays = channel.cast_rays(o, np.full(200, math.pi / 2), np.radians([-90.0, 90.0, -45.0, 135.0]))
    np.testing.assert_allclose(rays[:, 0], HALF_W - o[:, 1], atol=r)
    np.testing.assert_allclose(rays[:, 1], HALF_W + o[:, 1], atol=r)
    np.testing.assert_allclose(rays[:, 2], (HALF_W - o[:, 1]) * math.sqrt(2), atol=1.5 * r)
    np.testing.assert_allclose(rays[:, 3], (HALF_W + o[:, 1]) * math.sqrt(2), atol=1.5 * r)
    # max range
    far = channel.cast_rays(np.array([[-900.0, 0.0]]), np.array([math.pi / 2]), np.zeros(1))
    assert far[0, 0] == pytest.approx(1500.0)
    lim = channel.cast_rays(o, np.full(200, math.pi / 2), np.zeros(1), max_range=300.0)
    np.testing.assert_allclose(lim[:, 0], np.minimum(HALF_L - o[:, 0], 300.0), atol=r)
    # origins on land or off the raster
    land = channel.cast_rays(np.array([[0.0, 100.0], [1e6, 0.0]]), np.zeros(2), np.radians([0.0, 180.0]))
    np.testing.assert_array_equal(land, 0.0)


def test_rays_scalar_heading_and_shapes(channel):
    o = np.array([[0.0, 0.0], [10.0, 10.0]])
    a = channel.cast_rays(o, 0.3, np.radians([0.0, 30.0]))
    b = channel.cast_rays(o, np.full(2, 0.3), np.radians([0.0, 30.0]))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="headings has 3 values"):
        channel.cast_rays(o, np.zeros(3), np.zeros(1))


def test_rays_hit_bridge_piers(basin):
    # piers are 10 m squares centred on (800, +-50); a ray east along y = 50 from x = 500 hits at x = 795
    rays = basin.cast_rays(np.array([[500.0, 50.0], [500.0, 0.0]]), np.full(2, math.pi / 2), np.zeros(1))
    assert rays[0, 0] == pytest.approx(295.0, abs=basin.rasters.resolution)
    assert rays[1, 0] == pytest.approx(1000.0, abs=basin.rasters.resolution)  # between the piers: river end


def test_water_reduces_for_obstacles(basin):
    assert not basin.is_water(np.array([[800.0, 50.0]]))[0]
    assert basin.signed_distance(np.array([[800.0, 50.0]]))[0] < 0
