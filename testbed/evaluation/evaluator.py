"""The evaluator: runs a submission (or a baseline) on a suite, one episode per (case, seed), and stores
every result as soon as it exists.

``evaluate(submission, suite, store, backend="local"|"ray", workers=N, max_episodes=N, sandbox=True)``

1. The submission is resolved (:func:`resolve`): a built-in baseline (``autopilot``, ``idle``,
   ``random``; trusted, in process), a folder, or a zip (unpacked safely next to the store). Its id is
   the content hash of its files. The static checks run first; a submission with problems gets a
   ``rejected`` row for every episode and nothing of it runs.
2. The episodes already in the store for this submission, suite version and case config are skipped
   (resume after a crash or ``kill -9``); ``max_episodes`` limits how many of the missing ones run.
3. Each episode is an independent task (:func:`episode_task`: fresh env, fresh policy process) run in
   the main process (``local``, 1 worker), a process pool (``local``, N workers) or as Ray tasks
   (``ray``: local Ray with N CPUs, or ``address=`` a cluster; the submission's files travel with
   the task, the replay comes back as bytes). A task never raises: a failure is a row with a status.
   Each finished task is written to the store by the driver, with its replay file next to it.
4. Episodes not started before the submission's hard deadline are stored as ``timeout``.

The baselines ``idle`` and ``autopilot`` are evaluated on the same (case, seed) pairs
(:func:`ensure_baselines`) because the score is normalised by them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .runner import EpisodeResult, InProcessPolicy, run_episode
from .sandbox import DEFAULT_LIMITS, Limits, PolicyProcess, close_zygotes, require_sandbox, zygote_for
from .submission import (
    Problem,
    SubmissionError,
    check_submission,
    content_hash,
    read_meta,
    stage,
    unpack_archive,
)
from .suite import Suite

BASELINES = ("autopilot", "idle", "random")
SCORE_BASELINES = ("idle", "autopilot")


@dataclass
class Target:
    """What is evaluated."""

    id: str
    team: str
    name: str
    mode: str
    kind: str  # "submission" or "baseline"
    spec: str  # built-in name or folder path
    problems: list[Problem] = field(default_factory=list)


def baseline_id(name: str) -> str:
    return f"baseline:{name}"


def resolve(submission: str | os.PathLike, unpack_root: str | os.PathLike | None = None) -> Target:
    """A :class:`Target` for a built-in baseline name, a submission folder or a zip."""
    s = str(submission)
    if s in BASELINES:
        return Target(baseline_id(s), "baseline", s, "builtin", "baseline", s)
    p = Path(s)
    if not p.exists():
        raise SubmissionError(f"{p}: no such submission folder or zip (or use one of {', '.join(BASELINES)})")
    if p.is_file():
        if p.suffix.lower() != ".zip":
            raise SubmissionError(f"{p}: a submission is a folder or a .zip")
        root = Path(unpack_root or tempfile.mkdtemp(prefix="submissions-"))
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))
        try:
            folder = unpack_archive(p, tmp)
        except SubmissionError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            import hashlib

            zid = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
            return Target(zid, "?", p.name, "?", "submission", str(p), [Problem(str(p), str(exc).split(": ", 1)[-1])])
        cid = content_hash(folder)
        final = root / cid
        if final.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(folder, final)
            shutil.rmtree(tmp, ignore_errors=True)
        p = final
    problems = check_submission(p)
    cid = content_hash(p)
    try:
        meta = read_meta(p)
        team, name, mode = meta.team, meta.name, meta.mode
    except SubmissionError:
        team, name, mode = "?", p.name, "?"
    return Target(cid, team, name, mode, "submission", str(p.resolve()), problems)


# -- one task ---------------------------------------------------------------------------------------
def _policy(task: dict, spec: str):
    if spec in BASELINES:
        return InProcessPolicy(spec)
    if task.get("sandbox", True):  # a fresh child of this process's zygote sandbox for the submission
        return zygote_for(spec, task["limits"]).session()
    return PolicyProcess(spec, task["limits"], sandbox=False)


def episode_task(task: dict, policy=None) -> dict:
    """Run one episode (in any process or Ray worker); never raises. Returns a plain dict with the row
    fields and ``replay_bytes``. ``policy``: an already launched policy process for this task."""
    case, seed = task["case"], int(task["seed"])
    limits: Limits = task["limits"]
    tmp = tempfile.mkdtemp(prefix="episode-")
    try:
        if task.get("deadline") is not None and time.time() > task["deadline"]:
            res = EpisodeResult(case.id, seed, "timeout", "submission deadline passed before the episode started")
            if policy is not None:
                policy.close()
        else:
            spec = task["spec"]
            files = task.get("files")
            if files is not None:  # shipped with a Ray task: unpack once per worker, by content hash
                folder = Path(tempfile.gettempdir()) / "testbed-submissions" / task["submission_id"]
                if not folder.is_dir():
                    if not isinstance(files, dict):
                        import ray

                        files = ray.get(files)
                    folder.parent.mkdir(parents=True, exist_ok=True)
                    part = Path(tempfile.mkdtemp(prefix=".part-", dir=folder.parent))
                    os.chmod(part, 0o755)
                    for rel, data in files.items():
                        f = part / rel
                        f.parent.mkdir(parents=True, exist_ok=True)
                        f.write_bytes(data)
                        os.chmod(f, 0o644)
                    for d in part.rglob("*"):
                        if d.is_dir():
                            os.chmod(d, 0o755)
                    try:
                        os.replace(part, folder)
                    except OSError:  # another task of this worker node was first
                        shutil.rmtree(part, ignore_errors=True)
                spec = str(folder)
            record = Path(tmp) / "episode.replay" if task.get("record", True) else None
            if policy is None:
                policy = _policy(task, spec)
            mono_deadline = None
            if task.get("deadline") is not None:
                mono_deadline = time.monotonic() + max(0.0, task["deadline"] - time.time())
            try:
                res = run_episode(case, seed, policy, limits, record, mono_deadline, task.get("agent"),
                                  task.get("rule_penalty"))
            except Exception as exc:  # the evaluator's own failure (env, recorder): never stop the others
                tb = traceback.format_exc(limit=3)
                res = EpisodeResult(case.id, seed, "crashed", f"evaluator error: {type(exc).__name__}: {exc}", log=tb)
        out = dataclasses.asdict(res)
        out["replay_bytes"] = Path(res.replay).read_bytes() if res.replay else None
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _files(folder: str) -> dict[str, bytes]:
    root = Path(folder)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}  # fmt: skip


# -- scheduling --------------------------------------------------------------------------------------
@dataclass
class RunSummary:
    target: Target
    suite: str
    planned: int
    skipped: int
    ran: int
    statuses: dict[str, int]
    wall_s: float
    verified: list[tuple[str, int, bool, str]] = field(default_factory=list)


def evaluate(submission, suite: Suite, store, backend: str = "local", workers: int = 1,
             max_episodes: int | None = None, sandbox: bool = True, limits: Limits = DEFAULT_LIMITS,
             address: str | None = None, verify: int = 0, record: bool = True,
             progress: Callable[[str], None] | None = None) -> RunSummary:  # fmt: skip
    """Evaluate ``submission`` (a :class:`Target` or what :func:`resolve` accepts) on ``suite``; see the
    module docstring. Returns what ran; the rows are in ``store``."""
    import testbed

    say = progress or (lambda s: None)
    t0 = time.time()
    target = submission if isinstance(submission, Target) else resolve(submission, store.path.with_name(store.path.name + ".submissions"))
    if target.kind == "submission" and not target.problems:
        require_sandbox(sandbox)
    store.add_submission(target.id, target.team, target.name, target.mode, target.kind, target.spec)
    hashes = {c.id: c.config_hash() for c in suite.cases}
    done = store.done(target.id, suite.name, suite.version)
    todo = [(c, s) for c, s in suite.episodes() if (c.id, hashes[c.id], s) not in done]
    skipped = len(suite.episodes()) - len(todo)
    if max_episodes is not None:
        todo = todo[:max(0, max_episodes)]
    base = {"submission": target.id, "suite": suite.name, "suite_version": suite.version,
            "sim_version": testbed.__version__}  # fmt: skip
    statuses: dict[str, int] = {}

    def write(case_id: str, seed: int, out: dict) -> None:
        row = dict(base, case_id=case_id, config_hash=hashes[case_id], seed=seed, status=out["status"],
                   reason=out.get("reason") or "", metrics=out.get("metrics") or {}, log=out.get("log") or "",
                   wall_s=out.get("wall_s"))  # fmt: skip
        if out.get("replay_bytes"):
            import atomicio

            rp = store.replay_path(target.id, suite.name, case_id, seed)
            with atomicio.atomic_open(rp, "wb") as fh:
                fh.write(out["replay_bytes"])
            row["replay"] = str(rp)
        store.put(row)
        statuses[out["status"]] = statuses.get(out["status"], 0) + 1
        m = row["metrics"]
        say(f"{target.name} {case_id} seed {seed}: {out['status']}"
            + (f" ({out['reason']})" if out.get("reason") else "")
            + (f" outcome {m.get('outcome')} q {m.get('quality', 0):.3f}" if m.get("steps") else ""))  # fmt: skip

    if target.problems:
        reason = "; ".join(str(p) for p in target.problems)[:2000]
        for c, s in todo:
            write(c.id, s, {"status": "rejected", "reason": reason, "metrics": {"quality": 0.0}})
        return RunSummary(target, suite.name, len(todo), skipped, len(todo), statuses, time.time() - t0)

    deadline = time.time() + limits.submission_deadline_s
    spec = target.spec
    staged = None
    if target.kind == "submission" and backend == "local" and todo:
        staged = Path(tempfile.mkdtemp(prefix="testbed-staged-")) / target.id
        spec = str(stage(target.spec, staged))
    tasks = [{"case": c, "seed": s, "spec": spec, "limits": limits, "sandbox": sandbox, "record": record,
              "deadline": deadline, "submission_id": target.id, "agent": f"{target.team} / {target.name}",
              "rule_penalty": dict(suite.rule_penalty)}
             for c, s in todo]  # fmt: skip
    try:
        if backend == "local":
            _run_local(tasks, workers, write)
        elif backend == "ray":
            _run_ray(tasks, workers, address, target, write)
        else:
            raise ValueError(f"unknown backend {backend!r} (local or ray)")
    finally:
        if staged is not None:
            shutil.rmtree(staged.parent, ignore_errors=True)
    summary = RunSummary(target, suite.name, len(todo), skipped, len(todo), statuses, time.time() - t0)
    if verify:
        summary.verified = verify_sample(store, target.id, suite, verify, say)
    return summary


def _run_local(tasks: list[dict], workers: int, write) -> None:
    if workers <= 1 or len(tasks) <= 1:
        try:
            for t in tasks:
                write(t["case"].id, t["seed"], episode_task(t))
        finally:
            close_zygotes()
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futs = {pool.submit(episode_task, t): t for t in tasks}
        for f in as_completed(futs):
            t = futs[f]
            try:
                out = f.result()
            except Exception as exc:  # a worker process died (e.g. OOM-killed): record it, continue
                out = {"status": "crashed", "reason": f"evaluator worker failed: {type(exc).__name__}: {exc}"}
            write(t["case"].id, t["seed"], out)


def _run_ray(tasks: list[dict], workers: int, address: str | None, target: Target, write) -> None:
    import ray

    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            # local Ray: the workers import the same testbed as this process
            import testbed

            src = str(Path(testbed.__file__).resolve().parents[1])
            path = os.pathsep.join([src] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
            ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": path}})
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(episode_task)
        files_ref = None
        if target.kind == "submission":
            files_ref = ray.put(_files(target.spec))
        pending = {}
        for t in tasks:
            t = dict(t)
            if files_ref is not None:
                t["files"] = files_ref
            pending[remote.remote(t)] = t
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                t = pending.pop(ref)
                try:
                    out = ray.get(ref)
                except Exception as exc:
                    out = {"status": "crashed", "reason": f"Ray task failed: {type(exc).__name__}: {str(exc)[:300]}"}
                write(t["case"].id, t["seed"], out)
    finally:
        if started:
            ray.shutdown()


def ensure_baselines(suite: Suite, store, names=SCORE_BASELINES, episodes: list[tuple[str, int]] | None = None,
                     progress=None, **kw) -> None:  # fmt: skip
    """Evaluate the baselines on the suite's episodes that a score needs (all, or ``episodes``) if missing."""
    sub = suite
    if episodes is not None:
        want = {}
        for cid, s in episodes:
            want.setdefault(cid, set()).add(s)
        cases = tuple(dataclasses.replace(c, seeds=tuple(s for s in c.seeds if s in want.get(c.id, ())))
                      for c in suite.cases if c.id in want)  # fmt: skip
        sub = dataclasses.replace(suite, cases=cases)
    for n in names:
        evaluate(n, sub, store, progress=progress, **kw)


def verify_sample(store, submission_id: str, suite: Suite, n: int, say=print) -> list[tuple[str, int, bool, str]]:
    """Re-simulate up to ``n`` stored replays of the submission (evenly spread) and mark each row."""
    from testbed.replay.verify import verify

    rows = [r for r in store.rows(suite.name, submission_id, suite.version) if r.get("replay")]
    if not rows:
        return []
    step = max(1, len(rows) // n)
    out = []
    for r in rows[::step][:n]:
        try:
            res = verify(r["replay"])
            ok, text = res.identical, res.summary().splitlines()[0]
        except (ValueError, OSError) as exc:
            ok, text = False, f"{r['replay']}: {exc}"
        store.set_verified(r, ok)
        say(("verified " if ok else "MISMATCH ") + text)
        out.append((r["case_id"], r["seed"], ok, text))
    return out
