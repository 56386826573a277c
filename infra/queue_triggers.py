"""S3 -> the scan queue, for every scanned bucket: by the bucket's own notification (queue mode) or by EventBridge
rules on events the bucket already sends (EventBridge mode, which leaves the bucket's notification configuration
to its owner)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.options import TriggerMode
from infra.scan_queue import S3_OBJECT_CREATED, ScanQueue, object_created_pattern
from infra.uploads import UploadTarget


class QueueTriggers(pulumi.ComponentResource):
    """The scan queue's policy (only these buckets, or these rules, of this account may send) and, per bucket, what
    sends: a ``BucketNotification`` to the queue, or an EventBridge rule with the queue as its target."""

    policy: aws.sqs.QueuePolicy
    notifications: list[aws.s3.BucketNotification]
    rules: list[aws.cloudwatch.EventRule]
    targets: list[aws.cloudwatch.EventTarget]

    def __init__(
        self,
        name: str,
        *,
        mode: TriggerMode,
        uploads: Sequence[UploadTarget],
        queue: ScanQueue,
        account_id: pulumi.Input[str],
        managed_bucket: bool,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("s3clamav:scanner:QueueTriggers", name, {}, opts)
        if mode is TriggerMode.DIRECT:
            raise ValueError("QueueTriggers serve the queue and EventBridge modes")
        child = pulumi.ResourceOptions(parent=self)
        self.notifications, self.rules, self.targets = [], [], []
        if mode is TriggerMode.EVENTBRIDGE:
            self.rules = [
                aws.cloudwatch.EventRule(
                    f"{name}-{target.key}-rule",
                    description="New objects of a scanned bucket, to the ClamAV scan queue",
                    event_pattern=target.name.apply(
                        lambda bucket, t=target: json.dumps(object_created_pattern(bucket, t.prefix, t.suffix))
                    ),
                    tags=dict(tags),
                    opts=child,
                )
                for target in uploads
            ]
        self.policy = aws.sqs.QueuePolicy(
            f"{name}-queue-policy",
            queue_url=queue.queue.url,
            policy=pulumi.Output.all(
                queue.queue.arn,
                account_id,
                pulumi.Output.all(*[t.arn for t in uploads]),
                pulumi.Output.all(*[r.arn for r in self.rules]),
            ).apply(
                lambda v: json.dumps(
                    policies.scan_queue_policy(
                        queue_arn=v[0],
                        account_id=v[1],
                        bucket_arns=list(v[2]) if mode is TriggerMode.QUEUE else [],
                        rule_arns=list(v[3]),
                    )
                )
            ),
            opts=child,
        )
        if mode is TriggerMode.QUEUE:
            self.notifications = [
                aws.s3.BucketNotification(
                    f"{name}-{target.key}-notification",
                    bucket=target.name,
                    queues=[
                        aws.s3.BucketNotificationQueueArgs(
                            queue_arn=queue.queue.arn,
                            events=[S3_OBJECT_CREATED],
                            filter_prefix=target.prefix,
                            filter_suffix=target.suffix,
                        )
                    ],
                    # S3 checks it may send to the queue when the configuration is saved.
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.policy]),
                )
                for target in uploads
            ]
        else:
            self.targets = [
                aws.cloudwatch.EventTarget(
                    f"{name}-{target.key}-target",
                    rule=rule.name,
                    arn=queue.queue.arn,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.policy]),
                )
                for target, rule in zip(uploads, self.rules, strict=True)
            ]
            if managed_bucket:
                # The stack's own bucket: it sends its events to EventBridge (attached buckets: their owner does).
                self.notifications = [
                    aws.s3.BucketNotification(
                        f"{name}-{target.key}-eventbridge", bucket=target.name, eventbridge=True, opts=child
                    )
                    for target in uploads
                ]
        self.register_outputs({})
