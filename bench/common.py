"""What every benchmark shares: paths, a moto server in its own process, a warm clamd, runtimes, results."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml

from scanner import constants as c
from scanner.config import ClamdSettings, Settings
from scanner.observability import logger
from scanner.runtime import ScannerRuntime
from tests.support.events import s3_event, s3_record

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache"
RESULTS = REPO / "bench" / "results"
TEST_SIGNATURES = REPO / "tests" / "signatures"
MiB = 1024**2
GiB = 1024**3

# Credentials for the loopback endpoint only; nothing here ever talks to AWS.
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": c.METRICS_NAMESPACE,
}
os.environ.update(AWS_TEST_ENV)
os.environ.pop("AWS_PROFILE", None)


class BackgroundLoop:
    """Runs ``_run`` in a daemon thread from ``start()`` until ``stop()``; ``_run`` loops while not ``stopping()``."""

    join_timeout_s: float = 120

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> Any:
        self._stop_event = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def stop(self) -> None:
        self._stop_event.set()
        self._thread.join(self.join_timeout_s)


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``condition`` every 50 ms for up to ``timeout_s``; whether it came true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def parser(description: str) -> argparse.ArgumentParser:
    """Arguments every benchmark takes."""
    args = argparse.ArgumentParser(description=description)
    args.add_argument("--quick", action="store_true", help="tiny run to check the script works (CI smoke test)")
    args.add_argument("--runs", type=int, default=None, help="repetitions per measurement (default: 7, quick: 1)")
    args.add_argument("--results-dir", type=Path, default=RESULTS, help=f"where the JSON goes (default: {RESULTS})")
    args.add_argument(
        "--profile",
        choices=("official", "legacy"),
        default="official",
        help="signature database: official-shaped (default) or the legacy 1.1 M set (bench/signatures.py)",
    )
    return args


def runs(args: argparse.Namespace, default: int = 7) -> int:
    if args.runs is not None:
        return args.runs
    return 1 if args.quick else default


def add_sizes_argument(args: argparse.ArgumentParser, default: Sequence[int]) -> None:
    """`--sizes` in MiB, comma-separated."""
    listed = ",".join(str(size) for size in default)
    args.add_argument("--sizes", default=None, help=f"object sizes in MiB, comma-separated (default {listed})")


def sizes_mib(args: argparse.Namespace, default: Sequence[int], quick: Sequence[int]) -> list[int]:
    """The object sizes to measure: `--sizes`, else the quick or the full default."""
    if args.sizes:
        return [int(size) for size in args.sizes.split(",")]
    return list(quick if args.quick else default)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 in its own process on loopback (the measured process must not share its memory or GIL)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start (exit code {process.poll()})") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def clamd_settings(
    database_dir: Path, work_dir: Path, *, max_object_bytes: int = c.DEFAULT_MAX_OBJECT_BYTES, scan_concurrency: int = 0
) -> ClamdSettings:
    """The scanner's clamd with the clean-file cache off: every measurement scans for real. MaxThreads as the
    deployed environment renders it for `scan_concurrency` (Settings.from_environment)."""
    concurrency = scan_concurrency or max(1, len(os.sched_getaffinity(0)))
    return ClamdSettings(
        database_dir=database_dir,
        work_dir=work_dir,
        binary=require("clamd"),
        start_timeout_s=300,
        scan_timeout_s=600,
        max_object_bytes=max_object_bytes,
        disable_cache=True,
        max_threads=2 * concurrency + 2,
    )


@contextmanager
def discard_output() -> Iterator[None]:
    """Run with the scanner's log lines and EMF metrics formatted as in Lambda, but written to /dev/null."""
    with open(os.devnull, "w") as devnull:
        previous = [handler.setStream(devnull) for handler in logger.handlers]
        try:
            with contextlib.redirect_stdout(devnull):
                yield
        finally:
            for handler, stream in zip(logger.handlers, previous, strict=True):
                if stream is not None:
                    handler.setStream(stream)


class RequestCounter:
    """Counts the HTTP requests an S3 client sends, by operation (botocore `before-send`: retries count too)."""

    def __init__(self, *clients: Any) -> None:
        self.counts: Counter[str] = Counter()
        for client in clients:
            self.watch(client)

    def watch(self, client: Any) -> None:
        client.meta.events.register("before-send.s3", self._sent, unique_id=f"bench-request-counter-{id(self)}")

    def _sent(self, event_name: str = "", **kwargs: Any) -> None:
        self.counts[event_name.rsplit(".", 1)[-1]] += 1

    def take(self) -> dict[str, int]:
        """The counts since the last take(), reset."""
        counts = dict(sorted(self.counts.items()))
        self.counts.clear()
        return counts


@dataclass
class Bench:
    """One moto server, buckets, and a runtime with a warm clamd: the handler as Lambda runs it."""

    endpoint: str
    s3: Any
    runtime: ScannerRuntime
    bucket: str
    quarantine: str
    s3_seconds: float = 0.0
    """Time the runtime's S3 client spent in calls (HTTP round trips to moto) during the last handle()."""
    requests: dict[str, int] = field(default_factory=dict)
    """S3 requests the runtime sent during the last handle(), by operation."""
    _call_started: float = 0.0
    _counter: RequestCounter | None = None

    def __post_init__(self) -> None:
        events = self.runtime.s3_client.meta.events
        events.register("before-call.s3", self._before_call, unique_id="bench-s3-timer-before")
        events.register("after-call.s3", self._after_call, unique_id="bench-s3-timer-after")
        self._counter = RequestCounter(self.runtime.s3_client)

    @property
    def counter(self) -> RequestCounter:
        assert self._counter is not None
        return self._counter

    def _before_call(self, **kwargs: Any) -> None:
        self._call_started = time.perf_counter()

    def _after_call(self, **kwargs: Any) -> None:
        self.s3_seconds += time.perf_counter() - self._call_started

    def put(self, key: str, body: bytes | Path, *, bucket: str | None = None) -> dict[str, Any]:
        """Upload and return the S3 notification for it (with the version id when the bucket is versioned)."""
        return s3_event(self.put_record(key, body, bucket=bucket))

    def put_record(self, key: str, body: bytes | Path, *, bucket: str | None = None) -> dict[str, Any]:
        """Upload and return the notification's record for it."""
        bucket = bucket or self.bucket
        if isinstance(body, Path):
            self.s3.upload_file(str(body), bucket, key)
            size = body.stat().st_size
        else:
            self.s3.put_object(Bucket=bucket, Key=key, Body=body)
            size = len(body)
        head = self.s3.head_object(Bucket=bucket, Key=key)
        return s3_record(bucket, key, size=size, version_id=head.get("VersionId"), etag=head["ETag"].strip('"'))

    def unversioned_bucket(self) -> str:
        """A bucket without versioning in the same endpoint (attached buckets may be unversioned)."""
        name = f"{self.bucket}-unversioned"[:63]
        with contextlib.suppress(self.s3.exceptions.BucketAlreadyOwnedByYou):
            self.s3.create_bucket(Bucket=name)
        return name

    def untag(self, key: str) -> None:
        """Forget an earlier verdict so the same object is scanned again."""
        self.s3.delete_object_tagging(Bucket=self.bucket, Key=key)

    def handle(self, event: dict[str, Any], expect: str = "CLEAN") -> float:
        """Seconds the handler took for `event`; checks the verdict."""
        with discard_output():
            self.s3_seconds = 0.0
            self.counter.take()
            started = time.perf_counter()
            result = self.runtime.handle(event)
            elapsed = time.perf_counter() - started
            self.requests = self.counter.take()
        statuses = [s["status"] for s in result["statuses"]]
        if statuses != [expect] * len(statuses) or not statuses:
            raise RuntimeError(f"expected {expect}, got {result['statuses']}")
        return elapsed


@contextmanager
def bench_runtime(
    endpoint: str,
    database_dir: Path,
    *,
    max_object_bytes: int = c.DEFAULT_MAX_OBJECT_BYTES,
    name: str = "bench",
    buckets: tuple[str, str] | None = None,
    scan_concurrency: int = 0,
) -> Iterator[Bench]:
    """A runtime built the way Lambda builds it (ScannerRuntime.from_settings), clamd started and warm.

    `buckets` (upload, quarantine) reuses existing buckets; by default two fresh versioned ones are created.
    `scan_concurrency` is SCAN_CONCURRENCY (0: one per vCPU, the deployed default).
    """
    work = Path(tempfile.mkdtemp(prefix=f"{name}-clamd-"))
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    session = boto3.Session()
    s3 = session.client("s3", endpoint_url=endpoint)
    if buckets is None:
        suffix = f"{os.getpid()}-{random.randrange(16**6):06x}"
        buckets = (f"{name}-upload-{suffix}", f"{name}-quarantine-{suffix}")
        for bucket in buckets:
            s3.create_bucket(Bucket=bucket)
            # Versioned, like the upload bucket the stack creates: events name the exact version.
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    bucket, quarantine = buckets
    settings = Settings(
        quarantine_bucket=quarantine,
        max_object_bytes=max_object_bytes,
        scan_concurrency=scan_concurrency,
        clamd=clamd_settings(database_dir, work, max_object_bytes=max_object_bytes, scan_concurrency=scan_concurrency),
    )
    runtime = ScannerRuntime.from_settings(settings, session=session)
    runtime.daemon.start()
    try:
        runtime.daemon.wait_ready()
        runtime.engine()
        yield Bench(endpoint, s3, runtime, bucket, quarantine)
    finally:
        runtime.daemon.stop()
        shutil.rmtree(work, ignore_errors=True)


def random_file(path: Path, size: int, seed: int) -> Path:
    """A file of `size` deterministic pseudo-random bytes (kept in bench/.cache between runs)."""
    if path.exists() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as handle:
        left = size
        while left:
            block = min(left, 4 * MiB)
            handle.write(rng.randbytes(block))
            left -= block
    partial.rename(path)
    return path


def require(binary: str) -> str:
    path = shutil.which(binary)
    if not path:
        raise SystemExit(f"{binary} is not installed (apt-get install clamav clamav-daemon)")
    return path


def clamav_version() -> str:
    return subprocess.run([require("clamd"), "--version"], capture_output=True, text=True, check=True).stdout.strip()


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024**2, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "clamav": clamav_version(),
    }


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (the machine is shared: read every figure beside them)."""
    return [round(value, 2) for value in os.getloadavg()]


def configured_memory_mb() -> int:
    """The scanner's memory in the stack configuration (Pulumi.yaml `memoryMB` default)."""
    document = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    return int(document["config"]["memoryMB"]["default"])


def write_result(args: argparse.Namespace, name: str, data: dict[str, Any]) -> Path:
    """bench/results/<name>.json (or --results-dir), with the machine and the time of the run."""
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"{name}.json"
    document = {
        "benchmark": name,
        "quick": bool(args.quick),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "load_average_at_end": load_average(),
        **data,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def load_results(directory: Path) -> dict[str, dict[str, Any]]:
    """Every <name>.json of a results directory, by name."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def vm_hwm_bytes(pid: int | str = "self") -> int:
    """Peak resident set size of a process (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found in /proc status")
