"""One execution environment: settings, a warm clamd, AWS clients, and handling of whole events.

The records of one event (an SQS batch, above all) are scanned concurrently against the one clamd, as many at once
as the environment has vCPUs (SCAN_CONCURRENCY). Results, logs and metrics stay per record: each record's outcome
is built in its own thread; metrics are added from the invoking thread only (Powertools Metrics is not
thread-safe).
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config

from scanner import batch_operations
from scanner import constants as c
from scanner.allowlist import AllowList
from scanner.archives import rar_supported
from scanner.clamd import ClamdDaemon
from scanner.config import Settings
from scanner.definitions.manifest import directory_built_at
from scanner.definitions.reporting import report_age
from scanner.definitions.watcher import DefinitionsWatcher, Staged
from scanner.engine import engine_label
from scanner.events import Delivery, Ignored, Malformed, ObjectRef, parse_event
from scanner.exceptions import ClamdStartError
from scanner.observability import MetricUnit, logger, metrics
from scanner.process import ObjectProcessor, Outcome, record_metrics
from scanner.results import ResultPublisher
from scanner.scan import ObjectScanner
from scanner.securityhub import SecurityHubFindings
from scanner.storage import ObjectStore

BOTO_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60, max_pool_connections=32
)


class InvocationFailed(Exception):
    """Raised after every record was processed when at least one needs Lambda's retry."""


@dataclass
class ScannerRuntime:
    """Long-lived state of one execution environment."""

    settings: Settings
    daemon: ClamdDaemon
    s3_client: Any
    sns_client: Any | None = None
    dynamodb_client: Any | None = None
    events_client: Any | None = None
    """EventBridge, when scan-result events are configured (RESULT_EVENT_BUS)."""
    securityhub_client: Any | None = None
    """Security Hub, when findings are configured (SECURITY_HUB_PRODUCT_ARN)."""
    on_outcome: Callable[[Outcome], None] | None = None
    """Called with every outcome (the local pipeline prints verdict lines with it); may be called from any thread."""
    definitions: DefinitionsWatcher | None = None
    """Published definitions (built from the settings when a definitions bucket is configured)."""
    rar_supported: bool | None = None
    """Whether clamd can unpack RAR here (None: detect)."""
    _engine: str | None = field(default=None, init=False)
    _engine_pid: int | None = field(default=None, init=False)
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _starting: threading.Thread | None = field(default=None, init=False, repr=False)
    _next: tuple[Staged, ClamdDaemon] | None = field(default=None, init=False, repr=False)
    """A second clamd loading a newer set beside the one that scans (blue-green switch)."""
    _generation: int = field(default=0, init=False, repr=False)
    _baked_age_reported_at: float | None = field(default=None, init=False, repr=False)
    _start_error: BaseException | None = field(default=None, init=False, repr=False)
    _findings: SecurityHubFindings | None = field(default=None, init=False, repr=False)
    """Kept for the life of the environment: once Security Hub says it is off, it is not asked again."""

    def __post_init__(self) -> None:
        if self.definitions is None and self.settings.definitions_bucket:
            self.definitions = DefinitionsWatcher.from_settings(self.settings, self.s3_client)
        if self.rar_supported is None:
            self.rar_supported = rar_supported()

    @classmethod
    def from_settings(cls, settings: Settings, *, session: boto3.Session | None = None) -> ScannerRuntime:
        """Clients from the default credential chain (AWS_ENDPOINT_URL is honoured by boto3)."""
        session = session or boto3.Session()
        return cls(
            settings=settings,
            daemon=ClamdDaemon(settings.clamd, settings.stream_chunk_bytes),
            s3_client=session.client("s3", config=BOTO_CONFIG),
            sns_client=session.client("sns", config=BOTO_CONFIG) if settings.findings_topic_arn else None,
            dynamodb_client=session.client("dynamodb", config=BOTO_CONFIG) if settings.allow_list_table else None,
            events_client=session.client("events", config=BOTO_CONFIG) if settings.result_event_bus else None,
            securityhub_client=(
                session.client("securityhub", config=BOTO_CONFIG) if settings.security_hub_product_arn else None
            ),
        )

    @property
    def pool(self) -> ThreadPoolExecutor:
        """Workers for concurrent records and the tag reads beside their streams (twice the scan concurrency)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(2 * self.settings.concurrency + 1, thread_name_prefix="scan")
        return self._pool

    def engine(self) -> str:
        """Engine and database version, asked of clamd once per clamd process (and after reloads)."""
        if not self.daemon.is_running():
            logger.warning("clamd is not running; restarting it")
            self.daemon.ensure_running()
        pid = self.daemon.pid
        if self._engine is None or self._engine_pid != pid:
            self._engine = engine_label(self.daemon.client.version(), self.daemon.database_dir)
            self._engine_pid = pid
        return self._engine

    def forget_engine(self) -> None:
        """Drop the cached version (after a database reload)."""
        self._engine = None

    def start(self) -> None:
        """Cold start: fetch the published definitions (when configured), then spawn clamd on them (non-blocking)."""
        database_dir = self.definitions.prepare() if self.definitions else None
        self.daemon.stop()
        self.daemon.start(database_dir)
        self.forget_engine()

    def start_in_background(self, *, wait: bool = False) -> None:
        """The cold start (download, spawn) in a thread, so Lambda's init phase returns at once; `wait` also waits
        for clamd to answer (provisioned concurrency: init runs before any traffic)."""

        def cold_start() -> None:
            try:
                self.start()
                if wait:
                    self.ensure_clamd()
            except BaseException as err:  # noqa: BLE001 - surfaced by the first invocation
                self._start_error = err

        self._starting = threading.Thread(target=cold_start, name="cold-start", daemon=True)
        self._starting.start()
        if wait:
            self._starting.join()

    def _finish_cold_start(self) -> None:
        """The first invocation waits for the background cold start; a failed one is done again in line."""
        if self._starting is None:
            return
        self._starting.join()
        self._starting = None
        if self._start_error is not None:
            logger.warning(
                "cold start failed in the background; starting again", extra={"error": str(self._start_error)}
            )
            self._start_error = None
            self.start()

    def refresh_definitions(self) -> None:
        """Before scanning: the cold start if init did not do it; else switch to a staged set whose clamd now
        answers, or stage a newer published set on a second clamd (scans go on with the current one meanwhile)."""
        self._finish_cold_start()
        if self.definitions is None:
            self._report_baked_age()
            return
        if not self.definitions.prepared:
            self.start()
            return
        if self._next is not None:
            self.settle_switch()
        if self._next is None:
            staged = self.definitions.check()
            if staged is not None:
                self._stage(staged)

    def _report_baked_age(self) -> None:
        """Without a definitions bucket the image's database is the only one: its age feeds the same alarm, at
        most once per check interval."""
        now = time.monotonic()
        if self._baked_age_reported_at is not None and now - self._baked_age_reported_at < 60 * float(
            self.settings.definitions_check_minutes
        ):
            return
        self._baked_age_reported_at = now
        built = directory_built_at(self.settings.clamd.database_dir)
        if built is not None:
            report_age(max(0.0, (datetime.now(UTC) - built).total_seconds() / 3600))

    def _stage(self, staged: Staged) -> None:
        self._generation += 1
        base = self.settings.clamd.work_dir
        settings = dataclasses.replace(self.daemon.settings, work_dir=base.parent / f"{base.name}-{self._generation}")
        daemon = ClamdDaemon(settings, self.settings.stream_chunk_bytes)
        try:
            daemon.start(staged.directory)
        except (ClamdStartError, OSError) as err:
            assert self.definitions is not None
            self.definitions.reject(staged, self.daemon.database_dir, err)
            shutil.rmtree(settings.work_dir, ignore_errors=True)
            return
        self._next = (staged, daemon)
        logger.info("loading newer definitions beside the running clamd", extra={"directory": str(staged.directory)})

    def settle_switch(self, wait_s: float = 0.0) -> bool:
        """Switch to the staged clamd once it answers, or drop it if it cannot load its set; True when settled
        (nothing staged any more). Waits up to `wait_s` for either."""
        if self._next is None:
            return True
        staged, daemon = self._next
        deadline = time.monotonic() + wait_s
        while True:
            if not daemon.is_running():
                code = daemon.process.returncode if daemon.process else None
                assert self.definitions is not None
                self.definitions.reject(staged, self.daemon.database_dir, ClamdStartError(f"clamd exited with {code}"))
                daemon.stop()
                shutil.rmtree(daemon.paths.work_dir, ignore_errors=True)
                self._next = None
                return True
            if daemon.client.ping(timeout_s=0.5):
                daemon.answered = True
                old, self.daemon = self.daemon, daemon
                self.forget_engine()
                assert self.definitions is not None
                self.definitions.accept(staged)
                old.stop()
                shutil.rmtree(old.paths.work_dir, ignore_errors=True)
                self._next = None
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def ensure_clamd(self) -> None:
        """clamd running and answering; a published set it cannot load is rejected for the image's database."""
        try:
            self.daemon.ensure_running()
        except ClamdStartError as err:
            if self.definitions is None or self.definitions.manifest is None:
                raise
            self.definitions.reject_current(err)
            self.daemon.stop()
            self.daemon.start(self.settings.clamd.database_dir)
            self.forget_engine()
            self.daemon.ensure_running()

    def processor(self) -> ObjectProcessor:
        store = ObjectStore(self.s3_client)
        scanner = ObjectScanner(
            self.daemon,
            store,
            max_object_bytes=self.settings.max_object_bytes,
            encrypted_is_infected=self.settings.encrypted_is_infected,
            rar_supported=bool(self.rar_supported),
        )
        allow_list = (
            AllowList(self.dynamodb_client, self.settings.allow_list_table)
            if self.settings.allow_list_table and self.dynamodb_client is not None
            else None
        )
        return ObjectProcessor(
            self.settings,
            scanner,
            store,
            self.engine,
            sns_client=self.sns_client,
            allow_list=allow_list,
            executor=self.pool,
        )

    def handle(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Process every record of an event, concurrently; one record's failure never stops the others.

        With a Lambda context, objects that could not be scanned in the invocation's remaining time are
        UNSCANNABLE too-large-for-timeout before they are streamed, instead of a killed invocation.
        """
        deadline = _deadline(context)
        if batch_operations.is_batch_operations_event(event):
            return self._handle_batch_operations(event, deadline)
        deliveries, is_sqs = parse_event(event)
        work = [(index, item) for index, delivery in enumerate(deliveries) for item in delivery.items]
        results = self._scan_items([item for _, item in work], deadline)
        failed = [False] * len(deliveries)
        for (index, item), outcome in zip(work, results, strict=True):
            failed[index] = failed[index] or (outcome.retry if outcome else isinstance(item, Malformed))
        if is_sqs:
            return {
                "batchItemFailures": [
                    {"itemIdentifier": d.message_id} for d, bad in zip(deliveries, failed, strict=True) if bad
                ]
            }
        outcomes = _distinct(results)
        retry = [o for o in outcomes if o.retry]
        if retry:
            names = [str(o.ref) for o in retry]
            raise InvocationFailed(f"{len(retry)} of {len(outcomes)} objects need a retry: {names}")
        return {"processed": len(outcomes), "statuses": [o.log_fields() for o in outcomes]}

    def _handle_batch_operations(self, event: Any, deadline: float | None) -> dict[str, Any]:
        """An S3 Batch Operations invocation: every task scanned, answered with its result code."""
        tasks = batch_operations.parse_tasks(event)
        items: list[ObjectRef | Ignored] = [t.ref if t.ref else Malformed(t.malformed or "no object") for t in tasks]
        results = self._scan_items(items, deadline)
        return batch_operations.answer(event, tasks, {t.task_id: o for t, o in zip(tasks, results, strict=True)})

    def _scan_items(self, items: list[ObjectRef | Ignored], deadline: float | None) -> list[Outcome | None]:
        """Scan the items (definitions refreshed, clamd ready first), report, count: one outcome per item (None for
        what is not an object to scan; the same outcome for an object named twice)."""
        self.refresh_definitions()
        self.ensure_clamd()
        try:
            results = self._run_all(self.processor(), items, deadline)
            outcomes = _distinct(results)
            self._report(outcomes)
            for outcome in outcomes:
                record_metrics(outcome, metrics.add_metric, MetricUnit)
        finally:
            if metrics.metric_set:  # skipped-only invocations have nothing to publish
                metrics.flush_metrics()
        return results

    def _report(self, outcomes: list[Outcome]) -> None:
        """After the scans: scan-result events and Security Hub findings. A failure never changes a verdict; it
        retries the record (the object is scanned and reported again) and is counted."""
        settings = self.settings
        if settings.result_event_bus and self.events_client is not None:
            publisher = ResultPublisher(self.events_client, settings.result_event_bus, settings.result_event_source)
            self._retry(publisher.publish(outcomes), "result-event", c.METRIC_RESULT_EVENTS_FAILED)
        if settings.security_hub_product_arn and self.securityhub_client is not None:
            if self._findings is None:
                self._findings = SecurityHubFindings(
                    self.securityhub_client,
                    settings.security_hub_product_arn,
                    include_unscannable=settings.security_hub_unscannable,
                )
            self._retry(self._findings.import_for(outcomes), "security-hub", c.METRIC_SECURITY_HUB_FAILED)

    @staticmethod
    def _retry(failed: list[Outcome], problem: str, metric: str) -> None:
        for outcome in failed:
            outcome.retry = True
            outcome.problems.append(problem)
        if failed:
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=len(failed))

    def _run_all(
        self, processor: ObjectProcessor, items: list[ObjectRef | Ignored], deadline: float | None
    ) -> list[Outcome | None]:
        """Outcomes in the order of `items` (None for records that are not objects to scan)."""
        scannable = [i for i, item in enumerate(items) if self._scannable(item)]
        results: list[Outcome | None] = [None] * len(items)
        # Deliveries are at least once: the same object named twice in one batch is scanned once, and every
        # record that named it shares the outcome (two copies of one infection would only muddle the audit trail).
        first: dict[tuple[str, str, str | None], int] = {}
        duplicates: dict[int, int] = {}
        for i in scannable:
            ref = items[i]
            assert isinstance(ref, ObjectRef)
            first_index = first.setdefault((ref.bucket, ref.key, ref.version_id), i)
            if first_index != i:
                duplicates[i] = first_index
        scannable = [i for i in scannable if i not in duplicates]
        concurrency = self.settings.concurrency
        if concurrency <= 1 or len(scannable) <= 1:
            for i in scannable:
                results[i] = self._process_one(processor, items[i], deadline)  # type: ignore[arg-type]
        else:
            with ThreadPoolExecutor(concurrency, thread_name_prefix="record") as records:
                futures = {
                    i: records.submit(self._process_one, processor, items[i], deadline)
                    for i in largest_first(scannable, items)
                }
                for i, future in futures.items():
                    results[i] = future.result()
        for i, first_index in duplicates.items():
            results[i] = results[first_index]
        return results

    @staticmethod
    def _scannable(item: ObjectRef | Ignored) -> bool:
        if isinstance(item, Malformed):
            logger.error("malformed message", extra={"reason": item.reason})
            return False
        if isinstance(item, Ignored):
            logger.info("record ignored", extra={"reason": item.reason})
            return False
        if item.is_folder_marker:
            logger.info("folder marker skipped", extra={"bucket": item.bucket, "key": item.key})
            return False
        return True

    def _process_one(self, processor: ObjectProcessor, ref: ObjectRef, deadline: float | None) -> Outcome:
        try:
            outcome = processor.process(ref, deadline)
        except Exception as err:  # noqa: BLE001 - one record must never stop the others
            logger.exception("unexpected failure processing object", extra={"object": str(ref)})
            outcome = Outcome(ref, retry=True, problems=[f"unexpected:{type(err).__name__}"])
        if self.on_outcome:
            self.on_outcome(outcome)
        return outcome


def _distinct(results: list[Outcome | None]) -> list[Outcome]:
    """Each outcome once, in order (records naming the same object share one)."""
    return list({id(o): o for o in results if o is not None}.values())


def _deadline(context: Any) -> float | None:
    """When this invocation must be done (time.monotonic()), from the Lambda context's remaining time."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    try:
        return time.monotonic() + float(remaining()) / 1000
    except (TypeError, ValueError):
        return None


__all__ = ["BOTO_CONFIG", "Delivery", "InvocationFailed", "ScannerRuntime"]


def largest_first(indices: list[int], items: list[ObjectRef | Ignored]) -> list[int]:
    """The order to start a batch's scans in: largest first by the event's size (unknown sizes first), so that the
    batch does not end with one worker scanning a large object alone. A scheduling hint only: the verdict never
    rests on the event's size (the GET's is used)."""

    def size(i: int) -> float:
        item = items[i]
        known = item.size if isinstance(item, ObjectRef) else None
        return float("inf") if known is None else float(known)

    return sorted(indices, key=size, reverse=True)
