"""Scan rate (MiB/s) by content kind and size, on the official-shaped and the legacy database, side by side.

    python -m bench scanrate [--runs 2] [--sizes 1,16,64] [--kinds random,text,...] [--quick]

One warm clamd per database (cache off); each (kind, size) is streamed by INSTREAM `--runs` times, alternating
which database goes first; the figure is the median scan time and the MiB/s it gives. Content: bench/corpus.py.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from typing import Any

from bench.clamd_proc import running_clamd
from bench.common import MiB, add_sizes_argument, median, parser, runs, sizes_mib, write_result
from bench.corpus import KINDS, corpus_file
from bench.scanning import scan
from bench.signatures import ensure_database, signature_count

DEFAULT_SIZES = (1, 16, 64)


def measure(databases: dict[str, Any], kinds: list[str], sizes: list[int], count: int, quick: bool) -> dict[str, Any]:
    table: dict[str, dict[str, dict[str, Any]]] = {}
    limited: dict[str, dict[str, str]] = {}
    """(kind, size) where clamd stopped at a limit (MaxScanTime): the time is the limit, not a scan rate."""
    with ExitStack() as stack:
        clamds = {
            label: stack.enter_context(running_clamd(path, name=f"rate-{label}")) for label, path in databases.items()
        }
        for kind in kinds:
            for size in sizes:
                nbytes = size * MiB if not quick else size * 64 * 1024
                path = corpus_file(kind, nbytes)
                seconds: dict[str, list[float]] = {label: [] for label in clamds}
                for run in range(count):
                    order = list(clamds) if run % 2 == 0 else list(reversed(clamds))
                    for label in order:
                        verdict = scan(clamds[label].client, path)
                        if "Heuristics.Limits." in verdict.reply:
                            limited.setdefault(f"{kind}-{size}", {})[label] = verdict.reply
                        elif not verdict.clean:
                            raise RuntimeError(f"{kind} {size}: {label} answered {verdict.reply}")
                        seconds[label].append(verdict.seconds)
                row = {}
                for label, values in seconds.items():
                    s = median(values)
                    row[label] = {
                        "seconds": [round(v, 4) for v in values],
                        "median_s": round(s, 4),
                        "mib_per_s": round(nbytes / MiB / s, 2),
                    }
                table.setdefault(kind, {})[str(size)] = row
                print(
                    f"{kind:7} {nbytes / MiB:6.2f} MiB: "
                    + ", ".join(f"{label} {r['mib_per_s']} MiB/s" for label, r in row.items())
                )
    return {"rates": table, "limits_reached": limited}


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0])
    add_sizes_argument(args, DEFAULT_SIZES)
    args.add_argument("--kinds", default=",".join(KINDS), help="content kinds, comma-separated")
    options = args.parse_args(argv)
    count = runs(options, default=2)
    sizes = sizes_mib(options, DEFAULT_SIZES, quick=(1,))
    databases = {
        "official": ensure_database(options.quick, "official"),
        "legacy": ensure_database(options.quick, "legacy"),
    }
    kinds = options.kinds.split(",")
    measured = measure(databases, kinds, sizes, count, options.quick)
    write_result(
        options,
        "scanrate",
        {
            "runs": count,
            "sizes_mib": sizes if not options.quick else [s / 16 for s in sizes],
            "signatures": {label: signature_count(path) for label, path in databases.items()},
            **measured,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
