"""The ``testbed`` command line.

Each command group lives in its own module with a ``register(subparsers)`` function, so that
``testbed --help`` lists exactly what exists. Heavy imports (pygame, matplotlib, torch) happen
inside the command handlers, never at import time of this module.
"""

from __future__ import annotations

import argparse
import sys

from testbed import __version__


class CLIError(Exception):
    """An error a user can act on; printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    from testbed.cli import (
        ais_cmd,
        demos_cmd,
        evaluate_cmd,
        event_cmd,
        export_cmd,
        link_cmd,
        live_cmd,
        map_cmd,
        multi_cmd,
        replay_cmd,
        results_cmd,
        rules_cmd,
        run_cmd,
        serve_cmd,
        submission_cmd,
        submit_cmd,
        train_cmd,
        vessel_cmd,
    )

    parser = argparse.ArgumentParser(
        prog="testbed",
        description="Duisburg Smart Shipping Testbed: maps, vessels, scenarios and agents.",
    )
    parser.add_argument("--version", action="version", version=f"testbed {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in (map_cmd, vessel_cmd, run_cmd, live_cmd, multi_cmd, ais_cmd, link_cmd, rules_cmd, replay_cmd,
                train_cmd, export_cmd, demos_cmd, submission_cmd, evaluate_cmd, results_cmd, event_cmd, serve_cmd,
                submit_cmd):
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"testbed: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C outside a command's own handling (which writes what it has)
        print("testbed: interrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError, FileNotFoundError) as exc:
        # Library errors (MapError, VesselTypeError, ...) subclass ValueError/KeyError and carry
        # messages that name the file, feature or key: show them without a traceback.
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"testbed: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
