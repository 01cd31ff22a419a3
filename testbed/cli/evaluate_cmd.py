"""``testbed evaluate``: a submission (folder, zip or baseline) on a benchmark suite, into the results store."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a submission on a benchmark suite (sandboxed) into a results store",
                       description="Evaluate a submission folder or zip (or a baseline: autopilot, idle, random) on "
                                   "a suite. The policy runs in a bubblewrap sandbox; results go to an SQLite "
                                   "store, one row per (submission, case, seed); a rerun resumes.")  # fmt: skip
    p.add_argument("submission", help="submission folder, .zip, or autopilot | idle | random")
    p.add_argument("--suite", default="dev", help="dev | test | final (final needs $TESTBED_FINAL_SECRET)")
    p.add_argument("--case", action="append", default=[], metavar="ID_OR_TAG",
                   help="only these cases (id or tag: encounter, link, ...), repeatable")
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--workers", type=int, default=1, help="parallel episodes (processes or Ray CPUs)")
    p.add_argument("--address", default=None, help="Ray cluster address (with --backend ray; default local Ray)")
    p.add_argument("--max-episodes", type=int, default=None, help="run at most N of the missing episodes")
    p.add_argument("--store", default="results.db", help="SQLite results store (default results.db)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run the policy WITHOUT bubblewrap (rlimits only): for code you trust")
    p.add_argument("--verify", type=int, nargs="?", const=3, default=0, metavar="N",
                   help="re-simulate N (default 3) stored replays of this submission and flag mismatches")
    p.add_argument("--no-baselines", action="store_true", help="do not evaluate the idle/autopilot references")
    p.add_argument("--no-record", action="store_true", help="do not store replays")
    p.add_argument("--step-deadline", type=float, default=None, help="soft per-step deadline [s] (default 1)")
    p.add_argument("--episode-deadline", type=float, default=None, help="hard per-episode deadline [s] (default 900)")
    p.add_argument("--submission-deadline", type=float, default=None,
                   help="hard deadline for this run of the submission [s] (default 14400)")
    p.set_defaults(func=_cmd_evaluate)


def limits_from_args(args):
    import dataclasses

    from testbed.evaluation.sandbox import DEFAULT_LIMITS

    kw = {}
    if args.step_deadline is not None:
        kw["step_deadline_s"] = args.step_deadline
    if args.episode_deadline is not None:
        kw["episode_deadline_s"] = args.episode_deadline
        kw["cpu_s"] = int(max(1, args.episode_deadline))
    if args.submission_deadline is not None:
        kw["submission_deadline_s"] = args.submission_deadline
    for k, v in kw.items():
        if not v > 0:
            from testbed.cli import CLIError

            raise CLIError(f"--{k.replace('_s', '').replace('_', '-')} {v}: must be > 0")
    return dataclasses.replace(DEFAULT_LIMITS, **kw)


def _cmd_evaluate(args) -> int:
    import sys

    from testbed.cli import CLIError
    from testbed.evaluation.evaluator import ensure_baselines, evaluate, resolve
    from testbed.evaluation.report import format_table, leaderboard
    from testbed.evaluation.sandbox import bwrap_problem
    from testbed.evaluation.store import Store
    from testbed.evaluation.suite import get_suite

    if args.workers < 1:
        raise CLIError(f"--workers {args.workers}: must be >= 1")
    if args.max_episodes is not None and args.max_episodes < 0:
        raise CLIError(f"--max-episodes {args.max_episodes}: must be >= 0")
    suite = get_suite(args.suite).select(args.case)
    limits = limits_from_args(args)
    sandbox = not args.no_sandbox
    if not sandbox:
        print("testbed: warning: --no-sandbox: the policy runs WITHOUT bubblewrap (no network, file system or "
              "process isolation; rlimits only). Use it only for code you trust.", file=sys.stderr)  # fmt: skip
    elif args.submission not in ("autopilot", "idle", "random") and bwrap_problem():
        raise CLIError(f"{bwrap_problem()}: refusing to run untrusted policy code without a sandbox; install "
                       "bubblewrap (apt-get install bubblewrap) or pass --no-sandbox for code you trust")
    with Store(args.store) as store:
        target = resolve(args.submission, store.path.with_name(store.path.name + ".submissions"))
        if target.problems:
            for p in target.problems:
                print(f"testbed: rejected: {p}", file=sys.stderr)
        kw = dict(backend=args.backend, workers=args.workers, sandbox=sandbox, limits=limits,
                  address=args.address, record=not args.no_record)  # fmt: skip
        summary = evaluate(target, suite, store, max_episodes=args.max_episodes, verify=args.verify,
                           progress=print, **kw)  # fmt: skip
        print(f"{target.team} / {target.name} ({target.id}): {summary.ran} episode(s) run, {summary.skipped} "
              f"already in {args.store}; " + ", ".join(f"{k} {v}" for k, v in sorted(summary.statuses.items())))  # fmt: skip
        if not args.no_baselines and not target.problems:  # the score needs both on the same episodes
            eps = [(r["case_id"], r["seed"]) for r in store.rows(suite.name, target.id, suite.version)]
            ensure_baselines(suite, store, episodes=eps, **kw)
        entries, cases, version = leaderboard(store, suite.name, suite.version)
        print(format_table(entries, cases, suite.name, version))
        if target.problems:
            return 2
        bad = [v for v in summary.verified if not v[2]]
        if bad:
            print(f"testbed: {len(bad)} replay(s) did not re-simulate identically", file=sys.stderr)
            return 1
    return 0
