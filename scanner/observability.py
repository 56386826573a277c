"""Structured logs and CloudWatch embedded-metric-format metrics (Powertools for AWS Lambda)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from scanner import constants as c

logger = Logger(service=c.POWERTOOLS_SERVICE)
metrics = Metrics(namespace=c.METRICS_NAMESPACE, service=c.POWERTOOLS_SERVICE)

__all__ = ["MetricUnit", "logger", "metrics"]
