"""``testbed link``: radio link profiles and coverage maps."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("link", help="radio link: list profiles, draw coverage maps",
                       description="Ship-to-shore radio link model (TR 38.901 path loss, NR tables).")
    lsub = p.add_subparsers(dest="link_command", metavar="LINK_COMMAND")
    lsub.required = True

    lp = lsub.add_parser("profiles", help="list the shipped link profiles (testbed/conf/link)")
    lp.set_defaults(func=_cmd_profiles)

    cp = lsub.add_parser("coverage", help="draw a coverage heat map (SINR, throughput, latency) to a PNG")
    cp.add_argument("--map", default="duisburg_ruhrort", help="shipped map name or .geojson path")
    cp.add_argument("--profile", default="5g_sa", help="link profile name (testbed link profiles) or YAML path")
    cp.add_argument("--out", required=True, help="output PNG file")
    cp.add_argument("--metric", default="sinr", choices=["sinr", "throughput", "latency_p50", "latency_p95"])
    cp.add_argument("--seed", type=int, default=0, help="shadow-fading / LOS seed (default 0)")
    cp.add_argument("--seeds", type=int, default=1, help="average over this many seeds (default 1)")
    cp.add_argument("--resolution", type=float, default=20.0, help="raster resolution in metres (default 20)")
    cp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a profile key (YAML value), repeatable")
    cp.add_argument("--no-cache", action="store_true", help="neither read nor write the raster cache")
    cp.set_defaults(func=_cmd_coverage)


def _overrides(items):
    import yaml

    from testbed.cli import CLIError

    out = {}
    for it in items:
        if "=" not in it:
            raise CLIError(f"--set {it!r}: expected KEY=VALUE")
        k, v = it.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def _cmd_profiles(args) -> int:
    from testbed.link.profiles import list_profiles, load_profile

    for name in list_profiles():
        p = load_profile(name)
        print(f"{name:14s} {p.carrier:8s} {p.scenario:4s} {p.backhaul:6s} {p.description}")
    return 0


def _cmd_coverage(args) -> int:
    import time

    import numpy as np

    from harbour_maps import load_map
    from testbed.link.coverage import coverage, draw_coverage
    from testbed.link.profiles import load_profile

    hmap = load_map(args.map)
    prof = load_profile(args.profile, _overrides(args.set))
    t0 = time.perf_counter()
    cov = coverage(hmap, prof, seed=args.seed, resolution_m=args.resolution, n_seeds=args.seeds,
                   use_cache=not args.no_cache)
    a = cov.layer(args.metric)
    out = draw_coverage(hmap, cov, args.out, metric=args.metric)
    water = hmap.is_water(np.c_[_centres(cov)])
    v = a.ravel()[water]
    v = v[np.isfinite(v)]
    pct = np.percentile(v, [5, 50, 95]) if v.size else [float("nan")] * 3
    from testbed.link.coverage import METRICS

    unit = METRICS[args.metric][1].rsplit("[", 1)[-1].rstrip("]")  # "dB", "Mbit/s", "ms"
    print(f"{out}: {args.metric} of profile '{prof.name}' on {hmap.name} ({a.shape[1]}x{a.shape[0]} px, "
          f"{cov.resolution_m:g} m); on water p5/p50/p95 = {pct[0]:.1f}/{pct[1]:.1f}/{pct[2]:.1f} {unit} "
          f"[{time.perf_counter() - t0:.1f} s]")
    return 0


def _centres(cov):
    import numpy as np

    x0, x1, y0, y1 = cov.extent
    ny, nx = cov.sinr_db.shape
    X, Y = np.meshgrid(x0 + cov.resolution_m * (np.arange(nx) + 0.5), y0 + cov.resolution_m * (np.arange(ny) + 0.5))
    return X.ravel(), Y.ravel()
