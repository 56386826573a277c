"""Warm per-object latency: the handler vs the per-invocation `download to /tmp + clamscan -d <db>` pattern.

    python -m bench latency [--runs 21] [--quick]

Both sides handle the same 1 KiB objects from the same moto server (its own process, loopback), with the
same signature database, side by side in every run:

* handler: `ScannerRuntime.handle` on one S3 event with a warm clamd (DisableCache yes) - HEAD, tags read,
  GET streamed into INSTREAM, verdict, tag write;
* per-invocation (bucket-antivirus-function, cdk-serverless-clamscan): `download_file` to /tmp, then
  `clamscan --stdout -d <db> <file>` in a subprocess (it loads the database every time), then the tag read
  and write.

Each database gets its own warm clamd. Reported: the medians and the median of the per-run ratios.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import (
    TEST_SIGNATURES,
    Bench,
    bench_runtime,
    median,
    moto_server,
    parser,
    require,
    runs,
    write_result,
)
from bench.signatures import ensure_database, signature_count

OBJECT_BYTES = 1024
TARGET_RATIO = 100.0


def per_invocation(bench: Bench, key: str, database: Path) -> float:
    """Seconds for the download-then-clamscan pattern on one object, tag write included."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-download-", dir="/tmp") as tmp:
        path = Path(tmp) / "object"
        bench.s3.download_file(bench.bucket, key, str(path))
        scan = subprocess.run(
            [require("clamscan"), "--stdout", "-d", str(database), str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        status = {0: "CLEAN", 1: "INFECTED"}.get(scan.returncode, "ERROR")
        existing = bench.s3.get_object_tagging(Bucket=bench.bucket, Key=key)["TagSet"]
        tags = [t for t in existing if t["Key"] != "av-status"] + [{"Key": "av-status", "Value": status}]
        bench.s3.put_object_tagging(Bucket=bench.bucket, Key=key, Tagging={"TagSet": tags})
    elapsed = time.perf_counter() - started
    if status != "CLEAN":
        raise RuntimeError(f"clamscan said {status}: {scan.stdout} {scan.stderr}")
    return elapsed


def measure(count: int, databases: dict[str, Path]) -> dict[str, Any]:
    rng = random.Random(1)
    results: dict[str, Any] = {}
    with moto_server() as endpoint, ExitStack() as stack:
        benches = {
            label: stack.enter_context(bench_runtime(endpoint, database, name=f"lat-{label[:8]}"))
            for label, database in databases.items()
        }
        samples: dict[str, dict[str, list[float]]] = {
            label: {"handler_s": [], "per_invocation_s": [], "handler_s3_s": []} for label in databases
        }
        for run in range(-2, count):  # two warm-up rounds, not recorded
            order = list(databases.items())
            if run % 2:
                order.reverse()
            for label, database in order:
                bench = benches[label]
                key = f"latency/{run + 2}.bin"
                event = bench.put(key, rng.randbytes(OBJECT_BYTES))
                pair = [
                    ("handler_s", lambda b=bench, e=event: b.handle(e)),
                    ("per_invocation_s", lambda b=bench, k=key, d=database: per_invocation(b, k, d)),
                ]
                if run % 2:
                    pair.reverse()
                for name, measure_one in pair:
                    seconds = measure_one()
                    if run >= 0:
                        samples[label][name].append(seconds)
                        if name == "handler_s":
                            samples[label]["handler_s3_s"].append(bench.s3_seconds)
    for label, database in databases.items():
        handler = samples[label]["handler_s"]
        baseline = samples[label]["per_invocation_s"]
        ratios = [b / h for b, h in zip(baseline, handler, strict=True)]
        results[label] = {
            "database": str(database),
            "signatures": signature_count(database),
            "handler_ms": [round(s * 1000, 2) for s in handler],
            "per_invocation_ms": [round(s * 1000, 2) for s in baseline],
            "handler_ms_median": round(median(handler) * 1000, 2),
            "handler_s3_calls_ms_median": round(median(samples[label]["handler_s3_s"]) * 1000, 2),
            "per_invocation_ms_median": round(median(baseline) * 1000, 2),
            "ratios": [round(r, 1) for r in ratios],
            "ratio_median": round(median(ratios), 1),
        }
    return results


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    count = runs(args, default=21)
    synthetic = ensure_database(args.quick, args.profile)
    databases = {f"synthetic-{synthetic.name.removeprefix('db-')}": synthetic, "test-signatures": TEST_SIGNATURES}
    results = measure(count, databases)
    for label, figures in results.items():
        print(
            f"{label:16} {figures['signatures']:>9,} signatures: handler {figures['handler_ms_median']:8.1f} ms, "
            f"download+clamscan {figures['per_invocation_ms_median']:8.1f} ms, ratio {figures['ratio_median']}x"
        )
    write_result(
        args,
        "latency",
        {"object_bytes": OBJECT_BYTES, "runs": count, "target_ratio": TARGET_RATIO, "databases": results},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
