from __future__ import annotations

import pytest

from scanner.events import Ignored, Malformed, ObjectRef, parse_event
from scanner.exceptions import MalformedEventError
from tests.support.events import eventbridge_event, s3_event, s3_record, sample, sqs_event


def test_s3_notification_decodes_keys_once() -> None:
    event = s3_event(
        s3_record("b", "dir/a b+c%20d é.txt", size=5, version_id="v1", etag="e"),
        s3_record("b", "two", size=1),
    )
    deliveries, is_sqs = parse_event(event)
    assert not is_sqs
    assert deliveries[0].items == (
        ObjectRef("b", "dir/a b+c%20d é.txt", "v1", 5, "e"),
        ObjectRef("b", "two", None, 1, None),
    )


def test_sample_event_file() -> None:
    (delivery,), _ = parse_event(sample("s3_put.json"))
    assert delivery.items == (
        ObjectRef("example-bucket", "example key.txt", "v1", 1024, "0123456789abcdef0123456789abcdef"),
    )


def test_eventbridge_object_created() -> None:
    (delivery,), is_sqs = parse_event(eventbridge_event("b", "x y+z.txt", size=3, version_id="v9"))
    assert not is_sqs
    assert delivery.items == (ObjectRef("b", "x y+z.txt", "v9", 3, "0123456789abcdef0123456789abcdef"),)
    deleted = eventbridge_event("b", "k")
    deleted["detail-type"] = "Object Deleted"
    assert parse_event(deleted)[0][0].items == (Ignored("detail-type Object Deleted"),)


def test_sqs_wrapped_records_and_bad_bodies() -> None:
    event = sqs_event(
        s3_event(s3_record("b", "k1", size=1)), "not json", {"Records": "nope"}, sample("s3_test_event.json")
    )
    deliveries, is_sqs = parse_event(event)
    assert is_sqs
    assert [d.message_id for d in deliveries] == ["msg-0", "msg-1", "msg-2", "msg-3"]
    assert deliveries[0].items == (ObjectRef("b", "k1", None, 1, None),)
    assert isinstance(deliveries[1].items[0], Malformed)
    assert isinstance(deliveries[2].items[0], Malformed) and "Records" in deliveries[2].items[0].reason
    assert deliveries[3].items == (Ignored("s3:TestEvent"),)


def test_test_event_and_other_event_names_are_ignored() -> None:
    assert parse_event(sample("s3_test_event.json"))[0][0].items == (Ignored("s3:TestEvent"),)
    removed = s3_event(s3_record("b", "k", event_name="ObjectRemoved:Delete"))
    assert parse_event(removed)[0][0].items == (Ignored("eventName ObjectRemoved:Delete"),)


def test_folder_marker() -> None:
    assert ObjectRef("b", "dir/", size=0).is_folder_marker
    assert not ObjectRef("b", "dir/", size=3).is_folder_marker
    assert not ObjectRef("b", "file", size=0).is_folder_marker


def _without(path: list[str]) -> dict:
    event = s3_event(s3_record("b", "k", size=1))
    node = event["Records"][0]
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return event


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "JSON object"),
        ({}, "neither 'Records'"),
        ({"Records": []}, "'Records' is empty"),
        ({"Records": {}}, "'Records' must be a list"),
        ({"Records": [1]}, "Records[0] must be an object"),
        (_without(["eventName"]), "Records[0] is missing 'eventName'"),
        (_without(["s3"]), "Records[0] is missing 's3'"),
        (_without(["s3", "bucket"]), "Records[0].s3 is missing 'bucket'"),
        (_without(["s3", "bucket", "name"]), "Records[0].s3.bucket is missing 'name'"),
        (_without(["s3", "object", "key"]), "Records[0].s3.object is missing 'key'"),
        (s3_event(s3_record("b", "k", size=-1)), "size must be a non-negative integer"),
        ({"source": "aws.s3", "detail-type": "Object Created"}, "EventBridge event is missing 'detail'"),
    ],
)
def test_malformed_events_name_what_is_missing(event: object, message: str) -> None:
    with pytest.raises(MalformedEventError) as caught:
        parse_event(event)
    assert message in str(caught.value)


def test_wrong_types() -> None:
    event = s3_event(s3_record("b", "k", size=1))
    event["Records"][0]["s3"]["object"]["key"] = 12
    with pytest.raises(MalformedEventError, match=r"key must be str, got int"):
        parse_event(event)
