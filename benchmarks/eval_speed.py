"""Evaluation throughput (a benchmark script, not a test).

    python benchmarks/eval_speed.py [--cases head_on,overtaking,berthing] [--rounds 2] [--no-ray] [--json out.json]

Baseline, measured in the same run: the autopilot **in process** (the built-in ``autopilot``, trusted)
through the evaluator itself (``evaluate``, local backend, 1 worker, no replays), in episode-steps/s.

1. the same autopilot as a submission (the ``testbed submission new`` template) in its own **sandboxed
   process** (bubblewrap, msgpack frames over pipes, a fresh process per episode, launched while the
   previous episode runs), in episode-steps/s and as a ratio to the baseline (goal: >= 0.5); and the
   start of one sandboxed process (bwrap + imports + make_policy) alone;
2. ``--backend ray`` with 2 workers against 1 worker on the same episodes (speed-up; a local Ray on
   this machine's cores, so at most the number of free cores), after one untimed round that starts the
   Ray workers and their sandboxes.
Rounds alternate between the variants so that load changes on a shared machine hit both alike; the
best round of each is reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

from testbed.evaluation.evaluator import evaluate  # noqa: E402
from testbed.evaluation.sandbox import DEFAULT_LIMITS, PolicyProcess  # noqa: E402
from testbed.evaluation.store import Store  # noqa: E402
from testbed.evaluation.submission import write_template  # noqa: E402
from testbed.evaluation.suite import get_suite  # noqa: E402


def _evaluate(sub, suite, tmp: Path, tag: str) -> tuple[int, float]:
    """Episode steps and wall seconds of one ``evaluate`` run (local backend, 1 worker, no replays)."""
    with Store(tmp / f"{tag}_{time.monotonic_ns()}.db") as store:
        t0 = time.perf_counter()
        s = evaluate(sub, suite, store, record=False)
        dt = time.perf_counter() - t0
        assert set(s.statuses) == {"finished"}, s.statuses
        return sum(r["steps"] for r in store.rows(suite.name)), dt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="head_on,overtaking,berthing")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    suite = get_suite("dev").select(args.cases.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="eval-speed-"))
    sub = write_template(tmp / "sub")
    res = {}
    try:
        _evaluate("autopilot", suite, tmp, "warm")  # warm up (numba caches, maps)
        best_in = best_sb = 0.0
        sb_start = []
        for _ in range(args.rounds):
            n, dt = _evaluate("autopilot", suite, tmp, "in")
            best_in = max(best_in, n / dt)
            n, dt = _evaluate(str(sub), suite, tmp, "sb")
            best_sb = max(best_sb, n / dt)
            # a fresh sandbox: bwrap + interpreter + imports + make_policy (paid once per submission and worker)
            env = gym.make("testbed/Channel-v0")
            t0 = time.perf_counter()
            pp = PolicyProcess(str(sub), DEFAULT_LIMITS, sandbox=True)
            pp.start(env.observation_space, env.action_space)
            sb_start.append(time.perf_counter() - t0)
            pp.close()
        # the bare protocol: round trips of a policy that returns a constant, against one env step
        (tmp / "zero").mkdir()
        (tmp / "zero" / "submission.yaml").write_text("spec_version: 1\nteam: b\nname: zero\nmode: python\n")
        (tmp / "zero" / "policy.py").write_text(
            "import numpy as np\nclass P:\n    def reset(self, seed=None):\n        pass\n"
            "    def act(self, obs):\n        return np.zeros(2, np.float32)\n"
            "def make_policy(o, a):\n    return P()\n")
        env = gym.make("testbed/Channel-v0")
        obs, _ = env.reset(seed=0)
        pp = PolicyProcess(str(tmp / "zero"), DEFAULT_LIMITS, sandbox=True)
        pp.start(env.observation_space, env.action_space)
        pp.reset(0)
        rtt = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            for i in range(2000):
                pp.act(i, obs)
            rtt.append((time.perf_counter() - t0) / 2000)
        pp.close()
        step = []
        for _ in range(args.rounds):
            env.reset(seed=0)
            t0 = time.perf_counter()
            for _ in range(300):
                env.step(np.zeros(2, np.float32))
            step.append((time.perf_counter() - t0) / 300)
        n_eps = len(suite.episodes())
        res["episodes_per_round"] = n_eps
        res["steps_per_round"] = n
        res["in_process_steps_per_s"] = best_in
        res["sandboxed_steps_per_s"] = best_sb
        res["sandboxed_over_in_process"] = best_sb / best_in
        res["sandbox_start_s"] = min(sb_start)
        res["pipe_round_trip_us"] = min(rtt) * 1e6
        res["env_step_us"] = min(step) * 1e6
        print(f"{n_eps} episodes, {n} steps per round, best of {args.rounds} rounds")
        print(f"pipe round trip (constant policy in bwrap): {min(rtt) * 1e6:6.0f} us  vs one Channel-v0 env step "
              f"{min(step) * 1e6:.0f} us  ({min(rtt) / min(step):.2f})")
        print(f"autopilot in process (baseline):       {best_in:8.0f} episode-steps/s   1.00")
        print(f"autopilot in bwrap over pipes:         {best_sb:8.0f} episode-steps/s   {best_sb / best_in:.2f}"
              f"  (goal >= 0.5; a fresh sandbox + make_policy {min(sb_start) * 1e3:.0f} ms, once per submission and worker)")
        if not args.no_ray:
            import ray

            rates = {}
            for workers in (1, 2):
                # a local Ray with this many CPUs; one untimed round starts the workers and their sandboxes
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                         runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}})
                try:
                    best = 0.0
                    for r in range(args.rounds + 1):
                        with Store(tmp / f"ray{workers}_{r}.db") as store:
                            t0 = time.perf_counter()
                            s = evaluate(str(sub), suite, store, backend="ray", workers=workers, record=False)
                            dt = time.perf_counter() - t0
                            assert s.statuses == {"finished": n_eps}, s.statuses
                            if r:
                                best = max(best, n / dt)
                finally:
                    ray.shutdown()
                rates[workers] = best
            res["ray_1_worker_steps_per_s"] = rates[1]
            res["ray_2_workers_steps_per_s"] = rates[2]
            res["ray_speedup_2_over_1"] = rates[2] / rates[1]
            print(f"ray, 1 worker (warm):                  {rates[1]:8.0f} episode-steps/s   1.00")
            print(f"ray, 2 workers (warm):                 {rates[2]:8.0f} episode-steps/s   {rates[2] / rates[1]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
