"""`scanner scan --batch-operations`: the CreateJob request. S3 Batch Operations is not in moto, so the request
is checked against botocore's own model (ParamValidator, and a Stubber with the exact expected parameters);
the job's invocation of the function is covered by the handler's Batch Operations tests."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from botocore.validate import ParamValidator

from scanner.cli import build_parser
from scanner.cli.aws import Aws
from scanner.cli.batch_job import build_request, execute, generated_manifest, inventory_manifest
from scanner.cli.errors import EXIT_OK, CliError

ACCOUNT = "111122223333"
FUNCTION = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:scanner-prod"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/scanner-batch-operations"


def valid(params: dict[str, Any]) -> None:
    client = boto3.client("s3control", region_name="eu-west-1")
    shape = client.meta.service_model.operation_model("CreateJob").input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), report.generate_report()


def request(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "account_id": ACCOUNT,
        "function_arn": FUNCTION,
        "role_arn": ROLE,
        "report_bucket": "reports",
        "report_prefix": "scanner-batch-operations",
        "description": "s3-clamav-scanner: scan s3://uploads/2019/",
        "priority": 10,
        "confirmation_required": True,
        "token": "00000000-0000-0000-0000-000000000000",
    }
    fields.update(overrides)
    if "manifest" not in fields and "manifest_generator" not in fields:
        fields["manifest_generator"] = generated_manifest("uploads", "2019/")
    return build_request(**fields)


def test_a_generated_manifest_job_is_valid_for_botocore_model() -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    job = request(manifest_generator=generated_manifest("uploads", "2019/", created_after=since))
    valid(job)
    assert job["Operation"] == {
        "LambdaInvoke": {
            "FunctionArn": FUNCTION,
            "InvocationSchemaVersion": "2.0",
            "UserArguments": {"submittedBy": "scanner scan --batch-operations"},
        }
    }
    assert job["ManifestGenerator"] == {
        "S3JobManifestGenerator": {
            "SourceBucket": "arn:aws:s3:::uploads",
            "EnableManifestOutput": False,
            "Filter": {"KeyNameConstraint": {"MatchAnyPrefix": ["2019/"]}, "CreatedAfter": since},
        }
    }
    assert job["Report"] == {
        "Bucket": "arn:aws:s3:::reports",
        "Format": "Report_CSV_20180820",
        "Enabled": True,
        "Prefix": "scanner-batch-operations",
        "ReportScope": "AllTasks",
    }
    assert "Manifest" not in job


def test_an_inventory_manifest_job_is_valid_for_botocore_model() -> None:
    job = request(manifest=inventory_manifest("inventory", "uploads/all/2026-11-27T00-00Z/manifest.json", '"abc"'))
    valid(job)
    assert job["Manifest"] == {
        "Spec": {"Format": "S3InventoryReport_CSV_20161130"},
        "Location": {"ObjectArn": "arn:aws:s3:::inventory/uploads/all/2026-11-27T00-00Z/manifest.json", "ETag": "abc"},
    }
    with pytest.raises(ValueError):
        build_request(**{**_base(), "manifest": job["Manifest"], "manifest_generator": generated_manifest("u", "")})


def _base() -> dict[str, Any]:
    return {
        "account_id": ACCOUNT,
        "function_arn": FUNCTION,
        "role_arn": ROLE,
        "report_bucket": "r",
        "report_prefix": "p",
        "description": "d",
        "priority": 1,
        "confirmation_required": True,
    }


def stubbed_aws(*stubs: tuple[str, Any]) -> Aws:
    aws = Aws(region="eu-west-1")
    for service, client in stubs:
        aws._clients[service] = client
    return aws


def args(*argv: str) -> Any:
    return build_parser().parse_args(["scan", *argv])


def job_args(target: str, *extra: str, function: str = FUNCTION) -> Any:
    """`scanner scan TARGET --batch-operations` with the function, the role and the report bucket."""
    return args(
        target, "--batch-operations", "--function", function, "--role-arn", ROLE, "--report-bucket", "reports", *extra
    )


def test_the_cli_creates_a_job_with_exactly_these_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    sts = boto3.client("sts", region_name="eu-west-1")
    lam = boto3.client("lambda", region_name="eu-west-1")
    control = boto3.client("s3control", region_name="eu-west-1")
    expected = request(confirmation_required=False, token=ANY)
    with Stubber(sts) as s_sts, Stubber(lam) as s_lam, Stubber(control) as s_control:
        s_sts.add_response(
            "get_caller_identity",
            {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/alice", "UserId": "AIDAEXAMPLE"},
            {},
        )
        s_lam.add_response(
            "get_function", {"Configuration": {"FunctionArn": FUNCTION}}, {"FunctionName": "scanner-prod"}
        )
        s_control.add_response("create_job", {"JobId": "job-1"}, expected)
        code = execute(
            job_args("s3://uploads/2019/", "--yes", "--json", function="scanner-prod"),
            stubbed_aws(("sts", sts), ("lambda", lam), ("s3control", control)),
        )
        s_control.assert_no_pending_responses()
    assert code == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert (out["jobId"], out["confirmationRequired"], out["confirmWith"]) == ("job-1", False, None)


def test_without_yes_the_job_awaits_confirmation(capsys: pytest.CaptureFixture[str]) -> None:
    control = boto3.client("s3control", region_name="eu-west-1")
    with Stubber(control) as stub:
        stub.add_response("create_job", {"JobId": "job-2"}, request(token=ANY, priority=10))
        execute(
            job_args("s3://uploads/2019/", "--account-id", ACCOUNT),
            stubbed_aws(("s3control", control)),
        )
    out = capsys.readouterr().out
    assert "awaiting confirmation" in out and "--requested-job-status Ready" in out and "job-2" in out


def inventory_reply(source: str) -> dict[str, Any]:
    body = json.dumps({"sourceBucket": source, "fileFormat": "CSV", "files": []}).encode()
    return {"Body": StreamingBody(io.BytesIO(body), len(body)), "ETag": '"etag-1"'}


def test_an_inventory_of_another_bucket_is_refused_and_its_own_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    control = boto3.client("s3control", region_name="eu-west-1")
    argv = ["s3://uploads", "--account-id", ACCOUNT, "--manifest", "s3://inventory/uploads/all/manifest.json"]
    location = {"Bucket": "inventory", "Key": "uploads/all/manifest.json"}
    with Stubber(s3) as stub:
        stub.add_response("get_object", inventory_reply("someone-else"), location)
        with pytest.raises(CliError, match="inventory of 'someone-else'"):
            execute(job_args(*argv), stubbed_aws(("s3", s3)))
    with Stubber(s3) as stub, Stubber(control) as s_control:
        stub.add_response("get_object", inventory_reply("uploads"), location)
        expected = request(
            token=ANY,
            description="s3-clamav-scanner: scan s3://uploads/",
            manifest=inventory_manifest("inventory", "uploads/all/manifest.json", "etag-1"),
        )
        s_control.add_response("create_job", {"JobId": "job-3"}, expected)
        assert execute(job_args(*argv), stubbed_aws(("s3", s3), ("s3control", control))) == EXIT_OK
        s_control.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "needs --role-arn, --report-bucket"),
        (["--role-arn", ROLE, "--report-bucket", "r", "--scanned-before", "27830"], "do not apply"),
        (
            ["--role-arn", ROLE, "--report-bucket", "r", "--manifest", "s3://i/m.json", "--modified-since", "7d"],
            "filters",
        ),
    ],
)
def test_arguments_that_cannot_work_are_refused(extra: list[str], message: str) -> None:
    with pytest.raises(CliError, match=message):
        execute(args("s3://uploads", "--batch-operations", "--function", FUNCTION, *extra), Aws(region="eu-west-1"))


def test_the_local_pipeline_has_no_batch_operations() -> None:
    with pytest.raises(CliError, match="no local equivalent"):
        execute(
            args(
                "s3://uploads", "--batch-operations", "--function", FUNCTION, "--role-arn", ROLE, "--report-bucket", "r"
            ),
            Aws(endpoint_url="http://127.0.0.1:1", region="us-east-1"),
        )


def test_dry_run_prints_the_request_and_calls_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code = execute(job_args("s3://uploads/p/", "--account-id", ACCOUNT, "--dry-run", "--json"), stubbed_aws())
    out = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK and out["dryRun"] is True
    assert out["request"]["ManifestGenerator"]["S3JobManifestGenerator"]["Filter"] == {
        "KeyNameConstraint": {"MatchAnyPrefix": ["p/"]}
    }
