"""The definitions metrics (namespace S3ClamAVScanner, dimension service), emitted by scanner and updater alike."""

from __future__ import annotations

from scanner import constants as c
from scanner.observability import MetricUnit, metrics


def report_age(hours: float) -> None:
    """DefinitionsAgeHours: what the age alarm compares with its threshold (Maximum over the period)."""
    # CloudWatch has no hour unit; the metric's name carries it.
    metrics.add_metric(name=c.METRIC_DEFINITIONS_AGE, unit=MetricUnit.NoUnit, value=round(hours, 2))


def count(metric: str) -> None:
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
