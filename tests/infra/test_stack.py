"""The whole program under Pulumi's mocks, one stack configuration per test: resolved inputs of every resource."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from infra.config import ConfigError
from tests.infra.harness import ACCOUNT, DIGEST, ECR_PASSWORD, REGION, Deployment, Registration, deploy
from tests.infra.lint import findings, waivers_for

ATTACHED = ["corp-uploads/incoming/", "partner-drop/inbound/*.zip"]
KEYS = [
    "arn:aws:kms:eu-west-1:123456789012:key/1111aaaa-0000-0000-0000-000000000001",
    "arn:aws:kms:eu-west-1:123456789012:key/2222bbbb-0000-0000-0000-000000000002",
]
ADMIN = "arn:aws:iam::123456789012:role/SecurityOperations"

MANAGED_BUCKET = "uploads-managed-bucket-0a1b2c3"
QUARANTINE_BUCKET = "quarantine-bucket-0a1b2c3"
DEFINITIONS_BUCKET = "definitions-store-bucket-0a1b2c3"
SCANNER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/scanner-role-0a1b2c3"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:findings-topic-0a1b2c3"
TOPIC_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/findings-key-0000-1111"
DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:scanner-dlq-0a1b2c3"
SCANNER_FUNCTION = "scanner-function-0a1b2c3"
SCANNER_FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{SCANNER_FUNCTION}"
SCANNER_LOGS = "/aws/lambda/s3-clamav-scanner-test-scanner-0a1b2c3"
ALLOW_LIST_TABLE = "quarantine-allow-list-0a1b2c3"
ALLOW_LIST_TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{ALLOW_LIST_TABLE}"
REPOSITORY_URL = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/scanner-image-repository-0a1b2c3"
IMAGE_URI = f"{REPOSITORY_URL}@{DIGEST}"

READ_AND_TAG = {
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
}
DELETE = {"s3:DeleteObject", "s3:DeleteObjectVersion"}


def document(registration: Registration, key: str = "policy") -> dict[str, Any]:
    return json.loads(registration.inputs[key])


def statements(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy["Statement"]}


def expected_scanner_grants(
    upload_objects: list[str],
    action: str,
    *,
    keys: list[str] | None = None,
    definitions: bool = True,
    quarantine_key: str | None = None,
) -> dict[str, tuple[set[str], list[str]]]:
    """The exact (actions, resources) the scanner should hold, by statement id."""
    grants = {
        "ReadAndTagUploads": (READ_AND_TAG, upload_objects),
        "ListUploads": ({"s3:ListBucket"}, list(dict.fromkeys(o.split("/", 1)[0] for o in upload_objects))),
    }
    if action in ("quarantine", "delete"):
        grants["DeleteInfectedUploads"] = (DELETE, upload_objects)
    if action == "quarantine":
        grants["WriteQuarantine"] = (
            {
                "s3:PutObject",
                "s3:PutObjectTagging",
                "s3:PutObjectVersionTagging",
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:GetObjectTagging",
            },
            [f"arn:aws:s3:::{QUARANTINE_BUCKET}/*"],
        )
        grants["ListQuarantine"] = ({"s3:ListBucket"}, [f"arn:aws:s3:::{QUARANTINE_BUCKET}"])
        grants["ReadAllowList"] = ({"dynamodb:GetItem", "dynamodb:Query"}, [ALLOW_LIST_TABLE_ARN])
        if quarantine_key:
            grants["UseQuarantineKey"] = ({"kms:Decrypt", "kms:GenerateDataKey"}, [quarantine_key])
            grants["ReadAllowListKey"] = ({"kms:Decrypt"}, [quarantine_key])
    if definitions:
        grants["ReadDefinitions"] = ({"s3:GetObject", "s3:GetObjectVersion"}, [f"arn:aws:s3:::{DEFINITIONS_BUCKET}/*"])
        grants["ListDefinitions"] = ({"s3:ListBucket"}, [f"arn:aws:s3:::{DEFINITIONS_BUCKET}"])
    grants["PublishFindings"] = ({"sns:Publish"}, [TOPIC])
    grants["EncryptFindings"] = ({"kms:Decrypt", "kms:GenerateDataKey"}, [TOPIC_KEY])
    grants["SendToDeadLetterQueue"] = ({"sqs:SendMessage"}, [DLQ])
    grants["WriteOwnLogs"] = (
        {"logs:CreateLogStream", "logs:PutLogEvents"},
        [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{SCANNER_LOGS}:*"],
    )
    if keys:
        grants["UseUploadKeys"] = ({"kms:Decrypt", "kms:GenerateDataKey"}, keys)
    return grants


ATTACHED_OBJECTS = ["arn:aws:s3:::corp-uploads/incoming/*", "arn:aws:s3:::partner-drop/inbound/*"]
MANAGED_OBJECTS = [f"arn:aws:s3:::{MANAGED_BUCKET}/*"]

POLICY_CASES = {
    "managed-quarantine": ({}, expected_scanner_grants(MANAGED_OBJECTS, "quarantine")),
    "attached-tag": (
        {"uploadBuckets": ATTACHED, "infectedAction": "tag"},
        expected_scanner_grants(ATTACHED_OBJECTS, "tag"),
    ),
    "attached-quarantine": (
        {"uploadBuckets": ATTACHED, "infectedAction": "quarantine"},
        expected_scanner_grants(ATTACHED_OBJECTS, "quarantine"),
    ),
    "attached-delete": (
        {"uploadBuckets": ATTACHED, "infectedAction": "delete"},
        expected_scanner_grants(ATTACHED_OBJECTS, "delete"),
    ),
    "attached-kms": (
        {"uploadBuckets": ATTACHED, "kmsKeyArns": KEYS},
        expected_scanner_grants(ATTACHED_OBJECTS, "quarantine", keys=KEYS),
    ),
    "no-definitions": (
        {"definitionsUpdates": False},
        expected_scanner_grants(MANAGED_OBJECTS, "quarantine", definitions=False),
    ),
    "quarantine-key": (
        {"quarantineKmsKey": True},
        expected_scanner_grants(
            MANAGED_OBJECTS, "quarantine", quarantine_key=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/quarantine-key-0000-1111"
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(POLICY_CASES))
@pulumi.runtime.test
def test_scanner_policy_grants_exactly(case: str) -> pulumi.Output[bool]:
    settings, expected = POLICY_CASES[case]

    def check(d: Deployment) -> None:
        policy = document(d.named("scanner-policy"))
        assert policy["Version"] == "2012-10-17"
        granted = statements(policy)
        assert set(granted) == set(expected)
        for sid, (actions, resources) in expected.items():
            assert granted[sid]["Effect"] == "Allow"
            assert set(granted[sid]["Action"]) == actions, sid
            assert granted[sid]["Resource"] == resources, sid
        assert granted["EncryptFindings"]["Condition"] == {
            "StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}
        }
        if "UseUploadKeys" in granted:
            assert granted["UseUploadKeys"]["Condition"] == {
                "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
            }
        assert d.named("scanner-policy").inputs["role"] == "scanner-role-0a1b2c3"

    return deploy(settings).verify(check)


@pytest.mark.parametrize("case", sorted(POLICY_CASES))
@pulumi.runtime.test
def test_no_wildcard_grants_and_every_policy_lints_clean(case: str) -> pulumi.Output[bool]:
    settings, _ = POLICY_CASES[case]

    def check(d: Deployment) -> None:
        role_policies = d.of_type("aws:iam/rolePolicy:RolePolicy")
        assert role_policies
        for registration in role_policies:
            for statement in document(registration)["Statement"]:
                assert statement["Effect"] == "Allow"
                assert not any("*" in action for action in statement["Action"]), statement
                assert "*" not in statement["Resource"], statement
        linted = [(r, "policy", None) for r in role_policies]
        linted += [(r, "policy", None) for r in d.of_type("aws:s3/bucketPolicy:BucketPolicy")]
        linted += [(r, "assumeRolePolicy", "lambda_trust_policy") for r in d.of_type("aws:iam/role:Role")]
        linted += [(r, "policy", "findings_key_policy") for r in d.of_type("aws:kms/key:Key")]
        linted += [(r, "policy", None) for r in d.of_type("aws:dynamodb/resourcePolicy:ResourcePolicy")]
        linted += [
            (r, "policy", "ecr_repository_policy") for r in d.of_type("aws:ecr/repositoryPolicy:RepositoryPolicy")
        ]
        for registration, key, function in linted:
            assert findings(registration.inputs[key], waivers_for(function or "")) == [], registration.name

    return deploy(settings).verify(check)


@pulumi.runtime.test
def test_roles_trust_lambda_only() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        roles = d.of_type("aws:iam/role:Role")
        assert {r.name for r in roles} == {"scanner-role", "definitions-updater-role"}
        for role in roles:
            assert document(role, "assumeRolePolicy") == {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "LambdaAssumesRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }

    return deploy().verify(check)


TRIGGER_CASES = {
    "managed": ({}, {"managed": (MANAGED_BUCKET, None, None)}),
    "attached": (
        {"uploadBuckets": ATTACHED},
        {"corp-uploads": ("corp-uploads", "incoming/", None), "partner-drop": ("partner-drop", "inbound/", ".zip")},
    ),
}


@pytest.mark.parametrize("case", sorted(TRIGGER_CASES))
@pulumi.runtime.test
def test_each_bucket_invokes_the_scanner_after_its_permission(case: str) -> pulumi.Output[bool]:
    settings, expected = TRIGGER_CASES[case]

    def check(d: Deployment) -> None:
        permissions = [p for p in d.of_type("aws:lambda/permission:Permission") if p.name.startswith("trigger-")]
        notifications = d.of_type("aws:s3/bucketNotification:BucketNotification")
        assert len(permissions) == len(notifications) == len(expected)
        for key, (bucket, prefix, suffix) in expected.items():
            permission = d.named(f"trigger-{key}-permission")
            assert permission.inputs == {
                "action": "lambda:InvokeFunction",
                "function": SCANNER_FUNCTION,
                "principal": "s3.amazonaws.com",
                "sourceArn": f"arn:aws:s3:::{bucket}",
                "sourceAccount": ACCOUNT,
            }
            notification = d.named(f"trigger-{key}-notification")
            assert notification.inputs["bucket"] == bucket
            (subscription,) = notification.inputs["lambdaFunctions"]
            expected_subscription: dict[str, Any] = {
                "events": ["s3:ObjectCreated:*"],
                "lambdaFunctionArn": SCANNER_FUNCTION_ARN,
            }
            if prefix:
                expected_subscription["filterPrefix"] = prefix
            if suffix:
                expected_subscription["filterSuffix"] = suffix
            assert subscription == expected_subscription
            # The engine is told to create the notification after the permission (S3 validates the target).
            assert permission.urn in notification.dependencies
            assert set(notification.inputs) == {"bucket", "lambdaFunctions"}

    return deploy(settings).verify(check)


def assert_hardened(d: Deployment, name: str, *, expiration_days: int | None, noncurrent_days: int) -> None:
    bucket_id = d.named(f"{name}-bucket").inputs.get("bucket") or f"{name}-bucket-0a1b2c3"
    assert d.named(f"{name}-ownership").inputs == {
        "bucket": bucket_id,
        "rule": {"objectOwnership": "BucketOwnerEnforced"},
    }
    assert d.named(f"{name}-public-access").inputs == {
        "bucket": bucket_id,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    assert d.named(f"{name}-encryption").inputs == {
        "bucket": bucket_id,
        "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}],
    }
    assert d.named(f"{name}-versioning").inputs == {
        "bucket": bucket_id,
        "versioningConfiguration": {"status": "Enabled"},
    }
    lifecycle = d.named(f"{name}-lifecycle")
    rules = {r["id"]: r for r in lifecycle.inputs["rules"]}
    assert all(r["status"] == "Enabled" and r["filter"] == {} for r in rules.values())
    assert rules["abort-incomplete-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": noncurrent_days}
    if expiration_days is None:
        assert "expire-objects" not in rules
        assert "remove-expired-delete-markers" not in rules
    else:
        assert rules["expire-objects"]["expiration"] == {"days": expiration_days}
        assert rules["remove-expired-delete-markers"]["expiration"] == {"expiredObjectDeleteMarker": True}
    assert d.named(f"{name}-versioning").urn in lifecycle.dependencies
    policy = d.named(f"{name}-policy")
    assert policy.inputs["bucket"] == bucket_id
    assert {d.named(f"{name}-public-access").urn, d.named(f"{name}-ownership").urn} <= set(policy.dependencies)
    tls = statements(document(policy))["DenyInsecureTransport"]
    assert tls == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket_id}", f"arn:aws:s3:::{bucket_id}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


@pytest.mark.parametrize(
    ("settings", "bucket", "retention", "writers"),
    [
        ({}, QUARANTINE_BUCKET, 90, [SCANNER_ROLE]),
        (
            {"quarantineBucketName": "acme-quarantine", "quarantineRetentionDays": 30, "adminRoleArns": [ADMIN]},
            "acme-quarantine",
            30,
            [SCANNER_ROLE, ADMIN],
        ),
    ],
)
@pulumi.runtime.test
def test_quarantine_bucket_hardening(
    settings: dict[str, Any], bucket: str, retention: int, writers: list[str]
) -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        assert d.named("quarantine-bucket").inputs == {
            **({"bucket": bucket} if "quarantineBucketName" in settings else {}),
            "forceDestroy": False,
            "tags": {"app": "s3-clamav-scanner", "pulumi-stack": "test"},
        }
        assert_hardened(d, "quarantine", expiration_days=retention, noncurrent_days=1)
        policy = statements(document(d.named("quarantine-policy")))
        assert set(policy) == {"DenyInsecureTransport", "DenyWritesExceptScanner", "DenyReadsExceptScanner"}
        assert policy["DenyWritesExceptScanner"] == {
            "Sid": "DenyWritesExceptScanner",
            "Effect": "Deny",
            "Principal": "*",
            "Action": [
                "s3:PutObject",
                "s3:PutObjectAcl",
                "s3:PutObjectVersionAcl",
                "s3:PutObjectTagging",
                "s3:PutObjectVersionTagging",
                "s3:DeleteObjectTagging",
                "s3:DeleteObjectVersionTagging",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
            ],
            "Resource": [f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": writers}},
        }

    return deploy(settings).verify(check)


@pytest.mark.parametrize("action", ["tag", "delete"])
@pulumi.runtime.test
def test_no_quarantine_bucket_unless_quarantining(action: str) -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        assert not [r for r in d.registrations if r.name.startswith("quarantine")]
        assert "QUARANTINE_BUCKET" not in d.named("scanner-function").inputs["environment"]["variables"]

    return deploy({"infectedAction": action}).verify(check)


@pytest.mark.parametrize(("block", "denies_unscanned"), [("auto", True), ("false", False)])
@pulumi.runtime.test
def test_managed_upload_bucket_is_hardened(block: str, denies_unscanned: bool) -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        assert_hardened(d, "uploads-managed", expiration_days=None, noncurrent_days=30)
        policy = statements(document(d.named("uploads-managed-policy")))
        assert ("DenyUnscannedDownloads" in policy) is denies_unscanned
        if denies_unscanned:
            assert policy["DenyUnscannedDownloads"] == {
                "Sid": "DenyUnscannedDownloads",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": [f"arn:aws:s3:::{MANAGED_BUCKET}/*"],
                "Condition": {
                    "ArnNotEquals": {"aws:PrincipalArn": [SCANNER_ROLE]},
                    "StringNotEquals": {"s3:ExistingObjectTag/scan-status": ["CLEAN", "RELEASED"]},
                },
            }
        assert ("DenyForgedScanTags" in policy) is denies_unscanned

    return deploy({"blockUnscannedDownloads": block}).verify(check)


@pytest.mark.parametrize(("block", "policies"), [("auto", 0), ("true", 2)])
@pulumi.runtime.test
def test_attached_buckets_are_left_alone_unless_downloads_are_blocked(block: str, policies: int) -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        assert not [r for r in d.registrations if r.name.startswith("uploads-managed")]
        bucket_policies = [r for r in d.of_type("aws:s3/bucketPolicy:BucketPolicy") if r.name.startswith("uploads-")]
        assert len(bucket_policies) == policies
        for bucket, scanned in [("corp-uploads", "incoming/*"), ("partner-drop", "inbound/*.zip")]:
            if not policies:
                continue
            policy = d.named(f"uploads-{bucket}-policy")
            assert policy.inputs["bucket"] == bucket
            # No TLS statement: the bucket is not ours.
            statement, forged_tags, copies, replicated = document(policy)["Statement"]
            assert (copies["Sid"], replicated["Sid"]) == ("DenyForeignCopies", "DenyReplicatedTags")
            assert statement["Sid"] == "DenyUnscannedDownloads"
            assert statement["Resource"] == [f"arn:aws:s3:::{bucket}/{scanned}"]
            assert statement["Condition"]["ArnNotEquals"] == {"aws:PrincipalArn": [SCANNER_ROLE, ADMIN]}
            assert forged_tags["Sid"] == "DenyForgedScanTags"
            assert forged_tags["Condition"]["ForAnyValue:StringLike"] == {"s3:RequestObjectTagKeys": ["scan-*"]}

    return deploy({"uploadBuckets": ATTACHED, "blockUnscannedDownloads": block, "adminRoleArns": [ADMIN]}).verify(check)


@pulumi.runtime.test
def test_image_is_built_for_lambda_and_pinned_by_digest() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        repository = d.named("scanner-image-repository").inputs
        assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repository["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
        assert repository["imageTagMutabilityExclusionFilters"] == [{"filter": "latest", "filterType": "WILDCARD"}]
        lifecycle = json.loads(d.named("scanner-image-lifecycle").inputs["policy"])
        assert lifecycle["rules"][0]["selection"]["countNumber"] == 4
        assert d.named("scanner-image-lifecycle").inputs["repository"] == "scanner-image-repository-0a1b2c3"

        image = d.named("scanner-image-image")
        assert image.inputs["context"] == {"location": "."}
        assert image.inputs["dockerfile"] == {"location": "Dockerfile"}
        assert image.inputs["platforms"] == ["linux/amd64"]
        assert image.inputs["tags"] == [f"{REPOSITORY_URL}:latest"]
        # A single plain image manifest: one registry export, Docker media types, the embedded (non-exec) buildx.
        (export,) = image.inputs["exports"]
        assert export["registry"]["ociMediaTypes"] is False
        assert export["registry"]["push"] is True
        assert image.inputs["push"] is False
        assert image.inputs["exec"] is False
        assert image.secret_inputs == {"registries"}
        (registry,) = image.inputs["registries"]["value"]
        assert registry == {"address": REPOSITORY_URL, "username": "AWS", "password": ECR_PASSWORD}

        assert d.named("scanner-function").inputs["imageUri"] == IMAGE_URI
        assert d.named("definitions-updater-function").inputs["imageUri"] == IMAGE_URI
        assert image.urn in d.named("scanner-function").dependencies

    return deploy({"imageRetentionCount": 4}).verify(check)


FUNCTION_CASES = {
    "managed-quarantine": (
        {},
        {
            "INFECTED_ACTION": "quarantine",
            "QUARANTINE_BUCKET": QUARANTINE_BUCKET,
            "ALLOW_LIST_TABLE": ALLOW_LIST_TABLE,
            "MAX_OBJECT_BYTES": "536870912",
            "ENCRYPTED_IS_INFECTED": "false",
            "DEFINITIONS_BUCKET": DEFINITIONS_BUCKET,
            "DEFINITIONS_CHECK_MINUTES": "15",
            "CLAMD_START_TIMEOUT_SECONDS": "120",
            "CLAMD_SCAN_TIMEOUT_SECONDS": "690",
            "SCAN_RATE_FLOOR_BYTES_PER_SECOND": "1048576",
        },
        {"memorySize": 3008, "timeout": 900, "ephemeralStorage": {"size": 4096}},
    ),
    "tuned-delete": (
        {
            "infectedAction": "delete",
            "maxObjectBytes": 690 * 1024**2,
            "ephemeralStorageMB": 4096,
            "memoryMB": 6144,
            "timeoutSeconds": 900,
            "reservedConcurrency": 20,
            "encryptedIsInfected": True,
            "definitionsCheckMinutes": 5,
        },
        {
            "INFECTED_ACTION": "delete",
            "MAX_OBJECT_BYTES": str(690 * 1024**2),
            "ENCRYPTED_IS_INFECTED": "true",
            "DEFINITIONS_BUCKET": DEFINITIONS_BUCKET,
            "DEFINITIONS_CHECK_MINUTES": "5",
            "CLAMD_START_TIMEOUT_SECONDS": "120",
            "CLAMD_SCAN_TIMEOUT_SECONDS": "690",
            "SCAN_RATE_FLOOR_BYTES_PER_SECOND": "1048576",
        },
        {"memorySize": 6144, "timeout": 900, "ephemeralStorage": {"size": 4096}, "reservedConcurrentExecutions": 20},
    ),
    "tag-baked-definitions": (
        {"infectedAction": "tag", "definitionsUpdates": False},
        {
            "INFECTED_ACTION": "tag",
            "MAX_OBJECT_BYTES": "536870912",
            "ENCRYPTED_IS_INFECTED": "false",
            "CLAMD_START_TIMEOUT_SECONDS": "120",
            "CLAMD_SCAN_TIMEOUT_SECONDS": "690",
            "SCAN_RATE_FLOOR_BYTES_PER_SECOND": "1048576",
        },
        {"memorySize": 3008, "timeout": 900, "ephemeralStorage": {"size": 4096}},
    ),
}


@pytest.mark.parametrize("case", sorted(FUNCTION_CASES))
@pulumi.runtime.test
def test_scanner_function(case: str) -> pulumi.Output[bool]:
    settings, environment, sizing = FUNCTION_CASES[case]

    def check(d: Deployment) -> None:
        function = d.named("scanner-function")
        inputs = function.inputs
        assert inputs["packageType"] == "Image"
        assert inputs["architectures"] == ["x86_64"]
        assert inputs["role"] == SCANNER_ROLE
        assert "imageConfig" not in inputs  # the image's own CMD: scanner.handler.lambda_handler
        assert inputs["environment"]["variables"] == {
            **environment,
            "FINDINGS_TOPIC_ARN": TOPIC,
            "POWERTOOLS_SERVICE_NAME": "s3-clamav-scanner",
            "POWERTOOLS_METRICS_NAMESPACE": "S3ClamAVScanner",
        }
        for key, value in sizing.items():
            assert inputs[key] == value, key
        if "reservedConcurrentExecutions" not in sizing:
            assert "reservedConcurrentExecutions" not in inputs
        assert inputs["loggingConfig"] == {"logFormat": "JSON", "logGroup": SCANNER_LOGS}
        log_group = d.named("scanner-logs").inputs
        # A prefix: Pulumi adds a random suffix, so same-named stacks in one account never share a group.
        assert log_group["namePrefix"] == "/aws/lambda/s3-clamav-scanner-test-scanner-"
        assert "name" not in log_group
        assert log_group["retentionInDays"] == 30
        assert d.named("scanner-policy").urn in function.dependencies

    return deploy(settings).verify(check)


@pulumi.runtime.test
def test_async_failures_go_to_an_encrypted_dead_letter_queue() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        invoke = d.named("scanner-async")
        assert invoke.inputs == {
            "functionName": SCANNER_FUNCTION,
            "maximumRetryAttempts": 2,
            "maximumEventAgeInSeconds": 3600,
            "destinationConfig": {"onFailure": {"destination": DLQ}},
        }
        assert d.named("scanner-policy").urn in invoke.dependencies
        queue = d.named("scanner-dlq").inputs
        assert queue["messageRetentionSeconds"] == 14 * 24 * 3600
        assert queue["sqsManagedSseEnabled"] is True

    return deploy({"maxEventAgeSeconds": 3600}).verify(check)


@pytest.mark.parametrize("settings", [{}, {"definitionsUpdates": False}])
@pulumi.runtime.test
def test_alarms_go_to_the_findings_topic(settings: dict[str, Any]) -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        alarms = {r.name: r.inputs for r in d.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
        # The baked database's age is watched too.
        expected = {"alarms-errors", "alarms-throttles", "alarms-dead-letters", "alarms-definitions-age"}
        assert set(alarms) == expected
        for alarm in alarms.values():
            assert alarm["alarmActions"] == [TOPIC]
            assert alarm["okActions"] == [TOPIC]
            assert alarm["comparisonOperator"] == "GreaterThanThreshold"
            assert alarm["evaluationPeriods"] == 1
        for name, metric in [("alarms-errors", "Errors"), ("alarms-throttles", "Throttles")]:
            assert alarms[name]["namespace"] == "AWS/Lambda"
            assert alarms[name]["metricName"] == metric
            assert alarms[name]["dimensions"] == {"FunctionName": SCANNER_FUNCTION}
            assert (alarms[name]["statistic"], alarms[name]["threshold"]) == ("Sum", 0)
            assert alarms[name]["treatMissingData"] == "notBreaching"
        dead_letters = alarms["alarms-dead-letters"]
        assert (dead_letters["namespace"], dead_letters["metricName"]) == (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
        )
        assert dead_letters["dimensions"] == {"QueueName": "scanner-dlq-0a1b2c3"}
        assert (dead_letters["statistic"], dead_letters["threshold"]) == ("Maximum", 0)

    return deploy(settings).verify(check)


@pytest.mark.parametrize("email", [None, "security@example.com"])
@pulumi.runtime.test
def test_findings_topic_is_encrypted_with_a_key_cloudwatch_may_use(email: str | None) -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        assert d.named("findings-topic").inputs["kmsMasterKeyId"] == TOPIC_KEY
        key = d.named("findings-key")
        assert key.inputs["enableKeyRotation"] is True
        granted = statements(document(key))
        assert granted["AccountIamPolicies"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
        assert granted["CloudWatchAlarmsPublish"]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert granted["CloudWatchAlarmsPublish"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
        subscriptions = d.of_type("aws:sns/topicSubscription:TopicSubscription")
        if email is None:
            assert subscriptions == []
        else:
            (subscription,) = subscriptions
            assert subscription.inputs == {"topic": TOPIC, "protocol": "email", "endpoint": email}

    return deploy({"findingsEmail": email} if email else {}).verify(check)


@pulumi.runtime.test
def test_configured_tags_are_on_every_taggable_resource() -> pulumi.Output[bool]:
    expected = {"app": "s3-clamav-scanner", "pulumi-stack": "test", "team": "security", "cost-center": "42"}

    def check(d: Deployment) -> None:
        # Every AWS resource class that has a `tags` argument, as the program instantiated it.
        taggable = {
            r._name: type(r).__name__
            for r in d.resources
            if type(r).__module__.startswith("pulumi_aws.") and isinstance(getattr(type(r), "tags", None), property)
        }
        assert {
            "Bucket",
            "Function",
            "Role",
            "Queue",
            "Topic",
            "Key",
            "LogGroup",
            "MetricAlarm",
            "Repository",
            "EventRule",
        } <= set(taggable.values())
        for name in taggable:
            assert d.named(name).inputs.get("tags") == expected, name

    return deploy({"tags": ["team=security", "cost-center=42"]}).verify(check)


@pulumi.runtime.test
def test_outputs() -> pulumi.Output[bool]:
    deployment = deploy()

    def check(outputs: dict[str, Any]) -> bool:
        assert outputs == {
            "functionName": SCANNER_FUNCTION,
            "functionArn": SCANNER_FUNCTION_ARN,
            "imageRef": f"{REPOSITORY_URL}:latest@{DIGEST}",
            "imageUri": IMAGE_URI,
            "uploadBuckets": [MANAGED_BUCKET],
            "quarantineBucket": QUARANTINE_BUCKET,
            "allowListTable": ALLOW_LIST_TABLE,
            "findingsTopicArn": TOPIC,
            "deadLetterQueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/scanner-dlq-0a1b2c3",
            "definitionsBucket": DEFINITIONS_BUCKET,
            "updaterFunctionName": "definitions-updater-function-0a1b2c3",
            # Direct mode, no rescan, no Batch Operations: the production-shape outputs are null.
            "scanQueueUrl": None,
            "scanDeadLetterQueueUrl": None,
            "rescanFunctionName": None,
            "batchOperationsRoleArn": None,
            "batchOperationsReportBucket": None,
        }
        return True

    return deployment.verify(lambda d: None).apply(lambda _: deployment.outputs()).apply(check)


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pulumi.runtime.test
def test_example_stacks_deploy(stack: str) -> pulumi.Output[bool]:
    from tests.infra.harness import stack_settings

    def check(d: Deployment) -> None:
        functions = d.of_type("aws:lambda/function:Function")
        expected = {"scanner-function", "definitions-updater-function"} | (
            {"rescan-function"} if stack == "prod" else set()
        )
        assert {f.name for f in functions} == expected
        notifications = d.of_type("aws:s3/bucketNotification:BucketNotification")
        # dev: the managed bucket's Lambda notification; prod (queue mode): one per attached bucket to the scan
        # queue, and the definitions bucket's EventBridge notification for the scheduled rescan.
        assert len(notifications) == (1 if stack == "dev" else 3)
        for registration in d.of_type("aws:iam/rolePolicy:RolePolicy"):
            assert findings(registration.inputs["policy"]) == []

    return deploy(stack_settings(stack)).verify(check)


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"uploadBuckets": ["corp-uploads"], "quarantineBucketName": "corp-uploads"}, "quarantineBucketName"),
        ({"infectedAction": "incinerate"}, "infectedAction"),
        ({"memoryMB": 512}, "memoryMB"),
        ({"uploadBuckets": ["/prefix-without-bucket/"]}, "uploadBuckets[0]"),
        ({"infectedActon": "delete"}, "infectedActon"),
    ],
)
def test_the_program_refuses_bad_configuration(settings: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        deploy(settings)
