"""Environment speed (a benchmark script, not a test).

    python benchmarks/env_speed.py [--steps 20000] [--json out.json]

Baseline, measured in the same run: a trivial Gymnasium env with a 64-float observation through
``gymnasium.make`` (the Gymnasium overhead floor). Every figure is also given as a ratio to it.

1. single env ``testbed/PortEntry-v0`` through ``gymnasium.make``, 20 traffic vessels, 32 rays;
2. the native VectorEnv, N = 1024, with 20 and with 0 traffic vessels per env (env-steps/s, peak RSS);
3. where the time goes in one single-env step (world stages, timed separately).
4. 50 AIS-replayed vessels against 50 scripted ones (issue 4);
5. the 5G link on against off (issue 5; target: step time <= 1.2x).
Targets (issue 3): single env >= 20,000 steps/s; VectorEnv N = 1024 >= 500,000 env-steps/s.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import timeit

import gymnasium as gym
import numpy as np

import testbed  # noqa: F401


class Trivial(gym.Env):
    """64-float observation, new each step, from the env's generator: the Gymnasium overhead floor."""

    observation_space = gym.spaces.Box(0.0, 1.0, (64,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.np_random.random(64, dtype=np.float32), {}

    def step(self, action):
        return self.np_random.random(64, dtype=np.float32), 0.0, False, False, {}


def steps_per_s(env, n: int, action) -> float:
    """Steps per second of ``env.step`` alone (resets, which plan a route, are not timed)."""
    env.reset(seed=0)
    for _ in range(200):
        _, _, term, trunc, _ = env.step(action)
        if term or trunc:
            env.reset()
    spent = 0.0
    done = 0
    clock = time.perf_counter
    while done < n:
        t0 = clock()
        k = 0
        while k < 1000:
            _, _, term, trunc, _ = env.step(action)
            k += 1
            if term or trunc:
                break
        spent += clock() - t0
        done += k
        if term or trunc:
            env.reset()
    return done / spent


def vec_steps_per_s(n_envs: int, traffic: int, steps: int, **kw) -> float:
    venv = gym.make_vec("testbed/PortEntry-v0", num_envs=n_envs, vectorization_mode="vector_entry_point",
                        traffic={"count": traffic}, **kw)  # fmt: skip
    venv.reset(seed=0)
    a = np.tile([0.05, 0.6], (n_envs, 1)).astype(np.float32)
    for _ in range(5):
        venv.step(a)
    t0 = time.perf_counter()
    for _ in range(steps):
        venv.step(a)
    return steps * n_envs / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--vec-steps", type=int, default=60)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    gym.register("bench/Trivial-v0", entry_point=Trivial)
    a = np.array([0.05, 0.6], dtype=np.float32)
    base = steps_per_s(gym.make("bench/Trivial-v0"), args.steps, a)
    env = gym.make("testbed/PortEntry-v0", traffic={"count": 20}, observation={"n_rays": 32})
    single = steps_per_s(env, args.steps, a)
    w = env.unwrapped.world
    A = np.array([[0.05, 0.6]])
    n = 3000
    stages = {
        "world.step (all)": timeit.timeit(lambda: w.step(A), number=n) / n,
        "ego current + MMG step": timeit.timeit(
            lambda: (w._ego_step(w.ego_batch, w.ego, w._rud, w._rev, w.ego_cur, w.dt)), number=n) / n,
        "traffic control + Nomoto step (20)": timeit.timeit(
            lambda: w.traffic.step(w._mapk, w.ego, w.ego_len, w.ego_beam, w.ego_cur), number=n) / n,
        "perception (rays, targets, contacts, reward)": timeit.timeit(lambda: w._perceive(0, 1), number=n) / n,
        "info dict": timeit.timeit(lambda: w.info(0), number=n) / n,
    }
    # issue 4: 50 AIS-replayed vessels (the shipped synthetic recording, through the decoder path) against
    # 50 scripted ones, same scenario, same run
    scripted50 = steps_per_s(gym.make("testbed/PortEntry-v0", traffic={"count": 50, "source": "scripted"}),
                             args.steps // 2, a)  # fmt: skip
    ais50 = steps_per_s(gym.make("testbed/PortEntry-v0", traffic={"count": 50, "source": "ais", "reactive": True},
                                 observation={"targets": "ais"}), args.steps // 2, a)  # fmt: skip
    # issue 5: the 5G link on (5g_sa, onboard and remote) against off, same scenario, same run
    link_on = steps_per_s(gym.make("testbed/PortEntry-v0", traffic={"count": 20}, link={"profile": "5g_sa"}),
                          args.steps // 2, a)  # fmt: skip
    link_remote = steps_per_s(gym.make("testbed/PortEntry-v0", traffic={"count": 20},
                                       link={"profile": "5g_sa", "mode": "remote"}), args.steps // 2, a)  # fmt: skip
    vec_link = vec_steps_per_s(1024, 20, args.vec_steps, link={"profile": "5g_sa"})
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    vec20 = vec_steps_per_s(1024, 20, args.vec_steps)
    rss20 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    vec0 = vec_steps_per_s(1024, 0, args.vec_steps)
    rows = [
        ("trivial 64-float env, gymnasium.make (baseline)", base, 1.0),
        ("PortEntry-v0 single env, gymnasium.make, 20 traffic, 32 rays", single, single / base),
        ("PortEntry-v0 single env, 50 scripted vessels", scripted50, scripted50 / base),
        ("PortEntry-v0 single env, 50 AIS-replayed vessels, AIS perception", ais50, ais50 / base),
        ("VectorEnv N=1024, 20 traffic per env", vec20, vec20 / base),
        ("VectorEnv N=1024, no traffic", vec0, vec0 / base),
        ("PortEntry-v0 single env, 20 traffic, 5G link (5g_sa, onboard)", link_on, link_on / base),
        ("PortEntry-v0 single env, 20 traffic, 5G link (5g_sa, remote)", link_remote, link_remote / base),
        ("VectorEnv N=1024, 20 traffic, 5G link (5g_sa)", vec_link, vec_link / base),
    ]
    print(f"{'what':64} {'steps/s':>12} {'ratio to baseline':>18}")
    for name, v, r in rows:
        print(f"{name:64} {v:>12,.0f} {r:>18.2f}")
    print(f"AIS-replayed / scripted (50 vessels): {ais50 / scripted50:.2f}")
    print(f"step time with the link on / off: single env onboard {single / link_on:.2f}x, remote "
          f"{single / link_remote:.2f}x; VectorEnv N=1024 {vec20 / vec_link:.2f}x (target <= 1.2x)")
    print(f"peak RSS: {rss0 / 1024:.0f} MB before the N=1024 VectorEnv, {rss20 / 1024:.0f} MB with it")
    print("single-env step breakdown (us):")
    for k, v in stages.items():
        print(f"  {k:48} {v * 1e6:8.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": [{"what": n_, "steps_per_s": v, "ratio": r} for n_, v, r in rows],
                       "stages_us": {k: v * 1e6 for k, v in stages.items()},
                       "peak_rss_mb": rss20 / 1024}, fh, indent=2)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
