"""`scanner quarantine list|show|release|purge`: review what was caught, release false positives, purge.

Works against AWS with the caller's credentials, or against the local pipeline with --endpoint-url.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from botocore.exceptions import BotoCoreError, ClientError

from scanner import constants as c
from scanner.actions import decode_source_key
from scanner.cli import defaults
from scanner.cli.aws import Aws, add_connection_arguments, explain, is_not_found, require_bucket
from scanner.cli.errors import EXIT_OK, CliError
from scanner.cli.output import confirm, human_size, print_json, table
from scanner.tags import clean_value, from_tag_set, merge_tags, tag_set, utc_now_iso
from scanner.verdict import ScanStatus

_DELETE_BATCH = 1000
_HEAD_CONCURRENCY = 8


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "quarantine",
        help="review quarantined objects: list, show, release a false positive, purge",
        description="Review the quarantine bucket. Destructive commands ask for confirmation unless --yes.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--bucket",
        metavar="NAME",
        help=(
            f"quarantine bucket (default ${defaults.ENV_QUARANTINE_BUCKET}; with --endpoint-url the local pipeline's, "
            "e.g. local-quarantine)"
        ),
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    add_connection_arguments(common)

    listing = actions.add_parser(
        "list", parents=[common], help="table of quarantined objects", description="List quarantined objects."
    )
    listing.add_argument("--since", metavar="WHEN", help="only objects quarantined since: 7d, 24h, 30m, or ISO 8601")
    listing.add_argument("--source-bucket", metavar="NAME", help="only objects from this bucket")
    listing.set_defaults(run=run_list)

    show = actions.add_parser(
        "show", parents=[common], help="provenance and tags of one object", description="Show one quarantined object."
    )
    show.add_argument("key", metavar="KEY", help="quarantine key (<source-bucket>/<source-key>) or s3:// URL")
    show.add_argument("--version-id", help="a specific version of the quarantine copy (default: the current one)")
    show.set_defaults(run=run_show)

    release = actions.add_parser(
        "release",
        parents=[common],
        help="copy a false positive back to its source, tagged RELEASED",
        description=(
            "Copy the quarantined object back to its source bucket and key, tagged scan-status=RELEASED with who "
            "released it and why (the scanner does not rescan RELEASED objects). The quarantine copy stays, tagged "
            "RELEASED, for audit."
        ),
    )
    release.add_argument("key", metavar="KEY", help="quarantine key (<source-bucket>/<source-key>) or s3:// URL")
    release.add_argument("--reason", required=True, metavar="TEXT", help="why this is a false positive (recorded)")
    release.add_argument("--version-id", help="a specific version of the quarantine copy (default: the current one)")
    release.add_argument(
        "--overwrite", action="store_true", help="replace an object that now exists at the source location"
    )
    release.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation (--overwrite)")
    release.set_defaults(run=run_release)

    purge = actions.add_parser(
        "purge",
        parents=[common],
        help="permanently delete quarantined objects (all versions)",
        description="Permanently delete every version of a quarantined object, or of all objects older than DAYS.",
    )
    which = purge.add_mutually_exclusive_group(required=True)
    which.add_argument("key", metavar="KEY", nargs="?", help="quarantine key (<source-bucket>/<source-key>)")
    which.add_argument("--older-than", type=float, metavar="DAYS", help="every object quarantined before DAYS ago")
    purge.add_argument("--source-bucket", metavar="NAME", help="with --older-than: only objects from this bucket")
    purge.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(run=run_purge)


@dataclass(frozen=True)
class Entry:
    """One quarantined object version: what S3 says about it, provenance decoded."""

    bucket: str
    key: str
    version_id: str | None
    size: int
    last_modified: datetime
    content_type: str | None
    metadata: dict[str, str]
    tags: dict[str, str]

    @property
    def source_bucket(self) -> str | None:
        return self.metadata.get(c.META_SOURCE_BUCKET)

    @property
    def source_key(self) -> str | None:
        return decode_source_key(self.metadata)

    @property
    def signature(self) -> str | None:
        return self.metadata.get(c.META_SIGNATURE) or self.tags.get(c.TAG_DETAIL)

    @property
    def quarantined_at(self) -> str:
        return self.metadata.get(c.META_QUARANTINED_AT) or self.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def status(self) -> str | None:
        return self.tags.get(c.TAG_STATUS)

    def document(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "versionId": self.version_id,
            "size": self.size,
            "lastModified": self.last_modified.isoformat(),
            "contentType": self.content_type,
            "quarantinedAt": self.quarantined_at,
            "sourceBucket": self.source_bucket,
            "sourceKey": self.source_key,
            "sourceVersionId": self.metadata.get(c.META_SOURCE_VERSION),
            "signature": self.signature,
            "engine": self.metadata.get(c.META_ENGINE),
            "status": self.status,
            "releasedBy": self.tags.get(c.TAG_RELEASED_BY),
            "releaseReason": self.tags.get(c.TAG_RELEASE_REASON),
            "metadata": self.metadata,
            "tags": self.tags,
        }


def quarantine_bucket(args: argparse.Namespace, aws: Aws) -> str:
    """--bucket, else $QUARANTINE_BUCKET, else (local endpoint only) the local pipeline's quarantine bucket."""
    name = args.bucket or defaults.quarantine_bucket_from_environment()
    if name:
        return name
    if aws.is_local:
        return defaults.local_buckets().quarantine
    raise CliError(
        f"which quarantine bucket? pass --bucket NAME or set {defaults.ENV_QUARANTINE_BUCKET} "
        "(the stack output: pulumi stack output quarantineBucket)"
    )


def normalize_key(key: str, bucket: str) -> str:
    """Accept the quarantine key as listed, or as s3://<quarantine-bucket>/<key>."""
    prefix = f"s3://{bucket}/"
    if key.startswith(prefix):
        return key[len(prefix) :]
    if key.startswith("s3://"):
        raise CliError(f"{key} is not in the quarantine bucket {bucket}")
    return key


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`7d`, `24h`, `30m`, `2w` before now, or an ISO 8601 date/time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    relative = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if relative:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[relative.group(2)]
        return now - timedelta(**{unit: float(relative.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(f"--since {text!r}: expected e.g. 7d, 24h, 30m or 2026-11-01T00:00:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def load_entry(s3: Any, bucket: str, key: str, version_id: str | None = None) -> Entry:
    args = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    head = s3.head_object(**args)
    tags = from_tag_set(s3.get_object_tagging(**args)["TagSet"])
    return Entry(
        bucket=bucket,
        key=key,
        version_id=head.get("VersionId"),
        size=int(head["ContentLength"]),
        last_modified=head["LastModified"],
        content_type=head.get("ContentType"),
        metadata=dict(head.get("Metadata", {})),
        tags=tags,
    )


def _entry_or_error(s3: Any, bucket: str, key: str, version_id: str | None, action: str) -> Entry:
    try:
        return load_entry(s3, bucket, key, version_id)
    except ClientError as err:
        if is_not_found(err):
            require_bucket(s3, bucket, action=action)
            version = f" (version {version_id})" if version_id else ""
            raise CliError(f"{action}: no quarantined object {key!r}{version} in {bucket}") from err
        raise explain(err, action=action, bucket=bucket, key=key) from err
    except BotoCoreError as err:
        raise explain(err, action=action, bucket=bucket, key=key) from err


def list_entries(s3: Any, bucket: str, *, since: datetime | None, source_bucket: str | None) -> list[Entry]:
    """Current quarantined objects, oldest first; heads and tags fetched concurrently."""
    prefix = f"{source_bucket}/" if source_bucket else ""
    keys = [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
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
        entries = [e for e in pool.map(load, keys) if e is not None]
    return sorted(entries, key=lambda e: (e.quarantined_at, e.key))


def run_list(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    bucket = quarantine_bucket(args, aws)
    s3 = aws.client("s3")
    since = parse_since(args.since) if args.since else None
    require_bucket(s3, bucket, action="list")
    try:
        entries = list_entries(s3, bucket, since=since, source_bucket=args.source_bucket)
    except (ClientError, BotoCoreError) as err:
        raise explain(err, action="list", bucket=bucket) from err
    if args.json:
        print_json([e.document() for e in entries])
        return EXIT_OK
    if not entries:
        print(f"no quarantined objects in {bucket}" + (" matching the filters" if since or args.source_bucket else ""))
        return EXIT_OK
    rows = [
        [
            e.quarantined_at,
            f"{e.source_bucket}/{e.source_key}" if e.source_bucket else "?",
            e.signature,
            human_size(e.size),
            e.status,
            e.key,
        ]
        for e in entries
    ]
    print(table(["QUARANTINED", "SOURCE", "SIGNATURE", "SIZE", "STATUS", "QUARANTINE KEY"], rows))
    print(f"{len(entries)} object(s) in s3://{bucket}")
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    bucket = quarantine_bucket(args, aws)
    s3 = aws.client("s3")
    key = normalize_key(args.key, bucket)
    entry = _entry_or_error(s3, bucket, key, args.version_id, "show")
    versions = sum(1 for _ in _versions(s3, bucket, key))
    if args.json:
        print_json({**entry.document(), "versions": versions})
        return EXIT_OK
    fields = [
        ("quarantine", f"s3://{bucket}/{key}"),
        ("version", entry.version_id),
        ("versions", versions),
        ("size", f"{entry.size} bytes ({human_size(entry.size)})"),
        ("content type", entry.content_type),
        ("quarantined at", entry.quarantined_at),
        ("source", f"s3://{entry.source_bucket}/{entry.source_key}" if entry.source_bucket else None),
        ("source version", entry.metadata.get(c.META_SOURCE_VERSION)),
        ("signature", entry.signature),
        ("engine", entry.metadata.get(c.META_ENGINE)),
    ]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        print(f"{name:<{width}}  {value if value not in (None, '') else '-'}")
    print("metadata:")
    for name, value in sorted(entry.metadata.items()):
        print(f"  {name} = {value}")
    print("tags:")
    for name, value in entry.tags.items():
        print(f"  {name} = {value}")
    return EXIT_OK


@dataclass(frozen=True)
class Release:
    """The audit record of one release."""

    at: str
    by: str
    reason: str
    quarantine: Entry
    restored_bucket: str
    restored_key: str
    restored_version_id: str | None

    def document(self) -> dict[str, Any]:
        return {
            "action": "release",
            "at": self.at,
            "by": self.by,
            "reason": self.reason,
            "signature": self.quarantine.signature,
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


def release_tags(entry: Entry, by: str, reason: str, when: str) -> dict[str, str]:
    """Tags of the restored object: RELEASED (never rescanned), what was found, who released it and why."""
    tags = {c.TAG_STATUS: ScanStatus.RELEASED.value}
    if entry.signature:
        tags[c.TAG_DETAIL] = clean_value(entry.signature)
    tags[c.TAG_TIME] = when
    tags[c.TAG_RELEASED_BY] = clean_value(by)
    tags[c.TAG_RELEASE_REASON] = clean_value(reason)
    return tags


def quarantine_copy_tags(entry: Entry, released: dict[str, str]) -> dict[str, str]:
    """The quarantine copy keeps its scan tags (what was found, when, by which engine) and is marked RELEASED."""
    kept = {k: entry.tags[k] for k in c.SCAN_TAG_KEYS if k in entry.tags}
    release_only = {k: released[k] for k in (c.TAG_RELEASED_BY, c.TAG_RELEASE_REASON)}
    return merge_tags(entry.tags, {**kept, c.TAG_STATUS: ScanStatus.RELEASED.value, **release_only}).tags


def release(
    aws: Aws, bucket: str, key: str, *, reason: str, version_id: str | None, overwrite: bool, assume_yes: bool
) -> Release:
    s3 = aws.client("s3")
    entry = _entry_or_error(s3, bucket, key, version_id, "release")
    source_bucket, source_key = entry.source_bucket, entry.source_key
    if not source_bucket or not source_key:
        raise CliError(f"release: s3://{bucket}/{key} has no provenance metadata ({c.META_SOURCE_BUCKET}, ...)")
    if source_bucket == bucket:
        raise CliError(f"release: the source bucket of s3://{bucket}/{key} is the quarantine bucket itself")
    source = f"s3://{source_bucket}/{source_key}"
    if _exists(s3, source_bucket, source_key, action="release"):
        if not overwrite:
            raise CliError(f"release: {source} exists (uploaded again since?): pass --overwrite to replace it")
        confirm(f"overwrite {source} with the quarantined copy", assume_yes=assume_yes)
    by, when = aws.caller(), utc_now_iso()
    tags = release_tags(entry, by, reason, when)
    copy_source = {"Bucket": bucket, "Key": key, **({"VersionId": entry.version_id} if entry.version_id else {})}
    try:
        # The RELEASED tags arrive with the copy itself: the upload bucket's notification fires for it, and the
        # scanner must never see the restored object untagged (it would quarantine it again).
        reply = s3.copy_object(
            Bucket=source_bucket,
            Key=source_key,
            CopySource=copy_source,
            MetadataDirective="REPLACE",
            Metadata={},
            **({"ContentType": entry.content_type} if entry.content_type else {}),
            TaggingDirective="REPLACE",
            Tagging=urlencode(tags, quote_via=quote),
        )
    except (ClientError, BotoCoreError) as err:
        raise explain(err, action="release (copy back)", bucket=source_bucket, key=source_key) from err
    try:
        s3.put_object_tagging(
            Bucket=bucket,
            Key=key,
            **({"VersionId": entry.version_id} if entry.version_id else {}),
            Tagging={"TagSet": tag_set(quarantine_copy_tags(entry, tags))},
        )
    except (ClientError, BotoCoreError) as err:
        raise explain(
            err,
            action=f"release: {source} was restored, but marking the quarantine copy failed",
            bucket=bucket,
            key=key,
        ) from err
    return Release(when, by, reason, entry, source_bucket, source_key, reply.get("VersionId"))


def run_release(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    bucket = quarantine_bucket(args, aws)
    if not args.reason.strip():
        raise CliError("release: --reason must say why the object is released")
    key = normalize_key(args.key, bucket)
    record = release(
        aws,
        bucket,
        key,
        reason=args.reason.strip(),
        version_id=args.version_id,
        overwrite=args.overwrite,
        assume_yes=args.yes,
    )
    if args.json:
        print_json(record.document())
    else:
        print(f"released s3://{bucket}/{key} -> s3://{record.restored_bucket}/{record.restored_key}")
        print(f"  {c.TAG_STATUS}=RELEASED by {record.by}: {record.reason}")
        print("  the quarantine copy stays, tagged RELEASED, for audit")
    return EXIT_OK


def _exists(s3: Any, bucket: str, key: str, *, action: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if is_not_found(err):
            require_bucket(s3, bucket, action=action)
            return False
        raise explain(err, action=action, bucket=bucket, key=key) from err
    return True


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str
    last_modified: datetime


def _versions(s3: Any, bucket: str, prefix: str, *, exact: bool = True) -> Iterator[Version]:
    """Every version and delete marker under `prefix` (only of the key `prefix` itself when exact)."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            if exact and item["Key"] != prefix:
                continue
            yield Version(item["Key"], item["VersionId"], item["LastModified"])


def run_purge(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    bucket = quarantine_bucket(args, aws)
    s3 = aws.client("s3")
    require_bucket(s3, bucket, action="purge")
    try:
        if args.key is not None:
            if args.source_bucket:
                raise CliError("purge: --source-bucket goes with --older-than, not with a KEY")
            key = normalize_key(args.key, bucket)
            versions = list(_versions(s3, bucket, key))
            if not versions:
                raise CliError(f"purge: no quarantined object {key!r} in {bucket}")
            what = f"permanently delete s3://{bucket}/{key} ({len(versions)} version(s))"
        else:
            if args.older_than < 0:
                raise CliError("purge: --older-than must be zero or more days")
            versions = _older_than(s3, bucket, args.older_than, args.source_bucket)
            if not versions:
                _report_purge(args, bucket, [])
                return EXIT_OK
            keys = len({v.key for v in versions})
            what = (
                f"permanently delete {keys} quarantined object(s) ({len(versions)} version(s)) older than "
                f"{args.older_than:g} day(s) from s3://{bucket}"
            )
        confirm(what, assume_yes=args.yes)
        _delete_versions(s3, bucket, versions)
    except (ClientError, BotoCoreError) as err:
        raise explain(err, action="purge", bucket=bucket) from err
    _report_purge(args, bucket, versions)
    return EXIT_OK


def _older_than(s3: Any, bucket: str, days: float, source_bucket: str | None) -> list[Version]:
    """All versions of every key whose newest version is older than `days`."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    by_key: dict[str, list[Version]] = {}
    for version in _versions(s3, bucket, f"{source_bucket}/" if source_bucket else "", exact=False):
        by_key.setdefault(version.key, []).append(version)
    return [v for versions in by_key.values() if max(x.last_modified for x in versions) < cutoff for v in versions]


def _delete_versions(s3: Any, bucket: str, versions: list[Version]) -> None:
    errors: list[str] = []
    for start in range(0, len(versions), _DELETE_BATCH):
        batch = versions[start : start + _DELETE_BATCH]
        reply = s3.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": v.key, "VersionId": v.version_id} for v in batch], "Quiet": True},
        )
        errors += [
            f"{e.get('Key')} ({e.get('VersionId')}): {e.get('Code')} {e.get('Message', '')}"
            for e in reply.get("Errors", [])
        ]
    if errors:
        raise CliError(f"purge: {len(errors)} version(s) could not be deleted: " + "; ".join(errors[:10]))


def _report_purge(args: argparse.Namespace, bucket: str, versions: list[Version]) -> None:
    counts: dict[str, int] = {}
    for version in versions:
        counts[version.key] = counts.get(version.key, 0) + 1
    if args.json:
        print_json(
            {
                "action": "purge",
                "bucket": bucket,
                "purged": [{"key": k, "versions": n} for k, n in counts.items()],
                "versions": len(versions),
            }
        )
        return
    if not counts:
        print("nothing to purge", file=sys.stdout)
    for key, count in counts.items():
        print(f"purged s3://{bucket}/{key} ({count} version(s))")
