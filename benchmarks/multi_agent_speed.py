"""Speed of the multi-agent env against the single env, in the same run (not a test).

    .venv/bin/python benchmarks/multi_agent_speed.py [--agents 4] [--traffic 20] [--envs 16]

PortEntry-v0 with ``--traffic`` scripted vessels. Reports agent-steps/s (one agent-step = one vessel
advanced one step with its own observation and reward) of

- the single env (``gymnasium.make``, one vessel): the baseline;
- the PettingZoo ``ParallelEnv`` with K = ``--agents`` vessels in one world (dict in, dicts out);
- the world alone with K egos (``World(cfg, 1, n_agents=K).step``) against the world with one ego;
- the SB3 adapter over ``--envs`` worlds of K agents (one batched world of envs x K slots),

each as a ratio to the single env. Zero rudder, half ahead; an episode that ends is reset.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--traffic", type=int, default=20)
    ap.add_argument("--envs", type=int, default=16)
    ap.add_argument("--scenario", default="PortEntry-v0")
    a = ap.parse_args(argv)

    import gymnasium as gym

    import testbed  # noqa: F401
    from testbed.config import apply_overrides
    from testbed.multi_agent import SB3MultiAgentVecEnv, parallel_env
    from testbed.scenarios import get
    from testbed.world import World

    K, sid = a.agents, a.scenario
    kw = {"traffic": {"count": a.traffic, "source": "scripted", "lanes": []}, "observation": {"targets": "truth"}}
    act1 = np.array([0.0, 0.5], np.float32)

    single = gym.make(f"testbed/{sid}", **kw)
    single.reset(seed=0)

    def single_step():
        _, _, te, tr, _ = single.step(act1)
        if te or tr:
            single.reset()

    par = parallel_env(sid, n_agents=K, **kw)
    par.reset(seed=0)

    def par_step():
        par.step({ag: act1 for ag in par.agents})
        if not par.agents:
            par.reset()

    cfg = apply_overrides(get(sid), kw)
    w1, wk = World(cfg, 1), World(cfg, 1, n_agents=K)
    w1.reset_env(0, seed=0)
    wk.reset_env(0, seed=0)
    a1, ak = np.tile(act1, (1, 1)), np.tile(act1, (K, 1))

    venv = SB3MultiAgentVecEnv(sid, n_agents=K, n_envs=a.envs, seed=0, **kw)
    venv.reset()
    av = np.tile(act1, (venv.num_envs, 1))

    def venv_step():
        venv.step_async(av)
        venv.step_wait()

    t_single = best_time(single_step)
    t_par = best_time(par_step)
    t_w1 = best_time(lambda: w1.step(a1))
    t_wk = best_time(lambda: wk.step(ak))
    t_venv = best_time(venv_step)
    base = 1.0 / t_single
    rows = [
        ("single env (gymnasium.make), 1 vessel", 1, t_single),
        (f"ParallelEnv, {K} vessels", K, t_par),
        ("World.step, 1 ego", 1, t_w1),
        (f"World.step, {K} egos in one env", K, t_wk),
        (f"SB3 adapter, {a.envs} envs x {K} vessels", venv.num_envs, t_venv),
    ]
    print(f"{sid}, {a.traffic} scripted traffic vessels per env")
    print(f"{'':44s} {'us/step':>10s} {'agent-steps/s':>14s} {'ratio':>7s}")
    for name, n, t in rows:
        print(f"{name:44s} {t * 1e6:10.1f} {n / t:14.0f} {n / t / base:7.2f}")
    print(f"world with {K} egos vs 1 ego: {t_wk / t_w1:.2f}x the step time for {K}x the vessels")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
