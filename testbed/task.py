"""The task: where an episode starts, where it should end, and the planned route between.

:class:`Task` checks the scenario's lane and berth ids against the map once, and samples an
:class:`Episode` per reset from the env's ``start`` generator. Termination itself is evaluated in the
compiled perception pass (goal, collision, grounding, leaving the map); truncation is the time limit.

Goal test: the ego's centre within ``position_tol_m`` of the goal, its speed through the water at most
``speed_tol_ms`` and, where a heading is required, its heading within ``heading_tol_deg`` — for a berth
either way along the quay (a ship may moor port or starboard side to).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from testbed.config import ConfigError
from testbed.route import RouteError


@dataclass
class Episode:
    start_xy: np.ndarray
    start_psi: float
    start_speed: float
    route: np.ndarray  # (P, 2)
    goal: np.ndarray  # x, y, heading, mode (0: no heading, 1: heading, 2: heading either way)
    goal_tol: np.ndarray  # position m, heading rad, speed m/s
    goal_name: str


def _lane_point(lane, s: float) -> tuple[np.ndarray, float]:
    s = float(np.clip(s, 0.0, lane.s[-1]))
    k = int(np.clip(np.searchsorted(lane.s, s) - 1, 0, len(lane.s) - 2))
    t = (s - lane.s[k]) / max(lane.s[k + 1] - lane.s[k], 1e-9)
    d = lane.xy[k + 1] - lane.xy[k]
    return lane.xy[k] + t * d, math.atan2(d[0], d[1])


def _s_at_km(lane, km: float) -> float:
    kms, ss = lane.km, lane.s
    if kms[-1] < kms[0]:
        kms, ss = kms[::-1], ss[::-1]
    return float(np.interp(km, kms, ss))


class Task:
    def __init__(self, cfg, hmap) -> None:
        self.cfg = cfg
        self.map = hmap
        self.lanes = {ln.id: ln for ln in hmap.lanes}
        self.berths = {b.id: b for b in hmap.berths}
        sc, gc = cfg.start, cfg.goal

        def bad(key, value, known):
            return ConfigError(f"scenario {cfg.name!r}: {key} = {value!r} is not in map {hmap.name!r}; "
                               f"known: {', '.join(sorted(known))}")  # fmt: skip

        for lid in sc.lanes:
            if lid not in self.lanes:
                raise bad("start.lanes", lid, self.lanes)
            if sc.km and self.lanes[lid].km is None:
                raise ConfigError(f"scenario {cfg.name!r}: start.km is set but lane {lid!r} has no river-km")
        for bid in gc.berths:
            if bid not in self.berths:
                raise bad("goal.berths", bid, self.berths)
        if gc.lane:
            if gc.lane not in self.lanes:
                raise bad("goal.lane", gc.lane, self.lanes)
            if not math.isnan(gc.km) and self.lanes[gc.lane].km is None:
                raise ConfigError(f"scenario {cfg.name!r}: goal.km is set but lane {gc.lane!r} has no river-km")

    def sample(self, rng: np.random.Generator, planner, ego_len: float) -> Episode:
        sc, gc = self.cfg.start, self.cfg.goal
        li = int(rng.integers(len(sc.lanes)))
        lane = self.lanes[sc.lanes[li]]
        if sc.km:
            lo, hi = (sc.km[0], sc.km[1]) if len(sc.km) == 2 else (sc.km[2 * li], sc.km[2 * li + 1])
            s = _s_at_km(lane, rng.uniform(lo, hi))
        else:
            s = rng.uniform(*sc.along_m)
        p, psi = _lane_point(lane, s)
        off = rng.uniform(-sc.cross_m, sc.cross_m)
        start = p + off * np.array([math.cos(psi), -math.sin(psi)])
        psi = psi + math.radians(rng.uniform(-sc.heading_deg, sc.heading_deg))
        speed = rng.uniform(*sc.speed_ms)
        htol = math.pi if math.isnan(gc.heading_tol_deg) else math.radians(gc.heading_tol_deg)
        tol = np.array([gc.position_tol_m, htol, gc.speed_tol_ms])
        if gc.berths:
            b = self.berths[gc.berths[int(rng.integers(len(gc.berths)))]]
            best = None
            direction = np.array([math.sin(b.heading), math.cos(b.heading)])
            for sign in (1.0, -1.0):  # approach from astern of either mooring heading
                approach = b.xy - sign * direction * 1.2 * ego_len
                if self.map.signed_distance(approach[None])[0] <= 0.0:
                    continue
                try:
                    r = planner.plan(start, approach)
                except RouteError:
                    continue
                r = np.vstack([r, b.xy])
                length = float(np.hypot(*np.diff(r, axis=0).T).sum())
                if best is None or length < best[0]:
                    best = (length, r)
            if best is None:
                raise ConfigError(f"scenario {self.cfg.name!r}: no route from the start to berth {b.id!r}")
            mode = 0.0 if math.isnan(gc.heading_tol_deg) else 2.0
            return Episode(start, psi, speed, best[1], np.array([*b.xy, b.heading, mode]), tol, b.id)
        glane = self.lanes[gc.lane]
        gs = _s_at_km(glane, gc.km) if not math.isnan(gc.km) else float(gc.along_m)
        gp, gpsi = _lane_point(glane, gs)
        route = planner.plan(start, gp)
        mode = 0.0 if math.isnan(gc.heading_tol_deg) else 1.0
        name = f"{glane.id}@km{gc.km:g}" if not math.isnan(gc.km) else f"{glane.id}@{gs:.0f}m"
        return Episode(start, psi, speed, route, np.array([*gp, gpsi, mode]), tol, name)
