"""Stack settings: read from Pulumi config once, typed and validated, every error naming its key."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pulumi.runtime import config as runtime_config

from infra.options import OPTION_KEYS, ScanOptions, Sizing, vcpus
from infra.values import ConfigError, _bool, _int, _list, _range, _string, _strings
from scanner import constants

PROJECT = "s3-clamav-scanner"
MIB = 1024**2

LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
"""The retention periods CloudWatch Logs accepts."""

_BUCKET_NAME = re.compile(r"^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\(\S+( \S+){5}\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_CRON_DAILY = re.compile(r"^cron\(\S+ \S+ [*?] \* [*?] \*\)$")
"""A cron() that fires at least once a day: any minutes and hours, every day of every month and year."""
# S3 notification filters take URL-encoded values while IAM resource ARNs take the raw key (where "*" and "?" are
# wildcards): only characters both read the same way are accepted (S3's "safe characters" without "*").
_FILTER_VALUE = re.compile(r"^[A-Za-z0-9!_.'()/-]*$")
_STAMP = re.compile(r"^[A-Za-z0-9._:-]{0,64}$")
RESERVED_TAG_KEYS = ("app", "pulumi-stack")
"""Tags the program sets itself; the deployer policy scopes KMS permissions by ``app``."""
MAX_DEFINITIONS_INTERVAL_SECONDS = 12 * 3600
"""The age alarm's period is twice the update interval and CloudWatch evaluates at most a day."""
MIN_CLAMD_TIMEOUT_HEADROOM_SECONDS = 10
MAX_CLAMD_START_TIMEOUT_SECONDS = 120
AUTO_STAMP = "auto"


class InfectedAction(StrEnum):
    """What the scanner does with an INFECTED object (mirrors scanner.config.InfectedAction)."""

    TAG = "tag"
    QUARANTINE = "quarantine"
    DELETE = "delete"


UPLOAD_BUCKET_FIELDS = ("name", "prefix", "suffix")
"""The fields of an ``uploadBuckets`` entry in its object form."""


@dataclass(frozen=True)
class UploadBucket:
    """An existing bucket to scan, with the S3 notification key filters."""

    name: str
    prefix: str | None = None
    """Only keys starting with this are scanned (and granted to the scanner)."""
    suffix: str | None = None
    """Only keys ending with this are scanned."""

    @classmethod
    def parse(cls, entry: object, key: str) -> UploadBucket:
        """Parse one ``uploadBuckets`` entry: an object ``{name, prefix, suffix}`` (what ``pulumi config set --path
        'uploadBuckets[0].name' ...`` writes) or a string ``bucket``, ``bucket/prefix``, ``bucket/prefix*suffix`` or
        ``bucket/*suffix``."""
        if isinstance(entry, Mapping):
            return cls._parse_object(entry, key)
        if not isinstance(entry, str):
            raise ConfigError(
                f"{key}: expected an object {{name, prefix, suffix}} or a string like 'bucket/prefix*suffix', "
                f"got {entry!r}"
            )
        name, _, pattern = entry.strip().partition("/")
        if not name:
            raise ConfigError(f"{key}: the bucket name is required (got {entry!r})")
        check_bucket_name(name, key)
        if pattern.count("*") > 1:
            raise ConfigError(f"{key}: {entry!r} has more than one '*' (S3 filters are one prefix and one suffix)")
        prefix, star, suffix = pattern.partition("*")
        check_filter(prefix, key, "prefix")
        check_filter(suffix, key, "suffix")
        return cls(name=name, prefix=prefix or None, suffix=(suffix if star else None) or None)

    @classmethod
    def _parse_object(cls, entry: Mapping[Any, Any], key: str) -> UploadBucket:
        unknown = sorted(str(k) for k in entry if k not in UPLOAD_BUCKET_FIELDS)
        if unknown:
            match = difflib.get_close_matches(unknown[0], UPLOAD_BUCKET_FIELDS, 1)
            hint = f" (did you mean {match[0]}?)" if match else ""
            raise ConfigError(f"{key}.{unknown[0]}: unknown field{hint}; an entry has name, prefix and suffix")
        for field_name in UPLOAD_BUCKET_FIELDS:
            value = entry.get(field_name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(
                    f"{key}.{field_name}={value!r} is not a string (`pulumi config set --path` stores digits, true and "
                    "false as numbers and booleans: add --type string)"
                )
        name = (entry.get("name") or "").strip()
        if not name:
            raise ConfigError(f"{key}.name: the bucket name is required (got {dict(entry)!r})")
        check_bucket_name(name, f"{key}.name")
        prefix, suffix = entry.get("prefix") or None, entry.get("suffix") or None
        check_filter(prefix, f"{key}.prefix", "prefix")
        check_filter(suffix, f"{key}.suffix", "suffix")
        return cls(name=name, prefix=prefix, suffix=suffix)


def check_bucket_name(name: str, key: str) -> None:
    """Refuse a name S3 would refuse; the error names ``key``."""
    if not _BUCKET_NAME.match(name):
        raise ConfigError(f"{key}: {name!r} is not a valid S3 bucket name")


def check_filter(value: str | None, key: str, part: str) -> None:
    """Refuse a key filter (``part`` is prefix or suffix) that S3 and IAM would read differently."""
    if value and not _FILTER_VALUE.match(value):
        raise ConfigError(
            f"{key}: the {part} {value!r} has characters S3 notification filters would need URL-encoded "
            "(and IAM would read differently); use letters, digits and ! - _ . ' ( ) /"
        )


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs to know about one stack, validated on construction."""

    upload_buckets: tuple[UploadBucket, ...] = ()
    """Existing buckets to attach; empty means the program creates one managed upload bucket."""
    infected_action: InfectedAction = InfectedAction.QUARANTINE
    quarantine_bucket_name: str | None = None
    """Physical name of the quarantine bucket the program creates; None lets Pulumi name it."""
    quarantine_retention_days: int = 90
    max_object_bytes: int = constants.DEFAULT_MAX_OBJECT_BYTES
    memory_mb: int = 3008
    timeout_seconds: int = 900
    ephemeral_storage_mb: int = 4096
    reserved_concurrency: int | None = None
    max_event_age_seconds: int = 21600
    findings_email: str | None = None
    kms_key_arns: tuple[str, ...] = ()
    log_retention_days: int = 30
    block_unscanned_downloads: bool = True
    """Resolved: ``auto`` is on for the managed bucket and off for attached buckets."""
    admin_role_arns: tuple[str, ...] = ()
    encrypted_is_infected: bool = False
    image_retention_count: int = 10
    tags: Mapping[str, str] = field(default_factory=dict)
    definitions_updates: bool = True
    definitions_schedule: str = "rate(3 hours)"
    definitions_mirror_url: str = constants.DEFAULT_DEFINITIONS_MIRROR_URL
    definitions_check_minutes: int = 15
    definitions_max_age_hours: int = 24
    quarantine_kms_key: bool = False
    """Encrypt the quarantine bucket (and the allow-list table) with a customer-managed KMS key of the stack."""
    definitions_stamp: str = AUTO_STAMP
    """Build argument DEFINITIONS_STAMP: a new value re-runs freshclam in the image build."""
    image_build_ca_file: str | None = None
    """PEM bundle handed to the image build as secret ``ca`` (TLS-intercepting proxies)."""
    options: ScanOptions = field(default_factory=ScanOptions)
    """Trigger mode, concurrency, result events, Security Hub, rescans, Batch Operations (infra.options)."""

    def __post_init__(self) -> None:
        # Native Python values (the S3VirusScanner component's arguments) take the shapes the parsed config has.
        try:
            action = InfectedAction(self.infected_action)
        except ValueError:
            allowed = ", ".join(a.value for a in InfectedAction)
            raise ConfigError(f"infectedAction={self.infected_action!r} is not one of: {allowed}") from None
        object.__setattr__(self, "infected_action", action)
        object.__setattr__(self, "upload_buckets", tuple(self.upload_buckets))
        object.__setattr__(self, "kms_key_arns", tuple(dict.fromkeys(self.kms_key_arns)))
        object.__setattr__(self, "admin_role_arns", tuple(dict.fromkeys(self.admin_role_arns)))
        object.__setattr__(self, "tags", dict(self.tags))
        _validate(self)

    def resource_tags(self, stack: str) -> dict[str, str]:
        """Tags for every AWS resource: the configured tags over the program's own."""
        return {"app": PROJECT, "pulumi-stack": stack, **self.tags}

    @property
    def managed_upload_bucket(self) -> bool:
        """True when no bucket is attached and the program creates the upload bucket."""
        return not self.upload_buckets

    @property
    def clamd_timeout_headroom_seconds(self) -> int:
        """Time kept free at the end of an invocation to tag ERROR and publish the finding after an overrun."""
        return max(MIN_CLAMD_TIMEOUT_HEADROOM_SECONDS, -(-self.timeout_seconds // 10))

    @property
    def clamd_start_timeout_seconds(self) -> int:
        """How long the scanner waits for clamd to load: half of what the headroom leaves, at most 120 s."""
        budget = self.timeout_seconds - self.clamd_timeout_headroom_seconds
        return min(MAX_CLAMD_START_TIMEOUT_SECONDS, budget // 2)

    @property
    def clamd_scan_timeout_seconds(self) -> int:
        """How long one INSTREAM exchange may take: the rest, so a cold start plus a scan ends before Lambda's kill."""
        return self.timeout_seconds - self.clamd_timeout_headroom_seconds - self.clamd_start_timeout_seconds

    def image_definitions_stamp(self, today: date) -> str:
        """DEFINITIONS_STAMP for the image build. ``auto``: the UTC date when the baked database is the only one
        (a deploy on a new day bakes fresh definitions), else empty (the bucket keeps them fresh)."""
        if self.definitions_stamp != AUTO_STAMP:
            return self.definitions_stamp
        return "" if self.definitions_updates else today.isoformat()

    @property
    def concurrent_scans(self) -> int:
        """Scans one environment runs at once: one per record of a batch in the queue modes, else one."""
        if not self.options.queued:
            return 1
        return self.options.scan_concurrency or vcpus(self.memory_mb)

    @property
    def sizing(self) -> Sizing:
        return Sizing(
            memory_mb=self.memory_mb,
            timeout_seconds=self.timeout_seconds,
            scan_timeout_seconds=self.clamd_scan_timeout_seconds,
            max_object_bytes=self.max_object_bytes,
            ephemeral_storage_mb=self.ephemeral_storage_mb,
            definitions_updates=self.definitions_updates,
            concurrent_scans=self.concurrent_scans,
        )

    @property
    def definitions_interval_seconds(self) -> int | None:
        """Seconds between updater runs for a ``rate()`` schedule; None for ``cron()``."""
        match = _RATE.match(self.definitions_schedule)
        if not match:
            return None
        return int(match.group(1)) * _UNIT_SECONDS[match.group(2).removesuffix("s")]

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> StackConfig:
        """Build settings from config keys (as in ``Pulumi.yaml``) to values (strings, as Pulumi passes them, or
        native Python values)."""
        unknown = sorted(set(raw) - set(CONFIG_KEYS))
        if unknown:
            hints = [
                f"{k} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(k, CONFIG_KEYS, 1)) else k
                for k in unknown
            ]
            raise ConfigError(f"unknown config key(s): {', '.join(hints)}; the keys are listed in Pulumi.yaml")
        uploads = tuple(
            UploadBucket.parse(entry, f"uploadBuckets[{i}]") for i, entry in enumerate(_list(raw, "uploadBuckets"))
        )
        block = _string(raw, "blockUnscannedDownloads", "auto").lower()
        if block not in {"auto", "true", "false"}:
            raise ConfigError(f"blockUnscannedDownloads={block!r}: expected auto, true or false")
        action = _string(raw, "infectedAction", InfectedAction.QUARANTINE.value).lower()
        reserved = _int(raw, "reservedConcurrency", -1)
        return cls(
            upload_buckets=uploads,
            infected_action=action,  # type: ignore[arg-type]  # checked and converted by __post_init__
            quarantine_bucket_name=_string(raw, "quarantineBucketName", "") or None,
            quarantine_retention_days=_int(raw, "quarantineRetentionDays", 90),
            max_object_bytes=_int(raw, "maxObjectBytes", constants.DEFAULT_MAX_OBJECT_BYTES),
            memory_mb=_int(raw, "memoryMB", 3008),
            timeout_seconds=_int(raw, "timeoutSeconds", 900),
            ephemeral_storage_mb=_int(raw, "ephemeralStorageMB", 4096),
            reserved_concurrency=None if reserved == -1 else reserved,
            max_event_age_seconds=_int(raw, "maxEventAgeSeconds", 21600),
            findings_email=_string(raw, "findingsEmail", "") or None,
            kms_key_arns=tuple(_strings(raw, "kmsKeyArns")),
            log_retention_days=_int(raw, "logRetentionDays", 30),
            block_unscanned_downloads=block == "true" or (block == "auto" and not uploads),
            admin_role_arns=tuple(_strings(raw, "adminRoleArns")),
            encrypted_is_infected=_bool(raw, "encryptedIsInfected", False),
            image_retention_count=_int(raw, "imageRetentionCount", 10),
            tags=_tags(raw, "tags"),
            definitions_updates=_bool(raw, "definitionsUpdates", True),
            definitions_schedule=_string(raw, "definitionsSchedule", "rate(3 hours)"),
            definitions_mirror_url=_string(raw, "definitionsMirrorUrl", constants.DEFAULT_DEFINITIONS_MIRROR_URL),
            definitions_check_minutes=_int(raw, "definitionsCheckMinutes", 15),
            definitions_max_age_hours=_int(raw, "definitionsMaxAgeHours", 24),
            quarantine_kms_key=_bool(raw, "quarantineKmsKey", False),
            definitions_stamp=_string(raw, "definitionsStamp", AUTO_STAMP),
            image_build_ca_file=_string(raw, "imageBuildCaFile", "") or None,
            options=ScanOptions.from_mapping(raw),
        )


CONFIG_KEYS = (
    "uploadBuckets",
    "infectedAction",
    "quarantineBucketName",
    "quarantineRetentionDays",
    "maxObjectBytes",
    "memoryMB",
    "timeoutSeconds",
    "ephemeralStorageMB",
    "reservedConcurrency",
    "maxEventAgeSeconds",
    "findingsEmail",
    "kmsKeyArns",
    "logRetentionDays",
    "blockUnscannedDownloads",
    "adminRoleArns",
    "encryptedIsInfected",
    "imageRetentionCount",
    "tags",
    "definitionsUpdates",
    "definitionsSchedule",
    "definitionsMirrorUrl",
    "definitionsCheckMinutes",
    "definitionsMaxAgeHours",
    "quarantineKmsKey",
    "definitionsStamp",
    "imageBuildCaFile",
    *OPTION_KEYS,
)
"""Every key of the project's config namespace, as documented in Pulumi.yaml."""


def load(project: str = PROJECT) -> StackConfig:
    """Read this project's keys from the running Pulumi program's config (the engine passes them as strings).

    Every key of the namespace is read, so a misspelt key is reported instead of silently ignored.
    """
    prefix = f"{project}:"
    keys = {*runtime_config.CONFIG.get(), *runtime_config.get_config_env()}
    raw = {key.removeprefix(prefix): runtime_config.get_config(key) for key in keys if key.startswith(prefix)}
    return StackConfig.from_mapping({k: v for k, v in raw.items() if v is not None})


def _validate(c: StackConfig) -> None:
    names = [b.name for b in c.upload_buckets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(
            f"uploadBuckets: {', '.join(duplicates)} listed more than once; a bucket has exactly one "
            "notification configuration, so give one entry per bucket"
        )
    if c.quarantine_bucket_name is not None and not _BUCKET_NAME.match(c.quarantine_bucket_name):
        raise ConfigError(f"quarantineBucketName={c.quarantine_bucket_name!r} is not a valid S3 bucket name")
    if c.infected_action is InfectedAction.QUARANTINE and c.quarantine_bucket_name in names:
        raise ConfigError(
            f"quarantineBucketName={c.quarantine_bucket_name!r} is also in uploadBuckets: every "
            "quarantined copy would be scanned again and quarantined again, forever"
        )
    _range("quarantineRetentionDays", c.quarantine_retention_days, 1, 36500)
    _range(
        "maxObjectBytes",
        c.max_object_bytes,
        1,
        constants.CLAMD_MAX_LIMIT_BYTES,
        "(clamd clamps its stream limits at 2 GiB - 1)",
    )
    _range("memoryMB", c.memory_mb, 2048, 10240, "(clamd holds the whole signature database in memory)")
    _range("timeoutSeconds", c.timeout_seconds, 30, 900)
    _range("ephemeralStorageMB", c.ephemeral_storage_mb, 512, 10240)
    reserve = c.reserved_concurrency
    if c.options.queued and reserve is not None and reserve < c.options.queue_maximum_concurrency:
        raise ConfigError(
            f"queueMaximumConcurrency={c.options.queue_maximum_concurrency} exceeds reservedConcurrency="
            f"{reserve}: the event source mapping would be throttled; keep it at most the reserve"
        )
    if c.options.scheduled_rescan and not c.definitions_updates:
        raise ConfigError(
            "scheduledRescan starts when the updater publishes a new database: it needs definitionsUpdates=true"
        )
    problems = c.sizing.problems()
    if problems:
        raise ConfigError("; and ".join(problems))
    if c.reserved_concurrency is not None:
        _range(
            "reservedConcurrency",
            c.reserved_concurrency,
            1,
            100000,
            "(-1 leaves the function unreserved; 0 would stop all scans)",
        )
    _range("maxEventAgeSeconds", c.max_event_age_seconds, 60, 21600)
    if c.findings_email is not None and not _EMAIL.match(c.findings_email):
        raise ConfigError(f"findingsEmail={c.findings_email!r} is not an e-mail address")
    for i, arn in enumerate(c.kms_key_arns):
        if not _KMS_KEY_ARN.match(arn):
            raise ConfigError(
                f"kmsKeyArns[{i}]={arn!r} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>;"
                " aliases cannot be granted)"
            )
    for i, arn in enumerate(c.admin_role_arns):
        if not _ROLE_ARN.match(arn):
            raise ConfigError(f"adminRoleArns[{i}]={arn!r} is not an IAM role ARN")
    if c.log_retention_days not in LOG_RETENTION_DAYS:
        raise ConfigError(
            f"logRetentionDays={c.log_retention_days} is not a CloudWatch Logs retention period "
            f"({', '.join(map(str, LOG_RETENTION_DAYS))})"
        )
    _range("imageRetentionCount", c.image_retention_count, 1, 1000)
    _check_tags(c.tags)
    if c.clamd_start_timeout_seconds < 10:
        raise ConfigError(f"timeoutSeconds={c.timeout_seconds} leaves clamd less than 10 s to start")
    if c.image_build_ca_file is not None:
        _validate_ca_file(c.image_build_ca_file)
    _validate_definitions(c)


def _validate_definitions(c: StackConfig) -> None:
    schedule = c.definitions_schedule
    rate = _RATE.match(schedule)
    if not rate and not _CRON.match(schedule):
        raise ConfigError(
            f"definitionsSchedule={schedule!r} is not an EventBridge schedule: use 'rate(3 hours)' "
            "or 'cron(0 */3 * * ? *)'"
        )
    if rate and (rate.group(1) == "1") != (not rate.group(2).endswith("s")):
        raise ConfigError(
            f"definitionsSchedule={schedule!r}: EventBridge wants the singular unit for 1 and the "
            "plural otherwise, e.g. 'rate(1 hour)', 'rate(3 hours)'"
        )
    if rate and int(rate.group(1)) < 1:
        raise ConfigError(f"definitionsSchedule={schedule!r}: the rate must be at least 1")
    interval = c.definitions_interval_seconds
    if c.definitions_updates and interval is not None and interval > MAX_DEFINITIONS_INTERVAL_SECONDS:
        raise ConfigError(
            f"definitionsSchedule={schedule!r} runs less often than every 12 hours: the age alarm looks at twice "
            "the interval and CloudWatch evaluates at most a day, so it would fire between runs"
        )
    if c.definitions_updates and not rate and not _CRON_DAILY.match(schedule):
        raise ConfigError(
            f"definitionsSchedule={schedule!r}: a cron() schedule must run every day (day-of-month, month, "
            "day-of-week and year '*' or '?'), or the age alarm, which looks at one day, would fire between runs"
        )
    if not _STAMP.match(c.definitions_stamp):
        raise ConfigError(f"definitionsStamp={c.definitions_stamp!r}: up to 64 letters, digits and . _ : - (or 'auto')")
    url = urlparse(c.definitions_mirror_url)
    if url.scheme not in {"http", "https"} or not url.netloc:
        raise ConfigError(f"definitionsMirrorUrl={c.definitions_mirror_url!r} is not an http(s) URL")
    _range("definitionsCheckMinutes", c.definitions_check_minutes, 1, 1440)
    _range("definitionsMaxAgeHours", c.definitions_max_age_hours, 1, 24 * 30)
    if c.definitions_updates and interval is not None and c.definitions_max_age_hours * 3600 <= interval:
        raise ConfigError(
            f"definitionsMaxAgeHours={c.definitions_max_age_hours} must exceed the time between "
            f"updates ({schedule}), or the age alarm would always fire"
        )


def _validate_ca_file(path: str) -> None:
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace")
    except OSError as err:
        raise ConfigError(f"imageBuildCaFile={path!r} cannot be read ({err.strerror})") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ConfigError(f"imageBuildCaFile={path!r} holds no PEM certificate")


def _tags(raw: Mapping[str, Any], key: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for i, entry in enumerate(_strings(raw, key)):
        name, eq, value = entry.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name:
            raise ConfigError(f"{key}[{i}]={entry!r}: expected 'key=value'")
        _check_tag(name, value, f"{key}[{i}]={entry!r}")
        if name in tags:
            raise ConfigError(f"{key}[{i}]: tag {name!r} is given twice")
        tags[name] = value
    return tags


def _check_tags(tags: Mapping[str, str]) -> None:
    for name, value in tags.items():
        _check_tag(name, value, f"tags[{name!r}]")
    if len(tags) > 45:
        raise ConfigError(f"tags: {len(tags)} tags; AWS allows 50 per resource and the program adds its own")


def _check_tag(name: object, value: object, where: str) -> None:
    if not isinstance(name, str) or not isinstance(value, str):
        raise ConfigError(f"{where}: tag keys and values are strings")
    if not name or len(name) > 128 or len(value) > 256 or name.lower().startswith("aws:"):
        raise ConfigError(f"{where}: AWS tag keys are 1..128 characters, values up to 256, and 'aws:' is reserved")
    if name in RESERVED_TAG_KEYS:
        raise ConfigError(f"{where}: tag {name!r} is set by the program itself")
