"""Verification realism: every input the program registers, for the dev, prod and default stacks, and every input the
example program registers, matches the provider SDKs' generated input types, recursively; a misspelt or misplaced
argument fails here, not at `pulumi up`."""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from tests.infra.harness import EXAMPLE, Deployment, deploy, stack_settings
from tests.infra.schema import check_inputs, is_provider_resource

STACKS = {
    "default": {},
    "dev": stack_settings("dev"),
    "prod": stack_settings("prod"),
    "everything-on": {"quarantineKmsKey": True, "findingsEmail": "sec@example.com", "reservedConcurrency": 5},
}


def registered(d: Deployment) -> list[tuple[str, pulumi.Resource, dict[str, Any]]]:
    """(name, resource object, inputs as sent) for every provider resource of the deployment."""
    by_name = {r.name: r for r in d.registrations if not r.type.startswith(("s3clamav:", "pulumi:"))}
    resources = [r for r in d.resources if is_provider_resource(r)]
    assert resources and len(resources) == len(by_name), "every provider resource is registered once"
    return [(r._name, r, by_name[r._name].inputs) for r in resources]


EXAMPLE_STACK = "example"
"""The example program (its own bucket, the component attached), run with no config."""


@pytest.mark.parametrize("stack", [*sorted(STACKS), EXAMPLE_STACK])
@pulumi.runtime.test
def test_every_registered_input_matches_the_provider_sdks(stack: str) -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        resources = registered(d)
        types = {type(r).__name__ for _, r, _ in resources}
        assert {"Bucket", "BucketLifecycleConfiguration", "Function", "Image", "Table", "MetricAlarm"} <= types
        if stack == EXAMPLE_STACK:
            assert "BucketPolicy" in types and "uploads" in {name for name, _, _ in resources}
        problems = [p for name, resource, inputs in resources for p in check_inputs(name, resource, inputs)]
        assert problems == []

    return (deploy(program=EXAMPLE) if stack == EXAMPLE_STACK else deploy(STACKS[stack])).verify(check)


@pulumi.runtime.test
def test_the_check_catches_a_bogus_nested_key() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        name, resource, inputs = next(r for r in registered(d) if r[0] == "quarantine-lifecycle")
        broken = copy.deepcopy(inputs)
        broken["rules"][0]["filter"]["prefx"] = "incoming/"
        unknown = "BucketLifecycleConfigurationRuleFilterArgs has no such argument"
        assert check_inputs(name, resource, broken) == [f"quarantine-lifecycle.rules[0].filter.prefx: {unknown}"]
        misplaced = copy.deepcopy(inputs)
        misplaced["rules"][0]["noncurrentDays"] = 3  # belongs inside noncurrentVersionExpiration
        assert check_inputs(name, resource, misplaced) == [
            "quarantine-lifecycle.rules[0].noncurrentDays: BucketLifecycleConfigurationRuleArgs has no such argument"
        ]
        wrong_shape = copy.deepcopy(inputs)
        wrong_shape["rules"][0]["expiration"] = [{"days": 3}]
        assert check_inputs(name, resource, wrong_shape)
        missing = copy.deepcopy(inputs)
        del missing["bucket"]
        assert check_inputs(name, resource, missing) == [
            "quarantine-lifecycle: the required argument bucket is missing"
        ]

    return deploy().verify(check)


@pulumi.runtime.test
def test_a_bogus_key_in_a_dict_argument_reaches_the_engine_unchecked_by_the_sdk() -> pulumi.Output[bool]:
    """Why the check is needed: the SDK passes a dict argument's unknown keys straight to the provider."""
    d = deploy({"infectedAction": "tag", "definitionsUpdates": False})
    extra = aws.s3.BucketLifecycleConfiguration(
        "typo-lifecycle",
        bucket="b",
        rules=[{"id": "r", "status": "Enabled", "filter": {"prefx": "a/"}}],  # type: ignore[list-item]
    )
    d.resources.append(extra)

    def check(d: Deployment) -> None:
        inputs = d.named("typo-lifecycle").inputs
        assert inputs["rules"][0]["filter"] == {"prefx": "a/"}
        assert check_inputs("typo-lifecycle", extra, inputs) == [
            "typo-lifecycle.rules[0].filter.prefx: BucketLifecycleConfigurationRuleFilterArgs has no such argument"
        ]

    return d.verify(check)
