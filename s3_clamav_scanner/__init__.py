"""The S3 ClamAV scanner as a Pulumi component for your own program.

    from s3_clamav_scanner import S3VirusScanner, ScanBucket, ScannerArgs

    uploads = aws.s3.Bucket("uploads")
    scanner = S3VirusScanner("av", ScannerArgs(buckets=[ScanBucket(uploads, prefix="incoming/")]))

Install it from a checkout (``pip install -e <checkout>``): the component builds the scanner's image from the
checkout's Dockerfile. docs/DEPLOY.md, "Using the component from another program", has the details.
"""

from infra.component import S3VirusScanner, ScanBucket, ScannerArgs
from infra.config import ConfigError, InfectedAction

__all__ = ["ConfigError", "InfectedAction", "S3VirusScanner", "ScanBucket", "ScannerArgs"]
