"""The fault suite's attack classes: forged tags, Content-Encodings, archives ClamAV cannot open, the release flow,
and races inside one SQS batch. Every object is tracked by the ledger: never lost, never wrongly CLEAN, never
RELEASED unless a reviewer released exactly that content there.

Encoded objects must be judged on what a client receives: the decoded bytes (browsers, CloudFront, presigned
URLs) and the stored ones (SDKs, `aws s3 cp`). Archives whose members ClamAV 1.4 cannot decompress must be
UNSCANNABLE `unsupported-archive:<method>`, never CLEAN. Samples needing a tool are committed under samples/
(make.sh rebuilds them); the others are built here.
"""

from __future__ import annotations

import dataclasses
import uuid
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest

from scanner import constants as c
from scanner.actions import quarantine_key
from scanner.cli import main
from scanner.cli.errors import EXIT_OK
from tests.faults.harness import deliver, upload
from tests.faults.ledger import Tracked, assert_safe
from tests.support.attacks import (
    gzipped,
    payload,
    raw_deflate,
    sample,
    with_allow_list,
    zip_of,
    zip_without_central_directory,
)
from tests.support.clamd import EICAR, EICAR_NAME
from tests.support.events import s3_event, s3_record, sqs_event

MiB = 1024**2


def unique_payload() -> bytes:
    return payload() + f"\n{uuid.uuid4()}\n".encode()


def clean_text() -> bytes:
    return f"quarterly figures {uuid.uuid4()}\n".encode() * 20


def evil() -> bytes:
    return EICAR + f"\n{uuid.uuid4()}\n".encode()


@dataclass(frozen=True)
class Hidden:
    """EICAR hidden from a scanner that does not look closely; `detected`: the verdict must be INFECTED."""

    body: Callable[[], bytes]
    put: dict[str, str] = field(default_factory=dict)
    detected: bool = False
    reason: str | None = None
    """When not detected: the UNSCANNABLE detail it must get (None: any, or INFECTED)."""


ENCODINGS = {
    # A client decodes these transparently: the decoded EICAR must be found.
    "gzip": Hidden(lambda: gzipped(unique_payload()), {"ContentEncoding": "gzip"}, detected=True),
    "deflate-zlib": Hidden(lambda: zlib.compress(unique_payload(), 9), {"ContentEncoding": "deflate"}, detected=True),
    "br": Hidden(lambda: sample("eicar.txt.br"), {"ContentEncoding": "br"}, detected=True),
    "zstd": Hidden(lambda: sample("eicar.txt.zst"), {"ContentEncoding": "zstd"}, detected=True),
    # Tricks on the decoder: never CLEAN.
    "gzip-upper-case": Hidden(lambda: gzipped(unique_payload()), {"ContentEncoding": "GZIP"}),
    "x-gzip": Hidden(lambda: gzipped(unique_payload()), {"ContentEncoding": "x-gzip"}),
    "deflate-raw": Hidden(lambda: raw_deflate(unique_payload()), {"ContentEncoding": "deflate"}),
    "gzip-second-member": Hidden(
        lambda: gzipped(clean_text()) + gzipped(unique_payload()), {"ContentEncoding": "gzip"}
    ),
    "gzip-trailing-raw-eicar": Hidden(lambda: gzipped(clean_text()) + evil(), {"ContentEncoding": "gzip"}),
    "gzip-eicar-in-header-comment": Hidden(lambda: gzipped(clean_text(), comment=EICAR), {"ContentEncoding": "gzip"}),
    "zstd-eicar-in-skippable-frame": Hidden(
        lambda: sample("eicar-in-skippable-frame.zst"), {"ContentEncoding": "zstd"}
    ),
    "stacked-deflate-then-gzip": Hidden(
        lambda: gzipped(zlib.compress(unique_payload(), 9)), {"ContentEncoding": "deflate, gzip"}
    ),
    "undecodable-gzip": Hidden(evil, {"ContentEncoding": "gzip"}),
    # An encoding nobody decodes: what a browser gets is unknown, so UNSCANNABLE; but the stored bytes are what an
    # SDK gets, and those are scanned too: stored EICAR is INFECTED whatever the header says.
    "unknown-encoding": Hidden(
        lambda: raw_deflate(unique_payload()), {"ContentEncoding": "compress"}, reason="content-encoding:compress"
    ),
    "unknown-encoding-stored-eicar": Hidden(evil, {"ContentEncoding": "compress"}, detected=True),
    "gzip-bomb": Hidden(lambda: gzipped(b"\0" * (4 * MiB)), {"ContentEncoding": "gzip"}, reason="too-large"),
}
ENCODING_LIMIT = 1 * MiB
"""The bomb case: 4 MiB decoded from 4 KiB stored, over this maximum (the GET stays far below it)."""

ARCHIVES = {
    "7z-bzip2": Hidden(lambda: sample("eicar-bzip2.7z")),
    "7z-deflate": Hidden(lambda: sample("eicar-deflate.7z")),
    "7z-deflate64": Hidden(lambda: sample("eicar-deflate64.7z")),
    "zip-lzma": Hidden(lambda: zip_of({"eicar.txt": unique_payload()}, zipfile.ZIP_LZMA)),
    "zip-ppmd": Hidden(lambda: sample("eicar-ppmd.zip")),
    "zip-xz": Hidden(lambda: sample("eicar-xz.zip")),
    "zip-without-central-directory": Hidden(lambda: zip_without_central_directory({"eicar.txt": unique_payload()})),
    "zip-lzma-inside-zip": Hidden(
        lambda: zip_of({"inner.zip": zip_of({"eicar.txt": unique_payload()}, zipfile.ZIP_LZMA)}, zipfile.ZIP_STORED)
    ),
    "zip-lzma-inside-gzip": Hidden(lambda: gzipped(zip_of({"eicar.txt": unique_payload()}, zipfile.ZIP_LZMA))),
    "zstd-file": Hidden(lambda: sample("eicar.txt.zst")),
    "lzma-alone-file": Hidden(lambda: sample("eicar.txt.lzma")),
}


@pytest.fixture
def runtime(runtime_for: Any, dynamodb: Any) -> Any:
    """Production S3 client configuration, quarantine mode, the allow-list, four records at once."""
    return with_allow_list(runtime_for(scan_concurrency=4), dynamodb)


def check_hidden(ledger: Any, s3: Any, runtime: Any, obj: Tracked, case: Hidden, outcome: dict[str, Any]) -> None:
    found = ledger.check(s3, [obj], runtime.settings.quarantine_bucket)
    assert_safe(found, [obj])
    where = found[obj.key]
    status, detail = outcome["status"], outcome["detail"]
    assert status != "CLEAN", f"EICAR hidden in {obj.key} came back CLEAN"
    if case.detected:
        assert (status, detail) == ("INFECTED", EICAR_NAME), "the content a client decodes holds EICAR"
        assert not where.in_source and where.in_quarantine
    elif case.reason:
        assert (status, detail) == ("UNSCANNABLE", case.reason)
    else:
        assert status in {"INFECTED", "UNSCANNABLE"}, outcome
        if status == "UNSCANNABLE":
            assert detail and detail.split(":")[0] in {"content-encoding", "unsupported-archive", "too-large"}, detail


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_encoded_eicar_is_never_clean(runtime_for, dynamodb, make_bucket, s3, ledger, name: str) -> None:
    case = ENCODINGS[name]
    runtime = with_allow_list(runtime_for(max_object_bytes=ENCODING_LIMIT), dynamodb)
    obj, event = upload(s3, make_bucket(), f"enc/{name}", case.body(), bad=True, **case.put)
    ledger.attack("encodings")
    retry, result = deliver(runtime, event, "s3")
    assert not retry and result is not None
    check_hidden(ledger, s3, runtime, obj, case, result["statuses"][0])


@pytest.mark.parametrize("name", list(ARCHIVES))
def test_eicar_in_an_archive_clamav_cannot_open_is_never_clean(runtime, make_bucket, s3, ledger, name: str) -> None:
    case = ARCHIVES[name]
    obj, event = upload(s3, make_bucket(), f"arc/{name}", case.body(), bad=True)
    ledger.attack("unsupported_archives")
    retry, result = deliver(runtime, event, "s3")
    assert not retry and result is not None
    outcome = result["statuses"][0]
    check_hidden(ledger, s3, runtime, obj, case, outcome)
    if outcome["status"] == "UNSCANNABLE":
        assert outcome["detail"].startswith("unsupported-archive:"), outcome


def test_one_sqs_batch_of_forged_tags_clean_infected_missing_and_malformed_ends_right(
    runtime, make_bucket, s3, ledger
) -> None:
    bucket = make_bucket()
    engine = runtime.engine()

    def forged(status: str, **extra: str) -> str:
        values = {c.TAG_STATUS: status, c.TAG_ENGINE: engine, **extra}
        return urlencode(values)

    cases = {
        "forged-clean.exe": (evil(), forged("CLEAN"), True),
        "forged-released.exe": (evil(), forged("RELEASED", **{c.TAG_RELEASED_BY: "mallory"}), True),
        "forged-unscannable.exe": (evil(), forged("UNSCANNABLE", **{c.TAG_DETAIL: "too-large"}), True),
        "forged-infected.exe": (evil(), forged("INFECTED", **{c.TAG_DETAIL: EICAR_NAME}), True),
        "forged-error.exe": (evil(), forged("ERROR"), True),
        "forged-infected-on-clean.txt": (clean_text(), forged("INFECTED"), False),
        "plain.txt": (clean_text(), "owner=alice", False),
        "plain.exe": (evil(), "owner=bob", True),
    }
    tracked, events = [], []
    for key, (content, tagging, bad) in cases.items():
        obj, event = upload(s3, bucket, key, content, bad=bad, Tagging=tagging)
        tracked.append(dataclasses.replace(obj, must_not_be_released=True))
        events.append(event)
    ledger.attack("forged_tags", len(cases))
    missing = s3_event(s3_record(bucket, "never-uploaded.exe", size=68))
    batch = sqs_event(*events[:4], "{broken", missing, *events[4:], "[" * 100_000)

    result = runtime.handle(batch)

    assert {f["itemIdentifier"] for f in result["batchItemFailures"]} == {"msg-4", f"msg-{len(events) + 2}"}
    found = ledger.check(s3, tracked, runtime.settings.quarantine_bucket)
    assert_safe(found, tracked)
    for obj in tracked:
        where = found[obj.key]
        if obj.must_not_be_clean:
            assert not where.in_source and where.in_quarantine, obj.key
            assert where.quarantine_tags[c.TAG_STATUS] == "INFECTED"
            assert c.TAG_RELEASED_BY not in where.quarantine_tags
        else:
            assert where.status == "CLEAN", obj.key


def rerun_until_settled(runtime: Any, batch: dict[str, Any], attempts: int = 3) -> dict[str, Any]:
    """SQS redelivers the failed items of a batch; a race may cost one redelivery, never more than a few."""
    result = runtime.handle(batch)
    for _ in range(attempts):
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        if not failed:
            return result
        batch = {"Records": [r for r in batch["Records"] if r["messageId"] in failed]}
        result = runtime.handle(batch)
    raise AssertionError(f"still failing after {attempts} redeliveries: {result}")


@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
def test_two_events_for_one_key_in_one_batch_end_in_the_right_state(
    runtime, make_bucket, s3, ledger, versioned: bool
) -> None:
    """A clean upload, then the same key overwritten with malware; both notifications in one batch, scanned at
    once. Unversioned: both events see the malware (the clean bytes are the uploader's own overwrite, not a
    loss). Versioned: each event pins its own version."""
    bucket = make_bucket(versioned=versioned)
    first, first_event = upload(s3, bucket, "doc.bin", clean_text())
    second, second_event = upload(s3, bucket, "doc.bin", evil(), bad=True)
    ledger.attack("races")

    rerun_until_settled(runtime, sqs_event(first_event, second_event, second_event))

    tracked = [first, second] if versioned else [second]
    found = ledger.check(s3, tracked, runtime.settings.quarantine_bucket)
    assert_safe(found, tracked)
    assert not found["doc.bin"].in_source, "the malware version is gone from the upload bucket"
    listing = s3.list_object_versions(Bucket=bucket)
    if versioned:
        assert [v["VersionId"] for v in listing.get("Versions", [])] == [first.version_id]
        assert s3.get_object_tagging(Bucket=bucket, Key="doc.bin")["TagSet"][0]["Value"] == "CLEAN"
    else:
        assert listing.get("Versions", []) == []


def test_duplicate_deliveries_in_one_batch_make_one_quarantine_copy(runtime, make_bucket, s3, ledger) -> None:
    """SQS and S3 deliver at least once: three copies of one notification in one batch, scanned at once, are one
    infection (one copy version, one provenance record), not three."""
    bucket = make_bucket(versioned=True)
    obj, event = upload(s3, bucket, "dup.exe", evil(), bad=True)
    ledger.attack("races", 3)

    rerun_until_settled(runtime, sqs_event(event, event, event))

    assert_safe(ledger.check(s3, [obj], runtime.settings.quarantine_bucket), [obj])
    qkey = quarantine_key(bucket, "dup.exe")
    versions = s3.list_object_versions(Bucket=runtime.settings.quarantine_bucket, Prefix=qkey)["Versions"]
    assert len([v for v in versions if v["Key"] == qkey]) == 1, "one infection, one quarantine copy"


def test_a_mixed_batch_scanned_concurrently_ends_in_the_right_state(runtime, make_bucket, s3, ledger) -> None:
    bucket = make_bucket(versioned=True)
    tracked, events = [], []
    for index in range(12):
        bad = index % 3 == 0
        obj, event = upload(s3, bucket, f"mix/{index}.bin", evil() if bad else clean_text(), bad=bad)
        tracked.append(obj)
        events.append(event)
    s3.delete_object(Bucket=bucket, Key="mix/5.bin", VersionId=tracked[5].version_id)
    tracked[5] = dataclasses.replace(tracked[5], deletion_is_final=True)  # the uploader deleted it
    ledger.attack("races", len(events))

    result = runtime.handle(sqs_event(*events, *events[:3]))

    assert result == {"batchItemFailures": []}
    found = ledger.check(s3, tracked, runtime.settings.quarantine_bucket)
    assert_safe(found, tracked)
    for index, obj in enumerate(tracked):
        where = found[obj.key]
        if index == 5:
            assert where.lost
        elif obj.must_not_be_clean:
            assert not where.in_source and where.quarantine_tags[c.TAG_STATUS] == "INFECTED"
        else:
            assert where.status == "CLEAN"


def test_only_the_released_content_at_its_source_is_released(
    runtime, make_bucket, s3, ledger, endpoint, capsys
) -> None:
    """Release one quarantined object; then try every near miss: other bytes of the same size with forged
    RELEASED tags, the released bytes at another key, the released bytes with a Content-Encoding."""
    bucket = make_bucket(versioned=True)
    content = evil()
    quarantine = runtime.settings.quarantine_bucket
    released, event = upload(s3, bucket, "tool.exe", content, bad=True)
    assert runtime.handle(event)["statuses"][0]["status"] == "INFECTED"
    capsys.readouterr()
    code = main(
        [
            "quarantine",
            "release",
            quarantine_key(bucket, "tool.exe"),
            "--reason",
            "vendor test file",
            "--bucket",
            quarantine,
            "--allow-list-table",
            runtime.settings.allow_list_table,
            "--endpoint-url",
            endpoint,
        ]
    )
    assert code == EXIT_OK, capsys.readouterr().err
    restored = s3.head_object(Bucket=bucket, Key="tool.exe")
    restored_event = s3_event(
        s3_record(bucket, "tool.exe", size=len(content), version_id=restored["VersionId"], etag=restored["ETag"])
    )
    assert runtime.handle(restored_event)["statuses"][0]["status"] == "RELEASED"
    released = dataclasses.replace(released, version_id=restored["VersionId"])

    near_misses = []
    same_size = EICAR + f"\n{uuid.uuid4()}\n".encode()
    assert len(same_size) == len(content)
    for key, body, put in [
        ("tool-copy.exe", content, {}),
        ("other/tool.exe", content, {}),
        ("encoded.exe", content, {"ContentEncoding": "gzip"}),
        ("tool.exe", same_size, {"Tagging": f"{c.TAG_STATUS}=RELEASED&{c.TAG_RELEASED_BY}=mallory"}),
    ]:
        obj, event = upload(s3, bucket, key, body, bad=True, **put)
        near_misses.append((dataclasses.replace(obj, must_not_be_released=True), event))
    ledger.attack("release_flow", 1 + len(near_misses))

    result = runtime.handle(sqs_event(*(event for _, event in near_misses)))

    assert result == {"batchItemFailures": []}
    misses = [obj for obj, _ in near_misses]
    assert_safe(ledger.check(s3, misses, quarantine), misses)
    kept = ledger.check(s3, [released], quarantine)
    assert_safe(kept, [released])
    assert kept["tool.exe"].status == "RELEASED", "the released version itself stays released"
