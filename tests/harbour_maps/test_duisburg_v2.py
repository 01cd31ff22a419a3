"""The redrawn duisburg_ruhrort map (issue 14) agrees with the v2 reference data.

Every v2 point is checked against its role (water, bank, bridge deck over water) within a tolerance that
follows its confidence; the Ruhr, its weir and lock, the Hafenkanal, the Vinckekanal, basins A-C, the
Innenhafen behind the Marientor and the Rheinpreussen-Hafen are where and what the published facts say;
every basin is reachable by water from the Rhine; the Duisburg scenarios still start and end in water.
"""

from __future__ import annotations

import csv
import json
import math
import pathlib

import numpy as np
import pytest
from scipy import ndimage
from shapely.geometry import LineString, Point
from shapely.ops import unary_union

from harbour_maps import load_map

DATA = pathlib.Path(__file__).resolve().parents[2] / "harbour_maps" / "build" / "data"
# metres: how far a point may lie from where its role puts it, by its confidence
TOL = {"high": 60.0, "medium": 100.0, "low": 250.0}
# points with no geometric role (their own notes say so) and why
NO_PIN = {"PB01": "article point of a 1,824 m bridge train, not of any water crossing",
          "LM02": "generic article coordinate: do not use as a geometry pin"}


@pytest.fixture(scope="module")
def m():
    return load_map("duisburg_ruhrort")


@pytest.fixture(scope="module")
def pts(m):
    with open(DATA / "duisburg_reference_points_v2.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 80
    for r in rows:
        x, y = m.frame.to_local(float(r["lon"]), float(r["lat"]))
        r["xy"] = np.array([float(x), float(y)])
        r["tol"] = TOL[r["confidence"]]
    return {r["id"]: r for r in rows}


def _geom(m, *ids):
    return unary_union([m.features[i].geometry for i in ids])


def _sd(m, xy):
    return float(m.signed_distance(np.asarray(xy)[None])[0])


def _label(m):
    labels, _ = ndimage.label(m.rasters.water)
    return labels


def _cell(m, xy):
    r = m.rasters.resolution
    return int((xy[1] - m.rasters.y0) // r), int((xy[0] - m.rasters.x0) // r)


def _reach_from_rhine(m, mask):
    """Flood fill of ``mask`` (a water raster) from a cell in the middle of the Rhine."""
    labels, _ = ndimage.label(mask)
    lane = [ln for ln in m.lanes if ln.id == "lane-rhine-down"][0]
    seed = _cell(m, lane.xy[len(lane.xy) // 2])
    assert labels[seed] > 0
    return labels == labels[seed]


# --- every v2 point where its role says ----------------------------------------------------------
def test_every_v2_point_has_a_checked_role(pts):
    roles = {"bridge": 0, "rhine_midline": 0, "rhine_bank": 0, "ruhr": 0, "innenhafen_bank": 0,
             "aussenhafen": 0, "canal_head": 0, "quay_building": 0, "no_pin": 0}
    for pid, r in pts.items():
        roles[_role(pid, r)] += 1
    assert roles == {"bridge": 5, "rhine_midline": 23, "rhine_bank": 3, "ruhr": 22, "innenhafen_bank": 12,
                     "aussenhafen": 10, "canal_head": 1, "quay_building": 2, "no_pin": 2}


def _role(pid, r):
    if pid in NO_PIN:
        return "no_pin"
    if r["kind"] == "bridge":
        return "bridge"
    if pid.startswith("BV-RH"):
        return "rhine_midline"
    if pid in ("BV-RU-01", "BV-RU-02", "BV-RU-03"):
        return "rhine_bank"  # the boundary runs along the Rhine bank north of the Ruhr mouth (data note)
    if pid.startswith("BV-RU"):
        return "ruhr"
    if pid.startswith("BV-IH"):
        return "innenhafen_bank"
    if pid.startswith("BV-AH"):
        return "aussenhafen"
    if pid == "AX01":
        return "canal_head"
    if pid in ("LM01", "BK01"):
        return "quay_building"
    raise AssertionError(f"no role for {pid}")


def test_v2_points_lie_where_their_role_says(m, pts):
    rhine = m.features["water-rhine"].geometry
    thalweg = LineString(m.features["current-rhine"].geometry.coords)
    ruhr = _geom(m, "water-ruhr", "lock-ruhr", "water-ruhrschleuse-oberwasser")
    ih = _geom(m, "water-innenhafen", "water-marientor")
    ah = _geom(m, "water-aussenhafen", "water-parallelhafen")
    bridges = {b.name: LineString(b.xy) for b in m.bridges}
    bad = []
    for pid, r in pts.items():
        p, tol, role = Point(r["xy"]), r["tol"], _role(pid, r)
        if role == "bridge":  # over the Rhine, on a deck whose ends are on land
            deck = min(bridges.values(), key=lambda b: b.distance(p))
            ok = rhine.distance(p) <= tol and deck.distance(p) <= tol
            ok &= bool(np.all(m.signed_distance(np.array(deck.coords)[[0, -1]]) < 0))
        elif role == "rhine_midline":  # in the river, near its drawn centre line
            ok = rhine.contains(p) and thalweg.distance(p) <= tol
        elif role == "rhine_bank":
            ok = abs(_sd(m, r["xy"])) <= tol
        elif role == "ruhr":  # the Ruhr's bank or centre (not determinable from the data)
            ok = ruhr.distance(p) <= tol
        elif role == "innenhafen_bank":  # the south quay: at the water's edge
            ok = ih.distance(p) <= tol and abs(_sd(m, r["xy"])) <= tol
        elif role == "aussenhafen":
            ok = ah.distance(p) <= tol
        elif role == "canal_head":
            ok = m.features["water-rhk"].geometry.contains(p) and _sd(m, r["xy"]) > 5.0
        elif role == "quay_building":  # a building on the Innenhafen quay: land, next to the water
            ok = _sd(m, r["xy"]) < 0.0 and ih.distance(p) <= tol
        else:
            ok = True  # no_pin: checked below
        if not ok:
            bad.append((pid, role, r["confidence"]))
    assert not bad, bad


def test_points_without_a_pin_say_so(pts, m):
    for pid, why in NO_PIN.items():
        r = pts[pid]
        assert r["confidence"] == "low"
        assert "NOT the position" in r["role"] or "not a specific feature" in r["role"], why
        lon0, lat0, lon1, lat1 = m.metadata["extent"]
        assert lon0 < float(r["lon"]) < lon1 and lat0 < float(r["lat"]) < lat1


# --- km along the Rhine ------------------------------------------------------------------------------
def test_derived_km_ticks_increase_along_the_lane(m):
    with open(DATA / "derived_rhine_km_ticks.geojson", encoding="utf-8") as fh:
        ticks = json.load(fh)["features"]
    assert len(ticks) == 12 and all(t["properties"]["DERIVED"] for t in ticks)
    lane = [ln for ln in m.lanes if ln.id == "lane-rhine-down"][0]
    line = LineString(lane.xy)
    kms, along = [], []
    for t in sorted(ticks, key=lambda t: t["properties"]["rhine_km"]):
        x, y = m.frame.to_local(*t["geometry"]["coordinates"])
        s = line.project(Point(float(x), float(y)))
        along.append(s)
        kms.append(float(np.interp(s, lane.s, lane.km)))
        assert kms[-1] == pytest.approx(t["properties"]["rhine_km"], abs=0.15)
    assert np.all(np.diff(along) > 0) and np.all(np.diff(kms) > 0)
    assert np.all(np.diff(lane.km) > 0)


# --- the Ruhr, its weir and lock -----------------------------------------------------------------
def test_ruhr_course_weir_and_lock(m, pts):
    ruhr = m.features["water-ruhr"].geometry
    # its first km runs south-east (~126 deg true), not east
    cur = LineString(m.features["current-ruhr"].geometry.coords[::-1])  # mouth -> weir
    a = np.array(cur.interpolate(0.0).coords[0])
    b = np.array(cur.interpolate(1000.0).coords[0])
    brg = (math.degrees(math.atan2(*(b - a))) + math.degrees(m.frame.convergence_rad)) % 360.0
    assert 105.0 < brg < 145.0, brg
    # most of the boundary line's course is Ruhr water or its bank
    ru = [pts[f"BV-RU-{i:02d}"]["xy"] for i in range(3, 26)]
    assert np.mean([ruhr.distance(Point(p)) < 40.0 for p in ru]) > 0.85
    weir = m.features["weir-ruhr"]
    assert weir.properties["width_m"] == pytest.approx(150.88) and weir.properties["waterway_km"] == 2.626
    (lock,) = [lk for lk in m.locks if "Ruhrschleuse" in lk.name]
    assert (lock.chamber_length_m, lock.chamber_width_m) == (311.0, 12.8)
    assert lock.polygon.area == pytest.approx(311.0 * 12.8, rel=0.01)
    # the weir cuts the Ruhr: above it is reached only through the lock chamber
    upper = np.array(m.features["current-ruhr-upper"].geometry.coords[len(m.features["current-ruhr-upper"]
                                                                          .geometry.coords) // 2])
    water = m.rasters.water.copy()
    assert _reach_from_rhine(m, water)[_cell(m, upper)]
    i0, j0 = _cell(m, lock.polygon.centroid.coords[0])
    r = m.rasters.resolution
    yy, xx = np.mgrid[0:water.shape[0], 0:water.shape[1]]
    cx, cy = m.rasters.x0 + (xx + 0.5) * r, m.rasters.y0 + (yy + 0.5) * r
    near = (np.abs(cx - lock.polygon.centroid.x) < 200) & (np.abs(cy - lock.polygon.centroid.y) < 200)
    import shapely
    in_lock = shapely.contains_xy(lock.polygon.buffer(-1.0), cx[near], cy[near])
    water[tuple(np.argwhere(near)[in_lock].T)] = False
    assert not _reach_from_rhine(m, water)[_cell(m, upper)], "the upper Ruhr leaks past the weir"
    # the lock's lower head opens into the Hafenkanal (through its lower approach)
    hk = _geom(m, "water-hafenkanal", "water-ruhrschleuse-unterwasser")
    ends = [Point(c) for c in lock.polygon.minimum_rotated_rectangle.exterior.coords]
    assert any(hk.contains(e) for e in ends)


def test_ruhr_has_a_small_current_to_the_rhine(m):
    for fid in ("current-ruhr", "current-ruhr-upper"):
        line = np.array(m.features[fid].geometry.coords)
        mid = line[len(line) // 2]
        v = m.current(mid[None])[0]
        speed = float(np.hypot(*v))
        assert 0.05 < speed <= 0.5, (fid, speed)
        # it flows towards the mouth: down the reach's line (which runs upstream -> mouth)
        t = line[len(line) // 2 + 1] - mid
        assert v @ t > 0


# --- Hafenkanal, Vinckekanal, Karl-Lehr-Bruecke, Friedrich-Ebert-Bruecke -----------------------------
def test_karl_lehr_bridge_crosses_ruhr_hafenkanal_vinckekanal_south_to_north(m):
    (b,) = [b for b in m.bridges if "Karl-Lehr" in b.name]
    deck = LineString(b.xy)
    assert b.xy[-1, 1] > b.xy[0, 1]  # drawn south -> north
    order = []
    for fid in ("water-ruhr", "water-hafenkanal", "water-vinckekanal"):
        cut = deck.intersection(m.features[fid].geometry)
        assert not cut.is_empty, fid
        order.append(deck.project(cut.centroid))
    assert order == sorted(order)
    # the Hafenkanal runs just north of the Ruhr there: a narrow tongue of land between them
    gap = m.features["water-ruhr"].geometry.distance(m.features["water-hafenkanal"].geometry.intersection(
        deck.buffer(60.0)))
    assert 5.0 < gap < 120.0
    assert np.all(m.signed_distance(b.xy[[0, -1]]) < 0)


def test_vinckekanal_starts_at_the_harbour_mouth_under_the_friedrich_ebert_bridge(m):
    (b,) = [b for b in m.bridges if "Friedrich-Ebert" in b.name]
    deck = LineString(b.xy)
    mouth = m.features["water-hafenmund"].geometry
    vk = m.features["water-vinckekanal"].geometry
    crossing = deck.intersection(vk)
    assert not crossing.is_empty  # the deck crosses the Vinckekanal ...
    assert crossing.distance(mouth) < 30.0 and deck.distance(mouth) < 30.0  # ... where it leaves the mouth
    assert m.features[b.id].properties["length_m"] == 635.0 and deck.length == pytest.approx(635.0, abs=1.0)


def test_basins_from_the_published_dimensions_and_the_hafenkanal(m):
    lanes = {ln.id: ln for ln in m.lanes}
    # the Hafenkanal's east part, where the basins branch off it (their roots on its lane)
    t = lanes["lane-basin_c"].xy[0] - lanes["lane-basin_a"].xy[0]
    for c in "abc":
        f = m.features[f"water-basin_{c}"]
        assert f.properties["length_m"] == 1200.0 and f.properties["bottom_width_m"] == 106.0
        lane = [ln for ln in m.lanes if ln.id == f"lane-basin_{c}"][0]
        axis = lane.xy[-1] - lane.xy[1]
        ang = math.degrees(math.acos(abs(axis @ t) / np.linalg.norm(axis) / np.linalg.norm(t)))
        assert ang > 75.0, (c, ang)  # perpendicular to the Hafenkanal
        # the basin's water is 106 m across its middle
        mid = lane.xy[len(lane.xy) // 2]
        n = np.array([axis[1], -axis[0]]) / np.linalg.norm(axis)
        cut = LineString([mid - 200 * n, mid + 200 * n]).intersection(f.geometry)
        assert cut.length == pytest.approx(106.0, abs=2.0)


# --- Innenhafen, Marientor, Homberg ---------------------------------------------------------------
def test_innenhafen_behind_the_marientor(m, pts):
    gate = m.features["water-marientor"]
    assert gate.properties["structure"] == "flood_gate" and gate.properties["opening_m"] == 11.0
    assert gate.geometry.distance(Point(pts["BV-IH-00"]["xy"])) < 10.0
    ih_mid = m.features["water-innenhafen"].geometry.representative_point().coords[0]
    water = m.rasters.water.copy()
    assert _reach_from_rhine(m, water)[_cell(m, ih_mid)]
    # only through the gate: close it and the Innenhafen is cut off
    gx, gy = gate.geometry.centroid.x, gate.geometry.centroid.y
    i, j = _cell(m, (gx, gy))
    water[i - 8:i + 9, j - 8:j + 9] = False
    assert not _reach_from_rhine(m, water)[_cell(m, ih_mid)]


def test_rheinpreussen_hafen_on_the_left_bank(m):
    basin = m.features["water-rheinpreussen"]
    assert (basin.properties["length_m"], basin.properties["width_m"]) == (500.0, 75.0)
    assert basin.geometry.area == pytest.approx(500 * 75, rel=0.01)
    up = [ln for ln in m.lanes if ln.id == "lane-rhine-up"][0]
    line = LineString(up.xy)
    s = line.project(basin.geometry.centroid)
    a, b = (np.array(line.interpolate(v).coords[0]) for v in (s - 5.0, s + 5.0))
    d, r = b - a, np.array(basin.geometry.centroid.coords[0]) - a
    assert d[0] * r[1] - d[1] * r[0] < 0  # to starboard of the upbound lane: the left bank
    assert line.distance(basin.geometry.centroid) > 200.0 + 130.0  # beyond the bank, behind its canal
    assert float(np.interp(s, up.s, up.km)) == pytest.approx(781.1, abs=0.4)


# --- reachability and uncertainty -------------------------------------------------------------------
def test_every_basin_reachable_by_water_from_the_rhine(m):
    reach = _reach_from_rhine(m, m.rasters.water)
    waters = [f for f in m.features.values() if f.type in ("water", "lock")]
    assert len(waters) >= 20
    for f in waters:
        pt = f.geometry.intersection(m.water).buffer(-2.0).representative_point()
        assert reach[_cell(m, pt.coords[0])], f.id
    for b in m.berths:
        assert reach[_cell(m, b.xy)], b.id


def test_uncertainty_per_feature_group_and_osm_attribution(m):
    acc = m.metadata["accuracy"]
    groups = acc["groups"]
    assert {"rhine_banks", "ruhr", "basins_abc", "innenhafen", "aussenhafen_parallelhafen"} <= set(groups)
    for g in groups.values():
        assert g["horizontal_m"] > 0 and g["basis"]
    assert groups["basins_abc"]["horizontal_m"] >= 200.0 > groups["rhine_banks"]["horizontal_m"]
    assert "OpenStreetMap contributors" in m.metadata["licence"]
    assert "OpenStreetMap contributors" in m.metadata["attribution"]


# --- the scenarios still work -----------------------------------------------------------------------
@pytest.mark.parametrize("scenario", ["PortEntry-v0", "Berthing-v0", "RhineTransit-v0"])
def test_duisburg_scenarios_start_in_water_with_reachable_goals(scenario):
    import gymnasium as gym

    import testbed  # noqa: F401
    from testbed.world import map_bundle

    hmap, planner, _ = map_bundle("duisburg_ruhrort")
    env = gym.make(f"testbed/{scenario}")
    try:
        for seed in range(4):
            env.reset(seed=seed)
            w = env.unwrapped.world
            xy = np.array([[float(w.ego.x[0]), float(w.ego.y[0])]])
            assert hmap.signed_distance(xy)[0] > 10.0, (scenario, seed)
    finally:
        env.close()
    from testbed.scenarios import get

    goal = get(scenario).goal
    down = [ln for ln in hmap.lanes if ln.id == "lane-rhine-down"][0]
    start = down.xy[np.searchsorted(down.km, 778.5)]
    for bid in goal.berths or []:
        berth = {b.id: b for b in hmap.berths}[bid]
        route = planner.plan(start, berth.xy)
        p = np.vstack([np.linspace(a, b, 20) for a, b in zip(route[:-1], route[1:], strict=True)])
        assert np.all(hmap.signed_distance(p) > 0.0), bid


def test_autopilot_still_berths_on_the_redrawn_map():
    from agents.autopilot import Autopilot
    from agents.evaluate import evaluate
    from testbed.scenarios import get

    oc = get("Berthing-v0").observation
    res = evaluate(Autopilot(n_rays=oc.n_rays, n_targets=oc.n_targets), "Berthing-v0", range(3))
    assert res["success_rate"] >= 2 / 3, res["outcomes"]
