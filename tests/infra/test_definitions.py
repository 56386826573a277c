"""Definitions updates (issue #5, infrastructure half): bucket, updater function, schedule and the age alarm."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from infra.alarms import DefinitionsAgeAlarm
from tests.infra.harness import ACCOUNT, DIGEST, REGION, Deployment, deploy
from tests.infra.test_stack import (
    ADMIN,
    DEFINITIONS_BUCKET,
    REPOSITORY_URL,
    TOPIC,
    assert_hardened,
    document,
    statements,
)

UPDATER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/definitions-updater-role-0a1b2c3"
UPDATER_FUNCTION = "definitions-updater-function-0a1b2c3"
UPDATER_LOGS = "/aws/lambda/s3-clamav-scanner-test-definitions-updater-0a1b2c3"
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/definitions-schedule-0a1b2c3"


@pulumi.runtime.test
def test_definitions_bucket_is_private_versioned_and_written_by_the_updater_only() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        assert d.named("definitions-store-bucket").inputs["forceDestroy"] is True
        assert_hardened(d, "definitions-store", expiration_days=None, noncurrent_days=7)
        policy = statements(document(d.named("definitions-store-policy")))
        assert set(policy) == {
            "DenyInsecureTransport",
            "DenyWritesExceptUpdater",
            "DenyCustomSignatureWritesExceptAdmins",
        }
        deny = policy["DenyWritesExceptUpdater"]
        assert deny["Effect"] == "Deny"
        assert "s3:PutObject" in deny["Action"]
        assert deny["Resource"] == [f"arn:aws:s3:::{DEFINITIONS_BUCKET}/*"]
        assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": [UPDATER_ROLE, ADMIN]}}
        # The security team's own signatures: only the admins write or delete them, not even the updater.
        custom = policy["DenyCustomSignatureWritesExceptAdmins"]
        assert custom["Resource"] == [f"arn:aws:s3:::{DEFINITIONS_BUCKET}/custom/*"]
        assert {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(custom["Action"])
        assert custom["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": [ADMIN]}}

    return deploy({"adminRoleArns": [ADMIN]}).verify(check)


@pulumi.runtime.test
def test_updater_runs_the_same_image_with_its_own_command_role_and_logs() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        updater = d.named("definitions-updater-function").inputs
        assert updater["packageType"] == "Image"
        assert updater["imageUri"] == f"{REPOSITORY_URL}@{DIGEST}"
        assert updater["imageUri"] == d.named("scanner-function").inputs["imageUri"]
        assert updater["imageConfig"] == {"commands": ["scanner.update.lambda_handler"]}
        assert updater["architectures"] == ["x86_64"]
        assert (updater["memorySize"], updater["timeout"], updater["ephemeralStorage"]) == (3008, 900, {"size": 4096})
        assert updater["role"] == UPDATER_ROLE
        assert updater["environment"]["variables"] == {
            "DEFINITIONS_BUCKET": DEFINITIONS_BUCKET,
            "DEFINITIONS_MIRROR_URL": "https://clamav-mirror.example.internal",
            "CUSTOM_SIGNATURES_ALLOW_LISTING": "false",
            "FINDINGS_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:findings-topic-0a1b2c3",
            "POWERTOOLS_SERVICE_NAME": "s3-clamav-scanner",
            "POWERTOOLS_METRICS_NAMESPACE": "S3ClamAVScanner",
        }
        assert updater["loggingConfig"] == {"logFormat": "JSON", "logGroup": UPDATER_LOGS}
        assert d.named("definitions-updater-logs").inputs["retentionInDays"] == 90
        assert d.named("definitions-updater-policy").urn in d.named("definitions-updater-function").dependencies

    return deploy({"definitionsMirrorUrl": "https://clamav-mirror.example.internal", "logRetentionDays": 90}).verify(
        check
    )


@pulumi.runtime.test
def test_updater_may_only_publish_definitions_and_write_its_logs() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        policy = d.named("definitions-updater-policy")
        assert policy.inputs["role"] == "definitions-updater-role-0a1b2c3"
        granted = {sid: (s["Action"], s["Resource"]) for sid, s in statements(document(policy)).items()}
        assert granted == {
            "PublishDefinitions": (["s3:PutObject"], [f"arn:aws:s3:::{DEFINITIONS_BUCKET}/*"]),
            "ReadPublished": (["s3:GetObject", "s3:GetObjectVersion"], [f"arn:aws:s3:::{DEFINITIONS_BUCKET}/*"]),
            "ListDefinitions": (["s3:ListBucket"], [f"arn:aws:s3:::{DEFINITIONS_BUCKET}"]),
            "WriteOwnLogs": (
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{UPDATER_LOGS}:*"],
            ),
            # A finding names a security team's signature file that does not load.
            "PublishFindings": (["sns:Publish"], [f"arn:aws:sns:{REGION}:{ACCOUNT}:findings-topic-0a1b2c3"]),
            "EncryptFindings": (
                ["kms:Decrypt", "kms:GenerateDataKey"],
                [f"arn:aws:kms:{REGION}:{ACCOUNT}:key/findings-key-0000-1111"],
            ),
        }

    return deploy().verify(check)


@pytest.mark.parametrize("schedule", ["rate(3 hours)", "cron(15 */6 * * ? *)"])
@pulumi.runtime.test
def test_eventbridge_runs_the_updater_on_schedule(schedule: str) -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        assert d.named("definitions-schedule").inputs["scheduleExpression"] == schedule
        target = d.named("definitions-schedule-target").inputs
        assert target == {
            "rule": "definitions-schedule-0a1b2c3",
            "arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{UPDATER_FUNCTION}",
        }
        permission = d.named("definitions-schedule-permission")
        assert permission.inputs == {
            "action": "lambda:InvokeFunction",
            "function": UPDATER_FUNCTION,
            "principal": "events.amazonaws.com",
            "sourceArn": RULE_ARN,
        }
        assert permission.urn in d.named("definitions-schedule-target").dependencies

    return deploy({"definitionsSchedule": schedule}).verify(check)


@pulumi.runtime.test
def test_scanner_reads_definitions_only() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        variables = d.named("scanner-function").inputs["environment"]["variables"]
        assert variables["DEFINITIONS_BUCKET"] == DEFINITIONS_BUCKET
        assert variables["DEFINITIONS_CHECK_MINUTES"] == "30"
        granted = statements(document(d.named("scanner-policy")))
        touching = {
            sid: s["Action"] for sid, s in granted.items() if any(DEFINITIONS_BUCKET in r for r in s["Resource"])
        }
        assert touching == {
            "ReadDefinitions": ["s3:GetObject", "s3:GetObjectVersion"],
            "ListDefinitions": ["s3:ListBucket"],
        }

    return deploy({"definitionsCheckMinutes": 30}).verify(check)


@pytest.mark.parametrize(
    ("settings", "period"),
    [
        ({}, 6 * 3600),  # twice rate(3 hours)
        ({"definitionsSchedule": "rate(30 minutes)", "definitionsMaxAgeHours": 6}, 3600),
        ({"definitionsSchedule": "rate(12 hours)", "definitionsMaxAgeHours": 36}, 86400),
        ({"definitionsSchedule": "cron(0 4 * * ? *)", "definitionsMaxAgeHours": 30}, 86400),
    ],
)
@pulumi.runtime.test
def test_definitions_age_alarm(settings: dict[str, Any], period: int) -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        alarm = d.named("alarms-definitions-age").inputs
        assert alarm["namespace"] == "S3ClamAVScanner"
        assert alarm["metricName"] == "DefinitionsAgeHours"
        assert alarm["dimensions"] == {"service": "s3-clamav-scanner"}
        assert alarm["statistic"] == "Maximum"
        assert alarm["comparisonOperator"] == "GreaterThanThreshold"
        assert alarm["threshold"] == settings.get("definitionsMaxAgeHours", 24)
        # A period without a report is INSUFFICIENT_DATA (notified), not ALARM: no false alarm after the first deploy.
        assert alarm["treatMissingData"] == "missing"
        assert alarm["insufficientDataActions"] == [TOPIC]
        assert alarm["period"] == period
        assert alarm["alarmActions"] == [TOPIC]

    return deploy(settings).verify(check)


@pulumi.runtime.test
def test_without_updates_nothing_of_the_updater_exists() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        assert not [r for r in d.registrations if r.name.startswith("definitions")]
        # The baked database's age is still watched; only scans report it, so silence is no alarm.
        alarm = d.named("alarms-definitions-age").inputs
        assert (alarm["period"], alarm["treatMissingData"]) == (86400, "missing")
        assert "insufficientDataActions" not in alarm
        variables = d.named("scanner-function").inputs["environment"]["variables"]
        assert not {"DEFINITIONS_BUCKET", "DEFINITIONS_CHECK_MINUTES"} & set(variables)

    return deploy({"definitionsUpdates": False}).verify(check)


def test_age_alarm_period_bounds() -> None:
    assert DefinitionsAgeAlarm(24, 600).period_seconds == 3600
    assert DefinitionsAgeAlarm(24, 5 * 3600).period_seconds == 10 * 3600
    assert DefinitionsAgeAlarm(72, 2 * 86400).period_seconds == 86400
    assert DefinitionsAgeAlarm(24, None).period_seconds == 86400
