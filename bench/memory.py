"""Memory: the handler process's peak RSS by object size.

    python -m bench memory [--runs 3] [--sizes 1,64,256,512] [--kind text] [--quick]

The moto server runs in its own process. For every (run, size) a fresh Python process builds the runtime the
way Lambda does (its own clamd, DisableCache yes, synthetic database), handles one 1 KiB object to warm up,
then handles the measured object, and reports its own peak RSS (VmHWM). clamd is a separate process and is
not counted; its peak RSS is reported beside it for context. Content: CSV text by default (bench/corpus.py; the
handler streams every kind the same way, and text scans fastest on this database).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    MiB,
    add_sizes_argument,
    bench_runtime,
    median,
    moto_server,
    parser,
    runs,
    sizes_mib,
    vm_hwm_bytes,
    write_result,
)
from bench.corpus import KINDS, corpus_file
from bench.signatures import ensure_database
from scanner import constants as c
from tests.support.events import s3_event, s3_record

TARGET_GROWTH_MIB = 32
DEFAULT_SIZES_MIB = (1, 64, 256, 512)
"""Text up to 512 MiB: clamd scans plain text twice (as is and normalised), and both count against MaxScanSize
(2 GiB - 1 here), so a 1 GiB text object ends UNSCANNABLE limits-exceeded:MaxScanSize."""


def child(endpoint: str, bucket: str, quarantine: str, key: str, size: int, database: Path) -> dict[str, Any]:
    """Runs in the measured process."""
    buckets = (bucket, quarantine)
    with bench_runtime(endpoint, database, max_object_bytes=c.CLAMD_MAX_LIMIT_BYTES, buckets=buckets) as bench:
        bench.handle(bench.put(f"warmup-{key}", b"w" * 1024))
        before = vm_hwm_bytes()
        bench.untag(key)
        head = bench.s3.head_object(Bucket=bucket, Key=key)
        version, etag = head.get("VersionId"), head["ETag"].strip('"')
        seconds = bench.handle(s3_event(s3_record(bucket, key, size=size, version_id=version, etag=etag)))
        peak = vm_hwm_bytes()
        clamd_peak = vm_hwm_bytes(bench.runtime.daemon.pid or 0)
    return {"before_bytes": before, "peak_bytes": peak, "clamd_peak_bytes": clamd_peak, "seconds": seconds}


def measure_once(endpoint: str, bucket: str, quarantine: str, key: str, size: int, database: Path) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.memory",
        "--child",
        endpoint,
        bucket,
        quarantine,
        key,
        str(size),
        str(database),
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"measured process failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(count: int, sizes_mib: list[int], database: Path, kind: str) -> dict[str, Any]:
    files = {size: corpus_file(kind, size * MiB) for size in sizes_mib}
    samples: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes_mib}
    with moto_server() as endpoint, bench_runtime(endpoint, database, name="mem") as setup:
        setup.runtime.daemon.stop()  # only the buckets are needed here
        for size, path in files.items():
            setup.put(f"memory/{size}MiB.bin", path)
        for run in range(count):
            for size in sizes_mib:
                sample = measure_once(
                    endpoint, setup.bucket, setup.quarantine, f"memory/{size}MiB.bin", size * MiB, database
                )
                samples[size].append(sample)
                print(
                    f"run {run}: {size:5} MiB peak RSS {sample['peak_bytes'] / MiB:6.1f} MiB "
                    f"(before {sample['before_bytes'] / MiB:6.1f}, clamd {sample['clamd_peak_bytes'] / MiB:7.1f})"
                )
    results: dict[str, Any] = {}
    for size in sizes_mib:
        peaks = [s["peak_bytes"] / MiB for s in samples[size]]
        results[str(size)] = {
            "peak_rss_mib": [round(p, 1) for p in peaks],
            "peak_rss_mib_median": round(median(peaks), 1),
            "before_rss_mib_median": round(median([s["before_bytes"] / MiB for s in samples[size]]), 1),
            "clamd_peak_rss_mib_median": round(median([s["clamd_peak_bytes"] / MiB for s in samples[size]]), 1),
            "seconds_median": round(median([s["seconds"] for s in samples[size]]), 3),
        }
    return {"sizes_mib": results, "growth_mib": growth_mib(results)}


def growth_mib(sizes: dict[str, Any]) -> float:
    """Spread of the median peaks across the sizes (largest minus smallest)."""
    medians = [figures["peak_rss_mib_median"] for figures in sizes.values()]
    return round(max(medians) - min(medians), 1)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "--child":
        endpoint, bucket, quarantine, key, size, database = argv[1:]
        print(json.dumps(child(endpoint, bucket, quarantine, key, int(size), Path(database))))
        return 0
    args = parser(__doc__.splitlines()[0])
    add_sizes_argument(args, DEFAULT_SIZES_MIB)
    args.add_argument("--kind", default="text", choices=KINDS, help="content (bench/corpus.py), default text")
    args = args.parse_args(argv)
    count = runs(args, default=3)
    sizes = sizes_mib(args, DEFAULT_SIZES_MIB, quick=[1, 8])
    database = ensure_database(args.quick, args.profile)
    results = measure(count, sizes, database, args.kind)
    for size, figures in results["sizes_mib"].items():
        print(f"{size:>5} MiB: handler peak RSS {figures['peak_rss_mib_median']} MiB (median of {count})")
    print(f"growth {sizes[0]} -> {sizes[-1]} MiB: {results['growth_mib']} MiB (target <= {TARGET_GROWTH_MIB})")
    write_result(
        args,
        "memory",
        {
            "runs": count,
            "database": str(database),
            "kind": args.kind,
            "target_growth_mib": TARGET_GROWTH_MIB,
            **results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
