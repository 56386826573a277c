"""What happens to an INFECTED object version: tag only, quarantine, or delete."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from scanner import constants as c
from scanner.config import InfectedAction
from scanner.events import ObjectRef
from scanner.exceptions import QuarantineError
from scanner.observability import logger
from scanner.storage import ObjectInfo, ObjectStore, is_missing
from scanner.tags import clean_value, scan_tags
from scanner.verdict import Verdict


@dataclass(frozen=True)
class ActionResult:
    """What the action did; `quarantine_location` is `s3://bucket/key` when a verified copy exists."""

    action: InfectedAction
    quarantine_location: str | None = None
    source_deleted: bool = False


_S3_MAX_KEY_BYTES = 1024
_LONG_KEY_DIGEST_CHARS = 32
# S3 allows 2 KB of user metadata in all; a URL-quoted key may take 3 bytes per byte of a 1,024-byte key.
_MAX_QUOTED_KEY = 1024


def quarantine_key(ref: ObjectRef) -> str:
    """Where an infected object lands in the quarantine bucket: `<source-bucket>/<source-key>`.

    When that exceeds S3's 1,024-byte key limit, the key is cut at a character boundary and a digest of the
    full key is appended; the full key is always in the copy's provenance.
    """
    key = f"{ref.bucket}/{ref.key}"
    if len(key.encode()) <= _S3_MAX_KEY_BYTES:
        return key
    digest = hashlib.sha256(ref.key.encode()).hexdigest()[:_LONG_KEY_DIGEST_CHARS]
    room = _S3_MAX_KEY_BYTES - len(ref.bucket.encode()) - 2 - len(digest)
    head = ref.key.encode()[:room].decode(errors="ignore")
    return f"{ref.bucket}/{head}~{digest}"


def encode_source_key(key: str) -> dict[str, str]:
    """The source key as ASCII metadata: URL-quoted, or base64url when quoting would not fit S3's 2 KB."""
    quoted = quote(key, safe="/")
    if len(quoted) <= _MAX_QUOTED_KEY:
        return {c.META_SOURCE_KEY: quoted}
    return {c.META_SOURCE_KEY_B64: base64.urlsafe_b64encode(key.encode()).decode()}


def decode_source_key(metadata: Mapping[str, str]) -> str | None:
    """The source key recorded by encode_source_key, or None when the metadata holds neither form."""
    if c.META_SOURCE_KEY_B64 in metadata:
        return base64.urlsafe_b64decode(metadata[c.META_SOURCE_KEY_B64]).decode()
    quoted = metadata.get(c.META_SOURCE_KEY)
    return unquote(quoted) if quoted is not None else None


def provenance(ref: ObjectRef, verdict: Verdict, engine: str, when: str) -> dict[str, str]:
    """x-amz-meta-* for the quarantine copy; values kept ASCII (S3 metadata is sent as HTTP headers)."""
    return {
        c.META_SOURCE_BUCKET: ref.bucket,
        **encode_source_key(ref.key),
        c.META_SOURCE_VERSION: ref.version_id or "null",
        c.META_SIGNATURE: _ascii(verdict.detail or ""),
        c.META_QUARANTINED_AT: when,
        c.META_ENGINE: _ascii(engine),
    }


def apply_infected_action(
    action: InfectedAction,
    store: ObjectStore,
    ref: ObjectRef,
    source: ObjectInfo,
    verdict: Verdict,
    *,
    quarantine_bucket: str | None,
    engine: str,
    when: str,
) -> ActionResult:
    """Run the configured action. Quarantine deletes the source only after the copy is verified."""
    if action is InfectedAction.TAG:
        return ActionResult(action)
    if action is InfectedAction.DELETE:
        store.delete(ref)
        return ActionResult(action, source_deleted=True)
    if not quarantine_bucket:
        raise QuarantineError("no quarantine bucket configured")
    location = quarantine(store, ref, source, verdict, quarantine_bucket=quarantine_bucket, engine=engine, when=when)
    store.delete(ref)
    return ActionResult(action, quarantine_location=location, source_deleted=True)


def quarantine(
    store: ObjectStore,
    ref: ObjectRef,
    source: ObjectInfo,
    verdict: Verdict,
    *,
    quarantine_bucket: str,
    engine: str,
    when: str,
) -> str:
    """Copy `ref` into quarantine with provenance and tags, verify the copy, return its location.

    Idempotent: an existing verified copy of the same source version is reused.
    """
    key = quarantine_key(ref)
    location = f"s3://{quarantine_bucket}/{key}"
    existing = _head_or_none(store, ObjectRef(quarantine_bucket, key))
    try:
        if existing and is_copy_of(existing, ref.bucket, source, source_version=ref.version_id or "null"):
            logger.info("quarantine copy already present", extra={"quarantine": location})
            version = existing.version_id
        else:
            version = store.copy(ref, source, quarantine_bucket, key, provenance(ref, verdict, engine, when))
        copied = ObjectRef(quarantine_bucket, key, version)
        # Tagged on every attempt: an earlier attempt may have copied the object and failed right after.
        store.put_tags(copied, scan_tags(verdict, engine, when))
        info = store.head(copied)
    except Exception as err:
        raise QuarantineError(f"quarantine copy of {ref} to {location} failed: {err}") from err
    if not is_copy_of(info, ref.bucket, source, source_version=ref.version_id or "null"):
        raise QuarantineError(
            f"quarantine copy of {ref} does not match its source (size {info.size}/{source.size}, "
            f"etag {info.etag}/{source.etag})"
        )
    return location


def is_copy_of(copy: ObjectInfo, source_bucket: str, source: ObjectInfo, *, source_version: str | None) -> bool:
    """Same size, same source bucket (and version, when given), and the same MD5 ETag where comparable."""
    if copy.size != source.size or copy.metadata.get(c.META_SOURCE_BUCKET) != source_bucket:
        return False
    if source_version is not None and copy.metadata.get(c.META_SOURCE_VERSION) != source_version:
        return False
    if copy.etag_is_md5 and source.etag_is_md5:
        return copy.etag == source.etag
    return True


def _head_or_none(store: ObjectStore, ref: ObjectRef) -> ObjectInfo | None:
    try:
        return store.head(ref)
    except Exception as err:
        if is_missing(err):
            return None
        raise QuarantineError(f"cannot read quarantine bucket: {err}") from err


def _ascii(value: str) -> str:
    return clean_value(value).encode("ascii", "replace").decode("ascii")
