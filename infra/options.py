"""The production-shape settings of a stack: how events reach the scanner, how many scans run at once, what it
reports beyond tags (GuardDuty-shaped events, Security Hub), rescans and Batch Operations; and the sizing rules
that tie memory, timeout, object size and /tmp together. Parsed from the same config namespace as infra.config."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from infra.values import ConfigError, _bool, _int, _range, _string
from scanner import constants

MIB = 1024**2
GIB = 1024**3


class TriggerMode(StrEnum):
    """How S3 events reach the scanner."""

    DIRECT = "direct"
    """S3 notification -> asynchronous invocation (events kept 6 hours, 2 retries, then the dead-letter queue)."""
    QUEUE = "queue"
    """S3 notification -> an encrypted SQS queue -> an event source mapping (14 days, bounded concurrency)."""
    EVENTBRIDGE = "eventbridge"
    """The bucket's EventBridge events -> a rule per bucket -> the same queue: the bucket's notification
    configuration is left to its owner (attached buckets)."""

    @classmethod
    def parse(cls, value: object) -> TriggerMode:
        """The mode a config value names (any case); ConfigError naming ``triggerMode`` otherwise."""
        if isinstance(value, TriggerMode):
            return value
        text = str(value).strip().lower()
        try:
            return cls(text)
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise ConfigError(f"triggerMode={text!r} is not one of: {allowed}") from None


ENGINE_RESIDENT_BYTES = int(1.19 * GIB)
"""clamd's resident memory on the official database (the reference probe; the production-shaped bench set: 0.86)."""
PROCESS_HEADROOM_BYTES = int(0.32 * GIB)
"""The Python runtime, boto3, buffers and the page cache clamd's temporary files need."""
MIN_MEMORY_MB = math.ceil((2 * ENGINE_RESIDENT_BYTES + PROCESS_HEADROOM_BYTES) / MIB)
"""A definitions switch keeps two engines in memory (the new clamd loads beside the scanning one): 2765 MB."""
STREAM_SPOOL_HEADROOM_BYTES = 512 * MIB
"""/tmp beyond the streams clamd spools: its temporary files while it unpacks."""
DEFINITIONS_HEADROOM_BYTES = 1024 * MIB
"""/tmp for definitions: the published set, twice while a new one is switched in (~140 MB each today)."""
LAMBDA_MB_PER_VCPU = 1769
"""Lambda gives one vCPU per 1,769 MB of memory (up to 6 at 10,240 MB)."""

_BUS_NAME = re.compile(r"^(default|[A-Za-z0-9._\-/]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/.+)$")
_EVENT_SOURCE = re.compile(r"^(?!aws\.)[A-Za-z0-9._\-/]{1,256}$")

OPTION_KEYS = (
    "triggerMode",
    "queueBatchSize",
    "queueBatchWindowSeconds",
    "queueMaximumConcurrency",
    "queueMaxReceiveCount",
    "queueAgeAlarmSeconds",
    "scanConcurrency",
    "resultEvents",
    "resultEventBus",
    "resultEventSource",
    "guardDutyStatusTag",
    "securityHubFindings",
    "securityHubUnscannable",
    "scheduledRescan",
    "rescanDays",
    "rescanMaxObjects",
    "batchOperations",
    "customSignaturesAllowListing",
)
"""The config keys read here (documented in Pulumi.yaml like the others)."""


@dataclass(frozen=True)
class ScanOptions:
    """Trigger, concurrency, reporting, rescans."""

    trigger_mode: TriggerMode = TriggerMode.DIRECT
    queue_batch_size: int = 10
    queue_batch_window_seconds: int = 5
    queue_maximum_concurrency: int = 10
    """Environments scanning at once in queue modes: the cost and cold-start cap (2..1000)."""
    queue_max_receive_count: int = 5
    queue_age_alarm_seconds: int = 3600
    scan_concurrency: int = 0
    """Records of one batch scanned at once in one environment; 0: one per vCPU."""
    result_events: bool = False
    result_event_bus: str = "default"
    result_event_source: str = constants.DEFAULT_RESULT_EVENT_SOURCE
    guardduty_status_tag: bool = False
    security_hub_findings: bool = False
    security_hub_unscannable: bool = False
    scheduled_rescan: bool = False
    rescan_days: int = 7
    rescan_max_objects: int = 100_000
    batch_operations: bool = False
    custom_signatures_allow_listing: bool = False

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def queued(self) -> bool:
        """Events reach the scanner through the scan queue (queue and EventBridge modes)."""
        return self.trigger_mode is not TriggerMode.DIRECT

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ScanOptions:
        return cls(
            trigger_mode=TriggerMode.parse(_string(raw, "triggerMode", TriggerMode.DIRECT.value)),
            queue_batch_size=_int(raw, "queueBatchSize", 10),
            queue_batch_window_seconds=_int(raw, "queueBatchWindowSeconds", 5),
            queue_maximum_concurrency=_int(raw, "queueMaximumConcurrency", 10),
            queue_max_receive_count=_int(raw, "queueMaxReceiveCount", 5),
            queue_age_alarm_seconds=_int(raw, "queueAgeAlarmSeconds", 3600),
            scan_concurrency=_int(raw, "scanConcurrency", 0),
            result_events=_bool(raw, "resultEvents", False),
            result_event_bus=_string(raw, "resultEventBus", "default"),
            result_event_source=_string(raw, "resultEventSource", constants.DEFAULT_RESULT_EVENT_SOURCE),
            guardduty_status_tag=_bool(raw, "guardDutyStatusTag", False),
            security_hub_findings=_bool(raw, "securityHubFindings", False),
            security_hub_unscannable=_bool(raw, "securityHubUnscannable", False),
            scheduled_rescan=_bool(raw, "scheduledRescan", False),
            rescan_days=_int(raw, "rescanDays", 7),
            rescan_max_objects=_int(raw, "rescanMaxObjects", 100_000),
            batch_operations=_bool(raw, "batchOperations", False),
            custom_signatures_allow_listing=_bool(raw, "customSignaturesAllowListing", False),
        )


def _validate(o: ScanOptions) -> None:
    _range("queueBatchSize", o.queue_batch_size, 1, 10000, "(an SQS event source mapping's batch size)")
    if o.queue_batch_size > 10 and o.queue_batch_window_seconds < 1:
        raise ConfigError(
            f"queueBatchSize={o.queue_batch_size}: SQS batches over 10 need queueBatchWindowSeconds of at least 1"
        )
    _range("queueBatchWindowSeconds", o.queue_batch_window_seconds, 0, 300)
    _range("queueMaximumConcurrency", o.queue_maximum_concurrency, 2, 1000, "(Lambda's limits for SQS sources)")
    _range("queueMaxReceiveCount", o.queue_max_receive_count, 1, 1000)
    _range("queueAgeAlarmSeconds", o.queue_age_alarm_seconds, 60, 14 * 24 * 3600)
    _range("scanConcurrency", o.scan_concurrency, 0, 64, "(0: one per vCPU)")
    if not _BUS_NAME.match(o.result_event_bus):
        raise ConfigError(f"resultEventBus={o.result_event_bus!r} is not an event bus name or ARN")
    if not _EVENT_SOURCE.match(o.result_event_source):
        raise ConfigError(
            f"resultEventSource={o.result_event_source!r}: custom events cannot use an aws.* source; "
            "letters, digits and . _ - / only"
        )
    if o.security_hub_unscannable and not o.security_hub_findings:
        raise ConfigError("securityHubUnscannable needs securityHubFindings=true")
    _range("rescanDays", o.rescan_days, 1, 365)
    _range("rescanMaxObjects", o.rescan_max_objects, 1, 10_000_000)
    if o.scheduled_rescan and not o.queued:
        raise ConfigError(
            "scheduledRescan submits through the scan queue: it needs triggerMode=queue or triggerMode=eventbridge"
        )


@dataclass(frozen=True)
class Sizing:
    """The numbers memory, timeout, object size and /tmp must agree on (validated together)."""

    memory_mb: int
    timeout_seconds: int
    scan_timeout_seconds: int
    max_object_bytes: int
    ephemeral_storage_mb: int
    definitions_updates: bool
    concurrent_scans: int
    scan_rate_floor: int = constants.DEFAULT_SCAN_RATE_FLOOR_BYTES_PER_SECOND

    def problems(self) -> list[str]:
        """Every rule broken, each naming the keys and the numbers."""
        found: list[str] = []
        if self.definitions_updates and self.memory_mb < MIN_MEMORY_MB:
            found.append(
                f"memoryMB={self.memory_mb} is too small: a definitions switch runs two clamd engines side by side "
                f"(2 x {ENGINE_RESIDENT_BYTES / GIB:.2f} GiB on the official database) plus "
                f"{PROCESS_HEADROOM_BYTES / GIB:.2f} GiB for the rest, so at least {MIN_MEMORY_MB} MB"
            )
        scan_seconds = self.max_object_bytes / self.scan_rate_floor
        if scan_seconds > self.scan_timeout_seconds:
            fits = int(self.scan_timeout_seconds * self.scan_rate_floor)
            found.append(
                f"maxObjectBytes={self.max_object_bytes} cannot be scanned within timeoutSeconds="
                f"{self.timeout_seconds}: at the scan-rate floor of {self.scan_rate_floor / MIB:g} MiB/s (the "
                f"official database's slowest content) it takes {scan_seconds:.0f} s, and one scan gets "
                f"{self.scan_timeout_seconds} s of the function's time; raise timeoutSeconds (at most 900) or "
                f"lower maxObjectBytes to at most {fits}"
            )
        spool = self.concurrent_scans * 2 * self.max_object_bytes
        definitions = DEFINITIONS_HEADROOM_BYTES if self.definitions_updates else 0
        needed_mb = math.ceil((spool + STREAM_SPOOL_HEADROOM_BYTES + definitions) / MIB)
        if self.ephemeral_storage_mb < needed_mb:
            found.append(
                f"ephemeralStorageMB={self.ephemeral_storage_mb} is too small: clamd spools every stream to /tmp "
                f"({self.concurrent_scans} scan(s) at once, two streams each for an object with a "
                f"Content-Encoding, up to maxObjectBytes={self.max_object_bytes} each), plus 512 MiB"
                + (", plus two definitions sets while one is switched in" if definitions else "")
                + f": at least {needed_mb}"
            )
        return found


def vcpus(memory_mb: int) -> int:
    """The vCPUs Lambda gives a function of this memory."""
    return max(1, min(6, math.ceil(memory_mb / LAMBDA_MB_PER_VCPU)))
