"""Benchmarks: `python -m bench <name> [options]`; `python -m bench all [--quick] [--results-dir DIR]` runs them all.

Names: signatures, latency, concurrency, throughput, memory, coldstart, coldterms, cost, burst, falsepositives,
dbload, scanrate, switch, hashing, plot, report (see docs/BENCHMARKS.md and `python -m bench <name> --help`). `all`
runs them in that order: cost reads coldstart's and coldterms' results from the same results directory. Results go
to bench/results/<name>.json, the plot to docs/benchmarks.png, the tables of docs/BENCHMARKS.md to stdout (report).
"""

from __future__ import annotations

import argparse
import importlib
import sys

BENCHMARKS = (
    "latency",
    "concurrency",
    "throughput",
    "memory",
    "coldstart",
    "coldterms",
    "cost",
    "burst",
    "falsepositives",
    "dbload",
    "scanrate",
    "switch",
    "hashing",
)
COMMANDS = ("signatures", *BENCHMARKS, "plot", "report")


def run(name: str, argv: list[str]) -> int:
    return int(importlib.import_module(f"bench.{name}").main(argv) or 0)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in (*COMMANDS, "all"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] != "all":
        return run(argv[0], argv[1:])
    options = argparse.ArgumentParser(prog="python -m bench all")
    options.add_argument("--quick", action="store_true")
    options.add_argument("--results-dir", default=None)
    args = options.parse_args(argv[1:])
    common = (["--quick"] if args.quick else []) + (["--results-dir", args.results_dir] if args.results_dir else [])
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        if code := run(name, common):
            return code
    plot = ["--results-dir", args.results_dir] if args.results_dir else []
    if args.quick:
        plot += ["--output", f"{args.results_dir or 'bench/results'}/benchmarks-quick.png"]
    return run("plot", plot)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
