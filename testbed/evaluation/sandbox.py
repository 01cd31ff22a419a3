"""The policy process and its sandbox.

:class:`PolicyProcess` starts :mod:`testbed.evaluation.worker` in a separate process and talks to it over
two pipes (:mod:`testbed.evaluation.protocol`). With ``sandbox=True`` (the default) the process runs in
bubblewrap (Debian package ``bubblewrap``):

- namespaces: network (only its own loopback: no connection leaves it), PID (it sees only itself and
  cannot signal the evaluator), IPC, UTS, cgroup; ``--die-with-parent``, ``--new-session``;
- file system: an empty root with read-only binds of ``/usr`` (+ the ``/lib``, ``/bin`` links), the Python
  installation and virtualenv, the testbed's own packages (under ``/opt/testbed``) and the submission
  (``/submission``, a staged copy); a size-limited tmpfs ``/tmp`` holding the episode's private scratch
  folder ``/tmp/episode`` (the working directory, ``$HOME`` and ``$TMPDIR``). No ``/etc``, no home, no
  results store, no other submission;
- started by root, the worker drops to uid/gid 65534 before the policy is imported (so that the process
  limit applies: root is exempt from ``RLIMIT_NPROC``); ``/tmp`` itself stays root's;
- rlimits: CPU seconds, address space, processes, file size (which also caps the captured
  stdout/stderr: they go to a log file; past ``fsize_bytes`` writes fail and the episode is reported
  with "output limit");
- :class:`Zygote`: one sandbox per submission and evaluator process imports everything once and forks a
  fresh child per episode (the child drops privileges; afterwards everything it left running is killed
  and the scratch is emptied), so a new episode costs a fork instead of a new interpreter.

Without ``bwrap`` on ``PATH`` :func:`require_sandbox` refuses; ``--no-sandbox`` runs the worker as a plain
subprocess with the same rlimits (trusted code only).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .protocol import FrameReader, PeerClosed, ProtocolError, RecvTimeout, box_spec, encode, write_all


class SandboxUnavailable(ValueError):
    """bubblewrap is missing and ``--no-sandbox`` was not given."""


class PolicyFailure(Exception):
    """The policy process failed; ``status`` is crashed, timeout or invalid_action."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """Time and resource limits of one policy process (one episode)."""

    step_deadline_s: float = 1.0  # soft: a later action is replaced by the last command (counted)
    max_late_steps: int = 20  # this many late steps in a row: the policy is hung -> timeout
    setup_deadline_s: float = 60.0  # hard: start + make_policy + first reset
    episode_deadline_s: float = 900.0  # hard: wall time of one episode
    submission_deadline_s: float = 4 * 3600.0  # hard: wall time of all episodes of a submission in one run
    cpu_s: int = 900  # RLIMIT_CPU of the policy process
    memory_bytes: int = 4 << 30  # RLIMIT_AS
    nproc: int = 32  # RLIMIT_NPROC (processes + threads of the sandbox user)
    fsize_bytes: int = 16 << 20  # RLIMIT_FSIZE: caps the log file and every file written in scratch
    scratch_bytes: int = 64 << 20  # size of the private /tmp
    log_excerpt_bytes: int = 4096  # how much of the log is kept with each result


DEFAULT_LIMITS = Limits()


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


_USABLE: dict[str, str] = {}


def bwrap_problem() -> str | None:
    """None when bubblewrap is installed and can create the sandbox's namespaces here, else why not."""
    path = bwrap_path()
    if path is None:
        return "bubblewrap (bwrap) is not installed"
    if path not in _USABLE:
        try:
            r = subprocess.run([path, "--unshare-net", "--unshare-pid", "--die-with-parent", "--ro-bind", "/", "/",
                                "--proc", "/proc", "--dev", "/dev", "true"], capture_output=True, text=True, timeout=30)  # fmt: skip
            _USABLE[path] = "" if r.returncode == 0 else (r.stderr.strip().splitlines() or ["failed"])[-1]
        except (OSError, subprocess.TimeoutExpired) as exc:
            _USABLE[path] = str(exc)
    why = _USABLE[path]
    return f"bubblewrap cannot create a sandbox here ({why}; user namespaces disabled?)" if why else None


def require_sandbox(sandbox: bool) -> None:
    if not sandbox:
        return
    why = bwrap_problem()
    if why:
        raise SandboxUnavailable(f"{why}: refusing to run untrusted policy code without a sandbox; install "
                                 "bubblewrap (apt-get install bubblewrap) or pass --no-sandbox for code you trust")


def _source_roots() -> dict[str, Path]:
    """The testbed's own packages the worker imports (bound read-only under /opt/testbed)."""
    import agents
    import harbour_maps
    import testbed
    import vessels

    return {m.__name__: Path(m.__file__).resolve().parent for m in (agents, testbed, vessels, harbour_maps)}


def _python_roots() -> list[Path]:
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    exe = Path(sys.executable)
    roots.add(exe.resolve().parent.parent)
    for p in sys.path:  # site-packages outside the prefixes (user site, editable paths are not needed)
        if p and p.endswith("site-packages") and Path(p).is_dir():
            roots.add(Path(p).resolve())
    out = []
    for r in sorted(roots, key=lambda p: len(p.parts)):
        if not any(r.is_relative_to(o) for o in out) and not r.is_relative_to("/usr"):
            out.append(r)
    return out


def _python_exe() -> str:
    """The interpreter by a path that exists inside the sandbox (the virtualenv's resolved folder)."""
    venv = Path(sys.prefix).resolve()
    exe = venv / "bin" / Path(sys.executable).name
    return str(exe if exe.exists() else Path(sys.executable).resolve())


def _dirs(path: Path, made: set) -> list[str]:
    """``--dir`` arguments (mode 0755) for the parents of a bind destination (bwrap makes them 0700)."""
    args = []
    for parent in reversed(path.parents):
        s = str(parent)
        if s == "/" or s in made:
            continue
        made.add(s)
        args += ["--perms", "0755", "--dir", s]
    return args


def bwrap_command(submission: Path, inner: list[str], limits: Limits) -> list[str]:
    cmd = [bwrap_path() or "bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
           "--unshare-cgroup-try", "--die-with-parent", "--new-session",
           "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/bin", "/bin"]  # fmt: skip
    if Path("/lib64").exists():
        cmd += ["--symlink", "usr/lib64", "/lib64"]
    # the private /tmp first: the interpreter, the packages or the checkout may themselves live under /tmp
    # (a CI clone, a venv in a temporary folder); their read-only binds below then sit on top of it
    cmd += ["--size", str(limits.scratch_bytes), "--perms", "0755" if os.getuid() == 0 else "1777",
            "--tmpfs", "/tmp"]  # fmt: skip
    made: set[str] = {"/tmp"}
    for root in _python_roots():
        cmd += _dirs(root, made) + ["--ro-bind", str(root), str(root)]
    cmd += ["--perms", "0755", "--dir", "/opt", "--perms", "0755", "--dir", "/opt/testbed"]
    for name, path in _source_roots().items():
        cmd += ["--ro-bind", str(path), f"/opt/testbed/{name}"]
    import atomicio  # the one top-level module the packages import

    cmd += ["--ro-bind", str(Path(atomicio.__file__).resolve()), "/opt/testbed/atomicio.py"]
    cmd += ["--ro-bind", str(submission), "/submission",
            "--proc", "/proc", "--dev", "/dev",
            "--chdir", "/tmp",
            "--setenv", "PYTHONPATH", "/opt/testbed", "--setenv", "HOME", "/tmp", "--setenv", "TESTBED_IN_SANDBOX", "1",
            "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--setenv", "OMP_NUM_THREADS", "1"]  # fmt: skip
    if os.getuid() == 0:  # the worker drops to the sandbox user itself (a zygote kills and cleans up as root)
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_KILL", "--cap-add", "CAP_CHOWN",
                "--setenv", "TESTBED_SANDBOX_DROP", "1"]  # fmt: skip
    return cmd + ["--"] + inner


class PolicyProcess:
    """One policy in its own (sandboxed) process, for one episode.

    ``start(observation_space, action_space)`` (hard ``setup_deadline_s``), ``reset(seed)``,
    ``act(i, obs)`` -> action array, or None when it missed the soft step deadline; ``close()``.
    Failures raise :class:`PolicyFailure` with a status and a one-line reason.
    """

    def __init__(self, submission: str | os.PathLike, limits: Limits | None = None, sandbox: bool = True,
                 zygote: Zygote | None = None, zygote_mode: bool = False):  # fmt: skip
        self.submission = Path(submission).resolve()
        self.limits = limits or DEFAULT_LIMITS
        self.sandbox = sandbox
        self.proc: subprocess.Popen | None = None
        self.log_path: str | None = None
        self.late_in_row = 0
        self.zygote = zygote  # this policy is a forked child of that zygote's sandbox
        self.zygote_mode = zygote_mode  # this process IS a zygote
        self.hung = False
        self.child_done = False

    # -- process --------------------------------------------------------------------------------------
    def _preexec(self):
        lim = self.limits
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CPU, (lim.cpu_s, lim.cpu_s + 5))
        resource.setrlimit(resource.RLIMIT_AS, (lim.memory_bytes, lim.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (lim.fsize_bytes, lim.fsize_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def start(self, observation_space, action_space) -> None:
        """Launch (unless :meth:`launch` already did) and call ``make_policy`` (hard setup deadline)."""
        if self.proc is None:
            self.launch()
        self.t_start = time.monotonic()
        self._call({"op": "init", "observation_space": box_spec(observation_space),
                    "action_space": box_spec(action_space)}, self.limits.setup_deadline_s, "make_policy")  # fmt: skip

    def launch(self) -> PolicyProcess:
        """Start the process only: it imports the loader and waits for ``init``. The evaluator launches the
        next episode's process while the current episode runs, so that the start costs no wall time."""
        require_sandbox(self.sandbox)
        if self.zygote is not None:
            z = self.zygote.ensure()
            self.proc, self.w, self.reader, self.r, self.log_path = z.proc, z.w, z.reader, z.r, z.log_path
            self._send({"op": "fork"})
            return self
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        fd, self.log_path = tempfile.mkstemp(prefix="policy-", suffix=".log")
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
        if self.sandbox:
            inner = [_python_exe(), "-m", "testbed.evaluation.worker", "--in", str(req_r), "--out", str(rep_w),
                     "--spec", "/submission"] + (["--zygote"] if self.zygote_mode else [])  # fmt: skip
            cmd = bwrap_command(self.submission, inner, self.limits)
            if os.getuid() != 0:
                env["TESTBED_SANDBOX_NPROC"] = str(self.limits.nproc + _user_processes())
            else:
                env["TESTBED_SANDBOX_NPROC"] = str(self.limits.nproc)
            cwd = "/"
        else:
            cmd = [sys.executable, "-m", "testbed.evaluation.worker", "--in", str(req_r), "--out", str(rep_w),
                   "--spec", str(self.submission)]  # fmt: skip
            env["PYTHONPATH"] = os.pathsep.join(sorted({str(p.parent) for p in _source_roots().values()}))
            self._scratch = tempfile.mkdtemp(prefix="policy-scratch-")
            cwd = self._scratch
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, pass_fds=(req_r, rep_w),
                                         env=env, cwd=cwd, preexec_fn=self._preexec, close_fds=True)  # fmt: skip
        finally:
            os.close(fd)
            os.close(req_r)
            os.close(rep_w)
        self.w = req_w
        self.reader = FrameReader(rep_r, max_bytes=1 << 20)
        self.r = rep_r
        return self

    def _send(self, msg: dict) -> None:
        try:
            write_all(self.w, encode(msg))
        except (BrokenPipeError, OSError):
            raise self._died("while sending") from None

    def _recv(self, timeout: float) -> dict:
        try:
            msg = self.reader.recv(timeout)
        except PeerClosed:
            if self.zygote is not None:
                self.zygote.dead = True
            raise self._died("") from None
        except ProtocolError as exc:
            if self.zygote is not None:
                self.zygote.kill()
            raise PolicyFailure("crashed", f"protocol violation: {exc}") from None
        if "child_exit" in msg:
            self.child_done = True
            code = msg["child_exit"]
            reason = _exit_reason(int(code)) if isinstance(code, int) else f"exit {code!r}"
            capped = self._capped()
            tail = self.log_tail(600).strip().splitlines()
            reason += capped or (f"; last log line: {tail[-1][:200]}" if tail else "")
            raise PolicyFailure("crashed", f"policy process exited ({reason})")
        return msg

    def _call(self, msg: dict, timeout: float, what: str) -> dict:
        self._send(msg)
        try:
            rep = self._recv(timeout)
        except RecvTimeout:
            self.hung = True
            raise PolicyFailure("timeout", f"{what} took longer than {timeout:g} s") from None
        if "error" in rep:
            raise PolicyFailure("crashed", f"{what}: {rep['error']}{self._capped()}")
        return rep

    def _capped(self) -> str:
        """A note when the policy's output reached the file-size limit (Python then gets EFBIG on write)."""
        try:
            if self.log_path and os.path.getsize(self.log_path) >= self.limits.fsize_bytes:
                return f" (output limit: stdout/stderr reached {self.limits.fsize_bytes} bytes and were cut)"
        except OSError:
            pass
        return ""

    def reset(self, seed: int) -> None:
        self._call({"op": "reset", "seed": int(seed)}, self.limits.setup_deadline_s, "reset")

    def act(self, i: int, obs):
        """The action for step ``i``, or None when it was late (stale answers are dropped)."""
        self._send({"op": "act", "i": int(i), "obs": obs})
        deadline = time.monotonic() + self.limits.step_deadline_s
        while True:
            try:
                rep = self._recv(max(0.0, deadline - time.monotonic()))
            except RecvTimeout:
                self.late_in_row += 1
                if self.late_in_row >= self.limits.max_late_steps:
                    self.hung = True
                    raise PolicyFailure("timeout", f"no action within {self.limits.step_deadline_s:g} s for "
                                                   f"{self.late_in_row} steps in a row (act() hangs)") from None  # fmt: skip
                return None
            if "error" in rep:
                raise PolicyFailure("crashed", f"act: {rep['error']}")
            if "invalid" in rep:
                raise PolicyFailure("invalid_action", str(rep["invalid"]))
            if rep.get("i") == i:
                self.late_in_row = 0
                return rep.get("act")

    def _died(self, when: str) -> PolicyFailure:
        code = None
        if self.proc is not None:
            try:
                code = self.proc.wait(timeout=0.2 if self.zygote is not None else 2.0)
            except subprocess.TimeoutExpired:
                pass
        reason = _exit_reason(code)
        capped = self._capped()
        tail = self.log_tail(600).strip().splitlines()
        if capped:
            reason += capped
        elif tail:
            reason += f"; last log line: {tail[-1][:200]}"
        return PolicyFailure("crashed", f"policy process exited {when}{' ' if when else ''}({reason})")

    def log_tail(self, n: int | None = None) -> str:
        n = n or self.limits.log_excerpt_bytes
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - n))
                data = fh.read(n)
        except OSError:
            return ""
        return (f"[... {size - n} bytes cut ...]\n" if size > n else "") + data.decode("utf-8", "replace")

    def close(self) -> str:
        """Stop the process (politely, then by killing its process group); returns the log excerpt."""
        if self.zygote is not None:
            return self._close_session()
        if self.proc is not None:
            try:
                write_all(self.w, encode({"op": "close"}))
            except OSError:
                pass
            try:
                self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
            self.kill()
        log = self.log_tail()
        for fd in (getattr(self, "w", None), getattr(self, "r", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.w = self.r = None
        if self.log_path:
            try:
                os.unlink(self.log_path)
            except OSError:
                pass
            self.log_path = None
        if getattr(self, "_scratch", None):
            shutil.rmtree(self._scratch, ignore_errors=True)
        return log

    def _close_session(self) -> str:
        z = self.zygote
        if self.proc is not None and not self.child_done and not z.dead:
            if self.hung:
                z.kill()
            else:
                try:
                    write_all(self.w, encode({"op": "close"}))
                    end = time.monotonic() + 2.0
                    while not self.child_done and time.monotonic() < end:
                        try:
                            msg = self.reader.recv(max(0.0, end - time.monotonic()))
                        except (RecvTimeout, ProtocolError, PeerClosed):
                            break
                        self.child_done = "child_exit" in msg
                except OSError:
                    pass
                if not self.child_done:
                    z.kill()
        log = self.log_tail()
        self.proc = None
        return log

    def kill(self) -> None:
        if self.zygote is not None:
            self.zygote.kill()
            return
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # bwrap and everything it started (own session)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                pass


class Zygote:
    """One sandbox that serves many episodes of one submission: the worker imports everything once and
    forks a fresh child per episode (no submitted code has run in the parent; the child drops to the
    sandbox user and works in an emptied scratch folder; whatever it leaves running is killed). A
    crash ends only the child; a hung child takes the sandbox down and the next episode starts anew."""

    def __init__(self, submission: str | os.PathLike, limits: Limits | None = None):
        self.submission = submission
        self.limits = limits or DEFAULT_LIMITS
        self.pp: PolicyProcess | None = None
        self.dead = True

    def ensure(self) -> PolicyProcess:
        if self.dead or self.pp is None or self.pp.proc is None or self.pp.proc.poll() is not None:
            self.close()
            self.pp = PolicyProcess(self.submission, self.limits, sandbox=True, zygote_mode=True).launch()
            self.dead = False
        return self.pp

    def session(self) -> PolicyProcess:
        """A policy handle for one episode (launch forks the child)."""
        return PolicyProcess(self.submission, self.limits, sandbox=True, zygote=self)

    def kill(self) -> None:
        self.dead = True
        if self.pp is not None:
            self.pp.kill()

    def close(self) -> None:
        self.dead = True
        if self.pp is not None:
            self.pp.close()
            self.pp = None


_ZYGOTES: dict[tuple, Zygote] = {}


def zygote_for(submission: str, limits: Limits) -> Zygote:
    """The zygote of this process for (submission folder, limits), made on first use."""
    key = (str(Path(submission).resolve()), limits)
    z = _ZYGOTES.get(key)
    if z is None:
        if not _ZYGOTES:
            import atexit

            atexit.register(close_zygotes)
        z = _ZYGOTES[key] = Zygote(submission, limits)
    return z


def close_zygotes() -> None:
    while _ZYGOTES:
        _, z = _ZYGOTES.popitem()
        z.close()


def _exit_reason(code) -> str:
    if code is None:
        return "still running"
    if code >= 0:
        return f"exit status {code}"
    sig = -code
    names = {signal.SIGXCPU: "CPU time limit", signal.SIGXFSZ: "file size / output limit",
             signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault"}  # fmt: skip
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    return f"{name}: {names[sig]}" if sig in names else name


def _user_processes() -> int:
    uid = os.getuid()
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n
