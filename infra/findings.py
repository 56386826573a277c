"""The findings topic: infected objects and alarms, encrypted with a key CloudWatch may use, optionally e-mailed."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from infra import policies


class FindingsTopic(pulumi.ComponentResource):
    """Customer-managed KMS key, SNS topic encrypted with it, and an optional e-mail subscription."""

    key: aws.kms.Key
    topic: aws.sns.Topic
    subscription: aws.sns.TopicSubscription | None
    arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        partition: pulumi.Input[str],
        account_id: pulumi.Input[str],
        email: str | None,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("s3clamav:notify:FindingsTopic", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.key = aws.kms.Key(
            f"{name}-key",
            description="Encrypts the ClamAV scanner's findings topic",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(partition, account_id).apply(
                lambda v: json.dumps(policies.findings_key_policy(partition=v[0], account_id=v[1]))
            ),
            tags=dict(tags),
            opts=child,
        )
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            kms_master_key_id=self.key.arn,
            tags=dict(tags),
            opts=child,
        )
        self.subscription = None
        if email:
            self.subscription = aws.sns.TopicSubscription(
                f"{name}-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=email,
                opts=child,
            )
        self.arn = self.topic.arn
        self.key_arn = self.key.arn
        self.register_outputs({"arn": self.arn, "keyArn": self.key_arn})
