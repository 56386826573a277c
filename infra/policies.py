"""Every IAM, bucket, key and ECR policy document of the stack, built by pure functions from plain values.

Components feed resolved ARNs in through ``Output.apply`` and ``json.dumps`` the result; tests call these directly and
lint each document with parliament. A ``"*"`` resource appears only where AWS requires it, each case commented.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.config import InfectedAction, UploadBucket
from scanner import constants

Policy = dict[str, Any]
Statement = dict[str, Any]

VERSION = "2012-10-17"

READ_AND_TAG_OBJECTS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
)
DELETE_OBJECTS = ("s3:DeleteObject", "s3:DeleteObjectVersion")
# The copy is tagged by version id (PutObjectVersionTagging) and HEADed by version to verify it before the source
# is deleted (GetObject/GetObjectVersion); a RELEASED upload is trusted only when its quarantine copy's tags say
# so (GetObjectTagging).
QUARANTINE_WRITE = (
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
)
# Definitions files are fetched at the version id the manifest pins.
READ_DEFINITIONS = ("s3:GetObject", "s3:GetObjectVersion")
OBJECT_WRITES = (
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:PutObjectVersionAcl",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
)
KMS_USE = ("kms:Decrypt", "kms:GenerateDataKey")
LOG_WRITES = ("logs:CreateLogStream", "logs:PutLogEvents")


@dataclass(frozen=True)
class LintWaiver:
    """A parliament finding accepted for one policy function, with the reason."""

    issue: str
    reason: str


LINT_WAIVERS: Mapping[str, tuple[LintWaiver, ...]] = {
    "lambda_trust_policy": (
        LintWaiver("MALFORMED", "a trust policy has no Resource element: the role it is attached to is the resource"),
    ),
    "findings_key_policy": (
        LintWaiver("RESOURCE_STAR", "in a key policy, Resource '*' means 'this key'; AWS accepts nothing else"),
    ),
}
"""Findings that parliament reports but AWS requires, keyed by the policy function's name."""


def bucket_arn(partition: str, bucket: str) -> str:
    """ARN of a bucket (for bucket-level actions such as ListBucket)."""
    return f"arn:{partition}:s3:::{bucket}"


def objects_arn(partition: str, bucket: str, prefix: str | None = None, suffix: str | None = None) -> str:
    """ARN pattern of the objects under ``prefix`` (and ending in ``suffix``) in a bucket."""
    return f"arn:{partition}:s3:::{bucket}/{prefix or ''}*{suffix or ''}"


def lambda_trust_policy() -> Policy:
    """Trust policy of an execution role: assumable by the Lambda service only."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "LambdaAssumesRole",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def scanner_policy(
    *,
    partition: str,
    region: str,
    uploads: Sequence[UploadBucket],
    action: InfectedAction,
    quarantine_bucket: str | None,
    findings_topic_arn: str,
    findings_key_arn: str,
    dead_letter_queue_arn: str,
    log_group_arn: str,
    kms_key_arns: Sequence[str] = (),
    definitions_bucket: str | None = None,
) -> Policy:
    """Inline policy of the scanner: exactly what scanning, tagging and the configured action need."""
    upload_objects = [objects_arn(partition, u.name, u.prefix) for u in uploads]
    upload_buckets = list(dict.fromkeys(bucket_arn(partition, u.name) for u in uploads))
    statements: list[Statement] = [
        _allow("ReadAndTagUploads", READ_AND_TAG_OBJECTS, upload_objects),
        # An object deleted before its scan must read as 404 (skipped), not 403 (retried, then dead-lettered):
        # S3 answers 404 only to callers holding ListBucket, which HEAD evaluates without any s3:prefix.
        _allow("ListUploads", ["s3:ListBucket"], upload_buckets),
    ]
    if action in (InfectedAction.QUARANTINE, InfectedAction.DELETE):
        statements.append(_allow("DeleteInfectedUploads", DELETE_OBJECTS, upload_objects))
    if action is InfectedAction.QUARANTINE:
        if not quarantine_bucket:
            raise ValueError("action quarantine needs the quarantine bucket")
        statements.append(_allow("WriteQuarantine", QUARANTINE_WRITE, [objects_arn(partition, quarantine_bucket)]))
        # Before copying, the scanner HEADs the target: without ListBucket S3 answers 403, not 404, for a new key.
        statements.append(_allow("ListQuarantine", ["s3:ListBucket"], [bucket_arn(partition, quarantine_bucket)]))
    if definitions_bucket:
        statements.append(_allow("ReadDefinitions", READ_DEFINITIONS, [objects_arn(partition, definitions_bucket)]))
        # A manifest not yet published must read as 404 (not 403): that needs ListBucket.
        statements.append(_allow("ListDefinitions", ["s3:ListBucket"], [bucket_arn(partition, definitions_bucket)]))
    statements += [
        _allow("PublishFindings", ["sns:Publish"], [findings_topic_arn]),
        # Publishing to a topic encrypted with a customer key needs that key, through SNS only.
        _allow("EncryptFindings", KMS_USE, [findings_key_arn], _via(f"sns.{region}.amazonaws.com")),
        # Lambda sends failed async events to the on-failure destination with this role.
        _allow("SendToDeadLetterQueue", ["sqs:SendMessage"], [dead_letter_queue_arn]),
        _allow("WriteOwnLogs", LOG_WRITES, [f"{log_group_arn}:*"]),
    ]
    if kms_key_arns:
        statements.append(_allow("UseUploadKeys", KMS_USE, list(kms_key_arns), _via(f"s3.{region}.amazonaws.com")))
    return {"Version": VERSION, "Statement": statements}


def updater_policy(*, partition: str, definitions_bucket: str, log_group_arn: str) -> Policy:
    """Inline policy of the definitions updater: publish to its bucket, read its manifest, write its logs."""
    objects = [objects_arn(partition, definitions_bucket)]
    return {
        "Version": VERSION,
        "Statement": [
            _allow("PublishDefinitions", ["s3:PutObject"], objects),
            # The manifest, and the published files it pins by version id (the updater seeds from them).
            _allow("ReadPublished", READ_DEFINITIONS, objects),
            _allow("ListDefinitions", ["s3:ListBucket"], [bucket_arn(partition, definitions_bucket)]),
            _allow("WriteOwnLogs", LOG_WRITES, [f"{log_group_arn}:*"]),
        ],
    }


def quarantine_bucket_policy(*, partition: str, bucket: str, writer_arns: Sequence[str]) -> Policy:
    """TLS only; nobody but the writers (the scanner role, admins) may write, tag or delete quarantined objects."""
    return {
        "Version": VERSION,
        "Statement": [
            _deny_insecure_transport(partition, bucket),
            _deny_unless_principal(
                "DenyWritesExceptScanner",
                (*OBJECT_WRITES, *DELETE_OBJECTS),
                [objects_arn(partition, bucket)],
                writer_arns,
            ),
        ],
    }


def definitions_bucket_policy(*, partition: str, bucket: str, writer_arns: Sequence[str]) -> Policy:
    """TLS only; nobody but the updater role (and admins) may publish definitions."""
    return {
        "Version": VERSION,
        "Statement": [
            _deny_insecure_transport(partition, bucket),
            _deny_unless_principal(
                "DenyWritesExceptUpdater", OBJECT_WRITES, [objects_arn(partition, bucket)], writer_arns
            ),
        ],
    }


def upload_bucket_policy(
    *,
    partition: str,
    upload: UploadBucket,
    exempt_arns: Sequence[str],
    enforce_tls: bool,
    block_unscanned: bool,
) -> Policy:
    """Policy of an upload bucket: TLS only (managed bucket) and/or no downloads of objects not tagged CLEAN.

    The download block covers exactly the scanned keys (prefix and suffix): keys outside them are never tagged.
    """
    statements: list[Statement] = []
    if enforce_tls:
        statements.append(_deny_insecure_transport(partition, upload.name))
    if block_unscanned:
        statement = _deny_unless_principal(
            "DenyUnscannedDownloads",
            ("s3:GetObject", "s3:GetObjectVersion"),
            [objects_arn(partition, upload.name, upload.prefix, upload.suffix)],
            exempt_arns,
        )
        # A negated operator with a list means "none of these": CLEAN objects and released false positives download.
        statement["Condition"]["StringNotEquals"] = {
            f"s3:ExistingObjectTag/{constants.TAG_STATUS}": list(constants.DOWNLOADABLE_STATUSES)
        }
        statements.append(statement)
        statements.append(_deny_forged_scan_tags(partition, upload, exempt_arns))
    if not statements:
        raise ValueError("an upload bucket policy needs TLS enforcement or the download block")
    return {"Version": VERSION, "Statement": statements}


def findings_key_policy(*, partition: str, account_id: str) -> Policy:
    """Key policy of the findings topic's key: IAM decides for the account; CloudWatch may encrypt alarm messages.

    CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key, hence a customer key.
    """
    return {
        "Version": VERSION,
        "Statement": [
            {
                # The default key policy statement: delegate to IAM policies of this account.
                "Sid": "AccountIamPolicies",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",  # required: in a key policy "*" is this key
            },
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",  # required: in a key policy "*" is this key
            },
        ],
    }


def ecr_lifecycle_policy(keep_images: int) -> dict[str, Any]:
    """ECR lifecycle policy expiring all but the newest ``keep_images`` images."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Keep the last {keep_images} images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_images},
                "action": {"type": "expire"},
            }
        ]
    }


def _allow(sid: str, actions: Sequence[str], resources: Sequence[str], condition: Statement | None = None) -> Statement:
    statement: Statement = {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}
    if condition:
        statement["Condition"] = condition
    return statement


def _via(service_host: str) -> Statement:
    return {"StringEquals": {"kms:ViaService": service_host}}


def _deny_insecure_transport(partition: str, bucket: str) -> Statement:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",  # a deny of every S3 action, for any caller, over plain HTTP
        "Resource": [bucket_arn(partition, bucket), objects_arn(partition, bucket)],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _deny_forged_scan_tags(partition: str, upload: UploadBucket, exempt_arns: Sequence[str]) -> Statement:
    """Uploaders may not write scan-* tags: a forged scan-status=CLEAN would open the download block."""
    statement = _deny_unless_principal(
        "DenyForgedScanTags",
        ("s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
        [objects_arn(partition, upload.name)],
        exempt_arns,
    )
    statement["Condition"]["ForAnyValue:StringLike"] = {"s3:RequestObjectTagKeys": ["scan-*"]}
    return statement


def _deny_unless_principal(
    sid: str, actions: Sequence[str], resources: Sequence[str], principal_arns: Sequence[str]
) -> Statement:
    if not principal_arns:
        raise ValueError(f"{sid}: at least one exempt principal is required")
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": list(actions),
        "Resource": list(resources),
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": list(principal_arns)}},
    }
