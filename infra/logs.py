"""Explicit CloudWatch log groups for the functions, so retention is set before the first invocation."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from infra.config import PROJECT


def function_log_group(
    name: str, *, retention_days: int, tags: Mapping[str, str], parent: pulumi.Resource
) -> aws.cloudwatch.LogGroup:
    """The log group a function writes to: project, stack and role, then a random suffix, so same-named stacks (of
    other backends or projects) in one account and region never share a group."""
    return aws.cloudwatch.LogGroup(
        f"{name}-logs",
        name_prefix=f"/aws/lambda/{PROJECT}-{pulumi.get_stack()}-{name}-",
        retention_in_days=retention_days,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
