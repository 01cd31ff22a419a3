"""Rebuild a generated map with surveyed water polygons (``testbed map build NAME --water-from FILE``).

The project's map keeps its semantic features (lanes with km, berths, bridges, locks, weirs and piers,
gauge, km markers, cell sites, currents); only its ``water`` polygons are replaced by the ``water``
features of ``FILE`` (a map written by ``testbed map import``, e.g. from an OpenStreetMap extract).
Features that must lie in water and do not are snapped onto it:

* a lane vertex or a berth on land moves to the nearest point ``clearance_m`` inside the new water
  (lanes keep their vertex count, so their ``km`` lists stay valid), if that is at most ``max_snap_m``
  away; a lock chamber stays where it is (it is water of its own);
* a bridge must still cross water, a cell site must stay on land.

Everything that could not be kept or snapped is listed in the report by feature id, with why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import LineString, Point, mapping, shape
from shapely.ops import unary_union

from harbour_maps.format import MapError, parse_map_dict
from harbour_maps.geodesy import LocalFrame

GENERATORS = {"duisburg_ruhrort": "harbour_maps.build.duisburg"}


@dataclass
class WaterFromReport:
    water_in: int = 0  # water features taken from the surveyed file
    water_out: int = 0  # generated water features replaced
    kept: list = field(default_factory=list)  # ids unchanged
    snapped: list = field(default_factory=list)  # (id, metres moved at most)
    on_land: list = field(default_factory=list)  # (id, why)

    def summary(self) -> str:
        lines = [f"water: {self.water_out} generated polygons replaced by {self.water_in} surveyed ones",
                 f"semantic features kept in place: {len(self.kept)}",
                 f"snapped onto the surveyed water: {len(self.snapped)}"]
        lines += [f"  {fid}: moved up to {d:.0f} m" for fid, d in self.snapped]
        lines.append(f"on land / not crossing water (not fixed): {len(self.on_land)}")
        lines += [f"  {fid}: {why}" for fid, why in self.on_land]
        return "\n".join(lines)


def generate(name: str) -> dict:
    """The generated map ``name`` as a GeoJSON dict (its generator's ``build()``)."""
    import importlib

    if name not in GENERATORS:
        raise MapError(f"no generator for map {name!r} (maps with a generator: {', '.join(sorted(GENERATORS))})")
    return importlib.import_module(GENERATORS[name]).build()


def _load_water(path: Path) -> list[dict]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MapError(f"{path}: file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MapError(f"{path}: not a GeoJSON map ({e})") from None
    parse_map_dict(data, str(path))  # a valid map (e.g. from testbed map import)
    water = [f for f in data["features"] if f["properties"]["type"] == "water"]
    if not water:
        raise MapError(f"{path}: has no water features")
    return water


def with_water_from(fc: dict, water_path, *, clearance_m: float = 10.0, max_snap_m: float = 300.0
                    ) -> tuple[dict, WaterFromReport]:
    """``fc`` (a map dict) with its water replaced by the water of ``water_path``; returns (map, report)."""
    surveyed = _load_water(Path(water_path))
    md = fc["metadata"]
    frame = LocalFrame(md["crs"], md["origin"]["lon"], md["origin"]["lat"])

    def to_local(g):
        return shapely.transform(g, frame.coords_to_local)

    def to_wgs(g):
        return shapely.set_precision(shapely.transform(g, frame.coords_to_wgs84), 1e-7)

    rep = WaterFromReport(water_in=len(surveyed))
    feats = [f for f in fc["features"] if f["properties"]["type"] != "water"]
    rep.water_out = len(fc["features"]) - len(feats)
    for f in surveyed:
        f = json.loads(json.dumps(f))
        f["id"] = "surveyed-" + str(f["id"])
        feats.append(f)
    locks = [to_local(shape(f["geometry"])) for f in feats if f["properties"]["type"] == "lock"]
    obstacles = [to_local(shape(f["geometry"])) for f in feats if f["properties"]["type"] == "obstacle"]
    water = unary_union([to_local(shape(f["geometry"])) for f in surveyed] + locks)
    nav = water.difference(unary_union(obstacles)) if obstacles else water
    inner = nav.buffer(-clearance_m)
    inner = inner if not inner.is_empty else nav

    def snap(xy):
        """(new xy, metres moved) or (None, distance) when too far."""
        p = Point(xy)
        if nav.contains(p):
            return np.asarray(xy, float), 0.0
        q = shapely.ops.nearest_points(inner, p)[0]
        d = p.distance(q)
        return (np.array([q.x, q.y]), d) if d <= max_snap_m else (None, d)

    for f in feats:
        t, fid = f["properties"]["type"], f["id"]
        if fid.startswith("surveyed-") or t in ("water", "lock", "obstacle", "current", "km_marker", "gauge"):
            continue
        g = to_local(shape(f["geometry"]))
        if t == "lane":
            xy = np.array(g.coords)
            moved, out = 0.0, []
            for v in xy:
                q, d = snap(v)
                if q is None:
                    break
                moved = max(moved, d)
                out.append(q)
            if len(out) < len(xy):
                rep.on_land.append((fid, f"a vertex lies {d:.0f} m from the surveyed water (> {max_snap_m:.0f} m)"))
                continue
            line = LineString(out)
            dry = [s for s in np.arange(0.0, line.length, 5.0) if not nav.contains(line.interpolate(s))]
            if dry:
                rep.on_land.append((fid, f"crosses land {len(dry) * 5} m after snapping (first at {dry[0]:.0f} m)"))
            if moved > 0:
                f["geometry"] = mapping(to_wgs(line))
                rep.snapped.append((fid, moved))
            elif not dry:
                rep.kept.append(fid)
        elif t == "berth":
            q, d = snap(np.array(g.coords[0]))
            if q is None:
                rep.on_land.append((fid, f"{d:.0f} m from the surveyed water (> {max_snap_m:.0f} m)"))
            elif d > 0:
                f["geometry"] = mapping(to_wgs(Point(q)))
                rep.snapped.append((fid, d))
            else:
                rep.kept.append(fid)
        elif t == "bridge":
            if g.intersects(nav):
                rep.kept.append(fid)
            else:
                rep.on_land.append((fid, "the deck no longer crosses water"))
        elif t == "cell_site":
            if nav.contains(Point(g.coords[0])):
                rep.on_land.append((fid, "the site now lies in the surveyed water"))
            else:
                rep.kept.append(fid)
        else:
            rep.kept.append(fid)

    allg = unary_union([shape(f["geometry"]) for f in feats])
    lon0, lat0, lon1, lat1 = allg.bounds
    pad = 0.002
    out_md = dict(md)
    out_md["extent"] = [round(lon0 - pad, 4), round(lat0 - pad, 4), round(lon1 + pad, 4), round(lat1 + pad, 4)]
    out_md["title"] = md["title"] + f" - water from {Path(water_path).name}"
    acc = dict(md["accuracy"])
    acc["statement"] = (f"Water polygons from {Path(water_path).name} (surveyed, e.g. OpenStreetMap); lanes, "
                        f"berths, bridges, locks, km and cell sites from the generated map, snapped onto that "
                        f"water where needed. Generated map: " + md["accuracy"]["statement"])
    out_md["accuracy"] = acc
    out_md["sources"] = [f"water: {Path(water_path).name} (OpenStreetMap contributors, ODbL 1.0, via testbed map "
                         f"import)"] + list(md["sources"])
    out_md["licence"] = ("ODbL 1.0 (water from OpenStreetMap, (c) OpenStreetMap contributors); " + md["licence"])
    out_md["attribution"] = "© OpenStreetMap contributors, ODbL 1.0 (openstreetmap.org/copyright)"
    out = {"type": "FeatureCollection", "metadata": out_md, "features": feats}
    parse_map_dict(json.loads(json.dumps(out)), f"{md['name']}.geojson")
    return out, rep
