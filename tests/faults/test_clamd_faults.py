"""clamd killed mid-scan, hanging past the scan timeout, and out of temporary space (its /tmp full).

Each test runs its own clamd (start_clamd), never the session's. The object must never come back CLEAN, the
event must be retried when no verdict could be had, and a rerun on a healthy clamd must converge.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from typing import Any

import pytest

from scanner.runtime import ScannerRuntime
from tests.faults.harness import deliver, upload
from tests.faults.injection import ClamdFault, freeze, kill, thaw
from tests.faults.ledger import Tracked, Whereabouts, assert_final, assert_safe
from tests.support.clamd import EICAR

MiB = 1024**2
KINDS = ["clean", "infected"]


def body_of(kind: str, size: int = 2 * MiB) -> bytes:
    """`size` unique bytes; the infected ones end with EICAR, so any scan of a prefix alone says OK."""
    data = uuid.uuid4().bytes + os.urandom(size - 16 - len(EICAR))
    return data + (EICAR if kind == "infected" else b"\0" * len(EICAR))


def on(runtime: ScannerRuntime, daemon: Any) -> ScannerRuntime:
    """The same runtime on another clamd (a rerun in a healthy environment)."""
    return dataclasses.replace(
        runtime, daemon=daemon, settings=dataclasses.replace(runtime.settings, clamd=daemon.settings)
    )


def status_of(found: dict[str, Whereabouts], obj: Tracked) -> tuple[str | None, str | None]:
    where = found[obj.key]
    return where.status, (where.source_tags or {}).get("scan-detail")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("point", ["command", "mid-stream", "terminator"])
def test_clamd_killed_once_is_restarted_and_the_object_rescanned(
    start_clamd, runtime_for, make_bucket, s3, ledger, monkeypatch, point: str, kind: str
) -> None:
    """Killed right after INSTREAM, half-way through the data, or after the last chunk (while scanning)."""
    daemon = start_clamd()
    runtime = runtime_for(daemon)
    fault = ClamdFault(daemon, point, kill(daemon), after_bytes=MiB, times=1).install(monkeypatch)
    obj, event = upload(s3, make_bucket(versioned=True), f"k/{kind}.bin", body_of(kind), bad=kind == "infected")
    killed_pid = daemon.pid
    retry, _ = deliver(runtime, event, "s3")
    ledger.fault(fault.fired)
    assert fault.fired == 1
    assert daemon.is_running() and daemon.pid != killed_pid, "the scanner restarts a dead clamd"
    assert not retry, "the restarted clamd rescanned the object within the same invocation"
    found = ledger.check(s3, [obj], runtime.settings.quarantine_bucket)
    assert_safe(found, [obj])
    assert_final(found, obj)


@pytest.mark.parametrize("via", ["s3", "sqs"])
@pytest.mark.parametrize("kind", KINDS)
def test_clamd_killed_on_every_attempt_is_an_error_and_retried(
    start_clamd, runtime_for, make_bucket, s3, ledger, monkeypatch, kind: str, via: str
) -> None:
    daemon = start_clamd()
    runtime = runtime_for(daemon)
    fault = ClamdFault(daemon, "terminator", kill(daemon), times=None).install(monkeypatch)
    obj, event = upload(s3, make_bucket(versioned=True), f"k/{kind}.bin", body_of(kind), bad=kind == "infected")
    retry, _ = deliver(runtime, event, via)
    ledger.fault(fault.fired)
    assert fault.fired == 2, "one scan and one rescan after the restart"
    assert retry
    found = ledger.check(s3, [obj], runtime.settings.quarantine_bucket)
    assert_safe(found, [obj])
    assert status_of(found, obj) == ("ERROR", "ClamdConnectionError")

    fault.disarm()
    retry, _ = deliver(runtime, event, via)
    assert not retry
    found = ledger.check(s3, [obj], runtime.settings.quarantine_bucket)
    assert_final(found, obj)


@pytest.mark.parametrize(
    ("kind", "size"),
    [("infected", 4096), ("clean", 4 * MiB)],
    ids=["small-infected-reply-times-out", "large-clean-send-times-out"],
)
def test_clamd_hanging_past_the_timeout_is_an_error_never_clean(
    start_clamd, runtime_for, make_bucket, s3, ledger, monkeypatch, kind: str, size: int
) -> None:
    """SIGSTOP right after INSTREAM: the small object fits in the socket buffers and the reply never comes;
    the large one blocks the sender. Both must hit the 2 s scan timeout."""
    daemon = start_clamd(scan_timeout_s=2)
    runtime = runtime_for(daemon)
    fault = ClamdFault(daemon, "command", freeze(daemon), times=1).install(monkeypatch)
    obj, event = upload(s3, make_bucket(versioned=True), f"h/{kind}.bin", body_of(kind, size), bad=kind == "infected")
    try:
        retry, _ = deliver(runtime, event, "s3")
    finally:
        thaw(daemon)
    ledger.fault(fault.fired)
    assert fault.fired == 1 and retry
    found = ledger.check(s3, [obj], runtime.settings.quarantine_bucket)
    assert_safe(found, [obj])
    assert status_of(found, obj) == ("ERROR", "ClamdConnectionError")

    retry, _ = deliver(runtime, event, "s3")
    assert not retry
    assert_final(ledger.check(s3, [obj], runtime.settings.quarantine_bucket), obj)


def test_clamd_hung_before_the_invocation_is_replaced(start_clamd, runtime_for, make_bucket, s3, ledger) -> None:
    """clamd answered once, then stopped answering for good (SIGSTOP, never continued)."""
    daemon = start_clamd(scan_timeout_s=2, start_timeout_s=2)
    runtime = runtime_for(daemon)
    obj, event = upload(s3, make_bucket(versioned=True), "h/evil.bin", body_of("infected", 4096), bad=True)
    freeze(daemon)()
    ledger.fault()
    hung_pid = daemon.pid
    retry, _ = deliver(runtime, event, "s3")
    assert daemon.pid != hung_pid and daemon.is_running(), "the hung clamd was replaced"
    assert not retry, "and the object scanned in the same invocation"
    assert_final(ledger.check(s3, [obj], runtime.settings.quarantine_bucket), obj)


@pytest.mark.parametrize("kind", KINDS)
def test_clamd_out_of_temporary_space_is_an_error_and_a_healthy_rerun_converges(
    tiny_tmpfs, start_clamd, runtime_for, make_bucket, s3, ledger, kind: str
) -> None:
    """clamd spools INSTREAM data to its TemporaryDirectory, here a 2 MiB tmpfs; the object is 4 MiB."""
    full = start_clamd(work_dir=tiny_tmpfs)
    runtime = runtime_for(full)
    obj, event = upload(
        s3, make_bucket(versioned=True), f"t/{kind}.bin", body_of(kind, 4 * MiB), bad=kind == "infected"
    )
    retry, _ = deliver(runtime, event, "s3")
    ledger.fault()
    assert retry
    found = ledger.check(s3, [obj], runtime.settings.quarantine_bucket)
    assert_safe(found, [obj])
    assert status_of(found, obj) == ("ERROR", "clamd-error:Error writing to temporary file")

    healthy = on(runtime, start_clamd())
    retry, _ = deliver(healthy, event, "s3")
    assert not retry
    assert_final(ledger.check(s3, [obj], runtime.settings.quarantine_bucket), obj)
