"""CloudWatch alarms on the scanner, its dead-letter queue and the definitions' age, sent to the findings topic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from scanner import constants

PERIOD_SECONDS = 300
DAY_SECONDS = 86400


@dataclass(frozen=True)
class DefinitionsAgeAlarm:
    """When the definitions count as stale, and how often fresh age data points are expected."""

    max_age_hours: int
    interval_seconds: int | None
    """Seconds between updater runs (None for a cron schedule, or the baked database)."""
    updates: bool = True
    """An updater publishes on a schedule, so ages arrive on time; with the baked database only scans report one."""

    @property
    def period_seconds(self) -> int:
        """Twice the update interval (so every period holds a run), whole hours, at most a day."""
        if self.interval_seconds is None:
            return DAY_SECONDS
        hours = -(-2 * self.interval_seconds // 3600)
        return min(DAY_SECONDS, max(3600, hours * 3600))


class ScannerAlarms(pulumi.ComponentResource):
    """Function errors and throttles, messages waiting in the dead-letter queue, stale definitions."""

    errors: aws.cloudwatch.MetricAlarm
    throttles: aws.cloudwatch.MetricAlarm
    dead_letters: aws.cloudwatch.MetricAlarm
    queue_dead_letters: aws.cloudwatch.MetricAlarm | None
    definitions_age: aws.cloudwatch.MetricAlarm | None

    def __init__(
        self,
        name: str,
        *,
        function_name: pulumi.Input[str],
        dead_letter_queue_name: pulumi.Input[str],
        topic_arn: pulumi.Input[str],
        queue_dead_letter_queue_name: pulumi.Input[str] | None = None,
        definitions: DefinitionsAgeAlarm | None,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("s3clamav:notify:ScannerAlarms", name, {}, opts)

        def alarm(
            role: str,
            description: str,
            *,
            namespace: str,
            metric: str,
            dimensions: Mapping[str, pulumi.Input[str]],
            statistic: str,
            period: int,
            threshold: float,
            missing_data: str,
            insufficient_data_actions: bool = False,
        ) -> aws.cloudwatch.MetricAlarm:
            return aws.cloudwatch.MetricAlarm(
                f"{name}-{role}",
                alarm_description=description,
                namespace=namespace,
                metric_name=metric,
                dimensions=dict(dimensions),
                statistic=statistic,
                period=period,
                evaluation_periods=1,
                comparison_operator="GreaterThanThreshold",
                threshold=threshold,
                treat_missing_data=missing_data,
                alarm_actions=[topic_arn],
                ok_actions=[topic_arn],
                insufficient_data_actions=[topic_arn] if insufficient_data_actions else None,
                tags=dict(tags),
                opts=pulumi.ResourceOptions(parent=self),
            )

        function_dims = {"FunctionName": function_name}
        self.errors = alarm(
            "errors",
            "The ClamAV scanner failed on objects",
            namespace="AWS/Lambda",
            metric="Errors",
            dimensions=function_dims,
            statistic="Sum",
            period=PERIOD_SECONDS,
            threshold=0,
            missing_data="notBreaching",
        )
        self.throttles = alarm(
            "throttles",
            "The ClamAV scanner was throttled",
            namespace="AWS/Lambda",
            metric="Throttles",
            dimensions=function_dims,
            statistic="Sum",
            period=PERIOD_SECONDS,
            threshold=0,
            missing_data="notBreaching",
        )
        self.dead_letters = alarm(
            "dead-letters",
            "Events the scanner gave up on are waiting in its dead-letter queue",
            namespace="AWS/SQS",
            metric="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": dead_letter_queue_name},
            statistic="Maximum",
            period=PERIOD_SECONDS,
            threshold=0,
            missing_data="notBreaching",
        )
        self.queue_dead_letters = None
        if queue_dead_letter_queue_name is not None:
            self.queue_dead_letters = alarm(
                "queue-dead-letters",
                "Messages of the scan queue failed queueMaxReceiveCount times and wait in its dead-letter queue",
                namespace="AWS/SQS",
                metric="ApproximateNumberOfMessagesVisible",
                dimensions={"QueueName": queue_dead_letter_queue_name},
                statistic="Maximum",
                period=PERIOD_SECONDS,
                threshold=0,
                missing_data="notBreaching",
            )
        self.definitions_age = None
        if definitions is not None:
            # "missing": a period without a report is INSUFFICIENT_DATA, not ALARM. A new alarm starts there (no
            # false alarm before the first run); with an updater, a report that stops coming is notified.
            self.definitions_age = alarm(
                "definitions-age",
                f"Virus definitions are older than {definitions.max_age_hours} hours"
                + (" (INSUFFICIENT_DATA: their age is not reported)" if definitions.updates else ""),
                namespace=constants.METRICS_NAMESPACE,
                metric=constants.METRIC_DEFINITIONS_AGE,
                dimensions={"service": constants.POWERTOOLS_SERVICE},
                statistic="Maximum",
                period=definitions.period_seconds,
                threshold=definitions.max_age_hours,
                missing_data="missing",
                insufficient_data_actions=definitions.updates,
            )
        self.register_outputs({})
