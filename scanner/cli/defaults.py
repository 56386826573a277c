"""Defaults of the command line: names of the local pipeline's resources, where the repository's files are."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from scanner import constants as c

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
"""The checkout this package runs from (an editable install); absent for a wheel in site-packages."""
TEST_SIGNATURES: Final = REPO_ROOT / "tests" / "signatures"
DEV_STACK_FILE: Final = REPO_ROOT / "Pulumi.dev.yaml"
PROJECT: Final = "s3-clamav-scanner"

DEFAULT_PORT: Final = 4599
"""Fixed so that `scanner quarantine --endpoint-url http://127.0.0.1:4599` works without reading the output."""
LOCAL_REGION: Final = "us-east-1"
LOCAL_CREDENTIALS: Final = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
FALLBACK_UPLOAD_BUCKET: Final = "local-uploads"
FALLBACK_QUARANTINE_BUCKET: Final = "local-quarantine"
EVENTS_QUEUE: Final = "scanner-local-events"
"""The scan queue of the deployed queue mode; `scanner scan --endpoint-url` submits here too."""
DEAD_LETTER_QUEUE: Final = "scanner-local-dlq"
FINDINGS_TOPIC: Final = "scanner-local-findings"
FINDINGS_QUEUE: Final = "scanner-local-findings"
"""Subscribed to the findings topic so findings can be read locally."""
RESULTS_QUEUE: Final = "scanner-local-results"
"""Receives the scan-result events (GuardDuty's shape) through an EventBridge rule on RESULT_EVENT_SOURCE."""
RESULTS_RULE: Final = "scanner-local-results"
RESULT_EVENT_BUS: Final = "default"
RESULT_EVENT_SOURCE: Final = c.DEFAULT_RESULT_EVENT_SOURCE
LOCAL_ACCOUNT: Final = "123456789012"
"""moto's account: the local Security Hub product ARN is this account's default product."""
SECURITY_HUB_PRODUCT_ARN: Final = f"arn:aws:securityhub:{LOCAL_REGION}:{LOCAL_ACCOUNT}:product/{LOCAL_ACCOUNT}/default"
ALLOW_LIST_TABLE: Final = "scanner-local-allow-list"
"""The local pipeline's release allow-list (DynamoDB in moto)."""
CLAMD_CANDIDATES: Final = ("clamd", "/usr/sbin/clamd", "/usr/local/sbin/clamd")
ENV_QUARANTINE_BUCKET: Final = c.ENV_QUARANTINE_BUCKET
ENV_ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"


@dataclass(frozen=True)
class LocalBuckets:
    """Bucket names of the local pipeline."""

    upload: str
    quarantine: str


def local_buckets(stack_file: Path = DEV_STACK_FILE) -> LocalBuckets:
    """The dev stack's bucket names where Pulumi.dev.yaml sets them, else fixed local names."""
    config = _stack_config(stack_file)
    upload = FALLBACK_UPLOAD_BUCKET
    buckets = config.get(f"{PROJECT}:uploadBuckets")
    if isinstance(buckets, list) and buckets and isinstance(buckets[0], str) and buckets[0].strip():
        # Entries are "bucket", "bucket/prefix" or "bucket/*suffix": the bucket is the part before the first '/'.
        upload = buckets[0].strip().split("/", 1)[0]
    quarantine = config.get(f"{PROJECT}:quarantineBucketName")
    if not isinstance(quarantine, str) or not quarantine.strip():
        quarantine = FALLBACK_QUARANTINE_BUCKET
    return LocalBuckets(upload, quarantine.strip())


@cache
def _stack_config(stack_file: Path) -> dict[str, Any]:
    """The `config:` mapping of a Pulumi stack file; empty when the file or PyYAML is missing or unreadable."""
    try:
        import yaml  # PyYAML arrives with moto[server]; the Lambda image never reads stack files.
    except ImportError:
        return {}
    try:
        document = yaml.safe_load(stack_file.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    config = document.get("config") if isinstance(document, dict) else None
    return config if isinstance(config, dict) else {}


def default_database() -> Path | None:
    """The project's test signatures (EICAR + ClamAV test files) when running from a checkout."""
    return TEST_SIGNATURES if TEST_SIGNATURES.is_dir() else None


def quarantine_bucket_from_environment() -> str | None:
    """The variable the scanner function itself reads, so an operator's shell can share the function's setting."""
    return os.environ.get(ENV_QUARANTINE_BUCKET) or None


def allow_list_table_from_environment() -> str | None:
    """The variable the scanner function reads (ALLOW_LIST_TABLE)."""
    return os.environ.get(c.ENV_ALLOW_LIST_TABLE) or None


def endpoint_from_environment() -> str | None:
    """boto3 honours AWS_ENDPOINT_URL itself; the CLI reads it too, to pick local defaults."""
    return os.environ.get(ENV_ENDPOINT_URL) or None
