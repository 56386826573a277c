"""`scanner scan s3://bucket[/prefix] --batch-operations`: an S3 Batch Operations job that invokes the scanner.

For buckets of millions of objects: S3 lists (an S3 Inventory manifest, or a manifest S3 generates from the
bucket and prefix) and invokes the scanner function once per object (LambdaInvoke, invocation schema 2.0); the
function answers per task (scanner.batch_operations) and S3 writes a completion report to the report bucket.
The job runs as the role Pulumi creates for it (stack output batchOperationsRoleArn). Batch Operations invokes
the function directly, not through the scan queue: the function's reserved concurrency is the cap, and
throttled invocations are retried by Batch Operations.

Without --yes the job is created awaiting confirmation (nothing runs until it is confirmed); the command to
confirm it is printed.
"""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scanner.cli.aws import Aws, explain
from scanner.cli.errors import EXIT_OK, CliError
from scanner.cli.output import print_json, printable
from scanner.cli.quarantine import parse_since

INVOCATION_SCHEMA_VERSION = "2.0"
INVENTORY_FORMAT = "S3InventoryReport_CSV_20161130"
REPORT_FORMAT = "Report_CSV_20180820"
DEFAULT_REPORT_PREFIX = "scanner-batch-operations"
USER_ARGUMENTS = {"submittedBy": "scanner scan --batch-operations"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("S3 Batch Operations (--batch-operations, with --function)")
    group.add_argument(
        "--batch-operations",
        action="store_true",
        help="create an S3 Batch Operations job invoking --function on every object (millions of objects)",
    )
    group.add_argument("--role-arn", metavar="ARN", help="the job's role (stack output batchOperationsRoleArn)")
    group.add_argument("--report-bucket", metavar="NAME", help="where S3 writes the completion report")
    group.add_argument(
        "--report-prefix", default=DEFAULT_REPORT_PREFIX, metavar="PREFIX", help=f"(default {DEFAULT_REPORT_PREFIX})"
    )
    group.add_argument(
        "--manifest",
        metavar="s3://BUCKET/KEY/manifest.json",
        help="an S3 Inventory report's manifest.json of the bucket (default: S3 generates a manifest of the prefix)",
    )
    group.add_argument("--account-id", metavar="ID", help="the job's account (default: the caller's, from STS)")
    group.add_argument("--priority", type=int, default=10, metavar="N", help="job priority (default 10)")
    group.add_argument(
        "--yes", "-y", action="store_true", help="start the job at once (default: created awaiting confirmation)"
    )


def partition_for(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def inventory_manifest(bucket: str, key: str, etag: str, partition: str = "aws") -> dict[str, Any]:
    """CreateJob's Manifest for an S3 Inventory report (its manifest.json names the CSV files)."""
    return {
        "Spec": {"Format": INVENTORY_FORMAT},
        "Location": {"ObjectArn": f"arn:{partition}:s3:::{bucket}/{key}", "ETag": etag.strip('"')},
    }


def generated_manifest(
    bucket: str, prefix: str, *, created_after: datetime | None = None, partition: str = "aws"
) -> dict[str, Any]:
    """CreateJob's ManifestGenerator: S3 lists the bucket (under the prefix) itself."""
    filters: dict[str, Any] = {}
    if prefix:
        filters["KeyNameConstraint"] = {"MatchAnyPrefix": [prefix]}
    if created_after is not None:
        filters["CreatedAfter"] = created_after
    generator: dict[str, Any] = {"SourceBucket": f"arn:{partition}:s3:::{bucket}", "EnableManifestOutput": False}
    if filters:
        generator["Filter"] = filters
    return {"S3JobManifestGenerator": generator}


def build_request(
    *,
    account_id: str,
    function_arn: str,
    role_arn: str,
    report_bucket: str,
    report_prefix: str,
    description: str,
    priority: int,
    confirmation_required: bool,
    manifest: dict[str, Any] | None = None,
    manifest_generator: dict[str, Any] | None = None,
    partition: str = "aws",
    token: str | None = None,
) -> dict[str, Any]:
    """The CreateJob request: LambdaInvoke of the scanner with invocation schema 2.0, a report of all tasks."""
    if (manifest is None) == (manifest_generator is None):
        raise ValueError("exactly one of manifest and manifest_generator")
    request: dict[str, Any] = {
        "AccountId": account_id,
        "ConfirmationRequired": confirmation_required,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": function_arn,
                "InvocationSchemaVersion": INVOCATION_SCHEMA_VERSION,
                "UserArguments": dict(USER_ARGUMENTS),
            }
        },
        "Report": {
            "Bucket": f"arn:{partition}:s3:::{report_bucket}",
            "Format": REPORT_FORMAT,
            "Enabled": True,
            "Prefix": report_prefix,
            "ReportScope": "AllTasks",
        },
        "ClientRequestToken": token or str(uuid.uuid4()),
        "Description": description[:256],
        "Priority": priority,
        "RoleArn": role_arn,
    }
    if manifest is not None:
        request["Manifest"] = manifest
    else:
        request["ManifestGenerator"] = manifest_generator
    return request


def run(args: argparse.Namespace) -> int:
    return execute(args, Aws.from_args(args))


def execute(args: argparse.Namespace, aws: Aws) -> int:
    from scanner.cli.backfill import parse_s3_url

    bucket, prefix = parse_s3_url(args.target)
    _check_arguments(args, aws)
    region = aws.session.region_name
    if not region:
        raise CliError("--batch-operations: no AWS region configured: pass --region")
    partition = partition_for(region)
    try:
        account = args.account_id or str(aws.client("sts").get_caller_identity()["Account"])
        function_arn = _function_arn(aws, args.function)
        if args.manifest:
            manifest_bucket, manifest_key = parse_s3_url(args.manifest)
            manifest: dict[str, Any] | None = _inventory(aws, manifest_bucket, manifest_key, bucket, partition)
            generator = None
        else:
            created_after = parse_since(args.modified_since) if args.modified_since else None
            manifest, generator = (
                None,
                generated_manifest(bucket, prefix, created_after=created_after, partition=partition),
            )
    except (ClientError, BotoCoreError) as err:
        raise explain(err, action="scan --batch-operations") from err
    request = build_request(
        account_id=account,
        function_arn=function_arn,
        role_arn=args.role_arn,
        report_bucket=args.report_bucket,
        report_prefix=args.report_prefix,
        description=f"s3-clamav-scanner: scan s3://{bucket}/{prefix}",
        priority=args.priority,
        confirmation_required=not args.yes,
        manifest=manifest,
        manifest_generator=generator,
        partition=partition,
    )
    if args.dry_run:
        if args.json:
            print_json({"dryRun": True, "request": request})
        else:
            print(json.dumps(request, indent=2, default=str))
        return EXIT_OK
    try:
        job_id = str(aws.client("s3control").create_job(**request)["JobId"])
    except (ClientError, BotoCoreError) as err:
        raise explain(err, action="scan --batch-operations (CreateJob)") from err
    confirm = (
        f"aws s3control update-job-status --account-id {account} --job-id {job_id} "
        f"--requested-job-status Ready --region {region}"
    )
    if args.json:
        print_json(
            {
                "jobId": job_id,
                "accountId": account,
                "region": region,
                "confirmationRequired": not args.yes,
                "confirmWith": None if args.yes else confirm,
                "report": f"s3://{args.report_bucket}/{args.report_prefix}",
                "request": {k: v for k, v in request.items() if k != "ClientRequestToken"},
            }
        )
        return EXIT_OK
    print(
        f"created S3 Batch Operations job {job_id}: {function_arn} on every object of s3://{printable(bucket)}/{printable(prefix)}"
    )
    print(f"  report: s3://{args.report_bucket}/{args.report_prefix}")
    if args.yes:
        print("  started (no confirmation requested)")
    else:
        print(f"  awaiting confirmation; start it with:\n    {confirm}")
    print(f"  watch: aws s3control describe-job --account-id {account} --job-id {job_id} --region {region}")
    return EXIT_OK


def _check_arguments(args: argparse.Namespace, aws: Aws) -> None:
    if aws.is_local:
        raise CliError(
            "--batch-operations: S3 Batch Operations has no local equivalent (moto has no CreateJob); "
            "use `scanner scan` without it to submit through the local queue"
        )
    missing = [
        flag
        for flag, value in (
            ("--function", args.function),
            ("--role-arn", args.role_arn),
            ("--report-bucket", args.report_bucket),
        )
        if not value
    ]
    if missing:
        raise CliError(
            f"--batch-operations needs {', '.join(missing)} (stack outputs functionName, batchOperationsRoleArn)"
        )
    if args.queue_url or args.scanned_before or args.only_untagged:
        raise CliError(
            "--batch-operations invokes the function on every object of the manifest: --queue-url, --scanned-before "
            "and --only-untagged do not apply (S3 cannot select by tags)"
        )
    if args.manifest and args.modified_since:
        raise CliError("--modified-since filters a generated manifest; an S3 Inventory manifest is taken as it is")
    if not 0 <= args.priority <= 2_147_483_647:
        raise CliError("--priority must be between 0 and 2147483647")


def _function_arn(aws: Aws, function: str) -> str:
    if function.startswith("arn:"):
        return function
    return str(aws.client("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"])


def _inventory(aws: Aws, bucket: str, key: str, scanned_bucket: str, partition: str) -> dict[str, Any]:
    """The inventory's Manifest, refused when its report lists another bucket than the one named."""
    s3 = aws.client("s3")
    reply = s3.get_object(Bucket=bucket, Key=key)
    try:
        document = json.loads(reply["Body"].read())
    except ValueError as err:
        raise CliError(f"--manifest s3://{bucket}/{key}: not an S3 Inventory manifest.json ({err})") from err
    source = document.get("sourceBucket") if isinstance(document, dict) else None
    if source != scanned_bucket:
        raise CliError(
            f"--manifest s3://{bucket}/{key} is the inventory of {source!r}, not of {scanned_bucket!r}: refusing"
        )
    return inventory_manifest(bucket, key, str(reply["ETag"]), partition)
