"""The shipped map duisburg_ruhrort agrees with the reference points and public facts it was built from."""

from __future__ import annotations

import csv
import math
import pathlib

import numpy as np
import pytest
import shapely
from scipy import ndimage
from shapely.geometry import LineString, Point

from harbour_maps import list_maps, load_map

REF_DIR = pathlib.Path(__file__).resolve().parents[2] / "harbour_maps" / "maps" / "reference"


def _read(name):
    with open(REF_DIR / name, newline="", encoding="utf-8") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def m():
    return load_map("duisburg_ruhrort")


@pytest.fixture(scope="module")
def ref(m):
    """Reference points (id -> local xy) from the copied CSV."""
    out = {}
    for pid, r in _read("duisburg_reference_points.csv").items():
        if r["lat_deg"]:
            x, y = m.frame.to_local(float(r["lon_deg"]), float(r["lat_deg"]))
            out[pid] = np.array([float(x), float(y)])
    return out


def _lane(m, role):
    (lane,) = [ln for ln in m.lanes if ln.role == role and ln.waterway == "Rhein"]
    return lane


def _rhine_km(m, xy):
    """River-km of a point: its projection on the downstream Rhine lane, km interpolated."""
    lane = _lane(m, "downstream")
    s = LineString(lane.xy).project(Point(xy))
    return float(np.interp(s, lane.s, lane.km))


def _bridge(m, word):
    (b,) = [b for b in m.bridges if word in b.name]
    return b


def test_shipped_and_metadata(m):
    assert "duisburg_ruhrort" in list_maps()
    md = m.metadata
    assert md["name"] == "duisburg_ruhrort" and md["crs"] == "EPSG:32632"
    assert md["default_discharge_m3s"] == 2210
    assert md["raster_resolution_m"] <= 5.0
    assert 50 <= md["accuracy"]["horizontal_m"] <= 300
    assert "not surveyed" in md["accuracy"]["statement"]
    lon0, lat0, lon1, lat1 = md["extent"]
    # Rhine km 773.5-785.5: from south of the Hochfeld rail bridge to past the Haus-Knipp bridge (RB05)
    assert lat0 < 51.405 and lat1 > 51.4786 and lon0 < 6.6805 and lon1 > 6.7756


def test_generator_reproduces_committed_file():
    from harbour_maps.build import duisburg

    committed = (duisburg.OUT_PATH).read_text(encoding="utf-8")
    assert duisburg.dumps(duisburg.build()) == committed, "run python -m harbour_maps.build.duisburg"


def test_gauge_on_bank_of_harbour_mouth(m, ref):
    for pid in ("P1", "P1b"):
        sd = float(m.signed_distance(ref[pid][None])[0])
        assert abs(sd) <= 40.0, (pid, sd)
    (g,) = m.gauges
    assert np.hypot(*(g.xy - ref["P1"])) < 1.0 and g.km == pytest.approx(780.8)
    assert _rhine_km(m, ref["P1"]) == pytest.approx(780.8, abs=0.02)
    # the gauge is at the harbour mouth: the Hafenmund water is within 300 m
    mouth = m.features["water-hafenmund"].geometry
    assert mouth.distance(Point(ref["P1"])) < 300.0


def test_ruhr_mouth_light_on_mole_tip(m, ref):
    p = ref["P2"]
    sd = float(m.signed_distance(p[None])[0])
    assert -40.0 <= sd <= 5.0, sd
    moles = [f.geometry for f in m.features.values() if f.type == "obstacle" and f.properties["kind"] == "mole"]
    assert any(g.distance(Point(p)) < 5.0 for g in moles)
    assert m.features["water-ruhr"].geometry.distance(Point(p)) < 150.0
    assert _rhine_km(m, p) == pytest.approx(780.09, abs=0.02)


@pytest.mark.parametrize("pid,word,km", [("P3", "Friedrich-Ebert", None), ("P4", "Neuenkamp", 778.34),
                                         ("P5", "Solidaritaet", 775.29)])
def test_bridge_points_over_water_on_bridge_line(m, ref, pid, word, km):
    p = ref[pid]
    b = _bridge(m, word)
    assert m.is_water(p[None])[0], pid
    assert LineString(b.xy).distance(Point(p)) < 30.0
    # the deck crosses the river: both ends on land
    assert np.all(m.signed_distance(b.xy[[0, -1]]) < 0)
    assert 8.0 <= b.clearance_m <= 11.0
    if km is not None:
        assert b.km == pytest.approx(km, abs=0.01)
        assert _rhine_km(m, p) == pytest.approx(km, abs=0.02)


def test_rail_bridge_hochfeld_at_its_km_with_piers_in_water(m):
    b = _bridge(m, "Hochfeld")
    assert b.km == pytest.approx(774.38)  # the published km
    crossing = LineString(b.xy).intersection(LineString(_lane(m, "downstream").xy))
    # drawn at its article coordinate (RB04), whose along-line km is 774.41 (v2 data note)
    assert _rhine_km(m, np.array(crossing.coords[0])) == pytest.approx(774.38, abs=0.05)
    assert len(b.piers) == 2
    for pier in b.piers:
        # piers stand in the river (their surroundings are water) but are not navigable
        c = np.array(pier.centroid.coords[0])
        assert not m.is_water(c[None])[0]
        assert m.features["water-rhine"].geometry.contains(pier)
    assert len(_bridge(m, "Friedrich-Ebert").piers) == 2


def test_port_points_in_water_and_lock(m, ref):
    # P8, the Rhein-Herne-Kanal head, is water. P7 (the port article's point) is "generic, not a
    # specific feature; do not use as a geometry pin" in the v2 data (LM02), so it is not checked here.
    assert m.signed_distance(ref["P8"][None])[0] > 5.0
    (lock,) = [lk for lk in m.locks if "Meiderich" in lk.name]
    assert lock.polygon.contains(Point(ref["P9"]))
    assert m.is_water(ref["P9"][None])[0]
    assert lock.chamber_length_m == 190.0 and lock.chamber_width_m == pytest.approx(11.89)
    assert lock.polygon.area == pytest.approx(190.0 * 11.89, rel=0.01)
    # the Rhein-Herne-Kanal starts at basin C and passes its head P8
    assert m.features["water-rhk"].geometry.contains(Point(ref["P8"]))
    assert m.features["water-rhk"].geometry.intersects(m.features["water-basin_c"].geometry)


def test_km_increase_downstream_along_rhine_lanes(m):
    down, up = _lane(m, "downstream"), _lane(m, "upstream")
    assert np.all(np.diff(down.km) > 0) and np.all(np.diff(up.km) < 0)
    assert down.km[0] < 774.0 and down.km[-1] > 784.0
    # downstream = northwards here: the lane ends well north of its start
    assert down.xy[-1, 1] - down.xy[0, 1] > 8000.0
    markers = sorted(m.km_markers, key=lambda k: k.km)
    assert len(markers) >= 11 and markers[0].km == 774.0 and markers[-1].km == 785.0
    for lane, sign in ((down, 1.0), (up, -1.0)):
        line = LineString(lane.xy)
        along = np.array([line.project(Point(k.xy)) for k in markers])
        assert np.all(sign * np.diff(along) > 0), lane.id
        lane_km = np.interp(along, lane.s, lane.km)
        np.testing.assert_allclose(lane_km, [k.km for k in markers], atol=0.05)
    # markers stand on the right (east) bank: starboard of the downstream lane, near the bank
    line = LineString(down.xy)
    for k in markers:
        s = line.project(Point(k.xy))
        a, b = (np.array(line.interpolate(v).coords[0]) for v in (s - 5.0, s + 5.0))
        d, r = b - a, k.xy - a
        assert d[0] * r[1] - d[1] * r[0] < 0, k.id  # negative cross product = starboard
        assert abs(float(m.signed_distance(k.xy[None])[0])) < 20.0 or m.is_water(k.xy[None])[0]


@pytest.mark.parametrize("km", [780.8, 782.0])
def test_rhine_width_at_gauge_km(m, km):
    lane = _lane(m, "downstream")
    s = float(np.interp(km, lane.km, lane.s))
    line = LineString(lane.xy)
    p = np.array(line.interpolate(s).coords[0])
    q = np.array(line.interpolate(s + 5.0).coords[0])
    t = (q - p) / np.hypot(*(q - p))
    n = np.array([t[1], -t[0]])
    transect = LineString([p - 1000 * n, p + 1000 * n])
    cut = transect.intersection(m.features["water-rhine"].geometry)
    parts = [g for g in getattr(cut, "geoms", [cut]) if g.distance(Point(p)) < 1e-6]
    width_poly = parts[0].length
    assert 250.0 <= width_poly <= 450.0
    if km == 780.8:
        return  # at the gauge the transect runs on into the harbour mouth (the raster's water goes on)
    # the same from the navigable-water raster: the run of water cells through the lane point
    d = np.arange(-600.0, 600.0, 1.0)
    wet = m.is_water(p[None] + d[:, None] * n[None])
    i0 = int(np.argmin(np.abs(d)))
    lo, hi = i0, i0
    while lo > 0 and wet[lo - 1]:
        lo -= 1
    while hi < len(d) - 1 and wet[hi + 1]:
        hi += 1
    width_raster = d[hi] - d[lo] + 1.0
    assert 250.0 <= width_raster <= 450.0
    assert width_raster == pytest.approx(width_poly, abs=15.0)


def test_all_water_connected_to_rhine(m, ref):
    mask = m.rasters.water
    labels, _ = ndimage.label(mask)
    r = m.rasters.resolution

    def label_at(xy):
        j = int((xy[0] - m.rasters.x0) // r)
        i = int((xy[1] - m.rasters.y0) // r)
        return labels[i, j]

    rhine = label_at(ref["P4"])
    assert rhine > 0
    nav = m.water
    waters = [f for f in m.features.values() if f.type in ("water", "lock")]
    assert {f.properties.get("kind") for f in waters} >= {"river", "canal", "harbour", "basin", "mouth"}
    for f in waters:
        pt = f.geometry.intersection(nav).buffer(-3.0).representative_point()
        assert label_at(np.array(pt.coords[0])) == rhine, f.id
    for b in m.berths:
        assert label_at(b.xy) == rhine, b.id
    # the lock chamber (12 m wide) is reached too
    assert label_at(ref["P9"]) == rhine
    # and in vector form the navigable water is one polygon
    assert nav.geom_type == "Polygon"


def test_filled_basins_are_land(m):
    for r in _read("duisburg_filled_basins.csv").values():
        x, y = m.frame.to_local(float(r["lon_deg"]), float(r["lat_deg"]))
        rad = float(r["radius_m"])
        g = np.stack(np.meshgrid(np.linspace(-rad, rad, 9), np.linspace(-rad, rad, 9)), -1).reshape(-1, 2)
        pts = g[np.hypot(g[:, 0], g[:, 1]) <= rad] + [float(x), float(y)]
        assert not m.is_water(pts).any(), r["name"]
        assert m.water.distance(Point(float(x), float(y))) > rad, r["name"]


def test_berths_in_water_along_their_quay(m):
    basins = {f.properties["name"]: f.geometry for f in m.features.values() if f.type == "water"}
    per_basin: dict[str, int] = {}
    for b in m.berths:
        per_basin[b.basin] = per_basin.get(b.basin, 0) + 1
        assert m.is_water(b.xy[None])[0], b.id
        assert basins[b.basin].contains(Point(b.xy)), b.id
        # berthed along the quay: within 12 m of the bank, the hull fits, heading parallel to the basin
        sd = float(m.signed_distance(b.xy[None])[0])
        assert 5.0 <= sd <= 15.0, (b.id, sd)
        lc = m.lane_coordinates(b.xy[None])
        diff = (b.heading - lc.lane_heading[0]) % math.pi
        assert min(diff, math.pi - diff) < math.radians(8), b.id
        assert 80.0 <= b.length_m <= 140.0
        assert m.current(b.xy[None]).tolist() == [[0.0, 0.0]], "no current in basins"
    for name in ("Hafenbecken A", "Hafenbecken B", "Hafenbecken C", "Suedhafen", "Parallelhafen",
                 "Aussenhafen", "Eisenbahnhafen Ruhrort"):
        assert per_basin.get(name, 0) >= 2, name


def test_lanes_lie_in_water_and_are_connected(m):
    for lane in m.lanes:
        line = LineString(lane.xy)
        s = np.arange(0.0, line.length, 5.0)
        pts = shapely.get_coordinates(shapely.line_interpolate_point(line, s))
        assert m.is_water(pts).all(), lane.id
        assert lane.width_m > 0
    rhine = [ln for ln in m.lanes if ln.waterway == "Rhein"]
    assert {ln.role for ln in rhine} == {"upstream", "downstream"}
    assert all(ln.direction == "forward" and ln.km is not None for ln in rhine)
    # every channel lane starts on another lane (a Rhine lane or the Hafenkanal lane)
    channels = [ln for ln in m.lanes if ln.role == "channel"]
    assert len(channels) >= 8
    for ln in channels:
        assert ln.direction == "both"
        others = [LineString(o.xy) for o in m.lanes if o is not ln]
        assert min(o.distance(Point(ln.xy[0])) for o in others) < 1.0, ln.id
    # upbound traffic keeps to its starboard side: west of the downbound lane everywhere
    up, down = _lane(m, "upstream"), _lane(m, "downstream")
    lc = m.lane_coordinates(up.xy[5:-5])
    assert np.all(lc.lane == m.lanes.index(up))
    cross = np.array([LineString(down.xy).distance(Point(p)) for p in up.xy[5:-5]])
    assert np.all((cross > 60.0) & (cross < 100.0))


def test_rhine_current_at_default_discharge(m):
    down = _lane(m, "downstream")
    pts = down.xy[3:-3]
    v = m.current(pts)
    speed = np.hypot(v[:, 0], v[:, 1])
    assert np.all((speed >= 1.0) & (speed <= 2.5)), speed.min()
    # flows downstream: along the downstream lane, and northwards overall in this reach
    lc = m.lane_coordinates(pts)
    hdg = np.arctan2(v[:, 0], v[:, 1])
    dev = np.abs((hdg - lc.lane_heading + math.pi) % (2 * math.pi) - math.pi)
    assert np.all(dev < math.radians(30))
    assert np.mean(v[:, 1]) > 0.8
    # calibrated: more water, faster current; MNQ slower than MQ slower than MHQ
    s_low = np.hypot(*m.current(pts, discharge=1030.0).T).mean()
    s_high = np.hypot(*m.current(pts, discharge=6610.0).T).mean()
    assert s_low < speed.mean() < s_high
    assert 0.8 < s_low < 1.2 and 1.6 < s_high < 2.1
    # no current on land
    assert m.current(np.array([[500.0, 0.0]])).tolist() == [[0.0, 0.0]]


def test_cell_sites_plausible(m):
    assert 6 <= len(m.cell_sites) <= 8
    for c in m.cell_sites:
        assert c.assumed and 25.0 <= c.height_m <= 40.0 and len(c.sectors) == 3
        assert not m.is_water(c.xy[None])[0]
