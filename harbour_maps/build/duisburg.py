"""Generator of the shipped map ``duisburg_ruhrort`` (Rhine km 773.6-784.4 and the Ruhrort port).

Run ``python -m harbour_maps.build.duisburg`` to (re)write ``harbour_maps/maps/duisburg_ruhrort.geojson``.

No surveyed polygons of the port could be obtained offline, so the map is *digitised*: the control
points below were placed by hand in the local metric frame of the map (UTM 32N grid metres east
and north of the origin, the Pegel Duisburg-Ruhrort gauge house, reference point P1) so that

* the Rhine centreline passes through the bridge reference points P5 (Bruecke der Solidaritaet,
  km 775.29) and P4 (A40 Neuenkamp, km 778.34), runs NW between them (straight distance 3.03 km
  for 3.05 river-km), bends to run NNE past the Ruhr mouth (P2, km 780.09) and Ruhrort (gauge P1,
  km 780.80, Friedrich-Ebert-Bruecke P3) and then north (km 784 near 51.485 N, 6.725 E);
* the river is ~350-370 m wide bank to bank (the Lower Rhine fairway is ~150 m of it);
* the Ruhr mouth light P2 stands on the tip of the mole between the Ruhr and the harbour mouth;
  the gauge P1 stands on the bank of the harbour mouth where the Vinckekanal leaves it;
* the Hafenkanal runs ESE ~2.5 km from the harbour mouth to the Rhein-Herne-Kanal head (P8) at
  basin C; basins A, B, C branch north (C around the port centre P7); the canal ends at the lower
  head of Schleuse Meiderich (P9; chamber 190 m x 11.89 m);
* Vinckekanal/Suedhafen, Eisenbahnhafen Ruhrort, Parallelhafen, Aussenhafen and Innenhafen follow
  the published description of the port (see maps/reference/duisburg_port_facts.md).  The filled
  Nordhafen and Kaiserhafen are land.

River-km along the centreline are interpolated by arc length between the reference km (P5, P4 and
the projections of P2 and P1 on the centreline) and extrapolated at 1 km per km outside them.
Positions of basins and channels are plausible, not surveyed: see the accuracy statement.
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
from scipy.interpolate import CubicSpline
from shapely.geometry import LineString, Point, Polygon, mapping
from shapely.geometry.polygon import orient
from shapely.ops import unary_union

from atomicio import write_text
from harbour_maps.geodesy import LocalFrame

MAPS_DIR = pathlib.Path(__file__).resolve().parents[1] / "maps"
REFERENCE_CSV = MAPS_DIR / "reference" / "duisburg_reference_points.csv"
VELOCITY_CSV = MAPS_DIR / "reference" / "rhine_bovenrijn_velocity_vs_discharge.csv"
OUT_PATH = MAPS_DIR / "duisburg_ruhrort.geojson"

NAME = "duisburg_ruhrort"
CRS = "EPSG:32632"
MQ_RUHRORT = 2210.0  # m3/s, BfG gauge Duisburg-Ruhrort
MQ_LOBITH = 2300.0  # m3/s, approximate long-term mean at Lobith (scales the Bovenrijn table)

# --- Rhine centreline control nodes: (x east, y north) metres from P1, half-width metres -------
# Listed upstream -> downstream (south -> north).  P5 and P4 are nodes; the others are digitised.
RHINE_NODES = [
    (1600.0, -5960.0, 175.0),  # upstream end, ~km 773.6 (Rheinhausen / Hochfeld)
    (595.0, -4501.0, 175.0),  # P5 Bruecke der Solidaritaet, km 775.29
    (-260.0, -3260.0, 180.0),
    (-1125.0, -2005.0, 180.0),  # P4 A40 Neuenkamp, km 778.34
    (-1240.0, -1640.0, 180.0),
    (-1090.0, -1170.0, 175.0),  # Aussenhafen entrance (~km 779.5)
    (-840.0, -840.0, 175.0),
    (-600.0, -570.0, 175.0),  # Ruhr mouth, km 780.09
    (-400.0, -40.0, 175.0),
    (-330.0, 200.0, 175.0),  # Friedrich-Ebert-Bruecke / gauge, km 780.8
    (-265.0, 700.0, 180.0),
    (-230.0, 1500.0, 185.0),
    (-215.0, 2500.0, 185.0),
    (-210.0, 3300.0, 185.0),  # ~km 784
    (-205.0, 3720.0, 185.0),  # downstream end (Alsum / Walsum side)
]

FUNNEL_M = 70.0  # chamfer of the basin entrances off the Hafenkanal, each side [m]

# --- channels and basins: centre polylines (first node inside the water they branch from) ------
# id -> (name, kind, width_m, [(x, y), ...])
CHANNELS = {
    "hafenmund": ("Hafenmund Ruhrort", "mouth", 190.0, [(-520, -430), (-300, -375), (-120, -330)]),
    "hafenkanal": ("Hafenkanal", "harbour", 120.0,
                   [(-150, -330), (300, -380), (1000, -450), (1700, -560), (2350, -670)]),
    "rhk": ("Rhein-Herne-Kanal (head to Schleuse Meiderich)", "canal", 55.0, None),  # built from P8/P9
    "basin_a": ("Hafenbecken A", "basin", 100.0, [(820, -430), (850, 200), (880, 720)]),
    "basin_b": ("Hafenbecken B", "basin", 95.0, [(1470, -530), (1500, 100), (1530, 620)]),
    "basin_c": ("Hafenbecken C", "basin", 110.0, [(2230, -640), (2250, 0), (2280, 460)]),
    "eisenbahnhafen": ("Eisenbahnhafen Ruhrort", "basin", 80.0, [(330, -390), (360, 0), (390, 260)]),
    "vinckekanal": ("Vinckekanal", "canal", 70.0, [(-95, -300), (-55, 0), (-30, 200)]),
    "suedhafen": ("Suedhafen", "basin", 90.0, [(-30, 190), (60, 560), (150, 890)]),
    "ruhr": ("Ruhr (mouth reach)", "river", 90.0,
             [(-680, -710), (-300, -650), (300, -700), (1000, -810), (1500, -900)]),
    "parallelhafen": ("Parallelhafen", "basin", 90.0, [(-780, -880), (-300, -880), (700, -1020)]),
    "aussenhafen": ("Aussenhafen", "harbour", 120.0, [(-1020, -1180), (-500, -1200), (400, -1320)]),
    "innenhafen": ("Innenhafen", "harbour", 60.0, [(380, -1318), (1200, -1520), (2000, -1760)]),
}
WATERWAY = {"ruhr": "Ruhr", "rhk": "Rhein-Herne-Kanal"}

# Berths: (basin id, fraction along the basin centreline, side +1 east/starboard quay of the
# centreline direction or -1, length_m, name)
BERTHS = [
    ("basin_a", 0.35, +1, 110.0, "Hafenbecken A Ostkai 1"),
    ("basin_a", 0.70, -1, 110.0, "Hafenbecken A Westkai 2"),
    ("basin_b", 0.35, -1, 110.0, "Hafenbecken B Westkai 1"),
    ("basin_b", 0.70, +1, 135.0, "Hafenbecken B Ostkai 2"),
    ("basin_c", 0.30, +1, 135.0, "Hafenbecken C Ostkai 1"),
    ("basin_c", 0.70, -1, 110.0, "Hafenbecken C Westkai 2"),
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


def velocity_table(path: pathlib.Path = VELOCITY_CSV) -> list[list[float]]:
    """Median Bovenrijn velocity per Lobith discharge, discharge scaled to Ruhrort by MQ ratio."""
    by_q: dict[float, list[float]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            by_q.setdefault(float(row["discharge_lobith_m3s"]), []).append(float(row["velocity_ms"]))
    scale = MQ_RUHRORT / MQ_LOBITH
    return [[round(q * scale, 1), round(float(np.median(v)), 3)] for q, v in sorted(by_q.items())]


# --- geometry helpers (local metres) -------------------------------------------------------------
class Centreline:
    """Smooth Rhine centreline (cubic spline through the nodes) with river-km by arc length."""

    def __init__(self, nodes, anchors: list[tuple[tuple[float, float], float]], step: float = 25.0):
        nodes = np.asarray(nodes, dtype=float)
        d = np.r_[0.0, np.cumsum(np.hypot(*np.diff(nodes[:, :2], axis=0).T))]
        sx, sy = CubicSpline(d, nodes[:, 0]), CubicSpline(d, nodes[:, 1])
        t = np.linspace(0.0, d[-1], int(d[-1] // step) + 1)
        self.xy = np.column_stack([sx(t), sy(t)])
        self.half_width = np.interp(t, d, nodes[:, 2])
        self.s = np.r_[0.0, np.cumsum(np.hypot(*np.diff(self.xy, axis=0).T))]
        self.line = LineString(self.xy)
        tang = np.gradient(self.xy, axis=0)
        tang /= np.hypot(tang[:, 0], tang[:, 1])[:, None]
        self.tangent = tang
        self.right = np.column_stack([tang[:, 1], -tang[:, 0]])  # starboard of the flow (east bank)
        anchor_s = np.array([self.line.project(Point(p)) for p, _ in anchors])
        anchor_km = np.array([k for _, k in anchors])
        order = np.argsort(anchor_s)
        anchor_s, anchor_km = anchor_s[order], anchor_km[order]
        if np.any(np.diff(anchor_km) <= 0):
            raise ValueError("reference km are not increasing downstream along the centreline")
        self.anchor_s, self.anchor_km = anchor_s, anchor_km
        # piecewise linear km(s) through the anchors, 1 km per 1000 m beyond them
        s_ext = np.r_[self.s[0], anchor_s, self.s[-1]]
        km_ext = np.r_[anchor_km[0] - (anchor_s[0] - self.s[0]) / 1000.0, anchor_km,
                       anchor_km[-1] + (self.s[-1] - anchor_s[-1]) / 1000.0]
        self._s_ext, self._km_ext = s_ext, km_ext
        self.km = np.interp(self.s, s_ext, km_ext)

    def s_at_km(self, km):
        return np.interp(km, self._km_ext, self._s_ext)

    def at_s(self, s):
        """Point, tangent, starboard normal and half-width at arc length s."""
        s = float(s)
        p = np.array([np.interp(s, self.s, self.xy[:, 0]), np.interp(s, self.s, self.xy[:, 1])])
        tx, ty = np.interp(s, self.s, self.tangent[:, 0]), np.interp(s, self.s, self.tangent[:, 1])
        n = math.hypot(tx, ty)
        t = np.array([tx / n, ty / n])
        return p, t, np.array([t[1], -t[0]]), float(np.interp(s, self.s, self.half_width))

    def offset(self, dist, s_from=None, s_to=None, spacing=100.0):
        """Polyline offset ``dist`` metres to starboard of the flow, with km per vertex."""
        s0 = self.s[0] if s_from is None else s_from
        s1 = self.s[-1] if s_to is None else s_to
        ss = np.linspace(s0, s1, int(abs(s1 - s0) // spacing) + 2)
        pts, kms = [], []
        for s in ss:
            p, _, r, _ = self.at_s(s)
            pts.append(p + dist * r)
            kms.append(float(np.interp(s, self._s_ext, self._km_ext)))
        return np.array(pts), np.array(kms)

    def polygon(self):
        left = self.xy - self.right * self.half_width[:, None]
        right = self.xy + self.right * self.half_width[:, None]
        poly = Polygon(np.vstack([right, left[::-1]]))
        if not poly.is_valid:
            raise ValueError("Rhine polygon is not valid (centreline bends too sharply)")
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


# --- build ---------------------------------------------------------------------------------------
def build() -> dict:
    ref = read_reference_points()
    origin_lon, origin_lat = ref["P1"]["lon_deg"], ref["P1"]["lat_deg"]
    frame = LocalFrame(CRS, origin_lon, origin_lat)
    geod = Geod(ellps="WGS84")
    gamma = frame.convergence_rad

    def local(pid):
        x, y = frame.to_local(ref[pid]["lon_deg"], ref[pid]["lat_deg"])
        return np.array([float(x), float(y)])

    P = {k: local(k) for k, r in ref.items() if r["lat_deg"] is not None}
    anchors = [(P["P5"], 775.29), (P["P4"], 778.34), (P["P2"], 780.09), (P["P1"], 780.80)]
    rhine = Centreline(RHINE_NODES, anchors)
    features: list[dict] = []

    def add(fid, ftype, geom, **props):
        props = {k: v for k, v in props.items() if v is not None}
        features.append({"id": fid, "type": ftype, "geometry": geom, "properties": props})

    # water ---------------------------------------------------------------------------------------
    rhine_poly = rhine.polygon()
    add("water-rhine", "water", rhine_poly, name="Rhein (Niederrhein)", kind="river", waterway="Rhein")
    chan = {k: v for k, v in CHANNELS.items() if v[3] is not None}
    polys = {}
    for cid, (name, kind, width, nodes) in chan.items():
        polys[cid] = channel_polygon(nodes, width)
        add(f"water-{cid}", "water", polys[cid], name=name, kind=kind, waterway=WATERWAY.get(cid, name))
    # Entrance funnels ("Einfahrtstrichter") where the basins branch off the Hafenkanal: the corners
    # of the junction are chamfered by FUNNEL_M on either side, so that a 110 m ship whose tightest
    # turning radius is about 100 m can make the 90 deg turn in. Real basin entrances are widened
    # in this way; their exact shape here is assumed (see the accuracy statement).
    hk = LineString(CHANNELS["hafenkanal"][3])
    hk_w = CHANNELS["hafenkanal"][2]
    for cid in ("basin_a", "basin_b", "basin_c", "eisenbahnhafen"):
        _name, _kind, width, nodes = CHANNELS[cid]
        root = hk.interpolate(hk.project(Point(nodes[0])))
        root = np.array([root.x, root.y])
        d = hk.interpolate(hk.project(Point(root)) + 1.0)
        t = np.array([d.x, d.y]) - root
        t /= np.linalg.norm(t)
        axis = np.array(nodes[1], float) - np.array(nodes[0], float)
        axis /= np.linalg.norm(axis)
        side = np.sign(t[0] * axis[1] - t[1] * axis[0]) or 1.0  # which bank of the canal the basin is on
        n_bank = np.array([-t[1], t[0]]) * side  # towards the basin
        edge = root + n_bank * (hk_w / 2.0 - 1.0)
        perp = np.array([axis[1], -axis[0]])
        mouth = root + axis * (hk_w / 2.0 + FUNNEL_M)
        funnel = Polygon([edge - t * (width / 2.0 + FUNNEL_M), edge + t * (width / 2.0 + FUNNEL_M),
                          mouth + perp * (width / 2.0 - 1.0) * np.sign(perp @ t),
                          mouth - perp * (width / 2.0 - 1.0) * np.sign(perp @ t)]).convex_hull
        polys[cid] = unary_union([polys[cid], funnel])
        for f in features:
            if f["id"] == f"water-{cid}":
                f["geometry"] = polys[cid]
    # Rhein-Herne-Kanal head: from the Hafenkanal end past P8 to the lower head of the lock at P9
    lock_axis = bearing(P["P8"], P["P9"])
    u = np.array([math.sin(lock_axis), math.cos(lock_axis)])
    lock_len, lock_w = 190.0, 11.89
    lower_head = P["P9"] - u * lock_len / 2.0
    rhk_nodes = [(2300.0, -680.0), tuple(P["P8"]), tuple(lower_head + u * 2.0)]
    polys["rhk"] = channel_polygon(rhk_nodes, 55.0)
    add("water-rhk", "water", polys["rhk"], name=CHANNELS["rhk"][0], kind="canal", waterway="Rhein-Herne-Kanal")
    lock_poly = rectangle(P["P9"], lock_axis, lock_len, lock_w)
    add("lock-meiderich", "lock", lock_poly, name="Schleuse Meiderich", chamber_length_m=lock_len,
        chamber_width_m=lock_w, lift_m=7.35, waterway_km=0.815)  # RHK-km 0.72-0.91, chamber centre

    # bridges and piers --------------------------------------------------------------------------
    def bridge(fid, name, km, span, east_extra=0.0, pier_offsets=(), point=None):
        if point is not None:
            s = rhine.line.project(Point(point))
            km = float(np.interp(s, rhine._s_ext, rhine._km_ext))
        else:
            s = rhine.s_at_km(km)
        c, t, r, hw = rhine.at_s(s)
        a, b = c - r * (hw + 40.0), c + r * (hw + 40.0 + east_extra)
        add(f"bridge-{fid}", "bridge", LineString([a, b]), name=name, clearance_m=BRIDGE_CLEARANCE_M,
            km=round(km, 2), span_m=span, waterway="Rhein")
        for i, off in enumerate(pier_offsets, 1):
            pier = rectangle(c + r * off, math.atan2(t[0], t[1]), 25.0, 8.0)
            add(f"pier-{fid}-{i}", "obstacle", pier, kind="bridge_pier", name=f"{name} pier {i}",
                bridge=f"bridge-{fid}")

    bridge("hochfeld-rail", "Eisenbahnbruecke Duisburg-Hochfeld-Rheinhausen", 774.38, None,
           pier_offsets=(-110.0, 110.0))
    bridge("solidaritaet", "Bruecke der Solidaritaet", None, 255.9, point=P["P5"])
    bridge("a40-neuenkamp", "Rheinbruecke Neuenkamp (A40)", None, 350.0, point=P["P4"])
    bridge("friedrich-ebert", "Friedrich-Ebert-Bruecke (Ruhrort-Homberg)", None, 285.5, east_extra=230.0,
           point=P["P3"], pier_offsets=(-142.75, 142.75))
    # mole at the harbour mouth: the Ruhr mouth light P2 stands on its tip
    mole_axis = np.array([P["P2"] + np.array([130.0, -5.0]), P["P2"] - np.array([22.0, 0.0])])
    add("mole-ruhrmuendung", "obstacle", LineString(mole_axis).buffer(25.0, quad_segs=8),
        kind="mole", name="Mole Ruhrmuendung / Hafenmund")

    # lanes -------------------------------------------------------------------------------------
    s_lo, s_hi = rhine.s[0] + 60.0, rhine.s[-1] - 60.0
    down_xy, down_km = rhine.offset(+LANE_OFFSET_M, s_lo, s_hi)
    up_xy, up_km = rhine.offset(-LANE_OFFSET_M, s_hi, s_lo)
    add("lane-rhine-down", "lane", LineString(down_xy), name="Rhein talwaerts (downstream)", waterway="Rhein",
        direction="forward", role="downstream", width_m=RHINE_LANE_WIDTH_M,
        km=[round(float(k), 3) for k in down_km])
    add("lane-rhine-up", "lane", LineString(up_xy), name="Rhein bergwaerts (upstream)", waterway="Rhein",
        direction="forward", role="upstream", width_m=RHINE_LANE_WIDTH_M,
        km=[round(float(k), 3) for k in up_km])
    down_line = LineString(down_xy)

    def junction(line: LineString, p):
        q = line.interpolate(line.project(Point(p)))
        return (q.x, q.y)

    def channel_lane(fid, name, waterway, parent: LineString, nodes, width, end_trim=60.0):
        coords = [junction(parent, nodes[0])] + [tuple(map(float, n)) for n in nodes[1:]]
        line = cut_line(coords, end_trim=end_trim)
        add(fid, "lane", line, name=name, waterway=waterway, direction="both", role="channel", width_m=width)
        return line

    main_nodes = CHANNELS["hafenmund"][3] + CHANNELS["hafenkanal"][3][1:] + rhk_nodes[1:]
    main = channel_lane("lane-hafenkanal", "Hafenmund - Hafenkanal - Rhein-Herne-Kanal", "Hafenkanal",
                        down_line, main_nodes, 40.0, end_trim=10.0)
    for cid, label in (("basin_a", "Hafenbecken A"), ("basin_b", "Hafenbecken B"),
                       ("basin_c", "Hafenbecken C"), ("eisenbahnhafen", "Eisenbahnhafen Ruhrort")):
        channel_lane(f"lane-{cid}", label, "Hafenkanal", main, CHANNELS[cid][3], 40.0)
    channel_lane("lane-vinckekanal", "Vinckekanal - Suedhafen", "Vinckekanal", main,
                 CHANNELS["vinckekanal"][3] + CHANNELS["suedhafen"][3][1:], 35.0)
    channel_lane("lane-ruhr", "Ruhrmuendung", "Ruhr", down_line, CHANNELS["ruhr"][3], 40.0, end_trim=100.0)
    channel_lane("lane-parallelhafen", "Parallelhafen", "Parallelhafen", down_line,
                 CHANNELS["parallelhafen"][3], 40.0)
    channel_lane("lane-aussenhafen", "Aussenhafen - Innenhafen", "Aussenhafen", down_line,
                 CHANNELS["aussenhafen"][3] + CHANNELS["innenhafen"][3][1:], 35.0)

    # berths ------------------------------------------------------------------------------------
    for i, (cid, frac, side, length, name) in enumerate(BERTHS, 1):
        _, _, width, nodes = CHANNELS[cid]
        p, hdg = point_along(LineString(nodes), frac)
        stb = np.array([math.cos(hdg), -math.sin(hdg)])
        xy = p + side * stb * (width / 2.0 - 10.0)
        true_hdg = math.degrees(hdg + gamma) % 360.0
        add(f"berth-{i:02d}", "berth", Point(xy), name=name, basin=CHANNELS[cid][0],
            heading_deg=round(true_hdg, 1), length_m=length, quay=name.rsplit(" ", 1)[0])

    # gauge, km markers ---------------------------------------------------------------------------
    add("gauge-ruhrort", "gauge", Point(P["P1"]), name="Pegel Duisburg-Ruhrort", km=780.80,
        gauge_no="2770010", pnp_m_nhn=16.11, marks_m=[9.30, 11.30])  # high-water marks I, II (§ 10.01)
    for km in np.arange(774.0, 784.0 + 1e-9, 0.5):
        c, _, r, hw = rhine.at_s(rhine.s_at_km(km))
        add(f"km-{km:.1f}", "km_marker", Point(c + r * (hw + 5.0)), km=round(float(km), 1), waterway="Rhein")

    # current -----------------------------------------------------------------------------------
    thalweg, _ = rhine.offset(0.0, rhine.s[0], rhine.s[-1], spacing=100.0)
    add("current-rhine", "current", LineString(thalweg), name="Rhein thalweg", velocity_table=velocity_table(),
        influence_m=200.0, bank_ramp_m=60.0)
    ruhr_line = cut_line(CHANNELS["ruhr"][3][::-1], end_trim=150.0)  # ends at the Rhine bank
    add("current-ruhr", "current", ruhr_line, name="Ruhr mouth (weak)",
        speed_ms=0.3, influence_m=45.0, bank_ramp_m=20.0)

    # 5G cell sites (assumed) ---------------------------------------------------------------------
    water_all = unary_union([rhine_poly, lock_poly, *polys.values()])

    def bank_site(km, side, dist):
        c, _, r, hw = rhine.at_s(rhine.s_at_km(km))
        return c + side * r * (hw + dist)

    sites = [
        ("Rheinhausen (left bank, km 775)", bank_site(775.0, -1, 300.0), 30.0),
        ("Hochfeld (right bank, km 776.5)", bank_site(776.5, +1, 300.0), 35.0),
        ("Kasslerfeld (between Ruhr and Parallelhafen)", np.array([200.0, -820.0]), 30.0),
        ("Ruhrort Altstadt", np.array([120.0, -150.0]), 35.0),
        ("Homberg (left bank, km 781)", bank_site(781.0, -1, 250.0), 30.0),
        ("Hafen Becken A/B", np.array([1160.0, 100.0]), 40.0),
        ("Hafen Becken C / Rhein-Herne-Kanal", np.array([2600.0, -350.0]), 35.0),
        ("Alsum (right bank, km 783)", bank_site(783.0, +1, 300.0), 30.0),
    ]
    for i, (name, xy, h) in enumerate(sites, 1):
        if water_all.contains(Point(xy)):
            raise ValueError(f"cell site {name!r} lies in the water")
        nearest = shapely.ops.nearest_points(rhine_poly, Point(xy))[0]
        az0 = math.degrees(bearing(xy, (nearest.x, nearest.y)) + gamma) % 360.0
        add(f"cell-{i:02d}", "cell_site", Point(xy), name=name, height_m=h,
            sectors_deg=[round((az0 + k * 120.0) % 360.0, 1) for k in range(3)], assumed=True)

    # check the connectivity of the water before writing
    obstacles = unary_union([f["geometry"] for f in features if f["type"] == "obstacle"])
    nav = water_all.difference(obstacles)
    if nav.geom_type != "Polygon":
        raise ValueError(f"navigable water is not one connected polygon ({nav.geom_type})")

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
    pad = 0.002
    extent = [round(lon0 - pad, 3), round(lat0 - pad, 3), round(lon1 + pad, 3), round(lat1 + pad, 3)]
    metadata = {
        "format_version": 1,
        "name": NAME,
        "title": "Duisburg-Ruhrort: Rhine km 773.6-784.4 and the Ruhrort port (digitised)",
        "crs": CRS,
        "origin": {"lon": ref["P1"]["lon_deg"], "lat": ref["P1"]["lat_deg"]},
        "extent": extent,
        "accuracy": {
            "horizontal_m": 100.0,
            "statement": (
                "Digitised by hand from 10 public reference points (gauge, Ruhr mouth light, four "
                "bridges, port centre, Rhein-Herne-Kanal head, Schleuse Meiderich) and published "
                "facts; not surveyed. Rhine banks about +-50-150 m, basins and channels +-100-300 m "
                "in position and shape; river-km interpolated between the reference km; bridge "
                "clearances, berths and 5G sites are assumed. Replace by an OpenStreetMap import "
                "(testbed map import) for real geometry."
            ),
        },
        "sources": [
            "maps/reference/duisburg_reference_points.csv (BfG Undine gauge page, deutsche-leuchtfeuer.de, "
            "Wikipedia and mirrors; see its source_url column)",
            "maps/reference/duisburg_port_facts.md (public facts: layout of the Ruhrort port, MQ 2210 m3/s)",
            "maps/reference/rhine_bovenrijn_velocity_vs_discharge.csv (Deltares digitaltwin-waterway, MIT)",
            "harbour_maps/build/duisburg.py (the digitised control points)",
        ],
        "licence": (
            "CC BY 4.0 (digitisation, Duisburg Smart Shipping Testbed). Facts partly from Wikipedia "
            "(CC BY-SA 4.0); velocity calibration from Deltares digitaltwin-waterway (MIT)."
        ),
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
