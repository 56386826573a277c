"""Burst: 1,000 objects uploaded at once through `scanner local`; all must reach a final status, none lost.

    python -m bench burst [--runs 3] [--objects 1000] [--quick]

Each run starts a fresh `python -m scanner local --port 0 --json --database <synthetic database>` (embedded
S3/SQS/SNS endpoint, upload bucket -> SQS -> handler, 2 retries then a dead-letter queue, a real clamd), uploads
the objects from 16 threads at once (1-64 KiB of random bytes; one in every 100 ends with EICAR), and reads the
verdict lines until every object has a final status. Then each object is looked up: tagged CLEAN in the upload
bucket, or (infected) in quarantine with its source gone. Objects per second: objects / (first upload to last
final verdict).
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

from bench.common import REPO, load_average, median, parser, runs, write_result
from bench.signatures import ensure_database
from tests.support.clamd import EICAR

FINAL = {"CLEAN", "INFECTED", "UNSCANNABLE"}
TIMEOUT_S = 900.0


class LocalPipeline:
    """`scanner local` in a subprocess, its stdout read line by line on a thread."""

    def __init__(self, database: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scanner", "local", "--port", "0", "--json", "--database", str(database)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.endpoint, self.upload, self.quarantine = self._ready()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def _ready(self) -> tuple[str, str, str]:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    raise RuntimeError(f"scanner local exited with {self.process.returncode}") from None
                continue
            if line.startswith("READY "):
                fields = dict(part.split("=", 1) for part in line.split()[1:])
                return fields["endpoint"], fields["upload"], fields["quarantine"]
        raise RuntimeError("scanner local did not print READY")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def bodies(count: int, seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    objects = {}
    for index in range(count):
        body = rng.randbytes(rng.randrange(1024, 64 * 1024))
        key = f"burst/{seed}/{index:05d}.bin"
        objects[key] = body + EICAR if index % 100 == 7 else body
    return objects


def burst(database: Path, count: int, seed: int) -> dict[str, Any]:
    pipeline = LocalPipeline(database)
    try:
        s3 = boto3.Session().client("s3", endpoint_url=pipeline.endpoint)
        objects = bodies(count, seed)
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(lambda item: s3.put_object(Bucket=pipeline.upload, Key=item[0], Body=item[1]), objects.items())
            )
        uploaded = time.monotonic()
        latest: dict[str, dict[str, Any]] = {}
        retries = dead_letters = 0
        last_final = started
        while True:
            pending = [k for k in objects if not _final(latest.get(k))]
            if not pending:
                break
            if time.monotonic() - started > TIMEOUT_S:
                raise RuntimeError(f"{len(pending)} objects without a final status after {TIMEOUT_S:.0f} s")
            try:
                line = pipeline.lines.get(timeout=5)
            except queue.Empty:
                if pipeline.process.poll() is not None:
                    raise RuntimeError("scanner local stopped") from None
                continue
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if record.get("type") == "retry":
                retries += 1
            elif record.get("type") == "dead-letter":
                dead_letters += 1
            elif record.get("type") == "verdict" and record.get("key") in objects:
                latest[record["key"]] = record
                if _final(record):
                    last_final = time.monotonic()
        audit = _audit(s3, pipeline, objects)
    finally:
        pipeline.stop()
    seconds = last_final - started
    statuses = [latest[k]["status"] for k in objects]
    return {
        "objects": count,
        "infected": sum(1 for k in objects if objects[k].endswith(EICAR)),
        "upload_s": round(uploaded - started, 2),
        "seconds": round(seconds, 2),
        "objects_per_s": round(count / seconds, 1),
        "statuses": {s: statuses.count(s) for s in sorted(set(statuses))},
        "retries": retries,
        "dead_letters": dead_letters,
        **audit,
    }


def _final(record: dict[str, Any] | None) -> bool:
    return bool(record) and record["status"] in FINAL and not record.get("retry")


def _audit(s3: Any, pipeline: LocalPipeline, objects: dict[str, bytes]) -> dict[str, int]:
    """Where every object is: lost = in neither bucket; wrong = infected left in place or clean not tagged CLEAN."""
    quarantined = {
        obj["Key"].split("/", 1)[1]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=pipeline.quarantine)
        for obj in page.get("Contents", [])
    }
    in_upload = {
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=pipeline.upload)
        for obj in page.get("Contents", [])
    }
    lost = wrong = 0
    for key, body in objects.items():
        infected = body.endswith(EICAR)
        if key not in in_upload and key not in quarantined:
            lost += 1
        elif infected and (key in in_upload or key not in quarantined):
            wrong += 1
        elif not infected:
            tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=pipeline.upload, Key=key)["TagSet"]}
            wrong += tags.get("scan-status") != "CLEAN"
    return {"lost": lost, "wrong": wrong}


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0])
    args.add_argument("--objects", type=int, default=None, help="objects per burst (default 1000, quick: 20)")
    args = args.parse_args(argv)
    count = runs(args, default=3)
    objects = args.objects or (20 if args.quick else 1000)
    database = ensure_database(args.quick, args.profile)
    started_load = load_average()
    results = []
    for run in range(count):
        result = burst(database, objects, seed=run)
        results.append(result)
        print(
            f"run {run}: {result['objects']} objects in {result['seconds']} s = {result['objects_per_s']} objects/s; "
            f"statuses {result['statuses']}, lost {result['lost']}, wrong {result['wrong']}, "
            f"retries {result['retries']}, dead letters {result['dead_letters']}"
        )
    rates = [r["objects_per_s"] for r in results]
    summary = {
        "objects_per_s_median": round(median(rates), 1),
        "seconds_median": round(median([r["seconds"] for r in results]), 2),
        "lost_total": sum(r["lost"] for r in results),
        "wrong_total": sum(r["wrong"] for r in results),
        "dead_letters_total": sum(r["dead_letters"] for r in results),
    }
    print(f"median {summary['objects_per_s_median']} objects/s; lost {summary['lost_total']}")
    write_result(
        args,
        "burst",
        {
            "runs": count,
            "database": str(database),
            "objects": objects,
            "load_average_at_start": started_load,
            "bursts": results,
            **summary,
        },
    )
    return 1 if summary["lost_total"] or summary["wrong_total"] else 0


if __name__ == "__main__":
    sys.exit(main())
