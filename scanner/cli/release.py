"""`scanner quarantine release`: put a false positive back, decided by its content, with an audit trail.

Order (the scanner must never see the restored object before its release exists):
1. the quarantine copy's SHA-256 (S3's own checksum) must equal the one recorded when it was scanned;
2. the allow-list entry is written (SHA-256, scope, signature, Content-Encoding, who, why);
3. the quarantine copy is tagged RELEASED;
4. only then is exactly that copy version put back at its source, with the uploader's metadata, content headers,
   tags and SSE-KMS key, tagged RELEASED. The upload notification fires; the scanner scans it, finds the same
   signature, finds the entry and tags it RELEASED again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from botocore.exceptions import BotoCoreError, ClientError

from scanner import constants as c
from scanner.allowlist import AllowList, Release, normalized_encoding, scope_of
from scanner.cli import defaults
from scanner.cli.aws import Aws, explain, is_not_found, require_bucket
from scanner.cli.errors import CliError
from scanner.cli.output import confirm
from scanner.cli.quarantined import Entry, entry_or_error
from scanner.exceptions import AllowListError
from scanner.provenance import ProvenanceRecord
from scanner.securityhub import WorkflowResult, finding_id, workflow_update
from scanner.storage import is_precondition_failed
from scanner.tags import merge_tags, scan_tags, tag_set, utc_now_iso
from scanner.verdict import ScanStatus, Verdict


@dataclass(frozen=True)
class ReleaseRecord:
    """The audit record of one release (printed, and kept in the allow-list entry)."""

    release: Release
    quarantine: Entry
    restored_bucket: str
    restored_key: str
    restored_version_id: str | None

    def document(self) -> dict[str, Any]:
        return {
            "action": "release",
            "at": self.release.released_at,
            "by": self.release.released_by,
            "reason": self.release.reason,
            "scope": self.release.scope,
            "sha256": self.release.sha256,
            "signature": self.release.signature,
            "quarantine": {
                "bucket": self.quarantine.bucket,
                "key": self.quarantine.key,
                "versionId": self.quarantine.version_id,
            },
            "restored": {
                "bucket": self.restored_bucket,
                "key": self.restored_key,
                "versionId": self.restored_version_id,
            },
        }


def verified_entry(s3: Any, bucket: str, key: str, version_id: str | None) -> Entry:
    """The copy to release, refused unless S3's SHA-256 of it is the one recorded when it was scanned."""
    entry = entry_or_error(s3, bucket, key, version_id, "release")
    record = entry.record
    if record is None:
        raise CliError(f"release: {entry.location} has no provenance record: cannot tell where it came from")
    if record.source_bucket == bucket:
        raise CliError(f"release: the source bucket of {entry.location} is the quarantine bucket itself")
    if not entry.sha256 or entry.sha256 != record.sha256:
        raise CliError(
            f"release: {entry.location} does not hold the content that was scanned "
            f"(S3's SHA-256 {entry.sha256 or 'missing'}, recorded {record.sha256}): refusing"
        )
    return entry


def release(
    aws: Aws,
    bucket: str,
    key: str,
    *,
    allow_list_table: str,
    reason: str,
    version_id: str | None,
    everywhere: bool,
    overwrite: bool,
    assume_yes: bool,
) -> ReleaseRecord:
    s3 = aws.client("s3")
    entry = verified_entry(s3, bucket, key, version_id)
    record = entry.record
    assert record is not None
    source = f"s3://{record.source_bucket}/{record.source_key}"
    present = _current_etag(s3, record.source_bucket, record.source_key)
    if present is not None:
        if not overwrite:
            raise CliError(f"release: {source} exists (uploaded again since?): pass --overwrite to replace it")
        confirm(f"overwrite {source} with the quarantined copy", assume_yes=assume_yes)
    # The copy back is conditional: nothing at the source (If-None-Match), or exactly what was confirmed to be
    # overwritten (If-Match), so an upload that arrives during the release is never replaced unseen.
    condition = {"IfNoneMatch": "*"} if present is None else {"IfMatch": present}
    entry_release = Release(
        sha256=record.sha256,
        scope=c.ALLOW_LIST_GLOBAL_SCOPE if everywhere else scope_of(record.source_bucket, record.source_key),
        signature=record.signature,
        content_encoding=normalized_encoding(record.content_encoding),
        released_by=aws.caller(),
        reason=reason,
        released_at=utc_now_iso(),
        quarantine=entry.location,
    )
    try:
        AllowList(aws.client("dynamodb"), allow_list_table).add(entry_release)
    except AllowListError as err:
        raise CliError(f"release: recording the release failed, nothing was restored: {err}") from err
    released_tags = scan_tags(
        Verdict(ScanStatus.RELEASED, record.signature),
        record.engine,
        entry_release.released_at,
        released_by=entry_release.released_by,
        release_reason=reason,
    )
    copy_args = {"Bucket": bucket, "Key": key, **({"VersionId": entry.version_id} if entry.version_id else {})}
    try:
        s3.put_object_tagging(**copy_args, Tagging={"TagSet": tag_set(released_tags)})
    except (ClientError, BotoCoreError) as err:
        raise explain(err, action="release: marking the quarantine copy", bucket=bucket, key=key) from err
    restored = merge_tags(record.user_tags, released_tags).tags
    encryption: dict[str, str] = {}
    if record.source_kms_key_id:
        encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": record.source_kms_key_id}
    try:
        reply = s3.copy_object(
            Bucket=record.source_bucket,
            Key=record.source_key,
            CopySource=copy_args,
            MetadataDirective="COPY",
            TaggingDirective="REPLACE",
            Tagging=urlencode(restored, quote_via=quote),
            **encryption,
            **condition,
        )
    except ClientError as err:
        if is_precondition_failed(err):
            raise CliError(
                f"release: {source} changed during the release (a new upload?): nothing was overwritten; the "
                "release is recorded, run it again (with --overwrite to replace what is there now)"
            ) from err
        raise explain(err, action="release (copy back)", bucket=record.source_bucket, key=record.source_key) from err
    except BotoCoreError as err:
        raise explain(err, action="release (copy back)", bucket=record.source_bucket, key=record.source_key) from err
    return ReleaseRecord(entry_release, entry, record.source_bucket, record.source_key, reply.get("VersionId"))


def _current_etag(s3: Any, bucket: str, key: str) -> str | None:
    """The ETag of what is at the source location now, or None when nothing is."""
    try:
        return str(s3.head_object(Bucket=bucket, Key=key)["ETag"])
    except ClientError as err:
        if is_not_found(err):
            require_bucket(s3, bucket, action="release")
            return None
        raise explain(err, action="release", bucket=bucket, key=key) from err


def security_hub_product_arn(explicit: str | None, aws: Aws) -> str | None:
    """--security-hub-product-arn, else $SECURITY_HUB_PRODUCT_ARN (what the function reads), else the local
    pipeline's; None: the deployment imports no findings, so there is none to update."""
    arn = explicit or os.environ.get(c.ENV_SECURITY_HUB_PRODUCT_ARN) or None
    if arn is None and aws.is_local:
        return defaults.SECURITY_HUB_PRODUCT_ARN
    return arn


def record_finding_id(record: ProvenanceRecord) -> str:
    """The finding the scanner imported for the quarantined content: its source version, or ETag when unversioned."""
    return finding_id(record.source_bucket, record.source_key, record.source_version_id, record.source_etag)


def suppress_released(aws: Aws, product_arn: str, done: ReleaseRecord) -> WorkflowResult:
    """A released false positive: its finding SUPPRESSED (reviewed, no action needed), FALSE_POSITIVE, with a note."""
    record = done.quarantine.record
    assert record is not None
    return workflow_update(
        aws.client("securityhub"),
        product_arn,
        [record_finding_id(record)],
        status="SUPPRESSED",
        note=f"released by scanner quarantine release: {done.release.reason}",
        updated_by=done.release.released_by,
        verification_state="FALSE_POSITIVE",
    )


def resolve_purged(aws: Aws, product_arn: str, records: Iterable[ProvenanceRecord]) -> WorkflowResult:
    """Purged quarantined content: its findings RESOLVED (the infected bytes no longer exist)."""
    return workflow_update(
        aws.client("securityhub"),
        product_arn,
        [record_finding_id(r) for r in records],
        status="RESOLVED",
        note="quarantined copy permanently deleted by scanner quarantine purge",
        updated_by=aws.caller(),
    )
