"""The pure policy functions: exact statements for each action, and parliament finds nothing unwaived."""

from __future__ import annotations

from typing import Any

import pytest

from infra import policies
from infra.config import InfectedAction, UploadBucket
from tests.infra.lint import findings, waivers_for

ACCOUNT = "123456789012"
TOPIC = f"arn:aws:sns:eu-west-1:{ACCOUNT}:findings"
TOPIC_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/topic-key"
DLQ = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:scanner-dlq"
LOGS = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/scanner"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/scanner"
TABLE = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/allow-list"
UPLOADS = (UploadBucket("corp-uploads", "incoming/"), UploadBucket("partner-drop", None, ".zip"))


def scanner_policy(action: InfectedAction, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "partition": "aws",
        "region": "eu-west-1",
        "uploads": UPLOADS,
        "action": action,
        "quarantine_bucket": "quarantine" if action is InfectedAction.QUARANTINE else None,
        "allow_list_table_arn": TABLE if action is InfectedAction.QUARANTINE else None,
        "findings_topic_arn": TOPIC,
        "findings_key_arn": TOPIC_KEY,
        "dead_letter_queue_arn": DLQ,
        "log_group_arn": LOGS,
    }
    return policies.scanner_policy(**{**arguments, **overrides})


def by_sid(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy["Statement"]}


@pytest.mark.parametrize(
    ("action", "deletes", "quarantine"),
    [(InfectedAction.TAG, False, False), (InfectedAction.DELETE, True, False), (InfectedAction.QUARANTINE, True, True)],
)
def test_scanner_policy_per_action(action: InfectedAction, deletes: bool, quarantine: bool) -> None:
    statements = by_sid(scanner_policy(action))
    upload_objects = ["arn:aws:s3:::corp-uploads/incoming/*", "arn:aws:s3:::partner-drop/*"]
    assert statements["ReadAndTagUploads"]["Action"] == [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectTagging",
        "s3:GetObjectVersionTagging",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
    ]
    assert statements["ReadAndTagUploads"]["Resource"] == upload_objects
    assert statements["ListUploads"]["Action"] == ["s3:ListBucket"]
    assert statements["ListUploads"]["Resource"] == ["arn:aws:s3:::corp-uploads", "arn:aws:s3:::partner-drop"]
    assert ("DeleteInfectedUploads" in statements) is deletes
    if deletes:
        assert statements["DeleteInfectedUploads"]["Action"] == ["s3:DeleteObject", "s3:DeleteObjectVersion"]
        assert statements["DeleteInfectedUploads"]["Resource"] == upload_objects
    assert ("WriteQuarantine" in statements) is quarantine
    assert ("ListQuarantine" in statements) is quarantine
    if quarantine:
        assert statements["WriteQuarantine"]["Action"] == [
            "s3:PutObject",
            "s3:PutObjectTagging",
            "s3:PutObjectVersionTagging",
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:GetObjectTagging",
        ]
        assert statements["WriteQuarantine"]["Resource"] == ["arn:aws:s3:::quarantine/*"]
        assert statements["ListQuarantine"]["Action"] == ["s3:ListBucket"]
        assert statements["ListQuarantine"]["Resource"] == ["arn:aws:s3:::quarantine"]
    assert statements["PublishFindings"] == {
        "Sid": "PublishFindings",
        "Effect": "Allow",
        "Action": ["sns:Publish"],
        "Resource": [TOPIC],
    }
    assert statements["EncryptFindings"]["Resource"] == [TOPIC_KEY]
    assert statements["EncryptFindings"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "sns.eu-west-1.amazonaws.com"}
    }
    assert statements["SendToDeadLetterQueue"]["Action"] == ["sqs:SendMessage"]
    assert statements["SendToDeadLetterQueue"]["Resource"] == [DLQ]
    assert statements["WriteOwnLogs"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statements["WriteOwnLogs"]["Resource"] == [f"{LOGS}:*"]
    assert "UseUploadKeys" not in statements
    assert "ReadDefinitions" not in statements


def test_scanner_policy_kms_keys_only_through_s3() -> None:
    keys = [f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/a", f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/b"]
    statement = by_sid(scanner_policy(InfectedAction.TAG, kms_key_arns=keys))["UseUploadKeys"]
    assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Resource"] == keys
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}


def test_scanner_policy_reads_definitions() -> None:
    statements = by_sid(scanner_policy(InfectedAction.TAG, definitions_bucket="defs"))
    assert statements["ReadDefinitions"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert statements["ReadDefinitions"]["Resource"] == ["arn:aws:s3:::defs/*"]
    assert statements["ListDefinitions"]["Action"] == ["s3:ListBucket"]
    assert statements["ListDefinitions"]["Resource"] == ["arn:aws:s3:::defs"]


def test_quarantine_without_bucket_is_refused() -> None:
    with pytest.raises(ValueError, match="quarantine bucket"):
        scanner_policy(InfectedAction.QUARANTINE, quarantine_bucket=None)


def test_quarantine_without_allow_list_is_refused() -> None:
    with pytest.raises(ValueError, match="allow-list table"):
        scanner_policy(InfectedAction.QUARANTINE, allow_list_table_arn=None)


def test_download_block_covers_exactly_the_scanned_keys() -> None:
    policy = policies.upload_bucket_policy(
        partition="aws",
        upload=UploadBucket("partner-drop", "inbound/", ".zip"),
        exempt_arns=[ROLE],
        enforce_tls=False,
        block_unscanned=True,
    )
    statement, forged_tags, _copies, _replicated = policy["Statement"]
    assert forged_tags == {
        "Sid": "DenyForgedScanTags",
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"],
        "Resource": ["arn:aws:s3:::partner-drop/*"],
        "Condition": {
            "ArnNotEquals": {"aws:PrincipalArn": [ROLE]},
            "ForAnyValue:StringLike": {"s3:RequestObjectTagKeys": ["scan-*"]},
        },
    }
    assert statement == {
        "Sid": "DenyUnscannedDownloads",
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["s3:GetObject", "s3:GetObjectVersion"],
        "Resource": ["arn:aws:s3:::partner-drop/inbound/*.zip"],
        "Condition": {
            "ArnNotEquals": {"aws:PrincipalArn": [ROLE]},
            "StringNotEquals": {"s3:ExistingObjectTag/scan-status": ["CLEAN", "RELEASED"]},
        },
    }


def test_deny_statements_need_an_exempt_principal() -> None:
    with pytest.raises(ValueError, match="exempt principal"):
        policies.quarantine_bucket_policy(partition="aws", bucket="q", writer_arns=[])


def every_policy() -> dict[str, tuple[str, dict[str, Any]]]:
    """One document from each policy function, in the richest configuration."""
    keys = [f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/a"]
    return {
        **{
            f"scanner_policy[{action}]": (
                "scanner_policy",
                scanner_policy(action, kms_key_arns=keys, definitions_bucket="defs"),
            )
            for action in InfectedAction
        },
        "updater_policy": (
            "updater_policy",
            policies.updater_policy(partition="aws", definitions_bucket="defs", log_group_arn=LOGS),
        ),
        "lambda_trust_policy": ("lambda_trust_policy", policies.lambda_trust_policy()),
        "quarantine_bucket_policy": (
            "quarantine_bucket_policy",
            policies.quarantine_bucket_policy(partition="aws", bucket="q", writer_arns=[ROLE]),
        ),
        "definitions_bucket_policy": (
            "definitions_bucket_policy",
            policies.definitions_bucket_policy(partition="aws", bucket="defs", writer_arns=[ROLE]),
        ),
        "upload_bucket_policy": (
            "upload_bucket_policy",
            policies.upload_bucket_policy(
                partition="aws", upload=UPLOADS[0], exempt_arns=[ROLE], enforce_tls=True, block_unscanned=True
            ),
        ),
        "findings_key_policy": (
            "findings_key_policy",
            policies.findings_key_policy(partition="aws", account_id=ACCOUNT),
        ),
        "quarantine_key_policy": (
            "quarantine_key_policy",
            policies.quarantine_key_policy(partition="aws", account_id=ACCOUNT),
        ),
        "allow_list_table_policy": (
            "allow_list_table_policy",
            policies.allow_list_table_policy(table_arn=TABLE, admin_arns=[ROLE]),
        ),
        "allow_list_table_policy[no admins]": (
            "allow_list_table_policy",
            policies.allow_list_table_policy(table_arn=TABLE, admin_arns=[]),
        ),
        "ecr_repository_policy": (
            "ecr_repository_policy",
            policies.ecr_repository_policy(partition="aws", region="eu-west-1", account_id=ACCOUNT),
        ),
        "scanner_policy[quarantine key]": (
            "scanner_policy",
            scanner_policy(InfectedAction.QUARANTINE, quarantine_key_arn=f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/q"),
        ),
    }


@pytest.mark.parametrize("case", sorted(every_policy()))
def test_parliament_finds_nothing_unwaived(case: str) -> None:
    function, document = every_policy()[case]
    assert findings(document, waivers_for(function)) == []


def test_every_waiver_is_still_needed() -> None:
    for case, (function, document) in every_policy().items():
        for waiver in waivers_for(function):
            assert any(f.startswith(waiver.issue) for f in findings(document)), f"{case}: stale waiver {waiver}"


@pytest.mark.parametrize(
    ("statement", "issue"),
    [
        (
            {"Sid": "Typo", "Effect": "Allow", "Action": ["s3:GetObjekt"], "Resource": ["arn:aws:s3:::b/*"]},
            "UNKNOWN_ACTION",
        ),
        ({"Sid": "Everything", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}, "RESOURCE_STAR"),
        (
            {"Sid": "WrongResource", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [TOPIC]},
            "RESOURCE_MISMATCH",
        ),
    ],
)
def test_lint_catches_a_broken_policy(statement: dict[str, Any], issue: str) -> None:
    broken = scanner_policy(InfectedAction.TAG)
    broken["Statement"].append(statement)
    assert any(p.startswith(issue) for p in findings(broken, waivers_for("scanner_policy")))


def test_ecr_lifecycle_policy_keeps_the_newest_images() -> None:
    (rule,) = policies.ecr_lifecycle_policy(7)["rules"]
    assert rule["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 7}
    assert rule["action"] == {"type": "expire"}
