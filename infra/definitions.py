"""Virus definitions updates: a private bucket, the updater function (same image) and its schedule."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.buckets import HardenedBucket, HardenedBucketArgs
from infra.config import StackConfig
from infra.logs import function_log_group
from infra.roles import ExecutionRole
from scanner import constants

UPDATER_COMMAND = "scanner.update.lambda_handler"
UPDATER_MEMORY_MB = 3008
"""clamscan loads the complete new set once, to verify it, before it is published."""
UPDATER_TIMEOUT_SECONDS = 900
UPDATER_EPHEMERAL_MB = 4096
"""Room for the downloaded databases (main.cvd alone is ~170 MB) and their verified copies."""
SUPERSEDED_DEFINITIONS_DAYS = 7
UPDATER_ASYNC_RETRIES = 0
"""EventBridge invokes asynchronously; Lambda's default 2 retries would hit the CDN again within minutes and deepen
its rate-limit cool-down. The next scheduled run is the retry."""


@dataclass(frozen=True)
class DefinitionsArgs:
    """Where the updater fetches from, how often, and what it runs."""

    config: StackConfig
    image_uri: pulumi.Input[str]
    partition: pulumi.Input[str]
    admin_role_arns: Sequence[str]
    tags: Mapping[str, str]
    region: pulumi.Input[str] | None = None
    findings_topic_arn: pulumi.Input[str] | None = None
    """The updater publishes a finding naming a security team's signature file that does not load."""
    findings_key_arn: pulumi.Input[str] | None = None


class Definitions(pulumi.ComponentResource):
    """Definitions bucket (written by the updater only), updater function, EventBridge schedule."""

    role: ExecutionRole
    bucket: HardenedBucket
    log_group: aws.cloudwatch.LogGroup
    role_policy: aws.iam.RolePolicy
    function: aws.lambda_.Function
    rule: aws.cloudwatch.EventRule
    target: aws.cloudwatch.EventTarget
    permission: aws.lambda_.Permission
    invoke_config: aws.lambda_.FunctionEventInvokeConfig
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DefinitionsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("s3clamav:definitions:Definitions", name, {}, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        self.role = ExecutionRole(
            f"{name}-updater", description="ClamAV definitions updater", tags=args.tags, opts=child
        )
        writers = [self.role.arn, *args.admin_role_arns]
        self.bucket = HardenedBucket(
            f"{name}-store",
            HardenedBucketArgs(
                tags=args.tags,
                noncurrent_days=SUPERSEDED_DEFINITIONS_DAYS,
                # The content is fetched again on the next run.
                force_destroy=True,
                policy=lambda bucket: pulumi.Output.all(bucket, args.partition, *writers).apply(
                    lambda v: json.dumps(
                        policies.definitions_bucket_policy(
                            partition=v[1],
                            bucket=v[0],
                            writer_arns=list(v[2:]),
                            admin_arns=list(v[3:]),  # writers are the updater role, then the admins
                        )
                    )
                ),
            ),
            opts=child,
        )
        self.bucket_name = self.bucket.name
        self.bucket_arn = self.bucket.arn
        self.log_group = function_log_group(
            f"{name}-updater", retention_days=config.log_retention_days, tags=args.tags, parent=self
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-updater-policy",
            role=self.role.name,
            policy=pulumi.Output.all(
                args.partition,
                self.bucket.name,
                self.log_group.arn,
                args.region or "",
                args.findings_topic_arn or "",
                args.findings_key_arn or "",
            ).apply(
                lambda v: json.dumps(
                    policies.updater_policy(
                        partition=v[0],
                        definitions_bucket=v[1],
                        log_group_arn=v[2],
                        region=v[3] or None,
                        findings_topic_arn=v[4] or None,
                        findings_key_arn=v[5] or None,
                    )
                )
            ),
            opts=child,
        )
        self.function = aws.lambda_.Function(
            f"{name}-updater-function",
            description="Fetches ClamAV definitions and publishes them to the definitions bucket",
            package_type="Image",
            image_uri=args.image_uri,
            image_config=aws.lambda_.FunctionImageConfigArgs(commands=[UPDATER_COMMAND]),
            architectures=["x86_64"],
            role=self.role.arn,
            memory_size=UPDATER_MEMORY_MB,
            timeout=UPDATER_TIMEOUT_SECONDS,
            ephemeral_storage=aws.lambda_.FunctionEphemeralStorageArgs(size=UPDATER_EPHEMERAL_MB),
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    constants.ENV_DEFINITIONS_BUCKET: self.bucket.name,
                    constants.ENV_DEFINITIONS_MIRROR_URL: config.definitions_mirror_url,
                    constants.ENV_CUSTOM_SIGNATURES_ALLOW_LISTING: str(
                        config.options.custom_signatures_allow_listing
                    ).lower(),
                    **({constants.ENV_FINDINGS_TOPIC_ARN: args.findings_topic_arn} if args.findings_topic_arn else {}),
                    "POWERTOOLS_SERVICE_NAME": constants.POWERTOOLS_SERVICE,
                    "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
                }
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=self.log_group.name),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy]),
        )
        self.invoke_config = aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-updater-async",
            function_name=self.function.name,
            maximum_retry_attempts=UPDATER_ASYNC_RETRIES,
            opts=child,
        )
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-schedule",
            description="Runs the ClamAV definitions updater",
            schedule_expression=config.definitions_schedule,
            tags=dict(args.tags),
            opts=child,
        )
        self.permission = aws.lambda_.Permission(
            f"{name}-schedule-permission",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="events.amazonaws.com",
            source_arn=self.rule.arn,
            opts=child,
        )
        self.target = aws.cloudwatch.EventTarget(
            f"{name}-schedule-target",
            rule=self.rule.name,
            arn=self.function.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.permission, self.invoke_config]),
        )
        self.register_outputs({"bucket": self.bucket_name, "updaterFunctionName": self.function.name})
