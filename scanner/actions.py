"""What happens to an INFECTED object: tag only, quarantine, or delete; always exactly the content that was scanned.

Quarantine is a server-side copy of the pinned version (or ETag) with its metadata and content headers, tagged with
the verdict, and a checksum S3 computes over the copy. The copy counts only when S3's SHA-256 of it equals the
SHA-256 the scanner computed while streaming; its provenance record is written next; only then is the source
deleted, itself pinned (that version, or If-Match on the ETag).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from botocore.exceptions import ClientError

from scanner import constants as c
from scanner.config import InfectedAction
from scanner.exceptions import QuarantineError
from scanner.observability import logger
from scanner.provenance import ProvenanceRecord, record_key
from scanner.storage import HeadInfo, ObjectStore, Pinned, is_missing, is_precondition_failed

_S3_MAX_KEY_BYTES = 1024
_LONG_KEY_DIGEST_CHARS = 32


@dataclass(frozen=True)
class ActionResult:
    """What the action did; `quarantine_location` is `s3://bucket/key` once a verified copy exists."""

    action: InfectedAction
    quarantine_location: str | None = None
    quarantine_version_id: str | None = None
    source_deleted: bool = False
    problem: str | None = None
    """Set when the source could not be deleted because the key now holds other content (never lost)."""


def quarantine_key(bucket: str, key: str) -> str:
    """Where an infected object lands: `<bucket>/<key>`. When that exceeds S3's 1,024 bytes, the key is cut at a
    character boundary, a digest of the full key appended, under `_long/`: no plain key can produce such a name,
    because a bucket name never starts with `_`."""
    plain = f"{bucket}/{key}"
    if len(plain.encode()) <= _S3_MAX_KEY_BYTES:
        return plain
    digest = hashlib.sha256(key.encode()).hexdigest()[:_LONG_KEY_DIGEST_CHARS]
    prefix = f"{c.QUARANTINE_LONG_KEYS_PREFIX}{bucket}/"
    room = _S3_MAX_KEY_BYTES - len(prefix.encode()) - 1 - len(digest)
    head = key.encode()[:room].decode(errors="ignore")
    return f"{prefix}{head}~{digest}"


@dataclass(frozen=True)
class Infection:
    """The scanned content and its verdict, everything the action and its provenance record need."""

    pinned: Pinned
    sha256: str | None
    size: int
    signature: str
    engine: str
    scanned_at: str
    content_encoding: str | None
    user_tags: Mapping[str, str]
    scan_tags: Mapping[str, str]
    encryption: str | None = None
    kms_key_id: str | None = None


def apply_infected_action(
    action: InfectedAction, store: ObjectStore, infection: Infection, *, quarantine_bucket: str | None
) -> ActionResult:
    """Run the configured action. Quarantine deletes the source only after the copy is verified by content."""
    if action is InfectedAction.TAG:
        return ActionResult(action)
    location = version = None
    if action is InfectedAction.QUARANTINE:
        if not quarantine_bucket:
            raise QuarantineError("no quarantine bucket configured")
        location, version = quarantine(store, infection, quarantine_bucket=quarantine_bucket)
    try:
        store.delete(infection.pinned)
    except ClientError as err:
        if is_precondition_failed(err) or is_missing(err):
            # An unversioned key that was overwritten or removed since the scan: the new content has its own event,
            # and the scanned content is gone (or safe in quarantine). Nothing is deleted unseen.
            logger.warning("source changed before its delete; left alone", extra={"object": str(infection.pinned)})
            return ActionResult(action, location, version, problem="source-replaced-before-delete")
        raise
    return ActionResult(action, location, version, source_deleted=True)


def quarantine(store: ObjectStore, infection: Infection, *, quarantine_bucket: str) -> tuple[str, str]:
    """Copy the infected content into quarantine, verify the copy by SHA-256, write its provenance record.

    Idempotent: the current copy at the quarantine key is reused only when its SHA-256 equals the scanned content's;
    otherwise the content is copied again (the bucket is versioned, earlier copies stay).
    """
    if not infection.sha256:
        raise QuarantineError(f"{infection.pinned}: no SHA-256 of the scanned content, so no copy can be verified")
    key = quarantine_key(infection.pinned.bucket, infection.pinned.key)
    location = f"s3://{quarantine_bucket}/{key}"
    try:
        current = _current_copy(store, quarantine_bucket, key)
        same, record_present = (
            _same_infection(store, quarantine_bucket, key, current, infection) if current else (False, False)
        )
        if current is not None and same:
            version = current.version_id
            logger.info("quarantine copy of the same infection already present", extra={"quarantine": location})
        else:
            version, _ = store.copy_exact(infection.pinned, quarantine_bucket, key, infection.scan_tags)
        if not version:
            raise QuarantineError(
                f"{quarantine_bucket} returned no version id: the quarantine bucket must be versioned"
            )
        copy = Pinned(quarantine_bucket, key, version, "")
        # Tagged on every attempt: an earlier attempt may have copied the content and failed right after.
        store.put_tags(copy, infection.scan_tags)
        info = store.head(copy, checksum=True)
        if info.sha256 != infection.sha256 or info.size != infection.size:
            raise QuarantineError(
                f"quarantine copy {location}?versionId={version} does not hold the scanned content "
                f"(sha256 {info.sha256} vs {infection.sha256}, size {info.size} vs {infection.size})"
            )
        if not (same and record_present):
            _ensure_record(store, infection, quarantine_bucket, key, version)
    except QuarantineError:
        raise
    except Exception as err:
        raise QuarantineError(f"quarantine copy of {infection.pinned} to {location} failed: {err}") from err
    return location, version


def _current_copy(store: ObjectStore, bucket: str, key: str) -> HeadInfo | None:
    try:
        return store.head(Pinned(bucket, key, None, ""), checksum=True)
    except ClientError as err:
        if is_missing(err):
            return None
        raise


def _same_infection(
    store: ObjectStore, bucket: str, key: str, current: HeadInfo, infection: Infection
) -> tuple[bool, bool]:
    """Whether the current copy is this infection: the same content (S3's SHA-256), found with the same signature
    at the same source; and whether its provenance record exists (read here, so it is not read again). A new
    detection of content quarantined (and perhaps released) before gets a copy of its own, so its record names what
    was found this time."""
    if current.sha256 != infection.sha256 or current.size != infection.size or not current.version_id:
        return False, False
    body = store.get_json_bytes(bucket, record_key(key, current.version_id))
    if body is None:
        return True, False  # a copy of this content whose record an earlier attempt did not get to write
    try:
        record = ProvenanceRecord.from_json(body)
    except (ValueError, TypeError):
        return False, True
    same = (record.source_bucket, record.source_key, record.signature) == (
        infection.pinned.bucket,
        infection.pinned.key,
        infection.signature,
    )
    return same, True


def _ensure_record(store: ObjectStore, infection: Infection, bucket: str, key: str, version: str) -> None:
    """The provenance record of this copy version; an existing one (a reused copy) is kept as it is."""
    where = record_key(key, version)
    if store.get_json_bytes(bucket, where) is not None:
        return
    record = ProvenanceRecord(
        source_bucket=infection.pinned.bucket,
        source_key=infection.pinned.key,
        source_version_id=infection.pinned.version_id if infection.pinned.versioned else None,
        source_etag=infection.pinned.etag,
        sha256=str(infection.sha256),
        size=infection.size,
        content_encoding=infection.content_encoding,
        signature=infection.signature,
        engine=infection.engine,
        quarantined_at=infection.scanned_at,
        user_tags=dict(infection.user_tags),
        source_encryption=infection.encryption,
        source_kms_key_id=infection.kms_key_id,
        quarantine_bucket=bucket,
        quarantine_key=key,
        quarantine_version_id=version,
    )
    store.put_json(bucket, where, record.to_json())
