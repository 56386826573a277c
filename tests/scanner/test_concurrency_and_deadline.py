"""Concurrent records of one SQS batch against one clamd, and the invocation deadline."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from scanner.config import InfectedAction
from scanner.events import Ignored, ObjectRef
from scanner.runtime import largest_first
from tests.support.clamd import EICAR
from tests.support.events import put_and_event, sqs_event


class ShortContext:
    """A Lambda context with little time left."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_a_batch_is_scanned_concurrently_with_per_record_results_and_metrics(
    make_runtime, make_bucket, s3, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = make_runtime(action=InfectedAction.TAG, scan_concurrency=4)
    bucket = make_bucket(versioned=True)
    threads: set[str] = set()
    runtime.on_outcome = lambda outcome: threads.add(threading.current_thread().name)
    bodies = {f"clean-{i}.txt": f"clean {i}".encode() * 20000 for i in range(6)}
    bodies |= {f"evil-{i}.bin": b"x" * 1000 + EICAR for i in range(4)}
    events = [put_and_event(s3, bucket, key, body) for key, body in bodies.items()]
    capsys.readouterr()
    result = runtime.handle(sqs_event(*events))
    assert result == {"batchItemFailures": []}
    assert len(threads) > 1, "records were scanned in more than one thread"
    for key in bodies:
        status = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
        assert status["scan-status"] == ("INFECTED" if key.startswith("evil") else "CLEAN"), key
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert len(emitted) == 1, "one metrics document per invocation, written from the invoking thread"
    assert sum(emitted[0]["ObjectsScanned"]) == 10
    assert sum(emitted[0]["Infected"]) == 4


def test_one_failing_record_in_a_concurrent_batch_fails_alone(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime(action=InfectedAction.TAG, scan_concurrency=3)
    bucket = make_bucket()
    good = [put_and_event(s3, bucket, f"ok-{i}.txt", b"fine") for i in range(4)]
    gone = put_and_event(s3, bucket, "gone.txt", b"x")
    s3.delete_object(Bucket=bucket, Key="gone.txt")

    def refuse(params: dict[str, Any], **kwargs: Any) -> None:
        if params["Key"] == "ok-2.txt":
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "GetObject")

    runtime.s3_client.meta.events.register("before-parameter-build.s3.GetObject", refuse)
    result = runtime.handle(sqs_event(*good, gone))
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-2"}]}, "only the failed record is redelivered"


def test_object_that_cannot_finish_before_the_deadline_is_not_streamed(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime(scan_rate_floor=64 * 1024)
    bucket = make_bucket()
    event = put_and_event(s3, bucket, "big.bin", b"y" * 1024 * 1024)
    # 1 MiB at 64 KiB/s is 16 s; 20 s left minus the 15 s kept for tagging and reporting is not enough.
    result = runtime.handle(event, ShortContext(20_000))
    assert result["statuses"][0]["status"] == "UNSCANNABLE"
    assert result["statuses"][0]["detail"] == "too-large-for-timeout"
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key="big.bin")["TagSet"]}
    assert tags["scan-detail"] == "too-large-for-timeout"
    # With enough time left the same object is scanned.
    assert runtime.handle(event, ShortContext(300_000))["statuses"][0]["status"] == "CLEAN"


def test_a_concurrent_batch_starts_its_largest_objects_first() -> None:
    items = [
        ObjectRef("b", "small", size=64),
        ObjectRef("b", "large", size=1024),
        ObjectRef("b", "unknown"),
        ObjectRef("b", "medium", size=256),
        Ignored("test event"),
        ObjectRef("b", "large-too", size=1024),
    ]
    # Unknown sizes first (they may be the largest), equal sizes in their batch order, every index exactly once.
    assert largest_first([0, 1, 2, 3, 5], items) == [2, 1, 5, 3, 0]
