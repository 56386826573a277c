"""Scanner settings: read from the environment once, validated, passed down explicitly."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from scanner import constants as c
from scanner.exceptions import SettingsError

N = TypeVar("N", int, float)

DEFAULT_DEFINITIONS_DIR = "/tmp/definitions"
_LIST_SEPARATORS = re.compile(r"[\s,]+")
_PRODUCT_ARN = re.compile(r"arn:aws[a-z-]*:securityhub:[a-z0-9-]+:(\d{12}):product/\1/default")
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class InfectedAction(StrEnum):
    """What happens to an object found INFECTED."""

    TAG = "tag"
    QUARANTINE = "quarantine"
    DELETE = "delete"


@dataclass(frozen=True)
class ClamdSettings:
    """How clamd is run in this execution environment."""

    database_dir: Path = Path("/var/lib/clamav")
    """Directory holding the signature database (.cvd/.cld/.ndb/.hdb ...)."""
    work_dir: Path = Path("/tmp/clamd")
    """Writable directory for the rendered config, socket, pid file and temporary files."""
    binary: str = "clamd"
    """clamd executable (name on PATH or absolute path)."""
    start_timeout_s: float = 120.0
    """Bounded wait for clamd to answer PING after start."""
    scan_timeout_s: float = 240.0
    """Socket timeout for one INSTREAM exchange."""
    max_object_bytes: int = c.DEFAULT_MAX_OBJECT_BYTES
    """Rendered into clamd's StreamMaxLength / MaxFileSize / MaxScanSize."""
    disable_cache: bool = False
    """clamd's DisableCache (benchmarks turn the clean-file cache off)."""
    builtin_signatures: bool = True
    """Load the scanner's own signatures (archives.NESTED_SIGNATURES) beside the database; off only to show what
    ClamAV alone misses."""
    max_threads: int = 0
    """clamd's MaxThreads; 0: enough for the environment's concurrent scans (two INSTREAMs each for an encoded
    object, one for PING/VERSION)."""


@dataclass(frozen=True)
class Settings:
    """Everything the scanner needs to know, validated."""

    action: InfectedAction = InfectedAction.QUARANTINE
    quarantine_bucket: str | None = None
    max_object_bytes: int = c.DEFAULT_MAX_OBJECT_BYTES
    encrypted_is_infected: bool = False
    findings_topic_arn: str | None = None
    stream_chunk_bytes: int = c.DEFAULT_STREAM_CHUNK_BYTES
    definitions_bucket: str | None = None
    definitions_check_minutes: float = 15.0
    definitions_dir: Path = Path(DEFAULT_DEFINITIONS_DIR)
    """Where published definitions are downloaded (one directory per set)."""
    allow_list_table: str | None = None
    """DynamoDB table of released content (quarantine mode); None: nothing is ever RELEASED."""
    scan_concurrency: int = 0
    """Records of one SQS batch scanned at once; 0: one per vCPU of the execution environment."""
    scan_rate_floor: int = c.DEFAULT_SCAN_RATE_FLOOR_BYTES_PER_SECOND
    """Bytes per second clamd scans at least; objects that cannot finish in the time left are not streamed."""
    result_event_bus: str | None = None
    """EventBridge bus for GuardDuty-shaped scan-result events (name or ARN); None: none are published."""
    result_event_source: str = c.DEFAULT_RESULT_EVENT_SOURCE
    guardduty_status_tag: bool = False
    """Also write GuardDuty's GuardDutyMalwareScanStatus tag (then owned by the scanner, like scan-*)."""
    security_hub_product_arn: str | None = None
    """This account's default product ARN in Security Hub; None: no findings are imported."""
    security_hub_unscannable: bool = False
    """Import a finding for UNSCANNABLE objects too (INFECTED always, when Security Hub is configured)."""
    clamd: ClamdSettings = ClamdSettings()

    @property
    def concurrency(self) -> int:
        """Objects scanned at once in this environment."""
        return self.scan_concurrency or _cpus()

    def __post_init__(self) -> None:
        validate(self)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (names in scanner.constants)."""
        env = os.environ if environ is None else environ
        max_bytes = _int(env, c.ENV_MAX_OBJECT_BYTES, c.DEFAULT_MAX_OBJECT_BYTES)
        defaults = ClamdSettings()
        clamd = ClamdSettings(
            database_dir=Path(env.get(c.ENV_CLAMD_DATABASE_DIR) or defaults.database_dir),
            work_dir=Path(env.get(c.ENV_CLAMD_WORK_DIR) or defaults.work_dir),
            binary=env.get(c.ENV_CLAMD_BINARY) or defaults.binary,
            start_timeout_s=_float(env, c.ENV_CLAMD_START_TIMEOUT, defaults.start_timeout_s),
            scan_timeout_s=_float(env, c.ENV_CLAMD_SCAN_TIMEOUT, defaults.scan_timeout_s),
            max_object_bytes=max_bytes,
            disable_cache=_bool(env, c.ENV_CLAMD_DISABLE_CACHE, False),
            max_threads=2 * (_int(env, c.ENV_SCAN_CONCURRENCY, 0) or _cpus()) + 2,
        )
        return cls(
            action=_action(env.get(c.ENV_INFECTED_ACTION) or InfectedAction.QUARANTINE.value),
            quarantine_bucket=env.get(c.ENV_QUARANTINE_BUCKET) or None,
            max_object_bytes=max_bytes,
            encrypted_is_infected=_bool(env, c.ENV_ENCRYPTED_IS_INFECTED, False),
            findings_topic_arn=env.get(c.ENV_FINDINGS_TOPIC_ARN) or None,
            stream_chunk_bytes=_int(env, c.ENV_STREAM_CHUNK_BYTES, c.DEFAULT_STREAM_CHUNK_BYTES),
            definitions_bucket=env.get(c.ENV_DEFINITIONS_BUCKET) or None,
            definitions_check_minutes=_float(env, c.ENV_DEFINITIONS_CHECK_MINUTES, 15.0),
            definitions_dir=Path(env.get(c.ENV_DEFINITIONS_DIR) or DEFAULT_DEFINITIONS_DIR),
            allow_list_table=env.get(c.ENV_ALLOW_LIST_TABLE) or None,
            scan_concurrency=_int(env, c.ENV_SCAN_CONCURRENCY, 0),
            scan_rate_floor=_int(env, c.ENV_SCAN_RATE_FLOOR, c.DEFAULT_SCAN_RATE_FLOOR_BYTES_PER_SECOND),
            result_event_bus=(env.get(c.ENV_RESULT_EVENT_BUS) or "").strip() or None,
            result_event_source=(env.get(c.ENV_RESULT_EVENT_SOURCE) or "").strip() or c.DEFAULT_RESULT_EVENT_SOURCE,
            guardduty_status_tag=_bool(env, c.ENV_GUARDDUTY_STATUS_TAG, False),
            security_hub_product_arn=(env.get(c.ENV_SECURITY_HUB_PRODUCT_ARN) or "").strip() or None,
            security_hub_unscannable=_bool(env, c.ENV_SECURITY_HUB_UNSCANNABLE, False),
            clamd=clamd,
        )


def validate(settings: Settings) -> None:
    """Reject settings that cannot work, naming the environment variable at fault."""
    if not isinstance(settings.action, InfectedAction):
        raise SettingsError(f"{c.ENV_INFECTED_ACTION}: unknown action {settings.action!r}")
    if settings.action is InfectedAction.QUARANTINE and not settings.quarantine_bucket:
        raise SettingsError(f"{c.ENV_QUARANTINE_BUCKET} is required when {c.ENV_INFECTED_ACTION}=quarantine")
    if not 1 <= settings.max_object_bytes <= c.CLAMD_MAX_LIMIT_BYTES:
        raise SettingsError(
            f"{c.ENV_MAX_OBJECT_BYTES}={settings.max_object_bytes} is out of range 1..{c.CLAMD_MAX_LIMIT_BYTES} "
            "(clamd clamps its limits at 2 GiB - 1)"
        )
    if settings.max_object_bytes > settings.clamd.max_object_bytes:
        raise SettingsError(f"{c.ENV_MAX_OBJECT_BYTES}: above the limit rendered into clamd's configuration")
    if not c.MIN_STREAM_CHUNK_BYTES <= settings.stream_chunk_bytes <= 64 * 1024**2:
        raise SettingsError(
            f"{c.ENV_STREAM_CHUNK_BYTES}={settings.stream_chunk_bytes} is out of range "
            f"{c.MIN_STREAM_CHUNK_BYTES}..{64 * 1024**2}"
        )
    if settings.clamd.start_timeout_s <= 0 or settings.clamd.scan_timeout_s <= 0:
        raise SettingsError(f"{c.ENV_CLAMD_START_TIMEOUT} and {c.ENV_CLAMD_SCAN_TIMEOUT} must be positive")
    if settings.definitions_check_minutes <= 0:
        raise SettingsError(f"{c.ENV_DEFINITIONS_CHECK_MINUTES} must be positive")
    if not settings.definitions_dir.is_absolute():
        raise SettingsError(f"{c.ENV_DEFINITIONS_DIR}={str(settings.definitions_dir)!r} is not an absolute path")
    if settings.scan_rate_floor < 64 * 1024:
        raise SettingsError(f"{c.ENV_SCAN_RATE_FLOOR}={settings.scan_rate_floor} is below 65536 bytes per second")
    if not 0 <= settings.scan_concurrency <= 64:
        raise SettingsError(
            f"{c.ENV_SCAN_CONCURRENCY}={settings.scan_concurrency} is out of range 0..64 (0: one per vCPU)"
        )
    validate_event_source(settings.result_event_source)
    if settings.security_hub_product_arn and not _PRODUCT_ARN.fullmatch(settings.security_hub_product_arn):
        raise SettingsError(
            f"{c.ENV_SECURITY_HUB_PRODUCT_ARN}={settings.security_hub_product_arn!r}: expected "
            "arn:<partition>:securityhub:<region>:<account>:product/<account>/default"
        )


def validate_event_source(source: str) -> None:
    """A custom event's source: 1-256 characters, never `aws.*` (EventBridge reserves those for AWS services)."""
    if not source or len(source) > 256 or source.lower().startswith("aws."):
        raise SettingsError(
            f"{c.ENV_RESULT_EVENT_SOURCE}={source!r}: 1 to 256 characters, not starting with 'aws.' "
            "(reserved for AWS services; GuardDuty's own events use aws.guardduty)"
        )


@dataclass(frozen=True)
class UpdaterSettings:
    """The definitions updater (scanner.update): what freshclam fetches, from where, and where it is published."""

    definitions_bucket: str
    """Private, versioned bucket the database files and the manifest are published to."""
    mirror_url: str = c.DEFAULT_DEFINITIONS_MIRROR_URL
    """The official CDN (freshclam's DatabaseMirror) or a private mirror (PrivateMirror), e.g. one cvdupdate serves."""
    databases: tuple[str, ...] = c.OFFICIAL_DATABASES
    """Official databases to fetch (main, daily, bytecode); the others are excluded."""
    extra_urls: tuple[str, ...] = ()
    """Additional signature files (freshclam's DatabaseCustomURL), e.g. unofficial .ndb/.hdb sets."""
    work_dir: Path = Path(DEFAULT_DEFINITIONS_DIR)
    """Scratch space under /tmp: freshclam's database directory, its config, the verified set."""
    freshclam_binary: str = "freshclam"
    clamscan_binary: str = "clamscan"
    freshclam_timeout_s: float = 600.0
    """Bounded wait for one freshclam run (the whole database is ~230 MB)."""
    freshclam_attempts: int = 3
    """freshclam's MaxAttempts per mirror (it pauses between attempts)."""
    verify_timeout_s: float = 300.0
    """Bounded wait for clamscan to load the complete set once before it is published."""
    custom_prefixes: tuple[str, ...] = c.DEFAULT_CUSTOM_SIGNATURES_PREFIXES
    """Prefixes (folders) of the definitions bucket with the security team's own signature files (admins write
    `custom/`; a feed job may sync into another, e.g. `feeds/`). Empty: none are read."""
    custom_allow_listing: bool = False
    """Accept allow-listing files (.fp, .sfp, .ign2) under those prefixes: they make the engine pass content."""
    custom_max_bytes: int = c.DEFAULT_CUSTOM_SIGNATURES_MAX_BYTES
    """Total size of the custom files in one set (every scanner downloads and loads them)."""
    findings_topic_arn: str | None = None
    """SNS topic told about rejected custom files (the scanners' findings topic)."""

    def __post_init__(self) -> None:
        validate_updater(self)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> UpdaterSettings:
        """Build updater settings from environment variables (names in scanner.constants)."""
        env = os.environ if environ is None else environ
        raw_databases = (env.get(c.ENV_DEFINITIONS_DATABASES) or "").strip()
        if not raw_databases:
            databases: tuple[str, ...] = c.OFFICIAL_DATABASES
        elif raw_databases.lower() == "none":
            databases = ()
        else:
            databases = tuple(d.lower() for d in _split(raw_databases))
        return cls(
            definitions_bucket=env.get(c.ENV_DEFINITIONS_BUCKET) or "",
            mirror_url=(env.get(c.ENV_DEFINITIONS_MIRROR_URL) or c.DEFAULT_DEFINITIONS_MIRROR_URL).strip(),
            databases=databases,
            extra_urls=tuple(_split(env.get(c.ENV_DEFINITIONS_EXTRA_URLS) or "")),
            work_dir=Path(env.get(c.ENV_DEFINITIONS_DIR) or DEFAULT_DEFINITIONS_DIR),
            custom_prefixes=_custom_prefixes(env.get(c.ENV_CUSTOM_SIGNATURES_PREFIXES)),
            custom_allow_listing=_bool(env, c.ENV_CUSTOM_SIGNATURES_ALLOW_LISTING, False),
            custom_max_bytes=_int(env, c.ENV_CUSTOM_SIGNATURES_MAX_BYTES, c.DEFAULT_CUSTOM_SIGNATURES_MAX_BYTES),
            findings_topic_arn=env.get(c.ENV_FINDINGS_TOPIC_ARN) or None,
        )


def validate_updater(settings: UpdaterSettings) -> None:
    """Reject updater settings that cannot work, naming the environment variable at fault."""
    if not settings.definitions_bucket:
        raise SettingsError(f"{c.ENV_DEFINITIONS_BUCKET} is required by the definitions updater")
    mirror = urlparse(settings.mirror_url)
    if mirror.scheme not in {"http", "https"} or not mirror.hostname:
        raise SettingsError(f"{c.ENV_DEFINITIONS_MIRROR_URL}={settings.mirror_url!r} is not an http(s) URL")
    unknown = [d for d in settings.databases if d not in c.OFFICIAL_DATABASES]
    if unknown or len(set(settings.databases)) != len(settings.databases):
        raise SettingsError(
            f"{c.ENV_DEFINITIONS_DATABASES}={','.join(settings.databases)!r}: expected distinct names among "
            f"{', '.join(c.OFFICIAL_DATABASES)} (or 'none')"
        )
    for url in settings.extra_urls:
        parsed = urlparse(url)
        name = parsed.path.rsplit("/", 1)[-1]
        if parsed.scheme not in {"http", "https", "ftp", "ftps", "file"} or "." not in name:
            raise SettingsError(
                f"{c.ENV_DEFINITIONS_EXTRA_URLS}: {url!r} is not an http(s), ftp(s) or file URL naming a database file"
            )
    if not settings.databases and not settings.extra_urls:
        raise SettingsError(
            f"{c.ENV_DEFINITIONS_DATABASES}=none and no {c.ENV_DEFINITIONS_EXTRA_URLS}: there is nothing to fetch"
        )
    if not settings.work_dir.is_absolute():
        raise SettingsError(f"{c.ENV_DEFINITIONS_DIR}={str(settings.work_dir)!r} is not an absolute path")
    if settings.freshclam_timeout_s <= 0 or settings.verify_timeout_s <= 0 or settings.freshclam_attempts < 1:
        raise SettingsError("freshclam and verification timeouts and freshclam's attempts must be positive")
    _validate_custom_prefixes(settings.custom_prefixes)
    if settings.custom_max_bytes < 1:
        raise SettingsError(f"{c.ENV_CUSTOM_SIGNATURES_MAX_BYTES}={settings.custom_max_bytes} must be positive")


def _custom_prefixes(raw: str | None) -> tuple[str, ...]:
    value = (raw or "").strip()
    if not value:
        return c.DEFAULT_CUSTOM_SIGNATURES_PREFIXES
    return () if value.lower() == "none" else tuple(_split(value))


def _validate_custom_prefixes(prefixes: tuple[str, ...]) -> None:
    """Folders of their own: never the updater's published files, never the bucket's root, never nested."""
    # Imported here: the scanner.definitions package imports this module.
    from scanner.definitions.manifest import DATABASE_PREFIX, MANIFEST_KEY

    name = c.ENV_CUSTOM_SIGNATURES_PREFIXES
    published = (DATABASE_PREFIX, MANIFEST_KEY)
    for prefix in prefixes:
        if not prefix.endswith("/") or prefix.startswith("/") or "//" in prefix or ".." in prefix.split("/"):
            raise SettingsError(f"{name}: {prefix!r} must be a folder such as 'custom/' (ending in '/', no '..')")
        if any(p.startswith(prefix) or prefix.startswith(p) for p in published):
            raise SettingsError(f"{name}: {prefix!r} overlaps what the updater publishes ({', '.join(published)})")
        if any(other != prefix and other.startswith(prefix) for other in prefixes):
            raise SettingsError(f"{name}: {prefix!r} contains another of the prefixes")
    if len(set(prefixes)) != len(prefixes):
        raise SettingsError(f"{name}: a prefix is named twice")


@dataclass(frozen=True)
class RescanTarget:
    """A bucket, or the keys under one prefix of it, that the scheduled rescan covers."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, entry: str) -> RescanTarget:
        """`bucket` or `bucket/prefix` (the uploadBuckets form; a `*suffix` filter is not a listing prefix)."""
        bucket, _, prefix = entry.strip().partition("/")
        if not _BUCKET_NAME.fullmatch(bucket):
            raise SettingsError(f"{c.ENV_RESCAN_TARGETS}: {bucket!r} is not an S3 bucket name")
        return cls(bucket, prefix.split("*", 1)[0])

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class RescanSettings:
    """The scheduled rescan (scanner.rescan): what to list, how far back, how many, and the queue to submit to."""

    queue_url: str
    targets: tuple[RescanTarget, ...]
    days: float = c.DEFAULT_RESCAN_DAYS
    max_objects: int = c.DEFAULT_RESCAN_MAX_OBJECTS

    def __post_init__(self) -> None:
        if not self.queue_url:
            raise SettingsError(f"{c.ENV_SCAN_QUEUE_URL} is required by the scheduled rescan")
        if not self.targets:
            raise SettingsError(f"{c.ENV_RESCAN_TARGETS} is required by the scheduled rescan (bucket[/prefix], ...)")
        if not 0 < self.days <= 3650:
            raise SettingsError(f"{c.ENV_RESCAN_DAYS}={self.days} is out of range (0, 3650]")
        if not 1 <= self.max_objects <= 10_000_000:
            raise SettingsError(f"{c.ENV_RESCAN_MAX_OBJECTS}={self.max_objects} is out of range 1..10000000")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RescanSettings:
        env = os.environ if environ is None else environ
        return cls(
            queue_url=(env.get(c.ENV_SCAN_QUEUE_URL) or "").strip(),
            targets=tuple(RescanTarget.parse(e) for e in _split(env.get(c.ENV_RESCAN_TARGETS) or "")),
            days=_float(env, c.ENV_RESCAN_DAYS, float(c.DEFAULT_RESCAN_DAYS)),
            max_objects=_int(env, c.ENV_RESCAN_MAX_OBJECTS, c.DEFAULT_RESCAN_MAX_OBJECTS),
        )


def ensure_not_source(settings: Settings, source_bucket: str) -> None:
    """Refuse to quarantine into the bucket being scanned: every copy would trigger another scan."""
    if settings.quarantine_bucket and settings.quarantine_bucket == source_bucket:
        raise SettingsError(
            f"{c.ENV_QUARANTINE_BUCKET}={source_bucket!r} equals the scanned bucket: quarantine would loop forever"
        )


def _cpus() -> int:
    """vCPUs of this execution environment."""
    return max(1, len(os.sched_getaffinity(0)))


def _split(raw: str) -> list[str]:
    """Items of a comma- or whitespace-separated list."""
    return [item for item in _LIST_SEPARATORS.split(raw.strip()) if item]


def _action(raw: str) -> InfectedAction:
    try:
        return InfectedAction(raw.strip().lower())
    except ValueError:
        allowed = ", ".join(a.value for a in InfectedAction)
        raise SettingsError(f"{c.ENV_INFECTED_ACTION}: unknown action {raw!r} (expected one of: {allowed})") from None


def _number(env: Mapping[str, str], name: str, default: N, kind: type[N]) -> N:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise SettingsError(f"{name}={raw!r} is not {noun}") from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return _number(env, name, default, int)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (true/false)")
