"""S3 faults on every call the scanner makes for an object: throttling (503 SlowDown) and server errors (500
InternalError) on the reads, the GET, the tag write, the quarantine copy and the delete; a GET whose body breaks
off. Transient faults must be absorbed by botocore's retries; persistent ones must leave every object safe
(never lost, never wrongly CLEAN), ask for the event to be retried (InvocationFailed, or the message in
batchItemFailures), and a rerun without the fault must converge to the right final state.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from scanner.config import InfectedAction
from scanner.storage import ObjectStore
from tests.faults.harness import deliver, upload
from tests.faults.injection import S3Fault, TruncatedGet
from tests.faults.ledger import Tracked, assert_final, assert_safe
from tests.support.clamd import EICAR
from tests.support.events import s3_event, s3_record

CODES = [pytest.param(503, "SlowDown", id="throttled-503"), pytest.param(500, "InternalError", id="server-500")]
# Which objects reach which call: only an INFECTED verdict copies, verifies the copy (HEAD) and deletes; the
# uploads carry a tag of their own, so the tags are read (GetObjectTagging) and merged; an unversioned bucket
# adds a HEAD for clean objects too (test_object_replaced_while_scanned_in_an_unversioned_bucket).
CALLS = [
    ("HeadObject", "infected"),
    ("GetObjectTagging", "clean"),
    ("GetObjectTagging", "infected"),
    ("GetObject", "clean"),
    ("GetObject", "infected"),
    ("PutObjectTagging", "clean"),
    ("PutObjectTagging", "infected"),
    ("CopyObject", "infected"),
    ("DeleteObject", "infected"),
]
CALL_IDS = [f"{op}-{kind}" for op, kind in CALLS]


def body_of(kind: str) -> bytes:
    """Unique bytes per test; the infected ones carry EICAR after a clean prefix."""
    unique = f"{kind} {uuid.uuid4()} ".encode() * 64
    return unique + EICAR if kind == "infected" else unique


def scenario(runtime_for: Any, faults: Any, make_bucket: Any, s3: Any, kind: str) -> tuple[Any, Any, Tracked, dict]:
    runtime = runtime_for()
    injector = faults(runtime)
    obj, event = upload(
        s3, make_bucket(versioned=True), f"in/{kind}.bin", body_of(kind), bad=kind == "infected", Tagging="owner=eve"
    )
    return runtime, injector, obj, event


@pytest.mark.parametrize(("status", "code"), CODES)
@pytest.mark.parametrize(("operation", "kind"), CALLS, ids=CALL_IDS)
def test_transient_fault_is_absorbed_by_botocore_retries(
    runtime_for, faults, make_bucket, s3, ledger, operation: str, kind: str, status: int, code: str
) -> None:
    runtime, injector, obj, event = scenario(runtime_for, faults, make_bucket, s3, kind)
    fault = injector.add(S3Fault(operation, status, code, times=2))
    retry, result = deliver(runtime, event, "s3")
    ledger.fault(fault.injected)
    assert fault.injected == 2, f"the fault was not reached: {injector.seen}"
    assert not retry, "two failed attempts are within botocore's five"
    assert result is not None and result["statuses"][0]["problems"] is None
    found = ledger.check(s3, [obj], runtime.settings.quarantine_bucket)
    assert_safe(found, [obj])
    assert_final(found, obj)


@pytest.mark.parametrize("via", ["s3", "sqs"])
@pytest.mark.parametrize(("status", "code"), CODES)
@pytest.mark.parametrize(("operation", "kind"), CALLS, ids=CALL_IDS)
def test_persistent_fault_is_retried_and_a_rerun_converges(
    runtime_for, faults, make_bucket, s3, ledger, operation: str, kind: str, status: int, code: str, via: str
) -> None:
    runtime, injector, obj, event = scenario(runtime_for, faults, make_bucket, s3, kind)
    fault = injector.add(S3Fault(operation, status, code))
    retry, _ = deliver(runtime, event, via)
    ledger.fault(fault.injected)
    assert fault.injected >= 5, f"botocore must have used all its attempts: {injector.seen}"
    assert retry, "a failure that outlasted botocore's retries must retry (or dead-letter) the event"
    quarantine = runtime.settings.quarantine_bucket
    found = ledger.check(s3, [obj], quarantine)
    assert_safe(found, [obj])
    if operation in {"CopyObject", "DeleteObject"}:
        assert found[obj.key].in_source and found[obj.key].status == "INFECTED", "the source is kept, marked"

    injector.clear()
    retry, _ = deliver(runtime, event, via)
    assert not retry
    found = ledger.check(s3, [obj], quarantine)
    assert_safe(found, [obj])
    assert_final(found, obj)


@pytest.mark.parametrize("reset", [True, False], ids=["connection-reset", "early-eof"])
@pytest.mark.parametrize("kind", ["clean", "infected"])
def test_get_body_broken_off_is_never_clean(
    runtime_for, faults, make_bucket, s3, ledger, kind: str, reset: bool
) -> None:
    """The infected object's EICAR sits after the break: what clamd received alone would scan OK."""
    runtime, injector, obj, event = scenario(runtime_for, faults, make_bucket, s3, kind)
    fault = injector.add(TruncatedGet(after_bytes=1024, reset=reset))
    retry, _ = deliver(runtime, event, "s3")
    ledger.fault(fault.injected)
    assert fault.injected >= 1 and retry
    found = ledger.check(s3, [obj], runtime.settings.quarantine_bucket)
    assert_safe(found, [obj])
    assert found[obj.key].status == "ERROR"
    assert (found[obj.key].source_tags or {}).get("scan-detail", "").startswith("s3-error:")

    injector.clear()
    retry, _ = deliver(runtime, event, "s3")
    assert not retry
    found = ledger.check(s3, [obj], runtime.settings.quarantine_bucket)
    assert_final(found, obj)


def test_tag_write_fails_only_on_the_quarantine_copy(runtime_for, faults, make_bucket, s3, ledger) -> None:
    """The copy lands but its scan tags cannot be written: the source stays; the rerun must finish the job,
    and the copy must end up tagged like every other quarantined object."""
    runtime, injector, obj, event = scenario(runtime_for, faults, make_bucket, s3, "infected")
    quarantine = runtime.settings.quarantine_bucket
    fault = injector.add(S3Fault("PutObjectTagging", 503, "SlowDown", bucket=quarantine))
    retry, _ = deliver(runtime, event, "s3")
    ledger.fault(fault.injected)
    assert retry
    found = ledger.check(s3, [obj], quarantine)
    assert_safe(found, [obj])
    assert found[obj.key].status == "INFECTED"

    injector.clear()
    retry, _ = deliver(runtime, event, "s3")
    assert not retry
    found = ledger.check(s3, [obj], quarantine)
    assert_final(found, obj)


@pytest.mark.parametrize("action", [InfectedAction.TAG, InfectedAction.DELETE])
def test_other_actions_under_persistent_faults(runtime_for, faults, make_bucket, s3, ledger, action) -> None:
    """Tag-only and delete actions: a failed tag write or delete is retried and converges."""
    runtime = runtime_for(action=action, quarantine_bucket=None)
    injector = faults(runtime)
    bucket = make_bucket(versioned=True)
    obj, event = upload(s3, bucket, "in/evil.bin", body_of("infected"), bad=True)
    obj = dataclasses.replace(obj, deletion_is_final=action is InfectedAction.DELETE)
    operation = "PutObjectTagging" if action is InfectedAction.TAG else "DeleteObject"
    fault = injector.add(S3Fault(operation, 500, "InternalError"))
    retry, _ = deliver(runtime, event, "s3")
    ledger.fault(fault.injected)
    assert retry
    assert_safe(ledger.check(s3, [obj], None), [obj])
    assert ledger.check(s3, [obj], None)[obj.key].in_source, "nothing is deleted before the delete succeeds"

    injector.clear()
    retry, _ = deliver(runtime, event, "s3")
    assert not retry
    where = ledger.check(s3, [obj], None)[obj.key]
    if action is InfectedAction.TAG:
        assert where.status == "INFECTED"
    else:
        assert not where.in_source and s3.list_object_versions(Bucket=bucket).get("Versions", []) == []


def test_object_replaced_while_scanned_in_an_unversioned_bucket(
    runtime_for, make_bucket, s3, ledger, monkeypatch
) -> None:
    """An attached bucket without versioning: a clean upload, then the same key overwritten with malware
    while the clean bytes are being streamed to clamd (S3 keeps serving the GET already started)."""
    runtime = runtime_for()
    bucket = make_bucket()
    _, first_event = upload(s3, bucket, "report.pdf", body_of("clean"))
    evil_body = body_of("infected")
    original_open = ObjectStore.open

    def open_then_overwrite(self: ObjectStore, ref: Any, *args: Any) -> Any:
        body = original_open(self, ref, *args)
        monkeypatch.setattr(ObjectStore, "open", original_open)
        s3.put_object(Bucket=bucket, Key="report.pdf", Body=evil_body)
        return body

    monkeypatch.setattr(ObjectStore, "open", open_then_overwrite)
    ledger.fault()
    retry, result = deliver(runtime, first_event, "s3")
    evil = Tracked(bucket, "report.pdf", evil_body, must_not_be_clean=True)
    # The overwrite is noticed (HEAD after tagging) and the key's current content scanned in the same run.
    assert not retry and result is not None
    assert result["statuses"][0]["status"] == "INFECTED"
    found = ledger.check(s3, [evil], runtime.settings.quarantine_bucket)
    assert_safe(found, [evil])
    assert_final(found, evil)
    # The overwrite's own event, delivered later, finds the key gone: nothing is lost, nothing wrongly CLEAN.
    late = runtime.handle(s3_event(s3_record(bucket, "report.pdf", size=len(evil_body))))
    assert late["statuses"][0]["skipped"] == "object-gone"
    assert_final(ledger.check(s3, [evil], runtime.settings.quarantine_bucket), evil)
