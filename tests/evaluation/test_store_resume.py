"""The store survives a real kill -9 of the evaluator: the rerun evaluates only the missing episodes and
gives the same final table as an uninterrupted run."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from evalhelpers import needs_bwrap

from testbed.evaluation.evaluator import evaluate
from testbed.evaluation.metrics import METRIC_COLUMNS
from testbed.evaluation.store import Store
from testbed.evaluation.submission import write_template
from testbed.evaluation.suite import get_suite

ROOT = Path(__file__).resolve().parents[2]
CASES = ["--case", "head_on"]


def _count(db):
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("SELECT count(*) FROM episodes").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _table(db):
    with Store(db) as s:
        return {(r["case_id"], r["seed"]): (r["status"], r["config_hash"], r["sim_version"], r["suite_version"],
                                            tuple(r[c] for c in METRIC_COLUMNS)) for r in s.rows("dev")}


@needs_bwrap
def test_kill_9_then_resume_gives_the_same_table(tmp_path):
    sub = write_template(tmp_path / "sub")
    db = tmp_path / "killed.db"
    cmd = [sys.executable, "-m", "testbed", "evaluate", str(sub), "--suite", "dev", *CASES, "--store", str(db),
           "--no-baselines"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    while _count(db) < 1 and p.poll() is None and time.monotonic() - t0 < 120:
        time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    n_before = _count(db)
    assert n_before == 1, f"the kill came too late ({n_before} rows)"
    # the stored rows and their replays are complete
    rows = Store(db).rows("dev")
    assert all(r["replay"] and Path(r["replay"]).is_file() for r in rows)
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "1 episode(s) run, 1 already in" in out.stdout
    assert _count(db) == 2
    # an uninterrupted run of the same episodes, in process
    with Store(tmp_path / "clean.db") as clean:
        evaluate(str(sub), get_suite("dev").select(["head_on"]), clean, record=False)
    assert _table(db) == _table(tmp_path / "clean.db")
