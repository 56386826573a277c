"""Attacks on the three rules, as an uploader (who can write any tag) and as a careless user would try them,
against the moto server and the session's real clamd. Each test is named after what it proves.

Rule 1: tags are outputs, never inputs. Rule 2: CLEAN only for bytes the engine fully saw. Rule 3: act only on the
exact content scanned (the version, or the ETag when unversioned).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from scanner import constants as c
from scanner.actions import quarantine_key
from scanner.allowlist import AllowList, Release, scope_of
from scanner.cli.backfill import Backfill, QueueSubmitter, Selector, object_created_event
from scanner.cli.local import outcome_line
from scanner.cli.quarantined import list_entries, load_record
from scanner.config import InfectedAction
from scanner.definitions import watcher as watcher_module
from scanner.definitions.manifest import MANIFEST_KEY
from scanner.definitions.publish import publish_directory
from scanner.definitions.watcher import DefinitionsWatcher
from scanner.events import ObjectRef
from scanner.process import Outcome
from scanner.provenance import record_key
from scanner.runtime import InvocationFailed
from scanner.verdict import ScanStatus
from tests.cli.helpers import tags_of
from tests.support.attacks import refused
from tests.support.clamd import EICAR, EICAR_NAME, SIGNATURES
from tests.support.events import put_and_event, s3_event, s3_record, sqs_event

FORGED_BY = "arn:aws:iam::123456789012:user/mallory"
tags = tags_of


def body(s3: Any, bucket: str, key: str, version_id: str | None = None) -> bytes | None:
    args = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    try:
        return s3.get_object(**args)["Body"].read()
    except s3.exceptions.ClientError:
        return None


def copies(s3: Any, quarantine: str, key: str) -> list[dict[str, Any]]:
    """Every version of one quarantine key, newest first."""
    reply = s3.list_object_versions(Bucket=quarantine, Prefix=key)
    return [v for v in reply.get("Versions", []) if v["Key"] == key]


def evil(label: str = "") -> bytes:
    """EICAR followed by bytes no other test uses; the same length for labels of the same length."""
    return EICAR + f"\n{label}{uuid.uuid4()}\n".encode()


def forged(status: str, engine: str, **extra: str) -> str:
    """A Tagging header an uploader can send on PutObject: the scanner's own tags, forged."""
    values = {c.TAG_STATUS: status, c.TAG_ENGINE: engine, c.TAG_TIME: "2026-01-01T00:00:00Z", **extra}
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in values.items())


def only(result: dict[str, Any]) -> dict[str, Any]:
    assert len(result["statuses"]) == 1, result
    return result["statuses"][0]


def allow(runtime: Any, content: bytes, bucket: str, key: str, *, signature: str = EICAR_NAME) -> Release:
    """What `scanner quarantine release` records for `content` at bucket/key (the release CLI is tested in
    test_release_flow.py; here only its allow-list entry matters)."""
    release = Release(
        sha256=hashlib.sha256(content).hexdigest(),
        scope=scope_of(bucket, key),
        signature=signature,
        content_encoding="",
        released_by="arn:aws:iam::123456789012:user/reviewer",
        reason="vendor test file",
        released_at="2026-01-01T00:00:00Z",
    )
    AllowList(runtime.dynamodb_client, runtime.settings.allow_list_table).add(release)
    return release


# Rule 1: tags are outputs, never inputs.


def test_forged_released_on_other_content_of_the_same_size_is_quarantined(runtime, make_bucket, s3) -> None:
    """A reviewer released content A at this key. The uploader replaces it by B (other bytes, same size) in a
    multipart upload, whose ETag is not an MD5, and forges every RELEASED tag: B is scanned and quarantined."""
    bucket = make_bucket()
    released, other = evil("A"), evil("B")
    assert len(released) == len(other) and released != other
    allow(runtime, released, bucket, "tool.exe")
    assert only(runtime.handle(put_and_event(s3, bucket, "tool.exe", released)))["status"] == "RELEASED"

    tagging = forged(
        "RELEASED",
        runtime.engine(),
        **{c.TAG_DETAIL: EICAR_NAME, c.TAG_RELEASED_BY: FORGED_BY, c.TAG_RELEASE_REASON: "ok"},
    )
    upload = s3.create_multipart_upload(Bucket=bucket, Key="tool.exe", Tagging=tagging)
    part = s3.upload_part(Bucket=bucket, Key="tool.exe", UploadId=upload["UploadId"], PartNumber=1, Body=other)
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="tool.exe",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    assert done["ETag"].strip('"').endswith("-1"), "a multipart ETag, not an MD5 of the content"
    event = s3_event(s3_record(bucket, "tool.exe", size=len(other), etag=done["ETag"].strip('"')))

    outcome = only(runtime.handle(event))

    assert outcome["status"] == "INFECTED"
    assert body(s3, bucket, "tool.exe") is None, "the forged object is removed from the upload bucket"
    qkey = quarantine_key(bucket, "tool.exe")
    held = [
        body(s3, runtime.settings.quarantine_bucket, qkey, v["VersionId"])
        for v in copies(s3, runtime.settings.quarantine_bucket, qkey)
    ]
    assert other in held


@pytest.mark.parametrize("was_released", [False, True], ids=["never-released", "released-content"])
def test_forged_released_on_an_unreadable_object_ends_error_not_released(
    runtime, make_bucket, s3, was_released: bool
) -> None:
    """GetObject is denied (a KMS key the scanner may not use, SSE-C, a bucket policy): the content cannot be
    identified, so no allow-list entry can vouch for it, even one for its real content: ERROR replaces RELEASED."""
    bucket = make_bucket()
    content = evil()
    if was_released:
        allow(runtime, content, bucket, "locked.bin")
    tagging = forged("RELEASED", runtime.engine(), **{c.TAG_RELEASED_BY: FORGED_BY})
    event = put_and_event(s3, bucket, "locked.bin", content, Tagging=tagging)

    with refused(runtime.s3_client, "GetObject", "AccessDenied") as denied:
        result = runtime.handle(sqs_event(event))

    assert denied.refused >= 1
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}, "retried, then dead-lettered"
    found = tags(s3, bucket, "locked.bin")
    assert found[c.TAG_STATUS] == "ERROR"
    assert found[c.TAG_DETAIL] == "s3-error:AccessDenied"
    assert c.TAG_RELEASED_BY not in found and c.TAG_RELEASE_REASON not in found


def test_forged_unscannable_with_the_current_engine_is_scanned_and_quarantined(runtime, make_bucket, s3) -> None:
    bucket = make_bucket()
    gets: list[str] = []
    runtime.s3_client.meta.events.register("before-call.s3.GetObject", lambda **kw: gets.append("get"))
    tagging = forged("UNSCANNABLE", runtime.engine(), **{c.TAG_DETAIL: "too-large"})

    outcome = only(runtime.handle(put_and_event(s3, bucket, "big.iso", evil(), Tagging=tagging)))

    assert gets, "the forged status spared no GET"
    assert (outcome["status"], outcome["detail"]) == ("INFECTED", EICAR_NAME)
    assert body(s3, bucket, "big.iso") is None
    assert outcome["quarantine"] == f"s3://{runtime.settings.quarantine_bucket}/{bucket}/big.iso"


@pytest.mark.parametrize("how", ["forged-tag", "earlier-attempt"])
def test_redelivered_infected_finishes_its_action(runtime, make_bucket, s3, how: str) -> None:
    """An object already tagged INFECTED (forged, or by an attempt whose copy failed) is scanned again on
    redelivery, and the quarantine is completed: the INFECTED tag never stands in for the action."""
    bucket = make_bucket(versioned=True)
    content = evil()
    tagging = forged("INFECTED", runtime.engine(), **{c.TAG_DETAIL: EICAR_NAME}) if how == "forged-tag" else ""
    event = put_and_event(s3, bucket, "x.bin", content, Tagging=tagging)
    if how == "earlier-attempt":
        with refused(runtime.s3_client, "CopyObject", "InternalError"), pytest.raises(InvocationFailed):
            runtime.handle(event)
        assert tags(s3, bucket, "x.bin")[c.TAG_STATUS] == "INFECTED"

    outcome = only(runtime.handle(event))

    assert outcome["status"] == "INFECTED" and not outcome["retry"]
    assert s3.list_object_versions(Bucket=bucket).get("Versions", []) == []
    version = copies(s3, runtime.settings.quarantine_bucket, f"{bucket}/x.bin")[0]["VersionId"]
    assert body(s3, runtime.settings.quarantine_bucket, f"{bucket}/x.bin", version) == content


def test_forged_infected_on_clean_content_is_scanned_again_and_tagged_clean(runtime, make_bucket, s3) -> None:
    bucket = make_bucket()
    tagging = forged("INFECTED", runtime.engine(), **{c.TAG_DETAIL: EICAR_NAME})
    outcome = only(
        runtime.handle(put_and_event(s3, bucket, "notes.txt", b"notes " + uuid.uuid4().bytes, Tagging=tagging))
    )
    assert outcome["status"] == "CLEAN"
    assert tags(s3, bucket, "notes.txt")[c.TAG_STATUS] == "CLEAN"
    assert c.TAG_DETAIL not in tags(s3, bucket, "notes.txt"), "no forged scan tag survives the scanner's write"


def test_released_tag_alone_on_never_released_content_is_quarantined(runtime, make_bucket, s3) -> None:
    bucket = make_bucket()
    tagging = forged(
        "RELEASED",
        runtime.engine(),
        **{c.TAG_DETAIL: EICAR_NAME, c.TAG_RELEASED_BY: FORGED_BY, c.TAG_RELEASE_REASON: "approved"},
    )
    content = evil()
    event = put_and_event(s3, bucket, "setup.exe", content, Tagging=tagging + "&owner=mallory")

    outcome = only(runtime.handle(event))

    assert outcome["status"] == "INFECTED"
    assert body(s3, bucket, "setup.exe") is None
    quarantine = runtime.settings.quarantine_bucket
    version = copies(s3, quarantine, f"{bucket}/setup.exe")[0]["VersionId"]
    copy_tags = tags(s3, quarantine, f"{bucket}/setup.exe", version)
    assert copy_tags[c.TAG_STATUS] == "INFECTED" and c.TAG_RELEASED_BY not in copy_tags
    record = load_record(s3, quarantine, f"{bucket}/setup.exe", version)
    assert record is not None and record.user_tags == {"owner": "mallory"}, "forged scan-* tags are not 'user tags'"


def test_backfill_submits_and_the_scanner_scans_objects_with_forged_final_tags(
    runtime, make_bucket, s3, session, endpoint
) -> None:
    """`scanner scan` without --only-untagged submits everything; the forged CLEAN and RELEASED objects end
    quarantined. --only-untagged (documented as unsafe without a tag-forbidding bucket policy) skips them."""
    bucket = make_bucket()
    engine = runtime.engine()
    objects = {
        "forged-clean.exe": (evil(), forged("CLEAN", engine)),
        "forged-released.exe": (evil(), forged("RELEASED", engine, **{c.TAG_RELEASED_BY: FORGED_BY})),
        "plain.txt": (b"plain " + uuid.uuid4().bytes, ""),
    }
    for key, (content, tagging) in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=content, Tagging=tagging)
    sqs = session.client("sqs", endpoint_url=endpoint)
    queue = sqs.create_queue(QueueName=f"backfill-{uuid.uuid4().hex[:8]}")["QueueUrl"]

    skipping = Backfill(
        s3,
        bucket,
        "",
        QueueSubmitter(sqs, queue),
        region="us-east-1",
        selector=Selector(only_untagged=True),
        dry_run=True,
    )
    assert (skipping.run().submitted, skipping.tally.skipped) == (1, 2)
    tally = Backfill(s3, bucket, "", QueueSubmitter(sqs, queue), region="us-east-1").run()
    assert (tally.submitted, tally.skipped, tally.failed) == (3, 0, 0)

    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]]
    result = runtime.handle(sqs_event(*bodies))

    assert result == {"batchItemFailures": []}
    assert body(s3, bucket, "forged-clean.exe") is None
    assert body(s3, bucket, "forged-released.exe") is None
    assert tags(s3, bucket, "plain.txt")[c.TAG_STATUS] == "CLEAN"


# Rule 3: act only on the exact content scanned.


@pytest.mark.parametrize("action", [InfectedAction.QUARANTINE, InfectedAction.DELETE])
def test_versioned_event_without_version_id_removes_the_infected_version_itself(
    make_runtime, make_bucket, s3, action
) -> None:
    """Backfill events carry no versionId: the infected version itself must go, not just behind a delete
    marker (where `GetObject?versionId=` still serves it); the older clean version becomes current again."""
    runtime = make_runtime(action=action, **({"quarantine_bucket": None} if action is InfectedAction.DELETE else {}))
    bucket = make_bucket(versioned=True)
    clean = s3.put_object(Bucket=bucket, Key="doc.pdf", Body=b"v1 clean")["VersionId"]
    content = evil()
    infected = s3.put_object(Bucket=bucket, Key="doc.pdf", Body=content)
    event = object_created_event(bucket, "doc.pdf", size=len(content), etag=infected["ETag"], region="us-east-1")
    assert "versionId" not in event["Records"][0]["s3"]["object"]

    outcome = only(runtime.handle(event))

    assert outcome["status"] == "INFECTED" and outcome["version"] == infected["VersionId"]
    listing = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in listing.get("Versions", [])] == [clean]
    assert listing.get("DeleteMarkers", []) == [], "no delete marker hiding a still-readable infected version"
    assert body(s3, bucket, "doc.pdf", infected["VersionId"]) is None
    assert body(s3, bucket, "doc.pdf") == b"v1 clean"


def overwrite_before(runtime: Any, s3: Any, operation: str, bucket: str, key: str, content: bytes) -> Any:
    """Race: the uploader writes `content` at the key right before the scanner's first `operation` call."""
    state = {"done": False}

    def race(params: dict[str, Any], **kwargs: Any) -> None:
        source = params.get("CopySource") or {}
        source_bucket = source.get("Bucket") if isinstance(source, dict) else str(source).lstrip("/").split("/")[0]
        if not state["done"] and bucket in (params.get("Bucket"), source_bucket):
            state["done"] = True
            s3.put_object(Bucket=bucket, Key=key, Body=content)

    runtime.s3_client.meta.events.register(
        f"before-parameter-build.s3.{operation}", race, unique_id=f"race-{operation}"
    )
    return state


@pytest.mark.parametrize("newer", ["clean", "infected"])
def test_unversioned_newer_upload_before_the_delete_is_never_deleted_unseen(
    runtime, make_bucket, s3, newer: str
) -> None:
    bucket = make_bucket()
    scanned = evil()
    event = put_and_event(s3, bucket, "report.doc", scanned)
    replacement = (b"clean " + uuid.uuid4().bytes) if newer == "clean" else evil()
    state = overwrite_before(runtime, s3, "DeleteObject", bucket, "report.doc", replacement)

    outcome = only(runtime.handle(event))

    assert state["done"], "the race was run"
    assert outcome["status"] == "INFECTED"
    assert body(s3, bucket, "report.doc") == replacement, "the newer upload, never scanned, was deleted"
    qkey = quarantine_key(bucket, "report.doc")
    version = copies(s3, runtime.settings.quarantine_bucket, qkey)[0]["VersionId"]
    assert body(s3, runtime.settings.quarantine_bucket, qkey, version) == scanned, "the scanned content is kept"

    # The newer upload's own event scans it.
    expected = "CLEAN" if newer == "clean" else "INFECTED"
    assert only(runtime.handle(s3_event(s3_record(bucket, "report.doc", size=len(replacement)))))["status"] == expected


def test_unversioned_newer_upload_before_the_quarantine_copy_is_kept_and_scanned(runtime, make_bucket, s3) -> None:
    """The key changes between the scan and the copy: the copy is conditional on the scanned ETag, so the newer
    content is neither copied as the infected one nor deleted; the retry scans what the key now holds."""
    bucket = make_bucket()
    event = put_and_event(s3, bucket, "a.bin", evil())
    replacement = b"clean " + uuid.uuid4().bytes
    state = overwrite_before(runtime, s3, "CopyObject", bucket, "a.bin", replacement)

    with pytest.raises(InvocationFailed):
        runtime.handle(event)

    assert state["done"]
    assert body(s3, bucket, "a.bin") == replacement
    # moto ignores CopySourceIfMatch (S3 answers 412), so here the newer content is copied; the check of the
    # copy's SHA-256 must then refuse it: no provenance record may claim it, and the source is not deleted.
    quarantine = runtime.settings.quarantine_bucket
    for version in copies(s3, quarantine, f"{bucket}/a.bin"):
        assert load_record(s3, quarantine, f"{bucket}/a.bin", version["VersionId"]) is None
    assert only(runtime.handle(event))["status"] == "CLEAN"
    assert tags(s3, bucket, "a.bin")[c.TAG_STATUS] == "CLEAN"


def test_unversioned_infected_key_overwritten_before_its_tag_keeps_the_newer_upload(runtime, make_bucket, s3) -> None:
    """The INFECTED tag lands on a newer, clean upload (S3 tags whatever the key holds): the HEAD after tagging
    notices, the newer content is scanned in the same run, and nothing of it is deleted."""
    bucket = make_bucket()
    event = put_and_event(s3, bucket, "b.bin", evil())
    replacement = b"clean " + uuid.uuid4().bytes
    state = overwrite_before(runtime, s3, "PutObjectTagging", bucket, "b.bin", replacement)

    outcome = only(runtime.handle(event))

    assert state["done"]
    assert outcome["status"] == "CLEAN"
    assert body(s3, bucket, "b.bin") == replacement
    assert tags(s3, bucket, "b.bin")[c.TAG_STATUS] == "CLEAN"


def test_second_infected_object_of_the_same_size_at_the_same_key_gets_its_own_copy(runtime, make_bucket, s3) -> None:
    bucket = make_bucket()
    first, second = evil("1"), evil("2")
    assert len(first) == len(second)
    quarantine = runtime.settings.quarantine_bucket
    for content in (first, second):
        outcome = only(runtime.handle(put_and_event(s3, bucket, "same.bin", content)))
        assert outcome["status"] == "INFECTED" and not outcome["problems"]
        assert body(s3, bucket, "same.bin") is None

    held = {}
    for version in copies(s3, quarantine, f"{bucket}/same.bin"):
        record = load_record(s3, quarantine, f"{bucket}/same.bin", version["VersionId"])
        assert record is not None
        held[body(s3, quarantine, f"{bucket}/same.bin", version["VersionId"])] = record.sha256
    assert set(held) == {first, second}, "each infected content has a copy of its own"
    assert all(hashlib.sha256(k).hexdigest() == v for k, v in held.items())


def test_no_short_key_reaches_a_long_keys_quarantine_copy(runtime, make_bucket, s3) -> None:
    """A long key's copy lives under `_long/<bucket>/`; every plain copy under `<bucket>/`, and no S3 bucket name
    starts with `_`. The uploader tries the nearest short keys: the copy name itself, and its tail."""
    bucket = make_bucket()
    quarantine = runtime.settings.quarantine_bucket
    long_key = "deep/" + "x" * (1024 - len(bucket) - 1 - 5) + "-tail.exe"
    long_copy = quarantine_key(bucket, long_key)
    assert long_copy.startswith(f"{c.QUARANTINE_LONG_KEYS_PREFIX}{bucket}/") and len(long_copy.encode()) <= 1024
    tail = long_copy.removeprefix(c.QUARANTINE_LONG_KEYS_PREFIX).removeprefix(f"{bucket}/")
    sibling = long_key.removesuffix(".exe") + ".exf"  # the same first ~1,000 bytes, another key
    contents = {long_key: evil("long"), long_copy: evil("name"), tail: evil("tail"), sibling: evil("sibl")}
    for key, content in contents.items():
        assert only(runtime.handle(put_and_event(s3, bucket, key, content)))["status"] == "INFECTED", key

    qkeys = {key: quarantine_key(bucket, key) for key in contents}
    assert len(set(qkeys.values())) == len(contents), f"two sources share a quarantine key: {qkeys}"
    assert all(q.startswith((f"{bucket}/", f"{c.QUARANTINE_LONG_KEYS_PREFIX}{bucket}/")) for q in qkeys.values())
    for key, content in contents.items():
        versions = copies(s3, quarantine, qkeys[key])
        assert len(versions) == 1, f"{qkeys[key]}: one copy, of one source"
        record = load_record(s3, quarantine, qkeys[key], versions[0]["VersionId"])
        assert record is not None and record.source_key == key
        assert body(s3, quarantine, qkeys[key], versions[0]["VersionId"]) == content


def test_upload_keys_that_imitate_reserved_quarantine_names_are_quarantined_as_plain_keys(
    runtime, make_bucket, s3
) -> None:
    """Keys named like provenance records, long-key copies, or with `..`: each lands under `<bucket>/`, with its
    own record, and no existing record or copy is overwritten."""
    bucket = make_bucket()
    quarantine = runtime.settings.quarantine_bucket
    first = only(runtime.handle(put_and_event(s3, bucket, "victim.exe", evil())))
    victim_version = copies(s3, quarantine, f"{bucket}/victim.exe")[0]["VersionId"]
    victim_record = record_key(f"{bucket}/victim.exe", victim_version)
    assert first["status"] == "INFECTED"
    keys = [
        "_records/x.json",
        victim_record,
        f"{c.QUARANTINE_LONG_KEYS_PREFIX}{bucket}/x~0123",
        f"../{bucket}/victim.exe",
        "a/../../victim.exe",
        "./victim.exe",
    ]
    for key in keys:
        assert only(runtime.handle(put_and_event(s3, bucket, key, evil())))["status"] == "INFECTED", key

    entries = {e.key: e for e in list_entries(s3, quarantine, since=None, source_bucket=bucket)}
    for key in [*keys, "victim.exe"]:
        entry = entries[f"{bucket}/{key}"]
        assert entry.record is not None and entry.source_key == key, key
    assert len(copies(s3, quarantine, f"{bucket}/victim.exe")) == 1
    assert load_record(s3, quarantine, f"{bucket}/victim.exe", victim_version).source_key == "victim.exe"  # type: ignore[union-attr]


def test_event_whose_size_field_lies_does_not_decide_the_verdict(runtime, make_bucket, s3) -> None:
    """An SQS message (anyone with sqs:SendMessage, or a stale backfill listing) claims the object is huge: the
    object's own size decides. Claimed small for a huge object: still not streamed."""
    bucket = make_bucket()
    content = evil()
    s3.put_object(Bucket=bucket, Key="small.exe", Body=content)
    lying = s3_event(s3_record(bucket, "small.exe", size=runtime.settings.max_object_bytes + 1))

    outcome = only(runtime.handle(lying))

    assert (outcome["status"], outcome["detail"]) == ("INFECTED", EICAR_NAME), "an unread object was judged"
    assert body(s3, bucket, "small.exe") is None


def test_event_claiming_a_small_size_for_a_large_object_is_not_streamed(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime(max_object_bytes=4096)
    bucket = make_bucket()
    s3.put_object(Bucket=bucket, Key="big.bin", Body=b"x" * 8192 + EICAR)
    outcome = only(runtime.handle(s3_event(s3_record(bucket, "big.bin", size=10))))
    assert (outcome["status"], outcome["detail"]) == ("UNSCANNABLE", "too-large")


@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
def test_object_deleted_between_get_and_tagging_is_skipped_and_nothing_reappears(
    runtime, make_bucket, s3, versioned: bool
) -> None:
    bucket = make_bucket(versioned=versioned)
    event = put_and_event(s3, bucket, "gone.bin", evil())
    version = event["Records"][0]["s3"]["object"].get("versionId")

    def delete(params: dict[str, Any], **kwargs: Any) -> None:
        if params.get("Bucket") == bucket:
            s3.delete_object(Bucket=bucket, Key="gone.bin", **({"VersionId": version} if version else {}))

    runtime.s3_client.meta.events.register(
        "before-parameter-build.s3.PutObjectTagging", delete, unique_id="delete-first"
    )
    outcome = only(runtime.handle(event))
    runtime.s3_client.meta.events.unregister("before-parameter-build.s3.PutObjectTagging", unique_id="delete-first")

    assert (outcome["skipped"], outcome["retry"]) == ("object-gone", False)
    listing = s3.list_object_versions(Bucket=bucket)
    assert listing.get("Versions", []) == [], "no tag write or copy recreated the deleted object"


def test_uploader_tags_present_when_the_object_is_read_survive_the_scan_tags(runtime, make_bucket, s3) -> None:
    """Tags set with the upload (x-amz-tagging), or added before the scanner's GET, are read alongside the stream
    and merged into the scan's tag write. (Tags an uploader adds during the milliseconds of the scan itself can be
    replaced: S3 has no conditional tagging, and reading the tags again before every write would cost a third
    request per clean object; docs/FAIL_CLOSED.md says so.)"""
    bucket = make_bucket()
    event = put_and_event(s3, bucket, "tagged.txt", b"contract " + uuid.uuid4().bytes, Tagging="owner=alice")
    s3.put_object_tagging(
        Bucket=bucket,
        Key="tagged.txt",
        Tagging={"TagSet": [{"Key": "owner", "Value": "alice"}, {"Key": "project", "Value": "apollo"}]},
    )
    outcome = only(runtime.handle(event))
    assert outcome["status"] == "CLEAN"
    found = tags(s3, bucket, "tagged.txt")
    assert (found[c.TAG_STATUS], found.get("owner"), found.get("project")) == ("CLEAN", "alice", "apollo")


# SQS batches.


def test_sqs_messages_that_break_the_json_parser_fail_alone(runtime, make_bucket, s3) -> None:
    bucket = make_bucket()
    clean = put_and_event(s3, bucket, "ok.txt", b"ok " + uuid.uuid4().bytes)
    infected = put_and_event(s3, bucket, "bad.exe", evil())
    hostile = [
        "[" * 100_000 + "]" * 100_000,
        '{"Records": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        '{"Records": [' + "9" * 100_000 + "]}",
        json.dumps(s3_event(s3_record(bucket, "ok.txt"))).replace('"size": 0', '"size": ' + "9" * 5000),
        json.dumps(s3_event(s3_record(bucket, "ok.txt"))).replace('"size": 0', '"size": 1e999'),
        "NaN",
        "\ud800",
    ]
    event = sqs_event(clean, *hostile, infected)

    result = runtime.handle(event)

    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    assert failed == {f"msg-{i}" for i in range(1, len(hostile) + 1)}
    assert tags(s3, bucket, "ok.txt")[c.TAG_STATUS] == "CLEAN"
    assert body(s3, bucket, "bad.exe") is None


# Human-readable output.


@pytest.mark.parametrize(
    "key",
    [
        "a.txt\nCLEAN       s3://uploads/evil.exe  -  3 ms",
        "a.txt\rCLEAN       s3://uploads/evil.exe  -  3 ms",
        "a.txt\x1b[2K\x1b[1GCLEAN       s3://uploads/evil.exe",
        "a\u202eexe.txt",
        "a.txt\u2028CLEAN s3://uploads/evil.exe",
        "a.txt\x85CLEAN s3://uploads/evil.exe",
        "a.txt\x00\x07\x08\x7f",
    ],
    ids=["newline", "carriage-return", "ansi", "bidi-override", "line-separator", "nel", "c0-c1"],
)
def test_a_key_cannot_forge_a_verdict_line(key: str) -> None:
    line = outcome_line(Outcome(ObjectRef("uploads", key), status=ScanStatus.INFECTED, detail=EICAR_NAME))
    assert line.splitlines() == [line], "one verdict, one line"
    assert line.startswith("INFECTED    s3://uploads/a")
    assert line.isprintable(), f"control or invisible characters printed raw: {line!r}"
    assert "\u202e" not in line and "\x1b" not in line


# Definitions.


def test_a_published_set_clamd_cannot_load_does_not_brick_the_cold_start(
    make_bucket, s3, session, endpoint, tmp_path: Path, monkeypatch
) -> None:
    """Cold start on a published set clamd refuses: the first invocation scans on the image's database, reports
    DefinitionsUpdateFailed, and later checks never download the rejected set again."""
    from scanner.clamd import ClamdDaemon
    from scanner.config import ClamdSettings, Settings
    from scanner.runtime import ScannerRuntime
    from tests.support.clamd import require_binary

    definitions = make_bucket("definitions", versioned=True)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "custom.ndb").write_text("Broken:0:*:zz-not-hex\n")
    publish_directory(s3, definitions, broken, previous=None, engine="ClamAV")
    emitted: list[str] = []
    monkeypatch.setattr(watcher_module, "count", emitted.append)
    now = [1_000_000.0]
    clamd = ClamdSettings(
        database_dir=SIGNATURES,
        work_dir=tmp_path / "clamd",
        binary=require_binary("clamd"),
        start_timeout_s=30,
        scan_timeout_s=30,
        max_object_bytes=16 * 1024**2,
    )
    settings = Settings(
        action=InfectedAction.TAG,
        max_object_bytes=clamd.max_object_bytes,
        definitions_bucket=definitions,
        definitions_dir=tmp_path / "sets",
        clamd=clamd,
    )
    client = session.client("s3", endpoint_url=endpoint)
    downloads: list[str] = []
    client.meta.events.register(
        "before-parameter-build.s3.GetObject",
        lambda params, **kw: downloads.append(params["Key"]) if params["Bucket"] == definitions else None,
    )
    watcher = DefinitionsWatcher.from_settings(settings, client, clock=lambda: now[0])
    runtime = ScannerRuntime(
        settings=settings, daemon=ClamdDaemon(clamd, settings.stream_chunk_bytes), s3_client=client, definitions=watcher
    )
    uploads = make_bucket("uploads")
    try:
        runtime.start()
        outcome = only(runtime.handle(put_and_event(s3, uploads, "eicar.txt", evil())))
        assert (outcome["status"], outcome["detail"]) == ("INFECTED", EICAR_NAME)
        assert runtime.daemon.database_dir == SIGNATURES
        assert watcher.manifest is None
        assert c.METRIC_DEFINITIONS_UPDATE_FAILED in emitted
        assert any(key != MANIFEST_KEY for key in downloads), "the set was downloaded once, at the cold start"

        downloads.clear()
        pid = runtime.daemon.pid
        now[0] += settings.definitions_check_minutes * 60 + 1
        assert only(runtime.handle(put_and_event(s3, uploads, "eicar-2.txt", evil())))["status"] == "INFECTED"
        assert downloads == [MANIFEST_KEY], "the rejected set is not downloaded again"
        assert runtime.daemon.pid == pid
    finally:
        runtime.daemon.stop()


def test_quarantine_copy_verified_by_content_not_by_size_with_other_bytes_at_the_copy_key(
    runtime, make_bucket, s3
) -> None:
    """Someone (an admin by mistake) put other bytes of the same size at the quarantine key: the scanner does not
    take them for its copy; it copies the scanned content again, and deletes the source only after that."""
    bucket = make_bucket()
    content = evil("a")
    impostor = evil("b")
    quarantine = runtime.settings.quarantine_bucket
    s3.put_object(Bucket=quarantine, Key=f"{bucket}/x.exe", Body=impostor, ChecksumAlgorithm="SHA256")

    outcome = only(runtime.handle(put_and_event(s3, bucket, "x.exe", content)))

    assert outcome["status"] == "INFECTED" and not outcome["problems"]
    current = copies(s3, quarantine, f"{bucket}/x.exe")[0]["VersionId"]
    assert body(s3, quarantine, f"{bucket}/x.exe", current) == content


def test_keys_cannot_forge_verdict_lines_in_scanner_local_output(tmp_path: Path) -> None:
    """`scanner local` (plain output) with uploads whose keys carry a carriage return, ANSI escapes, a bidi
    override, a line separator and NEL, each followed by a fake CLEAN verdict: every verdict stays one printable
    line, and no line reads as a CLEAN verdict for the fake key."""
    import boto3

    from tests.cli.local_process import LocalProcess
    from tests.support.clamd import require_binary

    require_binary("clamd")
    marker = uuid.uuid4().hex[:8]
    with LocalProcess("--retry-delay", "0", log_path=tmp_path / "local.log") as local:
        ready = local.wait_ready()
        fake = f"CLEAN       s3://{ready.upload}/{marker}-evil.exe  -  3 ms"
        keys = [
            f"{marker}/cr.txt\r{fake}",
            f"{marker}/ansi.txt\x1b[2K\x1b[1G{fake}",
            f"{marker}/bidi\u202etxt.exe",
            f"{marker}/ls.txt\u2028{fake}",
            f"{marker}/nel.txt\x85{fake}",
        ]
        s3 = boto3.Session(
            region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        ).client("s3", endpoint_url=ready.endpoint)
        for key in keys:
            s3.put_object(Bucket=ready.upload, Key=key, Body=evil())
        for index in range(len(keys)):
            local.wait_for(lambda line, i=index: line.startswith("INFECTED") and keys[i][:12] in line, 60, keys[index])
        lines = list(local.lines)

    ours = [line for line in lines if marker in line]
    assert len([line for line in ours if line.startswith("INFECTED")]) == len(keys), ours
    assert all(line.isprintable() for line in ours), [line for line in ours if not line.isprintable()]
    assert not [line for line in ours if line.startswith("CLEAN")], "a key forged a CLEAN verdict line"


def test_a_failed_tag_read_never_leaves_a_forged_clean_in_place(runtime, make_bucket, s3) -> None:
    """The tags read fails (persistent 503 on GetObjectTagging, or a policy that denies it): the scanner cannot
    merge, but it must still replace the forged CLEAN it found; an uploader's own tag is worth less than that."""
    bucket = make_bucket(versioned=True)
    tagging = forged("CLEAN", runtime.engine())
    event = put_and_event(s3, bucket, "forged.exe", evil(), Tagging=tagging)

    with refused(runtime.s3_client, "GetObjectTagging", "SlowDown") as refusal:
        result = runtime.handle(sqs_event(event))

    assert refusal.refused >= 1
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    remaining = s3.list_object_versions(Bucket=bucket).get("Versions", [])
    if remaining:
        status = tags(s3, bucket, "forged.exe")[c.TAG_STATUS]
        assert status not in c.DOWNLOADABLE_STATUSES, f"the forged {status} survived the failed scan"


def test_unversioned_head_failure_after_tagging_never_leaves_unverified_content_clean(runtime, make_bucket, s3) -> None:
    """Unversioned: the clean verdict's tag lands on whatever the key holds. Here malware replaced the scanned
    bytes just before the tag write, and the HEAD that would notice fails: the key must not stay CLEAN."""
    bucket = make_bucket()
    event = put_and_event(s3, bucket, "doc.txt", b"clean " + uuid.uuid4().bytes)
    overwrite_before(runtime, s3, "PutObjectTagging", bucket, "doc.txt", evil())

    with (
        refused(runtime.s3_client, "HeadObject", "InternalError", when=lambda p: p["Bucket"] == bucket),
        pytest.raises(InvocationFailed),
    ):
        runtime.handle(event)

    assert tags(s3, bucket, "doc.txt")[c.TAG_STATUS] != "CLEAN", "malware tagged CLEAN, never scanned"
