"""S3 -> Lambda wiring for one bucket: the invoke permission, then the bucket's notification configuration."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.uploads import UploadTarget

OBJECT_CREATED = "s3:ObjectCreated:*"


class BucketTrigger(pulumi.ComponentResource):
    """Lets S3 (from this bucket, in this account only) invoke the scanner, then subscribes it to new objects.

    ``BucketNotification`` owns the bucket's entire notification configuration: any other notification already set on
    an attached bucket is replaced.
    """

    permission: aws.lambda_.Permission
    notification: aws.s3.BucketNotification

    def __init__(
        self,
        name: str,
        *,
        target: UploadTarget,
        function_name: pulumi.Input[str],
        function_arn: pulumi.Input[str],
        account_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("s3clamav:scanner:BucketTrigger", name, {}, opts)
        self.permission = aws.lambda_.Permission(
            f"{name}-permission",
            action="lambda:InvokeFunction",
            function=function_name,
            principal="s3.amazonaws.com",
            # Confused-deputy protection: only this bucket, owned by this account.
            source_arn=target.arn,
            source_account=account_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.notification = aws.s3.BucketNotification(
            f"{name}-notification",
            bucket=target.name,
            lambda_functions=[
                aws.s3.BucketNotificationLambdaFunctionArgs(
                    lambda_function_arn=function_arn,
                    events=[OBJECT_CREATED],
                    filter_prefix=target.prefix,
                    filter_suffix=target.suffix,
                )
            ],
            # S3 validates the destination while saving the configuration: the permission must exist first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.permission]),
        )
        self.register_outputs({})
