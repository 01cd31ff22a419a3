"""Replay benchmarks (issue 9 section 5): recording overhead, file size, open and scrub times.

    .venv/bin/python benchmarks/replay_speed.py [--quick]

1. ``gymnasium.make("testbed/PortEntry-v0", traffic={"count": 20})``: seconds per step with
   ``record=DIR/`` against the same env without, same actions and seeds, in interleaved blocks of the
   same run (median over blocks; target ratio <= 1.15). Reported three ways: CPU time of the stepping
   thread (the hot path: one capture per step, the rows handed to the writer thread at each episode
   end), CPU time of the process (plus the writer thread: what recording costs in total) and wall clock
   (each recording block also waits for its files; depends on the machine's load).
2. The same for ``DuisburgVectorEnv`` (16 envs) wrapped in ``testbed.replay.Recorder``.
3. A one-hour episode with 50 traffic vessels (PortEntry-v0 with 50 scripted vessels, AIS perception,
   the 5G link; 3600 steps of dt = 1 s, recorded by ``WorldRecorder``): file size, time to write it,
   time to open it (``ReplayReader``: header, events and the time column), and the time to scrub to a
   random time and read the whole frame there with a cold cache (targets: a few MB, < 1 s, < 50 ms).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _blocks(step_off, step_on, flush, blocks: int, block: int) -> dict[str, float]:
    """Interleave blocks of ``block`` steps of the plain and the recording face; median seconds per step
    of each, three ways: ``*_wall`` (wall clock; the recording blocks wait for the writer thread at their
    end), ``*_thread`` (CPU time of the stepping thread: the hot path, immune to other processes' load)
    and ``*_cpu`` (CPU time of the whole process: stepping plus the writer thread)."""
    rows = {k: [] for k in ("off_wall", "off_thread", "off_cpu", "on_wall", "on_thread", "on_cpu")}
    clocks = (time.perf_counter, time.thread_time, time.process_time)
    for _ in range(blocks):
        for face, run in (("off", step_off), ("on", step_on)):
            t0 = [c() for c in clocks]
            run(block)
            th = time.thread_time() - t0[1]
            if face == "on":
                flush()
            t1 = [c() for c in clocks]
            rows[f"{face}_wall"].append((t1[0] - t0[0]) / block)
            rows[f"{face}_thread"].append(th / block)
            rows[f"{face}_cpu"].append((t1[2] - t0[2]) / block)
    return {k: float(np.median(v)) for k, v in rows.items()}


def _report(label: str, r: dict, unit: str) -> str:
    return (f"{label}\n"
            f"    stepping thread CPU: {r['off_thread'] * 1e6:7.1f} -> {r['on_thread'] * 1e6:7.1f} us/{unit}, ratio "
            f"{r['on_thread'] / r['off_thread']:.3f}  (the hot path; target <= 1.15)\n"
            f"    process CPU (+ writer thread): {r['off_cpu'] * 1e6:7.1f} -> {r['on_cpu'] * 1e6:7.1f} us/{unit}, "
            f"ratio {r['on_cpu'] / r['off_cpu']:.3f}\n"
            f"    wall clock (load-dependent): {r['off_wall'] * 1e6:7.1f} -> {r['on_wall'] * 1e6:7.1f} us/{unit}, "
            f"ratio {r['on_wall'] / r['off_wall']:.3f}")  # fmt: skip


def env_overhead(blocks: int, block: int, record_dir: str) -> tuple[dict, int]:
    """Single env through gymnasium.make, random actions (episodes end by grounding or collision)."""
    import gymnasium as gym

    import testbed  # noqa: F401
    from testbed.replay import flush

    rng = np.random.default_rng(0)
    acts = rng.uniform(-0.3, 1.0, (4096, 2)).astype(np.float32)
    envs = [gym.make("testbed/PortEntry-v0", traffic={"count": 20}, **kw) for kw in ({}, {"record": record_dir + "/"})]
    state = []
    for env in envs:
        env.reset(seed=0)
        for k in range(50):  # warm up (numba, caches)
            env.step(acts[k])
        env.reset(seed=0)
        state.append([env, 0])

    def stepper(s):
        def run(n):
            env, k = s
            for _ in range(n):
                _, _, term, trunc, _ = env.step(acts[k % 4096])
                k += 1
                if term or trunc:
                    env.reset()
            s[1] = k
        return run

    res = _blocks(stepper(state[0]), stepper(state[1]), flush, blocks, block)
    finished = len(os.listdir(record_dir))  # before close() adds the unfinished episode
    for env in envs:
        env.close()
    return res, finished


def vec_overhead(blocks: int, block: int, record_dir: str, n_envs: int = 16) -> tuple[dict, int]:
    """DuisburgVectorEnv with and without the Recorder; seconds per env-step."""
    from testbed.replay import Recorder, flush
    from testbed.vector_env import DuisburgVectorEnv

    rng = np.random.default_rng(0)
    acts = rng.uniform(-0.3, 1.0, (512, n_envs, 2))
    venvs = [DuisburgVectorEnv(n_envs, "PortEntry-v0", traffic={"count": 20}),
             Recorder(DuisburgVectorEnv(n_envs, "PortEntry-v0", traffic={"count": 20}), record_dir)]
    state = []
    for v in venvs:
        v.reset(seed=0)
        for k in range(20):
            v.step(acts[k])
        state.append([v, 0])

    def stepper(s):
        def run(n):
            v, k = s
            for _ in range(n):
                v.step(acts[k % 512])
                k += 1
            s[1] = k
        return run

    res = _blocks(stepper(state[0]), stepper(state[1]), flush, blocks, block)
    finished = len(os.listdir(record_dir))  # before close() adds the unfinished episodes
    for v in venvs:
        v.close()
    return {k: x / n_envs for k, x in res.items()}, finished


def hour_replay(path: Path, n_traffic: int = 50, seconds: int = 3600) -> tuple[float, dict]:
    """Record one simulated hour with ``n_traffic`` vessels into ``path``; returns (seconds to simulate and
    record, {n frames: CPU seconds to build and write the first n frames as a file})."""
    from testbed.env import resolve_config
    from testbed.replay.recorder import WorldRecorder, write_episode
    from testbed.world import World

    cfg = resolve_config("PortEntry-v0", kwargs={"traffic": {"count": n_traffic, "source": "scripted"},
                                                 "time_limit_s": float(seconds + 10), "link": {"profile": "5g_sa"},
                                                 "observation": {"targets": "ais"}})  # fmt: skip
    world = World(cfg, 1)
    world.reset_env(0, seed=1)
    out = {}
    rec = WorldRecorder(world, lambda e, h, c, ev: out.update(h=h, c=c, ev=ev), agent="benchmark")
    rec.begin(0)
    rec.capture(np.nan)
    rng = np.random.default_rng(0)
    a = np.zeros((1, 2))
    t0 = time.perf_counter()
    for k in range(seconds):
        a[0] = (0.3 * np.sin(k / 60.0) + 0.05 * rng.standard_normal(), 0.4)
        world.step(a)
        rec.capture(a)
    t_sim = time.perf_counter() - t0
    rows, meta = rec._rows(0), rec.meta[0]
    cost = {}
    for n in (100, 1000, seconds + 1):  # CPU seconds to build and write an episode of n frames
        t0 = time.process_time()
        write_episode(path, *rec._build(0, rows[:n], meta, "time_limit"))
        cost[n] = time.process_time() - t0
    rec.end(0, "time_limit")
    return t_sim, cost


def open_and_scrub(path: Path, n: int = 50) -> tuple[float, float, float, float]:
    """(best open s, mean and worst cold scrub-and-read-frame s, warm scrub s)."""
    from testbed.replay import ReplayReader

    opens = []
    for _ in range(5):
        t0 = time.perf_counter()
        r = ReplayReader(path)
        opens.append(time.perf_counter() - t0)
        r.close()
    rng = np.random.default_rng(0)
    cold = []
    with ReplayReader(path) as r:
        t_end = float(r.times[-1])
    for t in rng.uniform(0, t_end, n):
        with ReplayReader(path) as r:
            t0 = time.perf_counter()
            r.frame(r.step_at_time(t))
            cold.append(time.perf_counter() - t0)
    with ReplayReader(path) as r:
        ts = rng.uniform(0, t_end, n)
        for t in ts:
            r.frame(r.step_at_time(t))
        t0 = time.perf_counter()
        for t in ts:
            r.frame(r.step_at_time(t))
        warm = (time.perf_counter() - t0) / n
    return min(opens), float(np.mean(cold)), max(cold), warm


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and rounds")
    args = ap.parse_args(argv)
    blocks = 5 if args.quick else 15
    print("# replay benchmarks (ratios against the same run)")
    with tempfile.TemporaryDirectory() as d:
        r, files = env_overhead(blocks, 300, d)
    print(_report(f"PortEntry-v0, 20 traffic vessels, gymnasium.make, record=DIR/ vs none, random actions "
                  f"({files} finished episodes written while measuring):", r, "step"))  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        r, files = vec_overhead(blocks, 30, d)
    print(_report(f"DuisburgVectorEnv(16), 20 traffic vessels, Recorder vs none, random actions ({files} "
                  f"finished episodes written while measuring):", r, "env-step"))  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "hour.replay"
        t_sim, cost = hour_replay(p)
        n_big = max(cost)
        slope = (cost[n_big] - cost[100]) / (n_big - 100)
        t_write = cost[n_big]
        size = p.stat().st_size
        from testbed.replay import ReplayReader

        with ReplayReader(p) as r:
            n, T = r.n_frames, r.column("traffic/x", 0, 1).shape[1]
            raw = sum(int(np.prod(c["shape"])) * np.dtype(c["dtype"]).itemsize for c in r.columns.values())
        t_open, scrub_mean, scrub_max, warm = open_and_scrub(p)
    print(f"one hour, {T} vessels ({n} frames, {len(r.columns)} columns): file {size / 1e6:.2f} MB "
          f"({raw / size:.1f}x smaller than the raw arrays, {raw / 1e6:.1f} MB); simulate+record {t_sim:.2f} s, "
          f"write {t_write:.2f} s")  # fmt: skip
    print(f"  writer cost (CPU, build columns and events, compress, write): {(cost[100] - 100 * slope) * 1e3:.1f} ms "
          f"per file + {slope * 1e6:.1f} us per frame of {T} vessels")  # fmt: skip
    print(f"  open {t_open * 1e3:.1f} ms (target < 1000 ms); scrub to a random time and read the whole frame, "
          f"cold: mean {scrub_mean * 1e3:.1f} ms, worst {scrub_max * 1e3:.1f} ms (target < 50 ms); warm "
          f"{warm * 1e3:.2f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
