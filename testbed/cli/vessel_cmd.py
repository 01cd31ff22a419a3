"""``testbed vessel``: list the vessel catalogue and run standard manoeuvres.

    testbed vessel list
    testbed vessel manoeuvre TYPE (--turning DEG | --zigzag A/B | --stopping)
                             [--side port|starboard] [--model mmg|nomoto] [--out DIR] [--json]
                             [--speed 3.9 | 7.6kn] [--revs 4.2 | 250rpm] [--rudder-rate DEG/S] [--dt S]

``manoeuvre`` prints the metrics (or the JSON with ``--json``) and writes
``DIR/<type>_<manoeuvre>.png`` and ``.json`` (DIR defaults to the current directory). The approach
condition defaults to the type's service speed with its self-propulsion revs and the type's steering
gear rate; ``--speed``, ``--revs`` and ``--rudder-rate`` set a published free-running test condition
(e.g. the KVLCC2 model: ``--speed 1.179 --revs 10.4 --rudder-rate 15.8``).
"""

from __future__ import annotations

import re
from pathlib import Path


def parse_zigzag(text: str) -> tuple[float, float]:
    """'20/20' -> (20.0, 20.0); ValueError naming the value otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*", text or "")
    if not m:
        raise ValueError(f"bad zig-zag spec {text!r}: expected RUDDER/HEADING in degrees, e.g. 20/20")
    a, b = float(m.group(1)), float(m.group(2))
    if not (0 < a <= 90 and 0 < b <= 90):
        raise ValueError(f"bad zig-zag spec {text!r}: both angles must be in (0, 90] degrees")
    return a, b


def parse_quantity(text: str, what: str, units: dict[str, float]) -> float:
    """'2.5' (SI) or '2.5kn' / '250rpm' -> a float in SI units; ValueError naming the value otherwise."""
    m = re.fullmatch(r"\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*([A-Za-z/]*)\s*", text or "")
    if not m or m.group(2).lower() not in units:
        raise ValueError(f"bad {what} {text!r}: expected a number with an optional unit "
                         f"({', '.join(u for u in units if u)}), e.g. 2.5{next(u for u in units if u)}")
    val = float(m.group(1)) * units[m.group(2).lower()]
    if not val > 0:
        raise ValueError(f"bad {what} {text!r}: must be > 0")
    return val


SPEED_UNITS = {"": 1.0, "m/s": 1.0, "ms": 1.0, "kn": 1852.0 / 3600.0, "kt": 1852.0 / 3600.0, "km/h": 1 / 3.6}
REVS_UNITS = {"": 1.0, "rps": 1.0, "rpm": 1 / 60.0, "hz": 1.0}


def _list(args) -> int:
    from vessels import catalogue

    print(f"{'id':10s} {'L [m]':>7s} {'B [m]':>6s} {'T [m]':>6s} {'v_s [m/s]':>9s} {'n_s [rps]':>9s}  name")
    for tid in catalogue.list_types():
        vt = catalogue.get(tid)
        print(f"{tid:10s} {vt.L_pp:7.1f} {vt.B:6.2f} {vt.T:6.2f} {vt.service_speed:9.2f} "
              f"{vt.service_revs:9.2f}  {vt.name}")  # fmt: skip
    return 0


def _manoeuvre(args) -> int:
    from vessels import catalogue, manoeuvres

    vt = catalogue.get(args.type)
    cond = {"model": args.model, "dt": args.dt,
            "speed": None if args.speed is None else parse_quantity(args.speed, "--speed", SPEED_UNITS),
            "revs": None if args.revs is None else parse_quantity(args.revs, "--revs", REVS_UNITS)}  # fmt: skip
    if args.dt is not None and not args.dt > 0:
        raise ValueError(f"--dt must be > 0 s, got {args.dt!r}")
    if args.rudder_rate is not None and not args.rudder_rate > 0:
        raise ValueError(f"--rudder-rate must be > 0 deg/s, got {args.rudder_rate!r}")
    if args.turning is not None:
        res = manoeuvres.turning_circle(vt, args.turning, args.side, rudder_rate_deg=args.rudder_rate, **cond)
        tag = f"turning{args.turning:g}"
    elif args.zigzag is not None:
        a, b = parse_zigzag(args.zigzag)
        res = manoeuvres.zigzag(vt, a, b, args.side, rudder_rate_deg=args.rudder_rate, **cond)
        tag = f"zigzag{a:g}-{b:g}"
    else:
        if args.rudder_rate is not None:
            raise ValueError("--rudder-rate does not apply to --stopping (the rudder stays amidships)")
        res = manoeuvres.crash_stop(vt, **cond)
        tag = "stopping"
    out = Path(args.out)
    stem = f"{vt.id}_{tag}"
    manoeuvres.write_atomic(out / f"{stem}.json", res.to_json(indent=1))
    res.plot_png(out / f"{stem}.png")
    if args.json:
        print(res.to_json())
    else:
        print(res.report())
        print(f"wrote {out / (stem + '.png')} and {out / (stem + '.json')}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("vessel", help="vessel catalogue and standard manoeuvres")
    vsub = p.add_subparsers(dest="vessel_command", metavar="SUBCOMMAND")
    vsub.required = True
    pl = vsub.add_parser("list", help="list the vessel types")
    pl.set_defaults(func=_list)
    pm = vsub.add_parser("manoeuvre", help="run a turning circle, zig-zag or crash stop")
    pm.add_argument("type", help="vessel type id (see `testbed vessel list`)")
    g = pm.add_mutually_exclusive_group(required=True)
    g.add_argument("--turning", type=float, metavar="DEG", help="turning circle with this rudder angle")
    g.add_argument("--zigzag", metavar="A/B", help="zig-zag, rudder A deg / heading B deg, e.g. 20/20")
    g.add_argument("--stopping", action="store_true", help="crash stop, full ahead to full astern")
    pm.add_argument("--side", choices=("port", "starboard"), default="starboard")
    pm.add_argument("--model", choices=("mmg", "nomoto"), default="mmg")
    pm.add_argument("--speed", metavar="SPEED", help="approach speed: m/s, or with a unit: 7.6kn, 14km/h "
                    "(default: the type's service speed)")
    pm.add_argument("--revs", metavar="REVS", help="propeller revolutions during the test: rev/s, or 250rpm "
                    "(default: self-propulsion revs at the approach speed)")
    pm.add_argument("--rudder-rate", type=float, metavar="DEG/S", help="steering gear rate in deg/s "
                    "(default: the type's, see the JSON settings)")
    pm.add_argument("--dt", type=float, metavar="S", help="integration step in s (default: min(0.5, 0.02 L/U))")
    pm.add_argument("--out", default=".", metavar="DIR", help="output folder (default: .)")
    pm.add_argument("--json", action="store_true", help="print the result as JSON")
    pm.set_defaults(func=_manoeuvre)
