"""The handler with result events, Security Hub and S3 Batch Operations events: moto server + a real clamd.

Batch Operations events of both invocation schemas go through the real handler (the job API itself is not in
moto); scan-result events go to moto's EventBridge and a rule routes them to SQS; findings go to moto's
Security Hub. A failure to publish retries the record and never changes its verdict."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

from scanner.batch_operations import PERMANENT_FAILURE, SUCCEEDED
from scanner.securityhub import finding_id
from tests.support.clamd import EICAR, EICAR_NAME
from tests.support.events import put_and_event, sqs_event

PRODUCT = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
SOURCE = "s3-clamav-scanner"


def tags(s3: Any, bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


@pytest.fixture
def results(session: boto3.Session, endpoint: str) -> tuple[Any, str, Any, str]:
    """(events client, bus name, sqs client, queue URL): a bus whose rule (GuardDuty's, source changed) feeds SQS."""
    events = session.client("events", endpoint_url=endpoint)
    sqs = session.client("sqs", endpoint_url=endpoint)
    bus = f"bus-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=bus)
    url = sqs.create_queue(QueueName=bus)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": [SOURCE], "detail-type": ["GuardDuty Malware Protection Object Scan Result"]}
    events.put_rule(Name=bus, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=bus, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return events, bus, sqs, url


def received(sqs: Any, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


def test_an_sqs_batch_publishes_one_event_per_object_and_imports_the_infected_finding(
    make_runtime: Any, make_bucket: Any, s3: Any, session: boto3.Session, endpoint: str, results: Any
) -> None:
    events, bus, sqs, url = results
    hub = session.client("securityhub", endpoint_url=endpoint)
    with contextlib.suppress(hub.exceptions.ClientError):  # already enabled by another test on this moto server
        hub.enable_security_hub(EnableDefaultStandards=False)
    runtime = make_runtime(result_event_bus=bus, security_hub_product_arn=PRODUCT)
    runtime.events_client, runtime.securityhub_client = events, hub
    bucket = make_bucket("up", versioned=True)
    clean = put_and_event(s3, bucket, "docs/a b.txt", b"hello")
    evil = put_and_event(s3, bucket, "docs/evil.com", EICAR)
    assert runtime.handle(sqs_event(clean, evil)) == {"batchItemFailures": []}

    by_key = {e["detail"]["s3ObjectDetails"]["objectKey"]: e["detail"] for e in received(sqs, url)}
    assert set(by_key) == {"docs/a b.txt", "docs/evil.com"}
    assert by_key["docs/a b.txt"]["scanResultDetails"]["scanResultStatus"] == "NO_THREATS_FOUND"
    infected = by_key["docs/evil.com"]
    assert infected["scanResultDetails"]["threats"] == [{"name": EICAR_NAME}]
    assert infected["scanner"]["quarantineLocation"].startswith(f"s3://{runtime.settings.quarantine_bucket}/")
    version = infected["s3ObjectDetails"]["versionId"]
    fid = finding_id(bucket, "docs/evil.com", version, infected["s3ObjectDetails"]["eTag"])
    found = [f for f in hub.get_findings()["Findings"] if f["Id"] == fid]
    assert len(found) == 1 and found[0]["Malware"][0]["Name"] == EICAR_NAME


def test_an_event_that_cannot_be_put_retries_the_record_and_keeps_the_verdict(
    make_runtime: Any, make_bucket: Any, s3: Any, session: boto3.Session, endpoint: str
) -> None:
    runtime = make_runtime(result_event_bus=f"missing-{uuid.uuid4().hex[:8]}")
    runtime.events_client = session.client("events", endpoint_url=endpoint)
    bucket = make_bucket("up")
    event = put_and_event(s3, bucket, "k.txt", b"fine")
    assert runtime.handle(sqs_event(event)) == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    assert tags(s3, bucket, "k.txt")["scan-status"] == "CLEAN"


def batch_task(schema: str, bucket: str, key: str, version: str | None, task_id: str) -> dict[str, Any]:
    encoded = quote_plus(key, safe="/")
    if schema == "1.0":
        return {"taskId": task_id, "s3Key": encoded, "s3VersionId": version, "s3BucketArn": f"arn:aws:s3:::{bucket}"}
    return {"taskId": task_id, "s3Key": encoded, "s3VersionId": version, "s3Bucket": bucket}


@pytest.mark.parametrize("schema", ["1.0", "2.0"])
def test_batch_operations_events_of_both_schemas_through_the_real_handler(
    schema: str, make_runtime: Any, make_bucket: Any, s3: Any, results: Any
) -> None:
    events, bus, sqs, url = results
    runtime = make_runtime(result_event_bus=bus)
    runtime.events_client = events
    bucket = make_bucket("bops", versioned=True)
    clean = s3.put_object(Bucket=bucket, Key="in/ü +x.txt", Body=b"plain")
    evil = s3.put_object(Bucket=bucket, Key="in/evil.bin", Body=EICAR)
    event = {
        "invocationSchemaVersion": schema,
        "invocationId": "inv-1",
        "job": {"id": "job-1", **({"userArguments": {"submittedBy": "test"}} if schema == "2.0" else {})},
        "tasks": [
            batch_task(schema, bucket, "in/ü +x.txt", clean["VersionId"], "t-clean"),
            batch_task(schema, bucket, "in/evil.bin", evil["VersionId"], "t-evil"),
            batch_task(schema, bucket, "in/missing.txt", None, "t-missing"),
            {"taskId": "t-bad", "s3Key": "", "s3Bucket": bucket, "s3BucketArn": f"arn:aws:s3:::{bucket}"},
        ],
    }
    answer = runtime.handle(event)
    assert (answer["invocationSchemaVersion"], answer["invocationId"]) == (schema, "inv-1")
    codes = {r["taskId"]: (r["resultCode"], r["resultString"]) for r in answer["results"]}
    assert codes["t-clean"] == (SUCCEEDED, "CLEAN")
    assert codes["t-evil"][0] == SUCCEEDED and codes["t-evil"][1].startswith(f"INFECTED {EICAR_NAME} -> s3://")
    assert codes["t-missing"][0] == PERMANENT_FAILURE and codes["t-missing"][1].startswith("object-gone")
    assert codes["t-bad"][0] == PERMANENT_FAILURE
    assert tags(s3, bucket, "in/ü +x.txt")["scan-status"] == "CLEAN"
    statuses = sorted(e["detail"]["scanResultDetails"]["scanResultStatus"] for e in received(sqs, url))
    assert statuses == ["NO_THREATS_FOUND", "THREATS_FOUND"]
