"""Policy API conformance tests (shipped in the package, like PettingZoo's ``api_test``).

:func:`check_policy` runs a submission's policy through the evaluator's own :class:`PolicyProcess`
(sandboxed unless ``sandbox=False``) and reports every problem at once:

1. ``make_policy(observation_space, action_space)`` returns within the setup deadline;
2. ``reset(seed)`` works;
3. ``act(observation)`` on observations of a real episode returns numbers of shape (2,), a float
   dtype, finite and inside the action space [-1, 1];
4. determinism: a fresh process, reset with the same seed and fed the same observations, returns
   bit-identical actions;
5. speed: the median round trip of ``act`` stays below the soft step deadline;
6. one short episode (``Channel-v0``, 60 s) through :func:`testbed.evaluation.runner.run_episode`
   ends with status ``finished``.
"""

from __future__ import annotations

import time

import numpy as np

from .runner import check_action, run_episode
from .sandbox import DEFAULT_LIMITS, Limits, PolicyFailure, PolicyProcess
from .submission import Problem
from .suite import Case

CHECK_CASE = Case("check", "Channel-v0", {"time_limit_s": 60.0, "traffic": {"count": 1}}, ("check",),
                  "the short episode of `testbed submission check`", (0,))  # fmt: skip
N_OBS = 8


def _observations(n: int = N_OBS) -> tuple[list[np.ndarray], object, object]:
    from .runner import make_env

    env = make_env(CHECK_CASE)
    try:
        obs, _ = env.reset(seed=0)
        out = [obs]
        for _ in range(n - 1):
            obs, *_ = env.step(np.array([0.1, 0.5], dtype=np.float32))
            out.append(obs)
        return out, env.observation_space, env.action_space
    finally:
        env.close()


def _actions(folder: str, observations, ospace, aspace, limits: Limits, sandbox: bool, problems: list, where: str):
    pp = PolicyProcess(folder, limits, sandbox)
    acts, rtts = [], []
    try:
        pp.start(ospace, aspace)
        pp.reset(0)
        for i, obs in enumerate(observations):
            t = time.perf_counter()
            a = pp.act(i, obs)
            rtts.append(time.perf_counter() - t)
            acts.append(a)
    except PolicyFailure as exc:
        problems.append(Problem(where, f"{exc.status}: {exc.reason}"))
        return None, rtts, pp.close()
    return acts, rtts, pp.close()


def check_policy(folder: str, sandbox: bool = True, limits: Limits | None = None, episode: bool = True) -> list[Problem]:
    """Every conformance problem of the policy in ``folder`` (empty: it conforms)."""
    import shutil
    import tempfile
    from pathlib import Path

    from .submission import stage

    limits = limits or DEFAULT_LIMITS
    where = str(Path(folder) / ("policy.py" if (Path(folder) / "policy.py").exists() else "policy.onnx"))
    tmp = tempfile.mkdtemp(prefix="testbed-check-")
    try:  # the sandbox user reads a staged copy (the original may sit in a private folder)
        return _check(str(stage(folder, Path(tmp) / "submission")), where, sandbox, limits, episode)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check(folder: str, where: str, sandbox: bool, limits: Limits, episode: bool) -> list[Problem]:
    problems: list[Problem] = []
    observations, ospace, aspace = _observations()
    acts, rtts, log = _actions(folder, observations, ospace, aspace, limits, sandbox, problems, where)
    if acts is None:
        tail = log.strip().splitlines()[-1:] if log.strip() else []
        if tail:
            problems.append(Problem(where, f"last line of its output: {tail[0][:200]}"))
        return problems
    for i, a in enumerate(acts):
        if a is None:
            problems.append(Problem(where, f"act() on observation {i} missed the {limits.step_deadline_s:g} s step deadline"))
            continue
        arr = np.asarray(a)
        if arr.dtype.kind != "f":
            problems.append(Problem(where, f"act() returned dtype {arr.dtype} on observation {i}; use float32"))
        _, why = check_action(a)
        if why:
            problems.append(Problem(where, f"act() on observation {i}: {why}"))
    if problems:
        return problems
    again, _, _ = _actions(folder, observations, ospace, aspace, limits, sandbox, problems, where)
    if again is not None:
        diff = [i for i, (a, b) in enumerate(zip(acts, again, strict=True))
                if a is None or b is None or np.asarray(a).tobytes() != np.asarray(b).tobytes()]  # fmt: skip
        if diff:
            problems.append(Problem(where, f"not deterministic: reset(seed=0) twice gives different actions at "
                                           f"observations {diff[:5]} (seed every random generator from reset)"))  # fmt: skip
    if rtts and float(np.median(rtts)) > limits.step_deadline_s:
        problems.append(Problem(where, f"act() takes {np.median(rtts):.3f} s (median), more than the "
                                       f"{limits.step_deadline_s:g} s step deadline"))  # fmt: skip
    if episode and not problems:
        res = run_episode(CHECK_CASE, 0, PolicyProcess(folder, limits, sandbox), limits)
        if res.status != "finished":
            problems.append(Problem(where, f"the short episode ended with status {res.status}: {res.reason}"))
        elif res.metrics.get("late_steps"):
            problems.append(Problem(where, f"the short episode had {res.metrics['late_steps']} late steps"))
    return problems
