"""The definitions switch through the real runtime: published sets, the watcher, a second clamd, invocations going on.

Set A is published to a definitions bucket (moto, its own process) with the scanner's own publisher; a runtime
built like Lambda's (ScannerRuntime with a DefinitionsWatcher on an injected clock) makes its cold start on it.
One thread then invokes `ScannerRuntime.handle` in a loop, one invocation at a time as Lambda gives them to one
environment, each on a fresh 1 KiB upload that starts with the canary, so every verdict names the set that
produced it (`Bench.Canary.A-...`/`.B-...`) next to the `scan-engine` label it was tagged with. Set B is published
and the clock moved past the check interval: the next invocation downloads B and starts a second clamd on it
(runtime.refresh_definitions), later ones switch once it answers (runtime.settle_switch), and the first clamd
is stopped. Measured: invocations, failed ones, the longest time between two verdicts, publish -> first verdict
by B, the peak RSS of every clamd (summed) and the peak bytes on disk under the definitions directory.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from bench.clamd_proc import MemorySampler, proc_memory
from bench.common import BackgroundLoop, MiB, clamd_settings, discard_output, moto_server, wait_until
from bench.signatures import CANARY
from scanner.clamd import ClamdDaemon
from scanner.config import InfectedAction, Settings
from scanner.definitions.publish import publish_directory
from scanner.definitions.watcher import DefinitionsWatcher
from scanner.process import Outcome
from scanner.runtime import ScannerRuntime
from tests.support.events import s3_event, s3_record

PROBE = CANARY + bytes(1024 - len(CANARY))
CHECK_MINUTES = 15.0


@dataclass
class Verdict:
    at: float
    canary: str | None
    """A or B: the set whose canary signature fired."""
    engine_daily: str | None
    """The daily version in the scan-engine label."""
    failed: str | None = None


def child_clamds() -> list[int]:
    """PIDs of the clamd processes this process started."""
    me = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm, rest = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        if comm.endswith("(clamd") and rest.split()[1] == me:
            found.append(int(entry.name))
    return found


def tree_bytes(root: Path) -> int:
    total = 0
    for path in root.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            pass
    return total


@dataclass
class InvocationLoop(BackgroundLoop):
    """Invokes the handler on fresh canary uploads, one at a time, until stopped."""

    runtime: ScannerRuntime
    s3: Any
    bucket: str
    definitions_dir: Path
    verdicts: list[Verdict] = field(default_factory=list)
    disk_peak: int = 0
    join_timeout_s = 300

    def _run(self) -> None:
        index = 0
        while not self.stopping():
            key = f"switch/{index:06d}.bin"
            index += 1
            reply = self.s3.put_object(Bucket=self.bucket, Key=key, Body=PROBE)
            record = s3_record(
                self.bucket, key, size=len(PROBE), version_id=reply.get("VersionId"), etag=reply["ETag"].strip('"')
            )
            outcomes: list[Outcome] = []
            self.runtime.on_outcome = outcomes.append
            try:
                with discard_output():
                    self.runtime.handle(s3_event(record))
            except Exception as err:  # noqa: BLE001 - a failed invocation is what is counted
                self.verdicts.append(Verdict(time.monotonic(), None, None, f"{type(err).__name__}: {err}"[:200]))
                continue
            self.verdicts.append(self._verdict(outcomes))
            self.disk_peak = max(self.disk_peak, tree_bytes(self.definitions_dir))

    @staticmethod
    def _verdict(outcomes: list[Outcome]) -> Verdict:
        at = time.monotonic()
        if len(outcomes) != 1 or outcomes[0].retry or not outcomes[0].detail:
            return Verdict(at, None, None, f"unexpected outcome {[o.log_fields() for o in outcomes]}"[:300])
        outcome = outcomes[0]
        canary = outcome.detail.split(".")[2][0] if outcome.detail.startswith("Bench.Canary.") else None
        parts = (outcome.engine or "").split("/")
        return Verdict(at, canary, parts[1] if len(parts) > 2 else None, None if canary else outcome.detail)

    def wait_for(self, canary: str, timeout_s: float) -> bool:
        return wait_until(lambda: any(v.canary == canary for v in self.verdicts[-20:]), timeout_s)


def run_runtime(set_a: Path, set_b: Path, daily: dict[str, str], settle_s: float, timeout_s: float) -> dict[str, Any]:
    """The blue-green switch as the scanner runs it; `daily` maps A/B to their daily versions."""
    work = Path(tempfile.mkdtemp(prefix="switch-runtime-"))
    now = [time.time()]
    with moto_server() as endpoint:
        session = boto3.Session()
        s3 = session.client("s3", endpoint_url=endpoint)
        definitions_bucket, uploads = "switch-definitions", "switch-uploads"
        for bucket in (definitions_bucket, uploads):
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        first = publish_directory(s3, definitions_bucket, set_a, previous=None, engine="ClamAV").manifest
        settings = Settings(
            action=InfectedAction.TAG,
            definitions_bucket=definitions_bucket,
            definitions_dir=work / "definitions",
            definitions_check_minutes=CHECK_MINUTES,
            clamd=clamd_settings(set_a, work / "clamd"),
        )
        client = session.client("s3", endpoint_url=endpoint)
        runtime = ScannerRuntime(
            settings=settings,
            daemon=ClamdDaemon(settings.clamd, settings.stream_chunk_bytes),
            s3_client=client,
            definitions=DefinitionsWatcher.from_settings(settings, client, clock=lambda: now[0]),
        )
        sampler = MemorySampler([]).start()
        sampler_stop = threading.Event()

        def follow_clamds() -> None:
            while not sampler_stop.is_set():
                sampler.pids[:] = child_clamds()
                sampler_stop.wait(0.2)

        threading.Thread(target=follow_clamds, daemon=True).start()
        loop = InvocationLoop(runtime, s3, uploads, settings.definitions_dir)
        try:
            with discard_output():
                runtime.start()  # the cold start: download set A, spawn clamd
                runtime.ensure_clamd()
            loop.start()
            time.sleep(settle_s)
            rss_before = sum(proc_memory(pid)[0] for pid in child_clamds())
            published_at = time.monotonic()
            publish_directory(s3, definitions_bucket, set_b, previous=first, engine="ClamAV")
            now[0] += CHECK_MINUTES * 60 + 1
            reached = loop.wait_for("B", timeout_s)
            time.sleep(settle_s)
        finally:
            loop.stop()
            sampler_stop.set()
            sampler.stop()
            runtime.daemon.stop()
            if runtime._next is not None:  # a staged clamd that never answered
                runtime._next[1].stop()
            shutil.rmtree(work, ignore_errors=True)
    return summarize(loop, sampler, published_at, rss_before, reached, daily)


def summarize(
    loop: InvocationLoop,
    sampler: MemorySampler,
    published_at: float,
    rss_before: int,
    reached: bool,
    daily: dict[str, str],
) -> dict[str, Any]:
    verdicts = loop.verdicts
    times = [v.at for v in verdicts if v.failed is None]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    first_b = next((v.at for v in verdicts if v.canary == "B"), None)
    engines: dict[str, int] = {}
    for v in verdicts:
        engines[v.canary or "failed"] = engines.get(v.canary or "failed", 0) + 1
    return {
        "method": "runtime",
        "config": {"switch": "ScannerRuntime.refresh_definitions + settle_switch (blue-green)"},
        "scans": len(verdicts),
        "failed_scans": sum(1 for v in verdicts if v.failed),
        "failures": sorted({v.failed for v in verdicts if v.failed})[:5],
        "refused_connects": 0,
        "max_gap_s": round(max(gaps, default=0.0), 3),
        "switch_to_first_b_s": round(first_b - published_at, 3) if first_b else None,
        "reached_b": reached,
        "engines": engines,
        "a_verdicts_after_first_b": sum(1 for v in verdicts if v.canary == "A" and first_b and v.at > first_b),
        "version_mismatches": sum(
            1 for v in verdicts if v.canary and v.engine_daily and v.engine_daily != daily[v.canary]
        ),
        "engine_labels_checked": sum(1 for v in verdicts if v.canary and v.engine_daily),
        "rss_before_mib": round(rss_before / MiB),
        "peak_rss_mib": round(sampler.peak / MiB),
        "definitions_disk_peak_mb": round(loop.disk_peak / 1e6, 1),
    }
