"""Hostile submissions: each is contained and reported with the right status (needs bubblewrap).

Every policy runs through the evaluator's own code (run_episode + PolicyProcess in bwrap) on a 20-step
episode with tight limits (evalhelpers.TIGHT)."""

import os
import socket
import sqlite3
import threading

import pytest
from evalhelpers import SHORT, TIGHT, needs_bwrap, write_submission

from testbed.evaluation.evaluator import evaluate
from testbed.evaluation.runner import run_episode
from testbed.evaluation.sandbox import PolicyProcess, Zygote
from testbed.evaluation.store import Store
from testbed.evaluation.suite import Suite

pytestmark = needs_bwrap


def run(folder, limits=TIGHT, zygote=True):
    """One episode the way the evaluator runs it: a child forked by the submission's zygote sandbox (the
    zygote then serves a second, well-behaved episode: a hostile one must not break it)."""
    if not zygote:
        return run_episode(SHORT, 0, PolicyProcess(folder, limits, sandbox=True), limits)
    z = Zygote(folder, limits)
    try:
        return run_episode(SHORT, 0, z.session(), limits)
    finally:
        z.close()


def hostile(tmp_path, body_make="", body_act="", name="h"):
    src = f"""
import os, sys, time
import numpy as np

class P:
    def __init__(self):
        self.i = 0

    def reset(self, seed=None):
        self.i = 0

    def act(self, obs):
        self.i += 1
{_indent(body_act, 8)}
        return np.array([0.0, 0.5], dtype=np.float32)

def make_policy(observation_space, action_space):
{_indent(body_make, 4)}
    return P()
"""
    return write_submission(tmp_path / name, src)


def _indent(code, n):
    lines = [ln for ln in code.strip("\n").splitlines()] or ["pass"]
    return "\n".join(" " * n + ln for ln in lines)


@pytest.mark.parametrize("zygote", [True, False])
def test_well_behaved_policy_finishes(zero_submission, zygote):
    res = run(zero_submission, zygote=zygote)
    assert res.status == "finished", res.reason
    assert res.metrics["steps"] == 20 and res.metrics["late_steps"] == 0


def test_zygote_children_are_fresh_and_survive_a_crash(tmp_path):
    f = hostile(tmp_path, """
import builtins
if getattr(builtins, "_seen", False):       # state left by an earlier episode would show here
    raise RuntimeError("not a fresh interpreter state")
builtins._seen = True
open("left_behind.txt", "w").write("x")
if os.path.exists(os.path.join(os.environ["TMPDIR"], "marker")):
    raise RuntimeError("scratch not emptied")
open(os.path.join(os.environ["TMPDIR"], "marker"), "w").write("x")
""", body_act="if self.i == 10 and os.environ.get('CRASH_ONCE') is None:\n    os.environ['CRASH_ONCE'] = '1'\n    os._exit(3)")
    z = Zygote(f, TIGHT)
    try:
        results = [run_episode(SHORT, 0, z.session(), TIGHT) for _ in range(3)]
        first_pid = z.pp.proc.pid
    finally:
        z.close()
    assert [r.status for r in results] == ["crashed"] * 3, [r.reason for r in results]
    assert all("exit status 3" in r.reason for r in results)
    assert first_pid is not None


def test_socket_cannot_reach_the_host(tmp_path):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(3.0)
    port = srv.getsockname()[1]
    got = []
    th = threading.Thread(target=lambda: got.append(_accept(srv)), daemon=True)
    th.start()
    f = hostile(tmp_path, f"""
import socket
s = socket.create_connection(("127.0.0.1", {port}), timeout=2)
s.sendall(b"stolen")
""")
    res = run(f)
    th.join(5)
    srv.close()
    assert res.status == "crashed" and ("ConnectionRefused" in res.reason or "OSError" in res.reason), res.reason
    assert got == [None]  # nothing connected to the host's loopback


def _accept(srv):
    try:
        conn, _ = srv.accept()
        return conn.recv(100)
    except OSError:
        return None


@pytest.mark.parametrize("what", ["shadow", "store", "other_submission"])
def test_cannot_read_host_files(tmp_path, zero_submission, what):
    db = tmp_path / "results.db"
    sqlite3.connect(db).execute("CREATE TABLE t (secret TEXT)").connection.close()
    target = {"shadow": "/etc/shadow", "store": str(db), "other_submission": str(zero_submission / "policy.py")}[what]
    f = hostile(tmp_path, f"print(open({target!r}, 'rb').read()[:100])")
    res = run(f)
    assert res.status == "crashed" and "FileNotFoundError" in res.reason, res.reason
    assert "root:" not in res.log and "CREATE TABLE" not in res.log and "class P" not in res.log


def test_cannot_write_outside_scratch(tmp_path):
    outside = tmp_path / "pwned.txt"
    f = hostile(tmp_path, f"""
open("scratch.txt", "w").write("fine")          # its private scratch (the working directory, $TMPDIR) works
assert open(os.path.join(os.environ["TMPDIR"], "scratch.txt")).read() == "fine"
for p in ({str(outside)!r}, "/submission/pwned.txt", "/usr/pwned.txt", "/pwned.txt"):
    try:
        open(p, "w").write("x")
    except OSError:
        continue
    raise SystemExit("wrote " + p)
raise PermissionError("every write outside the scratch failed")
""")
    res = run(f)
    assert res.status == "crashed" and "every write outside the scratch failed" in res.reason, res.reason
    assert not outside.exists() and not (f / "pwned.txt").exists()


def test_fork_bomb_is_limited(tmp_path):
    f = hostile(tmp_path, """
pids = []
while True:
    pids.append(os.fork())
    if pids[-1] == 0:
        time.sleep(30)
        os._exit(0)
""")
    res = run(f)
    assert res.status == "crashed" and "BlockingIOError" in res.reason, res.reason
    # nothing of it survives: the sandbox's PID namespace died with the process group
    import time

    def left():
        return [p for p in os.listdir("/proc") if p.isdigit() and _uid(p) == 65534] if os.getuid() == 0 else []

    t = time.monotonic()
    while left() and time.monotonic() - t < 5.0:  # the kernel tears the namespace down asynchronously
        time.sleep(0.05)
    assert left() == []


def _uid(pid):
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def test_allocating_20_gb_fails_inside(tmp_path):
    f = hostile(tmp_path, "x = np.ones(20 * 2**30 // 8)")
    res = run(f)
    assert res.status == "crashed" and "MemoryError" in res.reason, res.reason


def test_infinite_loop_in_make_policy_times_out(tmp_path):
    import dataclasses

    f = hostile(tmp_path, "while True:\n    pass")
    res = run(f, dataclasses.replace(TIGHT, setup_deadline_s=2.0))
    assert res.status == "timeout" and "make_policy took longer than 2 s" in res.reason, res.reason


def test_infinite_loop_in_act_times_out(tmp_path):
    import dataclasses

    f = hostile(tmp_path, body_act="if self.i == 3:\n    while True:\n        pass")
    res = run(f, dataclasses.replace(TIGHT, step_deadline_s=0.1, max_late_steps=3))
    assert res.status == "timeout" and "act() hangs" in res.reason, res.reason
    assert res.metrics["steps"] == 4 and res.metrics["late_steps"] == 2


def test_pickle_disguised_as_weights_is_rejected(tmp_path):
    import pickle

    f = hostile(tmp_path, "w = np.load(os.path.join(os.path.dirname(__file__), 'weights.npz'), allow_pickle=True)")
    (f / "weights.npz").write_bytes(pickle.dumps({"boom": 1}))
    with Store(tmp_path / "r.db") as store:
        s = evaluate(str(f), Suite("t", "1", (SHORT,)), store, limits=TIGHT)
        (row,) = store.rows("t")
    assert s.statuses == {"rejected": 1}
    assert row["status"] == "rejected" and "is a pickle disguised as .npz weights" in row["reason"]


def test_printing_1_gb_is_capped(tmp_path):
    f = hostile(tmp_path, """
chunk = "x" * (1 << 20)
for _ in range(1024):
    sys.stdout.write(chunk)
""")
    res = run(f)
    assert res.status == "crashed" and "output limit" in res.reason, res.reason
    assert len(res.log) <= TIGHT.log_excerpt_bytes + 100


@pytest.mark.parametrize("action, why", [("np.array([np.nan, 0.0])", "non-finite"),
                                         ("np.zeros(3, dtype=np.float32)", "shape (3,)"),
                                         ("np.array([2.0, 0.0])", "outside [-1, 1]"),
                                         ("'full ahead'", "not an array of numbers")])
def test_invalid_actions(tmp_path, action, why):
    f = hostile(tmp_path, body_act=f"if self.i == 5:\n    return {action}")
    res = run(f)
    assert res.status == "invalid_action" and why in res.reason, res.reason
    assert res.metrics["steps"] == 4 and res.metrics["quality"] == 0.0


def test_sleeping_past_the_step_deadline_holds_the_last_command(tmp_path):
    import dataclasses

    f = hostile(tmp_path, body_act="if self.i in (3, 8):\n    time.sleep(0.4)")
    res = run(f, dataclasses.replace(TIGHT, step_deadline_s=0.15))
    assert res.status == "finished", res.reason
    assert res.metrics["late_steps"] >= 2 and res.metrics["steps"] == 20


def test_killing_its_parent_does_not_reach_the_evaluator(tmp_path):
    me = os.getpid()
    f = hostile(tmp_path, f"""
import signal
for pid in (os.getppid(), {me}, 1, -1):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
""")
    res = run(f)
    assert res.status == "finished", res.reason  # it could not signal anything outside its sandbox
    assert res.metrics["steps"] == 20


def test_garbage_on_the_reply_pipe_is_a_protocol_violation(tmp_path):
    f = hostile(tmp_path, body_act="""
if self.i == 2:
    for fd in map(int, os.listdir("/proc/self/fd")):
        if fd > 2:
            try:
                os.write(fd, b"TB\\x01\\x00\\xff\\xff\\xff\\x7f" + b"x" * 64)
            except OSError:
                pass
""")
    res = run(f)
    assert res.status == "crashed" and "protocol violation" in res.reason and "exceeds the limit" in res.reason, res.reason
