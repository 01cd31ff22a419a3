"""``testbed results``: ranked leaderboards from a results store (terminal table, static HTML page)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("results", help="show or export the leaderboard of a results store")
    rsub = p.add_subparsers(dest="results_command", metavar="RESULTS_COMMAND")
    rsub.required = True
    s = rsub.add_parser("show", help="print the ranked table (per-case scores, baselines as reference rows)")
    s.add_argument("--store", default="results.db")
    s.add_argument("--suite", default="dev")
    s.add_argument("--suite-version", default=None, help="default: the newest in the store")
    s.set_defaults(func=_cmd_show)
    e = rsub.add_parser("export", help="write a static, sortable leaderboard page")
    e.add_argument("--html", required=True, metavar="OUT_DIR", help="folder for index.html and the replays")
    e.add_argument("--store", default="results.db")
    e.add_argument("--suite", default="dev")
    e.add_argument("--suite-version", default=None)
    e.add_argument("--thumbnails", action="store_true", help="render a thumbnail per replay (replay viewer)")
    e.set_defaults(func=_cmd_export)


def _open(path):
    from pathlib import Path

    from testbed.cli import CLIError
    from testbed.evaluation.store import Store

    if not Path(path).is_file():
        raise CLIError(f"{path}: no such results store (testbed evaluate ... --store {path} creates it)")
    return Store(path)


def _cmd_show(args) -> int:
    from testbed.evaluation.report import format_table, leaderboard

    with _open(args.store) as store:
        entries, cases, version = leaderboard(store, args.suite, args.suite_version)
        print(format_table(entries, cases, args.suite, version))
    return 0


def _cmd_export(args) -> int:
    import sys

    from testbed.evaluation.report import export_html

    with _open(args.store) as store:
        res = export_html(store, args.suite, args.html, args.suite_version, thumbnails=args.thumbnails)
    print(f"wrote {res.page}" + (f" and {res.thumbnails} thumbnail(s)" if args.thumbnails else ""))
    if res.no_viewer:
        print("testbed: warning: --thumbnails: the replay viewer (testbed.replay.viewer) is not installed", file=sys.stderr)
    if res.thumbnail_errors:
        print(f"testbed: warning: {len(res.thumbnail_errors)} thumbnail(s) failed; first: {res.thumbnail_errors[0]}",
              file=sys.stderr)  # fmt: skip
    return 0
