"""Throughput on large objects vs the limit measured in the same run.

    python -m bench throughput [--runs 5] [--sizes 16,64,256] [--kind text] [--quick]

For each object size (MiB), side by side in every run:

* handler: `ScannerRuntime.handle` on the object's S3 event (GET streamed into clamd's INSTREAM, verdict, tag
  write) with a warm clamd on the production-shaped database, DisableCache yes;
* limit: the time to GET the same object from the same endpoint to nowhere, plus `clamdscan --fdpass` of the
  same bytes from local disk by the same clamd (no network, no spooling).

The figure is limit time / handler time (1.0: the handler is as fast as fetching and scanning can be). The content
is CSV text by default (bench/corpus.py): the fastest kind to scan on this database, so the handler's own overhead
weighs most; random bytes scan at about 1 MiB/s here (see `bench scanrate`), which would hide it and take hours.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    Bench,
    MiB,
    add_sizes_argument,
    bench_runtime,
    median,
    moto_server,
    parser,
    require,
    runs,
    sizes_mib,
    write_result,
)
from bench.corpus import KINDS, corpus_file
from bench.signatures import ensure_database
from scanner import constants as c

TARGET_RATIO = 0.8
DEFAULT_SIZES_MIB = (16, 64, 256)


def get_to_nowhere(bench: Bench, key: str) -> float:
    """Seconds to read the whole object from the endpoint and drop it."""
    started = time.perf_counter()
    body = bench.s3.get_object(Bucket=bench.bucket, Key=key)["Body"]
    while body.read(1024 * 1024):
        pass
    return time.perf_counter() - started


def clamdscan_fdpass(conf: Path, path: Path) -> float:
    """Seconds for the same clamd to scan a local file handed over by descriptor."""
    started = time.perf_counter()
    result = subprocess.run(
        [require("clamdscan"), f"--config-file={conf}", "--fdpass", "--no-summary", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or not result.stdout.strip().endswith(": OK"):
        raise RuntimeError(f"clamdscan failed ({result.returncode}): {result.stdout} {result.stderr}")
    return elapsed


def measure(count: int, sizes_mib: list[int], database: Path, kind: str) -> dict[str, Any]:
    files = {size: corpus_file(kind, size * MiB) for size in sizes_mib}
    samples: dict[int, dict[str, list[float]]] = {
        size: {"handler_s": [], "get_s": [], "clamdscan_s": []} for size in sizes_mib
    }
    with (
        moto_server() as endpoint,
        bench_runtime(endpoint, database, max_object_bytes=c.CLAMD_MAX_LIMIT_BYTES) as bench,
    ):
        conf = Path(tempfile.mkdtemp(prefix="bench-clamdscan-")) / "clamdscan.conf"
        conf.write_text(f"LocalSocket {bench.runtime.daemon.paths.socket}\n")
        events = {size: bench.put(f"throughput/{size}MiB.bin", path) for size, path in files.items()}
        for run in range(-1, count):  # one warm-up round, not recorded
            for size in sizes_mib:
                key = f"throughput/{size}MiB.bin"
                steps = [
                    ("handler_s", lambda s=size, k=key: (bench.untag(k), bench.handle(events[s]))[1]),
                    ("get_s", lambda k=key: get_to_nowhere(bench, k)),
                    ("clamdscan_s", lambda s=size: clamdscan_fdpass(conf, files[s])),
                ]
                if run % 2:
                    steps.reverse()
                for name, step in steps:
                    seconds = step()
                    if run >= 0:
                        samples[size][name].append(seconds)
                if run >= 0:
                    print(
                        f"run {run}: {size:5} MiB handler {samples[size]['handler_s'][-1]:.2f} s, "
                        f"GET {samples[size]['get_s'][-1]:.2f} s + clamdscan {samples[size]['clamdscan_s'][-1]:.2f} s"
                    )
    results: dict[str, Any] = {}
    for size in sizes_mib:
        handler = samples[size]["handler_s"]
        limit = [g + s for g, s in zip(samples[size]["get_s"], samples[size]["clamdscan_s"], strict=True)]
        ratios = [lim / h for lim, h in zip(limit, handler, strict=True)]
        results[str(size)] = {
            "bytes": size * MiB,
            "handler_s": [round(s, 3) for s in handler],
            "get_s": [round(s, 3) for s in samples[size]["get_s"]],
            "clamdscan_s": [round(s, 3) for s in samples[size]["clamdscan_s"]],
            "handler_s_median": round(median(handler), 3),
            "limit_s_median": round(median(limit), 3),
            "handler_mib_s": round(size / median(handler), 1),
            "limit_mib_s": round(size / median(limit), 1),
            "ratios": [round(r, 3) for r in ratios],
            "ratio_median": round(median(ratios), 3),
        }
    return results


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0])
    add_sizes_argument(args, DEFAULT_SIZES_MIB)
    args.add_argument("--kind", default="text", choices=KINDS, help="content (bench/corpus.py), default text")
    args = args.parse_args(argv)
    count = runs(args, default=5)
    sizes = sizes_mib(args, DEFAULT_SIZES_MIB, quick=[1, 4])
    database = ensure_database(args.quick, args.profile)
    results = measure(count, sizes, database, args.kind)
    for size, figures in results.items():
        print(
            f"{size:>5} MiB: handler {figures['handler_mib_s']:7.1f} MiB/s, limit {figures['limit_mib_s']:7.1f} MiB/s, "
            f"ratio {figures['ratio_median']}"
        )
    write_result(
        args,
        "throughput",
        {
            "runs": count,
            "database": str(database),
            "kind": args.kind,
            "target_ratio": TARGET_RATIO,
            "sizes_mib": results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
