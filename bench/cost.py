"""Cost per million objects: Lambda (measured durations, configured memory) beside GuardDuty Malware Protection.

    python -m bench cost [--runs 7] [--memory-mb N] [--quick]

The handler's end-to-end duration (`ScannerRuntime.handle`, warm clamd, DisableCache yes, synthetic database,
moto server on loopback) is measured for 100 KiB, 1 MiB and 10 MiB objects; Lambda bills it rounded up to the
millisecond at the configured memory (Pulumi.yaml `memoryMB` default unless --memory-mb), plus the request fee.
GuardDuty Malware Protection for S3: $0.09 per GB scanned plus $0.215 per 1,000 objects.

moto on loopback answers faster than S3 in a region does, so real durations are longer; the break-even column
says how long an object could take before Lambda cost as much as GuardDuty.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from bench.common import REPO, bench_runtime, median, moto_server, parser, runs, write_result
from bench.signatures import ensure_database

KiB = 1024
MiB = 1024**2
GB = 1024**3
"""AWS bills a GB as 2**30 bytes."""

LAMBDA_GB_SECOND_USD = 0.0000166667
"""x86, first pricing tier."""
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
GUARDDUTY_GB_USD = 0.09
GUARDDUTY_OBJECT_USD = 0.215 / 1_000
SIZES = {"100 KiB": 100 * KiB, "1 MiB": MiB, "10 MiB": 10 * MiB}
QUICK_SIZES = {"1 KiB": KiB, "100 KiB": 100 * KiB}


def configured_memory_mb() -> int:
    """The scanner's memory in the stack configuration (Pulumi.yaml default)."""
    document = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    return int(document["config"]["memoryMB"]["default"])


def lambda_usd(duration_s: float, memory_mb: int) -> float:
    billed_s = math.ceil(duration_s * 1000) / 1000
    return billed_s * memory_mb / 1024 * LAMBDA_GB_SECOND_USD + LAMBDA_REQUEST_USD


def guardduty_usd(size: int) -> float:
    return size / GB * GUARDDUTY_GB_USD + GUARDDUTY_OBJECT_USD


def break_even_s(size: int, memory_mb: int) -> float:
    """Object duration at which Lambda costs as much as GuardDuty."""
    return (guardduty_usd(size) - LAMBDA_REQUEST_USD) / (memory_mb / 1024 * LAMBDA_GB_SECOND_USD)


def measure(count: int, sizes: dict[str, int], database: Path) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {label: [] for label in sizes}
    with moto_server() as endpoint, bench_runtime(endpoint, database, name="cost") as bench:
        for run in range(-2, count):  # two warm-up rounds, not recorded
            for label, size in sizes.items():
                event = bench.put(f"cost/{run + 2}-{size}.bin", os.urandom(size))
                seconds = bench.handle(event)
                if run >= 0:
                    samples[label].append(seconds)
    return samples


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0])
    args.add_argument("--memory-mb", type=int, default=None, help="Lambda memory (default: Pulumi.yaml memoryMB)")
    args = args.parse_args(argv)
    count = runs(args, default=7)
    memory_mb = args.memory_mb or configured_memory_mb()
    sizes = QUICK_SIZES if args.quick else SIZES
    database = ensure_database(args.quick, args.profile)
    samples = measure(count, sizes, database)
    results: dict[str, Any] = {}
    for label, size in sizes.items():
        duration = median(samples[label])
        per_million_lambda = lambda_usd(duration, memory_mb) * 1_000_000
        per_million_guardduty = guardduty_usd(size) * 1_000_000
        results[label] = {
            "bytes": size,
            "duration_ms": [round(s * 1000, 2) for s in samples[label]],
            "duration_ms_median": round(duration * 1000, 2),
            "lambda_usd_per_million": round(per_million_lambda, 2),
            "guardduty_usd_per_million": round(per_million_guardduty, 2),
            "guardduty_over_lambda": round(per_million_guardduty / per_million_lambda, 1),
            "break_even_s": round(break_even_s(size, memory_mb), 2),
        }
        print(
            f"{label:>8}: {duration * 1000:7.1f} ms -> Lambda ${per_million_lambda:9.2f} / 1M objects, "
            f"GuardDuty ${per_million_guardduty:9.2f} / 1M ({results[label]['guardduty_over_lambda']}x), "
            f"break-even at {results[label]['break_even_s']} s per object"
        )
    write_result(
        args,
        "cost",
        {
            "runs": count,
            "memory_mb": memory_mb,
            "database": str(database),
            "prices": {
                "lambda_gb_second_usd": LAMBDA_GB_SECOND_USD,
                "lambda_request_usd": LAMBDA_REQUEST_USD,
                "guardduty_gb_usd": GUARDDUTY_GB_USD,
                "guardduty_object_usd": GUARDDUTY_OBJECT_USD,
            },
            "sizes": results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
