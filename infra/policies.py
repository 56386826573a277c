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
# Quarantined malware and the original (possibly sensitive) content: nobody but the scanner and admins reads it.
OBJECT_READS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectAttributes",
    "s3:GetObjectVersionAttributes",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectTorrent",
    "s3:GetObjectVersionTorrent",
    "s3:RestoreObject",
)
KMS_USE = ("kms:Decrypt", "kms:GenerateDataKey")
QUEUE_CONSUME = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes")
LOG_WRITES = ("logs:CreateLogStream", "logs:PutLogEvents")
# The scanner looks a released SHA-256 up; `scanner quarantine release` (an admin role) writes it.
ALLOW_LIST_READS = ("dynamodb:GetItem", "dynamodb:Query")
# Every way to write an item, PartiQL included (TransactWriteItems is authorised as the Put/Update/Delete inside it).
ALLOW_LIST_WRITES = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
)


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
    "quarantine_key_policy": (
        LintWaiver("RESOURCE_STAR", "in a key policy, Resource '*' means 'this key'; AWS accepts nothing else"),
    ),
    "deployer_policy": (
        LintWaiver(
            "RESOURCE_POLICY_PRIVILEGE_ESCALATION",
            "writing the policies and lifecycle of the stack's buckets is the deployer's job; the quarantine "
            "policy it writes denies everyone, the deployer included, the objects",
        ),
    ),
    "ecr_repository_policy": (
        LintWaiver("MALFORMED", "a repository policy has no Resource element: the repository it is set on is it"),
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
    allow_list_table_arn: str | None = None,
    quarantine_key_arn: str | None = None,
    scan_queue_arn: str | None = None,
    result_event_bus_arn: str | None = None,
    security_hub_product_arn: str | None = None,
) -> Policy:
    """Inline policy of the scanner: exactly what scanning, tagging and the configured action need.

    S3 calls and the actions they need: GetObject/HeadObject (``ChecksumMode=ENABLED`` too) -> s3:GetObject(Version);
    the conditional ``DeleteObject`` with ``If-Match`` -> s3:DeleteObject(Version) and s3:GetObject; ``CopyObject``
    into quarantine (``ChecksumAlgorithm=SHA256``, tags copied or replaced) -> s3:GetObject(Version) and
    s3:GetObject(Version)Tagging on the source, s3:PutObject and s3:PutObjectTagging on the target; provenance
    records under ``_records/`` -> s3:PutObject / s3:GetObject on the quarantine bucket.
    """
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
        if not allow_list_table_arn:
            raise ValueError("action quarantine needs the allow-list table")
        statements.append(_allow("ReadAllowList", ALLOW_LIST_READS, [allow_list_table_arn]))
        if quarantine_key_arn:
            # CopyObject into an SSE-KMS bucket needs GenerateDataKey; reading a copy, a record or (with
            # ChecksumMode) its checksum needs Decrypt. Through S3 only.
            statements.append(
                _allow("UseQuarantineKey", KMS_USE, [quarantine_key_arn], _via(f"s3.{region}.amazonaws.com"))
            )
            # The allow-list table is encrypted with the same key: reading items decrypts through DynamoDB.
            statements.append(
                _allow(
                    "ReadAllowListKey", ["kms:Decrypt"], [quarantine_key_arn], _via(f"dynamodb.{region}.amazonaws.com")
                )
            )
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
    if scan_queue_arn:
        # The event source mapping polls with the function's role.
        statements.append(_allow("ConsumeScanQueue", QUEUE_CONSUME, [scan_queue_arn]))
    if result_event_bus_arn:
        statements.append(_allow("PutResultEvents", ["events:PutEvents"], [result_event_bus_arn]))
    if security_hub_product_arn:
        statements.append(_allow("ImportFindings", ["securityhub:BatchImportFindings"], [security_hub_product_arn]))
    return {"Version": VERSION, "Statement": statements}


def updater_policy(
    *,
    partition: str,
    definitions_bucket: str,
    log_group_arn: str,
    region: str | None = None,
    findings_topic_arn: str | None = None,
    findings_key_arn: str | None = None,
) -> Policy:
    """Inline policy of the definitions updater: publish to its bucket, read its manifest and the security team's
    files, write its logs; publish a finding naming a rejected signature file."""
    objects = [objects_arn(partition, definitions_bucket)]
    statements = [
        _allow("PublishDefinitions", ["s3:PutObject"], objects),
        # The manifest, the published files it pins by version id (the updater seeds from them), custom/ files.
        _allow("ReadPublished", READ_DEFINITIONS, objects),
        _allow("ListDefinitions", ["s3:ListBucket"], [bucket_arn(partition, definitions_bucket)]),
        _allow("WriteOwnLogs", LOG_WRITES, [f"{log_group_arn}:*"]),
    ]
    if findings_topic_arn and findings_key_arn and region:
        statements += [
            _allow("PublishFindings", ["sns:Publish"], [findings_topic_arn]),
            _allow("EncryptFindings", KMS_USE, [findings_key_arn], _via(f"sns.{region}.amazonaws.com")),
        ]
    return {"Version": VERSION, "Statement": statements}


def rescan_policy(
    *,
    partition: str,
    uploads: Sequence[UploadBucket],
    scan_queue_arn: str,
    log_group_arn: str,
) -> Policy:
    """Inline policy of the scheduled rescan: list the scanned keys, send S3-shaped events to the scan queue."""
    statements: list[Statement] = []
    for index, upload in enumerate(uploads):
        listing = _allow(f"ListScanned{index}", ["s3:ListBucket"], [bucket_arn(partition, upload.name)])
        if upload.prefix:
            listing["Condition"] = {"StringLike": {"s3:prefix": [f"{upload.prefix}*"]}}
        statements.append(listing)
    statements += [
        _allow("SubmitToScanQueue", ["sqs:SendMessage"], [scan_queue_arn]),
        _allow("WriteOwnLogs", LOG_WRITES, [f"{log_group_arn}:*"]),
    ]
    return {"Version": VERSION, "Statement": statements}


def scan_queue_policy(
    *,
    queue_arn: str,
    account_id: str,
    bucket_arns: Sequence[str] = (),
    rule_arns: Sequence[str] = (),
) -> Policy:
    """Who may send to the scan queue: S3 for exactly these buckets of this account, EventBridge for exactly these
    rules (confused-deputy conditions on both); nobody over plain HTTP."""
    statements: list[Policy] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": queue_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if bucket_arns:
        statements.append(
            {
                "Sid": "S3NotificationsOfTheScannedBuckets",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {
                    "ArnLike": {"aws:SourceArn": list(bucket_arns)},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            }
        )
    if rule_arns:
        statements.append(
            {
                "Sid": "EventBridgeRulesOfTheScannedBuckets",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": list(rule_arns)}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def batch_operations_trust_policy(*, account_id: str) -> Policy:
    """Trust policy of the S3 Batch Operations job role: assumable by Batch Operations for this account's jobs."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "BatchOperationsAssumesRole",
                "Effect": "Allow",
                "Principal": {"Service": "batchoperations.s3.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def batch_operations_policy(
    *, partition: str, function_arn: str, uploads: Sequence[UploadBucket], report_bucket: str
) -> Policy:
    """What a Batch Operations job that invokes the scanner needs: the function, the manifests (an S3 Inventory's or
    a generated one), listing the scanned buckets for generated manifests, writing its report."""
    upload_buckets = list(dict.fromkeys(bucket_arn(partition, u.name) for u in uploads))
    return {
        "Version": VERSION,
        "Statement": [
            _allow("InvokeScanner", ["lambda:InvokeFunction"], [function_arn, f"{function_arn}:*"]),
            _allow("ListForGeneratedManifests", ["s3:ListBucket"], upload_buckets),
            _allow(
                "ReadManifests",
                ["s3:GetObject", "s3:GetObjectVersion"],
                [objects_arn(partition, u.name) for u in uploads] + [objects_arn(partition, report_bucket)],
            ),
            _allow(
                "WriteReportsAndGeneratedManifests",
                ["s3:PutObject"],
                [objects_arn(partition, report_bucket)],
            ),
        ],
    }


def quarantine_bucket_policy(*, partition: str, bucket: str, writer_arns: Sequence[str]) -> Policy:
    """TLS only; nobody but the writers (the scanner role, admins) may read, write, tag or delete quarantined objects.

    The read deny overrides any identity policy of the account (``ReadOnlyAccess`` grants s3:GetObject on ``*``).
    Listing stays with IAM: Pulumi reads the bucket with HeadBucket, which S3 authorises as s3:ListBucket.
    """
    objects = [objects_arn(partition, bucket)]
    return {
        "Version": VERSION,
        "Statement": [
            _deny_insecure_transport(partition, bucket),
            _deny_unless_principal("DenyWritesExceptScanner", (*OBJECT_WRITES, *DELETE_OBJECTS), objects, writer_arns),
            _deny_unless_principal("DenyReadsExceptScanner", OBJECT_READS, objects, writer_arns),
        ],
    }


def definitions_bucket_policy(
    *, partition: str, bucket: str, writer_arns: Sequence[str], admin_arns: Sequence[str] = ()
) -> Policy:
    """TLS only; nobody but the updater role (and admins) may publish or delete definitions; nobody but the admins
    may write or delete the security team's own signatures under ``custom/`` (the updater only reads them: deleting
    a file removes detections).

    ``force_destroy`` still empties the bucket on ``pulumi destroy``: the policy depends on the bucket, so the engine
    deletes it first.
    """
    statements = [
        _deny_insecure_transport(partition, bucket),
        _deny_unless_principal(
            "DenyWritesExceptUpdater",
            (*OBJECT_WRITES, *DELETE_OBJECTS),
            [objects_arn(partition, bucket)],
            writer_arns,
        ),
    ]
    custom = [objects_arn(partition, bucket, prefix) for prefix in constants.DEFAULT_CUSTOM_SIGNATURES_PREFIXES]
    if admin_arns:
        statements.append(
            _deny_unless_principal(
                "DenyCustomSignatureWritesExceptAdmins", (*OBJECT_WRITES, *DELETE_OBJECTS), custom, admin_arns
            )
        )
    else:
        statements.append(
            {
                "Sid": "DenyCustomSignatureWrites",
                "Effect": "Deny",
                "Principal": "*",
                "Action": [*OBJECT_WRITES, *DELETE_OBJECTS],
                "Resource": custom,
            }
        )
    return {"Version": VERSION, "Statement": statements}


def upload_bucket_policy(
    *,
    partition: str,
    upload: UploadBucket,
    exempt_arns: Sequence[str],
    enforce_tls: bool,
    block_unscanned: bool,
    guardduty_tag: bool = False,
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
        statements += upload_tag_integrity_statements(partition, upload.name, exempt_arns, guardduty_tag=guardduty_tag)
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
            _account_iam_policies(partition, account_id),
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",  # required: in a key policy "*" is this key
                # Confused-deputy protection: only on behalf of this account's alarms.
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
        ],
    }


def quarantine_key_policy(*, partition: str, account_id: str) -> Policy:
    """Key policy of the quarantine key: IAM policies of the account decide (the scanner's grant goes through S3 and
    DynamoDB only); no service principal is named."""
    return {"Version": VERSION, "Statement": [_account_iam_policies(partition, account_id)]}


def allow_list_table_policy(*, table_arn: str, admin_arns: Sequence[str]) -> Policy:
    """Resource policy of the allow-list table: no principal but the admin roles writes an item.

    Without admin roles nobody does (no release is possible until ``adminRoleArns`` names one).
    """
    statement: Statement = {
        "Sid": "DenyWritesExceptAdmins",
        "Effect": "Deny",
        "Principal": "*",
        "Action": list(ALLOW_LIST_WRITES),
        "Resource": [table_arn],
    }
    if admin_arns:
        statement["Condition"] = {"ArnNotEquals": {"aws:PrincipalArn": list(admin_arns)}}
    return {"Version": VERSION, "Statement": [statement]}


def ecr_repository_policy(*, partition: str, region: str, account_id: str) -> Policy:
    """Repository policy letting Lambda pull the image for this account's functions only.

    Without it CreateFunction would add an equivalent statement itself (needing ecr:SetRepositoryPolicy, and
    leaving a change Pulumi does not track).
    """
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "LambdaECRImageRetrievalPolicy",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                "Condition": {
                    "StringLike": {"aws:sourceArn": f"arn:{partition}:lambda:{region}:{account_id}:function:*"}
                },
            }
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


def _account_iam_policies(partition: str, account_id: str) -> Statement:
    """The default key policy statement: IAM policies of this account decide who uses the key."""
    return {
        "Sid": "AccountIamPolicies",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
        "Action": "kms:*",
        "Resource": "*",  # required: in a key policy "*" is this key
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


def upload_tag_integrity_statements(
    partition: str, bucket: str, exempt_arns: Sequence[str], *, guardduty_tag: bool = False
) -> list[Statement]:
    """The statements that keep uploaders from landing an object already carrying a scan verdict.

    - DenyForgedScanTags: no ``scan-*`` key in a request's tags (PutObject and CreateMultipartUpload with
      ``x-amz-tagging``, which S3 authorises as s3:PutObject, POST uploads, PutObjectTagging).
    - DenyForeignCopies: CopyObject's default ``TaggingDirective=COPY`` brings the source's tags with none in the
      request, so no copy (CopyObject, UploadPartCopy) from outside this bucket. A copy inside the bucket carries only
      tags the scanner wrote on content it scanned. ``Null`` makes the statement apply to copies only.
    - DenyReplicatedTags: replication writes the source object's tags (s3:ReplicateTags) without a request tag.
    The scanner and admin roles are exempt (releases copy back from quarantine).
    """
    forged = _deny_unless_principal(
        "DenyForgedScanTags",
        ("s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
        [objects_arn(partition, bucket)],
        exempt_arns,
    )
    # With guardDutyStatusTag the scanner owns GuardDuty's tag too.
    owned = ["scan-*", *([constants.TAG_GUARDDUTY_STATUS] if guardduty_tag else [])]
    forged["Condition"]["ForAnyValue:StringLike"] = {"s3:RequestObjectTagKeys": owned}
    copies = _deny_unless_principal(
        "DenyForeignCopies", ("s3:PutObject",), [objects_arn(partition, bucket)], exempt_arns
    )
    copies["Condition"]["Null"] = {"s3:x-amz-copy-source": "false"}
    # The header is "<bucket>/<key>", URL-encoded, with or without a leading slash.
    copies["Condition"]["StringNotLike"] = {"s3:x-amz-copy-source": [f"{bucket}/*", f"/{bucket}/*"]}
    replicated = _deny_unless_principal(
        "DenyReplicatedTags", ("s3:ReplicateTags",), [objects_arn(partition, bucket)], exempt_arns
    )
    return [forged, copies, replicated]


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


# --- The deployer ------------------------------------------------------------------------------------------------
# What `pulumi up`, `refresh` and `destroy` call, per resource the program registers (the provider's create, read,
# update and delete of each, and the image push). Names are Pulumi's auto-names: "<logical name>-<7 hex>".
DEPLOYED_BUCKETS = (
    "quarantine-bucket-*",
    "uploads-managed-bucket-*",
    "definitions-store-bucket-*",
    "batch-operations-reports-bucket-*",
)
DEPLOYED_ROLES = ("scanner-role-*", "definitions-updater-role-*", "rescan-role-*", "batch-operations-role-*")
DEPLOYED_FUNCTIONS = ("scanner-function-*", "definitions-updater-function-*", "rescan-function-*")
DEPLOYED_QUEUES = ("scanner-dlq-*", "scan-queue-*", "scan-dlq-*")
DEPLOYED_TOPICS = ("findings-topic-*",)
DEPLOYED_ALARMS = ("alarms-*", "scan-age-*")
DEPLOYED_RULES = ("definitions-schedule-*", "queue-triggers-*", "rescan-on-publish-*")
DEPLOYED_REPOSITORIES = ("scanner-image-repository-*",)
DEPLOYED_TABLES = ("quarantine-allow-list-*",)
DEPLOYED_LOG_GROUPS = ("/aws/lambda/s3-clamav-scanner-*",)
PROGRAM_TAG = ("app", "s3-clamav-scanner")
"""The tag every resource carries (config refuses to override it): KMS keys are named by it, having no name."""

DEPLOYER_BUCKET_ACTIONS = (
    "s3:CreateBucket",
    "s3:DeleteBucket",
    "s3:ListBucket",  # HeadBucket
    "s3:ListBucketVersions",  # force_destroy of the definitions bucket
    "s3:GetBucketLocation",
    "s3:GetBucketAcl",
    "s3:GetBucketCORS",
    "s3:GetBucketWebsite",
    "s3:GetBucketLogging",
    "s3:GetBucketRequestPayment",
    "s3:GetAccelerateConfiguration",
    "s3:GetReplicationConfiguration",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketTagging",
    "s3:PutBucketTagging",
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:GetBucketOwnershipControls",
    "s3:PutBucketOwnershipControls",
    "s3:GetBucketPublicAccessBlock",
    "s3:PutBucketPublicAccessBlock",
    "s3:GetEncryptionConfiguration",
    "s3:PutEncryptionConfiguration",
    "s3:GetBucketVersioning",
    "s3:PutBucketVersioning",
    "s3:GetLifecycleConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:GetBucketNotification",
    "s3:PutBucketNotification",
)
DEPLOYER_ATTACHED_BUCKET_ACTIONS = (
    "s3:GetBucketNotification",
    "s3:PutBucketNotification",
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
)
DEPLOYER_ROLE_ACTIONS = (
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:GetRole",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:UpdateAssumeRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
)
DEPLOYER_FUNCTION_ACTIONS = (
    "lambda:CreateFunction",
    "lambda:DeleteFunction",
    "lambda:GetFunction",
    "lambda:GetFunctionConfiguration",
    "lambda:GetFunctionCodeSigningConfig",
    "lambda:GetRuntimeManagementConfig",
    "lambda:ListVersionsByFunction",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:PutFunctionConcurrency",
    "lambda:DeleteFunctionConcurrency",
    "lambda:GetFunctionConcurrency",
    "lambda:TagResource",
    "lambda:UntagResource",
    "lambda:ListTags",
    "lambda:AddPermission",
    "lambda:RemovePermission",
    "lambda:GetPolicy",
    "lambda:PutFunctionEventInvokeConfig",
    "lambda:UpdateFunctionEventInvokeConfig",
    "lambda:GetFunctionEventInvokeConfig",
    "lambda:DeleteFunctionEventInvokeConfig",
)
DEPLOYER_MAPPING_ACTIONS = (
    "lambda:GetEventSourceMapping",
    "lambda:UpdateEventSourceMapping",
    "lambda:DeleteEventSourceMapping",
)
DEPLOYER_QUEUE_ACTIONS = (
    "sqs:CreateQueue",
    "sqs:DeleteQueue",
    "sqs:GetQueueAttributes",
    "sqs:SetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:TagQueue",
    "sqs:UntagQueue",
    "sqs:ListQueueTags",
)
DEPLOYER_TOPIC_ACTIONS = (
    "sns:CreateTopic",
    "sns:DeleteTopic",
    "sns:GetTopicAttributes",
    "sns:SetTopicAttributes",
    "sns:TagResource",
    "sns:UntagResource",
    "sns:ListTagsForResource",
    "sns:Subscribe",
)
DEPLOYER_SUBSCRIPTION_ACTIONS = ("sns:Unsubscribe", "sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes")
DEPLOYER_KEY_ACTIONS = (
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:ListResourceTags",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
)
DEPLOYER_LOG_GROUP_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:DeleteLogGroup",
    "logs:PutRetentionPolicy",
    "logs:DeleteRetentionPolicy",
    "logs:TagResource",
    "logs:UntagResource",
    "logs:ListTagsForResource",
    "logs:TagLogGroup",
    "logs:ListTagsLogGroup",
)
DEPLOYER_ALARM_ACTIONS = (
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DeleteAlarms",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:TagResource",
    "cloudwatch:UntagResource",
    "cloudwatch:ListTagsForResource",
)
DEPLOYER_RULE_ACTIONS = (
    "events:PutRule",
    "events:DeleteRule",
    "events:DescribeRule",
    "events:PutTargets",
    "events:RemoveTargets",
    "events:ListTargetsByRule",
    "events:TagResource",
    "events:UntagResource",
    "events:ListTagsForResource",
)
DEPLOYER_REPOSITORY_ACTIONS = (
    "ecr:CreateRepository",
    "ecr:DeleteRepository",
    "ecr:DescribeRepositories",
    "ecr:ListTagsForResource",
    "ecr:TagResource",
    "ecr:UntagResource",
    "ecr:PutImageScanningConfiguration",
    "ecr:PutImageTagMutability",
    "ecr:GetLifecyclePolicy",
    "ecr:PutLifecyclePolicy",
    "ecr:DeleteLifecyclePolicy",
    "ecr:GetRepositoryPolicy",
    "ecr:SetRepositoryPolicy",
    "ecr:DeleteRepositoryPolicy",
    # The image push (buildx) and Lambda's check of the image at CreateFunction/UpdateFunctionCode.
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:DescribeImages",
    "ecr:ListImages",
    "ecr:BatchDeleteImage",  # force_delete
)
# The allow-list table is retained on delete and protected from deletion: no DeleteTable.
DEPLOYER_TABLE_ACTIONS = (
    "dynamodb:CreateTable",
    "dynamodb:DescribeTable",
    "dynamodb:UpdateTable",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:TagResource",
    "dynamodb:UntagResource",
    "dynamodb:ListTagsOfResource",
    "dynamodb:GetResourcePolicy",
    "dynamodb:PutResourcePolicy",
    "dynamodb:DeleteResourcePolicy",
)


def deployer_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    attached_buckets: Sequence[str] = (),
    quarantine_bucket_name: str | None = None,
) -> Policy:
    """Least-privilege identity policy of the principal that runs ``pulumi up``/``destroy`` for one stack.

    Resources are named by Pulumi's auto-names (or the configured quarantine bucket name); KMS keys, which have no
    name, by the ``app`` tag. ``iam:PassRole`` hands the two execution roles to Lambda only.
    """
    arn = f"arn:{partition}"

    def here(service: str, resource: str, names: Sequence[str]) -> list[str]:
        """ARNs of this account and region: ``resource`` is the type part ("function:", "table/")."""
        return [f"{arn}:{service}:{region}:{account_id}:{resource}{n}" for n in names]

    names = [*DEPLOYED_BUCKETS, *([quarantine_bucket_name] if quarantine_bucket_name else [])]
    buckets = [bucket_arn(partition, b) for b in names]
    roles = [f"{arn}:iam::{account_id}:role/{r}" for r in DEPLOYED_ROLES]
    keys = here("kms", "key/", ["*"])
    # (Sid, actions, (service, resource type, auto-names)) of the resources named by this account and region.
    regional: list[tuple[str, Sequence[str], tuple[str, str, Sequence[str]]]] = [
        ("ManageFunctions", DEPLOYER_FUNCTION_ACTIONS, ("lambda", "function:", DEPLOYED_FUNCTIONS)),
        ("ManageQueues", DEPLOYER_QUEUE_ACTIONS, ("sqs", "", DEPLOYED_QUEUES)),
        ("ManageTopics", DEPLOYER_TOPIC_ACTIONS, ("sns", "", DEPLOYED_TOPICS)),
        ("ManageLogGroups", DEPLOYER_LOG_GROUP_ACTIONS, ("logs", "log-group:", DEPLOYED_LOG_GROUPS)),
        ("ManageAlarms", DEPLOYER_ALARM_ACTIONS, ("cloudwatch", "alarm:", DEPLOYED_ALARMS)),
        ("ManageSchedules", DEPLOYER_RULE_ACTIONS, ("events", "rule/", DEPLOYED_RULES)),
        # The image push (buildx) too.
        ("ManageRepositoryAndPushImages", DEPLOYER_REPOSITORY_ACTIONS, ("ecr", "repository/", DEPLOYED_REPOSITORIES)),
        ("ManageAllowListTable", DEPLOYER_TABLE_ACTIONS, ("dynamodb", "table/", DEPLOYED_TABLES)),
    ]
    tagged = {"StringEquals": {f"aws:ResourceTag/{PROGRAM_TAG[0]}": PROGRAM_TAG[1]}}
    statements: list[Statement] = [
        _allow("ManageBuckets", DEPLOYER_BUCKET_ACTIONS, buckets),
        # force_destroy empties the definitions bucket (its content is fetched again by the next run).
        _allow(
            "EmptyDefinitionsBucket",
            DELETE_OBJECTS,
            [objects_arn(partition, b) for b in DEPLOYED_BUCKETS if b.startswith("definitions")],
        ),
    ]
    if attached_buckets:
        statements.append(
            _allow(
                "AttachBuckets",
                DEPLOYER_ATTACHED_BUCKET_ACTIONS,
                list(dict.fromkeys(bucket_arn(partition, b) for b in attached_buckets)),
            )
        )
    statements += [
        _allow("ManageRoles", DEPLOYER_ROLE_ACTIONS, roles),
        _allow(
            "PassRolesToLambda",
            ["iam:PassRole"],
            roles,
            {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
        ),
        *[_allow(sid, actions, here(*where)) for sid, actions, where in regional],
        # The scan queue's event source mapping, for the scanner function only: Lambda authorises its creation on
        # "*" (the mapping has no ARN yet), the rest on the mapping.
        _allow(
            "CreateEventSourceMappings",
            ["lambda:CreateEventSourceMapping"],
            ["*"],
            {"ArnLike": {"lambda:FunctionArn": here("lambda", "function:", ["scanner-function-*"])}},
        ),
        _allow(
            "ManageEventSourceMappings",
            DEPLOYER_MAPPING_ACTIONS,
            here("lambda", "event-source-mapping:", ["*"]),
            {"ArnLike": {"lambda:FunctionArn": here("lambda", "function:", ["scanner-function-*"])}},
        ),
        # The Batch Operations role is handed to S3 by `scanner scan --batch-operations`, not by the deploy.
        # The e-mail subscription (findingsEmail): SNS authorises these on no resource type, so "*".
        _allow("ManageSubscriptions", DEPLOYER_SUBSCRIPTION_ACTIONS, ["*"]),
        # CreateKey has no key to name yet: the request must carry the program's tag.
        _allow(
            "CreateKeys",
            ["kms:CreateKey"],
            ["*"],
            {"StringEquals": {f"aws:RequestTag/{PROGRAM_TAG[0]}": PROGRAM_TAG[1]}},
        ),
        _allow("ManageKeys", DEPLOYER_KEY_ACTIONS, keys, tagged),
        # A table encrypted with the quarantine key: DynamoDB creates its grant with the deployer's permissions.
        _allow(
            "TableKeyGrants",
            ["kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey"],
            keys,
            {"StringEquals": {**tagged["StringEquals"], "kms:ViaService": f"dynamodb.{region}.amazonaws.com"}},
        ),
        # DescribeLogGroups (the provider's read, by name prefix) is authorised on no resource type, so "*".
        _allow("DescribeLogGroups", ["logs:DescribeLogGroups"], ["*"]),
        # An ECR token is account-wide: no resource to name.
        _allow("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
    ]
    return {"Version": VERSION, "Statement": statements}
