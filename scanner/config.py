"""Scanner settings: read from the environment once, validated, passed down explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from scanner import constants as c
from scanner.exceptions import SettingsError

N = TypeVar("N", int, float)


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
    clamd: ClamdSettings = ClamdSettings()

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


def ensure_not_source(settings: Settings, source_bucket: str) -> None:
    """Refuse to quarantine into the bucket being scanned: every copy would trigger another scan."""
    if settings.quarantine_bucket and settings.quarantine_bucket == source_bucket:
        raise SettingsError(
            f"{c.ENV_QUARANTINE_BUCKET}={source_bucket!r} equals the scanned bucket: quarantine would loop forever"
        )


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
