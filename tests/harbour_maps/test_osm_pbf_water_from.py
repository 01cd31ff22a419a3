"""`testbed map import` on PBF and XML (pyosmium), --bbox clipping with the skip accounting, and
`testbed map build duisburg_ruhrort --water-from` on synthetic surveyed water."""

from __future__ import annotations

import json
from xml.sax.saxutils import quoteattr

import numpy as np
import osmium
import pytest
from shapely.geometry import shape

from harbour_maps import MapError, load_map
from harbour_maps.osm_import import convert
from testbed.cli import main

# A synthetic extract: a river (multipolygon with an island), a harbour basin (closed way), a pond
# (skipped), a fairway line, a tagged buoy, and a canal basin far east of the --bbox used below.
LON0, LAT0 = 6.70, 51.44


def _scene():
    nodes, ways, rels = {}, [], []
    nid = [1]

    def ring(lon0, lat0, dlon, dlat):
        ids = []
        for lon, lat in ((lon0, lat0), (lon0 + dlon, lat0), (lon0 + dlon, lat0 + dlat), (lon0, lat0 + dlat)):
            nodes[nid[0]] = (round(lon, 7), round(lat, 7), {})
            ids.append(nid[0])
            nid[0] += 1
        return ids + ids[:1]

    river_outer = ring(LON0, LAT0, 0.006, 0.02)
    island = ring(LON0 + 0.002, LAT0 + 0.008, 0.001, 0.002)
    ways += [(101, river_outer, {}), (102, island, {})]
    rels.append((201, [("w", 101, "outer"), ("w", 102, "inner")],
                 {"type": "multipolygon", "natural": "water", "water": "river", "name": "Synthrhein"}))
    ways.append((103, ring(LON0 + 0.006, LAT0 + 0.009, 0.004, 0.0015), {"natural": "water", "water": "harbour"}))
    ways.append((104, ring(LON0 - 0.01, LAT0, 0.001, 0.001), {"natural": "water", "water": "pond"}))
    fair = []
    for k in range(5):
        nodes[nid[0]] = (LON0 + 0.003, round(LAT0 + 0.001 + 0.0045 * k, 7), {})
        fair.append(nid[0])
        nid[0] += 1
    ways.append((105, fair, {"waterway": "fairway", "name": "Fahrrinne"}))
    ways.append((106, ring(LON0 + 0.05, LAT0 + 0.01, 0.003, 0.001), {"natural": "water", "water": "canal"}))
    nodes[nid[0]] = (LON0 + 0.004, LAT0 + 0.012, {"seamark:type": "buoy_lateral"})
    return nodes, ways, rels


def _write_xml(path, scene):
    nodes, ways, rels = scene
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']

    def tags(t):
        return "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in t.items())

    for i, (lon, lat, t) in nodes.items():
        out.append(f'<node id="{i}" lat="{lat}" lon="{lon}">{tags(t)}</node>')
    for i, refs, t in ways:
        out.append(f'<way id="{i}">' + "".join(f'<nd ref="{r}"/>' for r in refs) + tags(t) + "</way>")
    for i, members, t in rels:
        typ = {"w": "way", "n": "node"}
        out.append(f'<relation id="{i}">' + "".join(f'<member type="{typ[m]}" ref="{r}" role="{role}"/>'
                                                   for m, r, role in members) + tags(t) + "</relation>")
    out.append("</osm>")
    path.write_text("\n".join(out), encoding="utf-8")


def _write_pbf(path, scene):
    nodes, ways, rels = scene
    w = osmium.SimpleWriter(str(path))
    try:
        for i, (lon, lat, t) in nodes.items():
            w.add_node(osmium.osm.mutable.Node(id=i, location=osmium.osm.Location(lon, lat), tags=t))
        for i, refs, t in ways:
            w.add_way(osmium.osm.mutable.Way(id=i, nodes=refs, tags=t))
        for i, members, t in rels:
            w.add_relation(osmium.osm.mutable.Relation(id=i, members=members, tags=t))
    finally:
        w.close()


@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    d = tmp_path_factory.mktemp("osm")
    scene = _scene()
    xml, pbf = d / "synth.osm", d / "synth.osm.pbf"
    _write_xml(xml, scene)
    _write_pbf(pbf, scene)
    assert pbf.read_bytes()[4:15] == b"\n\tOSMHeader"  # a real PBF blob header
    return xml, pbf


def _features(fc):
    return sorted((f["id"], f["properties"]["type"], round(shape(f["geometry"]).area, 12),
                   round(shape(f["geometry"]).length, 9)) for f in fc["features"])


def test_pbf_and_xml_give_the_same_map_and_counts(extracts):
    xml, pbf = extracts
    fx, rx = convert(xml)
    fp, rp = convert(pbf)
    assert _features(fx) == _features(fp)
    assert rx.used == rp.used and rx.skipped == rp.skipped and rx.elements_read == rp.elements_read == 33  # 26 nodes, 6 ways, 1 relation
    assert rp.used["relation: water multipolygon (river)"] == 1
    assert rp.used["way: water area (harbour)"] == 1 and rp.used["way: water area (canal)"] == 1
    assert rp.skipped["way: natural=water with water=pond (not navigable water)"] == 1
    assert rp.skipped["node: tagged point (point features are not imported)"] == 1
    assert sum(rp.used.values()) + sum(rp.skipped.values()) == rp.elements_read


@pytest.mark.parametrize("which", [0, 1])
def test_bbox_clips_and_keeps_the_skip_accounting(extracts, which):
    path = extracts[which]
    bbox = (LON0 - 0.001, LAT0 + 0.005, LON0 + 0.02, LAT0 + 0.015)  # cuts the river; the canal is outside
    fc, rep = convert(path, bbox=bbox)
    assert sum(rep.used.values()) + sum(rep.skipped.values()) == rep.elements_read == 33
    assert rep.skipped["way: outside --bbox"] == 1  # the canal basin
    assert rep.skipped["node: outside --bbox (only in features clipped away)"] == 4
    assert "way: water area (canal)" not in rep.used
    ids = {f["id"] for f in fc["features"]}
    assert "osm-way-106" not in ids and {"osm-relation-201", "osm-way-103", "osm-way-105"} <= ids
    w, s, e, n = bbox
    for f in fc["features"]:
        x0, y0, x1, y1 = shape(f["geometry"]).bounds
        assert x0 >= w - 1e-7 and y0 >= s - 1e-7 and x1 <= e + 1e-7 and y1 <= n + 1e-7, f["id"]
    river = shape(next(f for f in fc["features"] if f["id"] == "osm-relation-201")["geometry"])
    assert river.bounds[1] == pytest.approx(s) and river.bounds[3] == pytest.approx(n)


def test_cli_import_pbf_with_bbox(extracts, tmp_path, capsys):
    _, pbf = extracts
    out = tmp_path / "imported.geojson"
    assert main(["map", "import", str(pbf), "--bbox", f"{LON0 - 0.001},{LAT0},{LON0 + 0.02},{LAT0 + 0.03}",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "way: outside --bbox" in text and "elements read: 33" in text
    m = load_map(out, use_cache=False)
    assert {f.properties["kind"] for f in m.features.values() if f.type == "water"} == {"river", "harbour"}
    with pytest.raises(SystemExit) as ex:  # argparse: one usage line, status 2
        main(["map", "import", str(pbf), "--bbox", "7,51,6,52", "--out", str(out)])
    assert ex.value.code == 2 and "bad --bbox '7,51,6,52'" in capsys.readouterr().err


def test_bad_pbf_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "broken.osm.pbf"
    bad.write_bytes(b"\x00\x00\x00\x0dnot a pbf at all")
    with pytest.raises(MapError, match="broken.osm.pbf"):
        convert(bad)
    assert main(["map", "import", str(bad), "--out", str(tmp_path / "x.geojson")]) == 2
    err = capsys.readouterr().err
    assert "broken.osm.pbf" in err and "Traceback" not in err


# --- testbed map build duisburg_ruhrort --water-from ------------------------------------------------
def _surveyed_xml(path, shift_m=25.0, drop=("water-basin_c",)):
    """A synthetic 'survey' of the port: the generated water polygons moved ``shift_m`` east (as if the
    survey disagreed), minus the ``drop`` features, written as OSM XML closed ways."""
    from harbour_maps.build import duisburg

    fc = duisburg.build()
    dlon = shift_m / (111_320.0 * np.cos(np.radians(51.45)))
    nodes, ways, nid = {}, [], 1
    for k, f in enumerate(fc["features"]):
        if f["properties"]["type"] != "water" or f["id"] in drop:
            continue
        g = shape(f["geometry"])
        for p in getattr(g, "geoms", [g]):
            refs = []
            for lon, lat in list(p.exterior.coords)[:-1]:
                nodes[nid] = (round(lon + dlon, 7), round(lat, 7), {})
                refs.append(nid)
                nid += 1
            ways.append((1000 + k, refs + refs[:1], {"natural": "water", "water": f["properties"]["kind"]
                                                      if f["properties"]["kind"] in ("river", "canal", "harbour",
                                                                                     "basin", "lock") else "harbour"}))
    _write_xml(path, (nodes, ways, []))


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    d = tmp_path_factory.mktemp("wf")
    _surveyed_xml(d / "port.osm")
    imported = d / "port.geojson"
    assert main(["map", "import", str(d / "port.osm"), "--out", str(imported)]) == 0
    return d, imported


def test_build_with_surveyed_water_keeps_or_snaps_the_semantic_features(rebuilt, capsys):
    d, imported = rebuilt
    out = d / "duisburg_surveyed.geojson"
    capsys.readouterr()
    assert main(["map", "build", "duisburg_ruhrort", "--water-from", str(imported), "--out", str(out),
                 "--max-snap-m", "100"]) == 0
    text = capsys.readouterr().out
    m = load_map(out, use_cache=False)
    assert all(f.id.startswith("surveyed-") for f in m.features.values() if f.type == "water")
    assert "OpenStreetMap contributors" in m.metadata["licence"]
    # basin C was not in the survey: its lane and berths are reported by id, nothing else is on land
    on_land = text.split("on land / not crossing water (not fixed):")[1]
    for fid in ("lane-basin_c", "berth-05", "berth-06"):
        assert f"  {fid}:" in on_land, fid
    assert "berth-03" not in on_land and "lane-rhine-down" not in on_land
    # the rest lies in the surveyed water: berths of the scenarios, the Rhine and Hafenkanal lanes
    berths = {b.id: b for b in m.berths}
    for bid in ("berth-01", "berth-02", "berth-03", "berth-04"):
        assert m.is_water(berths[bid].xy[None])[0], bid
    for ln in m.lanes:
        if ln.id in ("lane-rhine-down", "lane-rhine-up", "lane-basin_b"):
            assert m.is_water(ln.xy).all(), ln.id
    assert "snapped onto the surveyed water:" in text
    # the same lanes, berths, bridges and km as the generated map
    gen = json.loads(json.dumps(__import__("harbour_maps.build.duisburg", fromlist=["x"]).build()))
    ids = {f["id"] for f in gen["features"] if f["properties"]["type"] != "water"}
    assert ids <= set(m.features)


def test_build_errors_are_one_line(rebuilt, tmp_path, capsys):
    _, imported = rebuilt
    assert main(["map", "build", "no_such_map", "--water-from", str(imported),
                 "--out", str(tmp_path / "x.geojson")]) == 2
    assert "no generator for map 'no_such_map'" in capsys.readouterr().err
    assert main(["map", "build", "duisburg_ruhrort", "--water-from", str(tmp_path / "missing.geojson"),
                 "--out", str(tmp_path / "x.geojson")]) == 2
    assert "missing.geojson" in capsys.readouterr().err
    assert not (tmp_path / "x.geojson").exists()
