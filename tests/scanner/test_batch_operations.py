"""S3 Batch Operations events, invocation schemas 1.0 (AWS's S3 User Guide example) and 2.0 (the shape AWS Lambda
Powertools tests with): parsing, missing and malformed tasks, result codes and the answer."""

from __future__ import annotations

from typing import Any

import pytest

from scanner.batch_operations import (
    PERMANENT_FAILURE,
    SUCCEEDED,
    TEMPORARY_FAILURE,
    Task,
    TaskResult,
    answer,
    is_batch_operations_event,
    parse_tasks,
    response,
    result_for,
)
from scanner.events import ObjectRef
from scanner.process import Outcome
from scanner.verdict import ScanStatus


def schema_1(*tasks: dict[str, Any]) -> dict[str, Any]:
    return {
        "invocationSchemaVersion": "1.0",
        "invocationId": "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
        "job": {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce"},
        "tasks": list(tasks),
    }


def schema_2(*tasks: dict[str, Any]) -> dict[str, Any]:
    return {
        "invocationSchemaVersion": "2.0",
        "invocationId": "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
        "job": {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce", "userArguments": {"k1": "v1"}},
        "tasks": list(tasks),
    }


def test_schema_1_names_the_bucket_by_arn_and_url_encodes_the_key() -> None:
    event = schema_1(
        {"taskId": "t1", "s3Key": "customerImage1.jpg", "s3VersionId": "1", "s3BucketArn": "arn:aws:s3:::amzn-bucket"},
        {
            "taskId": "t2",
            "s3Key": "a+b/%C3%BC%2Bx%25.txt",
            "s3VersionId": None,
            "s3BucketArn": "arn:aws:s3:us-east-1:0123456788:awsexamplebucket1",
        },
    )
    assert is_batch_operations_event(event)
    assert parse_tasks(event) == [
        Task("t1", ObjectRef("amzn-bucket", "customerImage1.jpg", "1")),
        Task("t2", ObjectRef("awsexamplebucket1", "a b/ü+x%.txt")),
    ]


def test_schema_2_names_the_bucket_and_decodes_the_key_once() -> None:
    event = schema_2(
        {"taskId": "t1", "s3Key": "prefix/dataset/dataset.20231222.json.gz", "s3VersionId": None, "s3Bucket": "ds"},
        {"taskId": "t2", "s3Key": "sp%20ace/%2525", "s3VersionId": "v9", "s3Bucket": "ds", "s3Etag": "abc"},
    )
    assert parse_tasks(event) == [
        Task("t1", ObjectRef("ds", "prefix/dataset/dataset.20231222.json.gz")),
        Task("t2", ObjectRef("ds", "sp ace/%25", "v9")),
    ]


def test_malformed_tasks_are_answered_and_tasks_without_ids_left_to_treat_missing_keys_as() -> None:
    event = schema_2(
        {"taskId": "no-key", "s3Bucket": "ds"},
        {"taskId": "no-bucket", "s3Key": "k"},
        {"s3Key": "k", "s3Bucket": "ds"},
        "not a task",
        {"taskId": "long", "s3Key": "k" * 1025, "s3Bucket": "ds"},
        {"taskId": "version", "s3Key": "k", "s3Bucket": "ds", "s3VersionId": 7},
    )
    tasks = parse_tasks(event)
    assert [t.task_id for t in tasks] == ["no-key", "no-bucket", "long", "version"]
    assert all(t.ref is None and t.malformed for t in tasks)
    results = [result_for(t, None) for t in tasks]
    assert {r.result_code for r in results} == {PERMANENT_FAILURE}
    answered = response(event, results)
    assert answered["treatMissingKeysAs"] == PERMANENT_FAILURE
    assert len(answered["results"]) == 4
    unknown = parse_tasks(
        {**schema_1({"taskId": "t", "s3Key": "k", "s3BucketArn": "arn:aws:s3:::b"}), "invocationSchemaVersion": "3.0"}
    )
    assert unknown[0].malformed and "3.0" in unknown[0].malformed


def test_other_events_are_not_batch_operations() -> None:
    assert not is_batch_operations_event({"Records": []})
    assert not is_batch_operations_event({"source": "aws.s3", "detail-type": "Object Created"})
    assert not is_batch_operations_event([])
    assert not is_batch_operations_event({"invocationSchemaVersion": "1.0", "tasks": "x", "invocationId": "i"})


def ref() -> ObjectRef:
    return ObjectRef("ds", "k", "v1")


@pytest.mark.parametrize(
    ("item", "code", "text"),
    [
        (Outcome(ref(), status=ScanStatus.CLEAN), SUCCEEDED, "CLEAN"),
        (
            Outcome(ref(), status=ScanStatus.INFECTED, detail="Eicar-Sig", quarantine_location="s3://q/ds/k"),
            SUCCEEDED,
            "INFECTED Eicar-Sig -> s3://q/ds/k",
        ),
        (Outcome(ref(), status=ScanStatus.UNSCANNABLE, detail="encrypted"), SUCCEEDED, "UNSCANNABLE encrypted"),
        (Outcome(ref(), status=ScanStatus.RELEASED, detail="Eicar-Sig"), SUCCEEDED, "RELEASED Eicar-Sig"),
        (
            Outcome(ref(), status=ScanStatus.ERROR, detail="s3-error:SlowDown", retry=True, problems=["s3:SlowDown"]),
            TEMPORARY_FAILURE,
            "retry s3://ds/k?versionId=v1: s3:SlowDown",
        ),
        (
            Outcome(ref(), status=ScanStatus.INFECTED, detail="Sig", retry=True, problems=["action:QuarantineError"]),
            TEMPORARY_FAILURE,
            "retry s3://ds/k?versionId=v1: action:QuarantineError",
        ),
        (
            Outcome(ref(), status=ScanStatus.ERROR, detail="object-replaced-during-scan"),
            TEMPORARY_FAILURE,
            "ERROR object-replaced-during-scan",
        ),
        (Outcome(ref(), skipped="object-gone"), PERMANENT_FAILURE, "object-gone: s3://ds/k?versionId=v1"),
        (Outcome(ref(), skipped="quarantine-bucket"), PERMANENT_FAILURE, "quarantine-bucket: s3://ds/k?versionId=v1"),
    ],
)
def test_outcomes_map_to_result_codes(item: Outcome, code: str, text: str) -> None:
    assert result_for(Task("t", ref()), item) == TaskResult("t", code, text)


def test_the_answer_echoes_version_and_invocation_for_both_schemas() -> None:
    for event in (
        schema_1({"taskId": "a", "s3Key": "k", "s3BucketArn": "arn:aws:s3:::ds"}),
        schema_2({"taskId": "a", "s3Key": "k", "s3Bucket": "ds"}),
    ):
        tasks = parse_tasks(event)
        reply = answer(event, tasks, {"a": Outcome(ObjectRef("ds", "k"), status=ScanStatus.CLEAN)})
        assert reply == {
            "invocationSchemaVersion": event["invocationSchemaVersion"],
            "treatMissingKeysAs": PERMANENT_FAILURE,
            "invocationId": event["invocationId"],
            "results": [{"taskId": "a", "resultCode": SUCCEEDED, "resultString": "CLEAN"}],
        }
    reply = answer(schema_2({"taskId": "b", "s3Key": "k", "s3Bucket": "ds"}), [Task("b", ObjectRef("ds", "k"))], {})
    assert reply["results"][0]["resultCode"] == PERMANENT_FAILURE, "no outcome is never a success"
    long = Outcome(ObjectRef("ds", "k"), status=ScanStatus.UNSCANNABLE, detail="x" * 5000)
    assert len(result_for(Task("c", long.ref), long).result_string) == 1024
