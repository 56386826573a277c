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
ENV_SCAN_CONCURRENCY: Final = "SCAN_CONCURRENCY"
"""Objects of one SQS batch scanned at once against the one clamd (default: the environment's vCPUs)."""
# Read by the definitions updater (scanner.update; set by infra/definitions.py).
ENV_DEFINITIONS_MIRROR_URL: Final = "DEFINITIONS_MIRROR_URL"
ENV_DEFINITIONS_DATABASES: Final = "DEFINITIONS_DATABASES"
ENV_DEFINITIONS_EXTRA_URLS: Final = "DEFINITIONS_EXTRA_URLS"
ENV_CUSTOM_SIGNATURES_PREFIXES: Final = "CUSTOM_SIGNATURES_PREFIXES"
"""Prefixes of the definitions bucket holding the security team's own signature files (`none`: not read)."""
ENV_CUSTOM_SIGNATURES_ALLOW_LISTING: Final = "CUSTOM_SIGNATURES_ALLOW_LISTING"
"""`true` accepts allow-listing files (.fp/.sfp/.ign2) under that prefix; off by default."""
ENV_CUSTOM_SIGNATURES_MAX_BYTES: Final = "CUSTOM_SIGNATURES_MAX_BYTES"
"""Total size of the custom files one set may hold."""

# Tags written on scanned objects.
TAG_STATUS: Final = "scan-status"
TAG_DETAIL: Final = "scan-detail"
TAG_TIME: Final = "scan-time"
TAG_ENGINE: Final = "scan-engine"
SCAN_TAG_KEYS: Final = (TAG_STATUS, TAG_DETAIL, TAG_TIME, TAG_ENGINE)
# scan-status values the download block lets through (scanner.verdict.ScanStatus CLEAN and RELEASED).
DOWNLOADABLE_STATUSES: Final = ("CLEAN", "RELEASED")
# Written by `scanner quarantine release` on the restored object and on the quarantine copy.
TAG_RELEASED_BY: Final = "scan-released-by"
TAG_RELEASE_REASON: Final = "scan-release-reason"

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
DEFAULT_STREAM_CHUNK_BYTES: Final = 256 * 1024

# Virus definitions: the official CDN and databases, and the metrics the definitions age alarm watches.
DEFAULT_DEFINITIONS_MIRROR_URL: Final = "https://database.clamav.net"
OFFICIAL_DATABASES: Final = ("main", "daily", "bytecode")
METRIC_DEFINITIONS_AGE: Final = "DefinitionsAgeHours"
METRIC_DEFINITIONS_UPDATE_FAILED: Final = "DefinitionsUpdateFailed"
METRIC_DEFINITIONS_RELOADED: Final = "DefinitionsReloaded"
METRIC_DEFINITIONS_PUBLISHED: Final = "DefinitionsPublished"
METRIC_DEFINITIONS_PUBLISH_FAILED: Final = "DefinitionsPublishFailed"
DEFAULT_CUSTOM_SIGNATURES_PREFIXES: Final = ("custom/",)
DEFAULT_CUSTOM_SIGNATURES_MAX_BYTES: Final = 64 * 1024**2
METRIC_CUSTOM_SIGNATURES_REJECTED: Final = "CustomSignaturesRejected"
"""Custom signature files an updater run rejected (each also named in a finding); nothing was published."""

POWERTOOLS_SERVICE: Final = "s3-clamav-scanner"
METRICS_NAMESPACE: Final = "S3ClamAVScanner"
