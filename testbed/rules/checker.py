"""The rule checker: the state of the compiled check (:mod:`testbed.rules.kernel`) and its events.

``RuleChecker(hmap, cfg, n_envs, n_egos, n_traffic)`` checks E envs of K egos and T traffic vessels
each. :meth:`step` takes the world's state arrays, runs the compiled gather and check and returns the
number of new events; :meth:`take_events` turns them into :class:`Violation` records (only when there
are any, so the per-step cost is the kernel). Counts per env and rule, and per vessel and rule, are kept
until :meth:`reset_env`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from testbed.rules import kernel as rk
from testbed.rules.articles import ARTICLE_IDS, N_RULES, R_STILL, RULES
from testbed.rules.zones import ZoneTable, zone_label, zone_table


@dataclass(frozen=True)
class Violation:
    """One rule violation: who (``vessels`` at fault first, then the others involved), when, where, why."""

    article: str  # e.g. "RheinSchPV §9.04"
    rule: str  # article id, e.g. "9.04"
    env: int
    time_s: float
    x: float
    y: float
    vessels: tuple[str, ...]
    at_fault: tuple[str, ...]
    zone: str
    explanation: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["vessels"] = list(self.vessels)
        d["at_fault"] = list(self.at_fault)
        return d


def vessel_name(k: int, K: int) -> str:
    """Name of vessel ``k`` of an env: ``ego`` (K = 1) or ``ego_<k>``, then ``traffic_<j>``."""
    if k < K:
        return "ego" if K == 1 else f"ego_{k}"
    return f"traffic_{k - K}"


class RuleChecker:
    def __init__(self, hmap, cfg, n_envs: int, n_egos: int, n_traffic: int, dt: float) -> None:
        self.cfg = cfg
        self.zones: ZoneTable = zone_table(hmap)
        self.E, self.K, self.T = int(n_envs), int(n_egos), int(n_traffic)
        self.N = N = self.K + self.T
        self.dt = float(dt)
        E = self.E
        n = E * N
        self.x, self.y, self.psi, self.gx, self.gy, self.u, self.cx, self.cy, self.length, self.beam = (
            np.zeros(n) for _ in range(10))
        self.active = np.zeros(n, dtype=np.uint8)
        self.blue = np.zeros(n, dtype=np.uint8)
        if cfg.blue_board:
            self.blue.reshape(E, N)[:, : self.K] = 1
        self.prev_z = np.zeros(n, dtype=np.int64)
        self.faced_up = np.ones(n, dtype=np.uint8)
        self.still_t = np.zeros(n)
        self.vflags = np.zeros(n, dtype=np.int64)
        self.prev_along = np.full((E, N, N), math.nan)
        self.pflags = np.zeros((E, N, N), dtype=np.int64)
        self.counts = np.zeros((E, N_RULES), dtype=np.int64)
        self.vcounts = np.zeros((n, N_RULES), dtype=np.int64)
        self.ev = np.zeros((max(64, 4 * n), rk.EV_COLS))
        self.ev_n = np.zeros(1, dtype=np.int64)
        self.lost = np.zeros(E, dtype=np.int64)  # events beyond the buffer (counted, not described)
        if cfg.require_zones:
            from testbed.rules.zones import KINDS, RuleZoneError

            bad = [k for k in cfg.require_zones if k not in KINDS]
            if bad:
                raise RuleZoneError(f"rules.require_zones: unknown zone kind(s) {bad}; known: {', '.join(KINDS)}")
            self.zones.require(cfg.require_zones, "rules.require_zones")
        marks = self.zones.gauge_marks
        level = cfg.water_level_m
        if not math.isnan(level) and not marks:
            from testbed.rules.zones import RuleZoneError

            raise RuleZoneError(f"rules.water_level_m = {level}: map {hmap.name!r} has no gauge with 'marks_m' "
                                "(high-water marks, RheinSchPV §10.01)")
        if not math.isnan(level):
            self.zones.require(["high_water"], "rules.water_level_m (§10.01)")
        m1 = marks[0] if marks else math.inf
        m2 = marks[1] if len(marks) > 1 else math.inf
        p = np.zeros(rk.N_PARAMS)
        p[rk.P_LIM_MOUTH] = cfg.harbour_mouth_speed_kmh / 3.6
        p[rk.P_LIM_HW] = cfg.high_water_speed_kmh / 3.6
        p[rk.P_LEVEL] = -math.inf if math.isnan(level) else level
        p[rk.P_MARK1] = m1
        p[rk.P_MARK2] = m2
        p[rk.P_STILL_S] = cfg.lying_still_s
        p[rk.P_PASS_GAP] = cfg.overtake_gap_m
        p[rk.P_SMALL_LEN] = cfg.small_craft_m
        p[rk.P_CROSS_CPA] = cfg.harbour_cpa_m
        p[rk.P_CROSS_TCPA] = cfg.harbour_tcpa_s
        p[rk.P_SMALL_CPA] = cfg.small_craft_cpa_m
        p[rk.P_SMALL_TCPA] = cfg.small_craft_tcpa_s
        p[rk.P_MEET_LAT] = cfg.passing_range_m
        # pairs farther apart than this are skipped: the longest look-ahead of any pair rule (the § 6.16 and
        # § 6.02 windows at 10 m/s closing speed) plus two hull lengths
        p[rk.P_PAIR_RANGE] = max(cfg.harbour_tcpa_s, cfg.small_craft_tcpa_s) * 10.0 + 400.0
        self.params = p
        self._t = np.zeros(E)
        self.events: list[list[Violation]] = [[] for _ in range(E)]  # this episode's events per env
        self.step_events: list[Violation] = []  # the events of the last check (every env)
        self.names: list[str] | None = None  # vessel names of an env in events (None: ego / traffic_<j>)

    # -- state --------------------------------------------------------------------------------------------
    def reset_env(self, e: int) -> None:
        N = self.N
        sl = slice(e * N, (e + 1) * N)
        self.prev_z[sl] = 0
        self.faced_up[sl] = 1
        self.still_t[sl] = 0.0
        self.vflags[sl] = 0
        self.prev_along[e] = math.nan
        self.pflags[e] = 0
        self.counts[e] = 0
        self.vcounts[sl] = 0
        self.lost[e] = 0
        self.events[e] = []

    def gather(self, ego, ego_cur, ego_len, ego_beam, traffic) -> None:
        """Copy the egos' and the traffic's state into the checker's arrays (compiled)."""
        ts = traffic.state if traffic is not None and self.T else None
        if ts is None:
            z = np.zeros(0)
            tx = ty = tpsi = tu = tlen = tbeam = z
            tact = np.zeros(0, dtype=np.uint8)
            tcur = np.zeros((0, 2))
        else:
            tx, ty, tpsi, tu, tact = ts.x, ts.y, ts.psi, ts.u, traffic.active
            tlen, tbeam, tcur = traffic.length, traffic.beam, traffic.current
        rk.gather_kernel(self.E, self.K, self.T, ego.x, ego.y, ego.psi, ego.u, ego.v, ego_cur, ego_len, ego_beam,
                         tx, ty, tpsi, tu, tact, tlen, tbeam, tcur, self.x, self.y, self.psi, self.gx, self.gy,
                         self.u, self.cx, self.cy, self.length, self.beam, self.active)  # fmt: skip

    def check(self, t: np.ndarray) -> int:
        """Run the check on the gathered state at times ``t`` (E,); returns the number of new events."""
        zt = self.zones
        self.ev_n[0] = 0
        if self.step_events:
            self.step_events = []
        rk.check_kernel(self.E, self.N, self.dt, self.x, self.y, self.psi, self.gx, self.gy, self.u, self.cx,
                        self.cy, self.length, self.beam, self.active, self.blue, self._geo, self._widx,
                        zt.cell_bits, zt.masks, self.params, self.prev_z, self.faced_up, self.still_t, self.vflags,
                        self.prev_along, self.pflags, self.counts, self.vcounts, self.ev, self.ev_n,
                        zt.lane_dir)  # fmt: skip
        n = int(self.ev_n[0])
        if n:
            self._collect(n, t)
        return n

    def check_state(self, t: np.ndarray, x, y, psi, gx, gy, u, cx, cy, length, beam, active) -> int:
        """Run the check on raw state arrays (E * N each: position, heading, ground velocity, speed through
        the water along the heading, current, hull length and beam, active flag) instead of the world's
        (:func:`testbed.rules.ais_check.check_recording` feeds recorded AIS this way). Same kernel, same state."""
        for dst, src in ((self.x, x), (self.y, y), (self.psi, psi), (self.gx, gx), (self.gy, gy), (self.u, u),
                         (self.cx, cx), (self.cy, cy), (self.length, length), (self.beam, beam),
                         (self.active, active)):
            dst[:] = src
        return self.check(t)

    def bind_map(self, geo: np.ndarray, widx: np.ndarray) -> RuleChecker:
        self._geo = geo
        self._widx = widx
        return self

    def step(self, t, ego, ego_cur, ego_len, ego_beam, traffic) -> int:
        self.gather(ego, ego_cur, ego_len, ego_beam, traffic)
        return self.check(t)

    # -- events ---------------------------------------------------------------------------------------------
    def _collect(self, n: int, t: np.ndarray) -> None:
        m = min(n, self.ev.shape[0])
        K = self.K
        for row in self.ev[:m]:
            e, r, a, b = int(row[0]), int(row[1]), int(row[2]), int(row[3])
            rule = RULES[r]
            na = self.names[a] if self.names else vessel_name(a, K)
            nb = (self.names[b] if self.names else vessel_name(b, K)) if b >= 0 else ""
            zone = zone_label(self.zones, int(row[8])) if row[8] >= 0 else ""
            where = f"in {zone}" if zone else ""
            ztext = where if r == R_STILL else (zone or "the fairway")
            template = rule.variants[int(row[9]) - 1] if row[9] > 0 else rule.template
            text = template.format(a=na, b=nb, v1=row[6], v2=row[7], zone=ztext)
            vessels = (na, nb) if b >= 0 else (na,)
            fault = int(row[10])
            at_fault = tuple(n for n, bit in zip(vessels, (1, 2), strict=False) if fault & bit)
            v = Violation(rule.article, rule.id, e, float(t[e]), float(row[4]), float(row[5]), vessels,
                          at_fault, zone, text)
            self.events[e].append(v)
            self.step_events.append(v)
        if n > m:  # more events than the buffer: still counted (counts), described up to the buffer
            self.lost[0] += n - m

    def take_events(self, e: int) -> list[Violation]:
        """This episode's events of env ``e`` so far (the list is the checker's; do not modify)."""
        return self.events[e]

    def counts_by_article(self, e: int, vessel: int | None = None) -> dict[str, int]:
        """{article id: count} of env ``e`` (all events) or of vessel ``vessel`` (events it is at fault in)."""
        c = self.counts[e] if vessel is None else self.vcounts[e * self.N + vessel]
        return {a: int(v) for a, v in zip(ARTICLE_IDS, c.tolist(), strict=True)}

    def traffic_counts(self, e: int) -> dict[str, int]:
        """{article id: count} of the events in env ``e`` with a traffic vessel at fault."""
        N, K = self.N, self.K
        c = self.vcounts[e * N + K:(e + 1) * N].sum(axis=0)
        return {a: int(v) for a, v in zip(ARTICLE_IDS, c.tolist(), strict=True)}
