"""OpenStreetMap import: .osm XML and Overpass/QGIS GeoJSON to a loadable map."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from harbour_maps import MapError, load_map
from harbour_maps.osm_import import convert, import_osm
from testbed.cli import main

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "river_harbour.osm"


def _xy(m, lon, lat):
    x, y = m.frame.to_local(lon, lat)
    return np.array([[float(x), float(y)]])


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("osm") / "river_harbour.geojson"
    path, report = import_osm(FIXTURE, out=out)
    return path, report, load_map(path, use_cache=False)


def test_report_counts_add_up(imported):
    _, rep, _ = imported
    assert rep.elements_read == 48  # 35 nodes, 10 ways, 3 relations
    assert sum(rep.used.values()) + sum(rep.skipped.values()) == 48
    assert rep.used["relation: water multipolygon (river)"] == 1
    assert rep.used["way: member of a used multipolygon"] == 3
    assert rep.used["way: water area (harbour)"] == 1
    assert rep.used["way: lane (waterway=river)"] == 1 and rep.used["way: lane (waterway=fairway)"] == 1
    assert rep.used["node: vertex of a used feature"] == 21
    assert rep.skipped["way: natural=water with water=pond (not navigable water)"] == 1
    assert rep.skipped["way: water tags on an unclosed way (not in a multipolygon)"] == 1
    assert rep.skipped["relation: incomplete multipolygon (member way 9999 not in the file)"] == 1
    assert rep.skipped["relation: type=route not supported"] == 1
    assert rep.skipped["node: tagged point (point features are not imported)"] == 1
    assert (rep.water_features, rep.lane_features) == (2, 2)
    assert "elements read: 48" in rep.summary()


def test_imported_map_answers_queries(imported):
    path, _, m = imported
    md = json.loads(path.read_text())["metadata"]
    assert md["format_version"] == 1 and md["crs"] == "EPSG:32632" and md["name"] == "river_harbour"
    assert "OpenStreetMap" in md["licence"] and md["accuracy"]["horizontal_m"] > 0
    lon0, lat0, lon1, lat1 = md["extent"]
    assert lon0 < 6.7176 and lon1 > 6.7300 and lat0 < 51.44 and lat1 > 51.452
    kinds = {f.properties["kind"] for f in m.features.values() if f.type == "water"}
    assert kinds == {"river", "harbour"}
    # inside the basin, in the river: water; on the island, on the bank, on the pond: land
    assert m.is_water(_xy(m, 6.7270, 51.4466))[0]
    assert m.is_water(_xy(m, 6.7190, 51.4430))[0]
    assert not m.is_water(_xy(m, 6.7210, 51.4460))[0], "island inner ring must be land"
    assert m.signed_distance(_xy(m, 6.7210, 51.4460))[0] < -20
    assert not m.is_water(_xy(m, 6.7275, 51.4423))[0], "pond is not navigable water"
    assert not m.is_water(_xy(m, 6.7260, 51.4430))[0]
    # river width ~ 0.0062 deg lon at 51.44 N = ~430 m, minus nothing: measured across at 51.443
    xs = np.linspace(-800, 800, 1601)
    p = _xy(m, 6.7190, 51.4430)[0]
    wet = m.is_water(np.column_stack([p[0] + xs, np.full_like(xs, p[1])]))
    assert 380 < wet.sum() < 480
    # basin reachable from the river: one connected polygon
    assert m.water.geom_type == "Polygon"
    # lanes: the river centre line and the fairway
    names = {ln.name: ln for ln in m.lanes}
    assert set(names) == {"Rhein", "Fahrrinne"}
    assert names["Fahrrinne"].width_m == 150.0 and names["Rhein"].direction == "both"
    lc = m.lane_coordinates(_xy(m, 6.7196, 51.4460))
    assert m.lanes[lc.lane[0]].name == "Fahrrinne" and abs(lc.cross_m[0]) < 10


def test_geojson_overpass_and_qgis_input(tmp_path):
    ring = [[6.7170, 51.4400], [6.7240, 51.4400], [6.7243, 51.4520], [6.7180, 51.4520], [6.7170, 51.4400]]
    island = [[6.7205, 51.4450], [6.7205, 51.4470], [6.7215, 51.4470], [6.7215, 51.4450], [6.7205, 51.4450]]
    basin = [[6.7235, 51.4460], [6.7300, 51.4460], [6.7300, 51.4472], [6.7235, 51.4472], [6.7235, 51.4460]]
    fc = {"type": "FeatureCollection", "features": [
        # Overpass Turbo (current): tags flat in properties, "@id"
        {"type": "Feature", "id": "relation/3001",
         "properties": {"@id": "relation/3001", "type": "multipolygon", "natural": "water", "water": "river",
                        "name": "Rhein"},
         "geometry": {"type": "Polygon", "coordinates": [ring, island]}},
        # Overpass Turbo (older): tags under properties.tags
        {"type": "Feature", "id": "way/2004",
         "properties": {"type": "way", "id": 2004, "tags": {"natural": "water", "water": "basin"},
                        "relations": [], "meta": {}},
         "geometry": {"type": "Polygon", "coordinates": [basin]}},
        # QGIS (ogr OSM driver): other_tags hstore
        {"type": "Feature", "properties": {"osm_id": "2006", "osm_type": "way", "name": "Fahrrinne",
                                           "other_tags": '"waterway"=>"fairway","width"=>"120"'},
         "geometry": {"type": "LineString", "coordinates": [[6.7195, 51.4402], [6.7196, 51.4518]]}},
        {"type": "Feature", "properties": {"@id": "node/191", "seamark:type": "light_minor"},
         "geometry": {"type": "Point", "coordinates": [6.7244, 51.4459]}},
        {"type": "Feature", "properties": {"@id": "way/2007", "highway": "primary"},
         "geometry": {"type": "LineString", "coordinates": [[6.715, 51.449], [6.727, 51.4492]]}},
        {"type": "Feature", "properties": {"@id": "way/2999", "natural": "water", "water": "river"},
         "geometry": {"type": "Polygon", "coordinates": [[[6.72, 51.44], [6.73, 51.45]]]}},  # malformed
        {"type": "Feature", "properties": None, "geometry": None},
    ]}
    src = tmp_path / "overpass_export.geojson"
    src.write_text(json.dumps(fc))
    out, rep = import_osm(src, out=tmp_path / "o.geojson", name="overpass_test")
    assert rep.elements_read == 7 and sum(rep.used.values()) + sum(rep.skipped.values()) == 7
    assert rep.used["feature: water area (river)"] == 1 and rep.used["feature: water area (basin)"] == 1
    assert rep.used["feature: lane (waterway=fairway)"] == 1
    assert rep.skipped["feature: point (point features are not imported)"] == 1
    m = load_map(out, use_cache=False)
    assert m.name == "overpass_test"
    assert "osm-relation-3001" in m.features and "osm-way-2004" in m.features
    assert m.is_water(_xy(m, 6.7270, 51.4466))[0] and not m.is_water(_xy(m, 6.7210, 51.4460))[0]
    (lane,) = m.lanes
    assert lane.width_m == 120.0 and lane.name == "Fahrrinne"


def test_errors_name_file_line_and_element(tmp_path):
    bad = tmp_path / "bad.osm"
    bad.write_text('<?xml version="1.0"?>\n<osm>\n  <node id="1" lat="51" lon="6">\n</osm>\n')
    with pytest.raises(MapError, match=r"bad\.osm:4: bad XML"):
        convert(bad)
    missing = tmp_path / "missing.osm"
    missing.write_text(
        '<?xml version="1.0"?>\n<osm>\n'
        ' <node id="1" lat="51.44" lon="6.72"/>\n <node id="2" lat="51.44" lon="6.73"/>\n'
        ' <node id="3" lat="51.45" lon="6.73"/>\n'
        ' <way id="77">\n  <nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>\n'
        '  <tag k="natural" v="water"/><tag k="water" v="harbour"/>\n </way>\n</osm>\n')
    with pytest.raises(MapError, match=r"missing\.osm:6: way 77 references node 4"):
        convert(missing)
    nowater = tmp_path / "nowater.osm"
    nowater.write_text('<osm><node id="1" lat="51" lon="6"><tag k="amenity" v="bench"/></node></osm>')
    with pytest.raises(MapError, match="no navigable water"):
        convert(nowater)
    badjson = tmp_path / "b.geojson"
    badjson.write_text('{"type": "FeatureCollection",\n "features": [,]}')
    with pytest.raises(MapError, match=r"b\.geojson:2: not valid JSON"):
        convert(badjson)


def test_cli_import(tmp_path, capsys):
    out = tmp_path / "cli.geojson"
    assert main(["map", "import", str(FIXTURE), "--out", str(out), "--name", "cli_map"]) == 0
    text = capsys.readouterr().out
    assert "elements read: 48" in text and "skipped: 20" in text
    assert json.loads(out.read_text())["metadata"]["name"] == "cli_map"
    assert not list(tmp_path.glob(".*.tmp")), "atomic write leaves no temp file"
    assert main(["map", "import", str(tmp_path / "nope.osm")]) == 2
    assert "nope.osm" in capsys.readouterr().err
