"""`scanner quarantine list|show|release|purge`: review what was caught, release false positives, purge.

Works against AWS with the caller's credentials, or against the local pipeline with --endpoint-url.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scanner import constants as c
from scanner.cli import defaults
from scanner.cli.aws import Aws, add_connection_arguments, explain, require_bucket
from scanner.cli.errors import EXIT_OK, CliError
from scanner.cli.output import confirm, human_size, print_json, printable, table
from scanner.cli.quarantined import entry_or_error, list_entries, load_record, source_prefixes
from scanner.cli.release import release, resolve_purged, security_hub_product_arn, suppress_released
from scanner.provenance import ProvenanceRecord, record_key

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
            "Record the quarantined content's SHA-256 in the release allow-list (who, why, which signature), mark "
            "the quarantine copy RELEASED, then copy exactly that version back to its source with the uploader's "
            "metadata and tags, tagged scan-status=RELEASED. The scanner scans it again and, finding the allow-list "
            "entry for that content and signature, tags it RELEASED. The quarantine copy stays for audit."
        ),
    )
    release.add_argument("key", metavar="KEY", help="quarantine key (<source-bucket>/<source-key>) or s3:// URL")
    release.add_argument("--reason", required=True, metavar="TEXT", help="why this is a false positive (recorded)")
    release.add_argument("--version-id", help="a specific version of the quarantine copy (default: the current one)")
    release.add_argument(
        "--global",
        dest="everywhere",
        action="store_true",
        help="release this content wherever it is uploaded (default: only at its source bucket and key)",
    )
    release.add_argument(
        "--allow-list-table",
        metavar="NAME",
        help=f"the release allow-list table (default ${c.ENV_ALLOW_LIST_TABLE}; stack output allowListTable)",
    )
    release.add_argument(
        "--overwrite", action="store_true", help="replace an object that now exists at the source location"
    )
    release.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation (--overwrite)")
    _security_hub_argument(release)
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
    _security_hub_argument(purge)
    purge.set_defaults(run=run_purge)


def _security_hub_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--security-hub-product-arn",
        metavar="ARN",
        help=(
            f"update the object's Security Hub finding (default ${c.ENV_SECURITY_HUB_PRODUCT_ARN}; the local "
            "pipeline's with --endpoint-url; none: no finding is updated)"
        ),
    )


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
            f"{e.source_bucket}/{e.source_key}" if e.source_bucket else "? (no provenance record)",
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
    entry = entry_or_error(s3, bucket, key, args.version_id, "show")
    versions = sum(1 for v in _versions(s3, bucket, key) if not v.delete_marker)
    if args.json:
        print_json({**entry.document(), "versions": versions})
        return EXIT_OK
    record = entry.record
    fields = [
        ("quarantine", f"s3://{bucket}/{key}"),
        ("version", entry.version_id),
        ("versions", versions),
        ("size", f"{entry.size} bytes ({human_size(entry.size)})"),
        ("sha256", entry.sha256),
        ("content type", entry.content_type),
        ("quarantined at", entry.quarantined_at),
        ("source", f"s3://{entry.source_bucket}/{entry.source_key}" if entry.source_bucket else None),
        ("source version", record.source_version_id if record else None),
        ("signature", entry.signature),
        ("engine", record.engine if record else None),
        ("status", entry.status),
    ]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        print(f"{name:<{width}}  {printable(value) if value not in (None, '') else '-'}")
    if record is None:
        print("provenance record: missing")
    print("uploader's tags:")
    for name, value in (record.user_tags if record else {}).items():
        print(f"  {printable(name)} = {printable(value)}")
    print("tags:")
    for name, value in entry.tags.items():
        print(f"  {printable(name)} = {printable(value)}")
    return EXIT_OK


def run_release(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    bucket = quarantine_bucket(args, aws)
    if not args.reason.strip():
        raise CliError("release: --reason must say why the object is released")
    table_name = args.allow_list_table or defaults.allow_list_table_from_environment()
    if not table_name:
        if not aws.is_local:
            raise CliError(
                f"release: which allow-list table? pass --allow-list-table NAME or set {c.ENV_ALLOW_LIST_TABLE} "
                "(the stack output: pulumi stack output allowListTable)"
            )
        table_name = defaults.ALLOW_LIST_TABLE
    key = normalize_key(args.key, bucket)
    done = release(
        aws,
        bucket,
        key,
        allow_list_table=table_name,
        reason=args.reason.strip(),
        version_id=args.version_id,
        everywhere=args.everywhere,
        overwrite=args.overwrite,
        assume_yes=args.yes,
    )
    product_arn = security_hub_product_arn(args.security_hub_product_arn, aws)
    finding = suppress_released(aws, product_arn, done) if product_arn else None
    if args.json:
        print_json({**done.document(), "securityHub": finding.document() if finding else None})
    else:
        print(f"released s3://{bucket}/{printable(key)} -> s3://{done.restored_bucket}/{printable(done.restored_key)}")
        scope = "everywhere" if done.release.is_global else "at its source only"
        print(f"  sha256 {done.release.sha256} allow-listed {scope} for {printable(done.release.signature)}")
        print(f"  {c.TAG_STATUS}=RELEASED by {printable(done.release.released_by)}: {printable(done.release.reason)}")
        print("  the quarantine copy stays, tagged RELEASED, for audit")
        if finding:
            print(f"  Security Hub: {_finding_summary(finding.document(), 'SUPPRESSED')}")
    return EXIT_OK


def _finding_summary(document: dict[str, Any], workflow: str) -> str:
    """`finding SUPPRESSED` / `2 findings RESOLVED`, or why not (not enabled, not found, the error)."""
    if document["status"] == "updated":
        count = document["processed"]
        return f"{count} finding{'s' if count != 1 else ''} {workflow}"
    text = f"no finding {workflow} ({document['status']})"
    if document["error"]:
        text += f": {printable(document['error'])}"
    return text


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str
    last_modified: datetime
    delete_marker: bool = False


def _versions(s3: Any, bucket: str, prefix: str, *, exact: bool = True, records: bool = False) -> Iterator[Version]:
    """Every version and delete marker under `prefix` (only of the key `prefix` itself when exact); provenance
    records only when `records`."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        items = [(v, False) for v in page.get("Versions", [])] + [(m, True) for m in page.get("DeleteMarkers", [])]
        for item, marker in items:
            if exact and item["Key"] != prefix:
                continue
            if item["Key"].startswith(c.QUARANTINE_RECORDS_PREFIX) != records:
                continue
            yield Version(item["Key"], item["VersionId"], item["LastModified"], marker)


def _with_records(s3: Any, bucket: str, versions: list[Version]) -> list[Version]:
    """The copy versions and, for each, every version of its provenance record (purged together)."""
    records = [
        record
        for version in versions
        if not version.delete_marker
        for record in _versions(s3, bucket, record_key(version.key, version.version_id), exact=True, records=True)
    ]
    return versions + records


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
        product_arn = security_hub_product_arn(args.security_hub_product_arn, aws)
        records = _provenance(s3, bucket, versions) if product_arn else []
        versions = _with_records(s3, bucket, versions)
        _delete_versions(s3, bucket, versions)
    except (ClientError, BotoCoreError) as err:
        raise explain(err, action="purge", bucket=bucket) from err
    finding = resolve_purged(aws, product_arn, records) if product_arn else None
    _report_purge(args, bucket, versions, finding.document() if finding else None)
    return EXIT_OK


def _provenance(s3: Any, bucket: str, versions: list[Version]) -> list[ProvenanceRecord]:
    """The provenance records of the copy versions about to be purged (read first: they are purged with them)."""
    found = (load_record(s3, bucket, v.key, v.version_id) for v in versions if not v.delete_marker)
    return [r for r in found if r is not None]


def _older_than(s3: Any, bucket: str, days: float, source_bucket: str | None) -> list[Version]:
    """All versions of every key whose newest version is older than `days`."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    by_key: dict[str, list[Version]] = {}
    for prefix in source_prefixes(source_bucket):
        for version in _versions(s3, bucket, prefix, exact=False):
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


def _report_purge(
    args: argparse.Namespace, bucket: str, versions: list[Version], finding: dict[str, Any] | None = None
) -> None:
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
                "securityHub": finding,
            }
        )
        return
    if finding:
        print(f"Security Hub: {_finding_summary(finding, 'RESOLVED')}")
    if not counts:
        print("nothing to purge", file=sys.stdout)
    for key, count in counts.items():
        print(f"purged s3://{bucket}/{printable(key)} ({count} version(s))")
