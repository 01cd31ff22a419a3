"""The policy process: loads a policy with the one loader (:func:`agents.loader.load_policy`) and answers
the evaluator's requests over two pipes (framing: :mod:`testbed.evaluation.protocol`).

Started by :class:`testbed.evaluation.sandbox.PolicyProcess` inside bubblewrap as
``python -m <pkg>.worker --in 3 --out 4 --spec /submission``. Before any submitted code runs it drops
root (to uid/gid 65534, when the sandbox was started by root and ``TESTBED_SANDBOX_DROP=1``) and sets
the process limit (``TESTBED_SANDBOX_NPROC``); the CPU, address-space and file-size limits were set by
the evaluator before ``exec``. The policy's own stdout and stderr are the evaluator's capped log file;
the protocol uses separate descriptors.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import traceback

import numpy as np

from .protocol import FrameReader, PeerClosed, encode, write_all

SANDBOX_UID = 65534
SCRATCH = "/tmp/episode"


def _drop_privileges() -> None:
    if os.environ.get("TESTBED_SANDBOX_DROP") == "1" and os.getuid() == 0:
        os.setgroups([])
        os.setgid(SANDBOX_UID)
        os.setuid(SANDBOX_UID)
    nproc = os.environ.get("TESTBED_SANDBOX_NPROC")
    if nproc:
        n = int(nproc)
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))


def _one_line(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {str(exc)[:300]}{where}"


def _space(spec):
    from gymnasium.spaces import Box

    return Box(low=spec["low"], high=spec["high"], dtype=np.dtype(spec["dtype"]))


def serve(reader: FrameReader, out: int, spec: str) -> int:
    """Answer init / reset / act / close for one policy until ``close`` or the pipe closes."""
    from agents.loader import load_policy

    def send(msg):
        write_all(out, encode(msg))

    policy = None
    act_fn = None
    while True:
        try:
            msg = reader.recv()
        except PeerClosed:
            return 0
        op = msg.get("op")
        try:
            if op == "init":
                policy = load_policy(spec, _space(msg["observation_space"]), _space(msg["action_space"]))
                # a submission's own act(), unwrapped, so that the evaluator sees and classifies what it returns
                act_fn = getattr(policy, "inner", policy).act
                send({"ok": True})
            elif op == "reset":
                policy.reset(msg.get("seed"))
                send({"ok": True})
            elif op == "act":
                a = act_fn(msg["obs"])
                try:
                    arr = np.asarray(a)
                    if arr.dtype.kind not in "biuf":
                        raise TypeError
                except Exception:
                    send({"i": msg["i"], "invalid": f"act() returned {type(a).__name__}, not an array of numbers"})
                    continue
                send({"i": msg["i"], "act": arr})
            elif op == "close":
                return 0
            else:
                send({"error": f"unknown op {op!r}"})
        except Exception as exc:  # the policy's failure, reported as one line (the traceback goes to its log)
            traceback.print_exc()
            sys.stderr.flush()
            send({"error": _one_line(exc)})


def _wipe_scratch(as_root: bool) -> None:
    """Kill whatever an episode left running in the sandbox and empty its scratch folder."""
    import shutil
    import signal

    if os.environ.get("TESTBED_IN_SANDBOX") != "1":
        raise SystemExit("zygote mode runs only inside the sandbox's PID namespace")
    try:
        os.kill(-1, signal.SIGKILL)  # every process of the sandbox this one may signal, except itself and init
    except OSError:
        pass
    if as_root:  # the scratch belongs to the sandbox user: remove it as that user
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(SANDBOX_UID)
                os.setuid(SANDBOX_UID)
                shutil.rmtree(SCRATCH, ignore_errors=True)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        shutil.rmtree(SCRATCH, ignore_errors=True)
    else:
        for name in os.listdir("/tmp"):
            p = os.path.join("/tmp", name)
            shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)


def zygote(reader: FrameReader, out: int, spec: str) -> int:
    """Serve many episodes: on ``fork`` start a child from this pristine state (no submitted code has run
    here), which drops privileges, works in a fresh scratch folder and serves one policy; report
    ``{"child_exit": status}`` when it ends, then clean up after it."""
    as_root = os.environ.get("TESTBED_SANDBOX_DROP") == "1" and os.getuid() == 0
    if os.environ.get("TESTBED_IN_SANDBOX") != "1":
        raise SystemExit("zygote mode runs only inside the sandbox's PID namespace")
    while True:
        try:
            msg = reader.recv()
        except PeerClosed:
            return 0
        op = msg.get("op")
        if op == "close":
            return 0
        if op != "fork":
            write_all(out, encode({"error": f"zygote: unknown op {op!r}"}))
            continue
        os.ftruncate(1, 0)  # a fresh, capped log for each episode (stdout and stderr share the file)
        os.lseek(1, 0, os.SEEK_SET)
        os.makedirs(SCRATCH, mode=0o700, exist_ok=True)
        if as_root:
            os.chown(SCRATCH, SANDBOX_UID, SANDBOX_UID)
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                _drop_privileges()
                os.chdir(SCRATCH)
                os.environ["HOME"] = os.environ["TMPDIR"] = SCRATCH
                code = serve(reader, out, spec)
            except BaseException:
                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        reader.buf.clear()  # anything already read belongs to the child
        _, status = os.waitpid(pid, 0)
        _wipe_scratch(as_root)
        write_all(out, encode({"child_exit": os.waitstatus_to_exitcode(status)}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--in", dest="fd_in", type=int, required=True)
    ap.add_argument("--out", dest="fd_out", type=int, required=True)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--zygote", action="store_true", help="serve many episodes, one forked child each")
    args = ap.parse_args(argv)
    in_sandbox = os.environ.get("TESTBED_IN_SANDBOX") == "1"
    if in_sandbox:
        # numba (cache=True kernels, imported with the loader) needs a writable cache folder to decorate
        os.environ["NUMBA_CACHE_DIR"] = "/tmp/.numba" if args.zygote else os.path.join(SCRATCH, ".numba")
    if not args.zygote:
        if in_sandbox:  # one episode: a private scratch folder owned by the sandbox user
            os.makedirs(SCRATCH, mode=0o700, exist_ok=True)
            if os.environ.get("TESTBED_SANDBOX_DROP") == "1" and os.getuid() == 0:
                os.chown(SCRATCH, SANDBOX_UID, SANDBOX_UID)
        _drop_privileges()
        if in_sandbox:
            os.chdir(SCRATCH)
            os.environ["HOME"] = os.environ["TMPDIR"] = SCRATCH
    # import what every policy needs before the evaluator asks (it launches this process ahead of time)
    import gymnasium.spaces  # noqa: F401

    import agents.autopilot  # noqa: F401  (the template and the autopilot baseline use it)
    import agents.loader  # noqa: F401

    reader = FrameReader(args.fd_in, max_bytes=64 << 20)
    if args.zygote:
        return zygote(reader, args.fd_out, args.spec)
    return serve(reader, args.fd_out, args.spec)


if __name__ == "__main__":
    sys.exit(main())
