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


def _drop_privileges() -> None:
    if os.environ.get("TESTBED_SANDBOX_DROP") == "1" and os.getuid() == 0:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--in", dest="fd_in", type=int, required=True)
    ap.add_argument("--out", dest="fd_out", type=int, required=True)
    ap.add_argument("--spec", required=True)
    args = ap.parse_args(argv)
    _drop_privileges()
    reader = FrameReader(args.fd_in, max_bytes=64 << 20)
    out = args.fd_out

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
                from agents.loader import load_policy

                policy = load_policy(args.spec, _space(msg["observation_space"]), _space(msg["action_space"]))
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


if __name__ == "__main__":
    sys.exit(main())
