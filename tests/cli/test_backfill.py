"""`scanner scan s3://bucket/prefix`: pre-existing objects submitted to the local pipeline, or to a function."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from scanner.cli import main
from scanner.cli.backfill import LambdaSubmitter, object_created_event
from scanner.cli.errors import EXIT_ERROR, EXIT_OK
from scanner.events import ObjectRef, parse_event
from tests.cli.helpers import exists, tags_of
from tests.cli.local_process import LocalProcess, Ready
from tests.support.clamd import EICAR


def scan(capsys: pytest.CaptureFixture[str], ready: Ready, *argv: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["scan", *argv, "--endpoint-url", ready.endpoint, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {"stderr": err}


def test_scan_submits_every_object_and_only_untagged_resumes(
    local_pipeline: LocalProcess,
    ready: Ready,
    local_s3: Any,
    scratch_bucket: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    untagged = {f"archive/2019/report {i}.txt" for i in range(5)}
    for key in untagged:
        local_s3.put_object(Bucket=scratch_bucket, Key=key, Body=f"{key}\n".encode())
    local_s3.put_object(Bucket=scratch_bucket, Key="archive/2019/infected.bin", Body=EICAR)
    local_s3.put_object(
        Bucket=scratch_bucket, Key="archive/2019/done.txt", Body=b"done", Tagging="scan-status=CLEAN&owner=bob"
    )
    local_s3.put_object(Bucket=scratch_bucket, Key="elsewhere/outside.txt", Body=b"not under the prefix")

    code, summary = scan(capsys, ready, f"s3://{scratch_bucket}/archive/")

    assert code == EXIT_OK
    assert (summary["listed"], summary["submitted"], summary["skipped"], summary["failed"]) == (7, 7, 0, 0)
    verdicts = local_pipeline.verdicts(
        scratch_bucket, untagged | {"archive/2019/infected.bin", "archive/2019/done.txt"}, timeout_s=60
    )
    assert verdicts["archive/2019/done.txt"]["status"] == "CLEAN", "a CLEAN tag is scanned like any object"
    assert {verdicts[k]["status"] for k in untagged} == {"CLEAN"}
    assert verdicts["archive/2019/infected.bin"]["status"] == "INFECTED"
    for key in untagged:
        assert tags_of(local_s3, scratch_bucket, key)["scan-status"] == "CLEAN"
    assert not exists(local_s3, scratch_bucket, "archive/2019/infected.bin")
    assert exists(local_s3, ready.quarantine, f"{scratch_bucket}/archive/2019/infected.bin")
    assert tags_of(local_s3, scratch_bucket, "elsewhere/outside.txt") == {}

    local_s3.put_object(Bucket=scratch_bucket, Key="archive/2019/new.txt", Body=b"new")
    code, again = scan(capsys, ready, f"s3://{scratch_bucket}/archive/", "--only-untagged")
    assert code == EXIT_OK
    assert (again["listed"], again["submitted"], again["skipped"]) == (7, 1, 6), "--only-untagged: what is left"

    code, dry = scan(capsys, ready, f"s3://{scratch_bucket}/", "--dry-run")
    assert (code, dry["submitted"], dry["skipped"]) == (EXIT_OK, 8, 0)


def test_scan_submits_a_forged_clean_object_and_it_is_quarantined(
    local_pipeline: LocalProcess, ready: Ready, local_s3: Any, scratch_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "forged/evil.bin"
    local_s3.put_object(Bucket=scratch_bucket, Key=key, Body=EICAR, Tagging="scan-status=CLEAN")
    code, summary = scan(capsys, ready, f"s3://{scratch_bucket}/forged/")
    assert (code, summary["submitted"], summary["skipped"]) == (EXIT_OK, 1, 0)
    assert local_pipeline.verdicts(scratch_bucket, {key}, timeout_s=30)[key]["status"] == "INFECTED"
    assert not exists(local_s3, scratch_bucket, key)


def test_scan_reports_a_missing_bucket(ready: Ready, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = scan(capsys, ready, "s3://no-such-bucket/x")
    assert code == EXIT_ERROR
    assert result["stderr"].strip() == "scanner: scan: bucket no-such-bucket does not exist"


def test_function_target_is_an_asynchronous_invocation_with_an_s3_event() -> None:
    client = boto3.client(
        "lambda", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    event = object_created_event("uploads", "a b/ü+x.txt", size=3, etag='"abc"', region="eu-west-1")
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202},
            {"FunctionName": "scanner-fn", "InvocationType": "Event", "Payload": json.dumps(event).encode()},
        )
        LambdaSubmitter(client, "scanner-fn").submit(event)
        stub.assert_no_pending_responses()

    deliveries, is_sqs = parse_event(event)
    assert not is_sqs
    assert deliveries[0].items == (ObjectRef("uploads", "a b/ü+x.txt", size=3, etag="abc"),)
