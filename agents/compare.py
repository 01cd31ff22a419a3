"""Compare policies side by side on the same seeds: success, collisions, groundings, time-outs, return.

    python -m agents.compare PortEntry-v1 autopilot policy:agents/policies/port_entry --seeds 0-199
    python -m agents.compare PortEntry-v1 autopilot policy:DIR traffic.count=0 --seeds 0-199 --json out.json

Each policy (a spec of :func:`agents.loader.load_policy`) runs one episode per seed. Policies with
``batched = True`` (the autopilot, non-recurrent exported policies) run ``--n-envs`` episodes at a time in
one batched world; env e with seed s is bit-identical to the single env with seed s, so the numbers
equal those of ``python -m agents.evaluate`` on the same seeds. Others run one env at a time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

import numpy as np


def run_episodes(policy, cfg, seeds, n_envs: int = 32) -> list[dict]:
    """One episode per seed; returns [{seed, outcome, return, time_s}] in the order of ``seeds``."""
    from testbed.world import World

    seeds = [int(s) for s in seeds]
    batched = bool(getattr(policy, "batched", False))
    n = min(n_envs if batched else 1, len(seeds))
    world = World(cfg, n)
    slot = [-1] * n
    ret = np.zeros(n)
    res: list = [None] * len(seeds)
    nxt = 0

    def start(e):
        nonlocal nxt
        world.reset_env(e, seeds[nxt])
        slot[e], ret[e] = nxt, 0.0
        nxt += 1
        policy.reset(seeds[slot[e]]) if not batched else policy.reset_envs(np.array([e]))

    if batched:
        policy.act_batch(world.obs)  # allocate per-env state
    for e in range(n):
        start(e)
    while any(s >= 0 for s in slot):
        obs = world.obs.copy()
        acts = policy.act_batch(obs) if batched else policy.act(obs[0])[None]
        reward, term, trunc, _ = world.step(np.asarray(acts, dtype=np.float64).reshape(n, 2))
        outs = world.outcomes()
        ret += reward
        for e in range(n):
            if slot[e] >= 0 and (term[e] or trunc[e]):
                res[slot[e]] = {"seed": seeds[slot[e]], "outcome": str(outs[e]), "return": float(ret[e]),
                                "time_s": float(world.t[e])}  # fmt: skip
                if world.rules is not None:  # the ego's rule violations of the episode, per article id
                    res[slot[e]]["rule_violations"] = world.rules.counts_by_article(e, 0)
                if nxt < len(seeds):
                    start(e)
                else:
                    slot[e] = -1
                    world.reset_env(e, seeds[0])  # idle slot, not recorded
    return res


def summarise(episodes: list[dict]) -> dict:
    c = Counter(e["outcome"] for e in episodes)
    n = len(episodes)
    return {"episodes": n, "success_rate": c.get("goal", 0) / n, "collisions": c.get("collision", 0),
            "groundings": c.get("grounding", 0), "collisions_plus_groundings": c.get("collision", 0) + c.get("grounding", 0),
            "time_limit": c.get("time_limit", 0), "out_of_map": c.get("out_of_map", 0),
            "mean_return": float(np.mean([e["return"] for e in episodes])),
            "rule_violations": rule_totals(episodes)}  # fmt: skip


def rule_totals(episodes: list[dict]) -> dict[str, int] | None:
    """The ego's rule violations summed over the episodes, per article id (None with the rules off)."""
    per = [e["rule_violations"] for e in episodes if e.get("rule_violations") is not None]
    if not per:
        return None
    return {k: int(sum(p[k] for p in per)) for k in per[0]}


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-", 1)
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]


def main(argv=None) -> int:
    from agents.loader import load_policy
    from testbed.scenarios import compose_scenario

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario")
    ap.add_argument("agents", nargs="+", help="policy specs; scenario overrides (key=value) may follow")
    ap.add_argument("--seeds", default="0-199")
    ap.add_argument("--n-envs", type=int, default=32)
    ap.add_argument("--json", default=None, help="write the table and every episode as JSON")
    args = ap.parse_args(argv)
    specs = [a for a in args.agents if "=" not in a]
    overrides = [a for a in args.agents if "=" in a]
    cfg = compose_scenario(args.scenario, overrides)
    from testbed.env import make_spaces

    obs_space, act_space = make_spaces(cfg)
    seeds = _seeds(args.seeds)
    table = {}
    for spec in specs:
        pol = load_policy(spec, obs_space, act_space, scenario=cfg)
        t0 = time.perf_counter()
        eps = run_episodes(pol, cfg, seeds, args.n_envs)
        table[spec] = {**summarise(eps), "wall_s": round(time.perf_counter() - t0, 1), "per_episode": eps}
    print(f"{cfg.name} {overrides or ''} seeds {seeds[0]}..{seeds[-1]} ({len(seeds)} episodes)")
    print(f"{'agent':45s} {'success':>8s} {'collis.':>8s} {'ground.':>8s} {'coll+gr':>8s} {'timeout':>8s} {'return':>9s}")
    for spec, r in table.items():
        print(f"{spec:45s} {r['success_rate']:8.1%} {r['collisions']:8d} {r['groundings']:8d} "
              f"{r['collisions_plus_groundings']:8d} {r['time_limit']:8d} {r['mean_return']:9.1f}")  # fmt: skip
    for spec, r in table.items():
        if r["rule_violations"] is not None:
            bad = {k: v for k, v in r["rule_violations"].items() if v}
            text = ", ".join(f"§{k} {v}" for k, v in bad.items()) or "none"
            print(f"{spec}: rule violations of the ego ({r['episodes']} episodes): {text}")
    if args.json:
        from atomicio import atomic_open

        with atomic_open(args.json, "w") as fh:
            json.dump({"scenario": cfg.name, "overrides": overrides, "seeds": [seeds[0], seeds[-1]], "agents": table},
                      fh, indent=2)  # fmt: skip
    return 0


def cli(argv=None) -> int:
    """``main`` with bad input (unknown scenario or key, a broken policy folder) as one line, exit 2."""
    try:
        return main(argv)
    except (ValueError, KeyError) as exc:  # PolicyLoadError, ConfigError, ... name what and where
        print(f"agents.compare: error: {exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}",
              file=sys.stderr)  # fmt: skip
        return 2


if __name__ == "__main__":
    raise SystemExit(cli())
