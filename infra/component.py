"""S3VirusScanner: the whole scanner as one Pulumi component, for this project's program and for any other.

No ``from __future__ import annotations`` in this module: Pulumi's component-provider analyzer
(``pulumi.provider.experimental``) reads the annotations of ``ScannerArgs``, ``ScanBucket`` and ``S3VirusScanner``
at run time to build the package schema that TypeScript, Go and YAML programs use, and string annotations defeat it.
"""

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.alarms import DefinitionsAgeAlarm, ScannerAlarms
from infra.config import (
    ConfigError,
    InfectedAction,
    StackConfig,
    UploadBucket,
    check_bucket_name,
    check_filter,
)
from infra.definitions import Definitions, DefinitionsArgs
from infra.findings import FindingsTopic
from infra.image import ScannerImage, ScannerImageArgs
from infra.options import ScanOptions, TriggerMode
from infra.quarantine import Quarantine, QuarantineArgs
from infra.queue_triggers import QueueTriggers
from infra.rescans import BatchOperationsAccess, ScheduledRescan
from infra.roles import ExecutionRole
from infra.scan_queue import QueueTriggerSettings, ScanQueue
from infra.scanner_function import ScannerFunction, ScannerFunctionArgs
from infra.trigger import BucketTrigger
from infra.uploads import UploadBuckets, UploadTarget, attached_target

PACKAGE = "s3clamav"
"""The Pulumi package name: the component's type token and the SDK other languages get from ``pulumi package add``."""
TYPE = f"{PACKAGE}:index:S3VirusScanner"
SOURCE_ROOT = Path(__file__).resolve().parents[1]
"""The checkout this module was imported from; its Dockerfile and scanner/ are the image's build context."""


@dataclass(frozen=True)
class ScanBucket:
    """A bucket to scan, and which of its new objects."""

    bucket: pulumi.Input[str] | aws.s3.Bucket
    """The bucket: an aws.s3.Bucket resource or its name (a string or an Output), in the stack's account and region.
    The scanner takes over its event notifications (S3 keeps one configuration per bucket)."""
    prefix: str | None = None
    """Only keys starting with this are scanned (and granted to the scanner)."""
    suffix: str | None = None
    """Only keys ending with this are scanned."""
    key: str | None = None
    """Names this bucket's resources (trigger-<key>-...). Default: the bucket's name when it is a string, the
    resource's Pulumi name when it is a resource; required when the name is an Output."""


# The settings below are StackConfig's fields by name; each docstring starts with the stack-config key, which the
# errors name. None takes the stack's default.
@dataclass(frozen=True)
class ScannerArgs:
    """What to scan and how: every setting of the standalone program's stack config, by its snake_case name. None
    (the default) takes that setting's default; invalid values raise ConfigError naming the stack-config key
    (memory_mb: memoryMB, buckets: uploadBuckets), the errors the standalone program gives."""

    buckets: Sequence[ScanBucket] | None = None
    """uploadBuckets: the buckets to scan. None or empty: the component creates one managed upload bucket."""
    infected_action: InfectedAction | None = None
    """infectedAction: what happens to an infected object - tag, quarantine (the default) or delete."""
    quarantine_bucket_name: str | None = None
    """quarantineBucketName: name of the quarantine bucket the component creates (default: generated)."""
    quarantine_retention_days: int | None = None
    """quarantineRetentionDays: days a quarantined object is kept (default 90)."""
    max_object_bytes: int | None = None
    """maxObjectBytes: largest object scanned, 1..2147483647 (default 536870912); larger ones are UNSCANNABLE, and it
    must scan within the scan timeout at 1 MiB/s."""
    memory_mb: int | None = None
    """memoryMB: scanner memory in MB, 2765..10240 (default 3008): a definitions switch holds two engines."""
    timeout_seconds: int | None = None
    """timeoutSeconds: scanner timeout, 30..900 (default 900); clamd's start and scan timeouts derive from it."""
    ephemeral_storage_mb: int | None = None
    """ephemeralStorageMB: scanner /tmp in MB, 512..10240 (default 4096): concurrent scans x 2 x maxObjectBytes
    + 512 MiB, + 1 GiB with definition updates."""
    reserved_concurrency: int | None = None
    """reservedConcurrency: concurrent executions reserved for the scanner, and its cap (default: unreserved)."""
    max_event_age_seconds: int | None = None
    """maxEventAgeSeconds: oldest event still processed, 60..21600 (default 21600); then the dead-letter queue."""
    findings_email: str | None = None
    """findingsEmail: e-mail address subscribed to the findings topic (default: none)."""
    kms_key_arns: Sequence[str] | None = None
    """kmsKeyArns: KMS key ARNs (not aliases) encrypting objects in the scanned buckets; used through S3 only."""
    log_retention_days: int | None = None
    """logRetentionDays: retention of the functions' log groups, a period CloudWatch accepts (default 30)."""
    block_unscanned_downloads: bool | None = None
    """blockUnscannedDownloads: each scanned bucket's policy denies GetObject unless scan-status is CLEAN or
    RELEASED. Default: on for the managed bucket, off for attached ones (their bucket policy would be replaced)."""
    admin_role_arns: Sequence[str] | None = None
    """adminRoleArns: roles exempt from the download block, allowed into quarantine and definitions, and the only
    writers of the release allow-list."""
    encrypted_is_infected: bool | None = None
    """encryptedIsInfected: encrypted archives and documents clamd cannot open count as INFECTED (default false)."""
    image_retention_count: int | None = None
    """imageRetentionCount: images the ECR lifecycle policy keeps (default 10)."""
    tags: Mapping[str, str] | None = None
    """tags: extra AWS tags for every resource (app and pulumi-stack are the component's own)."""
    definitions_updates: bool | None = None
    """definitionsUpdates: keep definitions fresh with a bucket, a scheduled updater and an age alarm (default
    true); false uses the definitions baked into the image."""
    definitions_schedule: str | None = None
    """definitionsSchedule: EventBridge schedule of the updater (default rate(3 hours)), at least every 12 hours."""
    definitions_mirror_url: str | None = None
    """definitionsMirrorUrl: where the updater downloads the databases (default https://database.clamav.net)."""
    definitions_check_minutes: int | None = None
    """definitionsCheckMinutes: how often a warm scanner looks for newer definitions (default 15)."""
    definitions_max_age_hours: int | None = None
    """definitionsMaxAgeHours: the definitions-age alarm's threshold in hours (default 24)."""
    quarantine_kms_key: bool | None = None
    """quarantineKmsKey: encrypt the quarantine and the allow-list with a customer-managed key (default false)."""
    definitions_stamp: str | None = None
    """definitionsStamp: the image's DEFINITIONS_STAMP build argument (default auto: the UTC date when the baked
    definitions are the only ones)."""
    image_build_ca_file: str | None = None
    """imageBuildCaFile: PEM file of CA certificates for the image build behind a TLS-intercepting proxy."""
    trigger_mode: TriggerMode | None = None
    """triggerMode: how uploads reach the scanner - direct (asynchronous invocation, the default), queue (S3
    notification to an SQS scan queue) or eventbridge (the buckets' EventBridge events to that queue; their
    notification configuration is left alone)."""
    queue_batch_size: int | None = None
    """queueBatchSize: queue modes - records per invocation, 1..10000 (default 10)."""
    queue_batch_window_seconds: int | None = None
    """queueBatchWindowSeconds: queue modes - seconds the event source mapping gathers a batch, 0..300 (default 5)."""
    queue_maximum_concurrency: int | None = None
    """queueMaximumConcurrency: queue modes - environments scanning at once, 2..1000 (default 10)."""
    queue_max_receive_count: int | None = None
    """queueMaxReceiveCount: queue modes - receives before the dead-letter queue, 1..1000 (default 5)."""
    queue_age_alarm_seconds: int | None = None
    """queueAgeAlarmSeconds: queue modes - alarm when the oldest message waited longer (default 3600)."""
    scan_concurrency: int | None = None
    """scanConcurrency: records of one batch scanned at once in one environment, 0..64 (default 0: one per vCPU)."""
    result_events: bool | None = None
    """resultEvents: one GuardDuty-shaped EventBridge event per scanned object (default false)."""
    result_event_bus: str | None = None
    """resultEventBus: the result events' bus, name or ARN (default: default)."""
    result_event_source: str | None = None
    """resultEventSource: the result events' source (default s3-clamav-scanner)."""
    guard_duty_status_tag: bool | None = None
    """guardDutyStatusTag: also write GuardDuty's GuardDutyMalwareScanStatus tag (default false)."""
    security_hub_findings: bool | None = None
    """securityHubFindings: one Security Hub finding per infected object version (default false)."""
    security_hub_unscannable: bool | None = None
    """securityHubUnscannable: with securityHubFindings, findings for UNSCANNABLE objects too (default false)."""
    scheduled_rescan: bool | None = None
    """scheduledRescan: queue modes with definitionsUpdates - rescan recent objects after each new database."""
    rescan_days: int | None = None
    """rescanDays: how far back the scheduled rescan reaches, 1..365 days (default 7)."""
    rescan_max_objects: int | None = None
    """rescanMaxObjects: most objects one scheduled rescan submits (default 100000), newest first."""
    batch_operations: bool | None = None
    """batchOperations: the role and report bucket for `scanner scan --batch-operations` (default false)."""
    custom_signatures_allow_listing: bool | None = None
    """customSignaturesAllowListing: accept .fp/.sfp/.ign2 files among the custom signatures (default false)."""
    source_dir: str | None = None
    """A checkout of s3-clamav-scanner to build the image from (its Dockerfile and scanner/). Default: the checkout
    this package was imported from."""
    resource_name_prefix: str | None = None
    """Prefix of the child resources' names. Default: the component's name and a dash. The standalone program
    passes an empty prefix, so the stacks it created before the component keep their resources."""
    _settings: StackConfig = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        buckets = tuple(ScanBucket(**b) if isinstance(b, Mapping) else b for b in self.buckets or ())
        for i, spec in enumerate(buckets):
            if not isinstance(spec, ScanBucket):
                raise ConfigError(f"uploadBuckets[{i}]: expected a ScanBucket (a bucket and its filters), got {spec!r}")
        object.__setattr__(self, "buckets", buckets)
        named = tuple(_checked_bucket(spec, f"uploadBuckets[{i}]") for i, spec in enumerate(buckets))
        given: dict[str, Any] = {name: getattr(self, name) for name in _SETTINGS if getattr(self, name) is not None}
        given["options"] = ScanOptions(**_given_options(self))
        if self.block_unscanned_downloads is None:
            given["block_unscanned_downloads"] = not buckets
        settings = StackConfig(upload_buckets=tuple(u for u in named if u is not None), **given)
        object.__setattr__(self, "_settings", settings)

    @classmethod
    def of(cls, args: "ScannerArgs | Mapping[str, Any]") -> "ScannerArgs":
        """The arguments as given in Python, or as the component provider maps another language's inputs."""
        return args if isinstance(args, ScannerArgs) else cls(**args)

    @classmethod
    def from_stack_config(cls, config: StackConfig, **component: Any) -> "ScannerArgs":
        """The arguments for a validated stack config (its upload buckets by name), plus component-only ones."""
        buckets = [ScanBucket(u.name, prefix=u.prefix, suffix=u.suffix) for u in config.upload_buckets]
        options = {arg: getattr(config.options, name) for arg, name in _OPTIONS.items()}
        return cls(buckets=buckets, **{name: getattr(config, name) for name in _SETTINGS}, **options, **component)

    @property
    def settings(self) -> StackConfig:
        """The validated settings. Their upload_buckets are the buckets given by name; those given as resources or
        Outputs are attached all the same."""
        return self._settings


_SETTINGS = tuple(f.name for f in dataclasses.fields(StackConfig) if f.name not in ("upload_buckets", "options"))
"""The ScannerArgs fields that are StackConfig's, by the same name."""
_OPTIONS = {
    ("guard_duty_status_tag" if f.name == "guardduty_status_tag" else f.name): f.name
    for f in dataclasses.fields(ScanOptions)
}
"""The ScannerArgs fields that are ScanOptions' (StackConfig.options), by the snake_case of their stack-config key."""


def _given_options(args: ScannerArgs) -> dict[str, Any]:
    """The ScanOptions fields set in ``args``; a trigger mode given as a string is parsed like the stack config's."""
    given = {name: getattr(args, arg) for arg, name in _OPTIONS.items() if getattr(args, arg) is not None}
    if "trigger_mode" in given:
        given["trigger_mode"] = TriggerMode.parse(given["trigger_mode"])
    return given


def _checked_bucket(spec: ScanBucket, key: str) -> UploadBucket | None:
    """Check what can be checked before deployment; the bucket as the stack config would have it when named by a
    plain string (None otherwise)."""
    check_filter(spec.prefix, f"{key}.prefix", "prefix")
    check_filter(spec.suffix, f"{key}.suffix", "suffix")
    if not isinstance(spec.bucket, str):
        return None
    name = spec.bucket.strip()
    if not name:
        raise ConfigError(f"{key}.name: the bucket name is required")
    check_bucket_name(name, f"{key}.name")
    return UploadBucket(name=name, prefix=spec.prefix or None, suffix=spec.suffix or None)


class S3VirusScanner(pulumi.ComponentResource):
    """ClamAV virus scanning for S3: every new object in the given buckets (or in one managed bucket) is scanned by a
    container-image Lambda function with a warm clamd, tagged scan-status, and quarantined, deleted or only tagged
    when infected. Findings and alarms go to an encrypted SNS topic; definitions are kept fresh by an updater."""

    function_name: pulumi.Output[str]
    """The scanner function."""
    function_arn: pulumi.Output[str]
    """The scanner function's ARN."""
    role_arn: pulumi.Output[str]
    """The scanner's execution role: exempt it in your own bucket policies that decide on scan-status."""
    image_uri: pulumi.Output[str]
    """The digest-pinned image URI the functions run."""
    image_ref: pulumi.Output[str]
    """The pushed image, <repository>:latest@sha256:..."""
    upload_buckets: pulumi.Output[list[str]]
    """Names of the scanned buckets."""
    quarantine_bucket: pulumi.Output[str] | None
    """Where infected objects go (infectedAction quarantine only)."""
    allow_list_table: pulumi.Output[str] | None
    """DynamoDB table of released content (infectedAction quarantine only)."""
    findings_topic_arn: pulumi.Output[str]
    """SNS topic of findings and alarms."""
    dead_letter_queue_url: pulumi.Output[str]
    """SQS queue of the events the scanner gave up on."""
    dead_letter_queue_arn: pulumi.Output[str]
    """The dead-letter queue's ARN."""
    definitions_bucket: pulumi.Output[str] | None
    """Where the updater publishes definitions (definitionsUpdates only)."""
    updater_function_name: pulumi.Output[str] | None
    """The definitions updater function (definitionsUpdates only)."""
    scan_queue_url: pulumi.Output[str] | None
    """The SQS scan queue (triggerMode queue or eventbridge only)."""
    scan_dead_letter_queue_url: pulumi.Output[str] | None
    """The scan queue's dead-letter queue (queue modes only)."""
    rescan_function_name: pulumi.Output[str] | None
    """The scheduled rescan function (scheduledRescan only)."""
    batch_operations_role_arn: pulumi.Output[str] | None
    """The role S3 Batch Operations jobs of `scanner scan --batch-operations` run as (batchOperations only)."""
    batch_operations_report_bucket: pulumi.Output[str] | None
    """Where those jobs write their completion reports (batchOperations only)."""

    def __init__(self, name: str, args: ScannerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, {}, opts)
        args = ScannerArgs.of(args)
        config = args.settings
        options = config.options
        prefix = f"{name}-" if args.resource_name_prefix is None else args.resource_name_prefix
        context, dockerfile = _build_paths(args.source_dir)
        tags = config.resource_tags(pulumi.get_stack())
        invoke = pulumi.InvokeOutputOptions(parent=self)
        partition = aws.get_partition_output(opts=invoke).partition
        account_id = aws.get_caller_identity_output(opts=invoke).account_id
        region = aws.get_region_output(opts=invoke).region

        def child() -> pulumi.ResourceOptions:
            # Each child was created at the top of the standalone program's stack before this component existed: the
            # alias keeps it (and, through the engine's inherited aliases, everything under it) in those stacks.
            return pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)])

        self.findings = FindingsTopic(
            f"{prefix}findings",
            partition=partition,
            account_id=account_id,
            email=config.findings_email,
            tags=tags,
            opts=child(),
        )
        self.image = ScannerImage(
            f"{prefix}scanner-image",
            ScannerImageArgs(
                tags=tags,
                keep_images=config.image_retention_count,
                context=context,
                dockerfile=dockerfile,
                definitions_stamp=config.image_definitions_stamp(datetime.now(UTC).date()),
                ca_bundle=Path(config.image_build_ca_file).read_text() if config.image_build_ca_file else None,
                partition=partition,
                region=region,
                account_id=account_id,
            ),
            opts=child(),
        )
        self.role = ExecutionRole(f"{prefix}scanner", description="ClamAV S3 scanner", tags=tags, opts=child())
        privileged = [self.role.arn, *config.admin_role_arns]

        self.quarantine: Quarantine | None = None
        if config.infected_action is InfectedAction.QUARANTINE:
            self.quarantine = Quarantine(
                f"{prefix}quarantine",
                QuarantineArgs(
                    tags=tags,
                    partition=partition,
                    account_id=account_id,
                    privileged_arns=privileged,
                    admin_role_arns=config.admin_role_arns,
                    retention_days=config.quarantine_retention_days,
                    bucket_name=config.quarantine_bucket_name,
                    customer_key=config.quarantine_kms_key,
                ),
                opts=child(),
            )

        self.definitions: Definitions | None = None
        if config.definitions_updates:
            self.definitions = Definitions(
                f"{prefix}definitions",
                DefinitionsArgs(
                    config=config,
                    image_uri=self.image.image_uri,
                    partition=partition,
                    admin_role_arns=config.admin_role_arns,
                    tags=tags,
                    region=region,
                    findings_topic_arn=self.findings.arn,
                    findings_key_arn=self.findings.key_arn,
                ),
                opts=child(),
            )

        self.uploads = UploadBuckets(
            f"{prefix}uploads",
            attached=_targets(args, partition),
            block_unscanned=config.block_unscanned_downloads,
            guardduty_tag=options.guardduty_status_tag,
            partition=partition,
            exempt_arns=privileged,
            tags=tags,
            opts=child(),
        )
        quarantine, definitions = self.quarantine, self.definitions
        self.scan_queue: ScanQueue | None = None
        if options.queued:
            self.scan_queue = ScanQueue(
                f"{prefix}scan",
                settings=QueueTriggerSettings(
                    batch_size=options.queue_batch_size,
                    batching_window_seconds=options.queue_batch_window_seconds,
                    maximum_concurrency=options.queue_maximum_concurrency,
                    max_receive_count=options.queue_max_receive_count,
                    age_alarm_seconds=options.queue_age_alarm_seconds,
                ),
                function_timeout_seconds=config.timeout_seconds,
                alarm_topic_arn=self.findings.arn,
                tags=tags,
                opts=child(),
            )
        scan_queue = self.scan_queue
        self.scanner = ScannerFunction(
            f"{prefix}scanner",
            ScannerFunctionArgs(
                config=config,
                image_uri=self.image.image_uri,
                role=self.role,
                uploads=self.uploads.targets,
                findings_topic_arn=self.findings.arn,
                findings_key_arn=self.findings.key_arn,
                partition=partition,
                region=region,
                tags=tags,
                quarantine_bucket=quarantine.bucket_name if quarantine else None,
                definitions_bucket=definitions.bucket_name if definitions else None,
                allow_list_table=quarantine.table_name if quarantine else None,
                allow_list_table_arn=quarantine.table_arn if quarantine else None,
                quarantine_key_arn=quarantine.key_arn if quarantine else None,
                account_id=account_id,
                scan_queue_arn=scan_queue.queue.arn if scan_queue else None,
            ),
            opts=child(),
        )
        self.triggers: list[BucketTrigger] = []
        self.queue_triggers: QueueTriggers | None = None
        if scan_queue is None:
            self.triggers = [
                BucketTrigger(
                    f"{prefix}trigger-{target.key}",
                    target=target,
                    function_name=self.scanner.function.name,
                    function_arn=self.scanner.function.arn,
                    account_id=account_id,
                    opts=child(),
                )
                for target in self.uploads.targets
            ]
        else:
            scan_queue.consume(self.scanner.function.name, self.scanner.role_policy)
            self.queue_triggers = QueueTriggers(
                f"{prefix}queue-triggers",
                mode=options.trigger_mode,
                uploads=self.uploads.targets,
                queue=scan_queue,
                account_id=account_id,
                managed_bucket=self.uploads.managed is not None,
                tags=tags,
                opts=child(),
            )
        self.rescan: ScheduledRescan | None = None
        if options.scheduled_rescan and scan_queue is not None and definitions is not None:
            self.rescan = ScheduledRescan(
                f"{prefix}rescan",
                config=config,
                image_uri=self.image.image_uri,
                uploads=self.uploads.targets,
                scan_queue_url=scan_queue.queue.url,
                scan_queue_arn=scan_queue.queue.arn,
                definitions_bucket=definitions.bucket_name,
                partition=partition,
                tags=tags,
                opts=child(),
            )
        self.batch_operations: BatchOperationsAccess | None = None
        if options.batch_operations:
            self.batch_operations = BatchOperationsAccess(
                f"{prefix}batch-operations",
                function_arn=self.scanner.function.arn,
                uploads=self.uploads.targets,
                account_id=account_id,
                partition=partition,
                tags=tags,
                opts=child(),
            )
        self.alarms = ScannerAlarms(
            f"{prefix}alarms",
            function_name=self.scanner.function.name,
            dead_letter_queue_name=self.scanner.dead_letter_queue.name,
            queue_dead_letter_queue_name=scan_queue.dead_letter_queue.name if scan_queue else None,
            topic_arn=self.findings.arn,
            # The baked database is watched too: the scanner reports its age when the bucket has none.
            definitions=DefinitionsAgeAlarm(
                config.definitions_max_age_hours,
                config.definitions_interval_seconds if definitions else None,
                updates=definitions is not None,
            ),
            tags=tags,
            opts=child(),
        )

        self.function_name = self.scanner.function.name
        self.function_arn = self.scanner.function.arn
        self.role_arn = self.role.arn
        self.image_uri = self.image.image_uri
        self.image_ref = self.image.ref
        self.upload_buckets = pulumi.Output.all(*[t.name for t in self.uploads.targets])
        self.quarantine_bucket = quarantine.bucket_name if quarantine else None
        self.allow_list_table = quarantine.table_name if quarantine else None
        self.findings_topic_arn = self.findings.arn
        self.dead_letter_queue_url = self.scanner.dead_letter_queue.url
        self.dead_letter_queue_arn = self.scanner.dead_letter_queue.arn
        self.definitions_bucket = definitions.bucket_name if definitions else None
        self.updater_function_name = definitions.function.name if definitions else None
        self.scan_queue_url = scan_queue.queue.url if scan_queue else None
        self.scan_dead_letter_queue_url = scan_queue.dead_letter_queue.url if scan_queue else None
        self.rescan_function_name = self.rescan.function.name if self.rescan else None
        batch = self.batch_operations
        self.batch_operations_role_arn = batch.role.arn if batch else None
        self.batch_operations_report_bucket = batch.reports.name if batch else None
        self.register_outputs(
            {
                "functionName": self.function_name,
                "functionArn": self.function_arn,
                "roleArn": self.role_arn,
                "imageUri": self.image_uri,
                "imageRef": self.image_ref,
                "uploadBuckets": self.upload_buckets,
                "quarantineBucket": self.quarantine_bucket,
                "allowListTable": self.allow_list_table,
                "findingsTopicArn": self.findings_topic_arn,
                "deadLetterQueueUrl": self.dead_letter_queue_url,
                "deadLetterQueueArn": self.dead_letter_queue_arn,
                "definitionsBucket": self.definitions_bucket,
                "updaterFunctionName": self.updater_function_name,
                "scanQueueUrl": self.scan_queue_url,
                "scanDeadLetterQueueUrl": self.scan_dead_letter_queue_url,
                "rescanFunctionName": self.rescan_function_name,
                "batchOperationsRoleArn": self.batch_operations_role_arn,
                "batchOperationsReportBucket": self.batch_operations_report_bucket,
            }
        )


def _targets(args: ScannerArgs, partition: pulumi.Input[str]) -> list[UploadTarget]:
    """The buckets to attach, each under a unique key; names only known at deployment are checked then."""
    targets: list[UploadTarget] = []
    keys: dict[str, int] = {}
    quarantine_name = (
        args.settings.quarantine_bucket_name if args.settings.infected_action is InfectedAction.QUARANTINE else None
    )
    for i, spec in enumerate(args.buckets or ()):
        where = f"uploadBuckets[{i}]"
        arn: pulumi.Input[str] | None = None
        if isinstance(spec.bucket, str):
            key, name = spec.key or spec.bucket.strip(), pulumi.Output.from_input(spec.bucket.strip())
        elif isinstance(spec.bucket, aws.s3.Bucket):
            key, arn = spec.key or spec.bucket.pulumi_resource_name, spec.bucket.arn
            name = spec.bucket.bucket.apply(lambda n, w=where: _deployed_name(n, w, quarantine_name))
        elif spec.key:
            key = spec.key
            name = pulumi.Output.from_input(spec.bucket).apply(lambda n, w=where: _deployed_name(n, w, quarantine_name))
        else:
            raise ConfigError(f"{where}.key: required for a bucket named by an Output (it names its resources)")
        if key in keys:
            raise ConfigError(
                f"{where}.key: {key!r} also names uploadBuckets[{keys[key]}]; a bucket has exactly one notification "
                "configuration, so give one entry per bucket (and a distinct key to each)"
            )
        keys[key] = i
        targets.append(
            attached_target(
                key, name, partition=partition, arn=arn, prefix=spec.prefix or None, suffix=spec.suffix or None
            )
        )
    return targets


def _deployed_name(name: str, where: str, quarantine_name: str | None) -> str:
    """The checks StackConfig makes on plain names, once a name is known."""
    check_bucket_name(name, f"{where}.name")
    if name == quarantine_name:
        raise ConfigError(
            f"quarantineBucketName={quarantine_name!r} is also in uploadBuckets: every quarantined copy would be "
            "scanned again and quarantined again, forever"
        )
    return name


def _build_paths(source_dir: str | None) -> tuple[str, str]:
    """The image's build context and Dockerfile, relative to the working directory (where the program and the build
    provider run), so that a checkout at another path builds the same inputs."""
    root = Path(source_dir).resolve() if source_dir else SOURCE_ROOT
    if not (root / "Dockerfile").is_file() or not (root / "scanner").is_dir():
        raise ConfigError(
            f"source_dir={str(root)!r} holds no Dockerfile and scanner/ to build the image from: install "
            "s3-clamav-scanner from a checkout (pip install -e <checkout>) or set source_dir to one"
        )
    try:
        return os.path.relpath(root), os.path.relpath(root / "Dockerfile")
    except ValueError:  # another drive (Windows): no relative path exists
        return str(root), str(root / "Dockerfile")
