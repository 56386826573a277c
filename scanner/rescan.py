"""Rescans of stored objects: the events they are submitted as, and the scheduled rescan (`lambda_handler`).

A scan is only as good as the signatures of its day. After the updater publishes a new database (the
manifest's "Object Created" event from the definitions bucket, through EventBridge) or on a schedule, every
object of the configured buckets/prefixes modified within the last N days is submitted again, through the scan
queue the uploads use, so the deployment's concurrency cap holds. Selection is by S3's LastModified, never by
a tag (tags are outputs, never inputs); at most RESCAN_MAX_OBJECTS per run, the newest first.
"""

from __future__ import annotations

import heapq
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote_plus

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from scanner import constants as c
from scanner.config import RescanSettings, RescanTarget
from scanner.definitions.manifest import MANIFEST_KEY
from scanner.observability import MetricUnit, logger, metrics

SQS_BATCH: Final = 10
"""SendMessageBatch takes at most 10 messages."""
_DEADLINE_MARGIN_MS: Final = 60_000
"""Stop listing when the invocation has less than this left: what is selected by then is still submitted."""
_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30)


def object_created_event(bucket: str, key: str, *, size: int, etag: str, region: str, source: str) -> dict[str, Any]:
    """The S3 notification S3 sends for a PUT, for one existing object (key URL-encoded as S3 encodes it)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": source},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": source,
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag.strip('"')},
                },
            }
        ]
    }


@dataclass(frozen=True)
class SendFailure:
    key: str
    error: str


class QueueBatchSender:
    """SendMessageBatch, ten messages a call; reports the entries SQS refused (the others are queued)."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.calls = 0

    def send(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[SendFailure]:
        """Send (key, event) pairs; a whole-call error raises (the caller decides whether it is fatal)."""
        failures: list[SendFailure] = []
        for start in range(0, len(items), SQS_BATCH):
            chunk = items[start : start + SQS_BATCH]
            self.calls += 1
            reply = self.sqs.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "MessageBody": json.dumps(event)} for i, (_, event) in enumerate(chunk)],
            )
            for failed in reply.get("Failed") or []:
                key = chunk[int(failed["Id"])][0]
                failures.append(SendFailure(key, f"{failed.get('Code')}: {failed.get('Message', '')}".strip()))
        return failures


@dataclass(order=True)
class Candidate:
    """A listed object; ordered by LastModified so a bounded heap keeps the newest."""

    last_modified: datetime
    bucket: str = field(compare=False)
    key: str = field(compare=False)
    size: int = field(compare=False)
    etag: str = field(compare=False)


def list_objects(s3: Any, target: RescanTarget) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=target.prefix):
        yield from page.get("Contents", [])


def is_folder_marker(obj: dict[str, Any]) -> bool:
    return str(obj["Key"]).endswith("/") and int(obj.get("Size", 0)) == 0


@dataclass
class Selection:
    """The newest `limit` objects modified since `cutoff`, and what the listing saw."""

    cutoff: datetime
    limit: int
    listed: int = 0
    matched: int = 0
    complete: bool = True
    _heap: list[Candidate] = field(default_factory=list)

    def offer(self, bucket: str, obj: dict[str, Any]) -> None:
        self.listed += 1
        modified = obj["LastModified"]
        if is_folder_marker(obj) or modified < self.cutoff:
            return
        self.matched += 1
        candidate = Candidate(modified, bucket, obj["Key"], int(obj.get("Size", 0)), str(obj.get("ETag", "")))
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, candidate)
        else:
            heapq.heappushpop(self._heap, candidate)

    @property
    def chosen(self) -> list[Candidate]:
        """Newest first."""
        return sorted(self._heap, reverse=True)

    @property
    def truncated(self) -> int:
        return self.matched - len(self._heap)


def select(
    s3: Any, targets: Iterable[RescanTarget], cutoff: datetime, limit: int, *, time_left_ms: Any = None
) -> Selection:
    """List every target; stop early (complete=False) when the invocation is about to run out of time."""
    selection = Selection(cutoff, limit)
    for target in targets:
        for obj in list_objects(s3, target):
            selection.offer(target.bucket, obj)
            if time_left_ms is not None and selection.listed % 1000 == 0 and time_left_ms() < _DEADLINE_MARGIN_MS:
                selection.complete = False
                return selection
    return selection


def run(settings: RescanSettings, s3: Any, sqs: Any, *, region: str, time_left_ms: Any = None) -> dict[str, Any]:
    """One scheduled rescan: select, submit through the scan queue, summarize."""
    started = time.monotonic()
    cutoff = datetime.now(UTC) - timedelta(days=settings.days)
    selection = select(s3, settings.targets, cutoff, settings.max_objects, time_left_ms=time_left_ms)
    sender = QueueBatchSender(sqs, settings.queue_url)
    items = [
        (
            f"s3://{o.bucket}/{o.key}",
            object_created_event(o.bucket, o.key, size=o.size, etag=o.etag, region=region, source="scanner-rescan"),
        )
        for o in selection.chosen
    ]
    failures = sender.send(items)
    summary = {
        "targets": [str(t) for t in settings.targets],
        "modifiedSince": cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "listed": selection.listed,
        "matched": selection.matched,
        "submitted": len(items) - len(failures),
        "failed": len(failures),
        "truncated": selection.truncated,
        "listingComplete": selection.complete,
        "sendMessageBatchCalls": sender.calls,
        "seconds": round(time.monotonic() - started, 2),
        "failures": [{"object": f.key, "error": f.error} for f in failures[:20]],
    }
    return summary


def is_trigger(event: Any, definitions_bucket: str | None = None) -> bool:
    """What starts a rescan: the definitions manifest's Object Created (the updater writes it last, once a new set
    is complete), a schedule, or a direct invocation."""
    if not isinstance(event, dict):
        return False
    if event.get("source") == "aws.s3":
        detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
        bucket = (detail.get("bucket") or {}).get("name")
        key = str((detail.get("object") or {}).get("key", ""))
        return (
            event.get("detail-type") == "Object Created"
            and key.rsplit("/", 1)[-1] == MANIFEST_KEY
            and (definitions_bucket is None or bucket == definitions_bucket)
        )
    return event.get("source") in (None, "aws.events", "aws.scheduler")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The scheduled rescan's entry point (same image, its own function and role)."""
    if not is_trigger(event, os.environ.get(c.ENV_DEFINITIONS_BUCKET) or None):
        logger.info(
            "not a rescan trigger; ignored", extra={"source": event.get("source") if isinstance(event, dict) else None}
        )
        return {"ignored": True}
    settings = RescanSettings.from_environment()
    session = boto3.Session()
    region = session.region_name or os.environ.get("AWS_REGION") or "us-east-1"
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    try:
        summary = run(
            settings,
            session.client("s3", config=_CONFIG),
            session.client("sqs", config=_CONFIG),
            region=region,
            time_left_ms=remaining,
        )
    except (ClientError, BotoCoreError) as err:
        logger.exception("rescan failed", extra={"error": str(err)})
        raise
    logger.info("rescan submitted", extra=summary)
    metrics.add_metric(name=c.METRIC_RESCAN_SUBMITTED, unit=MetricUnit.Count, value=summary["submitted"])
    if summary["truncated"] or not summary["listingComplete"]:
        metrics.add_metric(name=c.METRIC_RESCAN_TRUNCATED, unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()
    if summary["failed"]:
        # Visible as a function error (and retried: a rescan submitted twice is scanned twice, nothing worse).
        raise RuntimeError(f"rescan: {summary['failed']} submissions refused by SQS, first: {summary['failures'][:3]}")
    return summary
