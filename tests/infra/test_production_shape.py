"""The production shape under mocks: the queue and EventBridge trigger modes, result events and Security Hub
permissions, the scheduled rescan, the Batch Operations role, and the sizing rules."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from infra.config import ConfigError, StackConfig
from tests.infra.harness import ACCOUNT, REGION, Deployment, deploy
from tests.infra.lint import findings
from tests.infra.test_stack import ATTACHED, SCANNER_FUNCTION, SCANNER_FUNCTION_ARN, document, statements

QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:scan-queue-0a1b2c3"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/scan-queue-0a1b2c3"
QUEUE_DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:scan-dlq-0a1b2c3"
QUEUED = {"uploadBuckets": ATTACHED, "triggerMode": "queue"}


@pulumi.runtime.test
def test_queue_mode_feeds_the_scanner_through_an_event_source_mapping() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        queue = d.named("scan-queue").inputs
        assert queue["messageRetentionSeconds"] == 14 * 24 * 3600, "a throttled burst waits up to 14 days"
        assert queue["sqsManagedSseEnabled"] is True
        assert queue["visibilityTimeoutSeconds"] >= 6 * d.named("scanner-function").inputs["timeout"]
        assert json.loads(queue["redrivePolicy"]) == {"deadLetterTargetArn": QUEUE_DLQ_ARN, "maxReceiveCount": 5}
        assert d.named("scan-dlq").inputs["messageRetentionSeconds"] == 14 * 24 * 3600
        mapping = d.named("scan-mapping")
        assert mapping.inputs == {
            "eventSourceArn": QUEUE_ARN,
            "functionName": SCANNER_FUNCTION,
            "batchSize": 10,
            "maximumBatchingWindowInSeconds": 5,
            "scalingConfig": {"maximumConcurrency": 7},
            "functionResponseTypes": ["ReportBatchItemFailures"],
        }
        assert d.named("scanner-policy").urn in mapping.dependencies, "the role may read the queue first"
        consume = statements(document(d.named("scanner-policy")))["ConsumeScanQueue"]
        assert set(consume["Action"]) == {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
        }
        assert consume["Resource"] == [QUEUE_ARN]
        # Every attached bucket notifies the queue, not the function; the queue admits only those buckets.
        notifications = {n.inputs["bucket"]: n for n in d.of_type("aws:s3/bucketNotification:BucketNotification")}
        assert set(notifications) == {"corp-uploads", "partner-drop"}
        assert notifications["partner-drop"].inputs["queues"] == [
            {
                "queueArn": QUEUE_ARN,
                "events": ["s3:ObjectCreated:*"],
                "filterPrefix": "inbound/",
                "filterSuffix": ".zip",
            }
        ]
        assert "lambdaFunctions" not in notifications["corp-uploads"].inputs
        assert d.named("queue-triggers-queue-policy").urn in notifications["corp-uploads"].dependencies
        invokers = [p.inputs["principal"] for p in d.of_type("aws:lambda/permission:Permission")]
        assert "s3.amazonaws.com" not in invokers, "S3 no longer invokes the function"
        policy = statements(document(d.named("queue-triggers-queue-policy")))
        s3 = policy["S3NotificationsOfTheScannedBuckets"]
        assert s3["Condition"] == {
            "ArnLike": {"aws:SourceArn": ["arn:aws:s3:::corp-uploads", "arn:aws:s3:::partner-drop"]},
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
        }
        assert policy["DenyInsecureTransport"]["Effect"] == "Deny"
        assert findings(d.named("queue-triggers-queue-policy").inputs["policy"]) == []
        # A backing-up queue and a message that failed every receive are both alarmed.
        age = d.named("scan-age").inputs
        assert (age["metricName"], age["threshold"]) == ("ApproximateAgeOfOldestMessage", 3600)
        assert d.named("alarms-queue-dead-letters").inputs["dimensions"] == {"QueueName": "scan-dlq-0a1b2c3"}

    return deploy({**QUEUED, "queueMaximumConcurrency": 7}).verify(check)


@pulumi.runtime.test
def test_eventbridge_mode_leaves_attached_buckets_notifications_alone() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        assert d.of_type("aws:s3/bucketNotification:BucketNotification") == []
        rules = {
            r.name: json.loads(r.inputs["eventPattern"])
            for r in d.of_type("aws:cloudwatch/eventRule:EventRule")
            if r.name.startswith("queue-triggers-")
        }
        assert rules["queue-triggers-partner-drop-rule"] == {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": ["partner-drop"]}, "object": {"key": [{"wildcard": "inbound/*.zip"}]}},
        }
        assert rules["queue-triggers-corp-uploads-rule"]["detail"]["object"] == {"key": [{"prefix": "incoming/"}]}
        target = d.named("queue-triggers-corp-uploads-target").inputs
        assert (target["rule"], target["arn"]) == ("queue-triggers-corp-uploads-rule-0a1b2c3", QUEUE_ARN)
        events = statements(document(d.named("queue-triggers-queue-policy")))["EventBridgeRulesOfTheScannedBuckets"]
        assert events["Principal"] == {"Service": "events.amazonaws.com"}
        assert sorted(events["Condition"]["ArnEquals"]["aws:SourceArn"]) == [
            f"arn:aws:events:{REGION}:{ACCOUNT}:rule/queue-triggers-corp-uploads-rule-0a1b2c3",
            f"arn:aws:events:{REGION}:{ACCOUNT}:rule/queue-triggers-partner-drop-rule-0a1b2c3",
        ]

    return deploy({"uploadBuckets": ATTACHED, "triggerMode": "eventbridge"}).verify(check)


@pulumi.runtime.test
def test_eventbridge_mode_turns_on_the_managed_buckets_eventbridge_notifications() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        (notification,) = d.of_type("aws:s3/bucketNotification:BucketNotification")
        assert notification.inputs == {"bucket": "uploads-managed-bucket-0a1b2c3", "eventbridge": True}

    return deploy({"triggerMode": "eventbridge"}).verify(check)


@pulumi.runtime.test
def test_result_events_and_security_hub_get_exactly_their_calls() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        variables = d.named("scanner-function").inputs["environment"]["variables"]
        product = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
        assert {k: variables[k] for k in variables if k.startswith(("RESULT_", "SECURITY_HUB", "GUARDDUTY"))} == {
            "RESULT_EVENT_BUS": "default",
            "RESULT_EVENT_SOURCE": "s3-clamav-scanner",
            "GUARDDUTY_STATUS_TAG": "true",
            "SECURITY_HUB_PRODUCT_ARN": product,
            "SECURITY_HUB_UNSCANNABLE": "true",
        }
        granted = statements(document(d.named("scanner-policy")))
        assert granted["PutResultEvents"]["Action"] == ["events:PutEvents"]
        assert granted["PutResultEvents"]["Resource"] == [f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"]
        assert granted["ImportFindings"]["Action"] == ["securityhub:BatchImportFindings"]
        assert granted["ImportFindings"]["Resource"] == [product]
        # The scanner owns GuardDuty's tag too: nobody else may write it to a scanned bucket.
        forged = statements(document(d.named("uploads-managed-policy")))["DenyForgedScanTags"]
        assert forged["Condition"]["ForAnyValue:StringLike"] == {
            "s3:RequestObjectTagKeys": ["scan-*", "GuardDutyMalwareScanStatus"]
        }

    return deploy(
        {
            "resultEvents": True,
            "guardDutyStatusTag": True,
            "securityHubFindings": True,
            "securityHubUnscannable": True,
        }
    ).verify(check)


@pulumi.runtime.test
def test_without_the_options_no_extra_permission_is_granted() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        granted = statements(document(d.named("scanner-policy")))
        assert not {"PutResultEvents", "ImportFindings", "ConsumeScanQueue"} & set(granted)
        forged = statements(document(d.named("uploads-managed-policy")))["DenyForgedScanTags"]
        assert forged["Condition"]["ForAnyValue:StringLike"] == {"s3:RequestObjectTagKeys": ["scan-*"]}

    return deploy().verify(check)


@pulumi.runtime.test
def test_the_scheduled_rescan_runs_after_each_published_set() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        function = d.named("rescan-function").inputs
        assert function["imageConfig"] == {"commands": ["scanner.rescan.lambda_handler"]}
        assert function["environment"]["variables"] == {
            "SCAN_QUEUE_URL": QUEUE_URL,
            "RESCAN_TARGETS": "corp-uploads/incoming/,partner-drop/inbound/",
            "RESCAN_DAYS": "3",
            "RESCAN_MAX_OBJECTS": "5000",
            "POWERTOOLS_SERVICE_NAME": "s3-clamav-scanner",
            "POWERTOOLS_METRICS_NAMESPACE": "S3ClamAVScanner",
        }
        pattern = json.loads(d.named("rescan-on-publish").inputs["eventPattern"])
        assert pattern["detail"] == {
            "bucket": {"name": ["definitions-store-bucket-0a1b2c3"]},
            "object": {"key": ["manifest.json"]},
        }
        assert d.named("rescan-definitions-events").inputs == {
            "bucket": "definitions-store-bucket-0a1b2c3",
            "eventbridge": True,
        }
        granted = statements(document(d.named("rescan-policy")))
        assert granted["SubmitToScanQueue"]["Resource"] == [QUEUE_ARN]
        assert granted["ListScanned0"]["Condition"] == {"StringLike": {"s3:prefix": ["incoming/*"]}}
        assert not any(a.startswith("s3:Get") for s in granted.values() for a in s["Action"]), "lists, never reads"
        assert d.named("rescan-permission").inputs["principal"] == "events.amazonaws.com"

    return deploy({**QUEUED, "scheduledRescan": True, "rescanDays": 3, "rescanMaxObjects": 5000}).verify(check)


@pulumi.runtime.test
def test_batch_operations_get_a_role_for_this_account_and_a_report_bucket() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        trust = json.loads(d.named("batch-operations-role").inputs["assumeRolePolicy"])["Statement"][0]
        assert trust["Principal"] == {"Service": "batchoperations.s3.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
        granted = statements(document(d.named("batch-operations-policy")))
        assert granted["InvokeScanner"]["Resource"] == [SCANNER_FUNCTION_ARN, f"{SCANNER_FUNCTION_ARN}:*"]
        assert granted["WriteReportsAndGeneratedManifests"]["Resource"] == [
            "arn:aws:s3:::batch-operations-reports-bucket-0a1b2c3/*"
        ]
        assert d.named("batch-operations-reports-bucket").inputs["forceDestroy"] is True

    return deploy({"batchOperations": True}).verify(check)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"memoryMB": 2048}, "memoryMB=2048 is too small: a definitions switch runs two clamd engines"),
        ({"timeoutSeconds": 300}, "maxObjectBytes=536870912 cannot be scanned within timeoutSeconds=300"),
        ({"maxObjectBytes": 1024**3}, "lower maxObjectBytes to at most 723517440"),
        (
            {"triggerMode": "queue", "scanConcurrency": 4, "ephemeralStorageMB": 4096},
            "ephemeralStorageMB=4096 is too small: clamd spools every stream to /tmp (4 scan(s) at once",
        ),
        (
            {"triggerMode": "queue", "reservedConcurrency": 5},
            "queueMaximumConcurrency=10 exceeds reservedConcurrency=5",
        ),
        ({"scheduledRescan": True}, "scheduledRescan submits through the scan queue"),
        ({"triggerMode": "fanout"}, "triggerMode='fanout' is not one of: direct, queue, eventbridge"),
        ({"queueMaximumConcurrency": 1}, "queueMaximumConcurrency=1 is out of range 2..1000"),
        ({"resultEventSource": "aws.guardduty"}, "custom events cannot use an aws.* source"),
        ({"securityHubUnscannable": True}, "securityHubUnscannable needs securityHubFindings=true"),
    ],
)
def test_sizing_and_options_errors_name_the_keys_and_the_numbers(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        StackConfig.from_mapping(settings)


def test_the_sizing_rule_accepts_the_shipped_stacks_and_defaults() -> None:
    from tests.infra.harness import stack_settings

    for stack in ("dev", "prod"):
        assert StackConfig.from_mapping(stack_settings(stack)).sizing.problems() == []
    assert StackConfig().sizing.problems() == []
