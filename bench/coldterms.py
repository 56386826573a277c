"""Cold-start terms on the official-shaped database: definitions download, clamd's load, time to first verdict.

    python -m bench coldterms [--runs 3] [--quick]

The set (main.cud, daily.cud, the test signatures) is uploaded to a moto S3 bucket in its own process; each run
downloads every file in parallel (8 threads, streamed to a fresh directory, as scanner/definitions/fetch.py
does), spawns clamd on it, and times until it answers PING and until the first INSTREAM verdict of 1 KiB. The
download over loopback says nothing about S3 in a region: the same bytes are also given at 50 and 100 MB/s (see
docs/BENCHMARKS.md for why those rates).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

from bench.clamd_proc import Clamd
from bench.common import median, moto_server, parser, runs, write_result
from bench.scanning import scan
from bench.signatures import database_bytes, ensure_database

RATES_MB_S = (50, 100)
CHUNK = 1024 * 1024


def download(s3: Any, bucket: str, keys: list[str], directory: Path) -> None:
    def one(key: str) -> None:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        with (directory / key).open("wb") as out:
            while chunk := body.read(CHUNK):
                out.write(chunk)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, keys))


def measure(database: Path, count: int) -> dict[str, Any]:
    files = [p for p in sorted(database.iterdir()) if p.name != "spec.json"]
    size = database_bytes(database)
    figures: dict[str, list[float]] = {"download_s": [], "load_s": [], "first_verdict_s": []}
    with moto_server() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        bucket = "bench-definitions"
        s3.create_bucket(Bucket=bucket)
        for path in files:
            s3.upload_file(str(path), bucket, path.name)
        for run in range(count):
            target = Path(tempfile.mkdtemp(prefix="coldterms-"))
            try:
                started = time.monotonic()
                download(s3, bucket, [p.name for p in files], target)
                downloaded = time.monotonic() - started
                clamd = Clamd(target, name="coldterms")
                clamd.start()
                try:
                    load = clamd.wait_ready(poll_s=0.005)
                    verdict = scan(clamd.client, os.urandom(1024))
                    first = time.monotonic() - clamd.spawned_at
                finally:
                    clamd.stop()
                if not verdict.clean:
                    raise RuntimeError(f"first verdict {verdict.reply}")
            finally:
                shutil.rmtree(target, ignore_errors=True)
            for key, value in (("download_s", downloaded), ("load_s", load), ("first_verdict_s", first)):
                figures[key].append(round(value, 3))
            print(f"run {run}: download {downloaded:.2f} s, clamd PING {load:.2f} s, first verdict {first:.2f} s")
    download_s = median(figures["download_s"])
    first_s = median(figures["first_verdict_s"])
    return {
        "database_bytes": size,
        "runs": figures,
        **{f"{key}_median": round(median(v), 3) for key, v in figures.items()},
        "moto_mb_per_s": round(size / 1e6 / download_s, 1),
        "at_rate": {
            str(rate): {"download_s": round(size / 1e6 / rate, 2), "total_s": round(size / 1e6 / rate + first_s, 2)}
            for rate in RATES_MB_S
        },
    }


def main(argv: list[str] | None = None) -> int:
    options = parser(__doc__.splitlines()[0]).parse_args(argv)
    count = runs(options, default=3)
    database = ensure_database(options.quick, "official")
    results = measure(database, count)
    print(
        f"{results['database_bytes'] / 1e6:.1f} MB: moto {results['moto_mb_per_s']} MB/s "
        f"({results['download_s_median']} s), clamd load {results['load_s_median']} s, "
        f"first verdict {results['first_verdict_s_median']} s after spawn; at 50/100 MB/s: "
        + ", ".join(f"{r} MB/s total {v['total_s']} s" for r, v in results["at_rate"].items())
    )
    write_result(options, "coldterms", {"database": str(database), **results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
