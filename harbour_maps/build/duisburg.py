"""Generator of the shipped map ``duisburg_ruhrort`` (Rhine km 773.2-785.5 and the Ruhrort port).

Run ``python -m harbour_maps.build.duisburg`` to (re)write ``harbour_maps/maps/duisburg_ruhrort.geojson``.

No surveyed polygons of the port could be obtained offline, so the map is *derived* from reference
data copied into ``harbour_maps/build/data/`` (see ``harbour_maps/maps/PROVENANCE.md``), in the local
metric frame of the map (UTM 32N grid metres east and north of the origin, the Pegel Duisburg-Ruhrort
gauge house, reference point P1):

* **Rhine**: the centreline is the OpenStreetMap-derived district-boundary midline
  (``waterway_polylines.geojson``), resampled and smoothed over 900 m; banks 170 m either side. River-km
  by arc length between the published anchors (Bruecke der Solidaritaet 775.29, A40 Neuenkamp 778.34,
  Ruhr-mouth light 780.09, gauge 780.80), 1 km per 1000 m outside them.
* **Ruhr**: the Ruhrort|Kasslerfeld boundary (the same file) from the mouth to above the weir, shifted
  from the north bank at the mouth (the mouth light stands on it) to the south bank at the weir (the
  weir island lies 175 m north of the line); Ruhr-km by arc length from the mouth light. Ruhrwehr
  (150.88 m) at Ruhr-km 2.626, Ruhrschleuse (311 x 12.80 m) centred at Ruhr-km 2.5 north of the weir
  island, from the Hafenkanal (lower water) into the Ruhr above the weir.
* **Hafenkanal** from the harbour mouth just north of the Ruhr, crossed by the Karl-Lehr-Bruecke
  (Ruhr-km 1.934) over the Ruhr, the Hafenkanal, the former Kaiserhafen and the Vinckekanal, to the
  Ruhrschleuse and on to basins A, B, C (1,200 m long, 106 m wide, perpendicular to the Hafenkanal) and
  the Rhein-Herne-Kanal head (AX01) and Schleuse Meiderich (P9, 190 x 11.89 m).
* **Vinckekanal** from the harbour mouth under the Friedrich-Ebert-Bruecke to the Karl-Lehr-Bruecke,
  the Suedhafen branching from it.
* **Aussenhafen** on the Hochfeld|Neuenkamp boundary from Rhine-km 776.7 to the Sperrtor Marientor
  (11 m opening), **Innenhafen** along the Altstadt|Kasslerfeld boundary (its south quay) east of it;
  Parallelhafen north of the Aussenhafen; Rheinpreussen-Hafen (Homberg, left bank, Rhine-km 781.1,
  240 m canal, 500 x 75 m basin).

Positions of features no source pins (basin orientation, Suedhafen, Eisenbahnhafen, Parallelhafen,
the Rheinpreussen-Hafen basin's orientation) are plausible, not surveyed: see ``ACCURACY_GROUPS``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import pathlib

import numpy as np
import shapely
import shapely.ops
from pyproj import Geod
from shapely.geometry import LineString, Point, Polygon, mapping
from shapely.geometry.polygon import orient
from shapely.ops import unary_union

from atomicio import write_text
from harbour_maps.geodesy import LocalFrame

MAPS_DIR = pathlib.Path(__file__).resolve().parents[1] / "maps"
DATA_DIR = pathlib.Path(__file__).resolve().parent / "data"
REFERENCE_CSV = MAPS_DIR / "reference" / "duisburg_reference_points.csv"
VELOCITY_CSV = MAPS_DIR / "reference" / "rhine_bovenrijn_velocity_vs_discharge.csv"
V2_CSV = DATA_DIR / "duisburg_reference_points_v2.csv"
POLYLINES = DATA_DIR / "waterway_polylines.geojson"
KM_TICKS = DATA_DIR / "derived_rhine_km_ticks.geojson"
OUT_PATH = MAPS_DIR / "duisburg_ruhrort.geojson"

NAME = "duisburg_ruhrort"
CRS = "EPSG:32632"
MQ_RUHRORT = 2210.0  # m3/s, BfG gauge Duisburg-Ruhrort
MQ_LOBITH = 2300.0  # m3/s, approximate long-term mean at Lobith (scales the Bovenrijn table)
OSM_ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0 (openstreetmap.org/copyright)"

RHINE_HALF_WIDTH_M = 170.0
RHINE_KM_RANGE = (773.2, 785.5)
RHINE_SMOOTH_M = 900.0

# Ruhr (Ruhr-km = arc length along the boundary line from the mouth light's vertex)
RUHR_KM_KARL_LEHR = 1.934
RUHR_KM_LOCK = 2.5
RUHR_KM_WEIR = 2.626
RUHR_END_KM = 4.25  # the map's Ruhr ends here (above the weir, below the Berliner Bruecke at 4.3)
WEIR_WIDTH_M = 150.88
WEIR_ISLAND_N_M = 175.0  # the weir island lies this far north of the boundary line
LOCK_RUHR = (311.0, 12.80, 7.30)  # Ruhrschleuse: usable length, width, fall [m]
LOCK_RUHR_N_M = 197.0  # chamber axis north of the boundary line (beyond the weir island)
# centre offset of the Ruhr from the boundary line (+ north) and half-width, by Ruhr-km
RUHR_OFFSET = [(-0.3, -50.0, 60.0), (0.0, -50.0, 60.0), (RUHR_KM_KARL_LEHR, 0.0, 60.0), (2.35, 50.0, 68.0),
               (RUHR_KM_WEIR, 60.0, WEIR_WIDTH_M / 2.0), (2.9, 60.0, 72.0), (3.3, 55.0, 60.0), (RUHR_END_KM, 50.0, 55.0)]
LOCK_MEIDERICH = (190.0, 11.89, 7.35)

BASIN_LENGTH_M = 1200.0  # basins A, B, C (route-industriekultur.ruhr)
BASIN_WIDTH_M = 106.0
BASIN_ANGLE_DEG = 90.0  # basins branch off the Hafenkanal at right angles (orientation not published)
BASIN_ROOT_S = {"basin_a": 480.0, "basin_b": 750.0, "basin_c": 1020.0}  # islands ~125 m (Kohleninsel)
FUNNEL_M = 50.0  # chamfer of the basin entrances off the Hafenkanal [m] (assumed) ...
FUNNEL_IN_M = 80.0  # ... and on the side towards the harbour mouth, where ships turn in from
HK_WIDTH_M = 120.0
VK_WIDTH_M = 80.0
RHEINPREUSSEN_KM = 781.1
RHEINPREUSSEN = (240.0, 30.0, 500.0, 75.0)  # canal length, canal width, basin length, basin width
MARIENTOR_OPENING_M = 11.0
AH_WIDTH_M = 80.0
IH_WIDTH_M = 56.0
PARALLEL_OFFSET_M = 170.0

# Berths: (basin id, fraction along the basin centreline, side +1 starboard of the centreline direction
# or -1, length_m, name)
BERTHS = [
    ("basin_a", 0.30, +1, 110.0, "Hafenbecken A Ostkai 1"),
    ("basin_a", 0.60, -1, 110.0, "Hafenbecken A Westkai 2"),
    ("basin_b", 0.30, -1, 110.0, "Hafenbecken B Westkai 1"),
    ("basin_b", 0.60, +1, 135.0, "Hafenbecken B Ostkai 2"),
    ("basin_c", 0.30, +1, 135.0, "Hafenbecken C Ostkai 1"),
    ("basin_c", 0.60, -1, 110.0, "Hafenbecken C Westkai 2"),
    ("suedhafen", 0.40, +1, 110.0, "Suedhafen Ostkai 1"),
    ("suedhafen", 0.75, -1, 85.0, "Suedhafen Westkai 2"),
    ("parallelhafen", 0.45, -1, 110.0, "Parallelhafen Nordkai 1"),
    ("parallelhafen", 0.75, +1, 110.0, "Parallelhafen Suedkai 2"),
    ("aussenhafen", 0.45, -1, 135.0, "Aussenhafen Nordkai 1"),
    ("aussenhafen", 0.75, +1, 110.0, "Aussenhafen Suedkai 2"),
    ("eisenbahnhafen", 0.40, +1, 85.0, "Eisenbahnhafen Ostkai 1"),
    ("eisenbahnhafen", 0.75, -1, 85.0, "Eisenbahnhafen Westkai 2"),
]

BRIDGE_CLEARANCE_M = 9.10  # assumed: Lower Rhine minimum above HSW; actual values were not obtained
LANE_OFFSET_M = 40.0
RHINE_LANE_WIDTH_M = 70.0

# Per-feature-group uncertainty (metadata ``accuracy.groups``): horizontal metres and the basis.
ACCURACY_GROUPS = {
    "rhine_banks": (60.0, "OSM-derived district-boundary midline (bridge articles 0-84 m from it), "
                          "smoothed; constant 340 m width, banks not surveyed"),
    "rhine_km": (80.0, "arc length between 4 published km anchors; derived ticks agree within 0.1 km"),
    "ruhr": (75.0, "OSM-derived Ruhrort|Kasslerfeld boundary; bank vs centre not determinable"),
    "ruhr_weir_and_lock": (100.0, "Ruhr-km 2.626 / 2.5 and published dimensions; side of the lock from "
                                  "the weir island's position"),
    "hafenkanal_vinckekanal": (150.0, "placed just north of the Ruhr to fit the Karl-Lehr-Bruecke train "
                                      "(Ruhr, Hafenkanal, Kaiserhafen, Vinckekanal) and the harbour mouth "
                                      "under the Friedrich-Ebert-Bruecke; widths assumed"),
    "basins_abc": (300.0, "1,200 x 106 m published; roots along the Hafenkanal and orientation "
                          "(perpendicular to it) assumed"),
    "suedhafen_eisenbahnhafen": (300.0, "no coordinates found; placed from the published description"),
    "innenhafen": (50.0, "OSM-derived Altstadt|Kasslerfeld boundary (landmarks 0-33 m) taken as the south "
                         "quay; width assumed; the Portsmouthdamm (1999) is not modelled"),
    "aussenhafen_parallelhafen": (250.0, "OSM-derived corridor, low confidence which of the two parallel "
                                         "basins it follows; Parallelhafen placed 170 m north of it"),
    "rheinpreussen_hafen": (250.0, "Rhine-km 781.1 and 240 m canal, 500 x 75 m published; orientation assumed"),
    "meiderich_lock_rhk": (60.0, "Wikipedia coordinates of the canal head and lock"),
    "bridges_rhine": (60.0, "article coordinates; decks perpendicular to the flow (orientation not published)"),
    "berths_cell_sites_clearances": (300.0, "assumed"),
}


def read_reference_points(path: pathlib.Path = REFERENCE_CSV) -> dict[str, dict]:
    """The copied reference points (id -> row with float lat/lon where given)."""
    out = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            row = dict(row)
            for key in ("lat_deg", "lon_deg", "rhine_km"):
                row[key] = float(row[key]) if row.get(key) else None
            out[row["id"]] = row
    return out


def read_v2_points(path: pathlib.Path = V2_CSV) -> dict[str, dict]:
    """The v2 reference points (id -> row with float ``lat``/``lon``)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["lat"], r["lon"] = float(r["lat"]), float(r["lon"])
    return {r["id"]: r for r in rows}


def read_polylines(path: pathlib.Path = POLYLINES) -> dict[str, list]:
    """The waterway midlines: ``rhine``, ``ruhr``, ``innenhafen``, ``aussenhafen`` -> [(lon, lat), ...]."""
    with open(path, encoding="utf-8") as fh:
        fc = json.load(fh)
    keys = {"Rhein": "rhine", "Ruhr": "ruhr", "Innenhafen": "innenhafen", "Außenhafen": "aussenhafen"}
    out = {}
    for f in fc["features"]:
        for word, key in keys.items():
            if f["properties"]["water"].startswith(word):
                out[key] = f["geometry"]["coordinates"]
    if set(out) != set(keys.values()):
        raise ValueError(f"{path}: expected the polylines {sorted(keys.values())}, found {sorted(out)}")
    return out


def read_km_ticks(path: pathlib.Path = KM_TICKS) -> list[tuple[float, float, float]]:
    """Derived Rhine-km ticks: [(km, lon, lat), ...]."""
    with open(path, encoding="utf-8") as fh:
        fc = json.load(fh)
    return [(float(f["properties"]["rhine_km"]), *map(float, f["geometry"]["coordinates"])) for f in fc["features"]]


def velocity_table(path: pathlib.Path = VELOCITY_CSV) -> list[list[float]]:
    """Median Bovenrijn velocity per Lobith discharge, discharge scaled to Ruhrort by MQ ratio."""
    by_q: dict[float, list[float]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            by_q.setdefault(float(row["discharge_lobith_m3s"]), []).append(float(row["velocity_ms"]))
    scale = MQ_RUHRORT / MQ_LOBITH
    return [[round(q * scale, 1), round(float(np.median(v)), 3)] for q, v in sorted(by_q.items())]


# --- geometry helpers (local metres) -------------------------------------------------------------
def resample(xy, step: float = 20.0) -> np.ndarray:
    xy = np.asarray(xy, float)
    d = np.r_[0.0, np.cumsum(np.hypot(*np.diff(xy, axis=0).T))]
    t = np.linspace(0.0, d[-1], max(int(d[-1] // step), 1) + 1)
    return np.column_stack([np.interp(t, d, xy[:, 0]), np.interp(t, d, xy[:, 1])])


def smooth(xy, window_m: float, step: float = 20.0) -> np.ndarray:
    """Moving average over ``window_m`` of the polyline resampled at ``step`` (ends kept)."""
    p = resample(xy, step)
    k = max(int(window_m // step) | 1, 1)
    pad = k // 2
    padded = np.vstack([np.repeat(p[:1], pad, 0), p, np.repeat(p[-1:], pad, 0)])
    ker = np.ones(k) / k
    out = np.column_stack([np.convolve(padded[:, i], ker, mode="valid") for i in range(2)])
    out[0], out[-1] = p[0], p[-1]
    return out


class Centreline:
    """A dense centreline with half-widths, arc length ``s`` and (optionally) river-km by arc length."""

    def __init__(self, xy, half_width, anchors: list[tuple[tuple[float, float], float]] | None = None):
        self.xy = np.asarray(xy, float)
        self.half_width = np.broadcast_to(np.asarray(half_width, float), (len(self.xy),)).copy()
        self.s = np.r_[0.0, np.cumsum(np.hypot(*np.diff(self.xy, axis=0).T))]
        self.line = LineString(self.xy)
        tang = np.gradient(self.xy, axis=0)
        tang /= np.hypot(tang[:, 0], tang[:, 1])[:, None]
        self.tangent = tang
        self.right = np.column_stack([tang[:, 1], -tang[:, 0]])  # starboard of the line direction
        if anchors:
            anchor_s = np.array([self.line.project(Point(p)) for p, _ in anchors])
            anchor_km = np.array([k for _, k in anchors])
            order = np.argsort(anchor_s)
            anchor_s, anchor_km = anchor_s[order], anchor_km[order]
            if np.any(np.diff(anchor_km) <= 0):
                raise ValueError("reference km are not increasing downstream along the centreline")
            self.anchor_s, self.anchor_km = anchor_s, anchor_km
            self._s_ext = np.r_[self.s[0], anchor_s, self.s[-1]]
            self._km_ext = np.r_[anchor_km[0] - (anchor_s[0] - self.s[0]) / 1000.0, anchor_km,
                                 anchor_km[-1] + (self.s[-1] - anchor_s[-1]) / 1000.0]
        else:
            self._s_ext, self._km_ext = np.array([self.s[0], self.s[-1]]), self.s[[0, -1]] / 1000.0
        self.km = np.interp(self.s, self._s_ext, self._km_ext)

    def s_at_km(self, km):
        return float(np.interp(km, self._km_ext, self._s_ext))

    def km_at_s(self, s):
        return float(np.interp(s, self._s_ext, self._km_ext))

    def at_s(self, s):
        """Point, tangent, starboard normal and half-width at arc length s."""
        s = float(s)
        p = np.array([np.interp(s, self.s, self.xy[:, 0]), np.interp(s, self.s, self.xy[:, 1])])
        tx, ty = np.interp(s, self.s, self.tangent[:, 0]), np.interp(s, self.s, self.tangent[:, 1])
        n = math.hypot(tx, ty)
        t = np.array([tx / n, ty / n])
        return p, t, np.array([t[1], -t[0]]), float(np.interp(s, self.s, self.half_width))

    def point(self, s, n=0.0):
        """The point ``n`` metres to port (left) of the line at arc length ``s``."""
        p, _, r, _ = self.at_s(s)
        return p - n * r

    def offset(self, dist, s_from=None, s_to=None, spacing=100.0):
        """Polyline offset ``dist`` metres to starboard, with km per vertex."""
        s0 = self.s[0] if s_from is None else s_from
        s1 = self.s[-1] if s_to is None else s_to
        ss = np.linspace(s0, s1, int(abs(s1 - s0) // spacing) + 2)
        pts = np.array([self.point(s, -dist) for s in ss])
        return pts, np.array([self.km_at_s(s) for s in ss])

    def cut(self, s0, s1) -> Centreline:
        keep = (self.s > s0) & (self.s < s1)
        xy = np.vstack([self.at_s(s0)[0], self.xy[keep], self.at_s(s1)[0]])
        hw = np.r_[self.at_s(s0)[3], self.half_width[keep], self.at_s(s1)[3]]
        return xy, hw

    def polygon(self, s0=None, s1=None):
        s0 = self.s[0] if s0 is None else s0
        s1 = self.s[-1] if s1 is None else s1
        xy, hw = self.cut(s0, s1)
        c = Centreline(xy, hw)
        left = c.xy - c.right * c.half_width[:, None]
        right = c.xy + c.right * c.half_width[:, None]
        poly = Polygon(np.vstack([right, left[::-1]]))
        if not poly.is_valid:
            raise ValueError("river polygon is not valid (centreline bends too sharply)")
        return poly


def channel_polygon(nodes, width):
    return LineString(nodes).buffer(width / 2.0, cap_style="flat", join_style="round", quad_segs=8)


def rectangle(centre, axis_bearing_rad, length, width):
    """Rectangle centred at ``centre`` with its long axis along the grid bearing."""
    c = np.asarray(centre, float)
    u = np.array([math.sin(axis_bearing_rad), math.cos(axis_bearing_rad)])
    v = np.array([u[1], -u[0]])
    hl, hw = length / 2.0, width / 2.0
    return Polygon([c + hl * u + hw * v, c + hl * u - hw * v, c - hl * u - hw * v, c - hl * u + hw * v])


def bearing(a, b):
    return math.atan2(b[0] - a[0], b[1] - a[1])


def point_along(line: LineString, frac):
    p = line.interpolate(frac, normalized=True)
    s = line.project(p)
    q = line.interpolate(min(s + 1.0, line.length))
    p0 = line.interpolate(max(s - 1.0, 0.0))
    return np.array([p.x, p.y]), bearing((p0.x, p0.y), (q.x, q.y))


def cut_line(coords, end_trim=0.0, start_trim=0.0):
    line = LineString(coords)
    return shapely.ops.substring(line, start_trim, line.length - end_trim)


def unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


# --- build ---------------------------------------------------------------------------------------
def build() -> dict:
    ref = read_reference_points()
    v2 = read_v2_points()
    lines = read_polylines()
    origin_lon, origin_lat = ref["P1"]["lon_deg"], ref["P1"]["lat_deg"]
    frame = LocalFrame(CRS, origin_lon, origin_lat)
    geod = Geod(ellps="WGS84")
    gamma = frame.convergence_rad

    def loc(lon, lat):
        x, y = frame.to_local(lon, lat)
        return np.array([float(x), float(y)])

    P = {k: loc(r["lon_deg"], r["lat_deg"]) for k, r in ref.items() if r["lat_deg"] is not None}
    V = {k: loc(r["lon"], r["lat"]) for k, r in v2.items()}
    L = {k: np.array([loc(lon, lat) for lon, lat in c]) for k, c in lines.items()}
    features: list[dict] = []

    def add(fid, ftype, geom, **props):
        props = {k: v for k, v in props.items() if v is not None}
        features.append({"id": fid, "type": ftype, "geometry": geom, "properties": props})

    # Rhine ----------------------------------------------------------------------------------------
    anchors = [(V["RB02"], 775.29), (V["RB03"], 778.34), (P["P2"], 780.09), (P["P1"], 780.80)]
    rl = L["rhine"]  # extended 400 m beyond both ends, so the map's km range is inside the line
    rl = np.vstack([rl[0] + unit(rl[0] - rl[1]) * 400.0, rl, rl[-1] + unit(rl[-1] - rl[-2]) * 400.0])
    full = Centreline(smooth(rl, RHINE_SMOOTH_M), RHINE_HALF_WIDTH_M, anchors)
    xy, hw = full.cut(full.s_at_km(RHINE_KM_RANGE[0]), full.s_at_km(RHINE_KM_RANGE[1]))
    rhine = Centreline(resample(xy, 25.0), RHINE_HALF_WIDTH_M, anchors)
    rhine_poly = rhine.polygon()
    add("water-rhine", "water", rhine_poly, name="Rhein (Niederrhein)", kind="river", waterway="Rhein")
    polys: dict[str, object] = {}
    centre: dict[str, list] = {}  # channel id -> centre polyline (first node in the water it branches from)

    def water(cid, name, kind, geom, waterway=None, **props):
        polys[cid] = geom
        add(f"water-{cid}", "water", geom, name=name, kind=kind, waterway=waterway or name, **props)

    # Ruhr: the boundary line from the mouth light's vertex (index 3) upstream -------------------
    ru_raw = L["ruhr"][3:]
    mouth_dir = unit(ru_raw[0] - ru_raw[1])
    ru_base = Centreline(smooth(np.vstack([ru_raw[0] + 300.0 * mouth_dir, ru_raw]), 160.0), 1.0)
    s0_ru = ru_base.line.project(Point(ru_raw[0]))  # Ruhr-km 0

    def ru(km, n=0.0):
        return ru_base.point(s0_ru + km * 1000.0, n)

    def ru_tan(km):
        return ru_base.at_s(s0_ru + km * 1000.0)[1]

    okm = np.array([k for k, _, _ in RUHR_OFFSET])
    kms = np.arange(okm[0], RUHR_END_KM + 1e-9, 0.02)
    off = np.interp(kms, okm, [o for _, o, _ in RUHR_OFFSET])
    ruhr = Centreline(np.array([ru(k, o) for k, o in zip(kms, off, strict=True)]),
                      np.interp(kms, okm, [h for _, _, h in RUHR_OFFSET]))
    ruhr_km = kms  # Ruhr-km per vertex of the shifted centreline
    ruhr_poly = ruhr.polygon()
    water("ruhr", "Ruhr (Ruhr-km 0-4.25)", "river", ruhr_poly, waterway="Ruhr")

    # Ruhrwehr: across the Ruhr at Ruhr-km 2.626, from the south bank over 150.88 m (+ abutments)
    t_w = ru_tan(RUHR_KM_WEIR)
    s_weir = float(np.interp(RUHR_KM_WEIR, ruhr_km, ruhr.s))
    c_w, _, _, hw_w = ruhr.at_s(s_weir)
    weir = rectangle(c_w, math.atan2(t_w[0], t_w[1]) + math.pi / 2.0, 2.0 * hw_w + 40.0, 12.0)
    add("weir-ruhr", "obstacle", weir, kind="structure", name="Ruhrwehr Duisburg", width_m=WEIR_WIDTH_M,
        waterway_km=RUHR_KM_WEIR, openings="4 x 30 m")
    # Ruhrschleuse: north of the weir island, lower head in the Hafenkanal, upper head above the weir
    lk_len, lk_w, lk_fall = LOCK_RUHR
    t_l = ru_tan(RUHR_KM_LOCK)
    lk_c = ru(RUHR_KM_LOCK, LOCK_RUHR_N_M)
    lk_axis = math.atan2(t_l[0], t_l[1])
    lock_ruhr = rectangle(lk_c, lk_axis, lk_len, lk_w)
    lk_lower, lk_upper = lk_c - t_l * lk_len / 2.0, lk_c + t_l * lk_len / 2.0
    add("lock-ruhr", "lock", lock_ruhr, name="Ruhrschleuse Duisburg", chamber_length_m=lk_len,
        chamber_width_m=lk_w, lift_m=lk_fall, waterway_km=RUHR_KM_LOCK, waterway="Ruhr")
    # upper approach: from the upper head to the Ruhr above the weir (the weir island ends before it)
    up_km0 = RUHR_KM_WEIR + 0.012
    oberwasser = Polygon([ru(up_km0, 90.0), ru(up_km0, LOCK_RUHR_N_M + lk_w / 2.0 + 12.0),
                          ru(up_km0 + 0.16, LOCK_RUHR_N_M + lk_w / 2.0 + 12.0), ru(up_km0 + 0.2, 90.0)])
    water("ruhrschleuse-oberwasser", "Ruhrschleuse Oberwasser", "canal", oberwasser, waterway="Ruhr")

    # Hafenmund, Hafenkanal, Vinckekanal --------------------------------------------------------
    s_p1 = rhine.line.project(Point(P["P1"]))
    gauge_bank = rhine.at_s(s_p1)
    t_r = gauge_bank[1]
    n_r = gauge_bank[2]  # towards the right (east) bank
    # the harbour mouth: a convex basin from the Rhine bank (upstream of the gauge) to the starts of the
    # Vinckekanal (just south of the gauge, under the Friedrich-Ebert-Bruecke) and of the Hafenkanal
    vk0 = P["P1"] - n_r * 20.0 - t_r * 72.0
    hk0 = P["P1"] - n_r * 40.0 - t_r * 240.0
    b_dn = rhine.point(s_p1 + 30.0, -(RHINE_HALF_WIDTH_M - 30.0))
    b_up = rhine.point(s_p1 - 280.0, -(RHINE_HALF_WIDTH_M - 30.0))
    vk_dir = unit(ru(0.45, 560.0) - vk0)
    hk_dir = unit(ru(0.55, 330.0) - hk0)
    b_up2 = rhine.point(s_p1 - 380.0, -(RHINE_HALF_WIDTH_M + 10.0))  # the bank, towards the Ruhr mouth
    hull = [b_dn, b_up, b_up2]
    for q, dvec, w in ((vk0, vk_dir, VK_WIDTH_M), (hk0, hk_dir, HK_WIDTH_M)):
        nq = np.array([-dvec[1], dvec[0]])
        hull += [q + nq * w / 2.0, q - nq * w / 2.0]
    hull += [hk0 + hk_dir * 150.0 - np.array([-hk_dir[1], hk_dir[0]]) * HK_WIDTH_M / 2.0]  # no land wedge
    hm_poly = shapely.MultiPoint([tuple(p) for p in hull]).convex_hull
    hm_c = np.array(hm_poly.centroid.coords[0])
    hm_in = rhine.point(rhine.line.project(Point(hm_c)), 0.0)
    hm_nodes = [tuple(hm_in), tuple(hm_c)]
    water("hafenmund", "Hafenmund Ruhrort", "mouth", hm_poly)
    centre["hafenmund"] = hm_nodes
    # the Karl-Lehr-Bruecke train: at Ruhr-km 1.934 the Hafenkanal 180 m, the Vinckekanal 380 m north
    kl_n = {"ruhr": 0.0, "hafenkanal": 180.0, "vinckekanal": 385.0}
    t_k = ru_tan(RUHR_KM_KARL_LEHR)
    hk_k = ru(RUHR_KM_KARL_LEHR, kl_n["hafenkanal"])
    lk_app = lk_lower - t_l * 160.0  # the canal turns here; the lower approach runs on to the lower head
    hk_west = [tuple(hk0 - hk_dir * 30.0), tuple(ru(0.55, 330.0)), tuple(ru(1.2, 240.0)),
               tuple(hk_k), tuple(hk_k + t_k * 200.0), tuple(lk_app)]
    # east of the lock approach the Hafenkanal bends north-east to the basins and the RHK head
    ax = V["AX01"]
    rot = math.radians(45.0)  # the canal turns away from the lock, north-east, at the lower approach
    turn = np.array([t_l[0] * math.cos(rot) - t_l[1] * math.sin(rot), t_l[0] * math.sin(rot) + t_l[1] * math.cos(rot)])
    hk_east = [tuple(lk_app), tuple(lk_app + turn * 180.0), tuple(ax + np.array([-150.0, -140.0]))]
    # smoothed (a 110 m ship follows it without cutting the bends); the basins branch off its straight east part
    hk_nodes = [tuple(q) for q in resample(smooth(np.array(hk_west + hk_east[1:]), 300.0), 50.0)]
    water("hafenkanal", "Hafenkanal", "harbour", channel_polygon(hk_nodes, HK_WIDTH_M))
    water("ruhrschleuse-unterwasser", "Ruhrschleuse Unterwasser", "canal",
          channel_polygon([lk_app, lk_lower + t_l * 5.0], 50.0), waterway="Hafenkanal")
    centre["hafenkanal"] = hk_nodes
    vk_k = ru(RUHR_KM_KARL_LEHR, kl_n["vinckekanal"])
    vk_nodes = [tuple(q) for q in resample(smooth(np.array(
        [vk0 - vk_dir * 30.0, ru(0.45, 560.0), ru(0.9, 560.0), vk_k, vk_k + t_k * 150.0]), 300.0), 50.0)]
    water("vinckekanal", "Vinckekanal", "canal", channel_polygon(vk_nodes, VK_WIDTH_M))
    centre["vinckekanal"] = vk_nodes
    vk_line = LineString(vk_nodes)
    sh_root = vk_line.interpolate(0.55, normalized=True)
    sh_root = np.array([sh_root.x, sh_root.y])
    sh_dir = np.array([math.sin(math.radians(15.0)), math.cos(math.radians(15.0))])
    sh_nodes = [tuple(sh_root), tuple(sh_root + sh_dir * 380.0), tuple(sh_root + sh_dir * 760.0)]
    water("suedhafen", "Suedhafen", "basin", channel_polygon(sh_nodes, 90.0))
    centre["suedhafen"] = sh_nodes
    # Eisenbahnhafen Ruhrort: north from the harbour mouth, its entrance under the bridge's east approach
    eb0 = rhine.point(s_p1 - 20.0, -(RHINE_HALF_WIDTH_M + 45.0))
    eb_nodes = [tuple(eb0)] + [tuple(eb0 + n_r * (20.0 * i) + t_r * (240.0 * i)) for i in (1, 2)]
    water("eisenbahnhafen", "Eisenbahnhafen Ruhrort", "basin", channel_polygon(eb_nodes, 70.0))
    centre["eisenbahnhafen"] = eb_nodes

    # basins A, B, C: perpendicular to the Hafenkanal's east part, on its north side ------------------
    hk_e = LineString(hk_east)
    for cid, s_root in BASIN_ROOT_S.items():
        root = hk_e.interpolate(s_root)
        root = np.array([root.x, root.y])
        d = hk_e.interpolate(s_root + 1.0)
        t = unit(np.array([d.x, d.y]) - root)
        ang = math.radians(BASIN_ANGLE_DEG)  # the basin's axis: the canal's direction turned to port
        axis = np.array([t[0] * math.cos(ang) - t[1] * math.sin(ang), t[0] * math.sin(ang) + t[1] * math.cos(ang)])
        off = HK_WIDTH_M / 2.0 / math.sin(ang)  # from the canal's centre line to its bank along the axis
        nodes = [tuple(root), tuple(root + axis * (off + BASIN_LENGTH_M / 2.0)),
                 tuple(root + axis * (off + BASIN_LENGTH_M))]
        centre[cid] = nodes
        across = BASIN_WIDTH_M / 2.0 / math.sin(ang)  # half the basin's width along the canal
        mouth, side = root + axis * (off + FUNNEL_M), np.array([axis[1], -axis[0]]) * (BASIN_WIDTH_M / 2.0 - 1.0)
        edge = root + np.array([-t[1], t[0]]) * (HK_WIDTH_M / 2.0 - 1.0)  # on the canal's bank
        # wider on the side ships come from (the harbour mouth, -t): they turn in from there
        funnel = Polygon([edge - t * (across + FUNNEL_IN_M), edge + t * (across + FUNNEL_M), mouth + side, mouth - side])
        name = "Hafenbecken " + cid[-1].upper()
        water(cid, name, "basin", unary_union([channel_polygon(nodes, BASIN_WIDTH_M), funnel.convex_hull]),
              length_m=BASIN_LENGTH_M, bottom_width_m=BASIN_WIDTH_M)
    # Rhein-Herne-Kanal: from basin C's east bank past its head (AX01) to Schleuse Meiderich (P9)
    c_nodes = centre["basin_c"]
    c_line = LineString(c_nodes)
    rhk_root = c_line.interpolate(c_line.project(Point(ax)))
    lock_axis = bearing(ax, P["P9"])
    u = np.array([math.sin(lock_axis), math.cos(lock_axis)])
    lm_len, lm_w, lm_lift = LOCK_MEIDERICH
    lower_head = P["P9"] - u * lm_len / 2.0
    rhk_nodes = [(rhk_root.x, rhk_root.y), tuple(ax), tuple(lower_head + u * 2.0)]
    water("rhk", "Rhein-Herne-Kanal (head to Schleuse Meiderich)", "canal", channel_polygon(rhk_nodes, 55.0),
          waterway="Rhein-Herne-Kanal")
    lock_poly = rectangle(P["P9"], lock_axis, lm_len, lm_w)
    add("lock-meiderich", "lock", lock_poly, name="Schleuse Meiderich", chamber_length_m=lm_len,
        chamber_width_m=lm_w, lift_m=lm_lift, waterway_km=0.815, waterway="Rhein-Herne-Kanal")

    # Aussenhafen, Sperrtor Marientor, Innenhafen, Parallelhafen ------------------------------------
    ah = L["aussenhafen"]
    s_ah_rhine = rhine.line.project(Point(ah[0]))
    ah_in = rhine.point(s_ah_rhine, 60.0 - RHINE_HALF_WIDTH_M)  # inside the Rhine, right half
    ah_line = smooth(np.vstack([ah_in, ah[1:10]]), 120.0)
    ah_nodes = [tuple(p) for p in resample(ah_line, 100.0)]
    water("aussenhafen", "Aussenhafen", "harbour", channel_polygon(ah_nodes, AH_WIDTH_M))
    centre["aussenhafen"] = ah_nodes
    ih = Centreline(resample(L["innenhafen"], 20.0), IH_WIDTH_M / 2.0)
    ih_line = np.array([ih.point(s, IH_WIDTH_M / 2.0 + 4.0) for s in np.arange(0.0, ih.s[-1], 20.0)])
    ih_line = smooth(ih_line, 100.0)
    water("innenhafen", "Innenhafen", "harbour", channel_polygon(ih_line, IH_WIDTH_M))
    centre["innenhafen"] = [tuple(p) for p in ih_line]
    gate_nodes = [tuple(np.array(ah_nodes[-1]) - unit(np.subtract(ah_nodes[-1], ah_nodes[-2])) * 10.0),
                  tuple(V["BV-IH-00"]), tuple(ih_line[0] + unit(ih_line[1] - ih_line[0]) * 10.0)]
    water("marientor", "Sperrtor Marientor (flood gate, open)", "canal",
          channel_polygon(gate_nodes, MARIENTOR_OPENING_M), waterway="Innenhafen", structure="flood_gate",
          opening_m=MARIENTOR_OPENING_M, closes_at_gauge_cm=850)
    ah_c = Centreline(resample(ah_line, 20.0), 1.0)
    pa_nodes = [tuple(ah_c.point(s, PARALLEL_OFFSET_M)) for s in np.arange(40.0, 1340.0, 100.0)]
    pa_nodes[0] = tuple(rhine.point(rhine.line.project(Point(pa_nodes[0])), 60.0 - RHINE_HALF_WIDTH_M))
    water("parallelhafen", "Parallelhafen", "basin", channel_polygon(pa_nodes, 80.0))
    centre["parallelhafen"] = pa_nodes

    # Homberg: Rheinpreussen-Hafen, left bank at Rhine-km 781.1 --------------------------------------
    s_rp = rhine.s_at_km(RHEINPREUSSEN_KM)
    c_rp, t_rp, r_rp, hw_rp = rhine.at_s(s_rp)
    can_len, can_w, b_len, b_w = RHEINPREUSSEN
    can_end = c_rp - r_rp * (hw_rp + can_len)
    water("rheinpreussen-kanal", "Rheinpreussen-Hafen Zufahrt", "canal", channel_polygon(
        [tuple(c_rp - r_rp * (hw_rp - 60.0)), tuple(can_end - r_rp * b_w / 2.0)], can_w), waterway="Rheinpreussen-Hafen")
    rp_basin = rectangle(can_end - r_rp * b_w / 2.0 + t_rp * (b_len / 2.0 - 60.0), math.atan2(t_rp[0], t_rp[1]),
                         b_len, b_w)
    water("rheinpreussen", "Rheinpreussen-Hafen (Homberg)", "basin", rp_basin, length_m=b_len, width_m=b_w)
    rp_axis = can_end - r_rp * b_w / 2.0
    centre["rheinpreussen"] = [tuple(c_rp - r_rp * (hw_rp - 60.0)), tuple(rp_axis), tuple(rp_axis + t_rp * (b_len - 180.0))]

    # bridges and piers ----------------------------------------------------------------------------
    def bridge(fid, name, span, point, pier_offsets=(), deck=None, **props):
        s = rhine.line.project(Point(point))
        km = props.pop("published_km", rhine.km_at_s(s))  # a published km wins over the map's arc length
        c, t, r, hw = rhine.at_s(s)
        line = LineString(deck) if deck is not None else LineString([c - r * (hw + 40.0), c + r * (hw + 40.0)])
        add(f"bridge-{fid}", "bridge", line, name=name, clearance_m=BRIDGE_CLEARANCE_M, km=round(km, 2),
            span_m=span, waterway="Rhein", **props)
        for i, off in enumerate(pier_offsets, 1):
            pier = rectangle(c + r * off, math.atan2(t[0], t[1]), 25.0, 8.0)
            add(f"pier-{fid}-{i}", "obstacle", pier, kind="bridge_pier", name=f"{name} pier {i}",
                bridge=f"bridge-{fid}")

    bridge("hochfeld-rail", "Eisenbahnbruecke Duisburg-Hochfeld-Rheinhausen", 189.0, V["RB04"],
           pier_offsets=(-94.5, 94.5), published_km=774.38)
    bridge("solidaritaet", "Bruecke der Solidaritaet", 255.9, V["RB02"])
    bridge("a40-neuenkamp", "Rheinbruecke Neuenkamp (A40)", 350.0, V["RB03"])
    # Friedrich-Ebert-Bruecke: 635 m, over the Rhine and the harbour mouth (the Vinckekanal's start)
    s_fe = rhine.line.project(Point(V["RB01"]))
    c_fe, _, r_fe, hw_fe = rhine.at_s(s_fe)
    west, east_bank = c_fe - r_fe * (hw_fe + 40.0), c_fe + r_fe * (hw_fe + 10.0)
    # past the east bank the deck turns over the harbour mouth where the Vinckekanal begins
    rest = 635.0 - float(np.linalg.norm(east_bank - west))
    deck_end = east_bank + unit(P["P1"] + np.array([150.0, -170.0]) - east_bank) * rest
    bridge("friedrich-ebert", "Friedrich-Ebert-Bruecke (Ruhrort-Homberg)", 285.5, V["RB01"],
           pier_offsets=(-142.75, 142.75), deck=[west, east_bank, deck_end], length_m=635.0)
    bridge("haus-knipp", "Haus-Knipp-Eisenbahnbruecke (Beeckerwerth-Baerl)", 186.0, V["RB05"],
           pier_offsets=(-93.0, 93.0))
    # Karl-Lehr-Bruecke: Ruhr-km 1.934, south to north over the Ruhr, Hafenkanal, Kaiserhafen, Vinckekanal
    kl_s, kl_n_end = ru(RUHR_KM_KARL_LEHR, -110.0), ru(RUHR_KM_KARL_LEHR, kl_n["vinckekanal"] + 80.0)
    add("bridge-karl-lehr", "bridge", LineString([kl_s, kl_n_end]), name="Karl-Lehr-Bruecke",
        clearance_m=BRIDGE_CLEARANCE_M, km=RUHR_KM_KARL_LEHR, span_m=118.88, waterway="Ruhr")
    # mole at the Ruhr mouth: the mouth light P2 stands on its tip (north bank of the mouth)
    mole_dir = unit(P["P2"] - ru(0.15, 60.0))
    add("mole-ruhrmuendung", "obstacle", LineString([P["P2"] - mole_dir * 120.0, P["P2"] + mole_dir * 5.0])
        .buffer(20.0, quad_segs=8), kind="mole", name="Mole Ruhrmuendung")

    # lanes -----------------------------------------------------------------------------------------
    s_lo, s_hi = rhine.s[0] + 60.0, rhine.s[-1] - 60.0
    down_xy, down_km = rhine.offset(+LANE_OFFSET_M, s_lo, s_hi, spacing=25.0)
    up_xy, up_km = rhine.offset(-LANE_OFFSET_M, s_hi, s_lo, spacing=25.0)
    add("lane-rhine-down", "lane", LineString(down_xy), name="Rhein talwaerts (downstream)", waterway="Rhein",
        direction="forward", role="downstream", width_m=RHINE_LANE_WIDTH_M,
        km=[round(float(k), 3) for k in down_km])
    add("lane-rhine-up", "lane", LineString(up_xy), name="Rhein bergwaerts (upstream)", waterway="Rhein",
        direction="forward", role="upstream", width_m=RHINE_LANE_WIDTH_M,
        km=[round(float(k), 3) for k in up_km])
    down_line, up_line = LineString(down_xy), LineString(up_xy)

    def junction(line: LineString, p):
        q = line.interpolate(line.project(Point(p)))
        return (q.x, q.y)

    def channel_lane(fid, name, waterway, parent: LineString, nodes, width, end_trim=60.0):
        coords = [junction(parent, nodes[0])] + [tuple(map(float, n)) for n in nodes[1:]]
        line = cut_line(coords, end_trim=end_trim)
        add(fid, "lane", line, name=name, waterway=waterway, direction="both", role="channel", width_m=width)
        return line

    main_nodes = hm_nodes + hk_nodes[:-1] + [centre["basin_c"][0]] + rhk_nodes  # RHK via basin C's mouth
    main = channel_lane("lane-hafenkanal", "Hafenmund - Hafenkanal - Rhein-Herne-Kanal", "Hafenkanal",
                        down_line, main_nodes, 40.0, end_trim=10.0)
    for cid, label in (("basin_a", "Hafenbecken A"), ("basin_b", "Hafenbecken B"),
                       ("basin_c", "Hafenbecken C"), ("eisenbahnhafen", "Eisenbahnhafen Ruhrort")):
        channel_lane(f"lane-{cid}", label, "Hafenkanal", main, centre[cid], 40.0)
    vk_lane = channel_lane("lane-vinckekanal", "Vinckekanal", "Vinckekanal", main, [hm_nodes[1]] + vk_nodes, 35.0)
    channel_lane("lane-suedhafen", "Suedhafen", "Vinckekanal", vk_lane, sh_nodes, 35.0)
    ruhr_lane_nodes = [tuple(p) for p in ruhr.xy[(ruhr_km > -0.1) & (ruhr_km < RUHR_KM_WEIR - 0.06)]]
    channel_lane("lane-ruhr", "Ruhr (mouth to the weir)", "Ruhr", down_line, ruhr_lane_nodes[::4] + [ruhr_lane_nodes[-1]],
                 40.0, end_trim=20.0)
    above = ruhr.xy[ruhr_km > up_km0 + 0.12]
    channel_lane("lane-ruhrschleuse", "Ruhrschleuse - Ruhr above the weir", "Ruhr", main,
                 [tuple(lk_app), tuple(lk_lower + t_l * 5.0), tuple(lk_upper + t_l * 20.0),
                  tuple(ru(up_km0 + 0.12, 100.0))] + [tuple(p) for p in above[::4]], 10.0, end_trim=40.0)
    channel_lane("lane-parallelhafen", "Parallelhafen", "Parallelhafen", down_line, pa_nodes, 40.0)
    channel_lane("lane-aussenhafen", "Aussenhafen - Sperrtor Marientor - Innenhafen", "Aussenhafen", down_line,
                 ah_nodes + gate_nodes[1:] + [tuple(p) for p in ih_line[1::5]], 30.0)
    channel_lane("lane-rheinpreussen", "Rheinpreussen-Hafen", "Rheinpreussen-Hafen", up_line,
                 centre["rheinpreussen"], 25.0)

    # berths ----------------------------------------------------------------------------------------
    widths = {"basin_a": BASIN_WIDTH_M, "basin_b": BASIN_WIDTH_M, "basin_c": BASIN_WIDTH_M, "suedhafen": 90.0,
              "parallelhafen": 80.0, "aussenhafen": AH_WIDTH_M, "eisenbahnhafen": 70.0}
    names = {f["id"][6:]: f["properties"]["name"] for f in features if f["type"] == "water"}
    for i, (cid, frac, side, length, name) in enumerate(BERTHS, 1):
        p, hdg = point_along(LineString(centre[cid]), frac)
        stb = np.array([math.cos(hdg), -math.sin(hdg)])
        xy_b = p + side * stb * (widths[cid] / 2.0 - 10.0)
        true_hdg = math.degrees(hdg + gamma) % 360.0
        add(f"berth-{i:02d}", "berth", Point(xy_b), name=name, basin=names[cid],
            heading_deg=round(true_hdg, 1), length_m=length, quay=name.rsplit(" ", 1)[0])

    # gauge, km markers -----------------------------------------------------------------------------
    add("gauge-ruhrort", "gauge", Point(P["P1"]), name="Pegel Duisburg-Ruhrort", km=780.80,
        gauge_no="2770010", pnp_m_nhn=16.11, marks_m=[9.30, 11.30])  # high-water marks I, II (§ 10.01)
    for km in np.arange(774.0, 785.0 + 1e-9, 0.5):
        c, _, r, hw = rhine.at_s(rhine.s_at_km(km))
        add(f"km-{km:.1f}", "km_marker", Point(c + r * (hw + 5.0)), km=round(float(km), 1), waterway="Rhein")

    # current ---------------------------------------------------------------------------------------
    thalweg, _ = rhine.offset(0.0, rhine.s[0], rhine.s[-1], spacing=100.0)
    add("current-rhine", "current", LineString(thalweg), name="Rhein thalweg", velocity_table=velocity_table(),
        influence_m=200.0, bank_ramp_m=60.0)
    # the Ruhr: its own reaches with a small current (MQ ~77 m3/s through ~120 m x 3 m), split at the weir
    s_bank = ruhr.line.project(ruhr.line.intersection(rhine_poly.exterior)) if ruhr.line.intersects(
        rhine_poly.exterior) else 0.0
    low = [tuple(p) for p in ruhr.xy[(ruhr.s > s_bank) & (ruhr_km < RUHR_KM_WEIR - 0.02)]][::-1]
    add("current-ruhr", "current", LineString(low[::2] + [low[-1]]), name="Ruhr below the weir (weak)",
        speed_ms=0.25, influence_m=80.0, bank_ramp_m=20.0)
    high = [tuple(p) for p in ruhr.xy[ruhr_km > RUHR_KM_WEIR + 0.02]][::-1]
    add("current-ruhr-upper", "current", LineString(high[::2] + [high[-1]]), name="Ruhr above the weir (weak)",
        speed_ms=0.15, influence_m=80.0, bank_ramp_m=20.0)

    # 5G cell sites (assumed) -----------------------------------------------------------------------
    water_all = unary_union([rhine_poly, lock_poly, lock_ruhr, *polys.values()])

    def bank_site(km, side, dist):
        c, _, r, hw = rhine.at_s(rhine.s_at_km(km))
        return c + side * r * (hw + dist)

    sites = [
        ("Rheinhausen (left bank, km 775)", bank_site(775.0, -1, 300.0), 30.0),
        ("Hochfeld (right bank, km 776.2)", bank_site(776.2, +1, 300.0), 35.0),
        ("Kasslerfeld (between the Ruhr and the Innenhafen)", ru(1.3, -400.0), 30.0),
        ("Ruhrort Altstadt", P["P1"] + n_r * 300.0 + t_r * 60.0, 35.0),
        ("Homberg (left bank, km 780.3)", bank_site(780.3, -1, 250.0), 30.0),
        ("Hafen Becken A/B", (np.array(centre["basin_a"][1]) + np.array(centre["basin_b"][1])) / 2.0, 40.0),
        ("Hafen Becken C / Rhein-Herne-Kanal", ax + np.array([150.0, 130.0]), 35.0),
        ("Alsum (right bank, km 783)", bank_site(783.0, +1, 300.0), 30.0),
    ]
    for i, (name, xy_c, h) in enumerate(sites, 1):
        if water_all.distance(Point(xy_c)) < 20.0:
            raise ValueError(f"cell site {name!r} lies in or at the water")
        nearest = shapely.ops.nearest_points(rhine_poly, Point(xy_c))[0]
        az0 = math.degrees(bearing(xy_c, (nearest.x, nearest.y)) + gamma) % 360.0
        add(f"cell-{i:02d}", "cell_site", Point(xy_c), name=name, height_m=h,
            sectors_deg=[round((az0 + k * 120.0) % 360.0, 1) for k in range(3)], assumed=True)

    # check the connectivity of the water before writing
    obstacles = unary_union([f["geometry"] for f in features if f["type"] == "obstacle"])
    nav = water_all.difference(obstacles)
    if nav.geom_type != "Polygon":
        parts = sorted((g.area for g in nav.geoms), reverse=True)
        raise ValueError(f"navigable water is not one connected polygon ({nav.geom_type}, areas {parts[:5]})")

    add_rule_zones(features)
    return _to_geojson(features, frame, geod, rhine, ref)


def add_rule_zones(features: list[dict]) -> None:
    """The traffic-rule zones (RheinSchPV), derived from the named features above: the Rhine here is a
    section of regulated meeting (§ 9.04, km 769.00-857.68); Hafenmund, Parallelhafen and Aussenhafen
    are Ruhrort entrances of § 9.07 Nr. 5."""
    from harbour_maps.build.rule_zones import rule_zone_features

    features.extend(rule_zone_features(features, regulated_meeting=True))


def _to_geojson(features, frame: LocalFrame, geod, rhine, ref) -> dict:
    def to_wgs(geom):
        g = shapely.transform(geom, frame.coords_to_wgs84)
        g = shapely.set_precision(g, 1e-7)
        if not g.is_valid:
            raise ValueError("geometry became invalid in WGS84")
        return g

    out_feats = []
    for f in features:
        g = to_wgs(f["geometry"])
        if isinstance(g, Polygon):
            g = orient(g, 1.0)
        props = {"type": f["type"], **f["properties"]}
        out_feats.append({"type": "Feature", "id": f["id"], "properties": props, "geometry": mapping(g)})
    allg = unary_union([to_wgs(f["geometry"]) for f in features])
    lon0, lat0, lon1, lat1 = allg.bounds
    pad = 0.004
    extent = [round(lon0 - pad, 3), round(lat0 - pad, 3), round(lon1 + pad, 3), round(lat1 + pad, 3)]
    groups = {k: {"horizontal_m": v, "basis": basis} for k, (v, basis) in ACCURACY_GROUPS.items()}
    metadata = {
        "format_version": 1,
        "name": NAME,
        "title": "Duisburg-Ruhrort: Rhine km 773.2-785.5, the Ruhr to above its weir and the Duisburg port "
                 "(derived, v2)",
        "crs": CRS,
        "origin": {"lon": ref["P1"]["lon_deg"], "lat": ref["P1"]["lat_deg"]},
        "extent": extent,
        "accuracy": {
            "horizontal_m": 150.0,
            "statement": (
                "Derived, not surveyed: Rhine, Ruhr and Innenhafen from OpenStreetMap-derived district "
                "boundaries (codeforduisburg/Geodata), checked against 80 v2 reference points; locks, weir "
                "and basins from published dimensions. Rhine banks +-60 m; Ruhr +-75 m; Innenhafen +-50 m; "
                "Hafenkanal and Vinckekanal +-150 m; basins A-C, Suedhafen, Eisenbahnhafen +-300 m "
                "(orientation assumed); Aussenhafen/Parallelhafen and Rheinpreussen-Hafen +-250 m; berths, "
                "bridge clearances and 5G sites assumed (see accuracy.groups). Replace by an OpenStreetMap "
                "import (testbed map import; testbed map build --water-from) for surveyed geometry."
            ),
            "groups": groups,
        },
        "sources": [
            "harbour_maps/build/data/duisburg_reference_points_v2.csv, waterway_polylines.geojson, "
            "derived_rhine_km_ticks.geojson (OpenStreetMap-derived district boundaries, codeforduisburg/Geodata "
            "@eb08221; Wikipedia and mirrors)",
            "harbour_maps/build/data/duisburg_port_facts_v2.md (published dimensions: basins, locks, weir, "
            "bridges, Rheinpreussen-Hafen)",
            "maps/reference/duisburg_reference_points.csv (BfG Undine gauge page, deutsche-leuchtfeuer.de, "
            "Wikipedia and mirrors; see its source_url column)",
            "maps/reference/rhine_bovenrijn_velocity_vs_discharge.csv (Deltares digitaltwin-waterway, MIT)",
            "harbour_maps/build/duisburg.py (derivation and the assumed placements)",
        ],
        "licence": (
            "ODbL 1.0 (contains information from OpenStreetMap, " + OSM_ATTRIBUTION + ", via "
            "codeforduisburg/Geodata); the project's own additions CC BY 4.0 (Duisburg Smart Shipping "
            "Testbed). Facts partly from Wikipedia (CC BY-SA 4.0); velocity calibration from Deltares "
            "digitaltwin-waterway (MIT)."
        ),
        "attribution": OSM_ATTRIBUTION,
        "raster_resolution_m": 5.0,
        "default_discharge_m3s": MQ_RUHRORT,
        "synthetic": False,
    }
    return {"type": "FeatureCollection", "metadata": metadata, "features": out_feats}


def dumps(fc: dict) -> str:
    """One feature per line: readable and diff-friendly."""
    lines = ['{"type": "FeatureCollection",', '"metadata": ' + json.dumps(fc["metadata"], indent=1) + ",",
             '"features": [']
    feats = [json.dumps(f, separators=(",", ":"), ensure_ascii=False) for f in fc["features"]]
    lines.append(",\n".join(feats))
    lines.append("]}")
    return "\n".join(lines) + "\n"


def write_atomic(path: pathlib.Path, text: str) -> None:
    write_text(path, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harbour_maps.build.duisburg", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=pathlib.Path, default=OUT_PATH, help="output GeoJSON (default: shipped map)")
    args = ap.parse_args(argv)
    fc = build()
    write_atomic(args.out, dumps(fc))
    print(f"wrote {args.out} ({len(fc['features'])} features)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
