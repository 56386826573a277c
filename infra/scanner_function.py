"""The scanner function: container image, environment, least-privilege policy, logs and async failure handling."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.config import InfectedAction, StackConfig
from infra.logs import function_log_group
from infra.roles import ExecutionRole
from infra.uploads import UploadTarget
from scanner import constants

DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
MAX_ASYNC_RETRIES = 2


@dataclass(frozen=True)
class ScannerFunctionArgs:
    """What the scanner function is wired to."""

    config: StackConfig
    image_uri: pulumi.Input[str]
    role: ExecutionRole
    uploads: Sequence[UploadTarget]
    findings_topic_arn: pulumi.Input[str]
    findings_key_arn: pulumi.Input[str]
    partition: pulumi.Input[str]
    region: pulumi.Input[str]
    tags: Mapping[str, str]
    quarantine_bucket: pulumi.Input[str] | None = None
    """Name of the quarantine bucket; required when the action is quarantine."""
    definitions_bucket: pulumi.Input[str] | None = None
    """Name of the definitions bucket; None when definitions are only those baked into the image."""
    allow_list_table: pulumi.Input[str] | None = None
    """Name of the release allow-list table; required when the action is quarantine."""
    allow_list_table_arn: pulumi.Input[str] | None = None
    quarantine_key_arn: pulumi.Input[str] | None = None
    """The quarantine's customer-managed key, when it has one."""
    account_id: pulumi.Input[str] | None = None
    """This account (for the result event bus and the Security Hub product ARNs)."""
    scan_queue_arn: pulumi.Input[str] | None = None
    """The scan queue the function consumes (queue and EventBridge trigger modes)."""


def result_event_bus_arn(partition: str, region: str, account_id: str, bus: str) -> str:
    """The ARN of the configured result event bus (a name of this account and region, or an ARN)."""
    return bus if bus.startswith("arn:") else f"arn:{partition}:events:{region}:{account_id}:event-bus/{bus}"


def security_hub_product_arn(partition: str, region: str, account_id: str) -> str:
    """This account's own product in Security Hub: where BatchImportFindings sends its findings."""
    return f"arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default"


def scanner_environment(
    config: StackConfig,
    *,
    findings_topic_arn: pulumi.Input[str],
    quarantine_bucket: pulumi.Input[str] | None,
    definitions_bucket: pulumi.Input[str] | None,
    allow_list_table: pulumi.Input[str] | None = None,
    security_hub_product: pulumi.Input[str] | None = None,
) -> dict[str, pulumi.Input[str]]:
    """The environment scanner.config reads, keyed by the names in scanner.constants."""
    env: dict[str, pulumi.Input[str]] = {
        constants.ENV_INFECTED_ACTION: config.infected_action.value,
        constants.ENV_MAX_OBJECT_BYTES: str(config.max_object_bytes),
        constants.ENV_FINDINGS_TOPIC_ARN: findings_topic_arn,
        constants.ENV_ENCRYPTED_IS_INFECTED: str(config.encrypted_is_infected).lower(),
        # Derived from timeoutSeconds: a slow start or scan ends as an ERROR tag and a finding, not Lambda's kill.
        constants.ENV_CLAMD_START_TIMEOUT: str(config.clamd_start_timeout_seconds),
        constants.ENV_CLAMD_SCAN_TIMEOUT: str(config.clamd_scan_timeout_seconds),
        # The same floor the stack's sizing rule used: objects that cannot finish in time are not streamed.
        constants.ENV_SCAN_RATE_FLOOR: str(constants.DEFAULT_SCAN_RATE_FLOOR_BYTES_PER_SECOND),
        "POWERTOOLS_SERVICE_NAME": constants.POWERTOOLS_SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
    }
    options = config.options
    if options.scan_concurrency:
        env[constants.ENV_SCAN_CONCURRENCY] = str(options.scan_concurrency)
    if options.result_events:
        env[constants.ENV_RESULT_EVENT_BUS] = options.result_event_bus
        env[constants.ENV_RESULT_EVENT_SOURCE] = options.result_event_source
    if options.guardduty_status_tag:
        env[constants.ENV_GUARDDUTY_STATUS_TAG] = "true"
    if options.security_hub_findings:
        if security_hub_product is None:
            raise ValueError("securityHubFindings needs the account's Security Hub product ARN")
        env[constants.ENV_SECURITY_HUB_PRODUCT_ARN] = security_hub_product
        env[constants.ENV_SECURITY_HUB_UNSCANNABLE] = str(options.security_hub_unscannable).lower()
    if config.infected_action is InfectedAction.QUARANTINE:
        if quarantine_bucket is None or allow_list_table is None:
            raise ValueError("infectedAction=quarantine needs the quarantine bucket and the allow-list table")
        env[constants.ENV_QUARANTINE_BUCKET] = quarantine_bucket
        env[constants.ENV_ALLOW_LIST_TABLE] = allow_list_table
    if definitions_bucket is not None:
        env[constants.ENV_DEFINITIONS_BUCKET] = definitions_bucket
        env[constants.ENV_DEFINITIONS_CHECK_MINUTES] = str(config.definitions_check_minutes)
    return env


class ScannerFunction(pulumi.ComponentResource):
    """Image-based x86_64 function with its inline policy, log group, dead-letter queue and async invoke config."""

    log_group: aws.cloudwatch.LogGroup
    dead_letter_queue: aws.sqs.Queue
    role_policy: aws.iam.RolePolicy
    function: aws.lambda_.Function
    invoke_config: aws.lambda_.FunctionEventInvokeConfig

    def __init__(self, name: str, args: ScannerFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("s3clamav:scanner:ScannerFunction", name, {}, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        self.log_group = function_log_group(name, retention_days=config.log_retention_days, tags=args.tags, parent=self)
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            tags=dict(args.tags),
            opts=child,
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=args.role.name,
            policy=self._policy_json(args),
            opts=child,
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            description="Scans each new S3 object with ClamAV and tags, quarantines or deletes it",
            package_type="Image",
            image_uri=args.image_uri,
            architectures=["x86_64"],
            role=args.role.arn,
            memory_size=config.memory_mb,
            timeout=config.timeout_seconds,
            ephemeral_storage=aws.lambda_.FunctionEphemeralStorageArgs(size=config.ephemeral_storage_mb),
            reserved_concurrent_executions=config.reserved_concurrency,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables=scanner_environment(
                    config,
                    findings_topic_arn=args.findings_topic_arn,
                    quarantine_bucket=args.quarantine_bucket,
                    definitions_bucket=args.definitions_bucket,
                    allow_list_table=args.allow_list_table,
                    security_hub_product=self._security_hub_product(args),
                )
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=self.log_group.name),
            tags=dict(args.tags),
            # Permissions first: the first invocation must already be able to log, tag and publish.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy]),
        )
        self.invoke_config = aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-async",
            function_name=self.function.name,
            maximum_retry_attempts=MAX_ASYNC_RETRIES,
            maximum_event_age_in_seconds=config.max_event_age_seconds,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=self.dead_letter_queue.arn
                )
            ),
            # Lambda checks that the role may send to the destination when the config is written.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy]),
        )
        self.register_outputs(
            {
                "functionName": self.function.name,
                "functionArn": self.function.arn,
                "deadLetterQueueUrl": self.dead_letter_queue.url,
            }
        )

    @staticmethod
    def _security_hub_product(args: ScannerFunctionArgs) -> pulumi.Output[str] | None:
        if not args.config.options.security_hub_findings:
            return None
        return pulumi.Output.all(args.partition, args.region, args.account_id or "").apply(
            lambda v: security_hub_product_arn(v[0], v[1], v[2])
        )

    def _policy_json(self, args: ScannerFunctionArgs) -> pulumi.Output[str]:
        config = args.config
        options = config.options
        uploads = list(args.uploads)
        if (options.result_events or options.security_hub_findings) and args.account_id is None:
            raise ValueError("result events and Security Hub findings need the account id")
        if options.queued and args.scan_queue_arn is None:
            raise ValueError(f"triggerMode={options.trigger_mode.value} needs the scan queue")

        def render(values: list[str]) -> str:
            partition, region, topic, key, dlq, logs, quarantine, definitions, table, qkey, account, queue, *names = (
                values
            )
            bucket_names = names
            return json.dumps(
                policies.scanner_policy(
                    partition=partition,
                    region=region,
                    uploads=[u.resolved(n) for u, n in zip(uploads, bucket_names, strict=True)],
                    action=config.infected_action,
                    quarantine_bucket=quarantine or None,
                    findings_topic_arn=topic,
                    findings_key_arn=key,
                    dead_letter_queue_arn=dlq,
                    log_group_arn=logs,
                    kms_key_arns=config.kms_key_arns,
                    definitions_bucket=definitions or None,
                    allow_list_table_arn=table or None,
                    quarantine_key_arn=qkey or None,
                    scan_queue_arn=queue or None,
                    result_event_bus_arn=(
                        result_event_bus_arn(partition, region, account, options.result_event_bus)
                        if options.result_events
                        else None
                    ),
                    security_hub_product_arn=(
                        security_hub_product_arn(partition, region, account) if options.security_hub_findings else None
                    ),
                )
            )

        return pulumi.Output.all(
            args.partition,
            args.region,
            args.findings_topic_arn,
            args.findings_key_arn,
            self.dead_letter_queue.arn,
            self.log_group.arn,
            "" if args.quarantine_bucket is None else args.quarantine_bucket,
            "" if args.definitions_bucket is None else args.definitions_bucket,
            "" if args.allow_list_table_arn is None else args.allow_list_table_arn,
            "" if args.quarantine_key_arn is None else args.quarantine_key_arn,
            "" if args.account_id is None else args.account_id,
            "" if args.scan_queue_arn is None else args.scan_queue_arn,
            *[u.name for u in uploads],
        ).apply(render)
