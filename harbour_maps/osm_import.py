"""Import an OpenStreetMap extract into a harbour map (format version 1, see ``FORMAT.md``).

Inputs:

* ``.osm`` XML (e.g. from the OSM editing API, JOSM or Overpass ``out meta;``), parsed in a
  streaming way with expat so that errors carry the line number;
* GeoJSON exported from Overpass Turbo (OSM tags in ``properties`` or in ``properties.tags``, the
  element id in ``properties["@id"]``, ``properties.id`` or the feature id) or from QGIS (tags as
  properties, possibly with an ``other_tags`` hstore string).

What is used:

* water areas: closed ways and ``type=multipolygon`` relations tagged ``natural=water`` with
  ``water=river|canal|harbour|basin|lock``, ``waterway=riverbank`` or ``waterway=dock``;
  multipolygon outer/inner member ways are joined end to end into rings;
* lanes: ``waterway=river|canal|fairway`` lines (``direction: both``, width from ``width`` or a
  default per waterway type).

Everything else is counted as skipped with a reason; the counts add up to the elements read.
Errors (bad XML/JSON, a used way referencing a missing node) raise :class:`MapError` naming the
file, the line where known and the element id.
"""

from __future__ import annotations

import json
import math
import re
import xml.parsers.expat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon, mapping, shape
from shapely.geometry.polygon import orient
from shapely.ops import unary_union

from atomicio import atomic_open

from .format import MapError, parse_map_dict

__all__ = ["ImportReport", "import_osm", "convert", "water_kind", "lane_kind"]

WATER_KINDS = {"river", "canal", "harbour", "basin", "lock"}
LANE_WATERWAYS = {"river": 60.0, "canal": 30.0, "fairway": 100.0}  # default lane widths (m)


@dataclass
class ImportReport:
    elements_read: int = 0
    used: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    water_features: int = 0
    lane_features: int = 0

    def check(self) -> None:
        total = sum(self.used.values()) + sum(self.skipped.values())
        if total != self.elements_read:  # pragma: no cover - internal consistency
            raise AssertionError(f"report counts {total} != elements read {self.elements_read}")

    def summary(self) -> str:
        lines = [f"elements read: {self.elements_read}",
                 f"features written: {self.water_features} water, {self.lane_features} lanes"]
        for title, c in (("used", self.used), ("skipped", self.skipped)):
            lines.append(f"{title}: {sum(c.values())}")
            lines.extend(f"  {n:6d}  {reason}" for reason, n in sorted(c.items(), key=lambda kv: -kv[1]))
        return "\n".join(lines)


def water_kind(tags: dict) -> str | None:
    """The water ``kind`` of an area with these OSM tags, or None."""
    if tags.get("waterway") == "riverbank":
        return "river"
    if tags.get("waterway") == "dock":
        return "basin"
    if tags.get("natural") == "water" and tags.get("water") in WATER_KINDS:
        return tags["water"]
    return None


def lane_kind(tags: dict) -> str | None:
    w = tags.get("waterway")
    return w if w in LANE_WATERWAYS else None


def _skip_reason(tags: dict, what: str) -> str:
    if not tags:
        return f"{what}: no tags"
    if tags.get("natural") == "water":
        return f"{what}: natural=water with water={tags.get('water', '(none)')} (not navigable water)"
    if "waterway" in tags:
        return f"{what}: waterway={tags['waterway']} not supported"
    return f"{what}: no supported tags"


def _width(tags: dict, default: float) -> float:
    m = re.match(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(m)?\s*$", str(tags.get("width", "")))
    return float(m.group(1)) if m and float(m.group(1)) > 0 else default


# ------------------------------------------------------------------------------------------------
# OSM XML

@dataclass
class _Way:
    id: int
    refs: list
    tags: dict
    line: int


@dataclass
class _Rel:
    id: int
    members: list  # (type, ref, role)
    tags: dict
    line: int


def _read_osm_xml(path: Path):
    nodes: dict[int, tuple[float, float]] = {}
    node_tags: dict[int, dict] = {}
    node_line: dict[int, int] = {}
    ways: list[_Way] = []
    rels: list[_Rel] = []
    cur: list = [None]  # current element: ("node", id, tags) | _Way | _Rel
    p = xml.parsers.expat.ParserCreate()
    label = path.name

    def err(msg):
        return MapError(f"{label}:{p.CurrentLineNumber}: {msg}")

    def start(name, attrs):
        try:
            if name == "node":
                nid = int(attrs["id"])
                nodes[nid] = (float(attrs["lon"]), float(attrs["lat"]))
                node_line[nid] = p.CurrentLineNumber
                cur[0] = ("node", nid, {})
            elif name == "way":
                cur[0] = _Way(int(attrs["id"]), [], {}, p.CurrentLineNumber)
            elif name == "relation":
                cur[0] = _Rel(int(attrs["id"]), [], {}, p.CurrentLineNumber)
            elif name == "nd" and isinstance(cur[0], _Way):
                cur[0].refs.append(int(attrs["ref"]))
            elif name == "member" and isinstance(cur[0], _Rel):
                cur[0].members.append((attrs.get("type", ""), int(attrs["ref"]), attrs.get("role", "")))
            elif name == "tag" and cur[0] is not None:
                tags = cur[0][2] if isinstance(cur[0], tuple) else cur[0].tags
                tags[attrs["k"]] = attrs.get("v", "")
        except KeyError as e:
            raise err(f"<{name}> lacks the attribute {e.args[0]!r}") from None
        except ValueError as e:
            raise err(f"<{name}> has a bad attribute value ({e})") from None

    def end(name):
        c = cur[0]
        if name == "node" and isinstance(c, tuple):
            if c[2]:
                node_tags[c[1]] = c[2]
            cur[0] = None
        elif name == "way" and isinstance(c, _Way):
            ways.append(c)
            cur[0] = None
        elif name == "relation" and isinstance(c, _Rel):
            rels.append(c)
            cur[0] = None

    p.StartElementHandler = start
    p.EndElementHandler = end
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                p.Parse(chunk, False)
            p.Parse(b"", True)
    except xml.parsers.expat.ExpatError as e:
        raise MapError(f"{label}:{e.lineno}: bad XML: {xml.parsers.expat.ErrorString(e.code)} "
                       f"(column {e.offset})") from None
    return nodes, node_tags, node_line, ways, rels


def _read_osm_pyosmium(path: Path):
    """Read an ``.osm.pbf`` (or any format libosmium knows) with pyosmium; same result as
    :func:`_read_osm_xml` (no line numbers: elements are named by id)."""
    import osmium

    nodes: dict[int, tuple[float, float]] = {}
    node_tags: dict[int, dict] = {}
    ways: list[_Way] = []
    rels: list[_Rel] = []
    try:
        for o in osmium.FileProcessor(str(path)):
            if o.is_node():
                if not o.location.valid():
                    raise MapError(f"{path.name}: node {o.id} has no valid location")
                nodes[o.id] = (o.location.lon, o.location.lat)
                if len(o.tags):
                    node_tags[o.id] = {t.k: t.v for t in o.tags}
            elif o.is_way():
                ways.append(_Way(o.id, [n.ref for n in o.nodes], {t.k: t.v for t in o.tags}, 0))
            elif o.is_relation():
                typ = {"n": "node", "w": "way", "r": "relation"}
                rels.append(_Rel(o.id, [(typ.get(m.type, m.type), m.ref, m.role) for m in o.members],
                                 {t.k: t.v for t in o.tags}, 0))
    except MapError:
        raise
    except (RuntimeError, ValueError, OSError) as e:
        raise MapError(f"{path.name}: cannot read as OSM data ({e})") from None
    return nodes, node_tags, {}, ways, rels


def _join_rings(way_refs: list[tuple[int, list]]) -> tuple[list[list], list[int]]:
    """Join way node lists end to end into closed rings.  Returns (rings, ids of ways left over)."""
    pool = [(wid, list(r)) for wid, r in way_refs if len(r) >= 2]
    rings = []
    while pool:
        wid, ring = pool.pop(0)
        progress = True
        while ring[0] != ring[-1] and progress:
            progress = False
            for i, (_, r) in enumerate(pool):
                if r[0] == ring[-1]:
                    ring += r[1:]
                elif r[-1] == ring[-1]:
                    ring += r[::-1][1:]
                elif r[-1] == ring[0]:
                    ring = r[:-1] + ring
                elif r[0] == ring[0]:
                    ring = r[::-1][:-1] + ring
                else:
                    continue
                pool.pop(i)
                progress = True
                break
        if ring[0] != ring[-1]:
            return rings, [wid]
        rings.append(ring)
    return rings, []


def _polygon_from_rings(outers: list, inners: list):
    polys = []
    outer_polys = [Polygon(r) for r in outers if len(r) >= 4]
    outer_polys = [shapely.make_valid(p) if not p.is_valid else p for p in outer_polys]
    holes_for = [[] for _ in outer_polys]
    for r in inners:
        if len(r) < 4:
            continue
        hp = Polygon(r)
        for k, op in enumerate(outer_polys):
            if op.contains(hp.representative_point()):
                holes_for[k].append(hp)
                break
    for op, holes in zip(outer_polys, holes_for, strict=True):
        g = op.difference(unary_union(holes)) if holes else op
        polys.append(g)
    g = unary_union(polys) if polys else Polygon()
    return _clean_area(g)


def _clean_area(g):
    if not g.is_valid:
        g = shapely.make_valid(g)
    if g.geom_type == "GeometryCollection":
        g = unary_union([p for p in g.geoms if p.geom_type in ("Polygon", "MultiPolygon")])
    if g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
        return None
    return g


def _from_osm_xml(path: Path, report: ImportReport, reader=None):
    nodes, node_tags, node_line, ways, rels = (reader or _read_osm_xml)(path)
    label = path.name
    report.elements_read = len(nodes) + len(ways) + len(rels)
    way_by_id = {w.id: w for w in ways}
    used_nodes: set[int] = set()
    way_role: dict[int, str] = {}  # way id -> used reason
    out = []  # (fid, kind 'water'|'lane', geometry lon/lat, tags)

    def coords(w: _Way):
        pts = []
        for ref in w.refs:
            if ref not in nodes:
                where = f"{label}:{w.line}" if w.line else label
                raise MapError(f"{where}: way {w.id} references node {ref}, which is not in the file")
            pts.append(nodes[ref])
        return pts

    # multipolygon relations first: their member ways are used through the relation
    rel_done: dict[int, str] = {}
    for r in rels:
        kind = water_kind(r.tags)
        if r.tags.get("type") != "multipolygon" or kind is None:
            rel_done[r.id] = "skip:" + (_skip_reason(r.tags, "relation") if r.tags.get("type") == "multipolygon"
                                        else f"relation: type={r.tags.get('type', '(none)')} not supported")
            continue
        members = [(t, ref, role) for t, ref, role in r.members if t == "way"]
        missing = [ref for _, ref, _ in members if ref not in way_by_id]
        if missing:
            rel_done[r.id] = f"skip:relation: incomplete multipolygon (member way {missing[0]} not in the file)"
            continue
        outer = [(ref, way_by_id[ref].refs) for _, ref, role in members if role in ("outer", "")]
        inner = [(ref, way_by_id[ref].refs) for _, ref, role in members if role == "inner"]
        for ref, _ in outer + inner:
            coords(way_by_id[ref])  # raises on missing nodes
        o_rings, o_left = _join_rings(outer)
        i_rings, i_left = _join_rings(inner)
        if o_left or i_left or not o_rings:
            rel_done[r.id] = "skip:relation: multipolygon rings do not close"
            continue
        geom = _polygon_from_rings([[nodes[n] for n in ring] for ring in o_rings],
                                   [[nodes[n] for n in ring] for ring in i_rings])
        if geom is None:
            rel_done[r.id] = "skip:relation: multipolygon geometry is empty or invalid"
            continue
        rel_done[r.id] = f"relation: water multipolygon ({kind})"
        rel_nodes = {n for _, ring in outer + inner for n in ring}
        out.append((f"osm-relation-{r.id}", "water", geom, r.tags, kind, rel_done[r.id], rel_nodes))
        for ref, ring in outer + inner:
            way_role.setdefault(ref, "way: member of a used multipolygon")
            used_nodes.update(ring)

    for w in ways:
        kind, lk = water_kind(w.tags), lane_kind(w.tags)
        closed = len(w.refs) >= 4 and w.refs[0] == w.refs[-1]
        if kind is not None and closed:
            geom = _clean_area(Polygon(coords(w)))
            if geom is None:
                way_role.setdefault(w.id, "skip:way: water area geometry is empty or invalid")
                continue
            way_role[w.id] = f"way: water area ({kind})"
            out.append((f"osm-way-{w.id}", "water", geom, w.tags, kind, way_role[w.id], set(w.refs)))
            used_nodes.update(w.refs)
        elif lk is not None and len(w.refs) >= 2:
            pts = coords(w)
            line = LineString(pts)
            if line.length == 0:
                way_role.setdefault(w.id, "skip:way: degenerate line")
                continue
            way_role[w.id] = f"way: lane (waterway={lk})"
            out.append((f"osm-way-{w.id}", "lane", line, w.tags, lk, way_role[w.id], set(w.refs)))
            used_nodes.update(w.refs)
        elif w.id not in way_role:
            if kind is not None:
                way_role[w.id] = "skip:way: water tags on an unclosed way (not in a multipolygon)"
            else:
                way_role[w.id] = "skip:" + _skip_reason(w.tags, "way")

    for nid in nodes:
        if nid in used_nodes:
            report.used["node: vertex of a used feature"] += 1
        elif nid in node_tags:
            report.skipped["node: tagged point (point features are not imported)"] += 1
        else:
            report.skipped["node: not part of a used feature"] += 1
    for w in ways:
        reason = way_role[w.id]
        (report.skipped if reason.startswith("skip:") else report.used)[reason.removeprefix("skip:")] += 1
    for r in rels:
        reason = rel_done[r.id]
        (report.skipped if reason.startswith("skip:") else report.used)[reason.removeprefix("skip:")] += 1
    return out


# ------------------------------------------------------------------------------------------------
# GeoJSON (Overpass Turbo / QGIS)

_HSTORE = re.compile(r'"((?:[^"\\]|\\.)*)"\s*=>\s*"((?:[^"\\]|\\.)*)"')


def _tags_of(props: dict) -> dict:
    if isinstance(props.get("tags"), dict):
        tags = dict(props["tags"])
    else:
        tags = {k: v for k, v in props.items() if not k.startswith("@") and v is not None
                and not isinstance(v, (dict, list))}
    if isinstance(props.get("other_tags"), str):  # QGIS / ogr OSM driver
        tags.pop("other_tags", None)
        tags.update({k: v for k, v in _HSTORE.findall(props["other_tags"])})
    return {str(k): str(v) for k, v in tags.items()}


def _element_id(feat: dict, props: dict, idx: int) -> str:
    for v in (props.get("@id"), props.get("osm_id") and f"{props.get('osm_type', 'element')}/{props['osm_id']}",
              feat.get("id"), props.get("type") and props.get("id") and f"{props['type']}/{props['id']}"):
        if v:
            return str(v)
    return f"feature-{idx}"


def _from_geojson(path: Path, report: ImportReport):
    label = path.name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise MapError(f"{label}:{e.lineno}: not valid JSON: {e.msg} (column {e.colno})") from None
    except UnicodeDecodeError as e:
        raise MapError(f"{label}: not UTF-8 text: {e}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(
            data.get("features"), list):
        raise MapError(f"{label}: not a GeoJSON FeatureCollection")
    report.elements_read = len(data["features"])
    out = []
    seen: set[str] = set()
    for idx, f in enumerate(data["features"]):
        if not isinstance(f, dict) or not isinstance(f.get("properties"), dict):
            report.skipped["feature: not a GeoJSON Feature with properties"] += 1
            continue
        props = f["properties"]
        tags = _tags_of(props)
        eid = _element_id(f, props, idx)
        fid = "osm-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", eid)
        if fid in seen:
            fid = f"{fid}-{idx}"
        try:
            geom = shape(f["geometry"]) if f.get("geometry") else None
        except Exception as e:  # noqa: BLE001 - malformed geometry: skip, never crash
            report.skipped[f"feature: malformed geometry ({type(e).__name__})"] += 1
            continue
        if geom is None or geom.is_empty:
            report.skipped["feature: no geometry"] += 1
            continue
        kind, lk = water_kind(tags), lane_kind(tags)
        gt = geom.geom_type
        if kind is not None and gt == "LineString" and geom.is_ring:
            geom, gt = Polygon(geom.coords), "Polygon"
        if kind is not None and gt in ("Polygon", "MultiPolygon"):
            g = _clean_area(geom)
            if g is None:
                report.skipped["feature: water area geometry is empty or invalid"] += 1
                continue
            out.append((fid, "water", g, tags, kind, f"feature: water area ({kind})", {fid}))
            report.used[f"feature: water area ({kind})"] += 1
        elif lk is not None and gt in ("LineString", "MultiLineString"):
            parts = list(geom.geoms) if gt == "MultiLineString" else [geom]
            parts = [p for p in parts if p.length > 0]
            if not parts:
                report.skipped["feature: degenerate line"] += 1
                continue
            for k, part in enumerate(parts):
                out.append((fid if len(parts) == 1 else f"{fid}-{k}", "lane", part, tags, lk,
                            f"feature: lane (waterway={lk})", {fid}))
            report.used[f"feature: lane (waterway={lk})"] += 1
        elif gt in ("Point", "MultiPoint"):
            report.skipped["feature: point (point features are not imported)"] += 1
        else:
            report.skipped["feature: " + _skip_reason(tags, gt).split(": ", 1)[1]] += 1
        seen.add(fid)
    return out


# ------------------------------------------------------------------------------------------------

def _utm_crs(lon: float, lat: float) -> str:
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def _clip(items: list, bbox, report: ImportReport) -> list:
    """Clip the items to ``bbox`` (W, S, E, N).  An element whose geometry lies wholly outside moves
    from ``used`` to ``skipped`` ("...: outside --bbox"), and so do the nodes only it used."""
    box = shapely.box(*bbox)
    kept, gone, kept_keys = [], {}, set()
    for item in items:
        fid, ftype, g, tags, kind, reason, elem_nodes = item
        osm = reason.startswith(("way", "relation"))
        key = fid if osm else next(iter(elem_nodes))  # GeoJSON: the feature a line part came from
        c = g.intersection(box)
        if ftype == "water":
            c = None if c.is_empty else _clean_area(c)
            parts = [c] if c is not None else []
        else:
            parts = [p for p in getattr(c, "geoms", [c]) if p.geom_type == "LineString" and p.length > 0]
        if not parts:
            gone[key] = (reason, elem_nodes if osm else set())
            continue
        kept_keys.add(key)
        for k, part in enumerate(parts):
            kept.append((fid if len(parts) == 1 else f"{fid}-{k}", ftype, part, tags, kind, reason, elem_nodes))
    kept_nodes = set().union(*(i[6] for i in kept if i[5].startswith(("way", "relation"))))
    for key, (reason, elem_nodes) in gone.items():
        if key in kept_keys:
            continue  # another part of the same element is kept
        report.used[reason] -= 1
        report.skipped[reason.split(":", 1)[0] + ": outside --bbox"] += 1
        for n in elem_nodes - kept_nodes:
            kept_nodes.add(n)  # each node once
            report.used["node: vertex of a used feature"] -= 1
            report.skipped["node: outside --bbox (only in features clipped away)"] += 1
    report.used = Counter({k: v for k, v in report.used.items() if v > 0})
    return kept


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"W,S,E,N"`` (WGS84 degrees) -> a tuple; ``MapError`` naming the value when it is not one."""
    try:
        v = [float(t) for t in str(text).split(",")]
    except ValueError:
        v = []
    if len(v) != 4 or not (-180 <= v[0] < v[2] <= 180 and -90 <= v[1] < v[3] <= 90):
        raise MapError(f"bad bbox {text!r}: expected W,S,E,N in degrees with W<E, S<N")
    return tuple(v)


def convert(path, name: str | None = None, bbox=None) -> tuple[dict, ImportReport]:
    """Convert an OSM extract (``.osm`` XML, ``.osm.pbf`` or GeoJSON) to a map dict, clipped to
    ``bbox`` = (W, S, E, N) when given.  Returns (map, report)."""
    path = Path(path)
    if not path.is_file():
        raise MapError(f"{path}: file not found")
    suffix = "".join(path.suffixes[-2:]).lower()
    report = ImportReport()
    if path.suffix.lower() in (".osm", ".xml"):
        items = _from_osm_xml(path, report)
    elif path.suffix.lower() in (".geojson", ".json"):
        items = _from_geojson(path, report)
    elif suffix.endswith(".pbf"):
        items = _from_osm_xml(path, report, reader=_read_osm_pyosmium)
    else:
        raise MapError(f"{path.name}: unknown input type (expected .osm XML, .osm.pbf or .geojson)")
    if bbox is not None:
        items = _clip(items, parse_bbox(",".join(map(str, bbox))) if not isinstance(bbox, str)
                      else parse_bbox(bbox), report)
    report.check()
    if not any(k == "water" for _, k, *_ in items):
        raise MapError(f"{path.name}: no navigable water found (natural=water with water=river|canal|harbour|"
                       f"basin|lock, waterway=riverbank|dock); {report.elements_read} elements read")
    name = name or re.sub(r"[^A-Za-z0-9_]+", "_", path.name.split(".")[0]).strip("_").lower() or "osm_import"

    feats = []
    for fid, ftype, g, tags, kind, _reason, _nodes in items:
        if ftype == "water":
            g = orient(g, 1.0) if isinstance(g, Polygon) else MultiPolygon([orient(p, 1.0) for p in g.geoms])
            props = {"type": "water", "name": tags.get("name") or f"{kind} {fid}", "kind": kind,
                     "osm_id": fid.removeprefix("osm-")}
            if tags.get("waterway") or tags.get("name"):
                props["waterway"] = tags.get("name") or tags.get("waterway")
        else:
            props = {"type": "lane", "name": tags.get("name") or f"{kind} {fid}",
                     "waterway": tags.get("name") or kind, "direction": "both", "role": "channel",
                     "width_m": _width(tags, LANE_WATERWAYS[kind]), "osm_id": fid.removeprefix("osm-")}
        g = shapely.set_precision(g, 1e-7)
        if g.is_empty or (ftype == "water" and not g.is_valid):
            g = _clean_area(g) if ftype == "water" else None
            if g is None:
                continue
        feats.append({"type": "Feature", "id": fid, "properties": props, "geometry": mapping(g)})
        if ftype == "water":
            report.water_features += 1
        else:
            report.lane_features += 1

    allg = unary_union([shape(f["geometry"]) for f in feats])
    lon0, lat0, lon1, lat1 = allg.bounds
    pad_lat = 100.0 / 111_200.0
    pad_lon = pad_lat / max(math.cos(math.radians((lat0 + lat1) / 2)), 0.1)
    extent = [round(math.floor((lon0 - pad_lon) * 1e5) / 1e5, 5), round(math.floor((lat0 - pad_lat) * 1e5) / 1e5, 5),
              round(math.ceil((lon1 + pad_lon) * 1e5) / 1e5, 5), round(math.ceil((lat1 + pad_lat) * 1e5) / 1e5, 5)]
    clon, clat = round((lon0 + lon1) / 2, 6), round((lat0 + lat1) / 2, 6)
    md = {
        "format_version": 1,
        "name": name,
        "title": f"{name} (imported from OpenStreetMap extract {path.name})",
        "crs": _utm_crs(clon, clat),
        "origin": {"lon": clon, "lat": clat},
        "extent": extent,
        "accuracy": {"horizontal_m": 10.0, "statement": (
            "Imported from OpenStreetMap; OSM banks are typically within 2-10 m where mapped from aerial "
            "imagery but were not checked by this import. Lanes are waterway centre lines, not "
            "surveyed fairways.")},
        "sources": [f"OpenStreetMap contributors, extract {path.name}"],
        "licence": "ODbL 1.0 (c) OpenStreetMap contributors",
        "raster_resolution_m": 5.0,
    }
    fc = {"type": "FeatureCollection", "metadata": md, "features": feats}
    parse_map_dict(json.loads(json.dumps(fc)), f"{name}.geojson")  # validate against the contract
    return fc, report


def import_osm(path, out=None, name: str | None = None, bbox=None) -> tuple[Path, ImportReport]:
    """Convert ``path`` (clipped to ``bbox`` when given) and write the map atomically to ``out``
    (default ``<name>.geojson`` in the current directory).  Returns (output path, report)."""
    fc, report = convert(path, name, bbox=bbox)
    out = Path(out) if out is not None else Path.cwd() / f"{fc['metadata']['name']}.geojson"
    with atomic_open(out, "w") as fh:
        json.dump(fc, fh, ensure_ascii=False, separators=(",", ":"))
        fh.write("\n")
    return out, report
