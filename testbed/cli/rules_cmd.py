"""``testbed rules``: the inland traffic rules (RheinSchPV): list, the encounter suite, check a run."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("rules", help="inland traffic rules (RheinSchPV): list, encounter suite, check traffic",
                       description="The rule checker of testbed.rules.")
    rsub = p.add_subparsers(dest="rules_command", metavar="RULES_COMMAND")
    rsub.required = True
    lp = rsub.add_parser("list", help="the rules the checker knows, with their articles")
    lp.set_defaults(func=_cmd_list)
    ep = rsub.add_parser("encounters", help="run the hand-built encounter suite; exit 1 if a case fails")
    ep.add_argument("names", nargs="*", help="cases to run (default: all)")
    ep.set_defaults(func=_cmd_encounters)
    zp = rsub.add_parser("zones", help="draw a map's rule zones to a PNG")
    zp.add_argument("--map", default="duisburg_ruhrort", help="shipped map name or .geojson path")
    zp.add_argument("--out", required=True, help="output PNG")
    zp.set_defaults(func=_cmd_zones)
    cp = rsub.add_parser("check", help="run episodes and count the rule violations of the traffic and the ego")
    cp.add_argument("scenario", help="registered id or YAML scenario (testbed list)")
    cp.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. traffic.count=20 traffic.source=scripted")
    cp.add_argument("--hours", type=float, default=2.0, help="simulated hours (default 2)")
    cp.add_argument("--seed", type=int, default=0)
    cp.add_argument("--agent", choices=["autopilot", "idle"], default="autopilot")
    cp.add_argument("--out", default=None, help="write the full result (with every traffic event) as JSON")
    cp.set_defaults(func=_cmd_check)
    ap = rsub.add_parser("check-ais", help="check a whole AIS recording (NMEA) against the rules, outside any episode",
                         description="Decode an AIS recording, interpolate every vessel on a fixed time grid and "
                                     "run the rule checker on it (see testbed/rules/ais_check.py).")
    ap.add_argument("file", help="AIS recording (NMEA, tag blocks or $PGHP times; .gz ok) or a shipped name "
                                 "(duisburg_synth_2h)")
    ap.add_argument("--map", default="duisburg_ruhrort", help="map name or .geojson (default duisburg_ruhrort)")
    ap.add_argument("--step", type=float, default=1.0, help="time grid step in seconds (default 1)")
    ap.add_argument("--from", dest="t_from", type=float, default=None,
                    help="start this many seconds after the first timed report")
    ap.add_argument("--to", dest="t_to", type=float, default=None,
                    help="stop this many seconds after the first timed report")
    ap.add_argument("--assume-rate", type=float, default=None, metavar="HZ",
                    help="for a file without receive times: take line i to arrive at i / HZ seconds")
    ap.add_argument("--events", type=int, default=10, help="print at most this many events (default 10)")
    ap.add_argument("--out", default=None, help="write the full result (counts and every event) as JSON")
    ap.set_defaults(func=_cmd_check_ais)


def _cmd_list(args) -> int:
    from testbed.rules import RULES

    for r in RULES:
        print(f"{r.id:6s} {r.article:26s} {r.title}")
    return 0


def _cmd_zones(args) -> int:
    from harbour_maps import load_map
    from testbed.rules.draw import draw_zones

    draw_zones(load_map(args.map), args.out)
    print(f"wrote {args.out}")
    return 0


def _cmd_encounters(args) -> int:
    from testbed.cli import CLIError
    from testbed.rules.encounters import ENCOUNTERS, run_encounter, verdict

    unknown = [n for n in args.names if n not in ENCOUNTERS]
    if unknown:
        raise CLIError(f"unknown encounter(s) {unknown}; known: {', '.join(ENCOUNTERS)}")
    bad = 0
    for name in args.names or list(ENCOUNTERS):
        enc = ENCOUNTERS[name]
        events = run_encounter(enc)
        problems = verdict(enc, events)
        bad += bool(problems)
        fired = ", ".join(f"§{e.rule} ({'/'.join(e.at_fault)}, t={e.time_s:.0f} s)" for e in events) or "none"
        print(f"{'FAIL' if problems else 'ok  '} {name:24s} fired: {fired}")
        for pr in problems:
            print(f"     {pr}")
    print(f"{len(args.names or ENCOUNTERS) - bad} passed, {bad} failed")
    return 1 if bad else 0


def _cmd_check(args) -> int:
    import json

    from atomicio import write_text
    from testbed.cli import CLIError
    from testbed.rules.report import check_run
    from testbed.scenarios import compose_scenario

    if not args.hours > 0:
        raise CLIError(f"--hours must be > 0, got {args.hours}")
    cfg = compose_scenario(args.scenario, args.overrides)

    def progress(ep, t):
        bad_t = sum(ep["traffic"].values())
        bad_e = sum(ep["ego"].values())
        print(f"episode {ep['episode']}: {ep['time_s']:.0f} s, {ep['outcome']}, traffic violations {bad_t}, "
              f"ego violations {bad_e} (total {t / 3600:.2f} h)", flush=True)

    res = check_run(cfg, args.hours, args.seed, args.agent, progress)
    print(f"{res['hours']:.2f} h of {cfg.name} with {cfg.traffic.count} {cfg.traffic.source} traffic vessels, "
          f"ego: {args.agent}")
    print(f"{'article':8s} {'traffic':>8s} {'ego':>5s}")
    for k in res["traffic_violations"]:
        print(f"{k:8s} {res['traffic_violations'][k]:8d} {res['ego_violations'][k]:5d}")
    print(f"{'total':8s} {sum(res['traffic_violations'].values()):8d} {sum(res['ego_violations'].values()):5d}")
    if args.out:
        write_text(args.out, json.dumps(res, indent=1))
        print(f"wrote {args.out}")
    return 0


def _cmd_check_ais(args) -> int:
    import json

    from atomicio import write_text
    from testbed.ais.replay import recording_path
    from testbed.cli import CLIError
    from testbed.rules.ais_check import check_recording, format_report

    if not args.step > 0:
        raise CLIError(f"--step must be > 0, got {args.step}")
    for name in ("t_from", "t_to"):
        v = getattr(args, name)
        if v is not None and not v >= 0:
            raise CLIError(f"--{name[2:]} must be >= 0 seconds, got {v}")
    if args.assume_rate is not None and not args.assume_rate > 0:
        raise CLIError(f"--assume-rate must be > 0 lines per second, got {args.assume_rate}")
    if args.t_from is not None and args.t_to is not None and args.t_to <= args.t_from:
        raise CLIError(f"--to ({args.t_to}) must be after --from ({args.t_from})")
    try:
        path = recording_path(args.file)
    except FileNotFoundError as exc:
        raise CLIError(str(exc)) from None
    res = check_recording(path, args.map, args.step, args.t_from, args.t_to, assume_rate_hz=args.assume_rate)
    print(format_report(res))
    events = [e for g in res["groups"].values() for e in g["events"]]
    events.sort(key=lambda e: e["time_s"])
    for e in events[: max(args.events, 0)]:
        print(f"  t+{e['time_s'] - res['first_report_t']:.0f} s  {e['article']}: {e['explanation']}")
    if len(events) > max(args.events, 0):
        print(f"  ... {len(events) - max(args.events, 0)} more (--events N, or --out FILE for all)")
    if args.out:
        write_text(args.out, json.dumps(res, indent=1))
        print(f"wrote {args.out}")
    return 0
