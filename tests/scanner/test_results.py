"""Scan-result events in GuardDuty's shape: the mapping, the event, batching, failures, and AWS's own rule pattern
(only `source` changed) matching our events on moto's EventBridge, for every status."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from scanner import constants as c
from scanner.events import ObjectRef
from scanner.process import Outcome
from scanner.results import (
    MAX_REQUEST_BYTES,
    GuardDutyResult,
    ResultPublisher,
    entry_size,
    guardduty_result,
    scan_result_detail,
    scan_result_event,
)
from scanner.tags import merge_tags, scan_tags
from scanner.verdict import ScanStatus, Verdict

SOURCE = "s3-clamav-scanner"
ENGINE = "ClamAV 1.4.6/27830/Wed Nov 26 09:29:01 2026"
WHEN = "2026-11-27T07:00:00Z"

# AWS's rule for the S3 object scan result (GuardDuty User Guide, monitor-with-eventbridge-s3-malware-protection),
# and the rule GuardDuty users commonly narrow it to (a bucket and a result status).
GUARDDUTY_PATTERN: dict[str, Any] = {
    "source": ["aws.guardduty"],
    "detail-type": ["GuardDuty Malware Protection Object Scan Result"],
}


def switched(pattern: dict[str, Any]) -> dict[str, Any]:
    """The one change a GuardDuty user makes."""
    return {**pattern, "source": [SOURCE]}


def outcome(status: ScanStatus, detail: str | None = None, **overrides: Any) -> Outcome:
    fields: dict[str, Any] = {
        "ref": ObjectRef("uploads", "reports/2026 Q4/ü+ß 1.pdf"),
        "status": status,
        "detail": detail,
        "size": 1234,
        "bytes_scanned": 1234,
        "version_id": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
        "etag": "d41d8cd98f00b204e9800998ecf8427e",
        "sha256": "ab" * 32,
        "engine": ENGINE,
        "scanned_at": WHEN,
    }
    fields.update(overrides)
    return Outcome(**fields)


EVERY_STATUS: list[tuple[Outcome, str, str]] = [
    (outcome(ScanStatus.CLEAN), "COMPLETED", "NO_THREATS_FOUND"),
    (
        outcome(ScanStatus.INFECTED, "Eicar-Test-Signature", quarantine_location="s3://q/uploads/x"),
        "COMPLETED",
        "THREATS_FOUND",
    ),
    (outcome(ScanStatus.RELEASED, "Eicar-Test-Signature", released_by="alice"), "COMPLETED", "THREATS_FOUND"),
    (outcome(ScanStatus.UNSCANNABLE, "encrypted"), "SKIPPED", "UNSUPPORTED"),
    (outcome(ScanStatus.UNSCANNABLE, "too-large"), "SKIPPED", "UNSUPPORTED"),
    (outcome(ScanStatus.UNSCANNABLE, "limits-exceeded:MaxScanSize"), "SKIPPED", "UNSUPPORTED"),
    (outcome(ScanStatus.UNSCANNABLE, "content-encoding:br"), "SKIPPED", "UNSUPPORTED"),
    (outcome(ScanStatus.ERROR, "s3-error:AccessDenied", retry=True), "SKIPPED", "ACCESS_DENIED"),
    (outcome(ScanStatus.ERROR, "s3-error:KMS.DisabledException", retry=True), "SKIPPED", "ACCESS_DENIED"),
    (outcome(ScanStatus.ERROR, "s3-error:InvalidObjectState", retry=True), "SKIPPED", "UNSUPPORTED"),
    (outcome(ScanStatus.ERROR, "clamd-error:size limit exceeded", retry=True), "FAILED", "FAILED"),
    (outcome(ScanStatus.ERROR, "ClamdTimeout", retry=True), "FAILED", "FAILED"),
]


@pytest.mark.parametrize(("item", "scan_status", "result_status"), EVERY_STATUS)
def test_every_status_and_reason_maps_to_guardduty_values(item: Outcome, scan_status: str, result_status: str) -> None:
    assert item.status is not None
    assert guardduty_result(item.status, item.detail) == GuardDutyResult(scan_status, result_status)
    assert scan_status in {"COMPLETED", "SKIPPED", "FAILED"}
    assert result_status in c.GUARDDUTY_TAG_VALUES


def test_the_event_has_guardduty_fields_and_ours_apart() -> None:
    entry = scan_result_event(EVERY_STATUS[1][0], source=SOURCE)
    assert (entry["Source"], entry["DetailType"]) == (SOURCE, "GuardDuty Malware Protection Object Scan Result")
    assert entry["Resources"] == ["arn:aws:s3:::uploads"]
    detail = json.loads(entry["Detail"])
    assert list(detail) == [
        "schemaVersion",
        "scanStatus",
        "resourceType",
        "s3ObjectDetails",
        "scanResultDetails",
        "scanner",
    ]
    assert detail["schemaVersion"] == "1.0" and detail["resourceType"] == "S3_OBJECT"
    assert detail["s3ObjectDetails"] == {
        "bucketName": "uploads",
        "objectKey": "reports/2026 Q4/ü+ß 1.pdf",
        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
        "versionId": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
        "s3Throttled": False,
    }
    assert detail["scanResultDetails"] == {
        "scanResultStatus": "THREATS_FOUND",
        "threats": [{"name": "Eicar-Test-Signature"}],
        "statusReasons": None,
    }
    ours = detail["scanner"]
    assert ours["status"] == "INFECTED" and ours["quarantineLocation"] == "s3://q/uploads/x"
    assert (ours["engineVersion"], ours["databaseVersion"], ours["databaseTime"]) == (
        "ClamAV 1.4.6",
        "27830",
        "Wed Nov 26 09:29:01 2026",
    )
    assert ours["sha256"] == "ab" * 32 and ours["retry"] is False


def test_clean_has_no_threats_unscannable_gives_its_reason_unversioned_has_no_version() -> None:
    clean = scan_result_detail(outcome(ScanStatus.CLEAN, version_id=None, etag='"quoted"'))
    assert clean["scanResultDetails"] == {
        "scanResultStatus": "NO_THREATS_FOUND",
        "threats": None,
        "statusReasons": None,
    }
    assert "versionId" not in clean["s3ObjectDetails"] and clean["s3ObjectDetails"]["eTag"] == "quoted"
    suspended = scan_result_detail(outcome(ScanStatus.CLEAN, version_id="null"))
    assert "versionId" not in suspended["s3ObjectDetails"]
    unscannable = scan_result_detail(outcome(ScanStatus.UNSCANNABLE, "limits-exceeded:MaxFileSize"))
    assert unscannable["scanResultDetails"]["statusReasons"] == ["limits-exceeded:MaxFileSize"]
    assert unscannable["scanResultDetails"]["threats"] is None
    throttled = scan_result_detail(outcome(ScanStatus.ERROR, "s3-error:SlowDown", problems=["s3:SlowDown"]))
    assert throttled["s3ObjectDetails"]["s3Throttled"] is True


class Recording:
    """A PutEvents client that records requests and answers per entry from a script."""

    def __init__(self, answer: Any = None) -> None:
        self.requests: list[list[dict[str, Any]]] = []
        self.answer = answer

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests.append(Entries)
        if self.answer is not None:
            return self.answer(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}


def test_publishing_is_batched_by_ten_and_skips_outcomes_without_a_verdict() -> None:
    client = Recording()
    outcomes = [outcome(ScanStatus.CLEAN, ref=ObjectRef("uploads", f"k{i}")) for i in range(23)]
    outcomes.append(Outcome(ObjectRef("uploads", "gone"), skipped="object-gone"))
    outcomes.append(Outcome(ObjectRef("uploads", "crashed"), retry=True, problems=["unexpected:KeyError"]))
    assert ResultPublisher(client, "default", SOURCE).publish(outcomes) == []
    assert [len(r) for r in client.requests] == [10, 10, 3]
    keys = [json.loads(e["Detail"])["s3ObjectDetails"]["objectKey"] for r in client.requests for e in r]
    assert keys == [f"k{i}" for i in range(23)]
    assert all(e["EventBusName"] == "default" for r in client.requests for e in r)


def test_batches_stay_under_the_256_kb_request_limit() -> None:
    client = Recording()
    big = "x" * 60_000  # a detail this long never happens; it forces the size split
    outcomes = [outcome(ScanStatus.UNSCANNABLE, f"{big}{i}", ref=ObjectRef("uploads", f"k{i}")) for i in range(9)]
    ResultPublisher(client, "default", SOURCE).publish(outcomes)
    assert len(client.requests) > 1
    assert all(sum(entry_size(e) for e in r) < MAX_REQUEST_BYTES for r in client.requests)
    assert sum(len(r) for r in client.requests) == 9


def key_of(entry: dict[str, Any]) -> str:
    return str(json.loads(entry["Detail"])["s3ObjectDetails"]["objectKey"])


def rejecting(keys: set[str], times: int = 99) -> Any:
    """PutEvents answers rejecting the entries of `keys`, the first `times` times each is sent."""
    seen: dict[str, int] = {}

    def answer(entries: list[dict[str, Any]]) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        for entry in entries:
            key = key_of(entry)
            seen[key] = seen.get(key, 0) + 1
            if key in keys and seen[key] <= times:
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                results.append({"EventId": str(uuid.uuid4())})
        return {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results}

    return answer


def test_rejected_entries_are_put_again_then_handed_back_and_verdicts_untouched() -> None:
    outcomes = [outcome(ScanStatus.INFECTED, "Sig", ref=ObjectRef("uploads", f"k{i}")) for i in range(3)]
    client = Recording(rejecting({"k1"}))
    failed = ResultPublisher(client, "default", SOURCE).publish(outcomes)
    assert failed == [outcomes[1]]
    assert [[key_of(e) for e in r] for r in client.requests] == [["k0", "k1", "k2"], ["k1"], ["k1"]]
    assert [o.status for o in outcomes] == [ScanStatus.INFECTED] * 3 and not any(o.retry for o in outcomes)

    transient = Recording(rejecting({"k0", "k2"}, times=1))
    assert ResultPublisher(transient, "default", SOURCE).publish(outcomes) == []
    assert [len(r) for r in transient.requests] == [3, 2]


def test_a_failed_call_hands_back_its_outcomes_without_repeating_it() -> None:
    outcomes = [outcome(ScanStatus.CLEAN, ref=ObjectRef("uploads", f"k{i}")) for i in range(12)]
    events = boto3.client("events", region_name="us-east-1")
    with Stubber(events) as stub:
        stub.add_client_error("put_events", service_error_code="ThrottlingException", http_status_code=400)
        stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e"}] * 2})
        assert ResultPublisher(events, "default", SOURCE).publish(outcomes) == outcomes[:10]
        stub.assert_no_pending_responses()


def test_the_put_events_request_is_valid_for_botocore_model() -> None:
    events = boto3.client("events", region_name="us-east-1")
    entries = [
        {**scan_result_event(item, source=SOURCE), "EventBusName": "scanner-results"} for item, _, _ in EVERY_STATUS
    ][:10]
    with Stubber(events) as stub:
        stub.add_response(
            "put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "x"}] * 10}, {"Entries": entries}
        )
        assert ResultPublisher(events, "scanner-results", SOURCE).publish([o for o, _, _ in EVERY_STATUS[:10]]) == []
        stub.assert_no_pending_responses()


@pytest.fixture
def bus(session: boto3.Session, endpoint: str) -> tuple[Any, Any, str]:
    """A fresh event bus on moto's EventBridge, and SQS to read what its rules deliver."""
    events = session.client("events", endpoint_url=endpoint)
    sqs = session.client("sqs", endpoint_url=endpoint)
    name = f"results-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=name)
    return events, sqs, name


def route(events: Any, sqs: Any, bus_name: str, pattern: dict[str, Any]) -> str:
    """A rule with `pattern` on the bus, targeting a new queue; returns the queue URL."""
    rule = f"rule-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=rule)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=rule, EventBusName=bus_name, EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule=rule, EventBusName=bus_name, Targets=[{"Id": "q", "Arn": arn}])
    return url


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return received
        for message in messages:
            received.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_awss_guardduty_rule_with_only_source_changed_matches_every_status(bus: tuple[Any, Any, str]) -> None:
    events, sqs, name = bus
    ours = route(events, sqs, name, switched(GUARDDUTY_PATTERN))
    unchanged = route(events, sqs, name, GUARDDUTY_PATTERN)
    outcomes = [o for o, _, _ in EVERY_STATUS]
    assert ResultPublisher(events, name, SOURCE).publish(outcomes) == []

    delivered = drain(sqs, ours)
    assert len(delivered) == len(EVERY_STATUS)
    got = sorted((e["detail"]["scanner"]["status"], e["detail"]["scanner"]["detail"] or "") for e in delivered)
    assert got == sorted((o.status.value, o.detail or "") for o in outcomes if o.status)
    for event in delivered:
        assert event["source"] == SOURCE
        assert event["detail-type"] == "GuardDuty Malware Protection Object Scan Result"
        assert event["detail"]["s3ObjectDetails"]["objectKey"] == "reports/2026 Q4/ü+ß 1.pdf"
    assert drain(sqs, unchanged) == [], "GuardDuty's rule as it is: custom events never carry aws.guardduty"


@pytest.mark.parametrize(
    ("result_status", "expected"),
    [
        ("NO_THREATS_FOUND", {"CLEAN"}),
        ("THREATS_FOUND", {"INFECTED", "RELEASED"}),
        ("UNSUPPORTED", {"UNSCANNABLE", "ERROR"}),
        ("ACCESS_DENIED", {"ERROR"}),
        ("FAILED", {"ERROR"}),
    ],
)
def test_a_guardduty_users_status_rule_matches_exactly_its_statuses(
    bus: tuple[Any, Any, str], result_status: str, expected: set[str]
) -> None:
    events, sqs, name = bus
    pattern = switched(
        {
            **GUARDDUTY_PATTERN,
            "detail": {
                "s3ObjectDetails": {"bucketName": ["uploads"]},
                "scanResultDetails": {"scanResultStatus": [result_status]},
            },
        }
    )
    url = route(events, sqs, name, pattern)
    ResultPublisher(events, name, SOURCE).publish([o for o, _, _ in EVERY_STATUS])
    delivered = drain(sqs, url)
    want = [o for o, _, r in EVERY_STATUS if r == result_status]
    assert len(delivered) == len(want) > 0
    assert {e["detail"]["scanner"]["status"] for e in delivered} == expected
    assert {e["detail"]["scanResultDetails"]["scanResultStatus"] for e in delivered} == {result_status}


def test_a_rule_on_our_status_lets_released_objects_through(bus: tuple[Any, Any, str]) -> None:
    events, sqs, name = bus
    url = route(events, sqs, name, {"source": [SOURCE], "detail": {"scanner": {"status": ["CLEAN", "RELEASED"]}}})
    ResultPublisher(events, name, SOURCE).publish([o for o, _, _ in EVERY_STATUS])
    assert sorted(e["detail"]["scanner"]["status"] for e in drain(sqs, url)) == ["CLEAN", "RELEASED"]


def test_put_events_to_a_missing_bus_is_a_failure_not_a_verdict_change(session: boto3.Session, endpoint: str) -> None:
    events = session.client("events", endpoint_url=endpoint)
    items = [outcome(ScanStatus.CLEAN)]
    try:
        failed = ResultPublisher(events, f"no-such-bus-{uuid.uuid4().hex[:6]}", SOURCE).publish(items)
    except ClientError as err:  # pragma: no cover - publish must never raise
        pytest.fail(f"publish raised {err}")
    assert failed == items and items[0].status is ScanStatus.CLEAN


# --- GuardDuty's tag -------------------------------------------------------------------------------------


def test_the_guardduty_tag_follows_scan_status_and_has_guarddutys_values() -> None:
    tags = scan_tags(Verdict(ScanStatus.INFECTED, "Sig"), ENGINE, WHEN, guardduty=True)
    assert list(tags)[:2] == ["scan-status", "GuardDutyMalwareScanStatus"]
    assert tags["GuardDutyMalwareScanStatus"] == "THREATS_FOUND"
    assert scan_tags(Verdict(ScanStatus.CLEAN), ENGINE, WHEN, guardduty=True)[c.TAG_GUARDDUTY_STATUS] == (
        "NO_THREATS_FOUND"
    )
    assert c.TAG_GUARDDUTY_STATUS not in scan_tags(Verdict(ScanStatus.CLEAN), ENGINE, WHEN)


def test_the_guardduty_tag_is_the_scanners_when_written_and_the_uploaders_otherwise() -> None:
    forged = {"owner": "bob", "GuardDutyMalwareScanStatus": "NO_THREATS_FOUND"}
    written = merge_tags(forged, scan_tags(Verdict(ScanStatus.INFECTED, "Sig"), ENGINE, WHEN, guardduty=True))
    assert written.tags["GuardDutyMalwareScanStatus"] == "THREATS_FOUND", "a forged value is replaced"
    assert written.tags["owner"] == "bob"
    kept = merge_tags(forged, scan_tags(Verdict(ScanStatus.CLEAN), ENGINE, WHEN))
    assert kept.tags["GuardDutyMalwareScanStatus"] == "NO_THREATS_FOUND", "not ours when the option is off"


def test_the_guardduty_tag_obeys_the_ten_tag_priority() -> None:
    eight = {f"k{i}": str(i) for i in range(8)}
    merged = merge_tags(eight, scan_tags(Verdict(ScanStatus.CLEAN), ENGINE, WHEN, guardduty=True))
    assert len(merged.tags) == 10 and merged.dropped_user_tags == ()
    assert list(merged.tags)[:2] == ["scan-status", "GuardDutyMalwareScanStatus"]
    assert merged.dropped_scan_tags == ("scan-time", "scan-engine")

    ten = {f"k{i}": str(i) for i in range(10)}
    merged = merge_tags(ten, scan_tags(Verdict(ScanStatus.UNSCANNABLE, "encrypted"), ENGINE, WHEN, guardduty=True))
    assert len(merged.tags) == 10
    assert merged.tags["GuardDutyMalwareScanStatus"] == "UNSUPPORTED"
    assert merged.dropped_user_tags == ("k9", "k8"), "one of theirs given up for each required tag"
