"""Training throughput: PPO on a testbed scenario against PPO on a trivial 64-float env, in the same run.

    python benchmarks/train_speed.py [--scenario PortEntry-v1] [--steps 65536] [--n-envs 16] [--repeat 3]

Both use the same PPO config (testbed/conf/algo/ppo.yaml: 16 envs x 256 steps, batch 512, 5 epochs,
64x64 MLP), one torch thread, no normalisation. The trivial env is a batched SB3 VecEnv whose step is
a few numpy operations on a (N, 64) array, so its PPO speed is the ceiling set by SB3 and torch. The
env's share of the training time is measured directly (time inside ``step_wait``, resets included) and
also estimated as ``1 - trivial_time / testbed_time``. Each share is given on the wall clock and on the
process's CPU clock (``time.thread_time``: one torch thread, so the training is one thread; on a shared
machine the CPU clock leaves out the time other processes take the core). The pair of runs is repeated
``--repeat`` times (trivial and testbed alternating) and the medians are reported with every run.
Before timing, a separate instance of the scenario steps a few times so that the compiled kernels are
loaded from numba's cache (a one-off cost of the first env in a process, reported as ``warmup_s``).
Measures this checkout's ``testbed`` (not an installed one). Prints one JSON object.
To compare two versions, run it from each checkout in turn (alternating, on an idle machine) and take the
ratio of the medians; README.md (Training, Throughput) gives the figures of such runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's testbed, not an installed one


def trivial_vec_env(n_envs: int, dim: int = 64, horizon: int = 500):
    from gymnasium import spaces
    from stable_baselines3.common.vec_env.base_vec_env import VecEnv

    class Trivial(VecEnv):
        """obs: 64 floats drifting with the action; reward: -|x|; episodes of ``horizon`` steps."""

        def __init__(self) -> None:
            super().__init__(n_envs, spaces.Box(-10, 10, (dim,), np.float32), spaces.Box(-1, 1, (2,), np.float32))
            self.rng = np.random.default_rng(0)
            self.x = np.zeros((n_envs, dim), np.float32)
            self.t = np.zeros(n_envs, np.int64)

        def reset(self):
            self.x[:] = self.rng.normal(size=self.x.shape)
            self.t[:] = 0
            return self.x.copy()

        def step_async(self, actions):
            self._a = np.asarray(actions, np.float32)

        def step_wait(self):
            self.x[:, :2] += 0.1 * self._a
            self.x *= 0.99
            self.t += 1
            rew = -np.abs(self.x[:, :2]).sum(1).astype(np.float32)
            done = self.t >= horizon
            infos = [{} for _ in range(n_envs)]
            for e in np.flatnonzero(done):
                infos[e] = {"terminal_observation": self.x[e].copy(), "TimeLimit.truncated": True}
                self.x[e] = self.rng.normal(size=dim)
                self.t[e] = 0
            return self.x.copy(), rew, done, infos

        def close(self):
            pass

        def get_attr(self, name, indices=None):
            return [None] * n_envs

        def set_attr(self, name, value, indices=None):
            pass

        def env_method(self, name, *args, indices=None, **kw):
            return [None] * n_envs

        def env_is_wrapped(self, cls, indices=None):
            return [False] * n_envs

    return Trivial()


class Timed:
    """Wraps a VecEnv and accumulates the wall and CPU time spent in step_wait."""

    def __init__(self, venv) -> None:
        self.venv, self.t, self.cpu = venv, 0.0, 0.0
        orig = venv.step_wait

        def step_wait():
            t0, c0 = time.perf_counter(), time.thread_time()
            out = orig()
            self.cpu += time.thread_time() - c0
            self.t += time.perf_counter() - t0
            return out

        venv.step_wait = step_wait


def run_ppo(venv, steps: int) -> dict:
    import torch
    from omegaconf import OmegaConf
    from stable_baselines3 import PPO

    from testbed.cli.train_cmd import conf_dir

    algo = OmegaConf.to_container(OmegaConf.load(f"{conf_dir()}/algo/ppo.yaml"))
    timed = Timed(venv)
    model = PPO("MlpPolicy", venv, seed=0, device="cpu", verbose=0,
                policy_kwargs={"net_arch": algo["net_arch"], "activation_fn": torch.nn.Tanh}, **algo["kwargs"])  # fmt: skip
    t0, c0 = time.perf_counter(), time.thread_time()
    model.learn(steps)
    cpu = time.thread_time() - c0
    wall = time.perf_counter() - t0
    return {"steps": int(model.num_timesteps), "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "steps_per_s": round(model.num_timesteps / wall, 1), "steps_per_cpu_s": round(model.num_timesteps / cpu, 1),
            "env_step_s": round(timed.t, 3), "env_step_cpu_s": round(timed.cpu, 3),
            "env_share": round(timed.t / wall, 3), "env_share_cpu": round(timed.cpu / cpu, 3)}  # fmt: skip


def warm_up(scenario: str, n_envs: int) -> float:
    """Step a throwaway instance of the scenario (and reset one env) so the compiled kernels are loaded."""
    from testbed.vector_env import SB3VecEnv

    t0 = time.perf_counter()
    env = SB3VecEnv(scenario, num_envs=n_envs, seed=12345)
    env.reset()
    for _ in range(3):
        env.step_async(np.zeros((n_envs, 2), dtype=np.float32))
        env.step_wait()
    env.venv.world.reset_env(0)
    env.close()
    return time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="PortEntry-v1")
    ap.add_argument("--steps", type=int, default=65536)
    ap.add_argument("--n-envs", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3, help="pairs of runs (medians are reported)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from testbed.vector_env import SB3VecEnv

    warm = warm_up(args.scenario, args.n_envs)
    runs = []
    for _ in range(max(1, args.repeat)):
        base = run_ppo(trivial_vec_env(args.n_envs), args.steps)
        ours = run_ppo(SB3VecEnv(args.scenario, num_envs=args.n_envs, seed=0), args.steps)
        runs.append({
            "trivial_64_float_env": base, "testbed": ours,
            "speed_ratio_testbed_to_trivial": round(ours["steps_per_s"] / base["steps_per_s"], 3),
            "speed_ratio_cpu": round(ours["steps_per_cpu_s"] / base["steps_per_cpu_s"], 3),
            "env_share_measured": ours["env_share"], "env_share_measured_cpu": ours["env_share_cpu"],
            "env_share_estimated": round(1 - base["wall_s"] / ours["wall_s"], 3),
            "env_share_estimated_cpu": round(1 - base["cpu_s"] / ours["cpu_s"], 3),
        })  # fmt: skip
    keys = ["speed_ratio_testbed_to_trivial", "speed_ratio_cpu", "env_share_measured", "env_share_measured_cpu",
            "env_share_estimated", "env_share_estimated_cpu"]  # fmt: skip
    print(json.dumps({
        "scenario": args.scenario, "n_envs": args.n_envs, "torch_threads": 1, "steps": args.steps,
        "repeat": len(runs), "warmup_s": round(warm, 2),
        "median": {k: round(statistics.median(r[k] for r in runs), 3) for k in keys},
        "goal": "env_share_measured_cpu < 0.15",
        "runs": runs,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
