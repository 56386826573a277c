"""The handler end to end: moto server (real HTTP streaming) + a real clamd on the test signatures."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from botocore.exceptions import ClientError

from scanner import constants as c
from scanner import handler
from scanner.cli.quarantined import load_record
from scanner.config import InfectedAction
from scanner.events import ObjectRef
from scanner.exceptions import MalformedEventError
from scanner.provenance import ProvenanceRecord
from scanner.runtime import InvocationFailed
from scanner.storage import ObjectStore, checksum_to_hex
from scanner.verdict import ScanStatus, Verdict
from tests.support.clamd import EICAR, EICAR_NAME, TESTFILE_NAME, TESTFILES
from tests.support.events import eventbridge_event, put_and_event, s3_event, s3_record, sample, sqs_event


def tags(s3: Any, bucket: str, key: str, version_id: str | None = None) -> dict[str, str]:
    args = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(**args)["TagSet"]}


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError:
        return False


def quarantine_record(s3: Any, bucket: str, key: str, version_id: str) -> ProvenanceRecord:
    record = load_record(s3, bucket, key, version_id)
    assert record is not None, f"no provenance record for s3://{bucket}/{key}?versionId={version_id}"
    return record


def zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def statuses(result: dict[str, Any]) -> list[str | None]:
    return [s["status"] for s in result["statuses"]]


def test_clean_object_is_tagged_clean(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime()
    bucket = make_bucket()
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"hello", Tagging="owner=alice")
    event = s3_event(s3_record(bucket, "doc.txt", size=5))
    result = runtime.handle(event)
    assert statuses(result) == ["CLEAN"]
    found = tags(s3, bucket, "doc.txt")
    assert found["scan-status"] == "CLEAN"
    assert found["owner"] == "alice"
    assert "scan-detail" not in found
    assert found["scan-engine"].startswith("ClamAV 1.") and "/local-" in found["scan-engine"]
    assert found["scan-time"].endswith("Z")


def test_lambda_handler_entry_point_uses_the_installed_runtime(make_runtime, make_bucket, s3, lambda_context) -> None:
    runtime = make_runtime()
    handler.set_runtime(runtime)
    try:
        bucket = make_bucket()
        result = handler.lambda_handler(put_and_event(s3, bucket, "a.txt", b"abc"), lambda_context)
    finally:
        handler.set_runtime(None)
    assert statuses(result) == ["CLEAN"]


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (EICAR, "eicar.com"),
        (zipped("eicar.com", EICAR), "eicar.zip"),
        (zipped("inner.zip", zipped("eicar.com", EICAR)), "nested.zip"),
    ],
    ids=["plain", "zip", "nested-zip"],
)
def test_eicar_is_quarantined_with_provenance(make_runtime, make_bucket, s3, body: bytes, key: str) -> None:
    runtime = make_runtime()
    bucket = make_bucket(versioned=True)
    event = put_and_event(
        s3, bucket, key, body, ContentType="application/x-sample", Metadata={"owner": "alice"}, Tagging="team=red"
    )
    version = event["Records"][0]["s3"]["object"]["versionId"]
    result = runtime.handle(event)
    assert statuses(result) == ["INFECTED"]
    quarantine = runtime.settings.quarantine_bucket
    assert not exists(s3, bucket, key), "source version must be gone after a verified copy"
    assert s3.list_object_versions(Bucket=bucket).get("Versions", []) == []
    head = s3.head_object(Bucket=quarantine, Key=f"{bucket}/{key}", ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(body)
    assert head["ContentType"] == "application/x-sample"
    assert head["Metadata"] == {"owner": "alice"}, "the uploader's metadata travels unchanged"
    record = quarantine_record(s3, quarantine, f"{bucket}/{key}", head["VersionId"])
    assert (record.source_bucket, record.source_key, record.source_version_id) == (bucket, key, version)
    assert record.signature == EICAR_NAME
    assert record.sha256 == hashlib.sha256(body).hexdigest() == checksum_to_hex(head["ChecksumSHA256"])
    assert record.user_tags == {"team": "red"}
    copy_tags = tags(s3, quarantine, f"{bucket}/{key}")
    assert copy_tags["scan-status"] == "INFECTED" and copy_tags["scan-detail"] == EICAR_NAME
    assert result["statuses"][0]["quarantine"] == f"s3://{quarantine}/{bucket}/{key}"


def test_every_clamav_testfile_is_infected(make_runtime, make_bucket, s3) -> None:
    files = sorted(TESTFILES.iterdir())
    assert len(files) > 30, "clamav-testfiles is not installed"
    runtime = make_runtime(action=InfectedAction.TAG)
    bucket = make_bucket()
    records = []
    for path in files:
        s3.put_object(Bucket=bucket, Key=f"testfiles/{path.name}", Body=path.read_bytes())
        records.append(s3_record(bucket, f"testfiles/{path.name}", size=path.stat().st_size))
    result = runtime.handle(s3_event(*records))
    verdicts = {s["key"]: (s["status"], s["detail"]) for s in result["statuses"]}
    assert verdicts == {f"testfiles/{p.name}": ("INFECTED", TESTFILE_NAME) for p in files}
    assert tags(s3, bucket, "testfiles/clam.exe")["scan-status"] == "INFECTED"


@pytest.mark.parametrize(
    "key", ["with space.txt", "plus+sign.txt", "per%cent%20.txt", "ünï/cødé 漢字.txt", "a+b c%2Bd"]
)
def test_awkward_keys(make_runtime, make_bucket, s3, key: str) -> None:
    runtime = make_runtime()
    bucket = make_bucket()
    result = runtime.handle(put_and_event(s3, bucket, key, b"fine"))
    assert statuses(result) == ["CLEAN"]
    assert tags(s3, bucket, key)["scan-status"] == "CLEAN"


def test_awkward_infected_key_is_recorded_exactly(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime()
    bucket = make_bucket()
    key = "dir/ünï cødé+%.bin"
    runtime.handle(put_and_event(s3, bucket, key, EICAR))
    quarantine = runtime.settings.quarantine_bucket
    head = s3.head_object(Bucket=quarantine, Key=f"{bucket}/{key}")
    assert quarantine_record(s3, quarantine, f"{bucket}/{key}", head["VersionId"]).source_key == key


def test_zero_byte_object_is_clean(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime()
    bucket = make_bucket()
    result = runtime.handle(put_and_event(s3, bucket, "empty", b""))
    assert statuses(result) == ["CLEAN"]
    assert result["statuses"][0]["size"] == 0


def test_object_over_the_maximum_is_not_streamed(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime(max_object_bytes=1024)
    gets: list[str] = []
    runtime.s3_client.meta.events.register("before-call.s3.GetObject", lambda **kw: gets.append("get"))
    bucket = make_bucket()
    result = runtime.handle(put_and_event(s3, bucket, "big.bin", b"x" * 2048))
    assert statuses(result) == ["UNSCANNABLE"]
    assert result["statuses"][0]["detail"] == "too-large"
    assert gets == []
    assert tags(s3, bucket, "big.bin")["scan-detail"] == "too-large"


def test_encrypted_zip_is_unscannable_or_infected_by_choice(make_runtime, make_bucket, s3, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    archive = tmp_path / "enc.zip"
    assert os.system(f"cd {tmp_path} && zip -q -P pw enc.zip secret.txt") == 0
    bucket = make_bucket()
    result = make_runtime().handle(put_and_event(s3, bucket, "enc.zip", archive.read_bytes()))
    assert (statuses(result), result["statuses"][0]["detail"]) == (["UNSCANNABLE"], "encrypted")
    strict = make_runtime(action=InfectedAction.TAG, encrypted_is_infected=True)
    result = strict.handle(put_and_event(s3, bucket, "enc2.zip", archive.read_bytes()))
    assert (statuses(result), result["statuses"][0]["detail"]) == (["INFECTED"], "Heuristics.Encrypted.Zip")


def test_object_deleted_before_the_scan_is_skipped_without_retry(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime()
    bucket = make_bucket()
    event = put_and_event(s3, bucket, "gone.txt", b"x")
    s3.delete_object(Bucket=bucket, Key="gone.txt")
    result = runtime.handle(event)
    assert result["statuses"][0]["skipped"] == "object-gone"
    assert result["statuses"][0]["retry"] is False


def test_versioned_bucket_tags_the_event_version(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime()
    bucket = make_bucket(versioned=True)
    first = put_and_event(s3, bucket, "doc.txt", b"version one")
    second = s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"version two")
    runtime.handle(first)
    v1 = first["Records"][0]["s3"]["object"]["versionId"]
    assert tags(s3, bucket, "doc.txt", v1)["scan-status"] == "CLEAN"
    assert tags(s3, bucket, "doc.txt", second["VersionId"]) == {}


def test_infected_old_version_quarantines_only_that_version(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime()
    bucket = make_bucket(versioned=True)
    bad = put_and_event(s3, bucket, "doc.bin", EICAR)
    good = s3.put_object(Bucket=bucket, Key="doc.bin", Body=b"now clean")
    runtime.handle(bad)
    versions = [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]]
    assert versions == [good["VersionId"]]


@pytest.mark.parametrize("user_tags", [9, 10])
def test_objects_with_many_user_tags(make_runtime, make_bucket, s3, user_tags: int) -> None:
    runtime = make_runtime(action=InfectedAction.TAG)
    bucket = make_bucket()
    tagging = "&".join(f"k{i}=v{i}" for i in range(user_tags))
    result = runtime.handle(put_and_event(s3, bucket, "t.bin", EICAR, Tagging=tagging))
    assert statuses(result) == ["INFECTED"]
    found = tags(s3, bucket, "t.bin")
    assert len(found) == 10
    assert found["scan-status"] == "INFECTED"
    kept_user = {k for k in found if k.startswith("k")}
    assert kept_user == {f"k{i}" for i in range(9)}


def test_redelivered_events_are_scanned_again_whatever_the_tags_say(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime(max_object_bytes=1024)
    bucket = make_bucket()
    gets: list[str] = []
    runtime.s3_client.meta.events.register("before-call.s3.GetObject", lambda **kw: gets.append("get"))
    clean = put_and_event(s3, bucket, "dup.txt", b"same")
    assert statuses(runtime.handle(clean)) == ["CLEAN"]
    again = runtime.handle(clean)["statuses"][0]
    assert (again["status"], again["skipped"]) == ("CLEAN", None)
    assert len(gets) == 2, "a CLEAN tag never spares a scan"


def test_forged_clean_tags_do_not_skip_the_scan(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime()
    bucket = make_bucket()
    forged = f"scan-status=CLEAN&scan-engine={quote_plus(runtime.engine())}"
    result = runtime.handle(put_and_event(s3, bucket, "forged.bin", EICAR, Tagging=forged))
    assert statuses(result) == ["INFECTED"]
    assert not exists(s3, bucket, "forged.bin")


def test_failed_delete_keeps_source_and_retry_converges(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime()
    bucket = make_bucket(versioned=True)
    event = put_and_event(s3, bucket, "evil.bin", EICAR)

    def refuse(**kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "DeleteObject")

    runtime.s3_client.meta.events.register("before-call.s3.DeleteObject", refuse, unique_id="refuse-delete")
    with pytest.raises(InvocationFailed):
        runtime.handle(event)
    assert exists(s3, bucket, "evil.bin")
    assert tags(s3, bucket, "evil.bin")["scan-status"] == "INFECTED"
    runtime.s3_client.meta.events.unregister("before-call.s3.DeleteObject", unique_id="refuse-delete")
    result = runtime.handle(event)
    assert statuses(result) == ["INFECTED"]
    assert not exists(s3, bucket, "evil.bin")
    versions = s3.list_object_versions(Bucket=runtime.settings.quarantine_bucket)["Versions"]
    copies = [v for v in versions if not v["Key"].startswith("_records/")]
    assert len(copies) == 1, "the second quarantine of the same content must reuse the verified copy"
    assert len(versions) == 2, "one copy, one provenance record"


def test_quarantine_copy_failure_keeps_the_source(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime()
    bucket = make_bucket()
    event = put_and_event(s3, bucket, "evil.bin", EICAR)

    def refuse(**kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "injected"}}, "CopyObject")

    runtime.s3_client.meta.events.register("before-call.s3.CopyObject", refuse)
    with pytest.raises(InvocationFailed, match="need a retry"):
        runtime.handle(event)
    assert s3.get_object(Bucket=bucket, Key="evil.bin")["Body"].read() == EICAR
    assert tags(s3, bucket, "evil.bin")["scan-status"] == "INFECTED"
    assert "Contents" not in s3.list_objects_v2(Bucket=runtime.settings.quarantine_bucket)


def test_every_scannable_object_fits_one_server_side_copy() -> None:
    # clamd cannot scan beyond 2 GiB - 1, and CopyObject copies up to 5 GiB in one request: no multipart path.
    assert c.CLAMD_MAX_LIMIT_BYTES < c.S3_SINGLE_COPY_LIMIT


def test_delete_action_and_tag_action(make_runtime, make_bucket, s3) -> None:
    bucket = make_bucket()
    make_runtime(action=InfectedAction.DELETE, quarantine_bucket=None).handle(put_and_event(s3, bucket, "d.bin", EICAR))
    assert not exists(s3, bucket, "d.bin")
    make_runtime(action=InfectedAction.TAG, quarantine_bucket=None).handle(put_and_event(s3, bucket, "t.bin", EICAR))
    assert tags(s3, bucket, "t.bin")["scan-status"] == "INFECTED"


def test_clamd_killed_before_a_scan_is_restarted(make_runtime, make_bucket, s3, clamd_daemon) -> None:
    runtime = make_runtime(action=InfectedAction.TAG)
    os.kill(clamd_daemon.pid, signal.SIGKILL)
    clamd_daemon.process.wait(5)
    bucket = make_bucket()
    result = runtime.handle(put_and_event(s3, bucket, "e.bin", EICAR))
    assert statuses(result) == ["INFECTED"]
    assert clamd_daemon.is_running()


def test_scan_restarts_a_dead_clamd_once_and_retries(make_runtime, make_bucket, s3, clamd_daemon) -> None:
    runtime = make_runtime()
    bucket = make_bucket()
    s3.put_object(Bucket=bucket, Key="e.bin", Body=EICAR)
    scanner = runtime.processor().scanner
    old_pid = clamd_daemon.pid
    os.kill(old_pid, signal.SIGKILL)
    clamd_daemon.process.wait(5)
    result = scanner.scan(scanner.store.open(ObjectRef(bucket, "e.bin")))
    assert result.verdict == Verdict(ScanStatus.INFECTED, EICAR_NAME)
    assert clamd_daemon.pid != old_pid and clamd_daemon.is_running()


class KillingStream:
    """Wraps an S3 body; kills clamd after the first chunk has been handed over."""

    def __init__(self, body: Any, daemon: Any) -> None:
        self.body, self.daemon, self.reads = body, daemon, 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.reads == 2 and self.daemon.is_running():
            os.kill(self.daemon.pid, signal.SIGKILL)
            self.daemon.process.wait(5)
        return self.body.read(size)

    def close(self) -> None:
        self.body.close()


def test_clamd_killed_mid_stream_is_error_never_clean(make_runtime, make_bucket, s3, clamd_daemon, monkeypatch) -> None:
    original_open, original_reopen = ObjectStore.open, ObjectStore.open_pinned

    def killing(opener: Any) -> Any:
        def open_and_kill(self: ObjectStore, target: Any) -> Any:
            opened = opener(self, target)
            opened.body = KillingStream(opened.body, clamd_daemon)
            return opened

        return open_and_kill

    monkeypatch.setattr(ObjectStore, "open", killing(original_open))
    monkeypatch.setattr(ObjectStore, "open_pinned", killing(original_reopen))
    runtime = make_runtime(action=InfectedAction.TAG)
    bucket = make_bucket()
    event = put_and_event(s3, bucket, "clean-but-unverified.bin", b"c" * (2 * 1024 * 1024))
    with pytest.raises(InvocationFailed):
        runtime.handle(event)
    found = tags(s3, bucket, "clean-but-unverified.bin")
    assert found["scan-status"] == "ERROR"
    assert found["scan-detail"] == "ClamdConnectionError"
    # Killed once only: clamd is restarted and the same pinned content read again, to a real verdict.
    monkeypatch.setattr(ObjectStore, "open_pinned", original_reopen)
    assert statuses(runtime.handle(event)) == ["CLEAN"], "one restart and a fresh read of the same content"
    monkeypatch.setattr(ObjectStore, "open", original_open)
    assert statuses(runtime.handle(event)) == ["CLEAN"], "a rerun converges once clamd is healthy"


def test_findings_message(make_runtime, make_bucket, s3, session, endpoint) -> None:
    sns = session.client("sns", endpoint_url=endpoint)
    sqs = session.client("sqs", endpoint_url=endpoint)
    topic = sns.create_topic(Name=f"findings-{make_bucket('t')}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"f-{make_bucket('q')}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    runtime = make_runtime(findings_topic_arn=topic)
    bucket = make_bucket(versioned=True)
    event = put_and_event(s3, bucket, "evil.bin", EICAR)
    runtime.handle(put_and_event(s3, bucket, "fine.txt", b"fine"))
    runtime.handle(event)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    assert len(messages) == 1, "CLEAN objects are not reported"
    body = json.loads(messages[0]["Body"])
    assert body == {
        "bucket": bucket,
        "key": "evil.bin",
        "versionId": event["Records"][0]["s3"]["object"]["versionId"],
        "status": "INFECTED",
        "detail": EICAR_NAME,
        "engine": runtime.engine(),
        "scannedAt": body["scannedAt"],
        "quarantine": f"s3://{runtime.settings.quarantine_bucket}/{bucket}/evil.bin",
    }


def test_sqs_batch_reports_partial_failures(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime(action=InfectedAction.TAG)
    bucket = make_bucket()
    good = put_and_event(s3, bucket, "ok.txt", b"ok")
    s3.put_object(Bucket=bucket, Key="broken.txt", Body=b"x")
    event = sqs_event(good, "{not json", sample("s3_test_event.json"))
    result = runtime.handle(event)
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}
    assert tags(s3, bucket, "ok.txt")["scan-status"] == "CLEAN"


def test_eventbridge_event(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime()
    bucket = make_bucket()
    s3.put_object(Bucket=bucket, Key="eb file+1 %2B:=.txt", Body=b"eb")
    result = runtime.handle(eventbridge_event(bucket, "eb file+1 %2B:=.txt", size=2))
    assert statuses(result) == ["CLEAN"]
    assert tags(s3, bucket, "eb file+1 %2B:=.txt")["scan-status"] == "CLEAN"


def test_one_failing_record_does_not_stop_the_others(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime(action=InfectedAction.TAG)
    bucket = make_bucket()
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"a")
    s3.put_object(Bucket=bucket, Key="b.txt", Body=b"b")
    calls: list[str] = []

    def fail_first(params: dict[str, Any], **kwargs: Any) -> None:
        calls.append(params["Key"])
        if params["Key"] == "a.txt":
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "GetObject")

    runtime.s3_client.meta.events.register("before-parameter-build.s3.GetObject", fail_first)
    with pytest.raises(InvocationFailed, match="1 of 2"):
        runtime.handle(s3_event(s3_record(bucket, "a.txt", size=1), s3_record(bucket, "b.txt", size=1)))
    assert tags(s3, bucket, "b.txt")["scan-status"] == "CLEAN"
    assert tags(s3, bucket, "a.txt")["scan-status"] == "ERROR"
    assert tags(s3, bucket, "a.txt")["scan-detail"] == "s3-error:InternalError"


def test_ignored_records_and_folder_markers(make_runtime, make_bucket) -> None:
    runtime = make_runtime()
    bucket = make_bucket()
    assert runtime.handle(sample("s3_test_event.json"))["processed"] == 0
    assert runtime.handle(s3_event(s3_record(bucket, "folder/", size=0)))["processed"] == 0
    assert runtime.handle(s3_event(s3_record(bucket, "x", event_name="ObjectRemoved:Delete")))["processed"] == 0


def test_malformed_event_raises_a_clear_error(make_runtime) -> None:
    with pytest.raises(MalformedEventError, match="missing 'eventName'"):
        make_runtime().handle({"Records": [{"s3": {}}]})


def test_quarantine_bucket_events_are_not_rescanned(make_runtime, s3) -> None:
    runtime = make_runtime()
    quarantine = runtime.settings.quarantine_bucket
    s3.put_object(Bucket=quarantine, Key="b/evil", Body=EICAR)
    result = runtime.handle(s3_event(s3_record(quarantine, "b/evil", size=len(EICAR))))
    assert result["statuses"][0]["skipped"] == "quarantine-bucket"
