"""One evaluated episode: the evaluator owns the environment, the policy only answers ``act``.

:func:`run_episode` makes the case's env, starts the policy (a sandboxed :class:`PolicyProcess`, or an
in-process trusted baseline), steps until the env ends or the policy fails, records the replay (when a
path is given) and returns an :class:`EpisodeResult` with a status (``finished``, ``crashed``,
``timeout``, ``invalid_action``) and the metrics (:mod:`testbed.evaluation.metrics`) of the steps that
were simulated. A late action (soft step deadline) holds the last command and is counted; the hard
episode deadline ends the episode with ``timeout``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .metrics import EpisodeMetrics, episode_quality
from .sandbox import DEFAULT_LIMITS, Limits, PolicyFailure, PolicyProcess

STATUSES = ("finished", "crashed", "timeout", "invalid_action", "rejected")


@dataclass
class EpisodeResult:
    case_id: str
    seed: int
    status: str
    reason: str = ""
    metrics: dict = field(default_factory=dict)
    log: str = ""
    wall_s: float = 0.0
    replay: str | None = None


class InProcessPolicy:
    """A trusted policy (the baselines) run in the evaluator's process, behind PolicyProcess's interface."""

    def __init__(self, spec: str, scenario=None):
        self.spec = spec
        self.scenario = scenario
        self.policy = None

    def start(self, observation_space, action_space) -> None:
        from agents.loader import load_policy  # lazily: agents sits above testbed (like the CLI's handlers)

        self.policy = load_policy(self.spec, observation_space, action_space, scenario=self.scenario)

    def reset(self, seed: int) -> None:
        self.policy.reset(seed)

    def act(self, i: int, obs):
        return self.policy.act(obs)

    def close(self) -> str:
        return ""


def check_action(a) -> tuple[np.ndarray | None, str]:
    """(action as float64 (2,), "") or (None, why it is invalid)."""
    if a is None:
        return None, "no action"
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        return None, f"action of dtype {arr.dtype}, not numbers"
    if arr.shape != (2,):
        return None, f"action of shape {arr.shape}, expected (2,)"
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        return None, f"non-finite action {arr.tolist()}"
    if (np.abs(arr) > 1.0 + 1e-6).any():
        return None, f"action {arr.tolist()} outside [-1, 1]"
    return np.clip(arr, -1.0, 1.0), ""


def make_env(case, record: str | Path | None = None, agent: str | None = None):
    import gymnasium as gym

    import testbed  # noqa: F401  (registers the scenarios)

    env = gym.make(f"testbed/{case.scenario}", **case.env_kwargs())
    if record is not None:
        from testbed.replay import RecordEpisode

        env = RecordEpisode(env, str(record), agent=agent)
    return env


def run_episode(case, seed: int, policy, limits: Limits = DEFAULT_LIMITS, record: str | Path | None = None,
                deadline: float | None = None, agent: str | None = None,
                rule_penalty: dict[str, float] | None = None) -> EpisodeResult:  # fmt: skip
    """Run one episode of ``case`` with ``seed``. ``policy``: a :class:`PolicyProcess` (not started) or
    :class:`InProcessPolicy`. ``deadline``: a ``time.monotonic()`` value (the submission's hard deadline).
    ``rule_penalty``: the suite's penalty per rule violation and article (the quality's rule factor)."""
    t0 = time.monotonic()
    end = t0 + limits.episode_deadline_s
    if deadline is not None:
        end = min(end, deadline)
    cfg = case.resolve()
    if isinstance(policy, InProcessPolicy):
        policy.scenario = cfg
    env = make_env(case, record, agent)
    status, reason = "finished", ""
    acc = None
    try:
        try:
            policy.start(env.observation_space, env.action_space)
            policy.reset(seed)
            obs, info = env.reset(seed=int(seed))
            acc = EpisodeMetrics(cfg.dt, cfg.time_limit_s, cfg.reward.energy, info, rule_penalty)
            last = np.zeros(2)
            i = 0
            while True:
                if time.monotonic() > end:
                    raise PolicyFailure("timeout", f"episode deadline of {limits.episode_deadline_s:g} s passed "
                                                   f"after {i} steps" if deadline is None or end < deadline
                                        else f"submission deadline passed after {i} steps")  # fmt: skip
                a = policy.act(i, obs)
                late = a is None
                if not late:
                    a, why = check_action(a)
                    if a is None:
                        raise PolicyFailure("invalid_action", f"step {i}: {why}")
                    last = a
                obs, reward, term, trunc, info = env.step(last.astype(np.float32))
                acc.step(last, reward, info, late)
                i += 1
                if term or trunc:
                    break
        except PolicyFailure as exc:
            status, reason = exc.status, exc.reason
    finally:
        log = policy.close()
        env.close()
    metrics = acc.result() if acc is not None else {}
    if metrics:
        metrics["quality"] = episode_quality(metrics, cfg.time_limit_s, status, rule_penalty)
    else:
        metrics = {"quality": 0.0}
    return EpisodeResult(case.id, int(seed), status, reason, metrics, log, time.monotonic() - t0,
                         str(record) if record is not None and Path(record).exists() else None)  # fmt: skip


def policy_for(submission: str, limits: Limits, sandbox: bool, scenario=None):
    """A fresh policy handle: built-ins in process (trusted), folders in a (sandboxed) process."""
    if submission in ("autopilot", "idle", "random"):
        return InProcessPolicy(submission, scenario)
    return PolicyProcess(submission, limits, sandbox)


def nan_to_none(m: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in m.items()}
