"""``testbed submission``: write a template submission, check one (static checks, conformance, one episode)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("submission", help="create and check benchmark submissions",
                       description="A submission is a folder or zip with submission.yaml, policy.py "
                                   "(make_policy) and weights (.onnx, .safetensors, .npz).")  # fmt: skip
    ssub = p.add_subparsers(dest="submission_command", metavar="SUBMISSION_COMMAND")
    ssub.required = True
    n = ssub.add_parser("new", help="write a working template submission (wraps the autopilot)")
    n.add_argument("dir")
    n.add_argument("--team", default="my-team")
    n.add_argument("--name", default="autopilot-template")
    n.set_defaults(func=_cmd_new)
    c = ssub.add_parser("check", help="validate a submission: structure, conformance tests, one short episode")
    c.add_argument("path", help="submission folder or .zip")
    c.add_argument("--no-sandbox", action="store_true", help="run the policy without bubblewrap (trusted code)")
    c.add_argument("--static", action="store_true", help="only the static checks (no code is run)")
    c.set_defaults(func=_cmd_check)


def _cmd_new(args) -> int:
    from testbed.evaluation.submission import write_template

    folder = write_template(args.dir, args.team, args.name)
    print(f"wrote {folder}/submission.yaml and {folder}/policy.py (the autopilot); next: testbed submission check {folder}")
    return 0


def _cmd_check(args) -> int:
    import sys
    import tempfile
    from pathlib import Path

    from testbed.cli import CLIError
    from testbed.evaluation.conformance import check_policy
    from testbed.evaluation.sandbox import bwrap_problem
    from testbed.evaluation.submission import SubmissionError, check_submission, unpack_archive

    path = Path(args.path)
    if not path.exists():
        raise CLIError(f"{path}: no such submission folder or zip")
    with tempfile.TemporaryDirectory(prefix="submission-check-") as tmp:
        if path.is_file():
            try:
                folder = unpack_archive(path, tmp)
            except SubmissionError as exc:
                print(f"testbed: rejected: {exc}", file=sys.stderr)
                return 2
        else:
            folder = path
        problems = check_submission(folder)
        if not problems and not args.static:
            if not args.no_sandbox and bwrap_problem():
                raise CLIError(f"{bwrap_problem()}: refusing to run the submission's code without a sandbox; "
                               "install bubblewrap or pass --no-sandbox for code you trust")
            problems = check_policy(str(folder), sandbox=not args.no_sandbox)
        for p in problems:
            print(f"testbed: problem: {p}", file=sys.stderr)
    if problems:
        print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
        return 2
    print(f"{path}: OK ({'static checks' if args.static else 'static checks, conformance tests and one episode'} passed)")
    return 0
