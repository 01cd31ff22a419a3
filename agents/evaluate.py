"""Evaluate a policy on a scenario over a list of seeds.

``evaluate(policy, scenario_id, seeds, overrides=None)`` runs one episode per seed (``reset(seed=s)``)
and returns per-episode outcome, time, return and min CPA, plus the success rate. ``policy`` is an
object with ``act(obs) -> action`` (and optionally ``reset()``, called before each episode) or a plain
callable ``obs -> action``.

CLI: ``python -m agents.evaluate SCENARIO --episodes N [--traffic K] [--seed0 S]`` prints a summary.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter

import gymnasium as gym
import numpy as np

import testbed  # noqa: F401  (registers the scenarios)


def _env_id(scenario_id: str) -> str:
    return scenario_id if "/" in scenario_id else f"testbed/{scenario_id}"


def evaluate(policy, scenario_id: str, seeds, overrides: dict | None = None) -> dict:
    """Run ``policy`` for one episode per seed; returns ``{"episodes": [...], "success_rate", ...}``."""
    env = gym.make(_env_id(scenario_id), **(overrides or {}))
    act = policy.act if hasattr(policy, "act") else policy
    episodes = []
    try:
        for seed in seeds:
            if hasattr(policy, "reset"):
                policy.reset()
            obs, info = env.reset(seed=int(seed))
            ret = 0.0
            min_cpa = math.inf
            while True:
                obs, rew, term, trunc, info = env.step(np.asarray(act(obs), dtype=np.float32))
                ret += rew
                min_cpa = min(min_cpa, info["min_cpa_m"])
                if term or trunc:
                    break
            episodes.append({"seed": int(seed), "outcome": info["outcome"], "time_s": info["time_s"],
                             "return": ret, "min_cpa_m": min_cpa, "goal": info["goal"],
                             "distance_to_goal_m": info["distance_to_goal_m"]})  # fmt: skip
    finally:
        env.close()
    n = len(episodes)
    ok = [e for e in episodes if e["outcome"] == "goal"]
    return {
        "scenario": scenario_id,
        "episodes": episodes,
        "n": n,
        "success_rate": len(ok) / n if n else math.nan,
        "mean_time_s": float(np.mean([e["time_s"] for e in ok])) if ok else math.nan,
        "mean_return": float(np.mean([e["return"] for e in episodes])) if n else math.nan,
        "outcomes": dict(Counter(e["outcome"] for e in episodes)),
    }


def summary(res: dict) -> str:
    lines = [f"{res['scenario']}: {res['n']} episodes, success {100 * res['success_rate']:.1f} %, "
             f"mean time to goal {res['mean_time_s']:.0f} s, mean return {res['mean_return']:.1f}",
             "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(res["outcomes"].items()))]  # fmt: skip
    fails = [e for e in res["episodes"] if e["outcome"] != "goal"]
    if fails:
        lines.append("failures (seed outcome time goal dist):")
        lines += [f"  {e['seed']:5d} {e['outcome']:11s} {e['time_s']:6.0f} {e['goal']} {e['distance_to_goal_m']:.0f}"
                  for e in fails]  # fmt: skip
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario")
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--traffic", type=int, default=None, help="traffic.count override")
    args = ap.parse_args(argv)
    from agents.autopilot import Autopilot
    from testbed.scenarios import get

    oc = get(args.scenario).observation
    overrides = {"traffic": {"count": args.traffic}} if args.traffic is not None else None
    t0 = time.perf_counter()
    res = evaluate(Autopilot(n_rays=oc.n_rays, n_targets=oc.n_targets), args.scenario,
                   range(args.seed0, args.seed0 + args.episodes), overrides)  # fmt: skip
    print(summary(res))
    print(f"({time.perf_counter() - t0:.1f} s wall)")


if __name__ == "__main__":
    main()
