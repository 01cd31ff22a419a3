"""Evaluation workers: processes that take jobs from the store's queue under a lease.

A worker claims the oldest queued job (or one whose lease expired because its worker died), runs
the submission check and the sandboxed evaluator through :mod:`testbed.server.worker`, renews its
lease with heartbeats, copies finished episodes into the server store as they appear, and finally
scores the submission. ``kill -9`` of a worker loses nothing: the lease runs out, another worker
takes the job over, and the evaluator resumes from its results store with only the missing episodes.
Infrastructure failures (the evaluator itself dying) are retried up to ``workers.max_attempts`` times
and are never charged to the team's quota.

``Supervisor`` (used by ``testbed serve``) keeps ``workers.count`` worker processes alive.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from testbed.server import db, worker
from testbed.server.config import EventConfig, load_event


def eval_key(sub) -> str:
    return sub["id"] if not sub["evals"] else f"{sub['id']}-r{sub['evals']}"


class Worker:
    def __init__(self, cfg: EventConfig, backend: str = "local", ray_address: str = "", name: str = "w0"):
        self.cfg = cfg
        self.backend = backend
        self.ray_address = ray_address
        self.con = db.connect(cfg.db_path, max(cfg.store.busy_timeout_ms, 5000))
        self.owner = db.worker_identity()
        self.name = name
        self.stop = False
        self._forget_dead_workers()
        self._beat(None, "idle")

    def _forget_dead_workers(self) -> None:
        host = self.owner.rsplit(":", 1)[0]
        for r in self.con.execute("SELECT id, pid FROM workers WHERE host=?", (host,)).fetchall():
            if not db._alive(r["pid"]):
                try:
                    with db.tx(self.con):
                        self.con.execute("DELETE FROM workers WHERE id=?", (r["id"],))
                except db.StoreBusy:
                    return

    def _beat(self, job_id, state):
        now = time.time()
        try:
            with db.tx(self.con):
                self.con.execute(
                    "INSERT INTO workers (id, host, pid, backend, started_at, heartbeat_at, job_id, state) "
                    "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET heartbeat_at=excluded.heartbeat_at, "
                    "job_id=excluded.job_id, state=excluded.state, pid=excluded.pid, backend=excluded.backend",
                    (self.owner, self.owner.rsplit(":", 1)[0], os.getpid(), self.backend, now, now, job_id, state))
        except db.StoreBusy:
            pass

    def run_forever(self, poll_s: float = 0.5) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stop", True))
        last = 0.0
        while not self.stop:
            job = None
            try:
                job = db.claim_job(self.con, self.owner, self.cfg.workers.lease_s)
            except db.StoreBusy:
                pass
            if job is None:
                if time.time() - last > self.cfg.workers.heartbeat_s:
                    self._beat(None, "idle")
                    last = time.time()
                time.sleep(poll_s)
                continue
            try:
                self.process(job)
            except Exception as exc:  # a bug or an outage of ours: never the team's fault, never fatal
                traceback.print_exc()
                sub = self.con.execute("SELECT * FROM submissions WHERE id=?", (job["submission_id"],)).fetchone()
                if sub is not None:
                    try:
                        self._retry_or_fail(job, sub, f"infrastructure error: {type(exc).__name__}")
                    except Exception:
                        traceback.print_exc()
        self._beat(None, "stopped")

    # ------------------------------------------------------------------ one job
    def process(self, job) -> None:
        cfg, con = self.cfg, self.con
        sub = con.execute("SELECT * FROM submissions WHERE id=?", (job["submission_id"],)).fetchone()
        self._beat(job["id"], "busy")
        if sub is None or sub["status"] == "cancelled":
            self._finish_job(job, "cancelled")
            return
        try:
            phase = cfg.phase(sub["phase"])
        except KeyError:
            self._fail(job, sub, f"phase {sub['phase']!r} is no longer in the event config", charged=False)
            return
        sdir = cfg.root / "submissions" / sub["id"]
        log_path = cfg.root / "logs" / f"{sub['id']}.log"
        key = eval_key(sub)
        baseline = sub["sha256"].startswith(BASELINE_PREFIX)
        target = worker.baseline_spec(sub["sha256"][len(BASELINE_PREFIX):]) if baseline else sdir
        if baseline:
            key = BASELINE_PREFIX + str(target)  # the evaluator's own id: shared with the score's baselines
        try:
            checked = cfg.root / "checked" / sub["id"]  # outside the team's folder: a zip cannot fake it
            if not baseline and not checked.exists():
                problems = worker.check(sdir, sandbox=cfg.workers.sandbox)
                if problems:
                    self._write_log(log_path, "submission check failed:\n" + "\n".join(problems))
                    with db.tx(con):
                        con.execute("UPDATE submissions SET status='rejected', finished_at=?, message=? "
                                    "WHERE id=?", (time.time(), "; ".join(problems)[:2000], sub["id"]))
                        self._job_state(job, "done")
                    return
                checked.parent.mkdir(parents=True, exist_ok=True)
                checked.write_text("ok\n")
            total = worker.suite_total(phase)
            with db.tx(con):
                con.execute("UPDATE submissions SET episodes_total=? WHERE id=?", (total, sub["id"]))
            proc = worker.start(target, key=key, phase=phase, store=cfg.results_path, backend=self.backend,
                                ray_address=self.ray_address, workers=cfg.workers.episode_workers,
                                sandbox=cfg.workers.sandbox, log_path=log_path)
        except worker.Unavailable as exc:
            self._write_log(log_path, str(exc))
            self._retry_or_fail(job, sub, str(exc))
            return
        except Exception as exc:  # an infrastructure error, never the team's: retried, not charged
            self._write_log(log_path, "".join(traceback.format_exception(exc))[-4000:])
            self._retry_or_fail(job, sub, f"infrastructure error: {type(exc).__name__}")
            return
        deadline = time.time() + cfg.workers.submission_timeout_s
        while True:
            try:
                rc = proc.wait(timeout=cfg.workers.heartbeat_s)
            except subprocess.TimeoutExpired:
                rc = None
            try:
                mine = db.renew_lease(con, job["id"], self.owner, cfg.workers.lease_s)
            except db.StoreBusy:
                mine = True
            if not mine or time.time() > deadline or self.stop:
                _kill(proc)
                if mine and time.time() > deadline:
                    self.sync(sub, key, phase)
                    self._fail(job, sub, "evaluation exceeded workers.submission_timeout_s", charged=True)
                elif mine:  # stopping: give the job back for the next worker
                    with db.tx(con):
                        con.execute("UPDATE jobs SET state='queued', lease_owner=NULL WHERE id=?", (job["id"],))
                return
            self.sync(sub, key, phase)
            self._beat(job["id"], "busy")
            if rc is not None:
                break
        if rc != 0:
            self._retry_or_fail(job, sub, f"the evaluator exited with status {rc}")
            return
        episodes = self.sync(sub, key, phase)
        if len(episodes) < total:  # the evaluator stopped early without saying why: ours to retry
            self._retry_or_fail(job, sub, f"the evaluator stored {len(episodes)} of {total} episodes")
            return
        if self.cfg.workers.thumbnails:
            self.thumbnails(sub["id"], episodes)
        score, per_case = worker.scores(cfg.results_path, key, phase)
        with db.tx(con):
            con.execute("UPDATE submissions SET status='finished', finished_at=?, score=?, case_scores=? "
                        "WHERE id=? AND status='running'",
                        (time.time(), score, json.dumps(per_case), sub["id"]))
            self._job_state(job, "done")

    def sync(self, sub, key, phase) -> list:
        episodes = worker.results(self.cfg.results_path, key, phase)
        try:
            with db.tx(self.con):
                for e in episodes:
                    self.con.execute(
                        "INSERT INTO episodes (submission_id, idx, case_name, seed, status, score, metrics, replay) "
                        "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(submission_id, idx) DO UPDATE SET "
                        "case_name=excluded.case_name, seed=excluded.seed, status=excluded.status, "
                        "score=excluded.score, metrics=excluded.metrics, replay=excluded.replay",
                        (sub["id"], e.idx, e.case, e.seed, e.status, e.score, json.dumps(e.metrics, default=str),
                         e.replay))
                self.con.execute("UPDATE submissions SET episodes_done=? WHERE id=?", (len(episodes), sub["id"]))
        except db.StoreBusy:
            pass
        return episodes

    def thumbnails(self, sub_id, episodes) -> None:
        out_dir = self.cfg.root / "thumbs" / sub_id
        seen = set()
        for e in episodes:  # the first episode of each case
            if not e.replay or not Path(e.replay).exists() or e.case in seen:
                continue
            seen.add(e.case)
            out = out_dir / f"{e.idx}.gif"
            try:
                if not out.exists():
                    worker.thumbnail(Path(e.replay), out)
                with db.tx(self.con):
                    self.con.execute("UPDATE episodes SET thumbnail=? WHERE submission_id=? AND idx=?",
                                     (str(out), sub_id, e.idx))
            except Exception as exc:  # a missing thumbnail is not a failed evaluation
                print(f"worker {self.name}: thumbnail of {sub_id}/{e.idx} failed: {exc}", file=sys.stderr)

    def _write_log(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text.rstrip() + "\n")

    def _job_state(self, job, state):
        self.con.execute("UPDATE jobs SET state=?, updated_at=?, lease_owner=NULL WHERE id=?",
                         (state, time.time(), job["id"]))

    def _finish_job(self, job, state):
        with db.tx(self.con):
            self._job_state(job, state)

    def _fail(self, job, sub, message, charged):
        with db.tx(self.con):
            self.con.execute("UPDATE submissions SET status='failed', finished_at=?, message=?, charged=? "
                             "WHERE id=?", (time.time(), message, 1 if charged else 0, sub["id"]))
            self._job_state(job, "failed")

    def _retry_or_fail(self, job, sub, message):
        if job["attempts"] >= self.cfg.workers.max_attempts:
            self._fail(job, sub, f"{message} (after {job['attempts']} attempts; not charged)", charged=False)
            return
        with db.tx(self.con):  # back to the queue; it resumes from the evaluator's store
            self.con.execute("UPDATE jobs SET state='queued', lease_owner=NULL, updated_at=? WHERE id=?",
                             (time.time(), job["id"]))
            self.con.execute("UPDATE submissions SET message=? WHERE id=?", (f"retrying: {message}", sub["id"]))


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        pass


# --------------------------------------------------------------------------- supervisor

class Supervisor:
    """Keeps ``count`` worker processes running; restarts one that died (e.g. ``kill -9``)."""

    def __init__(self, cfg_path: str, count: int, backend: str, ray_address: str):
        self.cfg_path, self.count, self.backend, self.ray_address = cfg_path, count, backend, ray_address
        self.procs: list[subprocess.Popen | None] = [None] * count
        self.restarts = 0
        self.started = [0.0] * count
        self.backoff = [0.0] * count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="worker-supervisor", daemon=True)

    def _spawn(self, i: int) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "testbed.server.jobs", self.cfg_path, "--name", f"w{i}",
               "--backend", self.backend]
        if self.ray_address:
            cmd += ["--ray-address", self.ray_address]
        self.started[i] = time.monotonic()
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, preexec_fn=worker._die_with_parent,
                                env=worker.child_env())

    def start(self) -> None:
        for i in range(self.count):
            self.procs[i] = self._spawn(i)
        self._thread.start()

    def _loop(self) -> None:
        died: dict[int, float] = {}
        while not self._stop.wait(0.5):
            now = time.monotonic()
            for i, p in enumerate(self.procs):
                if p is None or p.poll() is None or self._stop.is_set():
                    continue
                if i not in died:  # just died: a worker that dies right after its start backs off
                    died[i] = now
                    quick = now - self.started[i] < 10.0
                    self.backoff[i] = min(30.0, 2 * self.backoff[i] + 1.0) if quick else 0.0
                    print(f"testbed serve: worker w{i} (pid {p.pid}) exited with {p.returncode}; restarting"
                          + (f" in {self.backoff[i]:.0f} s" if self.backoff[i] else ""), file=sys.stderr)
                if now - died[i] >= self.backoff[i]:
                    del died[i]
                    self.restarts += 1
                    self.procs[i] = self._spawn(i)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p is not None and p.poll() is None]

    def stop(self) -> None:
        self._stop.set()
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.terminate()
        for p in self.procs:
            if p is not None:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.server.jobs", description="one evaluation worker")
    ap.add_argument("event")
    ap.add_argument("--name", default="w0")
    ap.add_argument("--backend", default="local", choices=["local", "ray"])
    ap.add_argument("--ray-address", default="")
    a = ap.parse_args(argv)
    cfg = load_event(a.event)
    Worker(cfg, a.backend, a.ray_address, a.name).run_forever()
    return 0



def ensure_baselines(cfg: EventConfig, con) -> list[str]:
    """Queue each configured baseline (autopilot, do-nothing) once per phase as a reference row."""
    notes = []
    for phase in cfg.phases:
        try:
            worker.suite_total(phase)
        except worker.Unavailable as exc:
            notes.append(f"{exc}; its evaluations fail (not charged) until this is fixed")
            continue
        for name in cfg.baselines:
            row = con.execute("SELECT id FROM teams WHERE name=? AND kind='baseline'", (name,)).fetchone()
            team_id = row["id"] if row else db.add_team(con, name, kind="baseline")[0]
            if con.execute("SELECT 1 FROM submissions WHERE team_id=? AND phase=?",
                           (team_id, phase.name)).fetchone():
                continue
            with db.tx(con):
                sub_id = "s" + os.urandom(6).hex()
                con.execute("INSERT INTO submissions (id, team_id, phase, name, sha256, size, status, charged, "
                            "created_at) VALUES (?,?,?,?,?,0,'queued',0,?)",
                            (sub_id, team_id, phase.name, f"{name} baseline", BASELINE_PREFIX + name, time.time()))
                db.enqueue(con, sub_id)
            notes.append(f"queued the {name} baseline for phase {phase.name}")
    return notes


BASELINE_PREFIX = "baseline:"


if __name__ == "__main__":
    sys.exit(main())
