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
  starts, mean ``mean_interarrival_s`` per direction, and a steady-state population at t = 0), each
  vessel with its own lateral offset from the lane centre line (+-20 m) and its own speed through the
  water (2.5-3.5 m/s for cargo, more for passenger and recreational craft).  Speed over ground =
  speed through the water + the map's current along the track (about 1.3 m/s on the Rhine), so
  upstream traffic is slow over ground and downstream traffic fast.
* **Port calls**: a share of the arrivals leaves the Rhine into the Ruhrort harbour mouth and goes to
  a free berth along ``RoutePlanner(hmap).plan(start, berth)``; it lies there moored (nav status 5,
  SOG 0, heading of the berth, reported every 3 min) for a random time; moored vessels (some already
  there at t = 0) leave for either end of the Rhine section.  Harbour speed at most 1.8 m/s.
* **Kinematics**: vessels move along their (corner-rounded, water-checked) path; the speed over
  ground follows a profile limited by the harbour speed, by the turn rate in bends (SOG x curvature
  <= the type's maximum rate of turn) and by stopping at the berth, with limited acceleration
  (forward/backward pass); the heading turns towards the path tangent at most at the type's rate of
  turn; COG is the path tangent.  Positions are converted with the map frame (grid -> true bearings).

No collision avoidance or overtaking manoeuvres: vessels on the same lane keep their lateral offsets.
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


@dataclass(eq=False)
class _Ship:
    vt: str
    stw: float
    rmax: float  # rad/s
    ais: AISVessel
    xy: np.ndarray | None = None  # path (P, 2)
    s_list: list | None = None
    s_end: float = 0.0
    theta: np.ndarray | None = None  # unwrapped tangent at the vertices (grid rad)
    vmax: np.ndarray | None = None  # SOG limit at the vertices
    s: float = 0.0
    sog: float = 0.0
    psi: float = 0.0
    berth: int | None = None  # berth it is going to / lying at
    moored_until: float = math.inf
    pos: np.ndarray | None = None
    cog: float = 0.0


def _chaikin(p: np.ndarray, it: int) -> np.ndarray:
    for _ in range(it):
        q = 0.75 * p[:-1] + 0.25 * p[1:]
        r = 0.25 * p[:-1] + 0.75 * p[1:]
        p = np.vstack([p[:1], np.column_stack([q, r]).reshape(-1, 2), p[-1:]])
    return p


def _densify(p: np.ndarray, step: float) -> np.ndarray:
    out = [p[:1]]
    for a, b in zip(p[:-1], p[1:], strict=True):
        n = max(1, int(math.ceil(math.hypot(*(b - a)) / step)))
        out.append(a + (b - a) * (np.arange(1, n + 1)[:, None] / n))
    return np.vstack(out)


def _offset(p: np.ndarray, d: float) -> np.ndarray:
    """Polyline shifted ``d`` metres to starboard (vertex normals)."""
    t = np.gradient(p, axis=0)
    t /= np.maximum(np.hypot(t[:, 0], t[:, 1]), 1e-9)[:, None]
    return p + d * np.column_stack([t[:, 1], -t[:, 0]])


class _Synth:
    def __init__(self, hmap, seed: int, mean_interarrival_s: float, port_share: float):
        from testbed.route import RoutePlanner

        self.map = hmap
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.planner = RoutePlanner(hmap)
        lanes = {ln.id: ln for ln in hmap.lanes}
        self.up, self.down = lanes["lane-rhine-up"], lanes["lane-rhine-down"]
        self.mean_ia = mean_interarrival_s
        self.port_share = port_share
        self.berth_free = [True] * len(hmap.berths)
        self.mmsis: set[int] = set()
        self.ships: list[_Ship] = []
        self.all_ships: list[_Ship] = []
        self.gone: list[_Ship] = []
        from vessels import catalogue

        self.cat = catalogue
        w = np.array([m[1] for m in TYPE_MIX])
        self.type_p = w / w.sum()

    # -- vessel identity ----------------------------------------------------------------------------
    def new_ship(self, dest: str) -> _Ship:
        rng = self.rng
        k = int(rng.choice(len(TYPE_MIX), p=self.type_p))
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
        self.all_ships.append(ship)
        return ship

    # -- paths --------------------------------------------------------------------------------------
    def set_path(self, ship: _Ship, raw: np.ndarray, stop: bool) -> None:
        hm = self.map
        base = _densify(raw, 20.0)
        p = _densify(_chaikin(base, 3), 10.0)
        if not hm.is_water(_densify(p, 2.0)).all():
            p = _densify(raw, 10.0)
        d = np.diff(p, axis=0)
        seg = np.hypot(d[:, 0], d[:, 1])
        keep = np.r_[True, seg > 1e-6]
        p = p[keep]
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
        vmax = np.maximum(vmax, 0.3)
        if stop:
            vmax[-1] = 0.0
        for i in range(len(vmax) - 2, -1, -1):  # braking distance (backward pass)
            vmax[i] = min(vmax[i], math.sqrt(vmax[i + 1] ** 2 + 2.0 * ACCEL_MS2 * seg[i]))
        ship.xy, ship.s_list, ship.s_end, ship.theta, ship.vmax = p, s.tolist(), float(s[-1]), theta, vmax
        ship.s = 0.0

    def _at(self, ship: _Ship, s: float):
        i = min(max(bisect.bisect_right(ship.s_list, s) - 1, 0), len(ship.s_list) - 2)
        s0, s1 = ship.s_list[i], ship.s_list[i + 1]
        f = (s - s0) / (s1 - s0)
        xy = ship.xy[i] + f * (ship.xy[i + 1] - ship.xy[i])
        return xy, ship.theta[i] + f * (ship.theta[i + 1] - ship.theta[i]), \
            ship.vmax[i] + f * (ship.vmax[i + 1] - ship.vmax[i])

    def lane_path(self, lane, offset: float) -> np.ndarray:
        p = _offset(_densify(lane.xy, 50.0), offset)
        return p if self.map.is_water(p).all() else lane.xy

    def start_under_way(self, ship: _Ship, s0: float = 0.0) -> None:
        ship.s = s0
        xy, th, vm = self._at(ship, s0)
        ship.pos, ship.psi, ship.sog = xy, th, vm
        ship.ais.nav_status = NAV_UNDER_WAY
        self.ships.append(ship)

    def free_berth(self) -> int | None:
        free = [i for i, f in enumerate(self.berth_free) if f]
        return None if not free else int(self.rng.choice(free))

    # -- life cycle ---------------------------------------------------------------------------------
    def arrival(self, upstream: bool, s0: float = 0.0) -> None:
        rng = self.rng
        lane = self.up if upstream else self.down
        b = self.free_berth() if (s0 == 0.0 and rng.random() < self.port_share) else None
        dest = "DUISBURG" if b is not None else str(rng.choice(_UPSTREAM_DEST if upstream else _DOWNSTREAM_DEST))
        ship = self.new_ship(dest)
        if b is not None:
            self.berth_free[b] = False
            ship.berth = b
            self.set_path(ship, self.planner.plan(lane.xy[0], self.map.berths[b].xy), stop=True)
        else:
            self.set_path(ship, self.lane_path(lane, float(rng.uniform(-20.0, 20.0))), stop=False)
        self.start_under_way(ship, s0 * ship.s_end)

    def moor(self, ship: _Ship, t_until: float) -> None:
        b = self.map.berths[ship.berth]
        ship.pos = b.xy.copy()
        ship.sog = 0.0
        ship.moored_until = t_until
        ship.xy = None
        ship.ais.nav_status = NAV_MOORED

    def initial_moored(self, t_until: float) -> None:
        b = self.free_berth()
        if b is None:
            return
        ship = self.new_ship("DUISBURG")
        self.berth_free[b] = False
        ship.berth = b
        ship.psi = self.map.berths[b].heading
        self.moor(ship, t_until)
        self.ships.append(ship)

    def depart(self, ship: _Ship) -> None:
        rng = self.rng
        upstream = bool(rng.random() < 0.5)
        lane = self.up if upstream else self.down
        self.berth_free[ship.berth] = True
        ship.berth = None
        ship.moored_until = math.inf
        ship.ais.static.destination = str(rng.choice(_UPSTREAM_DEST if upstream else _DOWNSTREAM_DEST))
        psi = ship.psi
        self.set_path(ship, self.planner.plan(ship.pos, lane.xy[-1]), stop=False)
        self.ships.remove(ship)
        self.start_under_way(ship, 0.0)
        ship.psi, ship.sog = psi, 0.0

    def step(self, t: float, dt: float) -> None:
        for ship in list(self.ships):
            if ship.xy is None:  # moored
                if t >= ship.moored_until:
                    self.depart(ship)
                else:
                    tgt = self.map.berths[ship.berth].heading
                    err = (tgt - ship.psi + math.pi) % (2 * math.pi) - math.pi
                    if abs(err) > math.pi / 2:  # either way along the quay
                        err = (err + 2 * math.pi) % (2 * math.pi) - math.pi
                        err = err - math.pi if err > 0 else err + math.pi
                    turn = max(-ship.rmax * dt, min(ship.rmax * dt, err))
                    ship.psi += turn
                    ship.ais.rot_deg_min = math.degrees(turn / dt) * 60.0
                continue
            _, _, vm = self._at(ship, ship.s)
            ship.sog = max(min(vm, ship.sog + ACCEL_MS2 * dt), ship.sog - ACCEL_MS2 * dt, 0.05)
            ship.s += ship.sog * dt
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
                    sy.arrival(upstream)
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
                     present_mean=float(np.mean(present)), messages=dict(em.counts))


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
