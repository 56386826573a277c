"""Helpers of the fault suite: a clamd of a test's own, uploads that are tracked, deliveries as Lambda makes them."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from scanner.clamd import ClamdDaemon
from scanner.config import ClamdSettings
from scanner.runtime import InvocationFailed, ScannerRuntime
from tests.faults.ledger import Tracked
from tests.support.clamd import SIGNATURES, require_binary
from tests.support.events import put_and_event, sqs_event


def own_clamd(work_dir: Path, **overrides: Any) -> ClamdDaemon:
    """Start a clamd of the test's own on the test signatures (settings as start_daemon's, plus overrides)."""
    settings = ClamdSettings(
        database_dir=SIGNATURES,
        work_dir=work_dir,
        binary=require_binary("clamd"),
        start_timeout_s=60,
        scan_timeout_s=30,
        max_object_bytes=64 * 1024**2,
    )
    daemon = ClamdDaemon(dataclasses.replace(settings, **overrides), chunk_bytes=256 * 1024)
    daemon.start()
    try:
        daemon.wait_ready()
    except Exception:
        daemon.stop()
        raise
    return daemon


def upload(s3: Any, bucket: str, key: str, body: bytes, *, bad: bool = False, **put_args: Any) -> tuple[Tracked, dict]:
    """Upload `body`; the tracked object (`bad`: must never be CLEAN) and the S3 notification for it."""
    event = put_and_event(s3, bucket, key, body, **put_args)
    version = event["Records"][0]["s3"]["object"].get("versionId")
    return Tracked(bucket, key, body, version, must_not_be_clean=bad), event


def deliver(runtime: ScannerRuntime, event: dict[str, Any], via: str) -> tuple[bool, dict[str, Any] | None]:
    """Run the handler on `event` as an async S3 invocation ("s3") or through SQS ("sqs").

    Returns (retry requested, result): InvocationFailed (Lambda retries, then dead-letters) or the message in
    batchItemFailures (SQS redelivers, then dead-letters).
    """
    if via == "sqs":
        result = runtime.handle(sqs_event(event))
        return result["batchItemFailures"] == [{"itemIdentifier": "msg-0"}], result
    with contextlib.suppress(InvocationFailed):
        return False, runtime.handle(event)
    return True, None
