"""Warm 1 KiB latency and S3 requests per clean object: the handler, the call sequence before issue 14, clamscan.

    python -m bench latency [--runs 11] [--quick]

One moto server (its own process, loopback) and, per database (the production-shaped one and the 2-signature
test set), one runtime with a warm clamd. Every run handles fresh 1 KiB objects, side by side, the order
alternating from run to run:

* handler: `ScannerRuntime.handle` on the object's S3 event: one GET (the tags read alongside only when the GET
  reports some), INSTREAM, one PutObjectTagging, and in an unversioned bucket one HEAD (replaced during the scan?);
* old sequence: the same handler with the calls it made before issue 14 replayed around it: HEAD, then
  GetObjectTagging, in sequence before the GET (a botocore hook on the runtime's own client), so clamd, the
  scan, the tag write and the unversioned HEAD are the same, and only the two extra round trips differ;
* per-invocation (bucket-antivirus-function, cdk-serverless-clamscan): `download_file` to /tmp, then
  `clamscan --stdout -d <db> <file>` in a subprocess (it loads the database every time), then the tag read and
  write.

The handler and the old sequence run on a versioned bucket (the stack's managed upload bucket) and on an
unversioned one (an attached bucket may be). Every HTTP request the runtime's S3 client sends is counted by
operation (botocore `before-send`). Reported: medians, per-run ratios and their medians, the request counts.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.common import (
    TEST_SIGNATURES,
    Bench,
    bench_runtime,
    load_average,
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
TARGET_REQUESTS = {"versioned": 2, "unversioned": 3}
"""GET + PutObjectTagging, plus one HEAD where the bucket is unversioned (issue 14)."""
SEQUENCES = ("handler-versioned", "old-versioned", "handler-unversioned", "old-unversioned")


@contextmanager
def old_call_sequence(bench: Bench) -> Iterator[None]:
    """While active, every whole-object GET of the runtime's client is preceded by a HEAD and a GetObjectTagging of
    the same object, in sequence: the handler's S3 calls as they were before the one-GET restructuring."""
    client = bench.runtime.s3_client

    def before_get(params: dict[str, Any], **kwargs: Any) -> None:
        if "Range" in params:
            return
        target = {key: params[key] for key in ("Bucket", "Key", "VersionId") if key in params}
        client.head_object(**target)
        client.get_object_tagging(**target)

    unique_id = f"bench-old-sequence-{id(bench)}"
    client.meta.events.register("before-parameter-build.s3.GetObject", before_get, unique_id=unique_id)
    try:
        yield
    finally:
        client.meta.events.unregister("before-parameter-build.s3.GetObject", unique_id=unique_id)


def sequence_step(bench: Bench, name: str, bucket: str, body: bytes, key: str) -> tuple[float, dict[str, int]]:
    """Seconds and S3 requests for one object through `name` (handler-* or old-*)."""
    event = bench.put(key, body, bucket=bucket)
    if name.startswith("old-"):
        with old_call_sequence(bench):
            seconds = bench.handle(event)
    else:
        seconds = bench.handle(event)
    return seconds, bench.requests


def per_invocation(bench: Bench, key: str, database: Path) -> float:
    """Seconds for the download-then-clamscan pattern on one object, tag read and write included."""
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


def measure_database(bench: Bench, database: Path, count: int, rng: random.Random) -> dict[str, Any]:
    """Every run: the four sequences and the per-invocation pattern on fresh objects, alternating the order."""
    buckets = {"versioned": bench.bucket, "unversioned": bench.unversioned_bucket()}
    seconds: dict[str, list[float]] = {name: [] for name in (*SEQUENCES, "per_invocation")}
    requests: dict[str, Counter[str]] = {name: Counter() for name in SEQUENCES}
    s3_seconds: list[float] = []
    for run in range(-2, count):  # two warm-up rounds, not recorded
        steps: list[tuple[str, Callable[[], tuple[float, dict[str, int]]]]] = []
        for name in SEQUENCES:
            bucket = buckets[name.split("-", 1)[1]]
            key = f"latency/{name}/{run + 2}.bin"
            body = rng.randbytes(OBJECT_BYTES)
            steps.append((name, lambda n=name, b=bucket, k=key, d=body: sequence_step(bench, n, b, d, k)))
        key = f"latency/per-invocation/{run + 2}.bin"
        bench.put(key, rng.randbytes(OBJECT_BYTES))
        steps.append(("per_invocation", lambda k=key: (per_invocation(bench, k, database), {})))
        if run % 2:
            steps.reverse()
        for name, measure_one in steps:
            elapsed, sent = measure_one()
            if run < 0:
                continue
            seconds[name].append(elapsed)
            if name in requests:
                requests[name][_signature(sent)] += 1
            if name == "handler-versioned":
                s3_seconds.append(bench.s3_seconds)
    return summarize(database, seconds, requests, s3_seconds)


def _signature(sent: dict[str, int]) -> str:
    return ",".join(f"{op}={n}" for op, n in sorted(sent.items()))


def _parse(signature: str) -> dict[str, int]:
    return {op: int(n) for op, n in (part.split("=") for part in signature.split(",") if part)}


def summarize(
    database: Path, seconds: dict[str, list[float]], requests: dict[str, Counter[str]], s3_seconds: list[float]
) -> dict[str, Any]:
    handler = seconds["handler-versioned"]
    baseline = seconds["per_invocation"]
    sequences: dict[str, Any] = {}
    for name in SEQUENCES:
        common, _ = requests[name].most_common(1)[0]
        counts = _parse(common)
        sequences[name] = {
            "ms": [round(s * 1000, 2) for s in seconds[name]],
            "ms_median": round(median(seconds[name]) * 1000, 2),
            "requests": counts,
            "requests_total": sum(counts.values()),
            "request_patterns": {k: v for k, v in requests[name].items()},
        }
    old_over_new = {
        kind: [o / n for o, n in zip(seconds[f"old-{kind}"], seconds[f"handler-{kind}"], strict=True)]
        for kind in ("versioned", "unversioned")
    }
    ratios = [b / h for b, h in zip(baseline, handler, strict=True)]
    return {
        "database": str(database),
        "signatures": signature_count(database),
        "sequences": sequences,
        "handler_ms": [round(s * 1000, 2) for s in handler],
        "handler_ms_median": round(median(handler) * 1000, 2),
        "handler_s3_calls_ms_median": round(median(s3_seconds) * 1000, 2),
        "per_invocation_ms": [round(s * 1000, 2) for s in baseline],
        "per_invocation_ms_median": round(median(baseline) * 1000, 2),
        "ratios": [round(r, 1) for r in ratios],
        "ratio_median": round(median(ratios), 1),
        "old_over_new_median": {kind: round(median(v), 3) for kind, v in old_over_new.items()},
        "old_minus_new_ms_median": {
            kind: round(
                median(
                    [(o - n) * 1000 for o, n in zip(seconds[f"old-{kind}"], seconds[f"handler-{kind}"], strict=True)]
                ),
                2,
            )
            for kind in ("versioned", "unversioned")
        },
    }


def measure(count: int, databases: dict[str, Path]) -> dict[str, Any]:
    rng = random.Random(1)
    with moto_server() as endpoint, ExitStack() as stack:
        benches = {
            label: stack.enter_context(bench_runtime(endpoint, database, name=f"lat-{label[:8]}"))
            for label, database in databases.items()
        }
        return {label: measure_database(benches[label], databases[label], count, rng) for label in databases}


def requests_met(figures: dict[str, Any]) -> bool:
    """The handler sends exactly the targeted requests per clean object, in both kinds of bucket."""
    sequences = figures["sequences"]
    return all(
        sequences[f"handler-{kind}"]["requests_total"] == total
        and len(sequences[f"handler-{kind}"]["request_patterns"]) == 1
        for kind, total in TARGET_REQUESTS.items()
    )


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    count = runs(args, default=11)
    production = ensure_database(args.quick, args.profile)
    databases = {f"synthetic-{production.name.removeprefix('db-')}": production, "test-signatures": TEST_SIGNATURES}
    started_load = load_average()
    results = measure(count, databases)
    for label, figures in results.items():
        sequences = figures["sequences"]
        print(
            f"{label:28} {figures['signatures']:>9,} signatures: handler {figures['handler_ms_median']:8.1f} ms "
            f"({sequences['handler-versioned']['requests']}), old sequence "
            f"{sequences['old-versioned']['ms_median']:8.1f} ms ({sequences['old-versioned']['requests']}), "
            f"download+clamscan {figures['per_invocation_ms_median']:9.1f} ms, ratio {figures['ratio_median']}x; "
            f"unversioned {sequences['handler-unversioned']['requests']}"
        )
    write_result(
        args,
        "latency",
        {
            "object_bytes": OBJECT_BYTES,
            "runs": count,
            "target_ratio": TARGET_RATIO,
            "target_requests": TARGET_REQUESTS,
            "load_average_at_start": started_load,
            "databases": results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
