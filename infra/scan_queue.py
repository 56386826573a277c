"""The queue in front of the scanner: S3 (or EventBridge) -> an encrypted SQS queue -> an event source mapping.

Messages wait up to 14 days (asynchronous invocation keeps events 6 hours), the mapping's maximum concurrency caps
the environments (and so cost and cold starts), ReportBatchItemFailures redelivers only the records that failed,
and the redrive policy moves a message that failed `maxReceiveCount` times to the dead-letter queue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

QUEUE_RETENTION_SECONDS = 14 * 24 * 3600
"""SQS's maximum: a throttled burst waits up to two weeks."""
VISIBILITY_TIMEOUT_FACTOR = 6
"""AWS's guidance for SQS event sources: the queue's visibility timeout at least six times the function timeout."""
S3_OBJECT_CREATED = "s3:ObjectCreated:*"


@dataclass(frozen=True)
class QueueTriggerSettings:
    """How the event source mapping reads the scan queue."""

    batch_size: int = 10
    batching_window_seconds: int = 5
    maximum_concurrency: int = 10
    """Environments scanning at once (the event source mapping's scaling config; 2..1000)."""
    max_receive_count: int = 5
    """Receives before a message goes to the dead-letter queue."""
    age_alarm_seconds: int = 3600
    """The queue-age alarm fires when the oldest message has waited longer than this."""

    def visibility_timeout(self, function_timeout_seconds: int) -> int:
        return VISIBILITY_TIMEOUT_FACTOR * function_timeout_seconds + self.batching_window_seconds


def object_created_pattern(bucket: str, prefix: str | None, suffix: str | None) -> dict[str, object]:
    """The EventBridge pattern of one attached bucket's scanned keys (S3's "Object Created" events)."""
    detail: dict[str, object] = {"bucket": {"name": [bucket]}}
    if prefix and suffix:
        detail["object"] = {"key": [{"wildcard": f"{_wildcard_escape(prefix)}*{_wildcard_escape(suffix)}"}]}
    elif prefix:
        detail["object"] = {"key": [{"prefix": prefix}]}
    elif suffix:
        detail["object"] = {"key": [{"suffix": suffix}]}
    return {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": detail}


def _wildcard_escape(text: str) -> str:
    """EventBridge wildcard patterns treat `*` as the wildcard and `\\` as its escape."""
    return text.replace("\\", "\\\\").replace("*", "\\*")


class ScanQueue(pulumi.ComponentResource):
    """The encrypted scan queue, its dead-letter queue and the queue-age alarm (created before the function, whose
    policy names the queue); `consume()` adds the event source mapping once the function exists."""

    queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue
    age_alarm: aws.cloudwatch.MetricAlarm
    mapping: aws.lambda_.EventSourceMapping | None

    def __init__(
        self,
        name: str,
        *,
        settings: QueueTriggerSettings,
        function_timeout_seconds: int,
        alarm_topic_arn: pulumi.Input[str],
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("s3clamav:scanner:ScanQueue", name, {}, opts)
        self._name = name
        self.settings = settings
        child = pulumi.ResourceOptions(parent=self)
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            tags=dict(tags),
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            visibility_timeout_seconds=settings.visibility_timeout(function_timeout_seconds),
            receive_wait_time_seconds=20,
            # SSE-SQS: S3 and EventBridge can send to it without a key policy of their own.
            sqs_managed_sse_enabled=True,
            redrive_policy=self.dead_letter_queue.arn.apply(
                lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": settings.max_receive_count})
            ),
            tags=dict(tags),
            opts=child,
        )
        self.age_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-age",
            alarm_description=(
                f"Objects have waited more than {settings.age_alarm_seconds} s to be scanned (the scan queue is "
                "backing up: throttling, the concurrency cap, or failing scans)"
            ),
            namespace="AWS/SQS",
            metric_name="ApproximateAgeOfOldestMessage",
            dimensions={"QueueName": self.queue.name},
            statistic="Maximum",
            period=300,
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=settings.age_alarm_seconds,
            treat_missing_data="notBreaching",
            alarm_actions=[alarm_topic_arn],
            ok_actions=[alarm_topic_arn],
            tags=dict(tags),
            opts=child,
        )
        self.mapping = None
        self.register_outputs({"queueUrl": self.queue.url, "deadLetterQueueUrl": self.dead_letter_queue.url})

    def consume(self, function_name: pulumi.Input[str], consumer_policy: pulumi.Resource) -> None:
        """The event source mapping: batches, the batching window, maximum concurrency, ReportBatchItemFailures."""
        self.mapping = aws.lambda_.EventSourceMapping(
            f"{self._name}-mapping",
            event_source_arn=self.queue.arn,
            function_name=function_name,
            batch_size=self.settings.batch_size,
            maximum_batching_window_in_seconds=self.settings.batching_window_seconds,
            scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(
                maximum_concurrency=self.settings.maximum_concurrency
            ),
            function_response_types=["ReportBatchItemFailures"],
            # Lambda checks the role may read the queue when the mapping is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[consumer_policy]),
        )
