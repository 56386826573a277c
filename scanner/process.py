"""Process one object: GET it pinned, stream it into clamd, tag exactly that content, act, report.

Tags are outputs, never inputs: nothing here reads a `scan-*` tag to decide anything. A clean object costs one GET
(tags fetched alongside only when the GET says the object has some) and one PutObjectTagging; an unversioned bucket
adds one HEAD to notice a key overwritten during the scan.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scanner import constants as c
from scanner.actions import ActionResult, Infection, apply_infected_action
from scanner.allowlist import AllowList, Release
from scanner.config import Settings, ensure_not_source
from scanner.engine_limits import unscannable_reason
from scanner.events import ObjectRef
from scanner.exceptions import AllowListError, ClamdError, QuarantineError, SettingsError, SourceReadError
from scanner.findings import Finding, publish, should_report
from scanner.observability import logger
from scanner.scan import ObjectScanner, ScanResult
from scanner.storage import ObjectStore, OpenedObject, Pinned, error_code, is_missing
from scanner.tags import merge_tags, scan_tags, user_tags, utc_now_iso
from scanner.verdict import ScanStatus, Verdict, too_large, too_large_for_timeout, unscannable

_MAX_REPLACED_RESCANS = 2
"""An unversioned key overwritten during its scan is scanned again (its current content), at most this often."""


@dataclass
class Outcome:
    """What happened to one object; `retry` asks the caller to fail the invocation (or batch item)."""

    ref: ObjectRef
    status: ScanStatus | None = None
    detail: str | None = None
    skipped: str | None = None
    retry: bool = False
    size: int = 0
    bytes_scanned: int = 0
    duration_ms: float = 0.0
    version_id: str | None = None
    etag: str | None = None
    sha256: str | None = None
    engine: str | None = None
    scanned_at: str | None = None
    quarantine_location: str | None = None
    released_by: str | None = None
    written_status: ScanStatus | None = None
    """The status the scanner itself wrote on this content in this run (the only one an error may keep)."""
    problems: list[str] = field(default_factory=list)

    def log_fields(self) -> dict[str, Any]:
        seconds = self.duration_ms / 1000
        mb_s = round(self.bytes_scanned / 1024**2 / seconds, 2) if seconds > 0 and self.bytes_scanned else 0.0
        return {
            "bucket": self.ref.bucket,
            "key": self.ref.key,
            "version": self.version_id or self.ref.version_id,
            "size": self.size,
            "status": self.status.value if self.status else None,
            "detail": self.detail,
            "skipped": self.skipped,
            "sha256": self.sha256,
            "duration_ms": round(self.duration_ms, 1),
            "mb_per_s": mb_s,
            "quarantine": self.quarantine_location,
            "retry": self.retry,
            "problems": self.problems or None,
        }


class ObjectProcessor:
    """Everything that happens to one object, in the order that loses nothing."""

    def __init__(
        self,
        settings: Settings,
        scanner: ObjectScanner,
        store: ObjectStore,
        engine: Callable[[], str],
        *,
        sns_client: Any | None = None,
        allow_list: AllowList | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.settings = settings
        self.scanner = scanner
        self.store = store
        self.engine = engine
        """The current engine/database version label."""
        self.sns_client = sns_client
        self.allow_list = allow_list
        self.executor = executor
        """Runs the tag read alongside the GET's stream; None reads them in line."""

    def process(self, ref: ObjectRef, deadline: float | None = None) -> Outcome:
        """Everything for one object; `deadline` (time.monotonic()) is when the invocation must be done."""
        started = time.perf_counter()
        outcome = Outcome(ref)
        try:
            ensure_not_source(self.settings, ref.bucket)
            self._process(ref, outcome, deadline)
        except SettingsError as err:
            # An event from the quarantine bucket itself: scanning it would loop.
            outcome.skipped = "quarantine-bucket"
            outcome.problems.append(str(err))
        except (ClientError, BotoCoreError, SourceReadError) as err:
            if is_missing(err):
                outcome.skipped = "object-gone"
            else:
                code = error_code(err.__cause__ or err) if isinstance(err, SourceReadError) else error_code(err)
                outcome.retry = True
                outcome.problems.append(f"s3:{code}")
                self._tag_error(ref, outcome, f"s3-error:{code}")
        outcome.duration_ms = (time.perf_counter() - started) * 1000
        logger.info("object processed", extra=outcome.log_fields())
        return outcome

    def _process(self, ref: ObjectRef, outcome: Outcome, deadline: float | None) -> None:
        if ref.size is not None and ref.size > self.settings.max_object_bytes:
            # Too large says the event: a HEAD decides (an event's size is not the object's word), and a
            # too-large object is not read at all, only pinned for its tags.
            info = self.store.head(ref)
            if info.size > self.settings.max_object_bytes:
                pinned = Pinned(ref.bucket, ref.key, info.version_id or ref.version_id, info.etag)
                outcome.size = info.size
                outcome.engine = self._engine()
                self._conclude(pinned, outcome, ScanResult(too_large()), tags_future=self._tags_of(pinned), opened=None)
                return
        opened = self.store.open(ref)
        for _ in range(_MAX_REPLACED_RESCANS + 1):
            replaced = self._scan_and_conclude(opened, outcome, deadline)
            if not replaced:
                return
            # Unversioned key overwritten while it was scanned: its tags went to other content. That content is
            # scanned now, so whatever the key holds ends with a verdict of its own.
            opened = self.store.open(ObjectRef(ref.bucket, ref.key))
        outcome.retry = True
        outcome.problems.append("key-keeps-changing")

    def _scan_and_conclude(self, opened: OpenedObject, outcome: Outcome, deadline: float | None) -> bool:
        outcome.size = opened.size
        outcome.engine = self._engine()
        tags_future = self._read_tags(opened)
        before = self._unscannable_before_stream(opened, deadline)
        if before is not None:
            opened.close()
            result = ScanResult(before)
        else:
            result = self.scanner.scan(opened)
        return self._conclude(opened.pinned, outcome, result, tags_future=tags_future, opened=opened)

    def _unscannable_before_stream(self, opened: OpenedObject, deadline: float | None) -> Verdict | None:
        """Objects the engine cannot see in full, or not before the deadline, are not streamed at all."""
        if opened.size > self.settings.max_object_bytes:
            return too_large()
        limit = unscannable_reason(opened.size, self.settings.clamd)
        if limit is not None:
            return unscannable(limit)
        if deadline is not None:
            left = deadline - time.monotonic() - c.DEADLINE_HEADROOM_SECONDS
            if opened.size / self.settings.scan_rate_floor > left:
                return too_large_for_timeout()
        return None

    def _read_tags(self, opened: OpenedObject) -> Future[dict[str, str]] | None:
        """The object's tags, read alongside the scan: only when the GET reported any (TagCount)."""
        return self._tags_of(opened.pinned) if opened.tag_count else None

    def _tags_of(self, pinned: Pinned) -> Future[dict[str, str]]:
        if self.executor is None:
            done: Future[dict[str, str]] = Future()
            try:
                done.set_result(self.store.get_tags(pinned))
            except Exception as err:  # noqa: BLE001 - surfaced where the tags are needed
                done.set_exception(err)
            return done
        return self.executor.submit(self.store.get_tags, pinned)

    def _conclude(
        self,
        pinned: Pinned,
        outcome: Outcome,
        result: ScanResult,
        *,
        tags_future: Future[dict[str, str]] | None,
        opened: OpenedObject | None,
    ) -> bool:
        """Tag, act and report for one scanned content; True when an unversioned key was overwritten meanwhile."""
        content_encoding = opened.content_encoding if opened else None
        outcome.version_id, outcome.etag = pinned.version_id, pinned.etag
        outcome.sha256, outcome.bytes_scanned = result.sha256, result.scanned_bytes
        # The label of the clamd that was asked before the stream: a restart mid-scan keeps the same database.
        engine = outcome.engine or self._engine()
        when = utc_now_iso()
        outcome.engine, outcome.scanned_at = engine, when
        verdict = result.verdict
        release: Release | None = None
        release_unknown = False
        if verdict.status is ScanStatus.INFECTED:
            try:
                release = self._release_for(pinned, result, verdict, content_encoding)
            except AllowListError as err:
                # Unknown whether a reviewer released it: it stays INFECTED (tagged); the action waits for a retry.
                release_unknown = True
                outcome.retry = True
                outcome.problems.append("allow-list-unavailable")
                logger.error("allow-list lookup failed; the action waits for a retry", extra={"error": str(err)})
            if release is not None:
                verdict = Verdict(ScanStatus.RELEASED, verdict.detail)
                outcome.released_by = release.released_by
        existing, tags_known = self._existing_tags(tags_future, outcome)
        tags = scan_tags(
            verdict,
            engine,
            when,
            released_by=release.released_by if release else None,
            release_reason=release.reason if release else None,
            guardduty=self.settings.guardduty_status_tag,
        )
        # Tags that cannot be read cannot be merged: a verdict other than CLEAN is then written alone (the
        # uploader's tags on this content are given up), because a forged CLEAN must never stay on it.
        wrote = (tags_known or verdict.status is not ScanStatus.CLEAN) and self._tag(pinned, existing, tags, outcome)
        if not pinned.versioned:
            # No conditional tagging in S3: the tag write went to whatever the key holds now. Until a HEAD shows the
            # scanned ETag, nothing counts as written; a HEAD that fails leaves ERROR behind.
            try:
                replaced = self._replaced_since(pinned)
            except (ClientError, BotoCoreError) as err:
                self._write_error(pinned.ref, outcome, f"s3-error:{error_code(err)}")
                return False
            if replaced:
                self._write_error(pinned.ref, outcome, "object-replaced-during-scan", retry=False)
                return True
        if wrote:
            outcome.written_status = verdict.status
        outcome.status, outcome.detail = verdict.status, verdict.detail
        action: ActionResult | None = None
        if verdict.status is ScanStatus.INFECTED and not release_unknown:
            infection = Infection(
                pinned=pinned,
                sha256=result.sha256,
                size=result.stored_bytes,
                signature=verdict.detail or "",
                engine=engine,
                scanned_at=when,
                content_encoding=content_encoding,
                user_tags=user_tags(existing, guardduty=self.settings.guardduty_status_tag),
                scan_tags=tags,
                encryption=opened.encryption if opened else None,
                kms_key_id=opened.kms_key_id if opened else None,
            )
            action = self._act(infection, outcome)
        if verdict.status is ScanStatus.ERROR:
            outcome.retry = True
        if should_report(verdict):
            location = action.quarantine_location if action else None
            self._report(Finding(pinned.ref, verdict, engine, when, location), outcome)
        return False

    def _engine(self) -> str:
        """The engine label; a clamd that cannot say (hung, dying) gives `unknown`, and its scan fails anyway."""
        try:
            return self.engine()
        except ClamdError as err:
            logger.warning("clamd did not report its version", extra={"error": str(err)})
            return "unknown"

    def _release_for(
        self, pinned: Pinned, result: ScanResult, verdict: Verdict, content_encoding: str | None
    ) -> Release | None:
        """The allow-list entry for this exact content and detection (read only on the INFECTED path)."""
        if self.allow_list is None or not result.sha256:
            return None
        return self.allow_list.lookup(
            sha256=result.sha256,
            bucket=pinned.bucket,
            key=pinned.key,
            signature=verdict.detail or "",
            content_encoding=content_encoding,
        )

    def _replaced_since(self, pinned: Pinned) -> bool:
        try:
            return self.store.head(pinned.ref).etag != pinned.etag
        except ClientError as err:
            if is_missing(err):
                return False
            raise

    @staticmethod
    def _existing_tags(future: Future[dict[str, str]] | None, outcome: Outcome) -> tuple[dict[str, str], bool]:
        """The object's tags (read alongside the scan), and whether they could be read at all."""
        if future is None:
            return {}, True
        try:
            return future.result(), True
        except (ClientError, BotoCoreError) as err:
            if is_missing(err):
                raise
            outcome.retry = True
            outcome.problems.append(f"tags-unreadable:{error_code(err)}")
            return {}, False

    def _tag(self, pinned: Pinned, existing: dict[str, str], tags: dict[str, str], outcome: Outcome) -> bool:
        """Write the merged tags; False (and a retry) when S3 refused."""
        merged = merge_tags(existing, tags)
        if merged.dropped_scan_tags or merged.dropped_user_tags:
            logger.warning(
                "tag limit reached",
                extra={"dropped_scan_tags": merged.dropped_scan_tags, "dropped_user_tags": merged.dropped_user_tags},
            )
        try:
            self.store.put_tags(pinned, merged.tags)
        except (ClientError, BotoCoreError) as err:
            if is_missing(err):
                raise
            # The verdict still drives the action (an infected object is quarantined even if tagging failed).
            outcome.retry = True
            outcome.problems.append(f"tag:{error_code(err)}")
            return False
        return True

    def _act(self, infection: Infection, outcome: Outcome) -> ActionResult | None:
        try:
            result = apply_infected_action(
                self.settings.action, self.store, infection, quarantine_bucket=self.settings.quarantine_bucket
            )
        except (QuarantineError, ClientError, BotoCoreError) as err:
            outcome.retry = True
            outcome.problems.append(f"action:{type(err).__name__}")
            logger.error("infected-object action failed; source kept", extra={"error": str(err)})
            return None
        outcome.quarantine_location = result.quarantine_location
        if result.problem:
            outcome.problems.append(result.problem)
        return result

    def _report(self, finding: Finding, outcome: Outcome) -> None:
        if not (self.settings.findings_topic_arn and self.sns_client):
            return
        try:
            publish(self.sns_client, self.settings.findings_topic_arn, finding)
        except (ClientError, BotoCoreError) as err:
            outcome.problems.append(f"findings:{error_code(err)}")
            logger.error("findings publish failed", extra={"error": str(err)})

    def _tag_error(self, ref: ObjectRef, outcome: Outcome, detail: str) -> None:
        """Best effort after a failure: mark the content ERROR, so it is never mistaken for scanned and fine.

        Only a status the scanner itself wrote on this content in this run is kept (an INFECTED verdict whose
        quarantine then failed); every other status, whoever wrote it, is replaced.
        """
        outcome.status, outcome.detail = ScanStatus.ERROR, detail
        if outcome.written_status is not None:
            outcome.status = outcome.written_status
            return
        target = ObjectRef(ref.bucket, ref.key, outcome.version_id or ref.version_id)
        self._write_error(target, outcome, detail)

    def _write_error(self, ref: ObjectRef, outcome: Outcome, detail: str, *, retry: bool = True) -> None:
        outcome.status, outcome.detail = ScanStatus.ERROR, detail
        outcome.retry = outcome.retry or retry
        try:
            try:
                existing = self.store.get_tags(ref)
            except (ClientError, BotoCoreError) as err:
                if is_missing(err):
                    raise
                existing = {}  # unreadable tags are given up rather than leave an unverified status in place
            engine = outcome.engine or self._engine()
            error_tags = scan_tags(
                Verdict(ScanStatus.ERROR, detail), engine, utc_now_iso(), guardduty=self.settings.guardduty_status_tag
            )
            merged = merge_tags(existing, error_tags)
            self.store.put_tags(ref, merged.tags)
        except Exception as err:  # noqa: BLE001 - best effort only; the retry is already requested
            outcome.problems.append(f"tag-error:{type(err).__name__}")


def record_metrics(outcome: Outcome, add_metric: Callable[..., None], unit: Any) -> None:
    """The metrics of one outcome (called from one thread: Powertools Metrics is not thread-safe)."""
    if outcome.skipped:
        return
    add_metric(name="ObjectsScanned", unit=unit.Count, value=1)
    add_metric(name="BytesScanned", unit=unit.Bytes, value=outcome.bytes_scanned)
    add_metric(name="ScanDuration", unit=unit.Milliseconds, value=outcome.duration_ms)
    counter = {
        ScanStatus.INFECTED: "Infected",
        ScanStatus.UNSCANNABLE: "Unscannable",
        ScanStatus.ERROR: "Errors",
        ScanStatus.RELEASED: "Released",
    }.get(outcome.status)  # type: ignore[arg-type]
    if counter:
        add_metric(name=counter, unit=unit.Count, value=1)
