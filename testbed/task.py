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
        self._passage = None  # testbed.rules.passage.Passage, built at the first turn_before_entry route
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
        sc = self.cfg.start
        li = int(rng.integers(len(sc.lanes)))
        lane = self.lanes[sc.lanes[li]]
        if sc.km:
            lo, hi = (sc.km[0], sc.km[1]) if len(sc.km) == 2 else (sc.km[2 * li], sc.km[2 * li + 1])
            s = _s_at_km(lane, rng.uniform(lo, hi))
        else:
            s = rng.uniform(*sc.along_m)
        return self._episode_at(rng, planner, ego_len, lane, s)

    def start_ranges(self) -> list[tuple[str, float, float]]:
        """The start region: (lane id, lo, hi) in metres along each start lane."""
        sc = self.cfg.start
        out = []
        for li, lid in enumerate(sc.lanes):
            lane = self.lanes[lid]
            if sc.km:
                lo, hi = (sc.km[0], sc.km[1]) if len(sc.km) == 2 else (sc.km[2 * li], sc.km[2 * li + 1])
                a, b = _s_at_km(lane, lo), _s_at_km(lane, hi)
            else:
                a, b = float(sc.along_m[0]), float(sc.along_m[1])
            out.append((lid, min(a, b), max(a, b)))
        return out

    def start_slots(self, min_separation_m: float) -> int:
        """How many starts at least ``min_separation_m`` apart along a lane the start region holds."""
        return sum(int((hi - lo) // min_separation_m) + 1 for _, lo, hi in self.start_ranges())

    def sample_apart(self, rng: np.random.Generator, planner, ego_len: float, k: int,
                     min_separation_m: float) -> list[Episode]:
        """``k`` episodes whose starts are at least ``min_separation_m`` apart along the start lanes: k of
        the start slots drawn without replacement, then sorted offsets within each lane's slack (so
        neighbouring starts never come closer than the separation); raises a ConfigError when the start
        region has fewer than ``k`` slots."""
        n = self.start_slots(min_separation_m)
        if k > n:
            raise self.slots_error(k, min_separation_m)
        slots = [(li, j) for li, (_, lo, hi) in enumerate(self.start_ranges())
                 for j in range(int((hi - lo) // min_separation_m) + 1)]  # fmt: skip
        pick = sorted(rng.choice(len(slots), size=k, replace=False).tolist())
        ranges = self.start_ranges()
        eps = []
        for li in sorted({slots[q][0] for q in pick}):
            lid, lo, hi = ranges[li]
            mine = [slots[q][1] for q in pick if slots[q][0] == li]
            slack = (hi - lo) - (int((hi - lo) // min_separation_m)) * min_separation_m
            offs = np.sort(rng.uniform(0.0, slack, len(mine)))
            for j, off in zip(mine, offs, strict=True):
                eps.append(self._episode_at(rng, planner, ego_len, self.lanes[lid], lo + j * min_separation_m + off))
        order = rng.permutation(k)  # which agent gets which start
        return [eps[i] for i in order]

    def slots_error(self, k: int, min_separation_m: float) -> ConfigError:
        desc = "; ".join(f"{lid} {hi - lo:.0f} m" for lid, lo, hi in self.start_ranges())
        return ConfigError(f"scenario {self.cfg.name!r}: n_agents = {k} is more than its "
                           f"{self.start_slots(min_separation_m)} start slots (start region: {desc}; starts at "
                           f"least min_separation_m = {min_separation_m:g} m apart)")  # fmt: skip

    def _turn_first(self, planner, route: np.ndarray, berth_id: str) -> np.ndarray:
        """``route`` (start -> approach point -> berth) with the loop of RheinSchPV § 9.07 Nr. 5 before a
        turn-first harbour entry where it would enter heading downstream (testbed.rules.passage)."""
        from testbed.rules.passage import EGO_LOOP, Passage, densify, local_smooth
        from vessels import catalogue

        if self._passage is None or self._passage.planner is not planner:
            self._passage = Passage(self.map, planner)
        ps = self._passage
        if not ps.turn_violation(route):
            return route
        beam = float(catalogue.get(self.cfg.ego.vessel_type).B)
        # (points every 20 m: the loop starts where EGO_LOOP says, not at the next vertex of the lane graph)
        q = ps.turn_loop(densify(route[:-1], 20.0), route[-2], beam, local_smooth, EGO_LOOP)
        if q is None:
            raise ConfigError(f"scenario {self.cfg.name!r}: goal.turn_before_entry: no loop to face upstream "
                              f"(RheinSchPV § 9.07 Nr. 5) fits the water on the route to berth {berth_id!r}")
        return np.vstack([q, route[-1]])

    def _episode_at(self, rng: np.random.Generator, planner, ego_len: float, lane, s: float) -> Episode:
        sc, gc = self.cfg.start, self.cfg.goal
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
            # approach from astern of either mooring heading (one route search for both)
            approaches = [b.xy - sign * direction * 1.2 * ego_len for sign in (1.0, -1.0)]
            approaches = [a for a in approaches if self.map.signed_distance(a[None])[0] > 0.0]
            for r in planner.plan_many(start, approaches):
                if isinstance(r, RouteError):
                    continue
                r = np.vstack([r, b.xy])
                length = float(np.hypot(*np.diff(r, axis=0).T).sum())
                if best is None or length < best[0]:
                    best = (length, r)
            if best is None:
                raise ConfigError(f"scenario {self.cfg.name!r}: no route from the start to berth {b.id!r}")
            route = best[1]
            if gc.turn_before_entry:
                route = self._turn_first(planner, route, b.id)
            mode = 0.0 if math.isnan(gc.heading_tol_deg) else 2.0
            return Episode(start, psi, speed, route, np.array([*b.xy, b.heading, mode]), tol, b.id)
        glane = self.lanes[gc.lane]
        gs = _s_at_km(glane, gc.km) if not math.isnan(gc.km) else float(gc.along_m)
        gp, gpsi = _lane_point(glane, gs)
        route = planner.plan(start, gp)
        mode = 0.0 if math.isnan(gc.heading_tol_deg) else 1.0
        name = f"{glane.id}@km{gc.km:g}" if not math.isnan(gc.km) else f"{glane.id}@{gs:.0f}m"
        return Episode(start, psi, speed, route, np.array([*gp, gpsi, mode]), tol, name)
