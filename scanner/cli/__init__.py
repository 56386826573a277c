"""The `scanner` command: `local` (the pipeline on this machine), `quarantine` (review), `scan` (backfill).

    scanner local [--demo]                       run the pipeline locally; --demo checks a few samples
    scanner quarantine list|show|release|purge   review what was caught
    scanner scan s3://bucket/prefix              submit existing, unscanned objects

Usage is in docs/CLI.md. Nothing here runs in Lambda; moto is imported only by `scanner local`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from scanner.cli import backfill, local, quarantine
from scanner.cli.errors import EXIT_INTERRUPTED, CliError
from scanner.cli.output import printable

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scanner",
        description="Event-driven ClamAV scanner for Amazon S3: local pipeline, quarantine review, backfill.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    local.add_parser(commands)
    quarantine.add_parser(commands)
    backfill.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (errors are one line on stderr, never a traceback)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CliError as err:
        # Messages name keys and buckets: escaped, so no key can forge what the terminal shows.
        print(f"scanner: {printable(err)}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("scanner: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
