"""Synthetic AIS traffic for a harbour map (Duisburg-Ruhrort): deterministic NMEA from a seed.

:func:`synthesize` simulates a mix of inland vessels in 1 s steps and sends them through an
:class:`testbed.ais.emit.AISEmitter` (type 1 at the ITU-R M.1371 class A intervals, types 5 and
8 DAC 200 FI 10 at first sight and every 6 minutes, NMEA 4.0 tag-block times from ``epoch``).

Traffic model (all random draws from one ``np.random.Generator(PCG64(seed))``):

* **Types** from :mod:`vessels.catalogue`: motor freighters M8/M9/M6, motor tankers, push convoys
  C2L/C3L, passenger vessels, tugs/pushers and a few recreational craft, with their catalogue length,
  beam and design draught; AIS ship type and ERI code from the catalogue's ``ais_types`` /
  ``eri_codes`` (fixed choices for the types that list none); MMSIs of German (211), Dutch (244)
  and Belgian (205) stations, ENI numbers of the matching national ranges (04/05, 02/03, 06),
  call signs, names, destinations and ETAs.  Recreational craft send no FI 10 (no ENI).
* **Rhine through traffic** on ``lane-rhine-up`` / ``lane-rhine-down`` (Poisson arrivals at the lane
  starts, mean ``mean_interarrival_s`` per direction, delayed while the lane start is occupied, and a
  steady-state population at t = 0), each vessel with its own lateral offset from the lane centre line
  and its own speed through the
  water (2.5-3.5 m/s for cargo, more for passenger and recreational craft).  Speed over ground =
  speed through the water + the map's current along the track (about 1.3 m/s on the Rhine), so
  upstream traffic is slow over ground and downstream traffic fast.
* **Port calls**: a share of the arrivals (never recreational craft) leaves the Rhine into a Ruhrort
  harbour and goes to a free berth along ``RoutePlanner(hmap).plan(start, berth)``, kept 12 m to starboard
  of the harbour lanes; it lies there moored (nav status 5, SOG 0, starboard side to the quay, reported
  every 3 min) for a random time; moored vessels (some already there at t = 0) leave for either end of the
  Rhine section.  Harbour speed at most 1.8 m/s.
* **Kinematics**: vessels move along their (corner-rounded, water-checked) path; the speed over
  ground follows a profile limited by the harbour speed, by the turn rate in bends (SOG x curvature
  <= the type's maximum rate of turn) and by stopping at the berth, with limited acceleration
  (forward/backward pass); the heading turns towards the path tangent at most at the type's rate of
  turn; COG is the path tangent.  Positions are converted with the map frame (grid -> true bearings).

**Traffic rules** (RheinSchPV, the rules and zones of :mod:`testbed.rules`; ``testbed rules check-ais``
reports no violation on the shipped recording):

* § 6.20: in front of harbour mouths and at berths (the map's ``harbour_mouth`` / ``berth_area`` zones,
  from 60 m before) at most 11 km/h - 0.4 m/s, both through the water and over ground;
* § 9.04/6.04: each direction keeps to its own (starboard) lane, each vessel at its own lateral offset
  (-25..+20 m), so vessels meet port-to-port;
* § 6.09/6.10, 6.07/6.08, 6.24: a vessel that cannot overtake with more than 10 m (+10 m margin) between
  the hulls, or is in a narrow fairway or bridge opening, follows the one ahead (matches its speed at a
  headway beyond the half lengths + 60 m) instead of overtaking;
* § 1.01/6.02: small craft (< 20 m) keep 110 m to starboard of their lane (the bank side; the large
  vessels' offsets leave them the room § 6.02 asks for), are faster than any large vessel (so never
  overtaken), and take the fastest of a few speeds that keeps their closest approach to every larger
  vessel outside the checker's window;
* § 6.16: a vessel bound into or out of a harbour waits at a hold point before the mouth (off the zones
  where § 7.02 forbids lying still) until its manoeuvre, predicted along its path, neither crosses the
  path of a through vessel (also predicted along its own path) nor meets one starboard-to-starboard nor
  passes one too close; after 240 s without a gap an arriving vessel sails on along the Rhine;
* § 9.07 Nr. 5: a downstream vessel bound for the Hafenmund, Hafenkanal or Parallelhafen first sails a
  loop to face upstream (one that fits the water is searched; without one it does not call);
* § 7.02: berths in zones where lying still is forbidden are not used; hold points are 40 m clear of them;
* moored vessels: the checker reads a vessel passing a moored one on the same course as overtaking
  (§ 6.07 in the basins) and one with it on its starboard side on an opposite course as a meeting
  (§ 6.04), so berths are allocated (and departures wait) so that no vessel passes a moored one that way.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import io
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from testbed.ais.emit import DEFAULT_EPOCH, AISEmitter, AISStatic, AISVessel, state_to_ais
from testbed.ais.encode import LOADED, NAV_MOORED, NAV_UNDER_WAY, UNLOADED
from testbed.rules.passage import Passage
from testbed.rules.passage import chaikin as _chaikin
from testbed.rules.passage import densify as _densify

__all__ = ["synthesize", "write_synth", "add_synth_parser", "TYPE_MIX"]

# type id, share of arrivals, AIS ship type, ERI codes, speed through the water range (m/s), max ROT (deg/min)
TYPE_MIX = (
    ("M8", 0.22, 79, (8010, 8030), (2.6, 3.5), 40.0),
    ("M9", 0.09, 79, (8010,), (2.6, 3.4), 35.0),
    ("M6", 0.12, 79, (8010,), (2.5, 3.2), 45.0),
    ("TANKER", 0.16, 80, (8020, 8021, 8022), (2.6, 3.4), 40.0),
    ("C2L", 0.06, 79, (8210,), (2.5, 3.0), 30.0),
    ("C3L", 0.08, 79, (8220,), (2.5, 3.0), 25.0),
    ("PAX", 0.08, 60, (8441, 8443), (3.3, 4.2), 45.0),
    ("TUG", 0.10, 52, (8400, 8430, 8450), (2.6, 3.5), 90.0),
    ("REC", 0.09, 37, (1850,), (3.5, 5.0), 150.0),
)
# MID, ENI national prefixes, call sign prefix, share
_FLAGS = (("211", ("04", "05"), "DA", 0.6), ("244", ("02", "03"), "PD", 0.3), ("205", ("06",), "OT", 0.1))
_NAMES = ("RHEINFELS", "MAASSTROOM", "ALEXANDRA", "DEO GLORIA", "VERTROUWEN", "HEINRICH", "LORELEY",
          "NIEDERRHEIN", "RUHRORT", "SPES MEA", "ANTONIA", "FORTUNA", "JOHANNA", "KAMPEN", "ZWIJNDRECHT",
          "LIBERTAS", "NOVA", "EXCELSIOR", "HELENA", "CORNELIA", "EMMERICH", "WESEL", "ORSOY", "HOMBERG",
          "ESPERANCE", "SCHELDE", "MARITIMA", "AMICITIA", "HARMONIE", "SANDRA", "GERDA", "WALSUM",
          "EUROPA", "VIKING", "AVANTI", "CONCORDIA", "BLAUWE HOEK", "KEES", "INGRID", "MERCATOR")
_UPSTREAM_DEST = ("KOELN", "DUESSELDORF", "NEUSS", "MANNHEIM", "LUDWIGSHAFEN", "BASEL", "KARLSRUHE")
_DOWNSTREAM_DEST = ("ROTTERDAM", "ANTWERPEN", "AMSTERDAM", "NIJMEGEN", "MOERDIJK", "DORDRECHT")
HARBOUR_SPEED_MS = 1.8
ACCEL_MS2 = 0.02


# § 6.20: 11 km/h through the water in front of harbour mouths and at berths; the synthesiser keeps both the
# speed through the water and over ground (the world's replay uses the latter) this far below it
ZONE_SPEED_MS = 11.0 / 3.6 - 0.4
BRAKE_MS2 = 0.06  # when following another vessel or giving way
SMALL_CRAFT_M = 20.0  # RulesConfig.small_craft_m
SMALL_OFFSET_M = 110.0  # small craft keep this far to starboard of their lane (towards the bank)
BIG_OFFSET_M = (-25.0, 20.0)  # range of the other vessels' lateral offsets from the lane
HARBOUR_OFFSET_M = 12.0  # port calls keep this far to starboard of the harbour lanes (meet port-to-port)
GATE_EVERY_S = 5.0
MAX_HOLD_S = 240.0  # a vessel bound for a berth gives up (sails on) after waiting this long before the mouth  # a vessel waiting at a harbour mouth looks at the through traffic this often
ROOM = {"pass_gap": 10.0 + 10.0, "small_cpa": 30.0 + 15.0, "small_tcpa": 60.0 + 20.0, "mouth_cpa": 50.0 + 50.0,
        "mouth_tcpa": 90.0 + 30.0, "meet_lat": 170.0}  # the checker's thresholds (RulesConfig) plus margins


@dataclass(eq=False)
class _Ship:
    vt: str
    stw: float
    rmax: float  # rad/s
    ais: AISVessel
    length: float = 0.0
    beam: float = 0.0
    small: bool = False
    offset: float = 0.0  # lateral offset from the lane (through traffic)
    xy: np.ndarray | None = None  # path (P, 2)
    s_arr: np.ndarray | None = None
    s_list: list | None = None
    s_end: float = 0.0
    theta: np.ndarray | None = None  # unwrapped tangent at the vertices (grid rad)
    vmax: np.ndarray | None = None  # SOG limit at the vertices (with the stop at the gate while it is closed)
    vfree: np.ndarray | None = None  # SOG limit at the vertices without the gate
    tfree: np.ndarray | None = None  # time along the path at the free profile (prediction)
    zb: np.ndarray | None = None  # rule-zone bits at the vertices
    cup: np.ndarray | None = None  # heading . current direction at the vertices (+1 downstream, 0 no current)
    gate_s: float = math.inf  # hold point before a harbour-mouth manoeuvre (closed until the way is clear)
    gate_i: int = -1
    cross_end_s: float = 0.0  # end of the manoeuvre at the mouth
    next_look: float = 0.0
    held_since: float = -1.0
    s: float = 0.0
    sog: float = 0.0
    psi: float = 0.0
    berth: int | None = None  # berth it is going to / lying at
    moored_until: float = math.inf
    dep_upstream: bool | None = None
    dep_path: np.ndarray | None = None
    upstream: bool | None = None  # the direction it arrived in (port calls)
    pos: np.ndarray | None = None
    cog: float = 0.0


def _normals(p: np.ndarray) -> np.ndarray:
    """Unit starboard normals at the vertices of a polyline."""
    t = np.gradient(p, axis=0)
    t /= np.maximum(np.hypot(t[:, 0], t[:, 1]), 1e-9)[:, None]
    return np.column_stack([t[:, 1], -t[:, 0]])


def _offset(p: np.ndarray, d) -> np.ndarray:
    """Polyline shifted ``d`` metres (scalar or per vertex) to starboard (vertex normals)."""
    return p + np.asarray(d, dtype=float).reshape(-1, 1) * _normals(p)


def _dilate(mask: np.ndarray, k: int) -> np.ndarray:
    if not mask.any():
        return mask
    return np.convolve(mask.astype(float), np.ones(2 * k + 1), mode="same") > 0


class _Synth:
    def __init__(self, hmap, seed: int, mean_interarrival_s: float, port_share: float):
        from testbed.route import RoutePlanner
        from testbed.rules import zones as rz

        self.map = hmap
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.planner = RoutePlanner(hmap)
        self.passage = Passage(hmap, self.planner)
        lanes = {ln.id: ln for ln in hmap.lanes}
        self.up, self.down = lanes["lane-rhine-up"], lanes["lane-rhine-down"]
        self.mean_ia = mean_interarrival_s
        self.port_share = port_share
        self.zt = rz.zone_table(hmap)
        m = self.zt.masks
        self.m_speed = int(m[rz.M_MOUTH] | m[rz.M_BERTH])
        self.m_still = int(m[rz.M_BRIDGE] | m[rz.M_ENTRY] | m[rz.M_MOUTH] | m[rz.M_TURN])
        self.m_mouth, self.m_entry, self.m_turn = int(m[rz.M_MOUTH]), int(m[rz.M_ENTRY]), int(m[rz.M_TURN])
        self.m_narrow = int(m[rz.M_NARROW] | m[rz.M_BRIDGE_NARROW])
        self.m_entry_turn = int(m[rz.M_ENTRY_TURN])
        # berths the synthesiser uses: not in a zone where lying still is forbidden (§ 7.02)
        bxy = np.array([b.xy for b in hmap.berths]).reshape(-1, 2)
        bb = self.passage.bits(bxy)
        self.berth_usable = [(int(v) & self.m_still) == 0 for v in bb]
        self.berth_free = list(self.berth_usable)
        # moored starboard side to the quay: a vessel passing on an opposite course then has it on its port
        # side (a moored vessel on the starboard side of an opposite course reads as a starboard-to-starboard
        # meeting, § 6.04)
        self.berth_heading = []
        for b in hmap.berths:
            n = np.array([math.cos(b.heading), -math.sin(b.heading)]) * 15.0
            sd = hmap.signed_distance(np.array([b.xy + n, b.xy - n]))
            self.berth_heading.append(b.heading if sd[0] < sd[1] else (b.heading + math.pi) % (2 * math.pi))
        self.mmsis: set[int] = set()
        self.ships: list[_Ship] = []
        self.all_ships: list[_Ship] = []
        self.gone: list[_Ship] = []
        self.no_turn = 0  # downstream port calls without a way to turn first (sailed through instead)
        self._exits: dict[int, list[np.ndarray]] = {}
        self.no_berth = 0  # port calls without a berth they could reach (sailed through instead)
        self.calls = 0  # arrivals bound for a berth
        self.departures = 0  # vessels that left a berth
        self.waits: list[float] = []
        self.gave_up = 0  # how long vessels waited at a hold point before a harbour mouth
        from vessels import catalogue

        self.cat = catalogue
        w = np.array([m[1] for m in TYPE_MIX])
        self.type_p = w / w.sum()

    # -- vessel identity ----------------------------------------------------------------------------
    def new_ship(self, dest: str, port_call: bool = False) -> _Ship:
        rng = self.rng
        while True:
            k = int(rng.choice(len(TYPE_MIX), p=self.type_p))
            if not (port_call and TYPE_MIX[k][0] == "REC"):  # pleasure craft do not call at the cargo quays
                break
        tid, _, ais_type, eris, (v0, v1), rot = TYPE_MIX[k]
        vt = self.cat.get(tid)
        f = int(rng.choice(len(_FLAGS), p=[x[3] for x in _FLAGS]))
        mid, eni_pre, cs_pre, _ = _FLAGS[f]
        while True:
            mmsi = int(mid) * 1_000_000 + int(rng.integers(0, 1_000_000))
            if mmsi not in self.mmsis:
                break
        self.mmsis.add(mmsi)
        name = str(rng.choice(_NAMES))
        if rng.random() < 0.4:
            name += " " + ("II", "III", "IV", "V", "2", "3", "7")[int(rng.integers(0, 7))]
        L, B = float(vt.L_oa), float(vt.B)
        if tid in ("REC", "TUG"):
            L *= float(rng.uniform(0.85, 1.15))
        eri = int(rng.choice(eris))
        loaded = LOADED if (tid not in ("PAX", "TUG", "REC") and rng.random() < 0.65) else UNLOADED
        draught = vt.T * (float(rng.uniform(0.8, 1.0)) if loaded == LOADED else float(rng.uniform(0.45, 0.6)))
        hazard = 5 if tid == "REC" else (int(rng.integers(1, 3)) if tid == "TANKER" and loaded == LOADED else 0)
        eta_h = int(rng.integers(6, 96))
        st = AISStatic.from_dimensions(
            L, B, name=name, callsign=f"{cs_pre}{int(rng.integers(1000, 10000))}", imo=0, ship_type=ais_type,
            draught_m=round(draught, 2), destination=dest, eta=(6, 1 + eta_h // 24, eta_h % 24, 15 * int(rng.integers(0, 4))),
            eni=None if tid == "REC" else f"{rng.choice(eni_pre)}{int(rng.integers(0, 1_000_000)):06d}",
            eri_code=eri, hazard=hazard, loaded=0 if tid == "REC" else loaded)
        ship = _Ship(tid, float(rng.uniform(v0, v1)), math.radians(rot) / 60.0, AISVessel(mmsi, 0.0, 0.0, static=st))
        # the hull as the AIS receiver sees it (reported dimensions, whole metres)
        ship.length = float(st.to_bow + st.to_stern)
        ship.beam = float(st.to_port + st.to_starboard)
        ship.small = ship.length < SMALL_CRAFT_M
        if ship.small:
            ship.stw = max(ship.stw, 4.4)  # faster than any other vessel: never overtaken (§ 6.02)
            ship.offset = SMALL_OFFSET_M
        else:
            cap = SMALL_OFFSET_M - (0.5 * (ship.length + 14.0) + ROOM["small_cpa"])
            ship.offset = float(rng.uniform(BIG_OFFSET_M[0], max(BIG_OFFSET_M[0], min(BIG_OFFSET_M[1], cap))))
        self.all_ships.append(ship)
        return ship

    # -- paths --------------------------------------------------------------------------------------
    def smooth(self, raw: np.ndarray) -> np.ndarray:
        p = _densify(_chaikin(_densify(raw, 20.0), 3), 10.0)
        if not self.map.is_water(_densify(p, 2.0)).all():
            p = _densify(raw, 10.0)
        d = np.diff(p, axis=0)
        keep = np.r_[True, np.hypot(d[:, 0], d[:, 1]) > 1e-6]
        return p[keep]

    def shifted(self, p: np.ndarray, want: float, clearance: float, taper: tuple[bool, bool],
                through: bool = False) -> np.ndarray:
        """``p`` shifted ``want`` metres to starboard where the water allows (``clearance`` to the bank),
        less where it does not, smoothly; tapered to no shift over 150 m at the ends flagged in ``taper``.
        ``through``: also less where the shifted path would count as crossing a harbour mouth (§ 6.16: the
        current off a mouth does not run along the Rhine)."""
        n = len(p)
        t = np.gradient(p, axis=0)
        th = np.arctan2(t[:, 0], t[:, 1])
        d = np.zeros(n)
        for frac in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):  # the largest shift that fits, per vertex
            q = _offset(p, want * frac)
            ok = self.map.signed_distance(q) >= clearance
            if through:
                ok &= ~self.crossing(self.passage.bits(q), self.passage.cup_at(q, th))
            d = np.where(ok, want * frac, d) if frac else d
            if frac == 0.0:
                base_ok = ok
        if through and not base_ok.all():
            d = np.where(base_ok, d, 0.0)
        s = np.r_[0.0, np.cumsum(np.hypot(*np.diff(p, axis=0).T))]
        w = np.ones(n)
        if taper[0]:
            w = np.minimum(w, np.clip(s / 150.0, 0.0, 1.0))
        if taper[1]:
            w = np.minimum(w, np.clip((s[-1] - s) / 150.0, 0.0, 1.0))
        step = float(np.median(np.diff(s))) if n > 1 else 1.0
        k = min(int(300.0 / max(step, 1.0)), max((n - 1) // 2, 0))  # +-300 m
        if k:  # erode, then average: smooth and nowhere more than the shift that fits there
            from numpy.lib.stride_tricks import sliding_window_view

            mag = np.abs(d)
            er = sliding_window_view(np.pad(mag, k, mode="edge"), 2 * k + 1).min(axis=1)
            mag = sliding_window_view(np.pad(er, k, mode="edge"), 2 * k + 1).mean(axis=1)
            d = mag * math.copysign(1.0, want)
        return _offset(p, d * w)

    def set_path(self, ship: _Ship, p: np.ndarray, stop: bool, gate: bool) -> None:
        hm = self.map
        d = np.diff(p, axis=0)
        seg = np.hypot(d[:, 0], d[:, 1])
        s = np.r_[0.0, np.cumsum(seg)]
        h = np.unwrap(np.arctan2(d[:, 0], d[:, 1]))
        theta = np.r_[h[0], 0.5 * (h[:-1] + h[1:]), h[-1]]
        kappa = np.abs(np.gradient(theta, s))
        kappa = np.convolve(kappa, np.ones(5) / 5, mode="same")
        tang = np.column_stack([np.sin(theta), np.cos(theta)])
        cur = np.einsum("ij,ij->i", hm.current(p), tang)
        harbour = np.abs(cur) < 0.3
        vmax = np.where(harbour, np.minimum(ship.stw, HARBOUR_SPEED_MS), ship.stw + cur)
        vmax = np.minimum(vmax, ship.rmax / np.maximum(kappa, 1e-6))
        zb = self.passage.bits(p)
        # § 6.20: slow in front of harbour mouths and at berths (through the water and over ground), from 60 m before
        slow = _dilate((zb & self.m_speed) != 0, 6)
        vmax = np.where(slow, np.minimum(vmax, np.minimum(ZONE_SPEED_MS, ZONE_SPEED_MS + cur)), vmax)
        vmax = np.maximum(vmax, 0.3)
        if stop:
            vmax[-1] = 0.0
        cup = self.passage.cup_at(p, theta)
        ship.xy, ship.s_arr, ship.s_list, ship.s_end, ship.theta = p, s, s.tolist(), float(s[-1]), theta
        ship.zb, ship.cup = zb, cup
        ship.vfree = _brake(vmax, seg)
        ship.tfree = _times(ship.vfree, seg, ship.vfree[0])
        ship.vmax = ship.vfree
        ship.gate_s, ship.gate_i = math.inf, -1
        ship.s = 0.0
        if gate:
            cross = self.crossing(zb, cup)
            if cross.any():
                ic = int(np.argmax(cross))
                still = _dilate((zb & self.m_still) != 0, 4)[:ic]  # 40 m clear of them
                ok = np.flatnonzero(~still & (s[:ic] < s[ic] - 40.0))
                if ok.size:
                    ig = int(ok[-1])
                    ship.gate_i, ship.gate_s = ig, float(s[ig])
                    vg = vmax.copy()
                    vg[ig] = 0.0
                    ship.vmax = _brake(vg, seg)
                ship.cross_end_s = float(s[np.flatnonzero(cross)[-1]]) + 150.0

    def crossing(self, zb: np.ndarray, cup: np.ndarray) -> np.ndarray:
        """Where a vessel leaves, enters or crosses at a harbour mouth in the checker's sense (§ 6.16), with margin."""
        zh = (zb & (self.m_mouth | self.m_entry)) != 0
        return (zh & (np.abs(cup) < 0.8) & ((zb & self.m_narrow) == 0)) | ((zb & self.m_entry) != 0)

    def turn_violation(self, p: np.ndarray) -> bool:
        """Would a vessel sailing ``p`` enter a Ruhrort harbour without having faced upstream (§ 9.07 Nr. 5)?"""
        return self.passage.turn_violation(p)

    def entry_path(self, start: np.ndarray, goal: np.ndarray, beam: float) -> np.ndarray | None:
        """A smoothed port-call path from ``start`` to ``goal``; a downstream vessel first turns to face
        upstream (§ 9.07 Nr. 5): past the entrance, a loop to starboard or port, back against the current
        (:meth:`testbed.rules.passage.Passage.turn_loop`). None when no such turn fits the water."""
        base = self.planner.plan(start, goal)
        p = self.shifted(self.smooth(base), HARBOUR_OFFSET_M, 0.5 * beam + 8.0, (False, True))
        if not self.turn_violation(p):
            return p
        return self.passage.turn_loop(p, goal, beam, lambda raw, _k0, _k1: self.smooth(raw))

    def lane_path(self, lane, ship: _Ship) -> np.ndarray:
        p = _densify(lane.xy, 50.0)
        return self.smooth(self.shifted(p, ship.offset, 0.5 * ship.beam + 12.0, (False, False), through=not ship.small))

    def _at(self, ship: _Ship, s: float):
        i = min(max(bisect.bisect_right(ship.s_list, s) - 1, 0), len(ship.s_list) - 2)
        s0, s1 = ship.s_list[i], ship.s_list[i + 1]
        f = (s - s0) / (s1 - s0)
        xy = ship.xy[i] + f * (ship.xy[i + 1] - ship.xy[i])
        return xy, ship.theta[i] + f * (ship.theta[i + 1] - ship.theta[i]), \
            ship.vmax[i] + f * (ship.vmax[i + 1] - ship.vmax[i])

    def start_under_way(self, ship: _Ship, s0: float = 0.0) -> None:
        ship.s = s0
        xy, th, vm = self._at(ship, s0)
        ship.pos, ship.psi, ship.sog, ship.cog = xy, th, vm, th
        ship.ais.nav_status = NAV_UNDER_WAY
        self.ships.append(ship)

    def occupied(self, own: int | None) -> list[int]:
        return [j for j, f in enumerate(self.berth_free) if not f and j != own and self.berth_usable[j]]

    def bad_pass(self, p: np.ndarray, berths: list[int]) -> bool:
        """Would a vessel sailing ``p`` pass a vessel lying at one of ``berths`` on the same course (the
        checker reads that as overtaking, § 6.07/6.09) or with it on its starboard side (a starboard-to-
        starboard meeting, § 6.04) within the passing range?"""
        if not berths or len(p) < 3:
            return False
        for j in berths:  # next to an occupied berth the hull turns in place: keep 200 m away
            bxy = self.map.berths[j].xy
            if min(math.hypot(*(p[0] - bxy)), math.hypot(*(p[-1] - bxy))) < 200.0:
                return True
        q = _densify(p, 10.0)
        d = np.diff(q, axis=0)
        th = np.arctan2(d[:, 0], d[:, 1])
        q = q[:-1]
        sa, ca = np.sin(th), np.cos(th)
        for j in berths:
            b = self.map.berths[j]
            rx, ry = b.xy[0] - q[:, 0], b.xy[1] - q[:, 1]
            along = rx * sa + ry * ca
            lat = rx * ca - ry * sa
            passed = (along[:-1] > 0.0) & (along[1:] <= 0.0) & (np.abs(lat[1:]) < ROOM["meet_lat"])
            if not passed.any():
                continue
            cosh = np.cos(self.berth_heading[j] - th[1:][passed])
            if ((cosh > 0.6) | ((cosh < -0.8) & (lat[1:][passed] > -15.0))).any():
                return True
        return False

    def passed_by_others(self, berth: int) -> bool:
        """Would a vessel lying at ``berth`` be passed badly by a vessel under way to or from another berth?"""
        for o in self.ships:
            if o.xy is not None and (o.berth is not None or o.dep_upstream is not None) and o.s < o.s_end - 1.0:
                i0 = min(max(bisect.bisect_right(o.s_list, o.s) - 1, 0), len(o.s_list) - 2)
                if self.bad_pass(o.xy[i0:], [berth]):
                    return True
        return False

    def free_berth(self) -> int | None:
        free = [i for i, f in enumerate(self.berth_free) if f]
        return None if not free else int(self.rng.choice(free))

    # -- life cycle ---------------------------------------------------------------------------------
    def lane_clear(self, lane, s0: float, upstream: bool) -> bool:
        """No vessel under way near the lane start (a new arrival would appear alongside it)."""
        start = lane.xy[0] if s0 == 0.0 else None
        if start is None:
            return True
        for o in self.ships:
            if o.xy is not None and math.hypot(*(o.pos - start)) < 0.5 * o.length + 400.0:
                return False
        return True

    def arrival(self, upstream: bool, s0: float = 0.0) -> bool:
        """A new vessel on the Rhine (at the lane start, or at fraction ``s0`` along it); False when the lane
        start is occupied (try again later)."""
        rng = self.rng
        lane = self.up if upstream else self.down
        if not self.lane_clear(lane, s0, upstream):
            return False
        call = s0 == 0.0 and rng.random() < self.port_share and any(self.berth_free)
        dest = "DUISBURG" if call else str(rng.choice(_UPSTREAM_DEST if upstream else _DOWNSTREAM_DEST))
        ship = self.new_ship(dest, port_call=call)
        path, b = None, None
        if call:
            turned = False
            for cand in rng.permutation(len(self.berth_free)).tolist():
                if not self.berth_free[cand] or self.passed_by_others(cand) or self.blocks_departures(cand):
                    continue
                q = self.entry_path(lane.xy[0], self.map.berths[cand].xy, ship.beam)
                if q is None:
                    continue
                turned = True
                if not self.bad_pass(q, self.occupied(cand)):
                    path, b = q, int(cand)
                    break
            if b is None:  # no berth it can reach without passing moored vessels badly (or turning): sails on
                self.no_turn += not turned
                self.no_berth += turned
                ship.ais.static.destination = str(rng.choice(_UPSTREAM_DEST if upstream else _DOWNSTREAM_DEST))
        if b is not None:
            ship.upstream = upstream
            self.calls += 1
            self.berth_free[b] = False
            ship.berth = b
            self.set_path(ship, path, stop=True, gate=True)
        else:
            self.set_path(ship, self.lane_path(lane, ship), stop=False, gate=False)
        if s0:
            # the steady-state population: not alongside or just behind another vessel of its lane
            for _ in range(30):
                xy, _, _ = self._at(ship, s0 * ship.s_end)
                if all(math.hypot(*(o.pos - xy)) > 0.5 * (o.length + ship.length) + 300.0
                       for o in self.ships if o.xy is not None):
                    break
                s0 = float(rng.uniform(0.02, 0.95))
            else:
                self.all_ships.remove(ship)
                return True
        self.start_under_way(ship, s0 * ship.s_end)
        return True

    def moor(self, ship: _Ship, t_until: float) -> None:
        b = self.map.berths[ship.berth]
        ship.pos = b.xy.copy()
        ship.sog = 0.0
        ship.moored_until = t_until
        ship.xy = None
        ship.ais.nav_status = NAV_MOORED

    def harbour_exits(self, berth: int) -> list[np.ndarray]:
        """The ways out of ``berth`` to both ends of the Rhine section (cached; for the berth allocation)."""
        if berth not in self._exits:
            xy = self.map.berths[berth].xy
            self._exits[berth] = [self.shifted(self.smooth(self.planner.plan(xy, lane.xy[-1])), HARBOUR_OFFSET_M,
                                               13.7, (True, False)) for lane in (self.up, self.down)]
        return self._exits[berth]

    def blocks_departures(self, berth: int) -> bool:
        """Would a vessel lying at ``berth`` be passed badly by a vessel leaving another occupied berth?"""
        return any(self.bad_pass(p, [berth]) for y in self.occupied(berth) for p in self.harbour_exits(y))

    def initial_moored(self, t_until: float) -> None:
        b = None
        for cand in self.rng.permutation(len(self.berth_free)).tolist():
            if self.berth_free[cand] and not self.blocks_departures(cand) and \
                    not any(self.bad_pass(p, self.occupied(cand)) for p in self.harbour_exits(cand)):
                b = int(cand)
                break
        if b is None:
            return
        ship = self.new_ship("DUISBURG", port_call=True)
        self.berth_free[b] = False
        ship.berth = b
        ship.psi = self.berth_heading[b]
        self.moor(ship, t_until)
        self.ships.append(ship)

    def give_up(self, ship: _Ship, t: float) -> bool:
        """A vessel bound for a berth that found no gap in the through traffic (``MAX_HOLD_S``) sails on
        along the Rhine instead (it would block the lane behind it) - once that does not take it into the
        path of a vessel already crossing at the mouth (§ 6.16). Returns whether it sailed on."""
        import copy

        lane = self.up if ship.upstream else self.down
        pos, psi = ship.pos.copy(), ship.psi
        trial = copy.copy(ship)
        self.set_path(trial, self.smooth(self.planner.plan(pos, lane.xy[-1])), stop=False, gate=False)
        trial.s, trial.sog, trial.pos, trial.psi = 0.0, 0.0, pos, psi
        if not self.way_clear(trial, until_s=min(trial.s_end, 1500.0), skip=ship):
            return False
        self.berth_free[ship.berth] = True
        ship.berth = None
        self.gave_up += 1
        ship.ais.static.destination = str(self.rng.choice(_UPSTREAM_DEST if ship.upstream else _DOWNSTREAM_DEST))
        self.waits.append(t - ship.held_since)
        for k in ("xy", "s_arr", "s_list", "s_end", "theta", "vmax", "vfree", "tfree", "zb", "cup", "gate_s",
                  "gate_i", "cross_end_s"):
            setattr(ship, k, getattr(trial, k))
        ship.s, ship.sog, ship.pos, ship.psi, ship.held_since = 0.0, 0.0, pos, psi, -1.0
        return True

    def departure_path(self, ship: _Ship) -> np.ndarray:
        """From the berth to either end of the Rhine section (drawn once; the other end when the first would
        enter a Ruhrort harbour heading downstream, § 9.07 Nr. 5)."""
        rng = self.rng
        if ship.dep_upstream is None:
            ship.dep_upstream = bool(rng.random() < 0.5)
        p = None
        for upstream in (ship.dep_upstream, not ship.dep_upstream):
            lane = self.up if upstream else self.down
            raw = self.planner.plan(ship.pos, lane.xy[-1])
            p = self.shifted(self.smooth(raw), HARBOUR_OFFSET_M, 0.5 * ship.beam + 8.0, (True, False))
            if not self.turn_violation(p):
                ship.dep_upstream = upstream
                break
        ship.ais.static.destination = str(rng.choice(_UPSTREAM_DEST if ship.dep_upstream else _DOWNSTREAM_DEST))
        return p

    def depart(self, ship: _Ship, t: float) -> None:
        """Cast off when the way through the harbour is clear (no meeting or passing too close on the way to
        the hold point before the mouth, where it waits for the through traffic if it has to)."""
        if t < ship.next_look:
            return
        ship.next_look = t + GATE_EVERY_S
        if ship.dep_path is None:
            ship.dep_path = self.departure_path(ship)
        if self.bad_pass(ship.dep_path, self.occupied(ship.berth)):
            ship.next_look = t + 30.0
            return
        psi, pos = ship.psi, ship.pos
        self.set_path(ship, ship.dep_path, stop=False, gate=True)
        ship.pos, ship.sog, ship.s = pos, 0.0, 0.0
        horizon = ship.gate_s if math.isfinite(ship.gate_s) else ship.cross_end_s
        if not self.way_clear(ship, until_s=horizon):
            ship.xy = None  # still moored
            return
        self.berth_free[ship.berth] = True
        self.departures += 1
        ship.berth = None
        ship.moored_until = math.inf
        ship.dep_path = None
        self.ships.remove(ship)
        self.start_under_way(ship, 0.0)
        ship.psi, ship.sog = psi, 0.0

    # -- prediction -----------------------------------------------------------------------------------
    def predict(self, ship: _Ship, taus: np.ndarray, own: bool, cap: np.ndarray | None = None):
        """(xy (K, 2), theta (K,), speed (K,)) of ``ship`` along its path at times ``taus`` from now: ``own``:
        the vessel about to go, from its speed now along its free profile; the others along their profiles
        (stopping at a closed hold point)."""
        if ship.xy is None or (ship.s >= ship.gate_s - 1.0 and ship.sog < 0.05 and not own):
            xy = np.repeat(ship.pos[None, :], len(taus), axis=0)
            return xy, np.full(len(taus), ship.psi), np.zeros(len(taus))
        if own:
            i0 = min(max(bisect.bisect_right(ship.s_list, ship.s) - 1, 0), len(ship.s_list) - 2)
            seg = np.diff(ship.s_arr[i0:])
            tt = _times(ship.vfree[i0:], seg, ship.sog)
            s = np.interp(taus, tt, ship.s_arr[i0:])
            v = np.interp(s, ship.s_arr, ship.vfree)
        else:
            t0 = float(np.interp(ship.s, ship.s_arr, ship.tfree))
            s = np.minimum(np.interp(t0 + taus, ship.tfree, ship.s_arr), ship.gate_s)
            v = np.interp(s, ship.s_arr, ship.vfree)
            if cap is not None:  # it follows the vessel about to go: no farther than that one has gone
                s = np.minimum(s, ship.s + cap)
                v = np.where(s >= ship.s + cap - 1.0, np.minimum(v, np.r_[np.diff(cap) / np.maximum(np.diff(taus), 1e-9), 0.0]), v)
            v = np.where((s >= ship.s_end - 1.0) | (s >= ship.gate_s - 1.0), 0.0, v)
        xy = np.column_stack([np.interp(s, ship.s_arr, ship.xy[:, 0]), np.interp(s, ship.s_arr, ship.xy[:, 1])])
        return xy, np.interp(s, ship.s_arr, ship.theta), v

    def way_clear(self, ship: _Ship, until_s: float | None = None, skip: _Ship | None = None) -> bool:
        """Can ``ship`` (waiting at its hold point) make its harbour-mouth manoeuvre now without forcing a
        through vessel to change course or speed (§ 6.16), meeting it starboard-to-starboard (§ 9.04) or
        passing it too close (§ 6.09)? Every other vessel is predicted along its own path."""
        i0 = bisect.bisect_right(ship.s_list, ship.s)
        seg = np.diff(ship.s_arr[max(i0 - 1, 0):])
        tt = _times(ship.vfree[max(i0 - 1, 0):], seg, ship.sog)
        k = np.searchsorted(ship.s_arr[max(i0 - 1, 0):], ship.cross_end_s if until_s is None else until_s)
        horizon = min(float(tt[min(k, len(tt) - 1)]) + 60.0, 1500.0)
        taus = np.arange(0.0, horizon, 4.0)
        axy, ath, av = self.predict(ship, taus, own=True)
        moved = np.r_[0.0, np.cumsum(np.hypot(*np.diff(axy, axis=0).T))]  # how far it has gone at each tau
        sa0, ca0 = math.sin(ship.cog), math.cos(ship.cog)
        az = self.passage.bits(axy)
        acup = self.passage.cup_at(axy, ath)
        others = [o for o in self.ships if o is not ship and o is not skip and o.xy is not None]  # moored: at quay
        if not others:
            return True
        K, J = len(taus), len(others)
        bxy = np.empty((K, J, 2))
        bth = np.empty((K, J))
        bv = np.empty((K, J))
        for j, o in enumerate(others):
            rx0, ry0 = o.pos[0] - ship.pos[0], o.pos[1] - ship.pos[1]
            al0, la0 = rx0 * sa0 + ry0 * ca0, rx0 * ca0 - ry0 * sa0
            need = 0.5 * (o.length + ship.length) + ROOM["small_cpa"] if o.small else \
                0.5 * (o.beam + ship.beam) + ROOM["pass_gap"]
            follows = math.cos(o.cog - ship.cog) > 0.5 and -3000.0 < al0 < 0.0 and abs(la0) < need + 30.0
            bxy[:, j], bth[:, j], bv[:, j] = self.predict(o, taus, own=False, cap=moved if follows else None)
        bz = self.passage.bits(bxy.reshape(-1, 2)).reshape(K, J)
        bcup = self.passage.cup_at(bxy.reshape(-1, 2), bth.reshape(-1)).reshape(K, J)
        bl = np.array([o.length for o in others])
        bb = np.array([o.beam for o in others])
        bsmall = np.array([o.small for o in others])
        half_l = 0.5 * (ship.length + bl)[None, :]
        rx = bxy[..., 0] - axy[:, None, 0]
        ry = bxy[..., 1] - axy[:, None, 1]
        sa, ca = np.sin(ath)[:, None], np.cos(ath)[:, None]
        sb, cb = np.sin(bth), np.cos(bth)
        dvx = bv * sb - (av[:, None] * sa)
        dvy = bv * cb - (av[:, None] * ca)
        dv2 = dvx * dvx + dvy * dvy
        tcpa = np.where(dv2 > 1e-6, -(rx * dvx + ry * dvy) / np.maximum(dv2, 1e-9), -1.0)
        cpa = np.where(tcpa > 0, np.hypot(rx + dvx * tcpa, ry + dvy * tcpa), np.hypot(rx, ry))
        conflict = (tcpa > 0) & (tcpa < ROOM["mouth_tcpa"]) & (cpa < half_l + ROOM["mouth_cpa"])
        a_cross = (self.crossing(az, acup) & (av > 0.2))[:, None]
        b_cross = self.crossing(bz, bcup) & (bv > 0.2)
        a_through = ((az & (self.m_entry | self.m_narrow)) == 0)[:, None] & (np.abs(acup) >= 0.6)[:, None]
        b_through = ((bz & (self.m_entry | self.m_narrow)) == 0) & (np.abs(bcup) >= 0.6) & ~bsmall[None, :]
        bad = conflict & ((a_cross & b_through) | (b_cross & a_through))
        along = rx * sa + ry * ca
        lat = rx * ca - ry * sa
        cosh = ca * cb + sa * sb
        big = ~bsmall[None, :]
        bad |= big & (cosh < -0.8) & (np.abs(along) < 80.0) & (lat > -15.0) & (lat < ROOM["meet_lat"])
        gap = np.abs(lat) - 0.5 * (ship.beam + bb)[None, :]
        bad |= big & (cosh > 0.6) & (np.abs(along) < half_l + 30.0) & (gap < ROOM["pass_gap"])
        if bad.any():
            k, j = np.argwhere(bad)[0]
            self.last_conflict = (  # diagnostics: when, with whom, which test
                float(taus[k]), others[j].ais.mmsi, others[j].vt, bool((conflict & a_cross & b_through)[k, j]),
                        bool((conflict & b_cross & a_through)[k, j]), float(cosh[k, j]), float(along[k, j]),
                        float(lat[k, j]), axy[k].round().tolist(), bxy[k, j].round().tolist())
        return not bool(bad.any())

    # -- the step -------------------------------------------------------------------------------------
    def limits(self, under: list[_Ship], vprof: np.ndarray) -> np.ndarray:
        """Speed limits from the others (vectorised over all pairs): follow a vessel ahead that cannot be
        overtaken with room (§ 6.09/6.10; never in a narrow fairway, § 6.07/6.24); small craft keep clear of
        all other vessels (§ 6.02)."""
        n = len(under)
        lim = vprof.copy()
        self.follow = np.full(n, np.inf)
        if n < 2:
            return lim
        P = np.array([s.pos for s in under])
        th = np.array([s.cog for s in under])
        V = np.array([s.sog for s in under])
        Ln = np.array([s.length for s in under])
        Bm = np.array([s.beam for s in under])
        sm = np.array([s.small for s in under])
        zb = self.passage.bits(P)
        narrow = (zb & self.m_narrow) != 0
        sn, cs = np.sin(th), np.cos(th)
        rx = P[None, :, 0] - P[:, None, 0]  # [i, j]: j relative to i
        ry = P[None, :, 1] - P[:, None, 1]
        along = rx * sn[:, None] + ry * cs[:, None]
        lat = rx * cs[:, None] - ry * sn[:, None]
        cosh = cs[:, None] * cs[None, :] + sn[:, None] * sn[None, :]
        half_l = 0.5 * (Ln[:, None] + Ln[None, :])
        small_pair = sm[:, None] | sm[None, :]
        need = np.where(small_pair, half_l + ROOM["small_cpa"], 0.5 * (Bm[:, None] + Bm[None, :]) + ROOM["pass_gap"])
        need = np.where(narrow[:, None] | narrow[None, :], np.maximum(need, 160.0), need)
        lat2 = rx * cs[None, :] - ry * sn[None, :]  # the same offset in the other vessel's frame (bends)
        ahead = (cosh > 0.5) & (along > 0.0) & (np.minimum(np.abs(lat), np.abs(lat2)) < need + 10.0) \
            & (along < half_l + 500.0)
        np.fill_diagonal(ahead, False)
        vlead = V[None, :] * cosh
        allowed = np.maximum(vlead + 0.01 * (along - half_l - 60.0), 0.0)
        self.follow = np.where(ahead, allowed, np.inf).min(axis=1)
        lim = np.minimum(lim, self.follow)
        # small craft: the fastest of a few speeds with no close approach to a larger vessel (off a harbour
        # mouth, where the current does not run along the Rhine, no crossing into its path either, § 6.16)
        mouth = (zb & (self.m_mouth | self.m_entry)) != 0
        for i in np.flatnonzero(sm):
            cpa_need = ROOM["mouth_cpa"] + 15.0 if mouth[i] else ROOM["small_cpa"]
            tcpa_need = ROOM["mouth_tcpa"] if mouth[i] else ROOM["small_tcpa"]
            big = ~sm
            big[i] = False
            if not big.any():
                continue
            best = lim[i]  # no speed keeps clear (a faster vessel closing in): keep going rather than stop
            for f in (1.0, 0.8, 0.6, 0.4, 0.2):
                v = lim[i] * f
                dvx = V[big] * sn[big] - v * sn[i]
                dvy = V[big] * cs[big] - v * cs[i]
                dv2 = dvx * dvx + dvy * dvy
                tc = np.where(dv2 > 1e-6, -(rx[i, big] * dvx + ry[i, big] * dvy) / np.maximum(dv2, 1e-9), -1.0)
                cp = np.hypot(rx[i, big] + dvx * tc, ry[i, big] + dvy * tc)
                if not ((tc > 0) & (tc < tcpa_need) & (cp < half_l[i, big] + cpa_need)).any():
                    best = v
                    break
            lim[i] = best
        return lim

    def step(self, t: float, dt: float) -> None:
        for ship in list(self.ships):
            if ship.xy is None and t >= ship.moored_until:
                self.depart(ship, t)
        under = [s for s in self.ships if s.xy is not None]
        vprof = np.array([self._at(s, s.s)[2] for s in under])
        lim = self.limits(under, vprof)
        for ship in list(self.ships):
            if ship.xy is None:  # moored
                err = (self.berth_heading[ship.berth] - ship.psi + math.pi) % (2 * math.pi) - math.pi
                turn = max(-ship.rmax * dt, min(ship.rmax * dt, err))
                ship.psi += turn
                ship.ais.rot_deg_min = math.degrees(turn / dt) * 60.0
                continue
            k = under.index(ship)
            gave = False
            if ship.gate_i >= 0 and ship.held_since >= 0 and t - ship.held_since > MAX_HOLD_S and \
                    ship.upstream is not None:
                gave = self.give_up(ship, t)
            if not gave and ship.gate_i >= 0 and ship.s >= ship.gate_s - 300.0 and t >= ship.next_look:
                ship.next_look = t + GATE_EVERY_S
                # not while it is held up by a vessel ahead (its manoeuvre would take longer than predicted)
                if self.follow[k] >= float(np.interp(ship.s, ship.s_arr, ship.vfree)) - 0.05 and self.way_clear(ship, until_s=ship.s_end if ship.berth is not None else None):
                    self.waits.append(t - ship.held_since if ship.held_since >= 0 else 0.0)
                    ship.vmax = ship.vfree
                    ship.gate_i, ship.gate_s = -1, math.inf
            vc = float(min(lim[k], self._at(ship, ship.s)[2]))
            if vc < ship.sog:
                ship.sog = max(vc, ship.sog - BRAKE_MS2 * dt)
            else:
                ship.sog = min(vc, ship.sog + ACCEL_MS2 * dt)
            if vc > 0.0 and ship.gate_i < 0:
                ship.sog = max(ship.sog, 0.05)
            ship.s = min(ship.s + ship.sog * dt, ship.gate_s)
            if ship.s >= ship.gate_s - 0.5 and ship.sog < 0.3:
                ship.sog = 0.0
                if ship.held_since < 0:
                    ship.held_since = t
            if ship.s >= ship.s_end - 0.5:
                if ship.berth is not None:
                    self.moor(ship, t + float(self.rng.uniform(1800.0, 7200.0)))
                    continue
                self.ships.remove(ship)
                self.gone.append(ship)
                continue
            xy, th, _ = self._at(ship, ship.s)
            ship.pos = xy
            ship.cog = th
            err = (th - ship.psi + math.pi) % (2 * math.pi) - math.pi
            turn = max(-ship.rmax * dt, min(ship.rmax * dt, err))
            ship.psi += turn
            ship.ais.rot_deg_min = math.degrees(turn / dt) * 60.0

    def update_ais(self) -> None:
        if not self.ships:
            return
        xy = np.array([s.pos for s in self.ships])
        psi = np.array([s.psi for s in self.ships])
        cog = np.array([s.cog if s.xy is not None else s.psi for s in self.ships])
        sog = np.array([s.sog for s in self.ships])
        f = state_to_ais(self.map, xy[:, 0], xy[:, 1], psi, sog, cog_grid=cog)
        for i, s in enumerate(self.ships):
            a = s.ais
            a.lat, a.lon = float(f["lat"][i]), float(f["lon"][i])
            a.sog_kn, a.cog_deg, a.heading_deg = float(f["sog_kn"][i]), float(f["cog_deg"][i]), float(f["heading_deg"][i])
            if s.xy is None:
                a.sog_kn, a.cog_deg = 0.0, float(f["heading_deg"][i])


def _brake(vmax: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """The profile with the braking distance before every lower limit (backward pass)."""
    v = vmax.copy()
    for i in range(len(v) - 2, -1, -1):
        v[i] = min(v[i], math.sqrt(v[i + 1] ** 2 + 2.0 * ACCEL_MS2 * seg[i]))
    return v


def _times(vlim: np.ndarray, seg: np.ndarray, v0: float) -> np.ndarray:
    """Time at each vertex sailing the profile ``vlim`` from speed ``v0`` (forward pass, limited acceleration)."""
    v = np.empty(len(vlim))
    v[0] = min(v0, vlim[0])
    t = np.zeros(len(vlim))
    for i in range(len(seg)):
        v[i + 1] = min(vlim[i + 1], math.sqrt(v[i] ** 2 + 2.0 * ACCEL_MS2 * seg[i]))
        t[i + 1] = t[i] + seg[i] / max(0.5 * (v[i] + v[i + 1]), 0.05)
    return t


def synthesize(map_name: str = "duisburg_ruhrort", hours: float = 2.0, seed: int = 0, *,
               epoch: float = DEFAULT_EPOCH, dt: float = 1.0, mean_interarrival_s: float = 420.0,
               port_share: float = 0.25, initial_moored: int = 9, stats: dict | None = None) -> Iterator[str]:
    """NMEA lines (tag block + sentence, no line end) of ``hours`` of synthetic traffic on ``map_name``.
    Deterministic for a seed.  ``stats`` (a dict) receives vessel counts when the iterator is exhausted."""
    from harbour_maps import load_map

    hmap = load_map(map_name)
    sy = _Synth(hmap, seed, mean_interarrival_s, port_share)
    rng = sy.rng
    for _ in range(initial_moored):
        sy.initial_moored(float(rng.uniform(300.0, 9000.0)))
    for upstream in (True, False):  # steady-state population along the Rhine (up ~6300 s, down ~2500 s transit)
        n = int(rng.poisson((6300.0 if upstream else 2500.0) / mean_interarrival_s))
        for s0 in np.sort(rng.uniform(0.02, 0.95, n)):
            sy.arrival(upstream, float(s0))
    next_arr = {True: float(rng.exponential(mean_interarrival_s)), False: float(rng.exponential(mean_interarrival_s))}
    em = AISEmitter(None, epoch=epoch)
    n_steps = int(round(hours * 3600.0 / dt))
    present = []
    for k in range(n_steps):
        t = k * dt
        if k:
            for upstream in (True, False):
                while t >= next_arr[upstream]:
                    if not sy.arrival(upstream):  # the lane start is occupied: try again next step
                        break
                    next_arr[upstream] += float(rng.exponential(mean_interarrival_s))
            sy.step(t, dt)
            for g in sy.gone:
                em.forget(g.ais.mmsi)
            sy.gone.clear()
        sy.update_ais()
        present.append(len(sy.ships))
        yield from em.emit(t, [s.ais for s in sy.ships])
    if stats is not None:
        stats.update(vessels=len(sy.all_ships), present_min=min(present), present_max=max(present),
                     present_mean=float(np.mean(present)), messages=dict(em.counts),
                     port_calls=sy.calls, departures=sy.departures,
                     no_turn=sy.no_turn, no_berth=sy.no_berth, gave_up=sy.gave_up, held=len(sy.waits),
                     held_max_s=max(sy.waits, default=0.0), held_mean_s=float(np.mean(sy.waits)) if sy.waits else 0.0,
                     still_holding=sum(1 for s in sy.ships if s.held_since >= 0 and s.gate_i >= 0))


def write_synth(out: str | Path, **kw) -> dict:
    """Write :func:`synthesize` lines to ``out`` (gzip when it ends in .gz) atomically: an interrupted or
    failed run leaves no partial file. Returns the stats."""
    from atomicio import atomic_path

    stats: dict = {}
    out = Path(out)
    with atomic_path(out) as tmp, open(tmp, "wb") as raw:
        # gzip: the header names the target (not the temporary file) and has no time stamp (reproducible)
        gz = gzip.GzipFile(filename=out.name[:-3], mode="wb", fileobj=raw, mtime=0) if out.suffix == ".gz" else None
        with io.TextIOWrapper(gz or raw, encoding="ascii", newline="\n") as fh:
            for line in synthesize(stats=stats, **kw):
                fh.write(line + "\n")
    stats["bytes"] = out.stat().st_size
    return stats


def _cmd(args: argparse.Namespace) -> int:
    try:
        st = write_synth(args.out, map_name=args.map, hours=args.hours, seed=args.seed)
    except KeyboardInterrupt:
        print(f"testbed: interrupted (Ctrl-C); nothing written to {args.out}", file=sys.stderr)
        return 130
    print(f"{args.out}: {st['vessels']} vessels ({st['present_min']}-{st['present_max']} present, "
          f"mean {st['present_mean']:.1f}), messages by type {st['messages']}, {st['bytes']} bytes", file=sys.stderr)
    print(f"port calls {st['port_calls']} (no berth reachable {st['no_berth']}, no room to turn first "
          f"{st['no_turn']}: sailed on; {st['gave_up']} found no gap at the mouth and sailed on), departures {st['departures']}, {st['held']} waited for through traffic "
          f"at a harbour mouth (mean {st['held_mean_s']:.0f} s, longest {st['held_max_s']:.0f} s; "
          f"{st['still_holding']} still waiting at the end)", file=sys.stderr)
    return 0


def add_synth_parser(ais_subparsers) -> argparse.ArgumentParser:
    """Register ``synth`` under the ``testbed ais`` command group's subparsers."""
    p = ais_subparsers.add_parser("synth", help="write synthetic AIS (NMEA with tag blocks) for a harbour map",
                                  description=__doc__.split("\n\n")[0])
    p.add_argument("--map", default="duisburg_ruhrort", help="map name or path (default duisburg_ruhrort)")
    p.add_argument("--hours", type=float, default=2.0, help="simulated hours (default 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, help="output file (.nmea, or .nmea.gz for gzip)")
    p.set_defaults(func=_cmd)
    return p


if __name__ == "__main__":  # pragma: no cover
    ap = argparse.ArgumentParser(prog="python -m testbed.ais.synth")
    add_synth_parser(ap.add_subparsers(dest="cmd", required=True))
    a = ap.parse_args()
    raise SystemExit(a.func(a))
