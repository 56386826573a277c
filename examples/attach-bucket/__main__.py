"""A program with a bucket of its own, scanned by the S3VirusScanner component."""

import pulumi
import pulumi_aws as aws

from s3_clamav_scanner import S3VirusScanner, ScanBucket, ScannerArgs

# New buckets block public access and enforce bucket-owner object ownership by default.
uploads = aws.s3.Bucket("uploads", force_destroy=True)

scanner = S3VirusScanner(
    "av",
    # The bucket is this program's own: its policy may deny downloads of what is not tagged CLEAN yet.
    ScannerArgs(buckets=[ScanBucket(uploads, prefix="incoming/")], block_unscanned_downloads=True),
)

pulumi.export("uploadBucket", uploads.bucket)
pulumi.export("scannerFunction", scanner.function_name)
pulumi.export("quarantineBucket", scanner.quarantine_bucket)
pulumi.export("findingsTopicArn", scanner.findings_topic_arn)
