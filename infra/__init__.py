"""Pulumi components of the S3 ClamAV scanner (never copied into the image)."""

from infra.alarms import DefinitionsAgeAlarm, ScannerAlarms
from infra.buckets import HardenedBucket, HardenedBucketArgs, writers_only_policy
from infra.component import S3VirusScanner, ScanBucket, ScannerArgs
from infra.config import ConfigError, InfectedAction, StackConfig, UploadBucket
from infra.definitions import Definitions, DefinitionsArgs
from infra.findings import FindingsTopic
from infra.image import ScannerImage, ScannerImageArgs
from infra.quarantine import Quarantine, QuarantineArgs
from infra.roles import ExecutionRole
from infra.scanner_function import ScannerFunction, ScannerFunctionArgs
from infra.trigger import BucketTrigger
from infra.uploads import UploadBuckets, UploadTarget

__all__ = [
    "BucketTrigger",
    "ConfigError",
    "Definitions",
    "DefinitionsAgeAlarm",
    "DefinitionsArgs",
    "ExecutionRole",
    "FindingsTopic",
    "HardenedBucket",
    "HardenedBucketArgs",
    "InfectedAction",
    "Quarantine",
    "QuarantineArgs",
    "S3VirusScanner",
    "ScanBucket",
    "ScannerAlarms",
    "ScannerArgs",
    "ScannerFunction",
    "ScannerFunctionArgs",
    "ScannerImage",
    "ScannerImageArgs",
    "StackConfig",
    "UploadBucket",
    "UploadBuckets",
    "UploadTarget",
    "writers_only_policy",
]
