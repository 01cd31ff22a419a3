"""The one adapter between the server and the evaluation, replay and viewer packages.

Everything the server needs from ``testbed.evaluation`` (archive unpacking with its zip-slip and
zip-bomb limits, the submission check, the sandboxed evaluator, its results store and the score),
from ``testbed.replay`` (trajectories for the in-browser playback) and from the viewer (GIF
thumbnails) goes through the functions here, so the dependency lives in one place.

The evaluator runs as a subprocess (``python -m testbed evaluate DIR --suite S --store DB``); it
keeps every finished episode in its results store and, rerun with the same arguments, evaluates only
the missing ones: that is how a job survives a killed worker.
"""

from __future__ import annotations

import ctypes
import math
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


class Rejected(ValueError):
    """The upload is not a valid submission archive (zip-slip, zip bomb, too many files, ...)."""


class Unavailable(RuntimeError):
    """A part the server needs is not installed (an infrastructure problem, never the team's)."""


@dataclass
class Episode:
    idx: int
    case: str
    seed: str
    status: str
    score: float | None
    metrics: dict = field(default_factory=dict)
    replay: str | None = None


# --------------------------------------------------------------------------- submissions

def unpack(zip_path: Path, dest: Path, limits) -> Path:
    """Unpack an uploaded zip with the evaluation package's own limits; :class:`Rejected` if unsafe.
    Returns the submission folder (``dest`` or its only top-level folder)."""
    from testbed.evaluation import submission

    total = int(limits.unpacked_max_mb * 1e6)
    lim = submission.ArchiveLimits(max_members=int(limits.max_files), max_total_bytes=total,
                                   max_file_bytes=total, max_ratio=float(limits.max_ratio))
    try:
        return Path(submission.unpack_archive(zip_path, dest, lim))
    except submission.SubmissionError as exc:
        raise Rejected(str(exc).replace(str(zip_path), "upload.zip")) from None


def check(submission_dir: Path, sandbox: bool = True, static_only: bool = False) -> list[str]:
    """Every problem of a submission, one line each (empty: valid), exactly as ``testbed submission check``:
    the static checks, then the conformance tests and one short episode (in the sandbox)."""
    from testbed.evaluation.conformance import check_policy
    from testbed.evaluation.sandbox import bwrap_problem
    from testbed.evaluation.submission import check_submission

    problems = check_submission(submission_dir)
    if not problems and not static_only:
        if sandbox and bwrap_problem():
            raise Unavailable(f"{bwrap_problem()}: the sandbox is not available to run the submission's code")
        problems = check_policy(str(submission_dir), sandbox=sandbox)
    return [str(p).replace(str(submission_dir), "").lstrip("/") or str(p) for p in problems]


def read_meta(submission_dir: Path) -> dict:
    """team / name / mode from submission.yaml, with the evaluation package's validation: a missing or
    malformed submission.yaml is :class:`Rejected` at the upload (the full check runs in a worker)."""
    from testbed.evaluation import submission

    try:
        meta = submission.read_meta(submission_dir)
    except submission.SubmissionError as exc:
        raise Rejected(str(exc).replace(str(submission_dir), "").lstrip("/: ") or "invalid submission.yaml") from None
    return {"team": meta.team, "name": meta.name, "mode": meta.mode}


BASELINES = {"autopilot": "autopilot", "do-nothing": "idle", "random": "random"}


def baseline_spec(name: str) -> str:
    """The evaluator's built-in policy for a baseline row (evaluated in process: trusted code)."""
    return BASELINES[name]


def write_template(folder: Path, team: str = "my-team", name: str = "autopilot-template") -> Path:
    """The starter submission of ``testbed submission new`` (wraps the autopilot; passes the check)."""
    from testbed.evaluation import submission

    return submission.write_template(folder, team=team, name=name)


# --------------------------------------------------------------------------- evaluation

def phase_suite(phase):
    """The phase's suite (``testbed.evaluation.suite``), narrowed by the phase's ``cases``, capped by its
    ``time_limit_s`` and cut to its first ``max_episodes`` episodes (a tiny phase for tests and rehearsals)."""
    import dataclasses

    from testbed.evaluation import suite as suites

    try:
        s = suites.get_suite(phase.suite)
        if phase.cases:
            s = s.select(list(phase.cases))
    except suites.SuiteError as exc:
        raise Unavailable(f"phase {getattr(phase, 'name', phase.suite)}: {exc}") from None
    cases = list(s.cases)
    if getattr(phase, "seeds_per_case", 0):
        cases = [dataclasses.replace(c, seeds=c.seeds[:phase.seeds_per_case]) for c in cases]
    if phase.time_limit_s:
        cases = [dataclasses.replace(c, overrides={**c.overrides, "time_limit_s": min(
            float(c.overrides.get("time_limit_s", phase.time_limit_s)), phase.time_limit_s)}) for c in cases]
    if phase.max_episodes:
        left, cut = phase.max_episodes, []
        for c in cases:
            seeds = c.seeds[:left]
            left -= len(seeds)
            if seeds:
                cut.append(dataclasses.replace(c, seeds=seeds))
        cases = cut
    return dataclasses.replace(s, cases=tuple(cases))


def suite_total(phase) -> int:
    return len(phase_suite(phase).episodes())


def _die_with_parent():  # pragma: no cover - runs in the child
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setsid()


def child_env() -> dict:
    """The environment for child processes: they import the same testbed as this process."""
    import testbed

    env = dict(os.environ)
    root = str(Path(testbed.__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def start(target: Path | str, *, key: str, phase, store: Path, backend: str, ray_address: str, workers: int,
          sandbox: bool, log_path: Path) -> subprocess.Popen:
    """Start (or resume) the sandboxed evaluator for one submission in a child process (its own session,
    killed with its parent); its output goes to ``log_path``."""
    cmd = [sys.executable, "-m", "testbed.server.worker", str(target), "--key", key, "--suite", phase.suite,
           "--store", str(store), "--workers", str(workers), "--backend", backend,
           "--max-episodes", str(phase.max_episodes), "--time-limit", str(phase.time_limit_s),
           "--seeds-per-case", str(phase.seeds_per_case)]
    for c in phase.cases:
        cmd += ["--case", c]
    if backend == "ray" and ray_address:
        cmd += ["--address", ray_address]
    if not sandbox:
        cmd += ["--no-sandbox"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=_die_with_parent, env=child_env())
    finally:
        log.close()


def _episode_index(suite) -> dict:
    return {(c.id, int(s)): i for i, (c, s) in enumerate(suite.episodes())}


_HASHES: dict = {}


def _hashes(suite) -> dict:
    import json

    key = json.dumps([suite.name, suite.version, [[c.id, c.scenario, c.overrides] for c in suite.cases]],
                     sort_keys=True, default=str)
    if key not in _HASHES:
        _HASHES[key] = {c.id: c.config_hash() for c in suite.cases}
    return _HASHES[key]


def _rows(store: Path, key: str, suite) -> list[dict]:
    from testbed.evaluation.store import Store

    if not Path(store).exists():
        return []
    hashes = _hashes(suite)
    with Store(store) as st:
        rows = st.rows(suite.name, key, suite.version)
    return [r for r in rows if hashes.get(r["case_id"]) == r["config_hash"]]


def results(store: Path, key: str, phase) -> list[Episode]:
    """The finished episodes of one evaluation in the evaluator's results store, in suite order."""
    from testbed.evaluation.store import METRIC_COLUMNS

    suite = phase_suite(phase)
    index = _episode_index(suite)
    out = []
    for r in _rows(store, key, suite):
        i = index.get((r["case_id"], int(r["seed"])))
        if i is None:
            continue
        metrics = {c: r.get(c) for c in METRIC_COLUMNS if r.get(c) is not None}
        if r.get("reason"):
            metrics["reason"] = r["reason"]
        out.append(Episode(idx=i, case=r["case_id"], seed=str(r["seed"]), status=r["status"],
                           score=_finite(r.get("quality")), metrics=metrics, replay=r.get("replay") or None))
    return sorted(out, key=lambda e: e.idx)


def scores(store: Path, key: str, phase) -> tuple[float | None, dict[str, float]]:
    """Overall and per-case scores with the evaluation package's formula (normalised by the do-nothing
    and autopilot baselines on the same episodes); (None, {}) when a baseline result is missing."""
    from testbed.evaluation import evaluator, metrics

    suite = phase_suite(phase)

    def table(sub):
        t: dict = {}
        for r in _rows(store, sub, suite):
            t.setdefault(r["case_id"], {})[int(r["seed"])] = float(r.get("quality") or 0.0)
        return t

    mine = table(key)
    if not mine:
        return None, {}
    idle = table(evaluator.baseline_id("idle"))
    auto = table(evaluator.baseline_id("autopilot"))
    try:
        overall, per_case = metrics.score(mine, idle, auto)
    except ValueError:
        return None, {}
    return _finite(overall), {k: float(v) for k, v in per_case.items() if _finite(v) is not None}


def _finite(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def evaluate_main(argv=None) -> int:
    """The child process: evaluate one submission (or built-in baseline) on the phase's suite, resuming
    from the store, then make sure the baselines that normalise the score ran on the same episodes."""
    import argparse
    import dataclasses
    import types

    from testbed.evaluation import evaluator
    from testbed.evaluation.store import Store

    ap = argparse.ArgumentParser(prog="python -m testbed.server.worker")
    ap.add_argument("target")
    ap.add_argument("--key", required=True)
    ap.add_argument("--suite", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--backend", default="local")
    ap.add_argument("--address", default=None)
    ap.add_argument("--max-episodes", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=0.0)
    ap.add_argument("--case", action="append", default=[])
    ap.add_argument("--seeds-per-case", type=int, default=0)
    ap.add_argument("--no-sandbox", action="store_true")
    a = ap.parse_args(argv)
    phase = types.SimpleNamespace(suite=a.suite, cases=tuple(a.case), time_limit_s=a.time_limit,
                                  max_episodes=a.max_episodes, seeds_per_case=a.seeds_per_case)
    suite = phase_suite(phase)
    kw = dict(backend=a.backend, workers=a.workers, address=a.address, sandbox=not a.no_sandbox)
    with Store(a.store) as store:
        target = evaluator.resolve(a.target)
        if target.kind != "baseline":
            target = dataclasses.replace(target, id=a.key)
        print(f"evaluating {target.name!r} on suite {suite.name} {suite.version}: "
              f"{len(suite.episodes())} episode(s)", flush=True)
        summary = evaluator.evaluate(target, suite, store, progress=lambda s: print(s, flush=True), **kw)
        print(f"done: {summary.ran} ran, {summary.skipped} already stored, statuses {summary.statuses}", flush=True)
        for r in store.rows(suite.name, target.id, suite.version):
            if r.get("log"):
                print(f"--- policy output, {r['case_id']} seed {r['seed']} ---\n{r['log'].rstrip()}", flush=True)
        evaluator.ensure_baselines(suite, store, progress=lambda s: print("baseline:", s, flush=True),
                                   backend=a.backend, workers=a.workers, address=a.address)
    return 0


# --------------------------------------------------------------------------- replays

def trajectory(replay: Path, max_points: int = 900) -> dict:
    """Ego and traffic positions of a replay for the in-browser playback (local metres, at most
    ``max_points`` frames; inactive traffic slots are null)."""
    import numpy as np

    from testbed.replay import ReplayReader

    r = ReplayReader(replay)
    n = int(r.n_frames)
    idx = np.unique(np.linspace(0, n - 1, min(n, max_points)).round().astype(int))

    def col(name):
        return np.asarray(r.column(name, 0, n))[idx]

    h = r.header
    out = {"map": (h.get("map") or {}).get("name"), "scenario": h.get("scenario"), "outcome": h.get("outcome"),
           "duration_s": h.get("duration_s"), "t": np.round(np.asarray(r.times)[idx], 1).tolist(),
           "ego": {"x": np.round(col("ego/x"), 1).tolist(), "y": np.round(col("ego/y"), 1).tolist(),
                   "heading": np.round(col("ego/psi"), 3).tolist(),
                   "length_m": ((h.get("vessels") or {}).get("ego") or {}).get("length_m")},
           "goal": h.get("goal"), "route": h.get("route")}
    try:
        tx, ty = col("traffic/x"), col("traffic/y")
    except (KeyError, ValueError):
        tx = ty = None
    if tx is not None and tx.ndim == 2 and tx.shape[1]:
        bad = ~np.isfinite(tx) | (np.abs(tx) > 1e8) | ~np.isfinite(ty) | (np.abs(ty) > 1e8)
        tx = np.where(bad, np.nan, np.round(tx, 1))
        ty = np.where(bad, np.nan, np.round(ty, 1))
        out["traffic"] = {"x": [[None if v != v else float(v) for v in row] for row in tx],
                          "y": [[None if v != v else float(v) for v in row] for row in ty]}
    return _jsonable(out)


def _jsonable(obj):
    import json

    def fix(o):
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {str(k): fix(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [fix(v) for v in o]
        return o

    return fix(json.loads(json.dumps(obj, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))))


THUMB_LAYERS = {k: False for k in ("rays", "plots", "minimap", "legend", "hud", "labels", "ais")}


def thumbnail(replay: Path, out: Path, seconds: float = 8.0, fps: float = 6.0) -> Path:
    """A small looping GIF of the whole episode (about ``seconds`` long) with the viewer's export."""
    from testbed.replay import ReplayReader
    from testbed.replay.viewer import export_video

    duration = float(ReplayReader(replay).header.get("duration_s") or 0.0)
    speed = max(16.0, duration / seconds)
    export_video(replay, str(out), fps=fps, speed=speed, size=(640, 360), force=True, layers=dict(THUMB_LAYERS))
    return out


if __name__ == "__main__":
    sys.exit(evaluate_main())
