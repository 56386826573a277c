"""Explicit CloudWatch log groups for the functions, so retention is set before the first invocation."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from infra.config import PROJECT


def function_log_group(
    name: str, *, retention_days: int, tags: Mapping[str, str], parent: pulumi.Resource
) -> aws.cloudwatch.LogGroup:
    """The log group a function writes to (named after project, stack and role; not derived from Lambda's name)."""
    return aws.cloudwatch.LogGroup(
        f"{name}-logs",
        name=f"/aws/lambda/{PROJECT}-{pulumi.get_stack()}-{name}",
        retention_in_days=retention_days,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
