"""Findings: one SNS message per INFECTED, UNSCANNABLE or ERROR object."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from scanner.events import ObjectRef
from scanner.verdict import ScanStatus, Verdict


@dataclass(frozen=True)
class Finding:
    """What the security team is told about one object."""

    ref: ObjectRef
    verdict: Verdict
    engine: str
    scanned_at: str
    quarantine_location: str | None = None

    def message(self) -> dict[str, Any]:
        return {
            "bucket": self.ref.bucket,
            "key": self.ref.key,
            "versionId": self.ref.version_id,
            "status": self.verdict.status.value,
            "detail": self.verdict.detail,
            "engine": self.engine,
            "scannedAt": self.scanned_at,
            "quarantine": self.quarantine_location,
        }


def should_report(verdict: Verdict) -> bool:
    return verdict.status in {ScanStatus.INFECTED, ScanStatus.UNSCANNABLE, ScanStatus.ERROR}


def publish(sns_client: Any, topic_arn: str, finding: Finding) -> None:
    """Publish one finding as JSON, with the status as a message attribute for subscription filters."""
    subject = f"S3 scan {finding.verdict.status.value}: {finding.ref.bucket}"[:100]
    sns_client.publish(
        TopicArn=topic_arn,
        Subject=subject,
        Message=json.dumps(finding.message(), ensure_ascii=False),
        MessageAttributes={"status": {"DataType": "String", "StringValue": finding.verdict.status.value}},
    )
