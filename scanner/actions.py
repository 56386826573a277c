"""What happens to an INFECTED object version: tag only, quarantine, or delete."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from scanner import constants as c
from scanner.config import InfectedAction
from scanner.events import ObjectRef
from scanner.exceptions import QuarantineError
from scanner.observability import logger
from scanner.storage import ObjectInfo, ObjectStore, is_missing
from scanner.tags import clean_value, scan_tags, tag_set
from scanner.verdict import Verdict


@dataclass(frozen=True)
class ActionResult:
    """What the action did; `quarantine_location` is `s3://bucket/key` when a verified copy exists."""

    action: InfectedAction
    quarantine_location: str | None = None
    source_deleted: bool = False


def quarantine_key(ref: ObjectRef) -> str:
    """Where an infected object lands in the quarantine bucket."""
    return f"{ref.bucket}/{ref.key}"


def provenance(ref: ObjectRef, verdict: Verdict, engine: str, when: str) -> dict[str, str]:
    """x-amz-meta-* for the quarantine copy; values kept ASCII (S3 metadata is sent as HTTP headers)."""
    return {
        c.META_SOURCE_BUCKET: ref.bucket,
        c.META_SOURCE_KEY: quote(ref.key, safe="/"),
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
    target = ObjectRef(quarantine_bucket, key)
    existing = _head_or_none(store, target)
    if existing and _is_copy_of(existing, ref, source):
        logger.info("quarantine copy already present", extra={"quarantine": location})
        return location
    try:
        version = store.copy(ref, source, quarantine_bucket, key, provenance(ref, verdict, engine, when))
        copied = ObjectRef(quarantine_bucket, key, version)
        store.client.put_object_tagging(
            Bucket=quarantine_bucket,
            Key=key,
            **({"VersionId": version} if version else {}),
            Tagging={"TagSet": tag_set(scan_tags(verdict, engine, when))},
        )
        info = store.head(copied)
    except Exception as err:
        raise QuarantineError(f"quarantine copy of {ref} to {location} failed: {err}") from err
    if not _is_copy_of(info, ref, source):
        raise QuarantineError(
            f"quarantine copy of {ref} does not match its source (size {info.size}/{source.size}, "
            f"etag {info.etag}/{source.etag})"
        )
    return location


def _is_copy_of(copy: ObjectInfo, ref: ObjectRef, source: ObjectInfo) -> bool:
    """Same size, same source version, and the same MD5 ETag when both ETags are comparable."""
    if copy.size != source.size:
        return False
    if copy.metadata.get(c.META_SOURCE_VERSION) != (ref.version_id or "null"):
        return False
    if copy.metadata.get(c.META_SOURCE_BUCKET) != ref.bucket:
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
