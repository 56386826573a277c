"""Names shared by the scanner and the infrastructure: environment variables, tag keys, limits."""

from __future__ import annotations

from typing import Final

# Environment variables read by scanner.config (and set by infra/scanner_function.py).
ENV_INFECTED_ACTION: Final = "INFECTED_ACTION"
ENV_QUARANTINE_BUCKET: Final = "QUARANTINE_BUCKET"
ENV_MAX_OBJECT_BYTES: Final = "MAX_OBJECT_BYTES"
ENV_ENCRYPTED_IS_INFECTED: Final = "ENCRYPTED_IS_INFECTED"
ENV_FINDINGS_TOPIC_ARN: Final = "FINDINGS_TOPIC_ARN"
ENV_CLAMD_DATABASE_DIR: Final = "CLAMD_DATABASE_DIR"
ENV_CLAMD_WORK_DIR: Final = "CLAMD_WORK_DIR"
ENV_CLAMD_BINARY: Final = "CLAMD_BINARY"
ENV_CLAMD_START_TIMEOUT: Final = "CLAMD_START_TIMEOUT_SECONDS"
ENV_CLAMD_SCAN_TIMEOUT: Final = "CLAMD_SCAN_TIMEOUT_SECONDS"
ENV_CLAMD_DISABLE_CACHE: Final = "CLAMD_DISABLE_CACHE"
ENV_STREAM_CHUNK_BYTES: Final = "STREAM_CHUNK_BYTES"
ENV_DEFINITIONS_BUCKET: Final = "DEFINITIONS_BUCKET"
ENV_DEFINITIONS_CHECK_MINUTES: Final = "DEFINITIONS_CHECK_MINUTES"
ENV_DEFINITIONS_DIR: Final = "DEFINITIONS_DIR"
ENV_ALLOW_LIST_TABLE: Final = "ALLOW_LIST_TABLE"
"""DynamoDB table of released content (SHA-256 allow-list); set when infectedAction is quarantine."""
ENV_SCAN_RATE_FLOOR: Final = "SCAN_RATE_FLOOR_BYTES_PER_SECOND"
"""The slowest rate clamd is expected to scan at: an object that could not finish before the invocation's deadline
at this rate is UNSCANNABLE too-large-for-timeout before it is streamed."""
ENV_SCAN_CONCURRENCY: Final = "SCAN_CONCURRENCY"
"""Objects of one SQS batch scanned at once against the one clamd (default: the environment's vCPUs)."""
# Read by the definitions updater (scanner.update; set by infra/definitions.py).
ENV_DEFINITIONS_MIRROR_URL: Final = "DEFINITIONS_MIRROR_URL"
ENV_DEFINITIONS_DATABASES: Final = "DEFINITIONS_DATABASES"
ENV_DEFINITIONS_EXTRA_URLS: Final = "DEFINITIONS_EXTRA_URLS"

# Tags written on scanned objects.
TAG_STATUS: Final = "scan-status"
TAG_DETAIL: Final = "scan-detail"
TAG_TIME: Final = "scan-time"
TAG_ENGINE: Final = "scan-engine"
# Written on a RELEASED verdict (from the allow-list entry) and by `scanner quarantine release`.
TAG_RELEASED_BY: Final = "scan-released-by"
TAG_RELEASE_REASON: Final = "scan-release-reason"
SCAN_TAG_PREFIX: Final = "scan-"
"""Every tag whose key starts with this belongs to the scanner: it is replaced on every scan, never read back."""
SCAN_TAG_KEYS: Final = (TAG_STATUS, TAG_DETAIL, TAG_TIME, TAG_ENGINE, TAG_RELEASED_BY, TAG_RELEASE_REASON)
"""The scanner's tags, in the order they are kept when S3's 10-tag limit leaves room for only some."""
# scan-status values the download block lets through (scanner.verdict.ScanStatus CLEAN and RELEASED).
DOWNLOADABLE_STATUSES: Final = ("CLEAN", "RELEASED")

# Metadata (x-amz-meta-*) carried by quarantined copies: provenance.
META_SOURCE_BUCKET: Final = "source-bucket"
META_SOURCE_KEY: Final = "source-key"
META_SOURCE_KEY_B64: Final = "source-key-b64"
META_SOURCE_VERSION: Final = "source-version-id"
META_SIGNATURE: Final = "signature"
META_QUARANTINED_AT: Final = "quarantined-at"
META_ENGINE: Final = "scan-engine"

# The release allow-list (DynamoDB): partition key the content's SHA-256 (hex), sort key the scope, either
# "<source-bucket>/<source-key>" or ALLOW_LIST_GLOBAL_SCOPE for content released everywhere.
ALLOW_LIST_HASH_KEY: Final = "sha256"
ALLOW_LIST_SCOPE_KEY: Final = "scope"
ALLOW_LIST_GLOBAL_SCOPE: Final = "*"

# Reserved prefixes of the quarantine bucket. Quarantine keys of ordinary objects are "<source-bucket>/<key>"; a
# bucket name never starts with "_", so no source object can land in these.
QUARANTINE_RECORDS_PREFIX: Final = "_records/"
"""One JSON provenance record per quarantine copy version."""
QUARANTINE_LONG_KEYS_PREFIX: Final = "_long/"
"""Copies of objects whose "<bucket>/<key>" exceeds S3's 1,024 bytes: cut, with a digest of the full key."""

# S3 and clamd limits.
S3_MAX_TAGS: Final = 10
S3_TAG_KEY_MAX: Final = 128
S3_TAG_VALUE_MAX: Final = 256
S3_SINGLE_COPY_LIMIT: Final = 5 * 1024**3
CLAMD_MAX_LIMIT_BYTES: Final = 2 * 1024**3 - 1
DEFAULT_MAX_OBJECT_BYTES: Final = 1024**3
MIN_STREAM_CHUNK_BYTES: Final = 64 * 1024
DEFAULT_SCAN_RATE_FLOOR_BYTES_PER_SECOND: Final = 4 * 1024**2
"""Conservative floor of clamd's scan rate on the official database (bench/scanrate: the slowest content measured)."""
DEADLINE_HEADROOM_SECONDS: Final = 15.0
"""Kept free at the end of an invocation to tag, act and report after the last scan."""
DEFAULT_STREAM_CHUNK_BYTES: Final = 256 * 1024

# Virus definitions: the official CDN and databases, and the metrics the definitions age alarm watches.
DEFAULT_DEFINITIONS_MIRROR_URL: Final = "https://database.clamav.net"
OFFICIAL_DATABASES: Final = ("main", "daily", "bytecode")
METRIC_DEFINITIONS_AGE: Final = "DefinitionsAgeHours"
METRIC_DEFINITIONS_UPDATE_FAILED: Final = "DefinitionsUpdateFailed"
METRIC_DEFINITIONS_RELOADED: Final = "DefinitionsReloaded"
METRIC_DEFINITIONS_PUBLISHED: Final = "DefinitionsPublished"
METRIC_DEFINITIONS_PUBLISH_FAILED: Final = "DefinitionsPublishFailed"

POWERTOOLS_SERVICE: Final = "s3-clamav-scanner"
METRICS_NAMESPACE: Final = "S3ClamAVScanner"
