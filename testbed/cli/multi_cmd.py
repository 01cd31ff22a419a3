"""``testbed multi``: run several vessels in one world (testbed.multi_agent), one agent per vessel.

    testbed multi RhineTransit-v0 --agents 2 --agent autopilot --episodes 2 --seed 0
    testbed multi MA-RhineMeeting-v0 --out out/multi      # the dedicated scenarios know their agent count

Every vessel is driven by its own copy of the agent (``autopilot``, ``idle`` or ``random``); prints one
line per vessel and episode (outcome, time, reward, rule violations) and writes ``OUT/summary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from atomicio import atomic_open

AGENTS = ("autopilot", "idle", "random")


def register(sub) -> None:
    p = sub.add_parser("multi", help="run several vessels in one world (PettingZoo env), one agent per vessel",
                       description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("scenario", help="registered id (e.g. RhineTransit-v0) or a multi-agent scenario (MA-RhineMeeting-v0, "
                                    "MA-ConvoyEntry-v0, MA-HarbourCrossing-v0)")  # fmt: skip
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. traffic.count=5")
    p.add_argument("--agents", type=int, default=None, metavar="K",
                   help="number of vessels (default: 1, or the multi-agent scenario's own count)")
    p.add_argument("--agent", default="autopilot", help="autopilot, idle or random (the same kind for every vessel)")
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-separation", type=float, default=300.0, metavar="M",
                   help="least distance between the vessels' starts along the start lanes [m]")
    p.add_argument("--out", default="out/multi", help="output directory (summary.json)")
    p.set_defaults(func=run)


def run(args) -> int:
    from testbed.cli import CLIError
    from testbed.multi_agent import parallel_env

    if args.agent not in AGENTS:
        raise CLIError(f"--agent {args.agent!r}: expected one of {', '.join(AGENTS)}")
    if args.episodes < 1:
        raise CLIError(f"--episodes {args.episodes}: expected at least 1")
    env = parallel_env(args.scenario, n_agents=args.agents, overrides=list(args.overrides),
                       min_separation_m=args.min_separation)  # fmt: skip
    oc = env.cfg.observation
    if oc.kind != "flat":
        raise CLIError(f"scenario {env.cfg.name!r}: testbed multi needs observation.kind = 'flat'")
    names = env.possible_agents
    pilot = None
    if args.agent == "autopilot":
        from agents.autopilot import Autopilot

        pilot = Autopilot(n_rays=oc.n_rays, n_targets=oc.n_targets)
    rng = np.random.default_rng(args.seed)
    episodes = []
    for ep in range(args.episodes):
        obs, _ = env.reset(seed=args.seed + ep)
        if pilot is not None:
            pilot.reset()  # fresh controller state for every vessel
        total = dict.fromkeys(names, 0.0)
        last: dict[str, dict] = {}
        while env.agents:
            live = list(env.agents)
            if pilot is not None:
                o = np.zeros((len(names), pilot.obs_dim))
                for a in live:
                    o[names.index(a)] = obs[a]
                acts_all = pilot.act_batch(o)
                acts = {a: acts_all[names.index(a)] for a in live}
            elif args.agent == "idle":
                acts = {a: np.zeros(2, np.float32) for a in live}
            else:
                acts = {a: rng.uniform(-1, 1, 2).astype(np.float32) for a in live}
            obs, rew, te, tr, infos = env.step(acts)
            for a in live:
                total[a] += rew[a]
                last[a] = infos[a]
        rows = []
        for a in names:
            i = last[a]
            viol = {k: v for k, v in i.get("rule_violations", {}).items() if v}
            rows.append({"agent": a, "outcome": i["outcome"], "time_s": i["time_s"], "reward": round(total[a], 3),
                         "goal": i["goal"], "distance_to_goal_m": round(i["distance_to_goal_m"], 1),
                         "rule_violations": viol})  # fmt: skip
            vtxt = ", ".join(f"§{k} x{v}" for k, v in viol.items()) or "none"
            print(f"episode {ep} {a}: {i['outcome']} after {i['time_s']:.0f} s, reward {total[a]:+.2f}, "
                  f"goal {i['goal']} ({i['distance_to_goal_m']:.0f} m left), rule violations: {vtxt}")  # fmt: skip
        episodes.append({"episode": ep, "seed": args.seed + ep, "agents": rows})
    env.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"scenario": env.cfg.name, "n_agents": len(names), "agent": args.agent, "episodes": episodes}
    with atomic_open(out / "summary.json", "w") as fh:
        json.dump(summary, fh, indent=1)
    print(f"wrote {out / 'summary.json'}")
    return 0
