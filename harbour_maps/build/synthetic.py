"""Generator of the synthetic curriculum/test maps (``python -m harbour_maps.build.synthetic``).

Writes into ``harbour_maps/maps/``:

* ``synthetic_channel`` - a straight canal 2 km long and 150 m wide (x in [-1000, 1000],
  y in [-75, 75] local metres), one lane each way 37.5 m either side of the axis, km markers every
  500 m.  Water area 300 000 m^2.
* ``synthetic_river_bend`` - a river 300 m wide: 800 m straight east, a 90 deg left bend of
  centreline radius 600 m, 800 m straight north; a current reach on the centreline with a velocity
  table, upstream/downstream lanes with river-km, km markers and a gauge.
* ``synthetic_basin_entry`` - a straight river 3 km x 300 m with a side basin (150 m x 600 m) on
  its north bank, a quay with three berths, a bridge with two piers, a constant current, lanes and
  a cell site.
* ``synthetic_crossing`` - a 250 m river crossing a 80 m canal at right angles, with a lock
  chamber at the north end of the canal and lanes on both waterways.

All geometry is constructed in the local metric frame (EPSG:32632 minus the origin at
51.30 N, 6.60 E, west of Duisburg) and converted to WGS84 with :class:`LocalFrame`, rounded to
1e-8 deg (~1 mm).  The maps are synthetic (``synthetic: true``), CC0.  The exact local geometry
(the constants below) is what the tests compare against.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon, mapping

from atomicio import write_text
from harbour_maps.geodesy import LocalFrame

MAPS_DIR = Path(__file__).resolve().parents[1] / "maps"
CRS = "EPSG:32632"
ORIGIN = (6.60, 51.30)  # lon, lat
DIGITS = 8

CHANNEL = {"length": 2000.0, "width": 150.0, "lane_offset": 37.5}
BEND = {"R": 600.0, "width": 300.0, "straight": 800.0, "arc_points": 91, "km0": 700.0,
        "table": [[500.0, 0.8], [2000.0, 1.5], [6000.0, 2.5]], "default_discharge": 2000.0,
        "influence": 400.0, "ramp": 60.0, "lane_offset": 60.0}
BASIN = {"river_length": 3000.0, "river_width": 300.0, "basin_x": (-75.0, 75.0), "basin_len": 600.0,
         "speed": 1.2, "influence": 160.0, "pier": 10.0, "pier_y": (-50.0, 50.0), "bridge_x": 800.0}
CROSSING = {"river_len": 3000.0, "river_width": 250.0, "canal_len": 2400.0, "canal_width": 80.0,
            "lock_len": 200.0, "lock_width": 24.0}


class _Builder:
    def __init__(self, name: str, title: str, description: str, resolution: float = 5.0, **extra_md):
        self.frame = LocalFrame(CRS, *ORIGIN)
        self.name = name
        self.features: list[dict] = []
        self.local: list[dict] = []  # the same features in the local frame (for derived rule zones)
        self.md = {
            "format_version": 1, "name": name, "title": title, "crs": CRS,
            "origin": {"lon": ORIGIN[0], "lat": ORIGIN[1]},
            "extent": None,
            "accuracy": {"horizontal_m": 0.01, "statement": "Synthetic geometry, exact by construction "
                         "in the local frame (coordinates rounded to 1e-8 deg, ~1 mm). Not a real place."},
            "sources": ["harbour_maps/build/synthetic.py (generated)"],
            "licence": "CC0-1.0",
            "raster_resolution_m": resolution,
            "synthetic": True,
            "description": description,
        }
        self.md.update(extra_md)

    def _ll(self, geom):
        def f(c):
            return np.round(self.frame.coords_to_wgs84(c), DIGITS)
        return shapely.transform(geom, f)

    def add(self, fid: str, ftype: str, geom, **props):
        g = mapping(self._ll(geom))
        g = json.loads(json.dumps(g))  # tuples -> lists
        self.features.append({"type": "Feature", "id": fid, "properties": {"type": ftype, **props},
                              "geometry": g})
        self.local.append({"id": fid, "type": ftype, "geometry": geom, "properties": props})

    def add_rule_zones(self, **kw) -> None:
        """Append the traffic-rule zones derived from the features so far (harbour_maps.build.rule_zones)."""
        from harbour_maps.build.rule_zones import rule_zone_features

        for z in rule_zone_features(self.local, **kw):
            self.add(z["id"], "rule_zone", z["geometry"], **z["properties"])

    def write(self, local_bounds, out_dir: Path = MAPS_DIR) -> Path:
        xmin, ymin, xmax, ymax = local_bounds
        box = shapely.box(xmin, ymin, xmax, ymax).segmentize(50.0)
        lon_min, lat_min, lon_max, lat_max = self._ll(box).bounds
        self.md["extent"] = [round(lon_min, 6) - 1e-6, round(lat_min, 6) - 1e-6,
                             round(lon_max, 6) + 1e-6, round(lat_max, 6) + 1e-6]
        data = {"type": "FeatureCollection", "metadata": self.md, "features": self.features}
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{self.name}.geojson"
        text = json.dumps(data, indent=1) + "\n"
        write_text(path, text)
        return path


def _arc(cx, cy, r, a0, a1, n):
    """Points on a circle (math angles, radians)."""
    a = np.linspace(a0, a1, n)
    return np.column_stack([cx + r * np.cos(a), cy + r * np.sin(a)])


def _offset(line: np.ndarray, d: float) -> np.ndarray:
    """Offset a polyline by d metres to starboard (right of the vertex order); vertex normals averaged."""
    t = np.gradient(line, axis=0)
    t /= np.hypot(t[:, 0], t[:, 1])[:, None]
    n = np.column_stack([t[:, 1], -t[:, 0]])
    return line + d * n


def _km_markers(b: _Builder, line: np.ndarray, km: np.ndarray, waterway: str, step: float, prefix: str):
    ls = LineString(line)
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(line, axis=0).T))])
    k0, k1 = km[0], km[-1]
    first = math.ceil(min(k0, k1) / step - 1e-9) * step
    for k in np.arange(first, max(k0, k1) + 1e-9, step):
        sk = np.interp(k, km, s) if k1 > k0 else np.interp(-k, -km, s)
        p = ls.interpolate(sk)
        b.add(f"{prefix}_km_{k:.1f}".replace(".", "_"), "km_marker", p, km=round(float(k), 3), waterway=waterway)


def channel() -> _Builder:
    c = CHANNEL
    L, W, o = c["length"], c["width"], c["lane_offset"]
    b = _Builder("synthetic_channel", "Synthetic straight channel, 2 km x 150 m",
                 "Straight canal along local x, x in [-1000, 1000] m, y in [-75, 75] m.")
    b.add("channel", "water", shapely.box(-L / 2, -W / 2, L / 2, W / 2), name="Synthetic Canal", kind="canal",
          waterway="Synthetic Canal")
    xs = np.linspace(-L / 2, L / 2, 5)
    km = (xs + L / 2) / 1000.0
    b.add("lane_east", "lane", LineString(np.column_stack([xs, np.full_like(xs, -o)])), name="eastbound",
          waterway="Synthetic Canal", direction="forward", width_m=60.0, role="channel", km=km.round(6).tolist())
    b.add("lane_west", "lane", LineString(np.column_stack([xs[::-1], np.full_like(xs, o)])), name="westbound",
          waterway="Synthetic Canal", direction="forward", width_m=60.0, role="channel",
          km=km[::-1].round(6).tolist())
    for x, k in zip(xs, km, strict=True):
        b.add(f"km_{k:.1f}".replace(".", "_"), "km_marker", shapely.Point(x, W / 2 + 5.0), km=round(float(k), 3),
              waterway="Synthetic Canal")
    b.bounds = (-L / 2 - 150, -W / 2 - 150, L / 2 + 150, W / 2 + 150)
    return b


def bend_centreline() -> np.ndarray:
    c = BEND
    R, S = c["R"], c["straight"]
    arc = _arc(0.0, R, R, -math.pi / 2, 0.0, c["arc_points"])  # (0,0) -> (R, R), turning left
    start = np.array([[-S, 0.0]])
    end = np.array([[R, R + S]])
    return np.vstack([start, arc, end])


def river_bend() -> _Builder:
    c = BEND
    R, S, W = c["R"], c["straight"], c["width"]
    b = _Builder("synthetic_river_bend", "Synthetic river bend, 90 deg, 300 m wide",
                 "Flow from west to east, then a 90 deg left bend (centre (0, 600), centreline radius 600 m) "
                 "to the north.", default_discharge_m3s=c["default_discharge"])
    cl = bend_centreline()
    arc_o = _arc(0.0, R, R + W / 2, -math.pi / 2, 0.0, c["arc_points"])
    arc_i = _arc(0.0, R, R - W / 2, -math.pi / 2, 0.0, c["arc_points"])
    right = np.vstack([[[-S, -W / 2]], arc_o, [[R + W / 2, R + S]]])  # starboard bank (outer)
    left = np.vstack([[[-S, W / 2]], arc_i, [[R - W / 2, R + S]]])
    poly = Polygon(np.vstack([right, left[::-1]]))
    b.add("river", "water", poly, name="Synthetic River", kind="river", waterway="Synthetic River")
    b.add("reach", "current", LineString(cl), name="bend reach", velocity_table=c["table"],
          influence_m=c["influence"], bank_ramp_m=c["ramp"])
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(cl, axis=0).T))])
    km = c["km0"] + s / 1000.0
    down = _offset(cl, c["lane_offset"])
    up = _offset(cl, -c["lane_offset"])[::-1]
    b.add("lane_down", "lane", LineString(down), name="downstream", waterway="Synthetic River",
          direction="forward", width_m=100.0, role="downstream", km=km.round(6).tolist())
    b.add("lane_up", "lane", LineString(up), name="upstream", waterway="Synthetic River",
          direction="forward", width_m=100.0, role="upstream", km=km[::-1].round(6).tolist())
    _km_markers(b, _offset(cl, -(W / 2 + 10)), km, "Synthetic River", 0.5, "river")
    b.add("gauge", "gauge", shapely.Point(-400.0, -W / 2 - 20), name="Synthetic gauge", km=round(c["km0"] + 0.4, 3))
    b.bounds = (-S - 200, -W / 2 - 200, R + W / 2 + 200, R + S + 200)
    return b


def basin_entry() -> _Builder:
    c = BASIN
    L, W = c["river_length"], c["river_width"]
    bx0, bx1 = c["basin_x"]
    b = _Builder("synthetic_basin_entry", "Synthetic river with a side basin, quay and berths",
                 "River along local x (flow east) 300 m wide; a 150 m x 600 m basin north of x in "
                 "[-75, 75]; quay on the east side of the basin; bridge with two piers at x = 800.")
    b.add("river", "water", shapely.box(-L / 2, -W / 2, L / 2, W / 2), name="Synthetic River", kind="river",
          waterway="Synthetic River")
    # the basin polygon reaches 5 m into the river so that the two overlap (no sliver along the shared edge)
    b.add("basin", "water", shapely.box(bx0, W / 2 - 5.0, bx1, W / 2 + c["basin_len"]), name="Basin A",
          kind="basin")
    b.add("reach", "current", LineString([(-L / 2, 0.0), (L / 2, 0.0)]), name="river reach", speed_ms=c["speed"],
          influence_m=c["influence"])
    frame = b.frame
    north_true = round(math.degrees(float(frame.grid_to_true(0.0))), 3)
    for k, y in enumerate((300.0, 450.0, 600.0)):
        b.add(f"berth_{k + 1}", "berth", shapely.Point(bx1 - 8.0, W / 2 + y - 100.0), name=f"Basin A berth {k + 1}",
              basin="Basin A", heading_deg=north_true, length_m=110.0, quay="Quay A east")
    bxp, p = c["bridge_x"], c["pier"] / 2
    b.add("bridge", "bridge", LineString([(bxp, -W / 2 - 30), (bxp, W / 2 + 30)]), name="Synthetic Bridge",
          clearance_m=9.1, span_m=100.0, waterway="Synthetic River")
    for k, y in enumerate(c["pier_y"]):
        b.add(f"bridge_pier_{k + 1}", "obstacle", shapely.box(bxp - p, y - p, bxp + p, y + p), kind="bridge_pier",
              bridge="bridge", name=f"Synthetic Bridge pier {k + 1}")
    xs = np.linspace(-L / 2, L / 2, 7)
    km = 800.0 + (xs + L / 2) / 1000.0
    b.add("lane_down", "lane", LineString(np.column_stack([xs, np.full_like(xs, -75.0)])), name="downstream",
          waterway="Synthetic River", direction="forward", width_m=100.0, role="downstream", km=km.round(6).tolist())
    b.add("lane_up", "lane", LineString(np.column_stack([xs[::-1], np.full_like(xs, 75.0)])), name="upstream",
          waterway="Synthetic River", direction="forward", width_m=100.0, role="upstream",
          km=km[::-1].round(6).tolist())
    b.add("lane_basin", "lane", LineString([(0.0, 0.0), (0.0, W / 2 + c["basin_len"] - 50)]), name="Basin A access",
          waterway="Basin A", direction="both", width_m=40.0, role="channel")
    _km_markers(b, np.array([[-L / 2, -W / 2 - 10], [L / 2, -W / 2 - 10]]), np.array([800.0, 803.0]),
                "Synthetic River", 0.5, "river")
    b.add("cell_1", "cell_site", shapely.Point(-200.0, W / 2 + 80), name="Synthetic mast", height_m=30.0,
          sectors_deg=[0.0, 120.0, 240.0], assumed=True, operator="none")
    b.bounds = (-L / 2 - 100, -W / 2 - 150, L / 2 + 100, W / 2 + c["basin_len"] + 150)
    b.add_rule_zones()
    return b


def crossing() -> _Builder:
    c = CROSSING
    L, W, CL, CW = c["river_len"], c["river_width"], c["canal_len"], c["canal_width"]
    b = _Builder("synthetic_crossing", "Synthetic crossing of a river and a canal",
                 "River along local x (250 m wide), canal along local y (80 m wide) crossing at the origin; "
                 "a lock chamber (24 m x 200 m) closes the north end of the canal.")
    b.add("river", "water", shapely.box(-L / 2, -W / 2, L / 2, W / 2), name="Synthetic River", kind="river",
          waterway="Synthetic River")
    b.add("canal", "water", shapely.box(-CW / 2, -CL / 2, CW / 2, CL / 2), name="Synthetic Canal", kind="canal",
          waterway="Synthetic Canal")
    lw = c["lock_width"] / 2
    # the chamber polygon reaches 5 m into the canal so that the two overlap
    b.add("lock", "lock", shapely.box(-lw, CL / 2 - 5.0, lw, CL / 2 + c["lock_len"]), name="Synthetic Lock",
          chamber_length_m=c["lock_len"], chamber_width_m=c["lock_width"], lift_m=4.0)
    xs = np.linspace(-L / 2, L / 2, 7)
    ys = np.linspace(-CL / 2, CL / 2, 7)
    b.add("river_east", "lane", LineString(np.column_stack([xs, np.full_like(xs, -60.0)])), name="river eastbound",
          waterway="Synthetic River", direction="forward", width_m=80.0, role="downstream",
          km=(500.0 + (xs + L / 2) / 1000).round(6).tolist())
    b.add("river_west", "lane", LineString(np.column_stack([xs[::-1], np.full_like(xs, 60.0)])),
          name="river westbound", waterway="Synthetic River", direction="forward", width_m=80.0, role="upstream",
          km=(500.0 + (xs[::-1] + L / 2) / 1000).round(6).tolist())
    b.add("canal_lane", "lane", LineString(np.column_stack([np.zeros_like(ys), ys])), name="canal",
          waterway="Synthetic Canal", direction="both", width_m=40.0, role="channel",
          km=((ys + CL / 2) / 1000).round(6).tolist())
    b.bounds = (-L / 2 - 100, -CL / 2 - 100, L / 2 + 100, CL / 2 + c["lock_len"] + 100)
    b.add_rule_zones()
    return b


def benchmark_map() -> _Builder:
    """A Duisburg-sized map (10 km x 6 km extent, ~7 % water) for benchmarks; not shipped."""
    x = np.linspace(-5000.0, 5000.0, 201)
    cl = np.column_stack([x, 600.0 * np.sin(x / 1600.0)])
    b = _Builder("synthetic_benchmark", "Synthetic Duisburg-sized benchmark map",
                 "A meandering 350 m river across a 10 km x 6 km extent with eight basins.",
                 default_discharge_m3s=2000.0)
    river = LineString(cl).buffer(175.0, cap_style="flat")
    basins = [shapely.box(x0, 300.0 + 600.0 * math.sin(x0 / 1600.0), x0 + 120.0, 1800.0 + 300 * (k % 3))
              for k, x0 in enumerate(np.linspace(-4500.0, 4200.0, 8))]
    b.add("river", "water", river, name="Benchmark River", kind="river")
    for k, bx in enumerate(basins):
        b.add(f"basin_{k}", "water", bx, name=f"Basin {k}", kind="basin")
        b.add(f"pier_{k}", "obstacle", shapely.box(bx.bounds[0] + 40, bx.bounds[3] - 400, bx.bounds[0] + 80,
                                                     bx.bounds[3] - 50), kind="pier")
    b.add("reach", "current", LineString(cl), name="reach", velocity_table=[[500, 0.8], [2000, 1.5], [6000, 2.5]])
    b.add("lane_down", "lane", LineString(_offset(cl, 60.0)), name="down", waterway="Benchmark River",
          direction="forward", width_m=100.0, km=(770 + (x + 5000) / 1000).round(6).tolist())
    b.add("lane_up", "lane", LineString(_offset(cl, -60.0)[::-1]), name="up", waterway="Benchmark River",
          direction="forward", width_m=100.0, km=(770 + (x[::-1] + 5000) / 1000).round(6).tolist())
    b.bounds = (-5000.0, -3000.0, 5000.0, 3000.0)
    return b


BUILDERS = {"synthetic_channel": channel, "synthetic_river_bend": river_bend,
            "synthetic_basin_entry": basin_entry, "synthetic_crossing": crossing}


def build(name: str, out_dir: Path = MAPS_DIR) -> Path:
    b = BUILDERS[name]()
    return b.write(b.bounds, out_dir)


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=MAPS_DIR, help="output directory (default: harbour_maps/maps)")
    ap.add_argument("names", nargs="*", default=list(BUILDERS), help="maps to build (default: all)")
    a = ap.parse_args(argv)
    for n in a.names:
        print(build(n, a.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
