"""The definitions updater's entry point: `scanner.update.lambda_handler` (same image, run on a schedule).

Thin: settings from the environment once, one run, metrics flushed, a short summary returned. A failed run
raises, so Lambda records an error; nothing is published then and scanners keep the current set. Rejected custom
signature files are a failed run too, told to the findings topic (FINDINGS_TOPIC_ARN) first.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from scanner.config import UpdaterSettings
from scanner.definitions.publish import DefinitionsUpdater
from scanner.observability import metrics

_BOTO_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=120)

_updater: DefinitionsUpdater | None = None


def get_updater() -> DefinitionsUpdater:
    """The execution environment's updater, built from the environment on first use."""
    global _updater
    if _updater is None:
        settings = UpdaterSettings.from_environment()
        sns = boto3.client("sns", config=_BOTO_CONFIG) if settings.findings_topic_arn else None
        _updater = DefinitionsUpdater(settings, boto3.client("s3", config=_BOTO_CONFIG), sns)
    return _updater


def set_updater(updater: DefinitionsUpdater | None) -> None:
    """Install an updater (tests build their own)."""
    global _updater
    _updater = updater


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fetch, verify and publish the definitions; see scanner.definitions.publish.DefinitionsUpdater."""
    try:
        result = get_updater().run()
    finally:
        metrics.flush_metrics()
    return {
        "changed": result.changed,
        "database_version": result.manifest.database_version,
        "created_at": result.manifest.created_at,
        "uploaded": list(result.uploaded),
        "files": [f.name for f in result.manifest.files],
        "custom": [f.source_key for f in result.manifest.custom_sources],
    }
