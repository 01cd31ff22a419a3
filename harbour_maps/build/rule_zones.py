"""Rule zones (``rule_zone`` features) derived from the named features of a map being built.

The traffic rules (RheinSchPV) need areas: the water in front of each harbour mouth, the entrance of
each harbour, the turning areas in front of the Ruhrort entrances, the narrow fairways, the bridge
openings, the berth areas, the regulated-meeting section and the section governed by the high-water
gauge. They are derived here from the map's own named features (``water`` polygons and their ``kind``,
``bridge`` lines with ``span_m``, ``berth`` points, the ``gauge``), so that they follow the map when its
geometry is redrawn. Generators call :func:`rule_zone_features` at the end, on their local-frame
feature list (dicts with ``id``, ``type``, ``geometry`` as shapely, ``properties``), and append the
result. See FORMAT.md "Rule zones" for the meaning of each kind.
"""

from __future__ import annotations

import shapely
from shapely.ops import unary_union

MOUTH_RADIUS_M = 150.0  # water in front of a harbour mouth (§ 6.16, § 6.20)
ENTRY_DEPTH_M = 120.0  # the first metres of harbour water behind the river bank (§ 9.07 Nr. 5)
TURNING_RADIUS_M = 350.0  # river water in front of a Ruhrort entrance where downstream vessels turn
BRIDGE_HALF_WIDTH_M = 30.0  # bridge deck axis +- this: "under the bridge" (§ 6.24, § 7.02)
NARROW_SPAN_M = 150.0  # a bridge opening narrower than this is a narrow fairway (§ 6.24)
BERTH_MARGIN_M = 60.0  # around a berthed vessel (§ 6.20)
SIDE_KINDS = ("mouth", "harbour", "basin", "canal", "river")
NARROW_KINDS = ("harbour", "basin", "canal")

# § 9.07 Nr. 5: the Ruhrort harbours a downstream vessel may enter only after turning to face upstream
RUHRORT_ENTRIES = ("hafenmund", "hafenkanal", "parallelhafen", "aussenhafen", "außenhafen", "hochfeld")


def _polys(g):
    """``g`` reduced to its polygonal part (a Polygon or MultiPolygon), or None when it has none."""
    if g is None or g.is_empty:
        return None
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in getattr(g, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    return unary_union(parts) if parts else None


def rule_zone_features(features: list[dict], *, regulated_meeting: bool = False,
                       ruhrort_names: tuple[str, ...] = RUHRORT_ENTRIES) -> list[dict]:
    """The ``rule_zone`` features of a map from its ``water``, ``bridge``, ``berth`` and ``gauge`` features.

    ``regulated_meeting``: the main river is a section of regulated meeting (RheinSchPV § 9.04; true for
    the Rhine from Duisburg km 769 to the Dutch border). A harbour whose name contains one of
    ``ruhrort_names`` (case-insensitive) gets ``turn_before_entry`` (§ 9.07 Nr. 5) and a turning area."""
    water = [f for f in features if f["type"] == "water"]
    rivers = [f for f in water if f["properties"].get("kind") == "river"]
    if not rivers:
        return []
    main = max(rivers, key=lambda f: f["geometry"].area)
    river = main["geometry"]
    all_water = unary_union([f["geometry"] for f in water])
    out: list[dict] = []

    def add(fid, geom, name, kind, articles, **props):
        geom = _polys(shapely.make_valid(geom))
        if geom is None or geom.area < 1.0:
            return
        props = {k: v for k, v in props.items() if v is not None}
        out.append({"id": fid, "type": "rule_zone", "geometry": geom,
                    "properties": {"name": name, "kind": kind, "articles": articles, **props}})

    # harbour mouths, entrances and (Ruhrort) turning areas -----------------------------------------
    for f in water:
        if f is main or f["properties"].get("kind") not in SIDE_KINDS:
            continue
        g = f["geometry"]
        if not g.intersects(river):
            continue
        opening = river.boundary.intersection(g)
        if opening.is_empty or opening.length < 1.0:
            continue
        name = f["properties"]["name"]
        base = f["id"].removeprefix("water-")
        turn = any(k in name.lower() for k in ruhrort_names)
        add(f"zone-mouth-{base}", opening.buffer(MOUTH_RADIUS_M).intersection(all_water),
            f"{name}: harbour mouth", "harbour_mouth", ["6.16", "6.20", "7.02"], of=f["id"])
        add(f"zone-entry-{base}", g.difference(river).intersection(opening.buffer(ENTRY_DEPTH_M)),
            f"{name}: entrance", "harbour_entry", ["9.07", "7.02"] if turn else ["7.02"], of=f["id"],
            turn_before_entry=turn)
        if turn:
            add(f"zone-turn-{base}", opening.buffer(TURNING_RADIUS_M).intersection(river),
                f"{name}: turning area", "turning_area", ["9.07", "7.02"], of=f["id"])

    # narrow fairways ----------------------------------------------------------------------------------
    narrow = [f["geometry"] for f in water if f["properties"].get("kind") in NARROW_KINDS]
    if narrow:
        add("zone-narrow", unary_union(narrow).difference(river), "Harbour canals and basins (narrow fairway)",
            "narrow", ["6.07", "6.08"])

    # bridge openings ----------------------------------------------------------------------------------
    for f in features:
        if f["type"] != "bridge":
            continue
        span = f["properties"].get("span_m")
        is_narrow = span is not None and span < NARROW_SPAN_M
        add(f"zone-{f['id']}", f["geometry"].buffer(BRIDGE_HALF_WIDTH_M, cap_style="flat").intersection(all_water),
            f"under {f['properties']['name']}", "bridge_opening", ["6.24", "7.02"] if is_narrow else ["7.02"],
            of=f["id"], narrow=is_narrow)

    # berths -------------------------------------------------------------------------------------------
    berths = [f["geometry"].buffer(0.5 * f["properties"]["length_m"] + BERTH_MARGIN_M)
              for f in features if f["type"] == "berth"]
    if berths:
        add("zone-berths", unary_union(berths).intersection(all_water), "berths", "berth_area", ["6.20"])

    # sections ----------------------------------------------------------------------------------------
    rname = main["properties"]["name"]
    if regulated_meeting:
        add("zone-regulated-meeting", river, f"{rname}: regulated meeting", "regulated_meeting", ["9.04"])
    gauges = [f for f in features if f["type"] == "gauge" and f["properties"].get("marks_m")]
    if gauges:
        gid = gauges[0]["id"]
        add("zone-high-water", river, f"{rname}: high-water marks of {gauges[0]['properties']['name']}",
            "high_water", ["10.01"], gauge=gid)
    return out
