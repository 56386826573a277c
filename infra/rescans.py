"""Rescans of what is already stored: the scheduled rescan after each definitions update, and the role and report
bucket S3 Batch Operations jobs use (`scanner scan --batch-operations`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.buckets import HardenedBucket, HardenedBucketArgs
from infra.config import StackConfig
from infra.logs import function_log_group
from infra.roles import ExecutionRole
from infra.uploads import UploadTarget
from scanner import constants

RESCAN_COMMAND = "scanner.rescan.lambda_handler"
RESCAN_TIMEOUT_SECONDS = 900
RESCAN_MEMORY_MB = 512
"""Listing and SendMessageBatch: no clamd in this function."""
BATCH_REPORT_DAYS = 30


def manifest_published_pattern(definitions_bucket: str) -> dict[str, object]:
    """The definitions bucket's "Object Created" event for manifest.json: the updater writes it last, and only when
    the set changed."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [definitions_bucket]}, "object": {"key": ["manifest.json"]}},
    }


class ScheduledRescan(pulumi.ComponentResource):
    """After a new database is published: every scanned object modified within `rescanDays`, to the scan queue."""

    role: ExecutionRole
    function: aws.lambda_.Function
    rule: aws.cloudwatch.EventRule

    def __init__(
        self,
        name: str,
        *,
        config: StackConfig,
        image_uri: pulumi.Input[str],
        uploads: Sequence[UploadTarget],
        scan_queue_url: pulumi.Input[str],
        scan_queue_arn: pulumi.Input[str],
        definitions_bucket: pulumi.Input[str],
        partition: pulumi.Input[str],
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("s3clamav:rescan:ScheduledRescan", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        uploads = list(uploads)
        self.role = ExecutionRole(name, description="ClamAV scheduled rescan", tags=tags, opts=child)
        log_group = function_log_group(name, retention_days=config.log_retention_days, tags=tags, parent=self)
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.name,
            policy=pulumi.Output.all(partition, scan_queue_arn, log_group.arn, *[u.name for u in uploads]).apply(
                lambda v: json.dumps(
                    policies.rescan_policy(
                        partition=v[0],
                        uploads=[u.resolved(n) for u, n in zip(uploads, v[3:], strict=True)],
                        scan_queue_arn=v[1],
                        log_group_arn=v[2],
                    )
                )
            ),
            opts=child,
        )
        targets = pulumi.Output.all(*[u.name for u in uploads]).apply(
            lambda names: ",".join(f"{n}/{u.prefix or ''}" for u, n in zip(uploads, names, strict=True))
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            description="Rescans recently stored objects after a definitions update, through the scan queue",
            package_type="Image",
            image_uri=image_uri,
            image_config=aws.lambda_.FunctionImageConfigArgs(commands=[RESCAN_COMMAND]),
            architectures=["x86_64"],
            role=self.role.arn,
            memory_size=RESCAN_MEMORY_MB,
            timeout=RESCAN_TIMEOUT_SECONDS,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    constants.ENV_SCAN_QUEUE_URL: scan_queue_url,
                    constants.ENV_RESCAN_TARGETS: targets,
                    constants.ENV_RESCAN_DAYS: str(config.options.rescan_days),
                    constants.ENV_RESCAN_MAX_OBJECTS: str(config.options.rescan_max_objects),
                    "POWERTOOLS_SERVICE_NAME": constants.POWERTOOLS_SERVICE,
                    "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
                }
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=log_group.name),
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        # The definitions bucket sends its events to EventBridge (it has no other notification: the stack owns it).
        notification = aws.s3.BucketNotification(
            f"{name}-definitions-events", bucket=definitions_bucket, eventbridge=True, opts=child
        )
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-on-publish",
            description="A new ClamAV definitions set was published",
            event_pattern=pulumi.Output.from_input(definitions_bucket).apply(
                lambda bucket: json.dumps(manifest_published_pattern(bucket))
            ),
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[notification]),
        )
        permission = aws.lambda_.Permission(
            f"{name}-permission",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="events.amazonaws.com",
            source_arn=self.rule.arn,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-target",
            rule=self.rule.name,
            arn=self.function.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )
        self.register_outputs({"functionName": self.function.name})


class BatchOperationsAccess(pulumi.ComponentResource):
    """The role S3 Batch Operations jobs assume to invoke the scanner on every object of a manifest, and the bucket
    their completion reports (and generated manifests) go to."""

    role: aws.iam.Role
    reports: HardenedBucket

    def __init__(
        self,
        name: str,
        *,
        function_arn: pulumi.Input[str],
        uploads: Sequence[UploadTarget],
        account_id: pulumi.Input[str],
        partition: pulumi.Input[str],
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("s3clamav:rescan:BatchOperationsAccess", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        uploads = list(uploads)
        self.reports = HardenedBucket(
            f"{name}-reports",
            HardenedBucketArgs(tags=tags, expiration_days=BATCH_REPORT_DAYS, noncurrent_days=1, force_destroy=True),
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            description="S3 Batch Operations jobs that scan existing objects with the ClamAV scanner",
            assume_role_policy=pulumi.Output.from_input(account_id).apply(
                lambda account: json.dumps(policies.batch_operations_trust_policy(account_id=account))
            ),
            tags=dict(tags),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.name,
            policy=pulumi.Output.all(partition, function_arn, self.reports.name, *[u.name for u in uploads]).apply(
                lambda v: json.dumps(
                    policies.batch_operations_policy(
                        partition=v[0],
                        function_arn=v[1],
                        uploads=[u.resolved(n) for u, n in zip(uploads, v[3:], strict=True)],
                        report_bucket=v[2],
                    )
                )
            ),
            opts=child,
        )
        self.register_outputs({"roleArn": self.role.arn, "reportBucket": self.reports.name})
