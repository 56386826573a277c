"""Malformed and unexpected events: missing fields, wrong types, empty and huge record lists, unknown event
names. Each gets a clear error (MalformedEventError naming what is wrong) or is ignored; through SQS a bad
message is one failed batch item and never stops its neighbours.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from scanner.config import InfectedAction
from scanner.exceptions import MalformedEventError
from tests.faults.harness import upload
from tests.faults.ledger import assert_safe
from tests.support.clamd import EICAR
from tests.support.events import eventbridge_event, s3_event, s3_record, sample, sqs_event


def good_record() -> dict[str, Any]:
    return s3_record("some-bucket", "some/key.txt", size=3)


def with_change(path: str, value: Any) -> dict[str, Any]:
    """A one-record S3 event with the field at `path` (dots; `-` deletes it) changed."""
    record = good_record()
    *parents, last = path.split(".")
    node = record
    for name in parents:
        node = node[name]
    if value == "-":
        del node[last]
    else:
        node[last] = value
    return s3_event(record)


def eventbridge_without(path: str) -> dict[str, Any]:
    event = eventbridge_event("some-bucket", "k")
    *parents, last = path.split(".")
    node = event
    for name in parents:
        node = node[name]
    del node[last]
    return event


MALFORMED: list[tuple[str, Any, str]] = [
    ("none", None, "event must be a JSON object, got NoneType"),
    ("list", [], "event must be a JSON object, got list"),
    ("string", "Records", "event must be a JSON object, got str"),
    ("number", 42, "event must be a JSON object, got int"),
    ("empty-object", {}, "neither 'Records'"),
    ("records-null", {"Records": None}, "'Records' must be a list, got NoneType"),
    ("records-string", {"Records": "[]"}, "'Records' must be a list, got str"),
    ("records-object", {"Records": {}}, "'Records' must be a list, got dict"),
    ("records-empty", {"Records": []}, "'Records' is empty"),
    ("record-null", {"Records": [None]}, r"Records\[0\] must be an object"),
    ("record-number", {"Records": [7]}, r"Records\[0\] must be an object"),
    ("no-event-name", with_change("eventName", "-"), r"Records\[0\] is missing 'eventName'"),
    ("event-name-number", with_change("eventName", 3), r"Records\[0\].eventName must be str, got int"),
    ("no-s3", with_change("s3", "-"), r"Records\[0\] is missing 's3'"),
    ("s3-list", with_change("s3", []), r"Records\[0\].s3 must be Mapping, got list"),
    ("no-bucket", with_change("s3.bucket", "-"), r"Records\[0\].s3 is missing 'bucket'"),
    ("no-bucket-name", with_change("s3.bucket.name", "-"), r"Records\[0\].s3.bucket is missing 'name'"),
    ("bucket-name-number", with_change("s3.bucket.name", 12), r"s3.bucket.name must be str, got int"),
    ("bucket-name-empty", with_change("s3.bucket.name", ""), "bucket name is empty"),
    ("no-object", with_change("s3.object", "-"), r"Records\[0\].s3 is missing 'object'"),
    ("no-key", with_change("s3.object.key", "-"), r"s3.object is missing 'key'"),
    ("key-number", with_change("s3.object.key", 5), r"s3.object.key must be str, got int"),
    ("key-null", with_change("s3.object.key", None), r"s3.object.key must be str, got NoneType"),
    ("key-empty", with_change("s3.object.key", ""), r"s3.object.key is empty"),
    ("size-negative", with_change("s3.object.size", -1), "size must be a non-negative integer"),
    ("size-string", with_change("s3.object.size", "3"), "size must be a non-negative integer"),
    ("size-bool", with_change("s3.object.size", True), "size must be a non-negative integer"),
    ("size-float", with_change("s3.object.size", 1.5), "size must be a non-negative integer"),
    ("version-number", with_change("s3.object.versionId", 1), "versionId must be a string, got int"),
    ("eventbridge-no-detail", eventbridge_without("detail"), "EventBridge event is missing 'detail'"),
    ("eventbridge-no-bucket", eventbridge_without("detail.bucket"), "detail is missing 'bucket'"),
    ("eventbridge-no-key", eventbridge_without("detail.object.key"), "detail.object is missing 'key'"),
    (
        "sqs-no-message-id",
        {"Records": [{**sqs_event(s3_event(good_record()))["Records"][0], "messageId": ""}]},
        "SQS record is missing 'messageId'",
    ),
]

UNKNOWN_NAMES = [
    "ObjectRemoved:Delete",
    "ObjectRemoved:DeleteMarkerCreated",
    "ObjectRestore:Completed",
    "ObjectTagging:Put",
    "ObjectAcl:Put",
    "LifecycleExpiration:Delete",
    "LifecycleTransition",
    "ReducedRedundancyLostObject",
    "Replication:OperationFailedReplication",
    "IntelligentTiering",
    "ObjectCreated",
    "objectcreated:put",
    "",
    "Some:Thing:Else",
]


@pytest.mark.parametrize(("event", "message"), [pytest.param(e, m, id=i) for i, e, m in MALFORMED])
def test_malformed_event_is_a_clear_error_before_anything_is_touched(
    make_runtime, ledger, event: Any, message: str
) -> None:
    runtime = make_runtime()
    calls: list[str] = []
    runtime.s3_client.meta.events.register("before-call.s3", lambda model, **kw: calls.append(model.name))
    ledger.bad_input()
    with pytest.raises(MalformedEventError, match=message):
        runtime.handle(copy.deepcopy(event))
    assert calls == []


@pytest.mark.parametrize(
    "body",
    [pytest.param(e, id=i) for i, e, _ in MALFORMED if isinstance(e, dict) and "messageId" not in json.dumps(e)]
    + [
        pytest.param("{not json", id="not-json"),
        pytest.param("", id="empty-body"),
        pytest.param("[1, 2]", id="json-list"),
        pytest.param('"text"', id="json-string"),
        pytest.param("null", id="json-null"),
    ],
)
def test_malformed_sqs_message_fails_only_its_own_item(make_runtime, make_bucket, s3, ledger, body: Any) -> None:
    runtime = make_runtime()
    bucket = make_bucket()
    good, good_event = upload(s3, bucket, "good.txt", b"good")
    evil, evil_event = upload(s3, bucket, "evil.bin", EICAR, bad=True)
    ledger.bad_input()
    result = runtime.handle(sqs_event(good_event, body, evil_event))
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}
    found = ledger.check(s3, [good, evil], runtime.settings.quarantine_bucket)
    assert_safe(found, [good, evil])
    assert found["good.txt"].status == "CLEAN"
    assert found["evil.bin"].in_quarantine and not found["evil.bin"].in_source


@pytest.mark.parametrize("name", UNKNOWN_NAMES)
def test_unknown_event_names_are_ignored(make_runtime, make_bucket, s3, ledger, name: str) -> None:
    runtime = make_runtime()
    bucket = make_bucket()
    obj, _ = upload(s3, bucket, "x.bin", EICAR, bad=True)
    ledger.bad_input()
    result = runtime.handle(s3_event(s3_record(bucket, "x.bin", size=len(EICAR), event_name=name)))
    assert result["processed"] == 0
    found = ledger.check(s3, [obj], runtime.settings.quarantine_bucket)
    assert found["x.bin"].source_tags == {}, "an ignored record changes nothing"


def test_eventbridge_other_detail_types_are_ignored(make_runtime, make_bucket, s3, ledger) -> None:
    runtime = make_runtime()
    bucket = make_bucket()
    upload(s3, bucket, "x.bin", b"x")
    for detail_type in ("Object Deleted", "Object Restore Completed", "Object Tags Added", "Whatever"):
        event = eventbridge_event(bucket, "x.bin", size=1)
        event["detail-type"] = detail_type
        ledger.bad_input()
        assert runtime.handle(event)["processed"] == 0


def test_a_malformed_record_rejects_its_whole_s3_event_and_loses_nothing(make_runtime, make_bucket, s3, ledger) -> None:
    """A direct S3 notification with one broken record among good ones is refused as a whole (Lambda retries
    it, then dead-letters it); nothing is half-done, and every object stays where it was, unlabelled."""
    runtime = make_runtime()
    bucket = make_bucket()
    good, good_event = upload(s3, bucket, "good.txt", b"good")
    evil, evil_event = upload(s3, bucket, "evil.bin", EICAR, bad=True)
    broken = good_record()
    del broken["s3"]["object"]["key"]
    event = s3_event(good_event["Records"][0], broken, evil_event["Records"][0])
    ledger.bad_input()
    with pytest.raises(MalformedEventError, match=r"Records\[1\].s3.object is missing 'key'"):
        runtime.handle(event)
    found = ledger.check(s3, [good, evil], runtime.settings.quarantine_bucket)
    assert_safe(found, [good, evil])
    assert found["good.txt"].source_tags == {} and found["evil.bin"].source_tags == {}


def test_huge_lists_of_ignored_records_and_messages(make_runtime, ledger) -> None:
    runtime = make_runtime()
    removed = s3_event(*[s3_record("b", f"k{i}", event_name="ObjectRemoved:Delete") for i in range(10_000)])
    ledger.bad_input()
    assert runtime.handle(removed)["processed"] == 0
    tests = sqs_event(*[sample("s3_test_event.json")] * 10_000)
    ledger.bad_input()
    assert runtime.handle(tests) == {"batchItemFailures": []}


def test_huge_record_list_with_duplicates_every_object_reaches_a_final_status(
    make_runtime, make_bucket, s3, ledger
) -> None:
    """180 records for 36 objects (each named 5 times, every sixth infected): all final, none lost."""
    runtime = make_runtime(action=InfectedAction.QUARANTINE)
    bucket = make_bucket(versioned=True)
    objects, records = [], []
    for i in range(36):
        body = EICAR + b" %d" % i if i % 6 == 0 else b"clean %d" % i
        obj, event = upload(s3, bucket, f"many/{i}.bin", body, bad=i % 6 == 0)
        objects.append(obj)
        records.append(event["Records"][0])
    ledger.bad_input()
    gets: list[str] = []
    runtime.s3_client.meta.events.register(
        "before-parameter-build.s3.GetObject",
        lambda params, **kw: gets.append(params["Key"]) if params["Bucket"] == bucket else None,
    )
    result = runtime.handle(s3_event(*(records * 5)))
    # The same object version named five times in one event is scanned once; the records share its outcome.
    assert result["processed"] == 36
    assert sorted(gets) == sorted(o.key for o in objects)
    statuses = [(s["status"], s["skipped"]) for s in result["statuses"]]
    assert statuses.count(("INFECTED", None)) == 6
    assert statuses.count(("CLEAN", None)) == 30
    found = ledger.check(s3, objects, runtime.settings.quarantine_bucket)
    assert_safe(found, objects)
    for obj in objects:
        where = found[obj.key]
        if obj.must_not_be_clean:
            assert where.in_quarantine and not where.in_source
        else:
            assert where.status == "CLEAN"
