"""Process one object version: scan (or skip), tag, act on INFECTED, report, log and count."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scanner import constants as c
from scanner.actions import ActionResult, apply_infected_action, is_copy_of, quarantine_key
from scanner.config import Settings, ensure_not_source
from scanner.events import ObjectRef
from scanner.exceptions import QuarantineError, SettingsError
from scanner.findings import Finding, publish, should_report
from scanner.observability import MetricUnit, logger, metrics
from scanner.scan import ObjectScanner
from scanner.storage import ObjectInfo, ObjectStore, is_missing
from scanner.tags import merge_tags, scan_tags, utc_now_iso
from scanner.verdict import ScanStatus, Verdict, too_large

_TRUSTED_FINAL = frozenset({ScanStatus.INFECTED.value, ScanStatus.UNSCANNABLE.value})
"""Statuses whose tags may skip a rescan: forging them can only make the forger's own object fail."""


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
    quarantine_location: str | None = None
    problems: list[str] = field(default_factory=list)

    def log_fields(self) -> dict[str, Any]:
        seconds = self.duration_ms / 1000
        mb_s = round(self.bytes_scanned / 1024**2 / seconds, 2) if seconds > 0 and self.bytes_scanned else 0.0
        return {
            "bucket": self.ref.bucket,
            "key": self.ref.key,
            "version": self.ref.version_id,
            "size": self.size,
            "status": self.status.value if self.status else None,
            "detail": self.detail,
            "skipped": self.skipped,
            "duration_ms": round(self.duration_ms, 1),
            "mb_per_s": mb_s,
            "quarantine": self.quarantine_location,
            "retry": self.retry,
            "problems": self.problems or None,
        }


class ObjectProcessor:
    """Everything that happens to one object version, in the order that loses nothing."""

    def __init__(
        self,
        settings: Settings,
        scanner: ObjectScanner,
        store: ObjectStore,
        engine: Any,
        sns_client: Any | None = None,
    ) -> None:
        self.settings = settings
        self.scanner = scanner
        self.store = store
        self.engine = engine
        """Callable returning the current engine/database version string."""
        self.sns_client = sns_client

    def process(self, ref: ObjectRef) -> Outcome:
        started = time.perf_counter()
        outcome = Outcome(ref)
        try:
            self._process(ref, outcome)
        except SettingsError as err:
            # An event from the quarantine bucket itself: scanning it would loop.
            outcome.skipped = "quarantine-bucket"
            outcome.problems.append(str(err))
        except (ClientError, BotoCoreError) as err:
            if is_missing(err):
                outcome.skipped = "object-gone"
            else:
                outcome.retry = True
                outcome.problems.append(f"s3:{_error_code(err)}")
                self._tag_error(ref, outcome, f"s3-error:{_error_code(err)}")
        outcome.duration_ms = (time.perf_counter() - started) * 1000
        self._record(outcome)
        return outcome

    def _process(self, ref: ObjectRef, outcome: Outcome) -> None:
        ensure_not_source(self.settings, ref.bucket)
        info = self.store.head(ref)
        outcome.size = info.size
        existing = self.store.get_tags(ref)
        engine = self.engine()
        previous = existing.get(c.TAG_STATUS)
        if previous == ScanStatus.RELEASED.value and self._is_genuine_release(ref, info):
            outcome.skipped = "released"
            return
        # Tags are only trusted where a forgery could not make anything pass: an uploader may write scan-* tags
        # unless the bucket policy forbids it, so a CLEAN (or unverified RELEASED) claim is always rescanned.
        trusted = previous in _TRUSTED_FINAL and existing.get(c.TAG_ENGINE) == engine
        if trusted and previous == ScanStatus.UNSCANNABLE.value:
            outcome.skipped = "already-scanned"
            outcome.status = ScanStatus(previous)
            return
        when = utc_now_iso()
        if trusted:
            # INFECTED from an earlier attempt whose action failed: finish the action, do not rescan.
            verdict = Verdict(ScanStatus.INFECTED, existing.get(c.TAG_DETAIL))
        else:
            verdict = self._scan(ref, info, outcome)
            self._tag(ref, existing, verdict, engine, when, outcome)
            if ref.version_id is None and self._replaced_since(ref, info):
                # Unversioned bucket: the tags went to the key, which now holds other content.
                self._tag_error(ref, outcome, "object-replaced-during-scan", overwrite=True)
                outcome.retry = True
                return
        outcome.status, outcome.detail = verdict.status, verdict.detail
        action: ActionResult | None = None
        if verdict.status is ScanStatus.INFECTED:
            action = self._act(ref, info, verdict, engine, when, outcome)
        if verdict.status is ScanStatus.ERROR:
            outcome.retry = True
        if should_report(verdict) and not trusted:
            self._report(Finding(ref, verdict, engine, when, action.quarantine_location if action else None), outcome)

    def _is_genuine_release(self, ref: ObjectRef, info: ObjectInfo) -> bool:
        """A RELEASED object is trusted only when its quarantine copy (writable by the scanner and admins only)
        is marked RELEASED and holds the same content."""
        if not self.settings.quarantine_bucket:
            return False
        copy_ref = ObjectRef(self.settings.quarantine_bucket, quarantine_key(ref))
        try:
            copy = self.store.head(copy_ref)
        except ClientError as err:
            if is_missing(err):
                return False
            raise
        if self.store.get_tags(copy_ref).get(c.TAG_STATUS) != ScanStatus.RELEASED.value:
            return False
        return is_copy_of(copy, ref.bucket, info, source_version=None)

    def _replaced_since(self, ref: ObjectRef, scanned: ObjectInfo) -> bool:
        try:
            return self.store.head(ref).etag != scanned.etag
        except ClientError as err:
            if is_missing(err):
                return False
            raise

    def _scan(self, ref: ObjectRef, info: ObjectInfo, outcome: Outcome) -> Verdict:
        if info.size > self.settings.max_object_bytes:
            return too_large()
        result = self.scanner.scan(ref, info.size, info.etag)
        outcome.bytes_scanned = result.bytes_scanned
        return result.verdict

    def _tag(
        self, ref: ObjectRef, existing: dict[str, str], verdict: Verdict, engine: str, when: str, outcome: Outcome
    ) -> None:
        merged = merge_tags(existing, scan_tags(verdict, engine, when))
        if merged.dropped_scan_tags or merged.dropped_user_tags:
            logger.warning(
                "tag limit reached",
                extra={"dropped_scan_tags": merged.dropped_scan_tags, "dropped_user_tags": merged.dropped_user_tags},
            )
        try:
            self.store.put_tags(ref, merged.tags)
        except (ClientError, BotoCoreError) as err:
            if is_missing(err):
                raise
            # The verdict still drives the action (an infected object is quarantined even if tagging failed).
            outcome.retry = True
            outcome.problems.append(f"tag:{_error_code(err)}")

    def _act(
        self, ref: ObjectRef, info: ObjectInfo, verdict: Verdict, engine: str, when: str, outcome: Outcome
    ) -> ActionResult | None:
        try:
            result = apply_infected_action(
                self.settings.action,
                self.store,
                ref,
                info,
                verdict,
                quarantine_bucket=self.settings.quarantine_bucket,
                engine=engine,
                when=when,
            )
        except (QuarantineError, ClientError, BotoCoreError) as err:
            if is_missing(err):
                raise
            outcome.retry = True
            outcome.problems.append(f"action:{type(err).__name__}")
            logger.error("infected-object action failed; source kept", extra={"error": str(err)})
            return None
        outcome.quarantine_location = result.quarantine_location
        return result

    def _report(self, finding: Finding, outcome: Outcome) -> None:
        if not (self.settings.findings_topic_arn and self.sns_client):
            return
        try:
            publish(self.sns_client, self.settings.findings_topic_arn, finding)
        except (ClientError, BotoCoreError) as err:
            outcome.problems.append(f"findings:{_error_code(err)}")
            logger.error("findings publish failed", extra={"error": str(err)})

    def _tag_error(self, ref: ObjectRef, outcome: Outcome, detail: str, *, overwrite: bool = False) -> None:
        """Best effort: mark the object ERROR so it is never mistaken for unscanned-but-fine.

        An INFECTED or RELEASED status stays unless `overwrite` (the verdict on the key is known to be stale).
        """
        outcome.status, outcome.detail = ScanStatus.ERROR, detail
        try:
            existing = self.store.get_tags(ref)
            if not overwrite and existing.get(c.TAG_STATUS) in {ScanStatus.INFECTED.value, ScanStatus.RELEASED.value}:
                return
            merged = merge_tags(existing, scan_tags(Verdict(ScanStatus.ERROR, detail), self.engine(), utc_now_iso()))
            self.store.put_tags(ref, merged.tags)
        except Exception as err:  # noqa: BLE001 - best effort only; the retry is already requested
            outcome.problems.append(f"tag-error:{type(err).__name__}")

    def _record(self, outcome: Outcome) -> None:
        logger.info("object processed", extra=outcome.log_fields())
        if outcome.skipped:
            return
        metrics.add_metric(name="ObjectsScanned", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="BytesScanned", unit=MetricUnit.Bytes, value=outcome.bytes_scanned)
        metrics.add_metric(name="ScanDuration", unit=MetricUnit.Milliseconds, value=outcome.duration_ms)
        counter = {
            ScanStatus.INFECTED: "Infected",
            ScanStatus.UNSCANNABLE: "Unscannable",
            ScanStatus.ERROR: "Errors",
        }.get(outcome.status)  # type: ignore[arg-type]
        if counter:
            metrics.add_metric(name=counter, unit=MetricUnit.Count, value=1)


def _error_code(err: BaseException) -> str:
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", "ClientError"))
    return type(err).__name__
