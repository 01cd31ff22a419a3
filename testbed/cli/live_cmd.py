"""``testbed live SCENARIO --ais udp://HOST:PORT``: shadow mode among the vessels of a live AIS feed.

    testbed live PortEntry-v0 --ais udp://127.0.0.1:10110 --agent autopilot [--duration 600] [--speed 1]
                              [--emit udp://127.0.0.1:10111] [--out out/live]

The ego runs in real time (``--speed`` x real time) in the scenario's map; the traffic slots are filled
with the live vessels inside the map (nearest first, dead-reckoned from their last report, through the
same AIS decoder as recorded files). The live vessels do not react to the ego (shadow mode); the ego
and its autopilot do. ``--emit`` sends the ego and the vessels it sees back out as AIS, so an ECDIS
shows the ego among the real traffic. Writes ``summary.json`` (atomically) at the end; Ctrl-C stops
cleanly (exit status 130) and the summary says ``"interrupted": true``.
"""

from __future__ import annotations

import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("live", help="run the ego in real time among the vessels of a live AIS feed (shadow mode)",
                       description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("scenario")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. traffic.count=10")
    p.add_argument("--ais", required=True, help="live source: udp://HOST:PORT or tcp://HOST:PORT")
    p.add_argument("--agent", choices=["autopilot", "random"], default="autopilot")
    p.add_argument("--duration", type=float, default=600.0, help="simulated seconds to run")
    p.add_argument("--speed", type=float, default=1.0, help="simulation speed as a multiple of real time")
    p.add_argument("--emit", default=None, help="send the ego and the traffic as AIS: udp://HOST:PORT or a file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/live")
    p.set_defaults(func=run)


def run(args) -> int:
    from testbed.ais.emit import AISEmitter
    from testbed.ais.world_io import LiveFeed, apply_live_traffic, world_vessels
    from testbed.cli import CLIError
    from testbed.cli.run_cmd import _write_json
    from testbed.env import DuisburgEnv
    from testbed.scenarios import compose_scenario

    if args.speed <= 0 or args.duration <= 0:
        raise CLIError("--speed and --duration must be > 0")
    cfg = compose_scenario(args.scenario, list(args.overrides) + ["traffic.source=scripted"])
    if cfg.traffic.count < 1:
        raise CLIError("the scenario needs traffic.count >= 1 slots for the live vessels")
    env = DuisburgEnv(cfg)
    world = env.world
    feed = LiveFeed(args.ais).start()
    if feed.error is not None:
        raise CLIError(f"cannot open the live feed {args.ais}: {feed.error}")
    emitter = AISEmitter(args.emit) if args.emit else None
    if args.agent == "autopilot":
        from agents.autopilot import Autopilot

        policy = Autopilot(n_rays=cfg.observation.n_rays, n_targets=cfg.observation.n_targets)
    else:
        policy = None
        env.action_space.seed(args.seed)
    obs, info = env.reset(seed=args.seed)
    apply_live_traffic(world, feed)
    world._perceive(0, 1)
    obs = world.obs[0].copy()
    seen: set[int] = set()
    t0 = time.monotonic()
    steps, shown_max, interrupted, term, trunc = 0, 0, False, False, False
    print(f"live: {cfg.name} among the vessels of {args.ais} at {args.speed:g}x real time for "
          f"{args.duration:.0f} s (Ctrl-C stops and writes the summary)", flush=True)
    try:
        while world.t[0] < args.duration:
            action = policy.act(obs) if policy is not None else env.action_space.sample()
            obs, r, term, trunc, info = env.step(action)
            shown = apply_live_traffic(world, feed)
            shown_max = max(shown_max, shown)
            seen.update(int(m) for m, a in zip(world.traffic.live_mmsi, world.traffic.active, strict=True) if a)
            world._perceive(0, 1)  # the ego's picture with the live positions of this instant
            obs = world.obs[0].copy()
            if emitter is not None:
                emitter.emit(float(world.t[0]), world_vessels(world))
            steps += 1
            if term or trunc:
                break
            wait = t0 + world.t[0] / args.speed - time.monotonic()
            if wait > 0:
                time.sleep(wait)
    except KeyboardInterrupt:  # Ctrl-C: stop cleanly, the summary says so
        interrupted = True
    finally:
        feed.stop()
        if emitter is not None:
            emitter.close()
    report = feed.ingestor.report
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"scenario": cfg.name, "source": args.ais, "steps": steps, "time_s": float(world.t[0]),
               "outcome": info["outcome"] if term or trunc else ("interrupted" if interrupted else info["outcome"]),
               "interrupted": interrupted, "live_vessels_seen": sorted(seen), "max_shown": shown_max,
               "ais_lines_read": report.lines_read, "ais_rejected": dict(report.rejected)}  # fmt: skip
    _write_json(out / "summary.json", summary)
    rejected = sum(summary["ais_rejected"].values())
    print(f"{'interrupted' if interrupted else 'done'}: {summary['outcome']} after t={summary['time_s']:.1f} s "
          f"({steps} steps); {len(seen)} live vessels seen, at most {shown_max} at once; "
          f"AIS lines read {report.lines_read}, rejected {rejected}; wrote {out}/summary.json", flush=True)
    env.close()
    return 130 if interrupted else 0
