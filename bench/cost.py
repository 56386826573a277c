"""Cost per million objects in the queue mode, from measured durations, requests and cold starts, vs GuardDuty.

    python -m bench cost [--runs 3] [--memory-mb N] [--objects-per-cold-start 10000] [--quick]

Measured here, on the production-shaped database, one warm environment (SCAN_CONCURRENCY = vCPUs, moto S3 in its
own process): SQS batches of 10 objects of 100 KiB, 1 MiB and 10 MiB, of two contents: the representative mix
(bench/corpus.py UPLOAD_MIX's kinds, each at the size) and incompressible bytes only (the slowest content on this
database: media, compressed or encrypted uploads). Per batch: the invocation's duration, the S3 requests the
runtime sent (counted by operation with botocore `before-send`) and the tags left on a clean object.

Taken from the same results directory when present (`python -m bench all` runs them first): the cold start
(coldstart.json: process start to first verdict, all of it billed) and the definitions download at 100 MB/s
(coldterms.json). Without them, clamd's own load is measured here once.

The line items and the prices with their sources are in bench/pricing.py.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.clamd_proc import Clamd
from bench.common import (
    bench_runtime,
    configured_memory_mb,
    load_average,
    median,
    moto_server,
    parser,
    runs,
    write_result,
)
from bench.concurrency import run_batch
from bench.corpus import corpus_file, upload_batch
from bench.pricing import NOTES, SQS_REQUESTS_PER_MESSAGE, Workload, per_million, price_table
from bench.signatures import ensure_database, signature_count

KiB = 1024
MiB = 1024**2
SIZES = {"100 KiB": 100 * KiB, "1 MiB": MiB, "10 MiB": 10 * MiB}
QUICK_SIZES = {"100 KiB": 100 * KiB}
CONTENTS = ("mix", "random")
TARGET_FRACTION = 1 / 50
"""Issue 14: 1 MiB objects at most 1/50 of GuardDuty's cost."""
DOWNLOAD_RATE = "100"
"""coldterms' MB/s figure used for the definitions download at a cold start."""


def batch_files(content: str, size: int, seed: int) -> list[tuple[str, Path]]:
    if content == "mix":
        return upload_batch(size, seed=seed)
    return [("random", corpus_file("random", size, seed=seed + index)) for index in range(10)]


def measure(count: int, sizes: dict[str, int], database: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {label: {c: [] for c in CONTENTS} for label in sizes}
    cpus = len(os.sched_getaffinity(0))
    with moto_server() as endpoint, bench_runtime(endpoint, database, name="cost") as bench:
        smallest = min(sizes.values())
        run_batch(bench, cpus, batch_files("mix", smallest, 100), "cost/warm-up")
        for run in range(count):
            for label, size in sizes.items():
                for content in CONTENTS:
                    figures = run_batch(
                        bench, cpus, batch_files(content, size, 100 * run), f"cost/{run}/{size}/{content}"
                    )
                    key = figures.pop("keys")[0]
                    tags = bench.s3.get_object_tagging(Bucket=bench.bucket, Key=key)["TagSet"]
                    figures["tags_per_object"] = len(tags)
                    samples[label][content].append(figures)
                    print(
                        f"run {run}: {label:>7} {content:6}: batch of 10 in {figures['seconds']:.2f} s, "
                        f"requests {figures['requests']}, {len(tags)} tags",
                        flush=True,
                    )
    return samples


def cold_start(results_dir: Path, database: Path) -> dict[str, Any]:
    """Billed seconds of one cold start: from this run's coldstart/coldterms results, else clamd's load here."""
    term: dict[str, Any] = {}
    coldstart = results_dir / "coldstart.json"
    if coldstart.exists():
        data = json.loads(coldstart.read_text())
        term = {"first_verdict_s": data["handler_s_median"], "source": "coldstart.json handler_s_median"}
    else:
        clamd = Clamd(database, name="cost-cold")
        clamd.start()
        try:
            term = {"first_verdict_s": round(clamd.wait_ready(), 3), "source": "clamd load measured by bench cost"}
        finally:
            clamd.stop()
    coldterms = results_dir / "coldterms.json"
    download = 0.0
    if coldterms.exists():
        download = float(json.loads(coldterms.read_text())["at_rate"][DOWNLOAD_RATE]["download_s"])
        term["download_source"] = f"coldterms.json at {DOWNLOAD_RATE} MB/s"
    term["download_s"] = download
    term["billed_s"] = round(term["first_verdict_s"] + download, 3)
    return term


def summarize(
    samples: dict[str, dict[str, list[dict[str, Any]]]],
    sizes: dict[str, int],
    memory_mb: int,
    cold: dict[str, Any],
    objects_per_cold_start: int,
) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for label, size in sizes.items():
        row: dict[str, Any] = {}
        for content in CONTENTS:
            values = samples[label][content]
            batch = 10
            seconds = median([v["seconds"] for v in values])
            requests: dict[str, float] = {}
            for v in values:
                for op, n in v["requests"].items():
                    requests[op] = requests.get(op, 0) + n / batch / len(values)
            work = Workload(
                object_bytes=size,
                batch_s=seconds,
                batch_size=batch,
                memory_mb=memory_mb,
                s3_requests={op: round(n, 3) for op, n in sorted(requests.items())},
                tags_per_object=int(median([v["tags_per_object"] for v in values])),
                cold_start_s=cold["billed_s"],
                objects_per_cold_start=objects_per_cold_start,
            )
            row[content] = {
                "batch_s": [round(v["seconds"], 3) for v in values],
                "batch_s_median": round(seconds, 3),
                "clamd_cpu_s_median": round(median([v["clamd_cpu_s"] for v in values]), 3),
                **per_million(work),
            }
        table[label] = row
    return table


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0])
    args.add_argument("--memory-mb", type=int, default=None, help="Lambda memory (default: Pulumi.yaml memoryMB)")
    args.add_argument(
        "--objects-per-cold-start",
        type=int,
        default=10_000,
        help="objects one environment handles per cold start (default 10000)",
    )
    options = args.parse_args(argv)
    count = runs(options, default=3)
    memory_mb = options.memory_mb or configured_memory_mb()
    sizes = QUICK_SIZES if options.quick else SIZES
    database = ensure_database(options.quick, options.profile)
    started_load = load_average()
    started = time.monotonic()
    samples = measure(count, sizes, database)
    cold = cold_start(options.results_dir, database)
    table = summarize(samples, sizes, memory_mb, cold, options.objects_per_cold_start)
    for label, row in table.items():
        for content, f in row.items():
            print(
                f"{label:>8} {content:6}: {f['batch_s_median']:7.2f} s per batch of 10 -> "
                f"${f['total']:8.2f} / 1M objects (GuardDuty ${f['guardduty']:9.2f}, {f['guardduty_over_total']}x); "
                f"lines {f['lines']}"
            )
    write_result(
        options,
        "cost",
        {
            "runs": count,
            "memory_mb": memory_mb,
            "database": str(database),
            "signatures": signature_count(database),
            "objects_per_cold_start": options.objects_per_cold_start,
            "sqs_requests_per_message": SQS_REQUESTS_PER_MESSAGE,
            "cold_start": cold,
            "target_fraction": TARGET_FRACTION,
            "prices": price_table(),
            "notes": list(NOTES),
            "load_average_at_start": started_load,
            "seconds": round(time.monotonic() - started, 1),
            "sizes": table,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
