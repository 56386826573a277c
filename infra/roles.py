"""Lambda execution roles, created before the buckets whose policies name them."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from infra import policies


class ExecutionRole(pulumi.ComponentResource):
    """An IAM role that only ``lambda.amazonaws.com`` can assume; its permissions are attached by its function."""

    role: aws.iam.Role
    arn: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(
        self, name: str, *, description: str, tags: Mapping[str, str], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("s3clamav:iam:ExecutionRole", name, {}, opts)
        self.role = aws.iam.Role(
            f"{name}-role",
            description=description,
            assume_role_policy=json.dumps(policies.lambda_trust_policy()),
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.role.arn
        self.name = self.role.name
        self.register_outputs({"arn": self.arn})
