"""Loader and validation tests for harbour_maps (format version 1)."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import shapely

from harbour_maps import HarbourMap, MapError, list_maps, load_map, map_path
from harbour_maps.build import synthetic
from harbour_maps.geodesy import LocalFrame

SYNTHETIC = ["synthetic_channel", "synthetic_river_bend", "synthetic_basin_entry", "synthetic_crossing"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("hm_cache")


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_maps_load(name, cache):
    assert name in list_maps()
    m = load_map(name, cache_dir=cache)
    assert isinstance(m, HarbourMap)
    assert m.name == name
    assert m.metadata["synthetic"] is True
    assert m.metadata["licence"] == "CC0-1.0"
    assert len(m.sha256) == 64
    assert m.source_path == map_path(name).resolve()
    assert m.rasters.n_water > 1000
    assert m.lanes
    xmin, ymin, xmax, ymax = m.bounds
    assert shapely.box(xmin, ymin, xmax, ymax).buffer(1e-6).covers(m.water)


def test_shipped_files_are_up_to_date(tmp_path):
    """The committed synthetic maps are what the generator writes."""
    for name in SYNTHETIC:
        out = synthetic.build(name, tmp_path)
        assert out.read_bytes() == map_path(name).read_bytes(), name


def _bend_area() -> float:
    c = synthetic.BEND
    # straight legs + annulus quarter (polygonal arcs: use the polygon formula for the arc parts)
    n = c["arc_points"] - 1
    dphi = (math.pi / 2) / n
    ro, ri = c["R"] + c["width"] / 2, c["R"] - c["width"] / 2
    sector = 0.5 * n * math.sin(dphi) * (ro**2 - ri**2)  # polygonal annulus sector
    return 2 * c["straight"] * c["width"] + sector


@pytest.mark.parametrize("name, area", [
    ("synthetic_channel", synthetic.CHANNEL["length"] * synthetic.CHANNEL["width"]),
    ("synthetic_river_bend", _bend_area()),
    ("synthetic_basin_entry", 3000 * 300 + 150 * 600 - 2 * 10 * 10),
    ("synthetic_crossing", 3000 * 250 + 2400 * 80 - 250 * 80 + 24 * 200),
])
def test_water_area_matches_analytic(name, area, cache):
    m = load_map(name, cache_dir=cache)
    assert m.water.area == pytest.approx(area, rel=1e-5)  # mm rounding, 1 cm snapping
    assert m.water.geom_type == "Polygon" and len(m.water.interiors) == (2 if "basin" in name else 0)
    # the raster agrees to within the boundary cells
    r = m.rasters.resolution
    assert m.rasters.n_water * r * r == pytest.approx(area, rel=0.03)


def test_typed_features(cache):
    m = load_map("synthetic_basin_entry", cache_dir=cache)
    assert [b.id for b in m.berths] == ["berth_1", "berth_2", "berth_3"]
    for b in m.berths:
        assert min(b.heading, 2 * math.pi - b.heading) < 1e-4  # rounded to 1e-3 deg
        assert m.is_water(b.xy[None])[0]
    (br,) = m.bridges
    assert br.clearance_m == 9.1 and len(br.piers) == 2
    assert br.xy.shape == (2, 2)
    (cs,) = m.cell_sites
    assert cs.assumed is True
    np.testing.assert_allclose(np.mod(cs.sectors - m.frame.true_to_grid(np.radians([0, 120, 240])), 2 * np.pi), 0,
                               atol=1e-12)
    assert m.features["berth_2"].type == "berth"
    assert len(m.km_markers) == 7
    lane = next(ln for ln in m.lanes if ln.id == "lane_basin")
    assert lane.km is None and lane.direction == "both"
    assert lane.s[-1] == pytest.approx(150 + 600 - 50, abs=0.01)
    x = load_map("synthetic_crossing", cache_dir=cache)
    (lock,) = x.locks
    assert lock.chamber_width_m == 24 and lock.lift_m == 4.0
    assert x.is_water(np.array([[0.0, 1300.0]]))[0]
    b = load_map("synthetic_river_bend", cache_dir=cache)
    (reach,) = b.current_reaches
    assert reach.speed(2000) == 1.5 and reach.speed(1250) == pytest.approx(1.15)
    assert reach.speed(10) == 0.8 and reach.speed(1e5) == 2.5  # clamped at the table ends
    (g,) = b.gauges
    assert g.km == 700.4


def test_frame_and_convergence(cache):
    m = load_map("synthetic_channel", cache_dir=cache)
    f = m.frame
    x, y = f.to_local(6.60, 51.30)
    assert abs(x) < 1e-6 and abs(y) < 1e-6
    lon, lat = f.to_wgs84(np.array([1000.0, -500.0]), np.array([2000.0, 300.0]))
    x2, y2 = f.to_local(lon, lat)
    np.testing.assert_allclose(x2, [1000, -500], atol=1e-6)
    np.testing.assert_allclose(y2, [2000, 300], atol=1e-6)
    # the grid bearing of true north, measured, equals true_to_grid(0)
    x0, y0 = f.to_local(6.6, 51.30)
    x1, y1 = f.to_local(6.6, 51.31)
    measured = math.atan2(x1 - x0, y1 - y0)
    assert float(f.true_to_grid(0.0)) == pytest.approx(measured % (2 * math.pi), abs=2e-5)
    assert math.degrees(f.convergence_rad) == pytest.approx(-(6.6 - 9.0) * math.sin(math.radians(51.3)) * -1,
                                                           abs=0.01)
    assert float(f.grid_to_true(f.true_to_grid(1.0))) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        LocalFrame("EPSG:4326", 6.6, 51.3)


def test_map_path_errors(tmp_path):
    with pytest.raises(MapError, match="no shipped map"):
        map_path("no_such_map")
    with pytest.raises(MapError, match="not found"):
        load_map(tmp_path / "missing.geojson")


# ------------------------------------------------------------------------------------------------
# validation errors

def _base() -> dict:
    return json.loads(map_path("synthetic_basin_entry").read_text())


def _feat(d, fid):
    return next(f for f in d["features"] if f["id"] == fid)


def _idx(d, fid):
    """Index of the last feature with this id (the duplicate, for the duplicate-id case)."""
    return max(i for i, f in enumerate(d["features"]) if f.get("id") == fid)


def _write(tmp_path, d, name="bad.geojson"):
    p = tmp_path / name
    p.write_text(json.dumps(d))
    return p


def _mut_unclosed(d):
    ring = _feat(d, "basin")["geometry"]["coordinates"][0]
    ring[-1] = [ring[-1][0] + 0.0001, ring[-1][1]]
    return "basin", "not closed"


def _mut_selfint(d):
    ring = _feat(d, "basin")["geometry"]["coordinates"][0]
    ring[1], ring[2] = ring[2], ring[1]  # bow-tie
    return "basin", "Self-intersection"


def _mut_few_points(d):
    _feat(d, "basin")["geometry"]["coordinates"][0] = _feat(d, "basin")["geometry"]["coordinates"][0][:3]
    return "basin", "too few points"


def _mut_line_few(d):
    g = _feat(d, "lane_basin")["geometry"]
    g["coordinates"] = g["coordinates"][:1]
    return "lane_basin", "too few points"


def _mut_unknown_type(d):
    _feat(d, "gauge" if False else "cell_1")["properties"]["type"] = "lighthouse"
    return "cell_1", "unknown feature type 'lighthouse'"


def _mut_missing_prop(d):
    del _feat(d, "berth_2")["properties"]["heading_deg"]
    return "berth_2", "missing required property 'heading_deg'"


def _mut_wrong_geom(d):
    _feat(d, "berth_1")["geometry"] = {"type": "LineString", "coordinates": [[6.6, 51.3], [6.6001, 51.3]]}
    return "berth_1", "geometry type 'LineString' is not allowed"


def _mut_dup(d):
    _feat(d, "berth_3")["id"] = "berth_1"
    return "berth_1", "duplicate id"


def _mut_outside(d):
    _feat(d, "berth_3")["geometry"]["coordinates"] = [7.5, 51.3]
    return "berth_3", "outside the map extent"


def _mut_table(d):
    f = _feat(d, "reach")
    del f["properties"]["speed_ms"]
    f["properties"]["velocity_table"] = [[100, 0.5], [2000, 1.2], [1500, 1.5]]
    return "reach", "strictly increasing"


def _mut_km(d):
    _feat(d, "lane_down")["properties"]["km"] = [800.0, 801.0]
    return "lane_down", "'km' list has 2 values but the line has 7 vertices"


def _mut_enum(d):
    _feat(d, "lane_up")["properties"]["direction"] = "sideways"
    return "lane_up", "'direction' is 'sideways'"


def _mut_current_no_speed(d):
    del _feat(d, "reach")["properties"]["speed_ms"]
    return "reach", "either 'speed_ms' or 'velocity_table'"


def _mut_bad_number(d):
    _feat(d, "berth_1")["properties"]["length_m"] = -3
    return "berth_1", "'length_m' must be > 0"


MUTATIONS = [_mut_unclosed, _mut_selfint, _mut_few_points, _mut_line_few, _mut_unknown_type, _mut_missing_prop,
             _mut_wrong_geom, _mut_dup, _mut_outside, _mut_table, _mut_km, _mut_enum, _mut_current_no_speed,
             _mut_bad_number]


@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda f: f.__name__[5:])
def test_feature_errors_name_file_feature_and_problem(mutate, tmp_path):
    d = _base()
    fid, problem = mutate(d)
    idx = _idx(d, fid)
    p = _write(tmp_path, d)
    with pytest.raises(MapError) as ei:
        load_map(p, cache_dir=tmp_path)
    msg = str(ei.value)
    assert msg.startswith("bad.geojson: ")
    assert f"feature '{fid}' (#{idx})" in msg
    assert problem in msg


@pytest.mark.parametrize("mutate, problem", [
    (lambda d: d.pop("metadata"), "missing top-level 'metadata'"),
    (lambda d: d["metadata"].pop("crs"), "metadata: missing required key 'crs'"),
    (lambda d: d["metadata"].update(format_version=2), "unsupported format_version 2"),
    (lambda d: d["metadata"].update(crs="EPSG:4326"), "invalid 'crs'"),
    (lambda d: d["metadata"].update(crs="EPSG:999999"), "invalid 'crs'"),
    (lambda d: d["metadata"].update(extent=[6.7, 51.2, 6.5, 51.4]), "'extent' is empty or inverted"),
    (lambda d: d["metadata"].update(raster_resolution_m=10), "'raster_resolution_m' must be a number in"),
    (lambda d: d["metadata"].update(origin={"lon": 6.6}), "'origin' must be"),
    (lambda d: d["metadata"].update(sources=[]), "'sources' must be a non-empty list"),
    (lambda d: d.update(type="Feature"), "not a GeoJSON FeatureCollection"),
    (lambda d: d.update(features=[f for f in d["features"] if f["properties"]["type"] != "water"]),
     "map has no 'water' features"),
])
def test_metadata_errors(mutate, problem, tmp_path):
    d = _base()
    mutate(d)
    p = _write(tmp_path, d, "meta.geojson")
    with pytest.raises(MapError, match="^meta.geojson: ") as ei:
        load_map(p, cache_dir=tmp_path)
    assert problem in str(ei.value)


def test_not_json(tmp_path):
    p = tmp_path / "x.geojson"
    p.write_text("{not json")
    with pytest.raises(MapError, match="x.geojson: not valid JSON"):
        load_map(p, cache_dir=tmp_path)


def test_feature_without_id(tmp_path):
    d = _base()
    del d["features"][3]["id"]
    with pytest.raises(MapError, match=r"feature #3: missing or non-string 'id'"):
        load_map(_write(tmp_path, d), cache_dir=tmp_path)


def test_map_error_is_value_error():
    assert issubclass(MapError, ValueError)


def test_valid_copy_loads(tmp_path):
    """The base of the mutations above is valid: the errors come from the mutations."""
    d = copy.deepcopy(_base())
    m = load_map(_write(tmp_path, d, "ok.geojson"), cache_dir=tmp_path)
    assert m.name == "synthetic_basin_entry"


def test_adjacent_polygons_merge_without_slivers(tmp_path):
    """Two water polygons that share an edge only up to the mm rounding of WGS84 merge cleanly."""
    b = synthetic._Builder("adjacent", "adjacent boxes", "two boxes meeting at y = 100")
    b.add("a", "water", shapely.box(-500, -100, 500, 100), name="A", kind="river")
    b.add("b", "water", shapely.box(-50, 100, 50, 400), name="B", kind="basin")
    p = b.write((-600, -200, 600, 500), tmp_path)
    m = load_map(p, cache_dir=tmp_path)
    assert m.water.geom_type == "Polygon" and len(m.water.interiors) == 0
    assert m.water.area == pytest.approx(1000 * 200 + 100 * 300, rel=1e-5)
    sd = m.signed_distance(np.array([[0.0, 120.0]]))[0]
    assert sd == pytest.approx(50.0, abs=m.rasters.resolution)
