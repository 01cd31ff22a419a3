"""Cost of the rule checker: world step time with the rules on vs off, in the same run (not a test).

    .venv/bin/python benchmarks/rules_speed.py [--envs 1 64] [--traffic 20]

For each batch size E it builds the PortEntry-v0 world with scripted traffic twice (``rules.enabled``
true / false), steps both with the same actions and reports µs per step and the ratio on/off (this
includes the traffic's rule-following), and the checker alone (gather + check) as a ratio to the off step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time  # noqa: E402


def world(E: int, traffic: int, rules: bool):
    from testbed.config import apply_overrides
    from testbed.scenarios import get
    from testbed.world import World

    cfg = apply_overrides(get("PortEntry-v0"), {"traffic": {"count": traffic, "source": "scripted", "lanes": []},
                                                "rules": {"enabled": rules}, "time_limit_s": 1e9})
    w = World(cfg, E)
    for e in range(E):
        w.reset_env(e, seed=e)
    return w


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--traffic", type=int, default=20)
    a = ap.parse_args(argv)
    print(f"PortEntry-v0, {a.traffic} scripted traffic vessels per env")
    print(f"{'E':>5s} {'off µs/step':>12s} {'on µs/step':>12s} {'ratio on/off':>13s} {'checker µs':>11s} "
          f"{'checker/off':>12s} {'checker µs/vessel':>18s}")
    for E in a.envs:
        act = np.tile([0.0, 0.4], (E, 1))
        w_off, w_on = world(E, a.traffic, False), world(E, a.traffic, True)
        t_off = best_time(lambda w=w_off, act=act: w.step(act))
        t_on = best_time(lambda w=w_on, act=act: w.step(act))
        rc = w_on.rules

        def checker(w=w_on, rc=rc):
            rc.gather(w.ego, w.ego_cur, w.ego_len, w.ego_beam, w.traffic)
            rc.check(w.t)

        t_chk = best_time(checker)
        n = E * (a.traffic + 1)
        print(f"{E:5d} {t_off * 1e6:12.1f} {t_on * 1e6:12.1f} {t_on / t_off:13.3f} {t_chk * 1e6:11.1f} "
              f"{t_chk / t_off:12.3f} {t_chk * 1e6 / n:18.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
