"""S3 ClamAV scanner: typed stack config in, the S3VirusScanner component, outputs exported."""

import sys

# Before any import that needs 3.11 (StrEnum, typing): Pulumi.yaml cannot pin the interpreter of a pip toolchain.
if sys.version_info < (3, 11):  # noqa: UP036 - this check is for the interpreters the rest of the code rejects
    sys.exit(
        f"s3-clamav-scanner needs Python 3.11 or newer; this is {sys.version.split()[0]}. "
        "Create the virtualenv with it: python3.11 -m venv .venv && .venv/bin/pip install -r requirements.txt"
    )

import pulumi

from infra import S3VirusScanner, ScannerArgs
from infra import config as stack_config

config = stack_config.load()
# No name prefix: the resources keep the names this program gave them before the component existed.
scanner = S3VirusScanner("clamav", ScannerArgs.from_stack_config(config, resource_name_prefix=""))

pulumi.export("functionName", scanner.function_name)
pulumi.export("functionArn", scanner.function_arn)
pulumi.export("imageRef", scanner.image_ref)
pulumi.export("imageUri", scanner.image_uri)
pulumi.export("uploadBuckets", scanner.upload_buckets)
pulumi.export("quarantineBucket", scanner.quarantine_bucket)
pulumi.export("allowListTable", scanner.allow_list_table)
pulumi.export("findingsTopicArn", scanner.findings_topic_arn)
pulumi.export("deadLetterQueueUrl", scanner.dead_letter_queue_url)
pulumi.export("definitionsBucket", scanner.definitions_bucket)
pulumi.export("updaterFunctionName", scanner.updater_function_name)
pulumi.export("scanQueueUrl", scanner.scan_queue_url)
pulumi.export("scanDeadLetterQueueUrl", scanner.scan_dead_letter_queue_url)
pulumi.export("rescanFunctionName", scanner.rescan_function_name)
pulumi.export("batchOperationsRoleArn", scanner.batch_operations_role_arn)
pulumi.export("batchOperationsReportBucket", scanner.batch_operations_report_bucket)
