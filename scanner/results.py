"""Scan-result events in the shape of GuardDuty Malware Protection for S3's, published to EventBridge.

A rule written for GuardDuty's "GuardDuty Malware Protection Object Scan Result" event matches ours once its
`source` is changed (custom events cannot use `aws.guardduty`). GuardDuty's fields carry GuardDuty's value sets;
ours (engine, database, SHA-256, quarantine location, our own status) sit under `detail.scanner`.

Publishing never changes a verdict: an outcome whose event could not be put is handed back, and the caller
retries its record (the object is scanned again and its event put again).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from scanner import constants as c
from scanner.observability import logger
from scanner.verdict import ScanStatus

if TYPE_CHECKING:
    from scanner.process import Outcome

SCHEMA_VERSION: Final = "1.0"
RESOURCE_TYPE: Final = "S3_OBJECT"
MAX_ENTRIES_PER_CALL: Final = 10
MAX_REQUEST_BYTES: Final = 256 * 1024
"""PutEvents: the entries of one request must total less than 256 KB (EventBridge's entry-size formula)."""
_TIME_BYTES: Final = 14
ENTRY_ATTEMPTS: Final = 3
_ENTRY_BACKOFF_S: Final = 0.1

# GuardDuty's value sets (docs: monitoring-malware-protection-s3-scans-gdu).
COMPLETED, SKIPPED, FAILED = "COMPLETED", "SKIPPED", "FAILED"
NO_THREATS_FOUND, THREATS_FOUND = "NO_THREATS_FOUND", "THREATS_FOUND"
UNSUPPORTED, ACCESS_DENIED = "UNSUPPORTED", "ACCESS_DENIED"

_ACCESS_DENIED_CODES: Final = frozenset(
    {"AccessDenied", "AccessDeniedException", "AllAccessDisabled", "403", "Forbidden"}
)
_UNSUPPORTED_CODES: Final = frozenset({"InvalidObjectState"})
"""An archived (Glacier) object cannot be read until restored: GuardDuty reports such objects as unsupported."""
_THROTTLE_CODES: Final = frozenset({"SlowDown", "503", "Throttling", "ThrottlingException", "RequestLimitExceeded"})


@dataclass(frozen=True)
class GuardDutyResult:
    """GuardDuty's `scanStatus` and `scanResultDetails.scanResultStatus` for one of our verdicts."""

    scan_status: str
    result_status: str


def guardduty_result(status: ScanStatus, detail: str | None) -> GuardDutyResult:
    """The one mapping from our status (and reason) to GuardDuty's, used by the events and the optional tag.

    RELEASED is THREATS_FOUND: the engine still detects the signature; the release is a reviewer's decision,
    carried in `detail.scanner.status` and `scan-status`, never claimed as "no threats found".
    """
    if status is ScanStatus.CLEAN:
        return GuardDutyResult(COMPLETED, NO_THREATS_FOUND)
    if status in (ScanStatus.INFECTED, ScanStatus.RELEASED):
        return GuardDutyResult(COMPLETED, THREATS_FOUND)
    if status is ScanStatus.UNSCANNABLE:
        return GuardDutyResult(SKIPPED, UNSUPPORTED)
    code = (detail or "").removeprefix("s3-error:") if (detail or "").startswith("s3-error:") else None
    if code is not None and (code in _ACCESS_DENIED_CODES or code.startswith("KMS.")):
        return GuardDutyResult(SKIPPED, ACCESS_DENIED)
    if code is not None and code in _UNSUPPORTED_CODES:
        return GuardDutyResult(SKIPPED, UNSUPPORTED)
    return GuardDutyResult(FAILED, FAILED)


def is_publishable(outcome: Outcome) -> bool:
    """An outcome with a verdict (an object gone before it was read, or a quarantine-bucket event, has none)."""
    return outcome.status is not None and not outcome.skipped


def split_engine(engine: str | None) -> dict[str, str | None]:
    """`ClamAV 1.4.6/27830/Wed Nov 26 09:29:01 2026` -> engine version, database version, database time."""
    parts = (engine or "").split("/", 2)
    return {
        "engineVersion": parts[0] or None,
        "databaseVersion": parts[1] if len(parts) > 1 else None,
        "databaseTime": parts[2] if len(parts) > 2 else None,
    }


def scan_result_detail(outcome: Outcome) -> dict[str, Any]:
    """The event's `detail`: GuardDuty's fields, then ours under `scanner`."""
    assert outcome.status is not None
    mapped = guardduty_result(outcome.status, outcome.detail)
    signature = outcome.detail if outcome.status in (ScanStatus.INFECTED, ScanStatus.RELEASED) else None
    version = outcome.version_id or outcome.ref.version_id
    etag = (outcome.etag or outcome.ref.etag or "").strip('"') or None
    s3_object: dict[str, Any] = {"bucketName": outcome.ref.bucket, "objectKey": outcome.ref.key, "eTag": etag}
    if version and version != "null":
        s3_object["versionId"] = version
    s3_object["s3Throttled"] = any(p.split(":", 1)[-1] in _THROTTLE_CODES for p in outcome.problems)
    return {
        "schemaVersion": SCHEMA_VERSION,
        "scanStatus": mapped.scan_status,
        "resourceType": RESOURCE_TYPE,
        "s3ObjectDetails": s3_object,
        "scanResultDetails": {
            "scanResultStatus": mapped.result_status,
            "threats": [{"name": signature}] if signature else None,
            "statusReasons": [outcome.detail] if mapped.scan_status != COMPLETED and outcome.detail else None,
        },
        "scanner": {
            "status": outcome.status.value,
            "detail": outcome.detail,
            "engine": outcome.engine,
            **split_engine(outcome.engine),
            "sha256": outcome.sha256,
            "size": outcome.size,
            "scannedAt": outcome.scanned_at,
            "quarantineLocation": outcome.quarantine_location,
            "releasedBy": outcome.released_by,
            "retry": outcome.retry,
        },
    }


def scan_result_event(outcome: Outcome, *, source: str, partition: str = "aws") -> dict[str, Any]:
    """One PutEvents entry (without EventBusName) for one outcome with a verdict."""
    entry: dict[str, Any] = {
        "Source": source,
        "DetailType": c.RESULT_DETAIL_TYPE,
        "Detail": json.dumps(scan_result_detail(outcome), ensure_ascii=False, separators=(",", ":")),
        "Resources": [f"arn:{partition}:s3:::{outcome.ref.bucket}"],
    }
    when = _parse_time(outcome.scanned_at)
    if when is not None:
        entry["Time"] = when
    return entry


def entry_size(entry: dict[str, Any]) -> int:
    """EventBridge's size of one PutEventsRequestEntry (docs: eb-putevent-size)."""
    size = _TIME_BYTES if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name) or "").encode())
    size += sum(len(r.encode()) for r in entry.get("Resources") or ())
    return size


def batches(entries: Sequence[dict[str, Any]]) -> Iterator[list[int]]:
    """Indexes of `entries` grouped into PutEvents calls: at most 10 entries, under 256 KB together."""
    batch: list[int] = []
    total = 0
    for index, entry in enumerate(entries):
        size = entry_size(entry)
        if batch and (len(batch) == MAX_ENTRIES_PER_CALL or total + size >= MAX_REQUEST_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(index)
        total += size
    if batch:
        yield batch


class ResultPublisher:
    """Puts one scan-result event per outcome with a verdict; hands back the outcomes whose event failed."""

    def __init__(self, events_client: Any, bus_name: str, source: str, *, partition: str = "aws") -> None:
        self.client = events_client
        self.bus_name = bus_name
        self.source = source
        self.partition = partition

    def publish(self, outcomes: Sequence[Outcome]) -> list[Outcome]:
        publishable = [o for o in outcomes if is_publishable(o)]
        entries = [
            {**scan_result_event(o, source=self.source, partition=self.partition), "EventBusName": self.bus_name}
            for o in publishable
        ]
        failed: list[Outcome] = []
        for batch in batches(entries):
            if len(batch) == 1 and entry_size(entries[batch[0]]) >= MAX_REQUEST_BYTES:
                logger.error("scan-result event too large to put", extra={"object": str(publishable[batch[0]].ref)})
                failed.append(publishable[batch[0]])
                continue
            failed += self._put([publishable[i] for i in batch], [entries[i] for i in batch])
        return failed

    def _put(self, outcomes: list[Outcome], entries: list[dict[str, Any]]) -> list[Outcome]:
        """One PutEvents call; entries it rejects (throttled, internal failure) are put again, up to
        ENTRY_ATTEMPTS times in all, before their outcomes are handed back. A whole call that fails is not
        repeated here: botocore's retries have already been spent on it."""
        for attempt in range(ENTRY_ATTEMPTS):
            if attempt:
                time.sleep(_ENTRY_BACKOFF_S * 4 ** (attempt - 1))
            rejected = self._put_once(entries)
            if rejected is None:
                return outcomes
            if not rejected:
                return []
            outcomes = [outcomes[i] for i in rejected]
            entries = [entries[i] for i in rejected]
        return outcomes

    def _put_once(self, entries: list[dict[str, Any]]) -> list[int] | None:
        """Indexes of the entries PutEvents rejected; None when the whole call failed."""
        try:
            reply = self.client.put_events(Entries=entries)
        except (ClientError, BotoCoreError) as err:
            logger.error("scan-result events not put", extra={"error": str(err), "events": len(entries)})
            return None
        results = reply.get("Entries") or []
        if len(results) != len(entries):
            # Unknown which ones went through: all are put again with their records (consumers see duplicates).
            logger.error("PutEvents answered for other entries", extra={"sent": len(entries), "answered": len(results)})
            return None
        rejected = [i for i, r in enumerate(results) if r.get("ErrorCode") or not r.get("EventId")]
        for i in rejected:
            logger.warning(
                "scan-result event rejected",
                extra={"code": results[i].get("ErrorCode"), "error": results[i].get("ErrorMessage")},
            )
        return rejected


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
