"""Vessel-steps per second of the batched MMG and Nomoto models (a benchmark script, not a test).

    python benchmarks/vessel_speed.py [--json out.json]

For N = 1, 100 and 10,000 vessels (a mix of catalogue types, moving, with rudder and current), one
``step`` of dt = 0.5 s is timed; the baseline is a plain numpy pass over the same number of floats as
the state (8 N), measured in the same run. ``ratio`` = step time / baseline time.
Target (issue 2): MMG >= 2 M vessel-steps/s at N = 10,000.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import best_time, numpy_pass  # noqa: E402

from vessels import catalogue, mmg, nomoto  # noqa: E402
from vessels.state import VesselState  # noqa: E402

TYPES = ["M8", "M6", "M9", "C3L", "TANKER", "PAX", "TUG"]


def bench(model: str, n: int) -> dict:
    ids = [TYPES[i % len(TYPES)] for i in range(n)]
    if model == "mmg":
        batch, stepper = catalogue.mmg_batch(ids), mmg.step
    else:
        batch, stepper = catalogue.nomoto_batch(ids), nomoto.step
    rng = np.random.default_rng(1)
    s = VesselState.zeros(n)
    s.x[:] = rng.uniform(-500, 500, n)
    s.y[:] = rng.uniform(-500, 500, n)
    s.psi[:] = rng.uniform(-np.pi, np.pi, n)
    s.u[:] = rng.uniform(2.0, 4.0, n)
    s.n[:] = [catalogue.get(t).service_revs for t in ids]
    rudder = rng.uniform(-0.3, 0.3, n)
    revs = s.n.copy()
    cur = np.tile([0.3, 1.2], (n, 1))
    t_step = best_time(lambda: stepper(batch, s, rudder, revs, cur, 0.5))
    t_base = numpy_pass(8 * n)
    return {
        "model": model,
        "n": n,
        "step_s": t_step,
        "vessel_steps_per_s": n / t_step,
        "numpy_pass_s": t_base,
        "ratio_to_numpy_pass": t_step / t_base,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--sizes", default="1,100,10000")
    args = ap.parse_args(argv)
    rows = [bench(m, int(n)) for m in ("mmg", "nomoto") for n in args.sizes.split(",")]
    print(f"{'model':8} {'N':>7} {'step [ms]':>10} {'vessel-steps/s':>15} {'numpy pass [ms]':>16} {'ratio':>8}")
    for r in rows:
        print(
            f"{r['model']:8} {r['n']:>7} {r['step_s'] * 1e3:>10.3f} {r['vessel_steps_per_s']:>15,.0f} "
            f"{r['numpy_pass_s'] * 1e3:>16.4f} {r['ratio_to_numpy_pass']:>8.0f}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
