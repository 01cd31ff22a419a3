"""The rule zones of a map (``rule_zone`` features, FORMAT.md "Rule zones") rasterised for the checker.

Each zone gets a bit; every water cell of the map's rasters gets the bit mask of the zones containing its
centre (``cell_bits``, indexed like the other per-water-cell tables: ``widx[cell]``, the last row is land).
Kind masks (``kind_mask[kind]``) select the zones of one kind. Built once per map and cached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MAX_ZONES = 62

KINDS = ("harbour_mouth", "harbour_entry", "turning_area", "narrow", "bridge_opening", "berth_area",
         "regulated_meeting", "high_water")
# index of the packed masks passed to the kernel
(M_MOUTH, M_ENTRY, M_TURN, M_NARROW, M_BRIDGE, M_BERTH, M_REGULATED, M_HIGHWATER, M_ENTRY_TURN,
 M_BRIDGE_NARROW) = range(10)
N_MASKS = 10


class RuleZoneError(ValueError):
    """A map lacks the rule zones a scenario's rules need, or has too many."""


@dataclass(frozen=True)
class ZoneTable:
    map_name: str
    ids: tuple[str, ...]
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    cell_bits: np.ndarray  # (n_water + 1,) int64
    masks: np.ndarray  # (N_MASKS,) int64
    gauge_marks: tuple[float, ...]  # high-water marks I, II [m] (empty: the map has none)
    gauge_name: str
    # (n_water + 1, 2): unit direction of the nearest lane where that lane is one-way (0 elsewhere): a vessel
    # heading against it is on the wrong side of the fairway (§ 9.04 / § 6.04 fault)
    lane_dir: np.ndarray

    def kind_count(self, kind: str) -> int:
        return sum(k == kind for k in self.kinds)

    def require(self, kinds, why: str) -> None:
        """Raise RuleZoneError naming the kinds of ``kinds`` this map has no zone of."""
        missing = [k for k in kinds if not self.kind_count(k)]
        if missing:
            raise RuleZoneError(f"map {self.map_name!r} has no rule zone(s) of kind {missing} that {why} needs "
                                f"(add 'rule_zone' features, see harbour_maps/FORMAT.md)")


def zone_label(zt: ZoneTable, k: int) -> str:
    return zt.names[k] if 0 <= k < len(zt.names) else "the zone"


@lru_cache(maxsize=8)
def zone_table(hmap) -> ZoneTable:
    """The rasterised rule zones of ``hmap`` (a loaded :class:`harbour_maps.HarbourMap`)."""
    import shapely

    feats = [f for f in hmap.features.values() if f.type == "rule_zone"] if isinstance(hmap.features, dict) \
        else [f for f in hmap.features if f.type == "rule_zone"]
    if len(feats) > MAX_ZONES:
        raise RuleZoneError(f"map {hmap.name!r} has {len(feats)} rule zones, at most {MAX_ZONES} are supported")
    R = hmap.rasters
    xy = R.water_xy()
    bits = np.zeros(R.n_water + 1, dtype=np.int64)
    masks = np.zeros(N_MASKS, dtype=np.int64)
    kind_slot = {k: i for i, k in enumerate(KINDS)}
    for k, f in enumerate(feats):
        g = f.geometry
        x0, y0, x1, y1 = g.bounds
        sel = np.flatnonzero((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1))
        inside = sel[shapely.contains_xy(g, xy[sel, 0], xy[sel, 1])]
        bit = np.int64(1) << np.int64(k)
        bits[inside] |= bit
        kind = f.properties["kind"]
        masks[kind_slot[kind]] |= bit
        if kind == "harbour_entry" and f.properties.get("turn_before_entry"):
            masks[M_ENTRY_TURN] |= bit
        if kind == "bridge_opening" and f.properties.get("narrow"):
            masks[M_BRIDGE_NARROW] |= bit
    marks: tuple[float, ...] = ()
    gname = ""
    gauges = [f for f in (hmap.features.values() if isinstance(hmap.features, dict) else hmap.features)
              if f.type == "gauge" and f.properties.get("marks_m")]
    if gauges:
        marks = tuple(float(v) for v in gauges[0].properties["marks_m"])
        gname = gauges[0].properties["name"]
    return ZoneTable(hmap.name, tuple(f.id for f in feats), tuple(f.properties["name"] for f in feats),
                     tuple(f.properties["kind"] for f in feats), bits, masks, marks, gname, lane_directions(hmap))


def first_bit(v: int) -> int:
    """Index of the lowest set bit of ``v`` (-1 for 0)."""
    return int(math.log2(v & -v)) if v else -1


def bits_at(zt: ZoneTable, hmap, x, y) -> np.ndarray:
    """Zone bit masks at points (x, y) (numpy; reset-time use, the kernels look up cells themselves)."""
    geo = hmap._geo
    nx, ny = geo[4], geo[5]
    fx = np.clip((np.asarray(x) - geo[0]) * geo[2], 0.0, nx - 1e-9)
    fy = np.clip((np.asarray(y) - geo[1]) * geo[2], 0.0, ny - 1e-9)
    fx = np.nan_to_num(fx, nan=0.0)
    fy = np.nan_to_num(fy, nan=0.0)
    cell = fx.astype(np.int64) + fy.astype(np.int64) * int(nx)
    return zt.cell_bits[hmap._widx_k[cell]]


def lane_directions(hmap, max_m: float = 200.0) -> np.ndarray:
    """Per water cell (and a zero land row) the unit direction of the nearest one-way lane within ``max_m``
    (zero where there is none: two-way channels, far from the fairway)."""
    import shapely

    R = hmap.rasters
    out = np.zeros((R.n_water + 1, 2))
    if not hmap.lanes:
        return out
    one_way = np.array([ln.direction != "both" for ln in hmap.lanes])
    segs = np.flatnonzero(one_way[hmap._seg_lane])
    if not segs.size:
        return out
    a = hmap._seg_a[segs]
    b = a + hmap._seg_d[segs]
    tree = shapely.STRtree(shapely.linestrings(np.stack([a, b], axis=1)))
    pi, si = tree.query_nearest(shapely.points(R.water_xy()), max_distance=max_m, all_matches=False)
    k = segs[si]
    out[pi] = hmap._seg_d[k] / np.sqrt(hmap._seg_len2[k])[:, None]
    return out
