"""``testbed run SCENARIO``: run episodes with an agent, write a JSON summary per episode and frames/GIFs.

    testbed run PortEntry-v0 --agent autopilot --episodes 5 --seed 0 --render png --out out/run
    testbed run port_entry_busy traffic.count=5 reward.collision=-500     # testbed/conf/ YAML + overrides

SCENARIO is a registered id (``testbed list``) or a YAML file in ``testbed/conf/`` that extends one. Output
(``--out DIR``): ``episode_NNN.json`` per episode (outcome, time, return, reward components summed
over the episode, minimum CPA, steps), ``summary.json`` (rewritten after every episode, atomically, so
an interrupted run keeps its finished episodes), and with ``--render png`` a PNG every
``--frame-every`` steps plus ``episode_NNN.gif``; ``--render human`` opens a window. Ctrl-C stops
cleanly (exit status 130): ``summary.json`` keeps the finished episodes, marked ``"interrupted": true``,
with the unfinished one's progress under ``interrupted_episode``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from atomicio import atomic_open


def register(sub) -> None:
    p = sub.add_parser("run", help="run episodes of a scenario with an agent; JSON summaries, frames, GIFs",
                       description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("scenario", help="registered id (e.g. PortEntry-v0) or a YAML scenario of testbed/conf/ (testbed list)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. traffic.count=5")
    p.add_argument("--agent", default="autopilot",
                   help="autopilot, random, idle, or policy:DIR (an exported policy or a submission folder)")
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--render", choices=["none", "png", "human"], default="none")
    p.add_argument("--camera", choices=["follow", "map"], default="follow")
    p.add_argument("--frame-every", type=int, default=30, help="steps between saved frames (--render png)")
    p.add_argument("--out", default="out/run", help="output directory")
    p.add_argument("--emit", default=None,
                   help="send the simulated vessels as AIS (types 1, 5, 8/FI 10): udp://HOST:PORT or a file")
    p.set_defaults(func=run)
    q = sub.add_parser("list", help="list the registered scenarios")
    q.set_defaults(func=list_scenarios)


def list_scenarios(args) -> int:
    from testbed.scenarios import SCENARIOS, compose_scenario, scenario_names

    for sid in scenario_names():
        cfg = SCENARIOS.get(sid) or compose_scenario(sid)
        name = f"testbed/{sid}" if sid in SCENARIOS else sid
        src = "" if sid in SCENARIOS else f"  (testbed/conf/{sid}.yaml)"
        print(f"{name:26} map={cfg.map:20} ego={cfg.ego.vessel_type:6} traffic={cfg.traffic.count}{src}")
    return 0


def _write_json(path: Path, data) -> None:
    with atomic_open(path, "w") as fh:
        json.dump(data, fh, indent=2, default=float)


def _finite(x: float):
    return x if math.isfinite(x) else None


def run(args) -> int:
    from testbed.cli import CLIError
    from testbed.env import DuisburgEnv
    from testbed.scenarios import compose_scenario

    if args.episodes < 1:
        raise CLIError(f"--episodes must be >= 1, got {args.episodes}")
    cfg = compose_scenario(args.scenario, args.overrides)
    render_mode = {"none": None, "png": "rgb_array", "human": "human"}[args.render]
    env = DuisburgEnv(cfg, render_mode=render_mode, camera=args.camera)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from agents.loader import load_policy

    policy = load_policy(args.agent, env.observation_space, env.action_space, scenario=cfg, seed=args.seed)
    emitter = None
    if args.emit:
        from testbed.ais.emit import AISEmitter
        from testbed.ais.world_io import world_vessels

        emitter = AISEmitter(args.emit)
    summary = {"scenario": cfg.name, "agent": args.agent, "seed": args.seed, "episodes": [],
               "interrupted": False}  # fmt: skip
    t_offset = 0.0  # episodes follow each other on the emitted AIS clock
    ep, steps, ret = 0, 0, 0.0
    try:
        for ep in range(args.episodes):
            obs, info = env.reset(seed=args.seed + ep)
            policy.reset(args.seed + ep)
            frames, ret, steps = [], 0.0, 0
            comps = dict.fromkeys(info["reward_components"], 0.0)
            min_cpa = math.inf
            while True:
                if render_mode == "rgb_array" and steps % args.frame_every == 0:
                    frames.append(env.render())
                action = policy.act(obs)
                obs, r, term, trunc, info = env.step(action)
                if emitter is not None:
                    emitter.emit(t_offset + info["time_s"], world_vessels(env.world))
                ret += r
                steps += 1
                for k, v in info["reward_components"].items():
                    comps[k] += v
                min_cpa = min(min_cpa, info["min_cpa_m"])
                if term or trunc:
                    break
            record = {
                "episode": ep, "seed": args.seed + ep, "outcome": info["outcome"], "success": info["is_success"],
                "time_s": info["time_s"], "steps": steps, "return": ret, "reward_components": comps,
                "min_cpa_m": _finite(min_cpa), "goal": info["goal"],
                "final_distance_to_goal_m": info["distance_to_goal_m"],
            }  # fmt: skip
            if render_mode == "rgb_array":
                from testbed.render import save_gif, save_png

                frames.append(env.render())
                fdir = out / f"episode_{ep:03d}_frames"
                fdir.mkdir(exist_ok=True)
                for k, f in enumerate(frames):
                    save_png(f, fdir / f"frame_{k:04d}.png")
                save_gif(frames, out / f"episode_{ep:03d}.gif", fps=10)
                record["gif"] = f"episode_{ep:03d}.gif"
            t_offset += info["time_s"] + 60.0
            _write_json(out / f"episode_{ep:03d}.json", record)
            summary["episodes"].append(record)
            n = len(summary["episodes"])
            summary["success_rate"] = sum(e["success"] for e in summary["episodes"]) / n
            _write_json(out / "summary.json", summary)
            print(f"episode {ep}: {record['outcome']:10} t={record['time_s']:7.1f} s  return={ret:9.2f}  "
                  f"min CPA={fmt_m(record['min_cpa_m'])}", flush=True)  # fmt: skip
    except KeyboardInterrupt:
        # Ctrl-C: keep what is finished, say so in summary.json, no traceback (exit status 130)
        summary["interrupted"] = True
        summary["interrupted_episode"] = {"episode": ep, "seed": args.seed + ep, "steps": steps, "return": ret}
        n = len(summary["episodes"])
        summary["success_rate"] = sum(e["success"] for e in summary["episodes"]) / n if n else None
        _write_json(out / "summary.json", summary)
        print(f"interrupted in episode {ep} after {steps} step(s); {n} finished episode(s) kept in "
              f"{out}/summary.json (marked \"interrupted\": true)", flush=True)
        return 130
    finally:
        env.close()
        if emitter is not None:
            emitter.close()
    print(f"success rate {summary['success_rate']:.0%} over {args.episodes} episode(s); wrote {out}/summary.json")
    return 0


def fmt_m(x: float | None, digits: int = 1) -> str:
    """A distance for people: ``115.0 m``, ``n/a`` for none."""
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f} m"
