"""S3 ClamAV scanner: typed stack config in, components wired together, outputs exported."""

import sys

# Before any import that needs 3.11 (StrEnum, typing): Pulumi.yaml cannot pin the interpreter of a pip toolchain.
if sys.version_info < (3, 11):  # noqa: UP036 - this check is for the interpreters the rest of the code rejects
    sys.exit(
        f"s3-clamav-scanner needs Python 3.11 or newer; this is {sys.version.split()[0]}. "
        "Create the virtualenv with it: python3.11 -m venv .venv && .venv/bin/pip install -r requirements.txt"
    )

from datetime import UTC, datetime
from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra import (
    BucketTrigger,
    Definitions,
    DefinitionsAgeAlarm,
    DefinitionsArgs,
    ExecutionRole,
    FindingsTopic,
    InfectedAction,
    Quarantine,
    QuarantineArgs,
    ScannerAlarms,
    ScannerFunction,
    ScannerFunctionArgs,
    ScannerImage,
    ScannerImageArgs,
    UploadBuckets,
)
from infra import config as stack_config
from infra.queue_triggers import QueueTriggers
from infra.rescans import BatchOperationsAccess, ScheduledRescan
from infra.scan_queue import QueueTriggerSettings, ScanQueue

config = stack_config.load()
tags = config.resource_tags(pulumi.get_stack())
partition = aws.get_partition_output().partition
account_id = aws.get_caller_identity_output().account_id
region = aws.get_region_output().region

findings = FindingsTopic("findings", partition=partition, account_id=account_id, email=config.findings_email, tags=tags)
image = ScannerImage(
    "scanner-image",
    ScannerImageArgs(
        tags=tags,
        keep_images=config.image_retention_count,
        definitions_stamp=config.image_definitions_stamp(datetime.now(UTC).date()),
        ca_bundle=Path(config.image_build_ca_file).read_text() if config.image_build_ca_file else None,
        partition=partition,
        region=region,
        account_id=account_id,
    ),
)
scanner_role = ExecutionRole("scanner", description="ClamAV S3 scanner", tags=tags)
privileged = [scanner_role.arn, *config.admin_role_arns]

quarantine = None
if config.infected_action is InfectedAction.QUARANTINE:
    quarantine = Quarantine(
        "quarantine",
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
    )

definitions = None
if config.definitions_updates:
    definitions = Definitions(
        "definitions",
        DefinitionsArgs(
            config=config,
            image_uri=image.image_uri,
            partition=partition,
            admin_role_arns=config.admin_role_arns,
            tags=tags,
            region=region,
            findings_topic_arn=findings.arn,
            findings_key_arn=findings.key_arn,
        ),
    )

uploads = UploadBuckets("uploads", config=config, partition=partition, exempt_arns=privileged, tags=tags)
options = config.options
scan_queue = None
if options.queued:
    scan_queue = ScanQueue(
        "scan",
        settings=QueueTriggerSettings(
            batch_size=options.queue_batch_size,
            batching_window_seconds=options.queue_batch_window_seconds,
            maximum_concurrency=options.queue_maximum_concurrency,
            max_receive_count=options.queue_max_receive_count,
            age_alarm_seconds=options.queue_age_alarm_seconds,
        ),
        function_timeout_seconds=config.timeout_seconds,
        alarm_topic_arn=findings.arn,
        tags=tags,
    )
scanner = ScannerFunction(
    "scanner",
    ScannerFunctionArgs(
        config=config,
        image_uri=image.image_uri,
        role=scanner_role,
        uploads=uploads.targets,
        findings_topic_arn=findings.arn,
        findings_key_arn=findings.key_arn,
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
)
if scan_queue is None:
    triggers = [
        BucketTrigger(
            f"trigger-{target.key}",
            target=target,
            function_name=scanner.function.name,
            function_arn=scanner.function.arn,
            account_id=account_id,
        )
        for target in uploads.targets
    ]
else:
    scan_queue.consume(scanner.function.name, scanner.role_policy)
    queue_triggers = QueueTriggers(
        "queue-triggers",
        mode=options.trigger_mode,
        uploads=uploads.targets,
        queue=scan_queue,
        account_id=account_id,
        managed_bucket=config.managed_upload_bucket,
        tags=tags,
    )
rescan = None
if options.scheduled_rescan:
    if scan_queue is None or definitions is None:
        raise ValueError("scheduledRescan needs a queue trigger mode and definitionsUpdates")
    rescan = ScheduledRescan(
        "rescan",
        config=config,
        image_uri=image.image_uri,
        uploads=uploads.targets,
        scan_queue_url=scan_queue.queue.url,
        scan_queue_arn=scan_queue.queue.arn,
        definitions_bucket=definitions.bucket_name,
        partition=partition,
        tags=tags,
    )
batch_access = None
if options.batch_operations:
    batch_access = BatchOperationsAccess(
        "batch-operations",
        function_arn=scanner.function.arn,
        uploads=uploads.targets,
        account_id=account_id,
        partition=partition,
        tags=tags,
    )
alarms = ScannerAlarms(
    "alarms",
    function_name=scanner.function.name,
    dead_letter_queue_name=scanner.dead_letter_queue.name,
    queue_dead_letter_queue_name=scan_queue.dead_letter_queue.name if scan_queue else None,
    topic_arn=findings.arn,
    # The baked database is watched too: the scanner reports its age when the bucket has none.
    definitions=DefinitionsAgeAlarm(
        config.definitions_max_age_hours,
        config.definitions_interval_seconds if definitions else None,
        updates=definitions is not None,
    ),
    tags=tags,
)

pulumi.export("functionName", scanner.function.name)
pulumi.export("functionArn", scanner.function.arn)
pulumi.export("imageRef", image.ref)
pulumi.export("imageUri", image.image_uri)
pulumi.export("uploadBuckets", pulumi.Output.all(*[t.name for t in uploads.targets]))
pulumi.export("quarantineBucket", quarantine.bucket_name if quarantine else None)
pulumi.export("allowListTable", quarantine.table_name if quarantine else None)
pulumi.export("findingsTopicArn", findings.arn)
pulumi.export("deadLetterQueueUrl", scanner.dead_letter_queue.url)
pulumi.export("definitionsBucket", definitions.bucket_name if definitions else None)
pulumi.export("updaterFunctionName", definitions.function.name if definitions else None)
pulumi.export("scanQueueUrl", scan_queue.queue.url if scan_queue else None)
pulumi.export("scanDeadLetterQueueUrl", scan_queue.dead_letter_queue.url if scan_queue else None)
pulumi.export("rescanFunctionName", rescan.function.name if rescan else None)
pulumi.export("batchOperationsRoleArn", batch_access.role.arn if batch_access else None)
pulumi.export("batchOperationsReportBucket", batch_access.reports.name if batch_access else None)
