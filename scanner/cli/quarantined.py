"""Quarantined objects as the review commands see them: the copy (S3's SHA-256, tags) and its provenance record."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from scanner import constants as c
from scanner.cli.aws import explain, is_not_found, require_bucket
from scanner.cli.errors import CliError
from scanner.provenance import ProvenanceRecord, is_reserved_key, record_key
from scanner.storage import checksum_to_hex
from scanner.tags import from_tag_set

_HEAD_CONCURRENCY = 8


@dataclass(frozen=True)
class Entry:
    """One quarantined copy version, with what S3 says about it and its provenance record (None if missing)."""

    bucket: str
    key: str
    version_id: str | None
    size: int
    last_modified: datetime
    content_type: str | None
    sha256: str | None
    """S3's own SHA-256 of the copy."""
    tags: dict[str, str]
    record: ProvenanceRecord | None

    @property
    def source_bucket(self) -> str | None:
        return self.record.source_bucket if self.record else None

    @property
    def source_key(self) -> str | None:
        return self.record.source_key if self.record else None

    @property
    def signature(self) -> str | None:
        return (self.record.signature if self.record else None) or self.tags.get(c.TAG_DETAIL)

    @property
    def quarantined_at(self) -> str:
        if self.record:
            return self.record.quarantined_at
        return self.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def status(self) -> str | None:
        return self.tags.get(c.TAG_STATUS)

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}" + (f"?versionId={self.version_id}" if self.version_id else "")

    def document(self) -> dict[str, Any]:
        record = self.record
        return {
            "bucket": self.bucket,
            "key": self.key,
            "versionId": self.version_id,
            "size": self.size,
            "lastModified": self.last_modified.isoformat(),
            "contentType": self.content_type,
            "sha256": self.sha256,
            "quarantinedAt": self.quarantined_at,
            "sourceBucket": self.source_bucket,
            "sourceKey": self.source_key,
            "sourceVersionId": record.source_version_id if record else None,
            "signature": self.signature,
            "engine": record.engine if record else None,
            "status": self.status,
            "releasedBy": self.tags.get(c.TAG_RELEASED_BY),
            "releaseReason": self.tags.get(c.TAG_RELEASE_REASON),
            "userTags": record.user_tags if record else None,
            "tags": self.tags,
            "recordFound": record is not None,
        }


def load_record(s3: Any, bucket: str, key: str, version_id: str | None) -> ProvenanceRecord | None:
    if not version_id:
        return None
    try:
        body = s3.get_object(Bucket=bucket, Key=record_key(key, version_id))["Body"].read()
    except ClientError as err:
        if is_not_found(err):
            return None
        raise
    try:
        return ProvenanceRecord.from_json(body)
    except (ValueError, TypeError):
        return None


def load_entry(s3: Any, bucket: str, key: str, version_id: str | None = None) -> Entry:
    args = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    head = s3.head_object(**args, ChecksumMode="ENABLED")
    version = head.get("VersionId") or version_id
    tags = from_tag_set(s3.get_object_tagging(**{**args, **({"VersionId": version} if version else {})})["TagSet"])
    return Entry(
        bucket=bucket,
        key=key,
        version_id=version,
        size=int(head["ContentLength"]),
        last_modified=head["LastModified"],
        content_type=head.get("ContentType"),
        sha256=checksum_to_hex(head.get("ChecksumSHA256")),
        tags=tags,
        record=load_record(s3, bucket, key, version),
    )


def entry_or_error(s3: Any, bucket: str, key: str, version_id: str | None, action: str) -> Entry:
    try:
        return load_entry(s3, bucket, key, version_id)
    except ClientError as err:
        if is_not_found(err):
            require_bucket(s3, bucket, action=action)
            version = f" (version {version_id})" if version_id else ""
            raise CliError(f"{action}: no quarantined object {key!r}{version} in {bucket}") from err
        raise explain(err, action=action, bucket=bucket, key=key) from err


def source_prefixes(source_bucket: str | None) -> list[str]:
    """Where copies from one source bucket live: `<bucket>/`, and `_long/<bucket>/` for cut long keys."""
    if not source_bucket:
        return [""]
    return [f"{source_bucket}/", f"{c.QUARANTINE_LONG_KEYS_PREFIX}{source_bucket}/"]


def copy_keys(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Listed quarantine copies (current versions) under `prefix`; provenance records are skipped."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if not is_reserved_key(obj["Key"]):
                yield obj


def list_entries(s3: Any, bucket: str, *, since: datetime | None, source_bucket: str | None) -> list[Entry]:
    """Current quarantined copies, oldest first; heads, tags and records fetched concurrently."""
    keys = [
        obj["Key"]
        for prefix in source_prefixes(source_bucket)
        for obj in copy_keys(s3, bucket, prefix)
        if since is None or obj["LastModified"] >= since
    ]

    def load(key: str) -> Entry | None:
        try:
            return load_entry(s3, bucket, key)
        except ClientError as err:
            if is_not_found(err):  # purged since the listing
                return None
            raise

    with ThreadPoolExecutor(_HEAD_CONCURRENCY) as pool:
        entries = [e for e in pool.map(load, dict.fromkeys(keys)) if e is not None]
    if source_bucket:
        entries = [e for e in entries if e.source_bucket in (None, source_bucket)]
    return sorted(entries, key=lambda e: (e.quarantined_at, e.key))
