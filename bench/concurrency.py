"""Several scans per environment: SQS batches of 10 scanned one at a time vs concurrently, one warm clamd.

    python -m bench concurrency [--runs 7] [--concurrency 1,2] [--quick]

One environment: one runtime (ScannerRuntime.from_settings) with one warm clamd on the production-shaped database
(MaxThreads as deployed), moto S3 in its own process. Each run uploads a fresh representative batch of 10 objects
(bench/corpus.py UPLOAD_MIX: text, PDF, office, an executable, a tar of binaries, incompressible data; 64 KiB to
1 MiB, 5 MiB in all) per setting and hands it to `ScannerRuntime.handle` as the SQS event an event source mapping
would deliver, with SCAN_CONCURRENCY = 1 (one at a time) and = the vCPUs (concurrent), side by side, the order
alternating from run to run. Every record must come back CLEAN with no batchItemFailures.

Reported per setting: the batch's wall time, objects per second, GB-seconds per object at the configured memory
(Pulumi.yaml `memoryMB`: Lambda bills the invocation's duration times its memory), and clamd's CPU seconds per
batch; and the per-run speedup (one-at-a-time time / concurrent time) with its median.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    Bench,
    bench_runtime,
    configured_memory_mb,
    discard_output,
    load_average,
    median,
    moto_server,
    parser,
    runs,
    write_result,
)
from bench.corpus import UPLOAD_MIX, upload_batch
from bench.signatures import ensure_database, signature_count
from scanner.process import Outcome
from tests.support.events import s3_event, sqs_event

TARGET_SPEEDUP = 1.7
MiB = 1024**2


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_batch(bench: Bench, concurrency: int, files: list[tuple[str, Path]], prefix: str) -> dict[str, Any]:
    """One SQS batch of the files through the handler at `concurrency`: seconds, clamd CPU seconds, and the S3
    requests the runtime sent (by operation)."""
    runtime = bench.runtime
    runtime.settings = dataclasses.replace(runtime.settings, scan_concurrency=concurrency)
    records = [bench.put_record(f"{prefix}/{index:02d}-{kind}.bin", path) for index, (kind, path) in enumerate(files)]
    event = sqs_event(*[s3_event(record) for record in records])
    outcomes: list[Outcome] = []
    runtime.on_outcome = outcomes.append
    pid = runtime.daemon.pid
    assert pid is not None
    cpu_before = process_cpu_seconds(pid)
    bench.counter.take()
    with discard_output():
        started = time.perf_counter()
        answer = runtime.handle(event)
        elapsed = time.perf_counter() - started
    clamd_cpu = process_cpu_seconds(pid) - cpu_before
    requests = bench.counter.take()
    statuses = sorted(o.status.value if o.status else str(o.skipped) for o in outcomes)
    if answer.get("batchItemFailures") or statuses != ["CLEAN"] * len(files):
        raise RuntimeError(f"concurrency {concurrency}: {answer} {statuses} {[o.problems for o in outcomes]}")
    return {
        "seconds": elapsed,
        "clamd_cpu_s": clamd_cpu,
        "requests": requests,
        "keys": [r["s3"]["object"]["key"] for r in records],
    }


def measure(count: int, settings: list[int], database: Path, quick: bool, memory_mb: int) -> dict[str, Any]:
    samples: dict[int, list[dict[str, Any]]] = {n: [] for n in settings}
    files = upload_batch(quick=quick)
    with (
        moto_server() as endpoint,
        bench_runtime(endpoint, database, name="conc", scan_concurrency=max(settings)) as bench,
    ):
        for run in range(-1, count):  # one warm-up round, not recorded
            order = settings if run % 2 == 0 else list(reversed(settings))
            for concurrency in order:
                figures = run_batch(bench, concurrency, files, f"concurrency/{run + 1}/{concurrency}")
                if run >= 0:
                    samples[concurrency].append(figures)
                    print(
                        f"run {run}: concurrency {concurrency}: {figures['seconds']:.2f} s, "
                        f"clamd CPU {figures['clamd_cpu_s']:.2f} s",
                        flush=True,
                    )
    objects = len(files)
    gb = memory_mb / 1024
    results: dict[str, Any] = {}
    for concurrency, values in samples.items():
        seconds = [v["seconds"] for v in values]
        results[str(concurrency)] = {
            "batch_s": [round(s, 3) for s in seconds],
            "batch_s_median": round(median(seconds), 3),
            "objects_per_s": round(objects / median(seconds), 2),
            "gb_seconds_per_object": round(gb * median(seconds) / objects, 4),
            "clamd_cpu_s_median": round(median([v["clamd_cpu_s"] for v in values]), 3),
        }
    low, high = min(settings), max(settings)
    speedups = [a["seconds"] / b["seconds"] for a, b in zip(samples[low], samples[high], strict=True)]
    return {
        "objects_per_batch": objects,
        "batch_bytes": sum(path.stat().st_size for _, path in files),
        "batch": [{"kind": kind, "bytes": path.stat().st_size} for kind, path in files],
        "settings": results,
        "speedups": [round(s, 3) for s in speedups],
        "speedup_median": round(median(speedups), 3),
    }


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0])
    cpus = len(os.sched_getaffinity(0))
    args.add_argument("--concurrency", default=f"1,{max(2, cpus)}", help="settings compared (default 1,<vCPUs>)")
    options = args.parse_args(argv)
    count = runs(options, default=7)
    settings = sorted({int(n) for n in options.concurrency.split(",")})
    database = ensure_database(options.quick, options.profile)
    memory_mb = configured_memory_mb()
    started_load = load_average()
    results = measure(count, settings, database, options.quick, memory_mb)
    for concurrency, figures in results["settings"].items():
        print(
            f"concurrency {concurrency}: batch of {results['objects_per_batch']} in {figures['batch_s_median']} s = "
            f"{figures['objects_per_s']} objects/s, {figures['gb_seconds_per_object']} GB-s per object"
        )
    print(f"speedup {results['speedup_median']}x (target >= {TARGET_SPEEDUP}x)")
    write_result(
        options,
        "concurrency",
        {
            "runs": count,
            "database": str(database),
            "signatures": signature_count(database),
            "memory_mb": memory_mb,
            "vcpus": cpus,
            "mix": [kind for kind, _ in UPLOAD_MIX],
            "target_speedup": TARGET_SPEEDUP,
            "load_average_at_start": started_load,
            **results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
