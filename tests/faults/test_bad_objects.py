"""Bad objects: keys of 1,024 bytes, every character S3 allows in a key, objects with 10 tags (and forged scan
tags), zero-byte objects, encrypted archives, archive bombs, archives nested beyond the limits.

Each must end non-CLEAN (zero-byte objects excepted: CLEAN is the project's decision, clamd scanned their whole,
empty, content) or fail with a clear error, and all of them together in one event must not stop the others.
The scans run on a clamd of this module's own with small limits (8 MiB) and its clean-file cache off, so the
bombs stay small and every verdict comes from a real scan. S3's key and metadata size limits, which moto does
not enforce, are enforced by the fault injector.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from scanner.clamd import ClamdDaemon
from tests.faults import archives
from tests.faults.harness import deliver, own_clamd, upload
from tests.faults.ledger import Tracked, assert_safe
from tests.support.clamd import EICAR, EICAR_NAME
from tests.support.events import s3_event

MiB = 1024**2
LIMIT = 8 * MiB


@pytest.fixture(scope="module")
def limits_clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdDaemon]:
    daemon = own_clamd(tmp_path_factory.mktemp("limits-clamd"), max_object_bytes=LIMIT, disable_cache=True)
    yield daemon
    daemon.stop()


@pytest.fixture
def runtime(runtime_for, limits_clamd, faults):
    runtime = runtime_for(limits_clamd)
    faults(runtime).enforce_s3_limits = True
    return runtime


@dataclass(frozen=True)
class Case:
    """One bad object and the verdict it must get."""

    key: str
    body: Callable[[], bytes]
    status: str
    detail: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def eicar_unique() -> bytes:
    return EICAR + b"\n" + archives.unique()


EVERY_ASCII = "".join(chr(i) for i in range(1, 128) if chr(i) != "\n")
"""Every ASCII character but NUL and newline: moto's server cannot route a key with a newline."""
UNICODE = "é ß ü ø 漢字 かな 한글 עברית عربي ‮rtl‬ z\u200bw \ufeff a\u0301 😀 𝄞 \U0010fffd \ufffd"

KEY_CASES = {
    "key-1024-bytes-ascii": Case("k" * 1020 + ".txt", archives.unique, "CLEAN"),
    "key-1024-bytes-utf8": Case("漢" * 340 + "end.", archives.unique, "CLEAN"),
    "key-every-ascii-character": Case(f"ascii/{EVERY_ASCII}", archives.unique, "CLEAN"),
    "key-unicode": Case(f"unicode/{UNICODE}", archives.unique, "CLEAN"),
    "key-path-tricks": Case("/../.././a//b/./%2F%25+?#&=~\\ end ", archives.unique, "CLEAN"),
    "key-every-ascii-character-infected": Case(f"ascii-evil/{EVERY_ASCII}", eicar_unique, "INFECTED", EICAR_NAME),
    "key-unicode-infected": Case(f"unicode-evil/{UNICODE}", eicar_unique, "INFECTED", EICAR_NAME),
    "key-path-tricks-infected": Case("/../evil/./a//%2F+?#", eicar_unique, "INFECTED", EICAR_NAME),
}

TEN_TAGS = {f"user-{i}": f"value {i}" for i in range(10)}
TAG_CASES = {
    "ten-tags-clean": Case("tags/clean.txt", archives.unique, "CLEAN", tags=TEN_TAGS),
    "ten-tags-infected": Case("tags/evil.bin", eicar_unique, "INFECTED", EICAR_NAME, tags=TEN_TAGS),
}

CONTENT_CASES = {
    "zero-byte": Case("empty/zero", lambda: b"", "CLEAN"),
    "encrypted-zip": Case(
        "enc/plain.zip", lambda: archives.encrypted_zip({"a.txt": archives.unique()}), "UNSCANNABLE", "encrypted"
    ),
    "encrypted-zip-hiding-eicar": Case(
        "enc/evil.zip", lambda: archives.encrypted_zip({"eicar.com": eicar_unique()}), "UNSCANNABLE", "encrypted"
    ),
    "encrypted-zip-inside-zip": Case(
        "enc/outer.zip",
        lambda: archives.zipped({"inner.zip": archives.encrypted_zip({"a.txt": archives.unique()})}),
        "UNSCANNABLE",
        "encrypted",
    ),
    "zip-bomb": Case(
        "bomb/zeros.zip", lambda: archives.zip_bomb(2 * LIMIT), "UNSCANNABLE", "limits-exceeded:MaxScanSize"
    ),
    "gzip-bomb": Case(
        "bomb/zeros.gz", lambda: archives.gzip_bomb(2 * LIMIT), "UNSCANNABLE", "limits-exceeded:MaxScanSize"
    ),
    "tar-gz-bomb": Case(
        "bomb/zeros.tar.gz", lambda: archives.tar_gz_bomb(2 * LIMIT), "UNSCANNABLE", "limits-exceeded:MaxScanSize"
    ),
    "wide-zip-bomb": Case(
        "bomb/wide.zip", lambda: archives.wide_zip(6, LIMIT // 4), "UNSCANNABLE", "limits-exceeded:MaxScanSize"
    ),
    "zip-with-11000-members": Case(
        "bomb/many.zip", lambda: archives.many_members_zip(11_000), "UNSCANNABLE", "limits-exceeded:MaxFiles"
    ),
    "nested-17-deep": Case(
        "nest/clean17.zip",
        lambda: archives.nested_zip(17, archives.unique()),
        "UNSCANNABLE",
        "limits-exceeded:MaxRecursion",
    ),
    "nested-24-deep-hiding-eicar": Case(
        "nest/evil24.zip",
        lambda: archives.nested_zip(24, eicar_unique()),
        "UNSCANNABLE",
        "limits-exceeded:MaxRecursion",
    ),
    # Control: within the limits the same nesting is searched to the bottom.
    "nested-15-deep-eicar-found": Case(
        "nest/evil15.zip", lambda: archives.nested_zip(15, eicar_unique()), "INFECTED", EICAR_NAME
    ),
}

CASES = {**KEY_CASES, **TAG_CASES, **CONTENT_CASES}


def expect(case: Case, where: Any, result_status: dict[str, Any]) -> None:
    assert (result_status["status"], result_status["detail"]) == (case.status, case.detail)
    if case.status == "INFECTED":
        assert not where.in_source and where.in_quarantine, "quarantined, source gone"
        assert where.quarantine_tags.get("scan-status") == "INFECTED"
    else:
        assert where.status == case.status
        assert (where.source_tags or {}).get("scan-detail") == case.detail
    if case.tags and where.in_source:
        user = {k: v for k, v in (where.source_tags or {}).items() if k.startswith("user-")}
        assert len(user) == 9 and len(where.source_tags or {}) == 10, "scan-status replaces the last user tag"


def put_case(s3: Any, bucket: str, case: Case) -> tuple[Tracked, dict[str, Any]]:
    tagging = "&".join(f"{k}={v.replace(' ', '+')}" for k, v in case.tags.items())
    return upload(
        s3, bucket, case.key, case.body(), bad=case.status != "CLEAN", **({"Tagging": tagging} if tagging else {})
    )


@pytest.mark.parametrize("name", list(CASES))
def test_bad_object_gets_a_safe_verdict(runtime, make_bucket, s3, ledger, name: str) -> None:
    case = CASES[name]
    bucket = make_bucket(versioned=True)
    obj, event = put_case(s3, bucket, case)
    ledger.bad_input()
    result = runtime.handle(event)
    found = ledger.check(s3, [obj], runtime.settings.quarantine_bucket)
    assert_safe(found, [obj])
    expect(case, found[obj.key], result["statuses"][0])


def test_all_bad_objects_in_one_event_do_not_stop_each_other(runtime, make_bucket, s3, ledger) -> None:
    bucket = make_bucket(versioned=True)
    uploaded = {name: put_case(s3, bucket, case) for name, case in CASES.items()}
    good, good_event = upload(s3, bucket, "good.txt", b"good")
    records = [event["Records"][0] for _, event in uploaded.values()]
    ledger.bad_input(len(records))
    result = runtime.handle(
        s3_event(*records[: len(records) // 2], good_event["Records"][0], *records[len(records) // 2 :])
    )
    by_key = {s["key"]: s for s in result["statuses"]}
    objects = [obj for obj, _ in uploaded.values()] + [good]
    found = ledger.check(s3, objects, runtime.settings.quarantine_bucket)
    assert_safe(found, objects)
    assert by_key["good.txt"]["status"] == "CLEAN"
    for name, (obj, _) in uploaded.items():
        expect(CASES[name], found[obj.key], by_key[obj.key])


@pytest.mark.parametrize(
    "key",
    ["k" * 1020 + ".exe", "ü" * 500 + ".exe"],
    ids=["key-1024-bytes-infected", "key-1000-bytes-of-u-umlaut-infected"],
)
def test_infected_object_with_a_long_key_reaches_quarantine(runtime, make_bucket, s3, ledger, key: str) -> None:
    """`<bucket>/<key>` passes 1,024 bytes; quoted, the second key would pass S3's 2 KB of user metadata."""
    bucket = make_bucket(versioned=True)
    obj, event = upload(s3, bucket, key, eicar_unique(), bad=True)
    ledger.bad_input()
    retry, _ = deliver(runtime, event, "s3")
    found = ledger.check(s3, [obj], runtime.settings.quarantine_bucket)
    assert_safe(found, [obj])
    assert not retry, "the quarantine copy's key and provenance fit S3's limits"
    assert found[obj.key].in_quarantine and not found[obj.key].in_source


@pytest.mark.parametrize("status", ["CLEAN", "RELEASED"])
def test_uploader_forged_scan_tags_are_not_trusted(runtime, make_bucket, s3, ledger, status: str) -> None:
    bucket = make_bucket(versioned=True)
    forged = {"scan-status": status, "scan-engine": runtime.engine(), "scan-time": "2026-01-01T00:00:00Z"}
    tagging = "&".join(f"{k}={v}" for k, v in forged.items()).replace(" ", "+")
    obj, event = upload(s3, bucket, f"forged/{uuid.uuid4()}.exe", eicar_unique(), bad=True, Tagging=tagging)
    ledger.bad_input()
    runtime.handle(event)
    found = ledger.check(s3, [obj], runtime.settings.quarantine_bucket)
    assert_safe(found, [obj])
    assert found[obj.key].in_quarantine and not found[obj.key].in_source, "scanned, found and quarantined"


def test_object_of_exactly_the_maximum_size_is_scanned_in_full(runtime, make_bucket, s3, ledger) -> None:
    """An object of exactly the maximum size is scanned in full; EICAR in its last bytes is found."""
    bucket = make_bucket(versioned=True)
    body = os.urandom(LIMIT - len(EICAR)) + EICAR
    obj, event = upload(s3, bucket, "edge/exact-limit.bin", body, bad=True)
    ledger.bad_input()
    result = runtime.handle(event)
    assert (result["statuses"][0]["status"], result["statuses"][0]["detail"]) == ("INFECTED", EICAR_NAME)
    assert_safe(ledger.check(s3, [obj], runtime.settings.quarantine_bucket), [obj])
