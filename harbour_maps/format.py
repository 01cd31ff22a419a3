"""Parsing and validation of harbour map files (format version 1, see ``FORMAT.md``).

:func:`parse_map_file` reads a GeoJSON ``FeatureCollection``, checks the top-level ``metadata``
and every feature against the contract, projects all geometry into the map's local metric frame
(:class:`~harbour_maps.geodesy.LocalFrame`) and returns a :class:`ParsedMap`.  Every problem raises
:class:`MapError` (a ``ValueError``) whose message names the file, the feature id and index and the
problem, e.g. ``duisburg.geojson: feature 'basin_a' (#12): ring 0 of polygon 0 is not closed``.

Validation is done once at load time and may use shapely freely; nothing here is on a per-step path.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.validation import explain_validity

from .geodesy import LocalFrame

__all__ = ["MapError", "Feature", "ParsedMap", "parse_map_file", "parse_map_dict", "FEATURE_TYPES",
           "FORMAT_VERSION"]

FORMAT_VERSION = 1
MAX_RESOLUTION_M = 5.0
DEFAULT_RESOLUTION_M = 5.0


class MapError(ValueError):
    """A harbour map file is malformed or violates the format contract."""


@dataclass(eq=False)
class Feature:
    """One typed map feature; ``geometry`` is a shapely geometry in local metres."""

    id: str
    type: str
    properties: dict
    geometry: Any
    index: int = -1


@dataclass(eq=False)
class ParsedMap:
    metadata: dict
    frame: LocalFrame
    features: list[Feature]
    extent_local: Any  # shapely Polygon: the projected extent rectangle (densified)
    label: str = ""
    extra: dict = field(default_factory=dict)


_STR, _NUM, _BOOL, _LIST, _DICT = "str", "number", "bool", "list", "dict"

# type -> (allowed geometry types, required {prop: kind}, optional {prop: kind})
FEATURE_TYPES: dict[str, tuple[tuple[str, ...], dict[str, str], dict[str, str]]] = {
    "water": (("Polygon", "MultiPolygon"), {"name": _STR, "kind": _STR}, {"waterway": _STR}),
    "obstacle": (("Polygon",), {"kind": _STR}, {"name": _STR, "bridge": _STR}),
    "lane": (("LineString",), {"name": _STR, "waterway": _STR, "direction": _STR, "width_m": _NUM},
             {"km": _LIST, "role": _STR}),
    "berth": (("Point",), {"name": _STR, "basin": _STR, "heading_deg": _NUM, "length_m": _NUM},
              {"quay": _STR}),
    "bridge": (("LineString",), {"name": _STR, "clearance_m": _NUM},
               {"km": _NUM, "span_m": _NUM, "waterway": _STR}),
    "lock": (("Polygon",), {"name": _STR, "chamber_length_m": _NUM, "chamber_width_m": _NUM},
             {"lift_m": _NUM, "waterway_km": _NUM}),
    "gauge": (("Point",), {"name": _STR}, {"km": _NUM, "gauge_no": None, "pnp_m_nhn": _NUM, "marks_m": _LIST}),
    "km_marker": (("Point",), {"km": _NUM, "waterway": _STR}, {}),
    "cell_site": (("Point",), {"name": _STR, "height_m": _NUM, "sectors_deg": _LIST},
                  {"assumed": _BOOL, "operator": _STR, "bands": None}),
    "current": (("LineString",), {"name": _STR},
                {"speed_ms": _NUM, "velocity_table": _LIST, "influence_m": _NUM, "bank_ramp_m": _NUM}),
    # areas where traffic rules apply (RheinSchPV; see FORMAT.md "Rule zones")
    "rule_zone": (("Polygon", "MultiPolygon"), {"name": _STR, "kind": _STR},
                  {"of": _STR, "articles": _LIST, "turn_before_entry": _BOOL, "narrow": _BOOL, "gauge": _STR}),
}

_ENUMS = {
    ("water", "kind"): ("river", "canal", "harbour", "basin", "lock", "mouth"),
    ("obstacle", "kind"): ("pier", "island", "mole", "bridge_pier", "structure"),
    ("lane", "direction"): ("forward", "both"),
    ("lane", "role"): ("upstream", "downstream", "channel"),
    ("rule_zone", "kind"): ("harbour_mouth", "harbour_entry", "turning_area", "narrow", "bridge_opening",
                            "berth_area", "regulated_meeting", "high_water"),
}

_POSITIVE = {("lane", "width_m"), ("berth", "length_m"), ("lock", "chamber_length_m"),
             ("lock", "chamber_width_m"), ("current", "influence_m"), ("current", "bank_ramp_m")}
_NON_NEGATIVE = {("bridge", "clearance_m"), ("cell_site", "height_m"), ("current", "speed_ms"),
                 ("bridge", "span_m")}


def _is_num(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_kind(v, kind) -> bool:
    if kind is None:
        return True
    if kind == _STR:
        return isinstance(v, str) and v != ""
    if kind == _NUM:
        return _is_num(v)
    if kind == _BOOL:
        return isinstance(v, bool)
    if kind == _LIST:
        return isinstance(v, list)
    if kind == _DICT:
        return isinstance(v, dict)
    raise AssertionError(kind)


class _Ctx:
    def __init__(self, label: str):
        self.label = label

    def meta(self, msg: str) -> MapError:
        return MapError(f"{self.label}: metadata: {msg}")

    def top(self, msg: str) -> MapError:
        return MapError(f"{self.label}: {msg}")

    def feat(self, fid, idx: int, msg: str) -> MapError:
        who = f"feature {fid!r} (#{idx})" if fid is not None else f"feature #{idx}"
        return MapError(f"{self.label}: {who}: {msg}")


# ------------------------------------------------------------------------------------------------
# metadata

def _validate_metadata(md, ctx: _Ctx) -> dict:
    if not isinstance(md, dict):
        raise ctx.top("missing top-level 'metadata' object")
    required = {"format_version": None, "name": _STR, "title": _STR, "crs": _STR, "origin": _DICT,
                "extent": _LIST, "accuracy": _DICT, "sources": _LIST, "licence": _STR}
    for key, kind in required.items():
        if key not in md:
            raise ctx.meta(f"missing required key {key!r}")
        if kind is not None and not _check_kind(md[key], kind):
            raise ctx.meta(f"{key!r} must be a {'non-empty string' if kind == _STR else kind}, got {md[key]!r}")
    if md["format_version"] != FORMAT_VERSION or isinstance(md["format_version"], bool):
        raise ctx.meta(f"unsupported format_version {md['format_version']!r} (expected {FORMAT_VERSION})")
    o = md["origin"]
    if not (_is_num(o.get("lon")) and _is_num(o.get("lat"))):
        raise ctx.meta(f"'origin' must be {{'lon': number, 'lat': number}}, got {o!r}")
    ext = md["extent"]
    if len(ext) != 4 or not all(_is_num(v) for v in ext):
        raise ctx.meta(f"'extent' must be [lon_min, lat_min, lon_max, lat_max], got {ext!r}")
    if not (ext[0] < ext[2] and ext[1] < ext[3]):
        raise ctx.meta(f"'extent' is empty or inverted: {ext!r}")
    if not (-180 <= ext[0] and ext[2] <= 180 and -90 <= ext[1] and ext[3] <= 90):
        raise ctx.meta(f"'extent' is outside WGS84 longitude/latitude ranges: {ext!r}")
    if not (ext[0] <= o["lon"] <= ext[2] and ext[1] <= o["lat"] <= ext[3]):
        raise ctx.meta(f"'origin' {o!r} lies outside 'extent'")
    acc = md["accuracy"]
    if not (_is_num(acc.get("horizontal_m")) and acc["horizontal_m"] >= 0 and _check_kind(acc.get("statement"), _STR)):
        raise ctx.meta("'accuracy' must be {'horizontal_m': number >= 0, 'statement': non-empty string}")
    if not md["sources"] or not all(_check_kind(s, _STR) for s in md["sources"]):
        raise ctx.meta("'sources' must be a non-empty list of strings")
    res = md.get("raster_resolution_m", DEFAULT_RESOLUTION_M)
    if not _is_num(res) or not (0 < res <= MAX_RESOLUTION_M):
        raise ctx.meta(f"'raster_resolution_m' must be a number in (0, {MAX_RESOLUTION_M}], got {res!r}")
    if "default_discharge_m3s" in md:
        q = md["default_discharge_m3s"]
        if not _is_num(q) or q < 0:
            raise ctx.meta(f"'default_discharge_m3s' must be a number >= 0, got {q!r}")
    if "synthetic" in md and not isinstance(md["synthetic"], bool):
        raise ctx.meta(f"'synthetic' must be a boolean, got {md['synthetic']!r}")
    return md


# ------------------------------------------------------------------------------------------------
# geometry checks on raw coordinates (lon/lat)

def _coords_array(c, depth: int, fail):
    """Check nesting depth and numeric finiteness; return list structure."""
    if depth == 0:
        if not (isinstance(c, list | tuple) and len(c) in (2, 3) and all(_is_num(v) for v in c)):
            fail(f"invalid position {c!r} (expected [lon, lat])")
        return
    if not isinstance(c, list | tuple):
        fail(f"invalid coordinates: expected a nested list, got {type(c).__name__}")
    for item in c:
        _coords_array(item, depth - 1, fail)


def _check_ring(ring, where: str, fail):
    if len(ring) < 4:
        fail(f"{where} has too few points ({len(ring)}, need at least 4 including the closing point)")
    if list(ring[0][:2]) != list(ring[-1][:2]):
        fail(f"{where} is not closed (first point {list(ring[0][:2])} != last point {list(ring[-1][:2])})")


def _validate_geometry(geom, allowed: tuple[str, ...], fail):
    if not isinstance(geom, dict) or "type" not in geom:
        fail("missing geometry")
    gtype = geom["type"]
    if gtype not in allowed:
        fail(f"geometry type {gtype!r} is not allowed for this feature type (expected {' or '.join(allowed)})")
    coords = geom.get("coordinates")
    depth = {"Point": 0, "LineString": 1, "Polygon": 2, "MultiPolygon": 3}[gtype]
    _coords_array(coords, depth, fail)
    if gtype == "LineString":
        if len(coords) < 2:
            fail(f"line has too few points ({len(coords)}, need at least 2)")
        if len({tuple(p[:2]) for p in coords}) < 2:
            fail("line has zero length")
    elif gtype in ("Polygon", "MultiPolygon"):
        polys = [coords] if gtype == "Polygon" else coords
        if not polys:
            fail("multipolygon has no polygons")
        for pi, poly in enumerate(polys):
            if not poly:
                fail(f"polygon {pi} has no rings")
            for ri, ring in enumerate(poly):
                _check_ring(ring, f"ring {ri} of polygon {pi}", fail)
    try:
        g = shape(geom)
    except Exception as e:  # noqa: BLE001 - any shapely construction error is a format error
        fail(f"invalid geometry: {e}")
    if gtype in ("Polygon", "MultiPolygon") and not g.is_valid:
        fail(f"invalid polygon: {explain_validity(g)} (self-intersecting or overlapping rings?)")
    return g


def _validate_properties(ftype: str, props: dict, n_vertices: int, fail):
    _, required, optional = FEATURE_TYPES[ftype]
    for key, kind in required.items():
        if key not in props:
            fail(f"missing required property {key!r} for type {ftype!r}")
        if not _check_kind(props[key], kind):
            fail(f"property {key!r} must be a {'non-empty string' if kind == _STR else kind}, got {props[key]!r}")
    for key, kind in optional.items():
        if key in props and props[key] is not None and not _check_kind(props[key], kind):
            fail(f"property {key!r} must be a {'non-empty string' if kind == _STR else kind}, got {props[key]!r}")
    for (t, key), allowed in _ENUMS.items():
        if t == ftype and key in props and props[key] not in allowed:
            fail(f"property {key!r} is {props[key]!r}, expected one of {', '.join(allowed)}")
    for t, key in _POSITIVE:
        if t == ftype and props.get(key) is not None and not props[key] > 0:
            fail(f"property {key!r} must be > 0, got {props[key]!r}")
    for t, key in _NON_NEGATIVE:
        if t == ftype and props.get(key) is not None and not props[key] >= 0:
            fail(f"property {key!r} must be >= 0, got {props[key]!r}")
    if ftype == "lane" and props.get("km") is not None:
        km = props["km"]
        if len(km) != n_vertices:
            fail(f"'km' list has {len(km)} values but the line has {n_vertices} vertices")
        if not all(_is_num(v) for v in km):
            fail("'km' list must contain only numbers")
    if ftype == "gauge" and props.get("marks_m") is not None:
        marks = props["marks_m"]
        if not marks or not all(_is_num(v) for v in marks) or any(b <= a for a, b in zip(marks, marks[1:], strict=False)):
            fail(f"'marks_m' must be a non-empty list of strictly increasing numbers, got {marks!r}")
    if ftype == "rule_zone" and props.get("articles") is not None:
        if not all(isinstance(a, str) and a for a in props["articles"]):
            fail(f"'articles' must be a list of non-empty strings, got {props['articles']!r}")
    if ftype == "cell_site":
        sec = props["sectors_deg"]
        if not all(_is_num(v) for v in sec):
            fail(f"'sectors_deg' must be a list of numbers, got {sec!r}")
    if ftype == "current":
        has_speed = props.get("speed_ms") is not None
        table = props.get("velocity_table")
        if not has_speed and table is None:
            fail("current needs either 'speed_ms' or 'velocity_table'")
        if table is not None:
            if not table or not all(isinstance(r, list) and len(r) == 2 and all(_is_num(v) for v in r) for r in table):
                fail("'velocity_table' must be a non-empty list of [discharge_m3s, speed_ms] pairs")
            q = [r[0] for r in table]
            if any(b <= a for a, b in zip(q, q[1:], strict=False)):
                fail(f"'velocity_table' discharges must be strictly increasing, got {q}")
            if any(r[1] < 0 or r[0] < 0 for r in table):
                fail("'velocity_table' discharges and speeds must be >= 0")


# ------------------------------------------------------------------------------------------------

def parse_map_dict(data, label: str = "<map>") -> ParsedMap:
    """Validate a decoded GeoJSON map and project it to the local frame."""
    ctx = _Ctx(label)
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ctx.top("not a GeoJSON FeatureCollection (top-level 'type' must be 'FeatureCollection')")
    md = _validate_metadata(data.get("metadata"), ctx)
    try:
        frame = LocalFrame(md["crs"], md["origin"]["lon"], md["origin"]["lat"])
    except Exception as e:  # noqa: BLE001
        raise ctx.meta(f"invalid 'crs' {md['crs']!r}: {e}") from None
    feats_raw = data.get("features")
    if not isinstance(feats_raw, list):
        raise ctx.top("'features' must be a list")

    ext = md["extent"]
    # tolerance of ~1e-9 deg for coordinates on the extent boundary
    eps = 1e-9
    extent_ll = shapely.box(ext[0] - eps, ext[1] - eps, ext[2] + eps, ext[3] + eps)

    def to_local(coords):
        return frame.coords_to_local(coords)

    features: list[Feature] = []
    seen: dict[str, int] = {}
    for idx, f in enumerate(feats_raw):
        fid = f.get("id") if isinstance(f, dict) else None

        def fail(msg, _fid=fid, _idx=idx):
            raise ctx.feat(_fid, _idx, msg)

        if not isinstance(f, dict) or f.get("type") != "Feature":
            fail("not a GeoJSON Feature")
        if not isinstance(fid, str) or not fid:
            fail("missing or non-string 'id' (every feature needs a unique string id)")
        if fid in seen:
            fail(f"duplicate id (also used by feature #{seen[fid]})")
        seen[fid] = idx
        props = f.get("properties")
        if not isinstance(props, dict):
            fail("missing 'properties' object")
        ftype = props.get("type")
        if ftype not in FEATURE_TYPES:
            fail(f"unknown feature type {ftype!r} (expected one of {', '.join(FEATURE_TYPES)})")
        allowed, _, _ = FEATURE_TYPES[ftype]
        g_ll = _validate_geometry(f.get("geometry"), allowed, fail)
        n_vertices = len(f["geometry"]["coordinates"]) if f["geometry"]["type"] == "LineString" else 0
        _validate_properties(ftype, props, n_vertices, fail)
        if not extent_ll.covers(g_ll):
            b = [round(v, 6) for v in g_ll.bounds]
            fail(f"geometry lies (partly) outside the map extent {ext} (feature bounds {b})")
        g = shapely.transform(g_ll, to_local)
        if g.geom_type in ("Polygon", "MultiPolygon") and not g.is_valid:
            fail(f"polygon becomes invalid after projection: {explain_validity(g)}")
        features.append(Feature(fid, ftype, dict(props), g, idx))

    if not any(ft.type in ("water", "lock") for ft in features):
        raise ctx.top("map has no 'water' features")

    # projected extent: densify the lon/lat rectangle so the curved edges are followed
    n = 64
    lon = np.concatenate([np.linspace(ext[0], ext[2], n), np.full(n, ext[2]),
                          np.linspace(ext[2], ext[0], n), np.full(n, ext[0])])
    lat = np.concatenate([np.full(n, ext[1]), np.linspace(ext[1], ext[3], n),
                          np.full(n, ext[3]), np.linspace(ext[3], ext[1], n)])
    ex, ey = frame.to_local(lon, lat)
    extent_local = shapely.Polygon(np.column_stack([ex, ey]))
    return ParsedMap(md, frame, features, extent_local, label)


def parse_map_file(path) -> tuple[ParsedMap, bytes]:
    """Read, validate and project a map file.  Returns the parsed map and the raw file bytes."""
    path = Path(path)
    label = path.name
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise MapError(f"{label}: cannot read map file: {e}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MapError(f"{label}: not valid JSON: {e}") from None
    return parse_map_dict(data, label), raw
