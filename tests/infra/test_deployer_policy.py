"""The deployer's least-privilege policy: generated in infra/policies.py, published as docs/deployer-policy.json, lint
clean, and covering every resource the program registers (dev, prod, default and an everything-on stack)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from infra.config import StackConfig
from infra.documents import PUBLISHED_DEPLOYER_POLICY, main, published_deployer_policy, render
from infra.policies import deployer_policy
from tests.infra.harness import ACCOUNT, REGION, ROOT, Deployment, Registration, deploy, engine_config
from tests.infra.iam_eval import Request, allowed
from tests.infra.lint import findings, waivers_for
from tests.infra.test_schema import STACKS

DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/platform-deployer"
STACK_CASES = {
    **STACKS,
    "attached-blocking": {"uploadBuckets": ["corp-uploads/in/"], "blockUnscannedDownloads": "true"},
}


def _physical(r: Registration) -> str:
    return r.inputs.get("name") or f"{r.inputs.get('namePrefix') or r.name + '-'}0a1b2c3"


def _bucket(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def _role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def _function(name: str) -> str:
    return name if name.startswith("arn:") else _arn("lambda", f"function:{name}")


def _repository(url_or_name: str) -> str:
    return _arn("ecr", f"repository/{url_or_name.split('/', 1)[-1].split(':')[0]}")


TAGGED = {"aws:ResourceTag/app": "s3-clamav-scanner"}
Check = Callable[[Registration], list[Request]]
BUCKET_CONFIG_ACTIONS = {
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "aws:s3/bucketNotification:BucketNotification": "s3:PutBucketNotification",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "aws:s3/bucketPolicy:BucketPolicy": "s3:PutBucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "s3:PutEncryptionConfiguration"
    ),
    "aws:s3/bucketVersioning:BucketVersioning": "s3:PutBucketVersioning",
}


def _requests(r: Registration) -> list[Request]:
    """The calls creating (and reading back) this registration make, as authorisation requests."""
    t, i = r.type, r.inputs
    if t == "aws:s3/bucket:Bucket":
        arn = _bucket(i.get("bucket") or _physical(r))
        return [Request("s3:CreateBucket", arn, DEPLOYER), Request("s3:ListBucket", arn, DEPLOYER)]
    if t in BUCKET_CONFIG_ACTIONS:
        return [Request(BUCKET_CONFIG_ACTIONS[t], _bucket(i["bucket"]), DEPLOYER)]
    if t == "aws:iam/role:Role":
        return [Request("iam:CreateRole", _role(_physical(r)), DEPLOYER)]
    if t == "aws:iam/rolePolicy:RolePolicy":
        return [Request("iam:PutRolePolicy", _role(i["role"]), DEPLOYER)]
    if t == "aws:lambda/function:Function":
        return [
            Request("lambda:CreateFunction", _function(_physical(r)), DEPLOYER),
            Request("iam:PassRole", i["role"], DEPLOYER, {"iam:PassedToService": "lambda.amazonaws.com"}),
        ]
    if t == "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig":
        return [Request("lambda:PutFunctionEventInvokeConfig", _function(i["functionName"]), DEPLOYER)]
    if t == "aws:lambda/permission:Permission":
        return [Request("lambda:AddPermission", _function(i["function"]), DEPLOYER)]
    if t == "aws:sqs/queue:Queue":
        return [Request("sqs:CreateQueue", _arn("sqs", _physical(r)), DEPLOYER)]
    if t == "aws:sns/topic:Topic":
        return [Request("sns:CreateTopic", _arn("sns", _physical(r)), DEPLOYER)]
    if t == "aws:sns/topicSubscription:TopicSubscription":
        return [Request("sns:Subscribe", i["topic"], DEPLOYER), Request("sns:Unsubscribe", i["topic"] + ":1", DEPLOYER)]
    if t == "aws:kms/key:Key":
        key = _arn("kms", f"key/{r.name}-0000-1111")
        return [
            Request("kms:CreateKey", "*", DEPLOYER, {"aws:RequestTag/app": i["tags"]["app"]}),
            Request("kms:PutKeyPolicy", key, DEPLOYER, TAGGED),
            Request("kms:EnableKeyRotation", key, DEPLOYER, TAGGED),
            Request("kms:ScheduleKeyDeletion", key, DEPLOYER, TAGGED),
        ]
    if t == "aws:cloudwatch/logGroup:LogGroup":
        return [
            Request("logs:CreateLogGroup", _arn("logs", f"log-group:{_physical(r)}"), DEPLOYER),
            Request("logs:DescribeLogGroups", "*", DEPLOYER),
        ]
    if t == "aws:cloudwatch/metricAlarm:MetricAlarm":
        return [Request("cloudwatch:PutMetricAlarm", _arn("cloudwatch", f"alarm:{_physical(r)}"), DEPLOYER)]
    if t == "aws:cloudwatch/eventRule:EventRule":
        return [Request("events:PutRule", _arn("events", f"rule/{_physical(r)}"), DEPLOYER)]
    if t == "aws:cloudwatch/eventTarget:EventTarget":
        return [Request("events:PutTargets", _arn("events", f"rule/{i['rule']}"), DEPLOYER)]
    if t == "aws:ecr/repository:Repository":
        return [Request("ecr:CreateRepository", _repository(_physical(r)), DEPLOYER)]
    if t == "aws:ecr/lifecyclePolicy:LifecyclePolicy":
        return [Request("ecr:PutLifecyclePolicy", _repository(i["repository"]), DEPLOYER)]
    if t == "aws:ecr/repositoryPolicy:RepositoryPolicy":
        return [Request("ecr:SetRepositoryPolicy", _repository(i["repository"]), DEPLOYER)]
    if t == "docker-build:index:Image":
        repository = _repository(i["tags"][0])
        push = ["ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"]
        return [Request("ecr:GetAuthorizationToken", "*", DEPLOYER)] + [Request(a, repository, DEPLOYER) for a in push]
    if t == "aws:dynamodb/table:Table":
        requests = [Request("dynamodb:CreateTable", _arn("dynamodb", f"table/{_physical(r)}"), DEPLOYER)]
        key = (i.get("serverSideEncryption") or {}).get("kmsKeyArn")
        if key:
            via = {**TAGGED, "kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}
            requests.append(Request("kms:CreateGrant", key, DEPLOYER, via))
        return requests
    if t == "aws:sqs/queuePolicy:QueuePolicy":
        return [Request("sqs:SetQueueAttributes", _arn("sqs", i["queueUrl"].rsplit("/", 1)[-1]), DEPLOYER)]
    if t == "aws:lambda/eventSourceMapping:EventSourceMapping":
        return [
            Request(
                "lambda:CreateEventSourceMapping", "*", DEPLOYER, {"lambda:FunctionArn": _function(i["functionName"])}
            )
        ]
    if t == "aws:dynamodb/resourcePolicy:ResourcePolicy":
        return [Request("dynamodb:PutResourcePolicy", i["resourceArn"], DEPLOYER)]
    raise AssertionError(f"{t} ({r.name}): the deployer policy test does not know this resource type")


def policy_for(settings: dict[str, Any]) -> dict[str, Any]:
    """The deployer policy for a stack, as `python -m infra.documents deployer-policy` renders it."""
    config = StackConfig.from_mapping({k.split(":", 1)[1]: v for k, v in engine_config(settings).items()})
    return deployer_policy(
        partition="aws",
        region=REGION,
        account_id=ACCOUNT,
        attached_buckets=[b.name for b in config.upload_buckets],
        quarantine_bucket_name=config.quarantine_bucket_name,
    )


@pytest.mark.parametrize("stack", sorted(STACK_CASES))
@pulumi.runtime.test
def test_the_deployer_may_create_every_resource_the_program_registers(stack: str) -> pulumi.Output[bool]:
    policy = policy_for(STACK_CASES[stack])

    def check(d: Deployment) -> None:
        provider = [r for r in d.registrations if not r.type.startswith(("s3clamav:", "pulumi:"))]
        refused = [
            f"{r.name}: {q.action} on {q.resource}" for r in provider for q in _requests(r) if not allowed(policy, q)
        ]
        assert refused == []

    return deploy(STACK_CASES[stack]).verify(check)


def test_the_deployer_policy_is_least_privilege() -> None:
    policy = published_deployer_policy()
    everything = [s for s in policy["Statement"] if s["Resource"] == ["*"]]
    # Only what AWS authorises on no resource: the ECR token, CreateKey (tag-conditioned), CreateEventSourceMapping
    # (conditioned on the scanner function), and two read/subscription calls without a resource type.
    assert {s["Sid"] for s in everything} == {
        "EcrLogin",
        "CreateKeys",
        "CreateEventSourceMappings",
        "ManageSubscriptions",
        "DescribeLogGroups",
    }
    mappings = next(s for s in everything if s["Sid"] == "CreateEventSourceMappings")
    assert mappings["Condition"] == {
        "ArnLike": {"lambda:FunctionArn": ["arn:aws:lambda:eu-west-1:111122223333:function:scanner-function-*"]}
    }
    assert all("*" not in a for s in policy["Statement"] for a in s["Action"])
    pass_role = next(s for s in policy["Statement"] if s["Sid"] == "PassRolesToLambda")
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
    # Nothing the program never deletes: the retained allow-list table, the quarantine's objects.
    assert not allowed(
        policy, Request("dynamodb:DeleteTable", _arn("dynamodb", "table/quarantine-allow-list-1"), DEPLOYER)
    )
    assert not allowed(policy, Request("s3:DeleteObject", "arn:aws:s3:::quarantine-bucket-1/corp/x", DEPLOYER))
    assert not allowed(policy, Request("s3:GetObject", "arn:aws:s3:::quarantine-bucket-1/corp/x", DEPLOYER))
    # Another team's key, bucket or role.
    assert not allowed(
        policy, Request("kms:PutKeyPolicy", _arn("kms", "key/other"), DEPLOYER, {"aws:ResourceTag/app": "x"})
    )
    assert not allowed(policy, Request("s3:PutBucketPolicy", "arn:aws:s3:::payroll", DEPLOYER))
    assert not allowed(
        policy, Request("iam:PassRole", _role("admin"), DEPLOYER, {"iam:PassedToService": "lambda.amazonaws.com"})
    )


def test_the_published_policy_is_the_generated_one() -> None:
    published = (ROOT / PUBLISHED_DEPLOYER_POLICY).read_text()
    assert published == render(published_deployer_policy()), (
        "regenerate: python -m infra.documents deployer-policy --attach ATTACHED-BUCKET > docs/deployer-policy.json"
    )
    assert json.loads(published)["Version"] == "2012-10-17"


def test_the_deployer_policy_lints_clean_with_parliament() -> None:
    document = published_deployer_policy()
    assert findings(document, waivers_for("deployer_policy")) == []
    for waiver in waivers_for("deployer_policy"):
        assert any(f.startswith(waiver.issue) for f in findings(document)), f"stale waiver {waiver}"


def test_the_cli_renders_a_stack_specific_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deployer-policy", "--account", "444455556666", "--region", "us-east-2", "--attach", "corp"]) == 0
    rendered = json.loads(capsys.readouterr().out)
    attach = next(s for s in rendered["Statement"] if s["Sid"] == "AttachBuckets")
    assert attach["Resource"] == ["arn:aws:s3:::corp"]
    assert any(
        "arn:aws:lambda:us-east-2:444455556666:function:" in r for s in rendered["Statement"] for r in s["Resource"]
    )


def test_deploy_md_points_to_the_policy_and_the_new_account_quotas() -> None:
    text = (ROOT / "docs" / "DEPLOY.md").read_text()
    assert "docs/deployer-policy.json" in text or "(deployer-policy.json)" in text
    assert "python -m infra.documents deployer-policy" in text
    assert "concurrency" in text and "memory" in text and "Service Quotas" in text
