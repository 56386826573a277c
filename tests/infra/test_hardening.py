"""Issue 11: what a least-privilege deploy needs, protections that survive `destroy`, and the scanner's quarantine
infrastructure (issue 10's allow-list). Each test asks the registered documents the question the issue asks, through
the evaluator in tests/infra/iam_eval.py where a policy decides."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.config import ConfigError, StackConfig
from tests.infra.harness import ACCOUNT, REGION, ROOT, STACK, Deployment, deploy
from tests.infra.iam_eval import Request, allowed, denied
from tests.infra.test_stack import (
    ADMIN,
    ALLOW_LIST_TABLE,
    ALLOW_LIST_TABLE_ARN,
    ATTACHED,
    DEFINITIONS_BUCKET,
    MANAGED_BUCKET,
    QUARANTINE_BUCKET,
    SCANNER_ROLE,
    TOPIC,
    document,
    statements,
)

UPLOADER = f"arn:aws:iam::{ACCOUNT}:role/uploader"
READ_ONLY_USER = f"arn:aws:iam::{ACCOUNT}:role/ReadOnlyAuditor"
UPDATER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/definitions-updater-role-0a1b2c3"
QUARANTINE_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/quarantine-key-0000-1111"
DEPLOY_MD = (ROOT / "docs" / "DEPLOY.md").read_text()
PEM = "-----BEGIN CERTIFICATE-----\nMIIBproxyCA\n-----END CERTIFICATE-----\n"


def copy_into(bucket: str, key: str, source: str, principal: str = UPLOADER, **context: Any) -> Request:
    return Request(
        "s3:PutObject",
        f"arn:aws:s3:::{bucket}/{key}",
        principal,
        {"s3:x-amz-copy-source": source, **context},
    )


# --- Security 1: forged verdicts by copy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "policy_name", "bucket"),
    [
        ({}, "uploads-managed-policy", MANAGED_BUCKET),
        ({"uploadBuckets": ATTACHED, "blockUnscannedDownloads": "true"}, "uploads-corp-uploads-policy", "corp-uploads"),
    ],
)
@pulumi.runtime.test
def test_a_copy_cannot_land_an_object_already_tagged_clean(
    settings: dict[str, Any], policy_name: str, bucket: str
) -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        policy = document(d.named(policy_name))
        key = "incoming/report.pdf"
        # CopyObject's default TaggingDirective=COPY: the source's scan-status=CLEAN, no tag in the request.
        for source in ("attacker-bucket/clean.pdf", "/attacker-bucket/clean.pdf", "attacker-bucket/x?versionId=1"):
            assert denied(policy, copy_into(bucket, key, source)) == ["DenyForeignCopies"], source
        # The same request from the scanner or an admin (a release copies back from quarantine) is not refused.
        assert denied(policy, copy_into(bucket, key, f"{QUARANTINE_BUCKET}/{bucket}/{key}", SCANNER_ROLE)) == []
        # Inside the bucket a copy carries only tags the scanner wrote on the bytes it scanned.
        assert denied(policy, copy_into(bucket, key, f"{bucket}/incoming/other.pdf")) == []
        # A plain upload without tags, and one with the uploader's own tags, are untouched.
        plain = Request("s3:PutObject", f"arn:aws:s3:::{bucket}/{key}", UPLOADER)
        assert denied(policy, plain) == []
        own_tags = Request(**{**plain.__dict__, "context": {"s3:RequestObjectTagKeys": ["project"]}})
        assert denied(policy, own_tags) == []
        # CreateMultipartUpload with x-amz-tagging is authorised as s3:PutObject with the request's tag keys.
        forged = Request(**{**plain.__dict__, "context": {"s3:RequestObjectTagKeys": ["project", "scan-status"]}})
        assert denied(policy, forged) == ["DenyForgedScanTags"]
        # Replication writes the source's tags with none in the request.
        replicate = Request("s3:ReplicateTags", f"arn:aws:s3:::{bucket}/{key}", f"arn:aws:iam::{ACCOUNT}:role/repl")
        assert denied(policy, replicate) == ["DenyReplicatedTags"]

    return deploy(settings).verify(check)


def test_attached_bucket_owners_get_the_statements_documented() -> None:
    from infra.documents import main

    assert "DenyForeignCopies" in DEPLOY_MD and "DenyReplicatedTags" in DEPLOY_MD
    assert "python -m infra.documents upload-statements" in DEPLOY_MD
    assert main(["upload-statements", "--bucket", "corp-uploads", "--exempt", SCANNER_ROLE]) == 0


# --- Security 2: quarantine reads --------------------------------------------------------------------------------


@pulumi.runtime.test
def test_nobody_but_the_scanner_and_admins_reads_quarantined_objects() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        policy = document(d.named("quarantine-policy"))
        copy = f"arn:aws:s3:::{QUARANTINE_BUCKET}/corp-uploads/incoming/eicar.txt"
        record = f"arn:aws:s3:::{QUARANTINE_BUCKET}/_records/corp-uploads/incoming/eicar.txt.json"
        for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectAttributes"):
            for resource in (copy, record):
                # ReadOnlyAccess grants s3:Get* on "*": the bucket policy's deny wins over any identity allow.
                assert denied(policy, Request(action, resource, READ_ONLY_USER)) == ["DenyReadsExceptScanner"]
                assert denied(policy, Request(action, resource, SCANNER_ROLE)) == []
                assert denied(policy, Request(action, resource, ADMIN)) == []

    return deploy({"adminRoleArns": [ADMIN]}).verify(check)


@pulumi.runtime.test
def test_the_quarantine_can_have_its_own_customer_managed_key() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        key = d.named("quarantine-key")
        assert key.inputs["enableKeyRotation"] is True
        assert key.retain_on_delete, "a retained bucket is unreadable without its key"
        granted = statements(document(key))
        assert set(granted) == {"AccountIamPolicies"}
        assert d.named("quarantine-encryption").inputs["rules"] == [
            {
                "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": QUARANTINE_KEY},
                "bucketKeyEnabled": True,
            }
        ]
        assert d.named("quarantine-allow-list").inputs["serverSideEncryption"] == {
            "enabled": True,
            "kmsKeyArn": QUARANTINE_KEY,
        }
        scanner = statements(document(d.named("scanner-policy")))
        assert scanner["UseQuarantineKey"] == {
            "Sid": "UseQuarantineKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [QUARANTINE_KEY],
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}},
        }
        assert scanner["ReadAllowListKey"]["Action"] == ["kms:Decrypt"]
        assert scanner["ReadAllowListKey"]["Condition"] == {
            "StringEquals": {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}
        }
        # Only through S3 or DynamoDB: a direct Decrypt by the scanner role is not granted.
        direct = Request("kms:Decrypt", QUARANTINE_KEY, SCANNER_ROLE, {"kms:ViaService": "lambda.amazonaws.com"})
        assert not allowed(document(d.named("scanner-policy")), direct)

    return deploy({"quarantineKmsKey": True}).verify(check)


@pulumi.runtime.test
def test_without_a_customer_key_nothing_of_it_exists() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        assert [r.name for r in d.of_type("aws:kms/key:Key")] == ["findings-key"]
        scanner = statements(document(d.named("scanner-policy")))
        assert not {"UseQuarantineKey", "ReadAllowListKey"} & set(scanner)
        assert "serverSideEncryption" not in d.named("quarantine-allow-list").inputs

    return deploy().verify(check)


# --- Security 3: destroy keeps the protections -------------------------------------------------------------------

HARDENING = ("bucket", "ownership", "public-access", "encryption", "versioning", "lifecycle", "policy")


@pulumi.runtime.test
def test_destroy_leaves_the_quarantine_and_its_hardening_in_place() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        retained = {r.name for r in d.registrations if r.retain_on_delete}
        expected = {f"quarantine-{part}" for part in HARDENING} | {
            "quarantine-key",
            "quarantine-allow-list",
            "quarantine-allow-list-policy",
        }
        expected |= {f"uploads-managed-{part}" for part in HARDENING}
        assert retained == expected
        # The bucket was created at the stack's top before the Quarantine component: aliased, not replaced.
        hardened = d.monitor.registrations[
            next(
                u
                for u, r in d.monitor.registrations.items()
                if r.type == "s3clamav:storage:HardenedBucket" and r.name == "quarantine"
            )
        ]
        assert f"urn:pulumi:{STACK}::s3-clamav-scanner::s3clamav:storage:HardenedBucket::quarantine" in hardened.aliases
        # Definitions can be fetched again: that bucket is emptied and deleted.
        assert d.named("definitions-store-bucket").inputs["forceDestroy"] is True

    return deploy({"quarantineKmsKey": True}).verify(check)


def test_docs_say_what_destroy_leaves_behind() -> None:
    section = DEPLOY_MD.split("## Removing a stack", 1)[1]
    for left in ("quarantine bucket", "allow-list table", "KMS key", "managed upload bucket", "log groups"):
        assert left in section, left
    assert "aws dynamodb update-table" in section and "--no-deletion-protection-enabled" in section


# --- Security 4: confused deputy on the findings key -------------------------------------------------------------


@pulumi.runtime.test
def test_cloudwatch_may_use_the_findings_key_for_this_account_only() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        statement = statements(document(d.named("findings-key")))["CloudWatchAlarmsPublish"]
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}

    return deploy().verify(check)


# --- Security 5: definitions deletes -----------------------------------------------------------------------------


@pulumi.runtime.test
def test_only_the_updater_and_admins_delete_definitions() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        registration = d.named("definitions-store-policy")
        policy = document(registration)
        published = f"arn:aws:s3:::{DEFINITIONS_BUCKET}/sets/daily-27500/daily.cvd"
        for action in ("s3:DeleteObject", "s3:DeleteObjectVersion"):
            assert denied(policy, Request(action, published, SCANNER_ROLE)) == ["DenyWritesExceptUpdater"]
            assert denied(policy, Request(action, published, UPDATER_ROLE)) == []
            assert denied(policy, Request(action, published, ADMIN)) == []
        # force_destroy runs after the policy is gone: the engine deletes dependents first.
        assert d.named("definitions-store-bucket").urn in registration.dependencies

    return deploy({"adminRoleArns": [ADMIN]}).verify(check)


# --- Deploy 6: the repository policy for Lambda ------------------------------------------------------------------


@pulumi.runtime.test
def test_lambda_may_pull_the_image_for_this_accounts_functions_only() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        registration = d.named("scanner-image-repository-policy")
        assert registration.inputs["repository"] == "scanner-image-repository-0a1b2c3"
        assert document(registration) == {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "LambdaECRImageRetrievalPolicy",
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    "Condition": {"StringLike": {"aws:sourceArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:*"}},
                }
            ],
        }
        for function in ("scanner-function", "definitions-updater-function"):
            assert registration.urn in d.named(function).dependencies, function

    return deploy().verify(check)


# --- Deploy 8: baked definitions are refreshed -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "stamp"),
    [
        ({"definitionsUpdates": False}, "today"),
        ({"definitionsUpdates": False, "definitionsStamp": "2025-06-01.2"}, "2025-06-01.2"),
        ({}, ""),
        ({"definitionsStamp": "forced-1"}, "forced-1"),
    ],
)
@pulumi.runtime.test
def test_the_definitions_stamp_reaches_the_image_build(settings: dict[str, Any], stamp: str) -> pulumi.Output[bool]:
    before = datetime.now(UTC).date().isoformat()

    def check(d: Deployment) -> None:
        build_args = d.named("scanner-image-image").inputs["buildArgs"]
        if stamp == "today":
            assert build_args["DEFINITIONS_STAMP"] in {before, datetime.now(UTC).date().isoformat()}
        else:
            assert build_args == {"DEFINITIONS_STAMP": stamp}

    return deploy(settings).verify(check)


def test_the_dockerfile_reruns_freshclam_when_the_stamp_changes() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stage = dockerfile.split("FROM base AS signatures", 1)[1].split("\nFROM ", 1)[0]
    assert "ARG DEFINITIONS_STAMP=" in stage
    freshclam_run = stage.split("RUN ", 1)[1]
    assert "${DEFINITIONS_STAMP}" in freshclam_run and "freshclam --stdout" in freshclam_run


@pytest.mark.parametrize("stamp", ["has space", "x" * 65, "semi;colon"])
def test_a_bad_stamp_is_refused(stamp: str) -> None:
    with pytest.raises(ConfigError, match="definitionsStamp"):
        StackConfig.from_mapping({"definitionsStamp": stamp})


# --- Deploy 9: no updater retries --------------------------------------------------------------------------------


@pulumi.runtime.test
def test_a_failed_updater_run_is_not_retried() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        invoke = d.named("definitions-updater-async")
        assert invoke.inputs == {"functionName": "definitions-updater-function-0a1b2c3", "maximumRetryAttempts": 0}
        # In place before the schedule can invoke.
        assert invoke.urn in d.named("definitions-schedule-target").dependencies

    return deploy().verify(check)


# --- Deploy 10: TLS-intercepting proxy ---------------------------------------------------------------------------


@pulumi.runtime.test
def test_the_ca_bundle_reaches_the_build_as_its_ca_secret(tmp_path: Path) -> pulumi.Output[bool]:
    bundle = tmp_path / "proxy-ca.pem"
    bundle.write_text(PEM)

    def check(d: Deployment) -> None:
        image = d.named("scanner-image-image")
        assert "secrets" in image.secret_inputs
        assert image.inputs["secrets"]["value"] == {"ca": PEM}
        assert "--mount=type=secret,id=ca" in (ROOT / "Dockerfile").read_text()

    return deploy({"imageBuildCaFile": str(bundle)}).verify(check)


@pulumi.runtime.test
def test_no_ca_bundle_no_secret() -> pulumi.Output[bool]:
    return deploy().verify(lambda d: _assert_absent(d.named("scanner-image-image").inputs, "secrets"))


def _assert_absent(inputs: dict[str, Any], key: str) -> None:
    assert key not in inputs


@pytest.mark.parametrize("content", [None, "not a certificate\n"])
def test_a_missing_or_bad_ca_bundle_is_refused(tmp_path: Path, content: str | None) -> None:
    bundle = tmp_path / "ca.pem"
    if content is not None:
        bundle.write_text(content)
    with pytest.raises(ConfigError, match="imageBuildCaFile"):
        StackConfig.from_mapping({"imageBuildCaFile": str(bundle)})


# --- Deploy 11: timeouts that agree ------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [30, 31, 60, 120, 300, 600, 899, 900])
def test_clamd_timeouts_end_before_the_function_does(timeout: int) -> None:
    # maxObjectBytes small enough for the shortest timeout: the sizing rule is tested on its own below.
    config = StackConfig.from_mapping({"timeoutSeconds": timeout, "maxObjectBytes": 1024**2})
    headroom = config.clamd_timeout_headroom_seconds
    assert headroom >= max(10, timeout * 0.1)
    # A cold start that uses all its time, then a scan that uses all of its own, still leaves the headroom.
    assert config.clamd_start_timeout_seconds + config.clamd_scan_timeout_seconds + headroom == timeout
    assert 10 <= config.clamd_start_timeout_seconds <= 120
    assert config.clamd_scan_timeout_seconds >= 10


@pulumi.runtime.test
def test_the_function_gets_the_derived_clamd_timeouts() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        variables = d.named("scanner-function").inputs["environment"]["variables"]
        assert (variables["CLAMD_START_TIMEOUT_SECONDS"], variables["CLAMD_SCAN_TIMEOUT_SECONDS"]) == ("10", "10")
        assert d.named("scanner-function").inputs["timeout"] == 30

    return deploy({"timeoutSeconds": 30, "maxObjectBytes": 1024**2}).verify(check)


# --- Deploy 12 -----------------------------------------------------------------------------------------------------


@pulumi.runtime.test
def test_quarantined_bytes_are_gone_a_day_after_the_retention() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        rules = {r["id"]: r for r in d.named("quarantine-lifecycle").inputs["rules"]}
        # Expiration turns the copy noncurrent (a delete marker on top) after 45 days; a day later it is deleted.
        assert rules["expire-objects"]["expiration"] == {"days": 45}
        assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 1}
        assert rules["remove-expired-delete-markers"]["expiration"] == {"expiredObjectDeleteMarker": True}

    return deploy({"quarantineRetentionDays": 45}).verify(check)


@pytest.mark.parametrize(
    "schedule", ["rate(13 hours)", "rate(1 day)", "rate(2 days)", "cron(0 4 ? * MON *)", "cron(0 4 1 * ? *)"]
)
def test_a_schedule_the_age_alarm_cannot_follow_is_refused(schedule: str) -> None:
    with pytest.raises(ConfigError, match="definitionsSchedule"):
        StackConfig.from_mapping({"definitionsSchedule": schedule, "definitionsMaxAgeHours": 72})


@pytest.mark.parametrize(
    "schedule", ["rate(12 hours)", "rate(90 minutes)", "cron(0 */6 * * ? *)", "cron(15 4 * * ? *)"]
)
def test_schedules_within_a_day_are_accepted(schedule: str) -> None:
    assert StackConfig.from_mapping({"definitionsSchedule": schedule, "definitionsMaxAgeHours": 36})


def test_baked_definitions_accept_any_schedule_they_do_not_use() -> None:
    StackConfig.from_mapping({"definitionsUpdates": False, "definitionsSchedule": "rate(7 days)"})


def test_docs_say_list_bucket_covers_the_whole_attached_bucket() -> None:
    # HEAD answers 404 (not 403) only to a caller with ListBucket, and it evaluates no s3:prefix: it stays unnarrowed.
    assert "The scanner's permissions are narrowed to the configured prefix." not in DEPLOY_MD
    assert re.search(r"`s3:ListBucket` on the whole bucket", DEPLOY_MD)


@pulumi.runtime.test
def test_log_group_names_are_unique_per_stack_deployment() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        for role, function in (
            ("scanner", "scanner-function"),
            ("definitions-updater", "definitions-updater-function"),
        ):
            group = d.named(f"{role}-logs").inputs
            assert group["namePrefix"] == f"/aws/lambda/s3-clamav-scanner-{STACK}-{role}-"
            assert "name" not in group
            assert d.named(function).inputs["loggingConfig"]["logGroup"] == f"{group['namePrefix']}0a1b2c3"

    return deploy().verify(check)


@pytest.mark.parametrize(
    "entry", ["corp/in coming/", "corp/a+b/", "corp/*.tar gz", "corp/100%/", "corp/x?y", "corp/[a]/", "corp/é/"]
)
def test_filters_s3_would_need_encoded_are_refused(entry: str) -> None:
    with pytest.raises(ConfigError, match=r"uploadBuckets\[0\]"):
        StackConfig.from_mapping({"uploadBuckets": [entry]})


def test_safe_filters_are_accepted() -> None:
    config = StackConfig.from_mapping({"uploadBuckets": ["corp/in_coming-2024/(eu)/*.tar.gz", "drop/it's/"]})
    assert [(b.prefix, b.suffix) for b in config.upload_buckets] == [
        ("in_coming-2024/(eu)/", ".tar.gz"),
        ("it's/", None),
    ]


def test_docs_invoke_the_updater_asynchronously_and_warn_about_the_first_preview() -> None:
    invoke = next(line for line in DEPLOY_MD.splitlines() if line.startswith("`aws lambda invoke"))
    assert "--invocation-type Event" in invoke
    assert "first `pulumi preview`" in DEPLOY_MD


# --- Issue 10: the release allow-list ----------------------------------------------------------------------------


@pulumi.runtime.test
def test_the_allow_list_table() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        table = d.named("quarantine-allow-list")
        assert table.inputs == {
            "billingMode": "PAY_PER_REQUEST",
            "hashKey": "sha256",
            "rangeKey": "scope",
            "attributes": [{"name": "sha256", "type": "S"}, {"name": "scope", "type": "S"}],
            "pointInTimeRecovery": {"enabled": True},
            "deletionProtectionEnabled": True,
            "tags": {"app": "s3-clamav-scanner", "pulumi-stack": "test"},
        }
        assert table.retain_on_delete
        registration = d.named("quarantine-allow-list-policy")
        assert registration.inputs["resourceArn"] == ALLOW_LIST_TABLE_ARN
        policy = document(registration)
        for action in (
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:PartiQLInsert",
        ):
            assert denied(policy, Request(action, ALLOW_LIST_TABLE_ARN, ADMIN)) == []
            for principal in (SCANNER_ROLE, UPLOADER):
                assert denied(policy, Request(action, ALLOW_LIST_TABLE_ARN, principal)) == ["DenyWritesExceptAdmins"]
        assert denied(policy, Request("dynamodb:Query", ALLOW_LIST_TABLE_ARN, SCANNER_ROLE)) == []
        scanner = statements(document(d.named("scanner-policy")))
        touching = {sid: s["Action"] for sid, s in scanner.items() if ALLOW_LIST_TABLE_ARN in s["Resource"]}
        assert touching == {"ReadAllowList": ["dynamodb:GetItem", "dynamodb:Query"]}
        variables = d.named("scanner-function").inputs["environment"]["variables"]
        assert variables["ALLOW_LIST_TABLE"] == ALLOW_LIST_TABLE

    return deploy({"adminRoleArns": [ADMIN]}).verify(check)


@pulumi.runtime.test
def test_without_admin_roles_nobody_writes_the_allow_list() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        policy = document(d.named("quarantine-allow-list-policy"))
        assert denied(policy, Request("dynamodb:PutItem", ALLOW_LIST_TABLE_ARN, ADMIN)) == ["DenyWritesExceptAdmins"]

    return deploy().verify(check)


@pytest.mark.parametrize("action", ["tag", "delete"])
@pulumi.runtime.test
def test_no_allow_list_unless_quarantining(action: str) -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        assert d.of_type("aws:dynamodb/table:Table") == []
        assert "ALLOW_LIST_TABLE" not in d.named("scanner-function").inputs["environment"]["variables"]

    def check_outputs(outputs: dict[str, Any]) -> bool:
        assert outputs["allowListTable"] is None
        return True

    deployment = deploy({"infectedAction": action})
    return deployment.verify(check).apply(lambda _: deployment.outputs()).apply(check_outputs)


SCANNER_CALLS = [
    # (what the scanner does, action, resource)
    ("stream the upload", "s3:GetObject", "arn:aws:s3:::corp-uploads/incoming/a.zip"),
    ("HEAD the version with ChecksumMode=ENABLED", "s3:GetObjectVersion", "arn:aws:s3:::corp-uploads/incoming/a.zip"),
    ("CopyObject: read the source version", "s3:GetObjectVersion", "arn:aws:s3:::corp-uploads/incoming/a.zip"),
    ("CopyObject: read the source's tags", "s3:GetObjectVersionTagging", "arn:aws:s3:::corp-uploads/incoming/a.zip"),
    ("CopyObject: write the copy", "s3:PutObject", f"arn:aws:s3:::{QUARANTINE_BUCKET}/corp-uploads/incoming/a.zip"),
    (
        "CopyObject: tag the copy",
        "s3:PutObjectTagging",
        f"arn:aws:s3:::{QUARANTINE_BUCKET}/corp-uploads/incoming/a.zip",
    ),
    (
        "HEAD the copy (checksum)",
        "s3:GetObjectVersion",
        f"arn:aws:s3:::{QUARANTINE_BUCKET}/corp-uploads/incoming/a.zip",
    ),
    ("write the provenance record", "s3:PutObject", f"arn:aws:s3:::{QUARANTINE_BUCKET}/_records/corp-uploads/a.json"),
    ("read the provenance record", "s3:GetObject", f"arn:aws:s3:::{QUARANTINE_BUCKET}/_records/corp-uploads/a.json"),
    ("DeleteObject If-Match: the delete", "s3:DeleteObject", "arn:aws:s3:::corp-uploads/incoming/a.zip"),
    ("DeleteObject If-Match: needs GetObject", "s3:GetObject", "arn:aws:s3:::corp-uploads/incoming/a.zip"),
    ("delete the scanned version", "s3:DeleteObjectVersion", "arn:aws:s3:::corp-uploads/incoming/a.zip"),
    ("look a SHA-256 up", "dynamodb:Query", ALLOW_LIST_TABLE_ARN),
    ("read one entry", "dynamodb:GetItem", ALLOW_LIST_TABLE_ARN),
]
SCANNER_NEVER = [
    ("write the allow-list", "dynamodb:PutItem", ALLOW_LIST_TABLE_ARN),
    ("delete a quarantine copy", "s3:DeleteObject", f"arn:aws:s3:::{QUARANTINE_BUCKET}/corp-uploads/incoming/a.zip"),
    ("write outside the prefix", "s3:PutObjectTagging", "arn:aws:s3:::corp-uploads/other/a.zip"),
    ("publish definitions", "s3:PutObject", f"arn:aws:s3:::{DEFINITIONS_BUCKET}/manifest.json"),
]


@pulumi.runtime.test
def test_the_scanner_policy_allows_exactly_the_quarantine_calls() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        policy = document(d.named("scanner-policy"))
        for what, action, resource in SCANNER_CALLS:
            assert allowed(policy, Request(action, resource, SCANNER_ROLE)), what
        for what, action, resource in SCANNER_NEVER:
            assert not allowed(policy, Request(action, resource, SCANNER_ROLE)), what

    return deploy({"uploadBuckets": ["corp-uploads/incoming/"]}).verify(check)


@pulumi.runtime.test
def test_outputs_name_the_allow_list() -> pulumi.Output[bool]:
    def check(outputs: dict[str, Any]) -> bool:
        assert (outputs["allowListTable"], outputs["findingsTopicArn"]) == (ALLOW_LIST_TABLE, TOPIC)
        return True

    deployment = deploy()
    return deployment.verify(lambda d: None).apply(lambda _: deployment.outputs()).apply(check)


def test_docs_describe_the_allow_list() -> None:
    assert "allowListTable" in DEPLOY_MD
    assert "PutItem" in DEPLOY_MD and "scanner quarantine release" in DEPLOY_MD
