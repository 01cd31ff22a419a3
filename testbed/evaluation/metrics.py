"""Per-episode metrics and the normalised score.

Metrics come from what the env already reports (``info`` of every step) and from the commands the
evaluator applied; there is no second physics. :class:`EpisodeMetrics` accumulates them step by step:

==========================  =============================================================================
``outcome``                 the env's outcome: goal, collision, grounding, left_map, time_limit (or None
                            when the episode stopped early: crashed policy, invalid action, timeout)
``success``                 1 if the outcome is ``goal``
``collision``, ``grounding``  1 if the episode ended so
``near_misses``             number of near-miss events (a target's CPA < ``reward.near_miss_cpa_m`` within
                            ``reward.near_miss_tcpa_s``; consecutive steps are one event)
``near_miss_s``             seconds spent in a near-miss situation
``min_cpa_m``               the smallest CPA to any target over the episode (None without targets)
``time_to_goal_s``          simulated seconds to the goal (None when not reached)
``energy``                  sum of (revs / max revs)^3 * dt [s]: the propulsion energy proxy of the reward
``cross_track_rms_m``       RMS cross-track distance to the route [m]
``rudder_activity``         sum |change of the rudder command| per minute (commands in [-1, 1])
``engine_activity``         sum |change of the engine command| per minute
``rule_violations``         the ego's inland-rule violations in the episode (RheinSchPV, ``testbed.rules``;
                            the sum over articles of ``info["rule_violations"]``), None with the rules off
``rule_violations.<id>``    the same per article id (``rule_violations.9.04``, ``rule_violations.6.20``, ...;
                            :data:`RULE_COLUMNS`, one per article the checker knows)
``progress``                1 - final distance to the goal / initial distance, clipped to [0, 1]
``link_*``                  outage fraction, handovers, data and command loss fractions, fail-safe seconds,
                            mean data latency [ms] (finite ones), minimum SINR [dB]
``steps``, ``late_steps``   steps simulated; steps whose action arrived after the soft step deadline
                            (the last command was held)
``return``                  the sum of rewards
==========================  =============================================================================

## Score (documented formula; ``tests/evaluation/test_metrics.py`` checks it on hand-made episodes)

Episode quality, in [0, 1]::

    q = safe * (0.25 * progress + 0.5 * success + 0.25 * success * (1 - time_to_goal_s / time_limit_s))
          * (1 - 0.5 * min(1, near_miss_s / 60))

with ``safe = 0`` after a collision, grounding or leaving the map, else 1. An episode whose status is
not ``finished`` (crashed, timeout, invalid_action, rejected) has ``q = 0``.

Rule violations (suite 1.2 on; :data:`testbed.evaluation.suite.RULE_PENALTY`, per article id) multiply
``q`` by::

    rules = max(0, 1 - sum over articles a of penalty_a * rule_violations.a)

so one § 9.04 meeting starboard-to-starboard (penalty 0.1) costs a tenth of the episode's quality, one
§ 6.20 speeding past a harbour mouth (0.05) a twentieth. Suites up to 1.1 had no such factor; their stored
rows keep the quality they were scored with.

Per case, ``Q`` is the mean ``q`` over the case's seeds that the submission has results for, and
``Q_idle``, ``Q_auto`` the same means of the do-nothing policy (``idle``) and the autopilot on the same
seeds. The case score is piecewise linear (as in L2RPN)::

    Q >= Q_auto:           score = 100 + 100 * (Q - Q_auto) / (1 - Q_auto)     (200 = perfect; 100 if Q_auto = 1)
    Q_idle <= Q < Q_auto:  score = 100 * (Q - Q_idle) / (Q_auto - Q_idle)
    Q < min(Q_idle, Q_auto): score = -100 * (m - Q) / m, m = min(Q_idle, Q_auto)  (-100 = q 0 everywhere)

so that doing nothing scores exactly ``IDLE_SCORE`` = 0 and the autopilot exactly ``AUTOPILOT_SCORE``
= 100 (on a case where the autopilot does no better than doing nothing, the autopilot's 100 takes
precedence). The overall score is the mean of the case scores over the cases evaluated (the tables
show how many episodes that is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from testbed.rules.articles import ARTICLE_IDS

AUTOPILOT_SCORE = 100.0
IDLE_SCORE = 0.0
SCORE_FLOOR = -100.0
NEAR_MISS_FULL_S = 60.0

METRIC_COLUMNS = (
    "outcome", "success", "collision", "grounding", "near_misses", "near_miss_s", "min_cpa_m",
    "time_to_goal_s", "energy", "cross_track_rms_m", "rudder_activity", "engine_activity",
    "rule_violations", "progress", "link_outage_frac", "link_handovers", "link_data_loss_frac",
    "link_cmd_loss_frac", "link_failsafe_s", "link_latency_ms", "link_min_sinr_db", "steps",
    "late_steps", "return", "time_s", "quality",
)  # fmt: skip
RULE_COLUMNS = tuple(f"rule_violations.{a}" for a in ARTICLE_IDS)  # per article id, after the columns above
METRIC_COLUMNS = METRIC_COLUMNS + RULE_COLUMNS


class EpisodeMetrics:
    """Accumulates one episode's metrics from the reset info, each step's info and the applied action."""

    def __init__(self, dt: float, time_limit_s: float, energy_weight: float, reset_info: dict,
                 rule_penalty: dict[str, float] | None = None):  # fmt: skip
        self.rule_penalty = rule_penalty
        self.dt = float(dt)
        self.time_limit_s = float(time_limit_s)
        self.energy_weight = float(energy_weight)
        self.d0 = float(reset_info.get("distance_to_goal_m", math.nan))
        self.steps = 0
        self.late = 0
        self.ret = 0.0
        self.near_steps = 0
        self.near_events = 0
        self._in_near = False
        self.min_cpa = math.inf
        self.energy = 0.0
        self.ct2 = 0.0
        self.d_rudder = 0.0
        self.d_engine = 0.0
        self._last = (0.0, 0.0)
        self.outages = self.handovers = self.data_lost = self.cmd_lost = self.failsafe = 0
        self.lat_sum = 0.0
        self.lat_n = 0
        self.min_sinr = math.inf
        self.last_info = reset_info
        self.outcome = None

    def step(self, action, reward: float, info: dict, late: bool = False) -> None:
        a0, a1 = float(action[0]), float(action[1])
        self.steps += 1
        self.late += bool(late)
        self.ret += float(reward)
        self.d_rudder += abs(a0 - self._last[0])
        self.d_engine += abs(a1 - self._last[1])
        self._last = (a0, a1)
        comps = info["reward_components"]
        near = comps.get("near_miss", 0.0) != 0.0
        self.near_steps += near
        self.near_events += near and not self._in_near
        self._in_near = near
        self.min_cpa = min(self.min_cpa, float(info["min_cpa_m"]))
        if self.energy_weight != 0.0:
            self.energy += comps.get("energy", 0.0) / self.energy_weight * self.dt
        self.ct2 += float(info["cross_track_m"]) ** 2
        link = info.get("link") or {}
        self.outages += bool(link.get("outage"))
        self.handovers += bool(link.get("handover"))
        self.data_lost += bool(link.get("data_lost"))
        self.cmd_lost += bool(link.get("cmd_lost"))
        self.failsafe += bool(link.get("failsafe"))
        lat = link.get("data_latency_ms", math.inf)
        if lat is not None and math.isfinite(lat):
            self.lat_sum += lat
            self.lat_n += 1
        sinr = link.get("sinr_db")
        if sinr is not None and not math.isnan(sinr):
            self.min_sinr = min(self.min_sinr, sinr)
        self.last_info = info
        self.outcome = info.get("outcome")

    def result(self) -> dict:
        n = max(self.steps, 1)
        info = self.last_info
        outcome = self.outcome
        minutes = max(self.steps * self.dt / 60.0, 1e-9)
        d_end = float(info.get("distance_to_goal_m", math.nan))
        progress = 0.0
        if self.d0 > 0 and math.isfinite(d_end):
            progress = min(1.0, max(0.0, 1.0 - d_end / self.d0))
        if outcome == "goal":
            progress = 1.0

        def fin(x):
            return float(x) if math.isfinite(x) else None

        m = {
            "outcome": outcome,
            "success": int(outcome == "goal"),
            "collision": int(outcome == "collision"),
            "grounding": int(outcome == "grounding"),
            "near_misses": self.near_events,
            "near_miss_s": self.near_steps * self.dt,
            "min_cpa_m": fin(self.min_cpa),
            "time_to_goal_s": float(info["time_s"]) if outcome == "goal" else None,
            "energy": self.energy if self.energy_weight != 0.0 else None,
            "cross_track_rms_m": math.sqrt(self.ct2 / n),
            "rudder_activity": self.d_rudder / minutes,
            "engine_activity": self.d_engine / minutes,
            "rule_violations": (int(sum(info["rule_violations"].values()))
                                if isinstance(info.get("rule_violations"), dict) else None),
            "progress": progress,
            "link_outage_frac": self.outages / n,
            "link_handovers": self.handovers,
            "link_data_loss_frac": self.data_lost / n,
            "link_cmd_loss_frac": self.cmd_lost / n,
            "link_failsafe_s": self.failsafe * self.dt,
            "link_latency_ms": self.lat_sum / self.lat_n if self.lat_n else None,
            "link_min_sinr_db": fin(self.min_sinr),
            "steps": self.steps,
            "late_steps": self.late,
            "return": self.ret,
            "time_s": float(info.get("time_s", self.steps * self.dt)),
        }
        per = info.get("rule_violations")
        for a, col in zip(ARTICLE_IDS, RULE_COLUMNS, strict=True):
            m[col] = int(per.get(a, 0)) if isinstance(per, dict) else None
        m["quality"] = episode_quality(m, self.time_limit_s, "finished", self.rule_penalty)
        return m


def rules_factor(m: dict, rule_penalty: dict[str, float] | None) -> float:
    """``max(0, 1 - sum_a penalty_a * rule_violations.a)`` (1 without penalties or rule counts)."""
    if not rule_penalty:
        return 1.0
    total = sum(float(w) * float(m.get(f"rule_violations.{a}") or 0) for a, w in rule_penalty.items())
    return max(0.0, 1.0 - total)


def episode_quality(m: dict, time_limit_s: float, status: str, rule_penalty: dict[str, float] | None = None) -> float:
    """The episode quality ``q`` in [0, 1] (formula in the module docstring); ``rule_penalty``: the suite's
    penalty per rule violation, per article id (None: no rule factor, as in suites up to 1.1)."""
    if status != "finished":
        return 0.0
    if m.get("outcome") in ("collision", "grounding", "left_map"):
        return 0.0
    success = 1.0 if m.get("success") else 0.0
    progress = float(m.get("progress") or 0.0)
    speed = 0.0
    if success and m.get("time_to_goal_s") is not None:
        speed = max(0.0, 1.0 - float(m["time_to_goal_s"]) / float(time_limit_s))
    q = 0.25 * progress + 0.5 * success + 0.25 * success * speed
    q *= 1.0 - 0.5 * min(1.0, float(m.get("near_miss_s") or 0.0) / NEAR_MISS_FULL_S)
    return q * rules_factor(m, rule_penalty)


def rule_means(rows: list[dict]) -> dict[str, float]:
    """Mean violations per episode per article id over the rows that have per-article counts (rows of
    suites before 1.2, or with the rules off, have none); {} when no row has them."""
    have = [r for r in rows if r.get(RULE_COLUMNS[0]) is not None]
    if not have:
        return {}
    return {a: sum(int(r[c] or 0) for r in have) / len(have) for a, c in zip(ARTICLE_IDS, RULE_COLUMNS, strict=True)}


@dataclass(frozen=True)
class CaseScore:
    case_id: str
    score: float
    q: float
    q_idle: float
    q_auto: float
    n: int


def case_score(q: list[float], q_idle: list[float], q_auto: list[float]) -> float:
    """The normalised score of one case from the per-seed qualities (same seeds for all three lists)."""
    if not q:
        return math.nan
    Q = sum(q) / len(q)
    Qi = sum(q_idle) / len(q_idle)
    Qa = sum(q_auto) / len(q_auto)
    if Q >= Qa:
        return AUTOPILOT_SCORE if Qa >= 1.0 else AUTOPILOT_SCORE + 100.0 * (Q - Qa) / (1.0 - Qa)
    if Q >= Qi:
        return AUTOPILOT_SCORE * (Q - Qi) / (Qa - Qi)
    m = min(Qi, Qa)
    return IDLE_SCORE + SCORE_FLOOR * (m - Q) / m


def score(rows: dict, idle: dict, auto: dict) -> tuple[float, dict[str, float]]:
    """Overall and per-case scores. Each argument maps ``case_id -> {seed: q}``; a case is scored on the
    seeds the submission has (baselines must cover them). Returns ``(overall, {case: score})``."""
    per = {}
    for case_id, by_seed in rows.items():
        seeds = sorted(by_seed)
        missing = [s for s in seeds if s not in idle.get(case_id, {}) or s not in auto.get(case_id, {})]
        if missing:
            raise ValueError(f"case {case_id!r}: no baseline result for seeds {missing}")
        per[case_id] = case_score([by_seed[s] for s in seeds], [idle[case_id][s] for s in seeds],
                                  [auto[case_id][s] for s in seeds])  # fmt: skip
    vals = [v for v in per.values() if not math.isnan(v)]
    return (sum(vals) / len(vals) if vals else math.nan), per
