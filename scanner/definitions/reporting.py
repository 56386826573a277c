"""The definitions metrics (namespace S3ClamAVScanner, dimension service), emitted by scanner and updater alike,
and the updater's findings (rejected custom signature files) on the findings topic."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from scanner import constants as c
from scanner.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from scanner.definitions.custom import Rejection
    from scanner.definitions.manifest import Manifest

REJECTED_STATUS = "SIGNATURES_REJECTED"
"""The findings' `status` message attribute for rejected custom files (objects' findings use their status)."""


def report_age(hours: float) -> None:
    """DefinitionsAgeHours: what the age alarm compares with its threshold (Maximum over the period)."""
    # CloudWatch has no hour unit; the metric's name carries it.
    metrics.add_metric(name=c.METRIC_DEFINITIONS_AGE, unit=MetricUnit.NoUnit, value=round(hours, 2))


def count(metric: str, value: int = 1) -> None:
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=value)


def rejection_message(
    bucket: str, prefixes: Iterable[str], rejections: Iterable[Rejection], published: Manifest | None, at: str
) -> dict[str, Any]:
    """The finding: which files, which versions, why, and which set stays published."""
    return {
        "type": "CustomSignaturesRejected",
        "status": REJECTED_STATUS,
        "bucket": bucket,
        "prefixes": list(prefixes),
        "rejected": [r.to_dict() for r in rejections],
        "published": None
        if published is None
        else {
            "databaseVersion": published.database_version,
            "createdAt": published.created_at,
            "digest": published.digest,
        },
        "detectedAt": at,
    }


def publish_finding(sns: Any, topic_arn: str, subject: str, message: dict[str, Any]) -> bool:
    """Publish one finding; a failure is logged (the run fails for its own reason anyway). True when sent."""
    try:
        sns.publish(
            TopicArn=topic_arn,
            Subject=subject[:100],
            Message=json.dumps(message, ensure_ascii=False),
            MessageAttributes={"status": {"DataType": "String", "StringValue": str(message["status"])}},
        )
    except (ClientError, BotoCoreError) as err:
        logger.error("cannot publish the finding", extra={"topic": topic_arn, "error": str(err)})
        return False
    return True
