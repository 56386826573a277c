"""Event shapes -> typed object references.

Accepted: S3 notifications (one or more records), the same records delivered through SQS, and EventBridge
"Object Created" events from S3 (also through SQS). Notification keys arrive URL-encoded and are decoded here,
exactly once; EventBridge keys arrive as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from scanner.exceptions import MalformedEventError


@dataclass(frozen=True)
class ObjectRef:
    """One object version named by an event."""

    bucket: str
    key: str
    version_id: str | None = None
    size: int | None = None
    etag: str | None = None

    @property
    def is_folder_marker(self) -> bool:
        return self.key.endswith("/") and (self.size or 0) == 0

    def __str__(self) -> str:
        suffix = f"?versionId={self.version_id}" if self.version_id else ""
        return f"s3://{self.bucket}/{self.key}{suffix}"


@dataclass(frozen=True)
class Ignored:
    """A record that is valid but not for us (test event, non-ObjectCreated)."""

    reason: str


@dataclass(frozen=True)
class Malformed(Ignored):
    """A malformed SQS message body: reported as a failed batch item, never fails its neighbours."""


@dataclass(frozen=True)
class Delivery:
    """One unit of work: the records of one S3/EventBridge payload; `message_id` set when it came through SQS."""

    items: tuple[ObjectRef | Ignored, ...]
    message_id: str | None = None


def parse_event(event: Any) -> tuple[list[Delivery], bool]:
    """Split a Lambda event into deliveries; the flag is True for an SQS batch (answer with batchItemFailures).

    An SQS message whose body is malformed becomes a delivery holding the error, so it is reported as a
    failed item instead of failing its neighbours.
    """
    if not isinstance(event, Mapping):
        raise MalformedEventError(f"event must be a JSON object, got {type(event).__name__}")
    records = event.get("Records")
    if isinstance(records, list) and records and all(_is_sqs(r) for r in records):
        return [_sqs_delivery(r) for r in records], True
    return [Delivery(tuple(parse_payload(event)))], False


def parse_payload(payload: Mapping[str, Any]) -> Iterator[ObjectRef | Ignored]:
    """Object references in one S3 notification or EventBridge event."""
    if payload.get("Event") == "s3:TestEvent":
        yield Ignored("s3:TestEvent")
        return
    if payload.get("source") == "aws.s3" and "detail-type" in payload:
        yield _eventbridge(payload)
        return
    if "Records" not in payload:
        raise MalformedEventError("event has neither 'Records' (S3/SQS) nor 'detail-type' (EventBridge)")
    records = payload["Records"]
    if not isinstance(records, list):
        raise MalformedEventError(f"'Records' must be a list, got {type(records).__name__}")
    if not records:
        raise MalformedEventError("'Records' is empty")
    for index, record in enumerate(records):
        yield _s3_record(record, f"Records[{index}]")


def _is_sqs(record: Any) -> bool:
    return isinstance(record, Mapping) and record.get("eventSource") == "aws:sqs"


def _sqs_delivery(record: Mapping[str, Any]) -> Delivery:
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise MalformedEventError("SQS record is missing 'messageId'")
    try:
        body = json.loads(_require(record, "body", str, "SQS record"))
        if not isinstance(body, Mapping):
            raise MalformedEventError("SQS message body is not a JSON object")
        return Delivery(tuple(parse_payload(body)), message_id)
    except Exception as err:  # noqa: BLE001 - deep nesting, huge numbers, anything: this message fails alone
        return Delivery((Malformed(f"{type(err).__name__}: {str(err)[:200]}"),), message_id)


def _s3_record(record: Any, where: str) -> ObjectRef | Ignored:
    if not isinstance(record, Mapping):
        raise MalformedEventError(f"{where} must be an object")
    event_name = _require(record, "eventName", str, where)
    if not (event_name.startswith("ObjectCreated:") or event_name.startswith("s3:ObjectCreated:")):
        return Ignored(f"eventName {event_name}")
    s3 = _require(record, "s3", Mapping, where)
    bucket = _require(_require(s3, "bucket", Mapping, f"{where}.s3"), "name", str, f"{where}.s3.bucket")
    obj = _require(s3, "object", Mapping, f"{where}.s3")
    return _object_ref(bucket, obj, f"{where}.s3.object", version_field="versionId", etag_field="eTag", encoded=True)


def _eventbridge(event: Mapping[str, Any]) -> ObjectRef | Ignored:
    detail_type = event.get("detail-type")
    if detail_type != "Object Created":
        return Ignored(f"detail-type {detail_type}")
    detail = _require(event, "detail", Mapping, "EventBridge event")
    bucket = _require(_require(detail, "bucket", Mapping, "detail"), "name", str, "detail.bucket")
    obj = _require(detail, "object", Mapping, "detail")
    # Not URL-encoded, unlike S3's notifications to Lambda/SQS/SNS: AWS documents the encoding only for those
    # (docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html); the EventBridge detail
    # field (.../userguide/ev-events.html#ev-events-detail) says nothing of it, and real events carry raw keys
    # (":" unencoded in a captured CompleteMultipartUpload event; aws-solutions-library-samples/
    # guidance-for-medialake-on-aws tests '%2B++ %20.mp3' arriving unchanged). Decoding would turn a+b into "a b".
    return _object_ref(bucket, obj, "detail.object", version_field="version-id", etag_field="etag", encoded=False)


def _object_ref(
    bucket: str, obj: Mapping[str, Any], where: str, *, version_field: str, etag_field: str, encoded: bool
) -> ObjectRef:
    raw_key = _require(obj, "key", str, where)
    if not bucket:
        raise MalformedEventError(f"{where}: bucket name is empty")
    if not raw_key:
        raise MalformedEventError(f"{where}.key is empty")
    size = obj.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise MalformedEventError(f"{where}.size must be a non-negative integer, got {size!r}")
    version = obj.get(version_field)
    if version is not None and not isinstance(version, str):
        raise MalformedEventError(f"{where}.{version_field} must be a string, got {type(version).__name__}")
    etag = obj.get(etag_field)
    return ObjectRef(
        bucket=bucket,
        key=unquote_plus(raw_key) if encoded else raw_key,
        version_id=version or None,
        size=size,
        etag=etag if isinstance(etag, str) and etag else None,
    )


def _require(mapping: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    if name not in mapping:
        raise MalformedEventError(f"{where} is missing '{name}'")
    value = mapping[name]
    if not isinstance(value, kind):
        raise MalformedEventError(f"{where}.{name} must be {kind.__name__}, got {type(value).__name__}")
    return value
