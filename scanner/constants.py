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
# Scan-result events, Security Hub findings and rescans (issue 13; set by infra when configured).
ENV_RESULT_EVENT_BUS: Final = "RESULT_EVENT_BUS"
"""EventBridge bus (name or ARN; `default` for the account's default bus) for scan-result events; empty: off."""
ENV_RESULT_EVENT_SOURCE: Final = "RESULT_EVENT_SOURCE"
"""The events' `source` (custom events cannot use `aws.*`); default DEFAULT_RESULT_EVENT_SOURCE."""
ENV_GUARDDUTY_STATUS_TAG: Final = "GUARDDUTY_STATUS_TAG"
"""true: also write GuardDuty's `GuardDutyMalwareScanStatus` tag (for bucket policies written against it)."""
ENV_SECURITY_HUB_PRODUCT_ARN: Final = "SECURITY_HUB_PRODUCT_ARN"
"""arn:aws:securityhub:<region>:<account>:product/<account>/default; empty: no Security Hub findings."""
ENV_SECURITY_HUB_UNSCANNABLE: Final = "SECURITY_HUB_UNSCANNABLE"
"""true: a Security Hub finding for UNSCANNABLE objects too (INFECTED always)."""
ENV_SCAN_QUEUE_URL: Final = "SCAN_QUEUE_URL"
"""The scan queue the uploads go through; the scheduled rescan submits there (so the concurrency cap holds)."""
ENV_RESCAN_TARGETS: Final = "RESCAN_TARGETS"
"""What the scheduled rescan covers: `bucket` or `bucket/prefix` entries, comma- or space-separated."""
ENV_RESCAN_DAYS: Final = "RESCAN_DAYS"
"""Objects modified within this many days are rescanned after a new database (default 7)."""
ENV_RESCAN_MAX_OBJECTS: Final = "RESCAN_MAX_OBJECTS"
"""At most this many objects per scheduled rescan run (the newest first)."""
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
# Written on a RELEASED verdict (from the allow-list entry) and by `scanner quarantine release`.
TAG_RELEASED_BY: Final = "scan-released-by"
TAG_RELEASE_REASON: Final = "scan-release-reason"
TAG_GUARDDUTY_STATUS: Final = "GuardDutyMalwareScanStatus"
"""GuardDuty Malware Protection for S3's tag, written only when GUARDDUTY_STATUS_TAG is on (then the scanner's)."""
GUARDDUTY_TAG_VALUES: Final = ("NO_THREATS_FOUND", "THREATS_FOUND", "UNSUPPORTED", "ACCESS_DENIED", "FAILED")
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
DEFAULT_MAX_OBJECT_BYTES: Final = 512 * 1024**2
"""What one scan fits in Lambda's 900 s at the scan-rate floor of the official database (infra.options.Sizing)."""
MIN_STREAM_CHUNK_BYTES: Final = 64 * 1024
DEFAULT_SCAN_RATE_FLOOR_BYTES_PER_SECOND: Final = 1024**2
"""Conservative floor of clamd's scan rate on the official-shaped database: `python -m bench scanrate` measured
0.46 MiB/s for an office-like zip and 0.99 MiB/s for random bytes at 16 MiB on a busy 2-core machine (about
1.5-2x slower than quiet), 1.2-11 MiB/s for PDF, shared libraries, PE and text."""
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
DEFAULT_CUSTOM_SIGNATURES_PREFIXES: Final = ("custom/",)
DEFAULT_CUSTOM_SIGNATURES_MAX_BYTES: Final = 64 * 1024**2
METRIC_CUSTOM_SIGNATURES_REJECTED: Final = "CustomSignaturesRejected"
"""Custom signature files an updater run rejected (each also named in a finding); nothing was published."""

# Scan-result events (GuardDuty's contract, our source) and rescans.
DEFAULT_RESULT_EVENT_SOURCE: Final = "s3-clamav-scanner"
RESULT_DETAIL_TYPE: Final = "GuardDuty Malware Protection Object Scan Result"
"""GuardDuty's own detail-type: a rule written for GuardDuty matches ours once its `source` is changed."""
DEFAULT_RESCAN_DAYS: Final = 7
DEFAULT_RESCAN_MAX_OBJECTS: Final = 10_000
METRIC_RESULT_EVENTS_FAILED: Final = "ResultEventsFailed"
METRIC_SECURITY_HUB_FAILED: Final = "SecurityHubFindingsFailed"
METRIC_RESCAN_SUBMITTED: Final = "RescanSubmitted"
METRIC_RESCAN_TRUNCATED: Final = "RescanTruncated"

POWERTOOLS_SERVICE: Final = "s3-clamav-scanner"
METRICS_NAMESPACE: Final = "S3ClamAVScanner"
