"""One execution environment: settings, a warm clamd, AWS clients, and handling of whole events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from scanner.clamd import ClamdDaemon
from scanner.config import Settings
from scanner.definitions.watcher import DefinitionsWatcher
from scanner.engine import engine_label
from scanner.events import Delivery, Ignored, Malformed, ObjectRef, parse_event
from scanner.observability import logger, metrics
from scanner.process import ObjectProcessor, Outcome
from scanner.scan import ObjectScanner
from scanner.storage import ObjectStore

BOTO_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60)


class InvocationFailed(Exception):
    """Raised after every record was processed when at least one needs Lambda's retry."""


@dataclass
class ScannerRuntime:
    """Long-lived state of one execution environment."""

    settings: Settings
    daemon: ClamdDaemon
    s3_client: Any
    sns_client: Any | None = None
    on_outcome: Callable[[Outcome], None] | None = None
    """Called with every outcome (the local pipeline prints verdict lines with it)."""
    definitions: DefinitionsWatcher | None = None
    """Published definitions (built from the settings when a definitions bucket is configured)."""
    _engine: str | None = field(default=None, init=False)
    _engine_pid: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.definitions is None and self.settings.definitions_bucket:
            self.definitions = DefinitionsWatcher.from_settings(self.settings, self.s3_client)

    @classmethod
    def from_settings(cls, settings: Settings, *, session: boto3.Session | None = None) -> ScannerRuntime:
        """Clients from the default credential chain (AWS_ENDPOINT_URL is honoured by boto3)."""
        session = session or boto3.Session()
        return cls(
            settings=settings,
            daemon=ClamdDaemon(settings.clamd, settings.stream_chunk_bytes),
            s3_client=session.client("s3", config=BOTO_CONFIG),
            sns_client=session.client("sns", config=BOTO_CONFIG) if settings.findings_topic_arn else None,
        )

    def engine(self) -> str:
        """Engine and database version, asked of clamd once per clamd process (and after reloads)."""
        if not self.daemon.is_running():
            logger.warning("clamd is not running; restarting it")
            self.daemon.ensure_running()
        if self._engine is None or self._engine_pid != self.daemon.pid:
            self._engine = engine_label(self.daemon.client.version(), self.daemon.database_dir)
            self._engine_pid = self.daemon.pid
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

    def refresh_definitions(self) -> None:
        """Before scanning: the cold start if init did not do it, else switch to newer definitions when due."""
        if self.definitions is None:
            return
        if not self.definitions.prepared:
            self.start()
        elif self.definitions.refresh(self.daemon):
            self.forget_engine()

    def processor(self) -> ObjectProcessor:
        store = ObjectStore(self.s3_client)
        scanner = ObjectScanner(self.daemon, store, encrypted_is_infected=self.settings.encrypted_is_infected)
        return ObjectProcessor(self.settings, scanner, store, self.engine, self.sns_client)

    def handle(self, event: Any) -> dict[str, Any]:
        """Process every record of an event; one record's failure never stops the others."""
        deliveries, is_sqs = parse_event(event)
        self.refresh_definitions()
        self.daemon.ensure_running()
        processor = self.processor()
        failed_messages: list[str] = []
        outcomes: list[Outcome] = []
        try:
            for delivery in deliveries:
                delivery_outcomes, ok = self._handle_delivery(processor, delivery)
                outcomes += delivery_outcomes
                if not ok and delivery.message_id:
                    failed_messages.append(delivery.message_id)
        finally:
            if metrics.metric_set:  # skipped-only invocations have nothing to publish
                metrics.flush_metrics()
        summary = {"processed": len(outcomes), "statuses": [o.log_fields() for o in outcomes]}
        if is_sqs:
            return {"batchItemFailures": [{"itemIdentifier": m} for m in failed_messages]}
        retry = [o for o in outcomes if o.retry]
        if retry:
            names = [str(o.ref) for o in retry]
            raise InvocationFailed(f"{len(retry)} of {len(outcomes)} objects need a retry: {names}")
        return summary

    def _handle_delivery(self, processor: ObjectProcessor, delivery: Delivery) -> tuple[list[Outcome], bool]:
        outcomes: list[Outcome] = []
        ok = True
        for item in delivery.items:
            if isinstance(item, Malformed):
                logger.error("malformed message", extra={"reason": item.reason, "message_id": delivery.message_id})
                ok = False
            elif isinstance(item, Ignored):
                logger.info("record ignored", extra={"reason": item.reason})
            elif item.is_folder_marker:
                logger.info("folder marker skipped", extra={"bucket": item.bucket, "key": item.key})
            else:
                outcome = self._process_one(processor, item)
                outcomes.append(outcome)
                ok = ok and not outcome.retry
        return outcomes, ok

    def _process_one(self, processor: ObjectProcessor, ref: ObjectRef) -> Outcome:
        try:
            outcome = processor.process(ref)
        except Exception as err:  # noqa: BLE001 - one record must never stop the others
            logger.exception("unexpected failure processing object", extra={"object": str(ref)})
            outcome = Outcome(ref, retry=True, problems=[f"unexpected:{type(err).__name__}"])
        if self.on_outcome:
            self.on_outcome(outcome)
        return outcome
