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


def check(submission_dir: Path) -> list[str]:
    """Every problem of a submission, as one line each (empty: valid)."""
    from testbed.evaluation import submission

    return [str(p) for p in submission.check_submission(submission_dir)]


def read_meta(submission_dir: Path) -> dict:
    """team / name from submission.yaml (untrusted text; only used for display)."""
    import yaml

    p = Path(submission_dir) / "submission.yaml"
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) if p.is_file() else {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        data = {}
    return data if isinstance(data, dict) else {}


BASELINES = {"autopilot": "autopilot", "do-nothing": "idle", "random": "random"}


def baseline_spec(name: str) -> str:
    """The evaluator's built-in policy for a baseline row (evaluated in process: trusted code)."""
    return BASELINES[name]


def write_template(folder: Path, team: str = "my-team", name: str = "autopilot-template") -> Path:
    """The starter submission of ``testbed submission new`` (wraps the autopilot; passes the check)."""
    from testbed.evaluation import submission

    return submission.write_template(folder, team=team, name=name)


# --------------------------------------------------------------------------- evaluation

def suite_total(suite: str, max_episodes: int) -> int:
    from testbed.evaluation import suites

    n = len(suites.get_suite(suite).episodes())
    return min(n, max_episodes) if max_episodes else n


def child_env() -> dict:
    """The environment for child processes: they import the same testbed as this process."""
    import testbed

    env = dict(os.environ)
    root = str(Path(testbed.__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _die_with_parent():  # pragma: no cover - runs in the child
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setsid()


def start(submission_dir: Path | str, *, key: str, suite: str, store: Path, max_episodes: int, backend: str,
          ray_address: str, workers: int, sandbox: bool, log_path: Path) -> subprocess.Popen:
    """Start (or resume) the sandboxed evaluator for one submission; its output goes to ``log_path``."""
    cmd = [sys.executable, "-m", "testbed", "evaluate", str(submission_dir), "--suite", suite,
           "--store", str(store), "--submission-id", key, "--workers", str(workers), "--backend", backend]
    if max_episodes:
        cmd += ["--max-episodes", str(max_episodes)]
    if backend == "ray" and ray_address:
        cmd += ["--address", ray_address]
    if not sandbox:
        cmd += ["--no-sandbox"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    env = child_env()
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=_die_with_parent, env=env)
    finally:
        log.close()


def results(store: Path, key: str) -> list[Episode]:
    """The finished episodes of one evaluation in the evaluator's results store."""
    if not Path(store).exists():
        return []
    from testbed.evaluation import store as st

    out = []
    with st.ResultsStore(store, readonly=True) as rs:
        for i, r in enumerate(rs.episodes(key)):
            out.append(Episode(idx=i, case=r.case, seed=str(r.seed), status=r.status,
                               score=_finite(r.score), metrics=dict(r.metrics),
                               replay=str(r.replay_path) if r.replay_path else None))
    return out


def scores(episodes: list[Episode], suite: str) -> tuple[float | None, dict[str, float]]:
    """Overall and per-case scores with the evaluation package's formula."""
    from testbed.evaluation import scoring

    if not episodes:
        return None, {}
    overall, per_case = scoring.score_episodes(episodes, suite)
    return _finite(overall), {k: v for k, v in per_case.items() if _finite(v) is not None}


def _finite(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


# --------------------------------------------------------------------------- replays

def trajectory(replay: Path, max_points: int = 600) -> dict:
    """Ego and traffic positions of a replay for the in-browser playback (local metres)."""
    import numpy as np

    from testbed.replay import ReplayReader

    r = ReplayReader(replay)
    n = len(r)
    step = max(1, math.ceil(n / max_points))
    idx = slice(0, n, step)

    def col(name):
        a = np.asarray(r.column(name, 0, n))
        return a[idx]

    out = {"header": _jsonable(r.header), "t": col("t").round(2).tolist() if "t" in r.columns else None,
           "ego": {"x": col("ego/x").round(1).tolist(), "y": col("ego/y").round(1).tolist(),
                   "heading": col("ego/heading").round(3).tolist()}}
    if "traffic/x" in r.columns:
        tx, ty = col("traffic/x"), col("traffic/y")
        out["traffic"] = {"x": np.round(tx, 1).tolist(), "y": np.round(ty, 1).tolist()}
    return out


def _jsonable(obj):
    import json

    return json.loads(json.dumps(obj, default=str))


def thumbnail(replay: Path, out: Path) -> Path:
    from testbed.replay.viewer import export_video

    export_video(replay, out)
    return out
