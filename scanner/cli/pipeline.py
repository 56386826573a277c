"""The local pipeline: an embedded S3/SQS/SNS/EventBridge/Security Hub endpoint (moto), a clamd, and the wiring.

The deployed queue mode, locally: the upload bucket's ObjectCreated notifications go to an SQS queue with a redrive
policy to a dead-letter queue, and an event source mapping hands batches of messages to
`scanner.handler.lambda_handler` as SQS events, reading its batchItemFailures. The handler is the deployed code,
and scans a batch's records concurrently against one clamd: one warm execution environment. Scan-result events
go to the default EventBridge bus, where a rule on our source routes them to the `scanner-local-results` queue;
Security Hub is enabled and receives the findings.

moto is imported here only, when the pipeline starts: it is a development dependency, never in the image.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from scanner import allowlist, handler
from scanner import constants as c
from scanner.clamd import ClamdDaemon
from scanner.cli import defaults
from scanner.cli.errors import CliError
from scanner.config import ClamdSettings, InfectedAction, Settings
from scanner.exceptions import ScannerError
from scanner.observability import logger, metrics
from scanner.process import Outcome
from scanner.runtime import ScannerRuntime

_CLIENT_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60)
_VISIBILITY_TIMEOUT_S = 900
"""Lambda's longest timeout: a message is never redelivered while its invocation still runs."""
_POLL_WAIT_S = 1
"""Long-poll wait; also bounds how long the worker takes to notice a shutdown."""


@dataclass(frozen=True)
class PipelineOptions:
    """How the local pipeline is set up."""

    upload_bucket: str
    """Bucket whose uploads are scanned (created, versioned, notifications to the events queue)."""
    quarantine_bucket: str
    """Where infected objects are moved (created, versioned)."""
    database: Path
    """Signature database directory (.ndb/.hdb/.cvd ...)."""
    clamd_binary: str
    """clamd executable."""
    port: int = defaults.DEFAULT_PORT
    """Port of the embedded endpoint on 127.0.0.1; 0 picks a free one."""
    copy_database: bool = False
    """Copy the database into the work directory (small sets only: clamd's AppArmor profile reads /tmp)."""
    max_attempts: int = 3
    """Receives per message before the redrive policy dead-letters it (the deployed queue's maxReceiveCount)."""
    retry_delay_s: int = 1
    """How long a failed message stays invisible (doubled per attempt); Lambda's is the visibility timeout."""
    batch_size: int = 10
    """Messages per invocation, as the event source mapping's batch size."""
    clamd_start_timeout_s: float = 120.0


@dataclass(frozen=True)
class DeadLetter:
    """An event that failed every attempt and was sent to the dead-letter queue."""

    message_id: str
    attempts: int
    error: str
    event: Any


@dataclass(frozen=True)
class RetryScheduled:
    """A failed invocation that will be retried."""

    message_id: str
    attempt: int
    error: str
    delay_s: int


@dataclass
class LocalContext:
    """The Lambda context attributes the handler's libraries read."""

    aws_request_id: str
    function_name: str = "scanner-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:scanner-local"
    log_group_name: str = "/aws/lambda/scanner-local"
    log_stream_name: str = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


class EventSourceMapping:
    """What Lambda's SQS event source mapping does for the deployed queue mode, on the local queue.

    Receives up to `batch_size` messages, hands them to the handler as one SQS event, and reads its
    ReportBatchItemFailures answer: succeeded messages are deleted, failed ones become visible again after the
    retry delay, and the queue's own redrive policy moves a message to the dead-letter queue once it has been
    received `max_attempts` times. A handler that raises fails the whole batch, as in Lambda.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        invoke: Callable[[Any, LocalContext], Any],
        *,
        max_attempts: int,
        retry_delay_s: int,
        batch_size: int = 10,
        on_retry: Callable[[RetryScheduled], None] | None = None,
        on_dead_letter: Callable[[DeadLetter], None] | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.invoke = invoke
        self.max_attempts = max_attempts
        self.retry_delay_s = retry_delay_s
        self.batch_size = batch_size
        self.on_retry = on_retry
        self.on_dead_letter = on_dead_letter
        self.invocations = 0
        self.stop_requested = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-source-mapping", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> bool:
        """Ask the mapping to stop after the current batch; True when it has stopped."""
        self.stop_requested.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self.stop_requested.is_set():
            try:
                reply = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch_size,
                    WaitTimeSeconds=_POLL_WAIT_S,
                    MessageSystemAttributeNames=["All"],
                )
            except (BotoCoreError, ClientError) as err:
                if self.stop_requested.is_set():
                    return
                logger.warning("receiving from the events queue failed", extra={"error": str(err)})
                self.stop_requested.wait(1)
                continue
            messages = reply.get("Messages", [])
            if messages and not self.stop_requested.is_set():
                self.handle(messages)

    def event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The SQS event Lambda builds for a batch."""
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": defaults.LOCAL_REGION,
                }
                for m in messages
            ]
        }

    def handle(self, messages: list[dict[str, Any]]) -> None:
        """One invocation of the handler with a batch; per-message success or failure."""
        self.invocations += 1
        failed: dict[str, str] = {}
        try:
            answer = self.invoke(self.event(messages), LocalContext(aws_request_id=str(uuid.uuid4())))
            items = (answer or {}).get("batchItemFailures", []) if isinstance(answer, dict) else []
            failed = {str(item.get("itemIdentifier")): "reported in batchItemFailures" for item in items}
        except Exception as err:  # noqa: BLE001 - a failed invocation fails the whole batch, as in Lambda
            failed = {m["MessageId"]: f"{type(err).__name__}: {err}" for m in messages}
        finally:
            # Metrics are not published locally (POWERTOOLS_METRICS_DISABLED); drop what the invocation recorded.
            metrics.clear_metrics()
        for message in messages:
            if message["MessageId"] in failed:
                self._failed(message, failed[message["MessageId"]])
            else:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _failed(self, message: dict[str, Any], error: str) -> None:
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        delay = self.retry_delay_s * 2 ** (attempt - 1)
        self.sqs.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=delay
        )
        if attempt < self.max_attempts:
            if self.on_retry:
                self.on_retry(RetryScheduled(message["MessageId"], attempt, error, delay))
            return
        # Received max_attempts times: the redrive policy moves it to the dead-letter queue on the next receive.
        if self.on_dead_letter:
            try:
                event = json.loads(message["Body"])
            except ValueError:
                event = message["Body"]
            self.on_dead_letter(DeadLetter(message["MessageId"], attempt, error, event))


@dataclass
class LocalPipeline:
    """Everything `scanner local` runs; `start()` then `stop()` (idempotent, safe after a failed start)."""

    options: PipelineOptions
    on_outcome: Callable[[Outcome], None] | None = None
    on_retry: Callable[[RetryScheduled], None] | None = None
    on_dead_letter: Callable[[DeadLetter], None] | None = None
    endpoint_url: str | None = field(default=None, init=False)
    work_dir: Path | None = field(default=None, init=False)
    queue_url: str | None = field(default=None, init=False)
    dead_letter_url: str | None = field(default=None, init=False)
    queue_arn: str | None = field(default=None, init=False)
    findings_topic_arn: str | None = field(default=None, init=False)
    findings_queue_url: str | None = field(default=None, init=False)
    results_queue_url: str | None = field(default=None, init=False)
    """The scan-result events (GuardDuty's shape), routed by an EventBridge rule on our source."""
    daemon: ClamdDaemon | None = field(default=None, init=False)
    runtime: ScannerRuntime | None = field(default=None, init=False)
    worker: EventSourceMapping | None = field(default=None, init=False)
    _server: Any = field(default=None, init=False, repr=False)
    _session: boto3.Session | None = field(default=None, init=False, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def clamd_pid(self) -> int | None:
        return self.daemon.pid if self.daemon else None

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            self._session = boto3.Session(region_name=defaults.LOCAL_REGION, **defaults.LOCAL_CREDENTIALS)
        return self._session

    def client(self, service: str) -> Any:
        """A client to the embedded endpoint (boto3 clients are thread-safe: one per service is shared)."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url, config=_CLIENT_CONFIG)
        return self._clients[service]

    def start(self) -> None:
        if self.options.upload_bucket == self.options.quarantine_bucket:
            raise CliError("the upload and quarantine buckets must differ: quarantine would scan its own copies")
        _quiet_libraries()
        self._start_endpoint()
        self._create_resources()
        self._start_clamd()
        self._start_worker()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None
        if self.runtime is not None:
            handler.set_runtime(None)
            self.runtime = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self.work_dir = None

    def __enter__(self) -> LocalPipeline:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_endpoint(self) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as err:
            raise CliError(
                "scanner local needs moto[server], a development dependency: .venv/bin/pip install -r requirements.txt"
            ) from err
        port = self.options.port
        if port:
            _require_free_port(port)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        self._server = server
        host, bound = server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{bound}"

    def _create_resources(self) -> None:
        s3, sqs, sns = self.client("s3"), self.client("sqs"), self.client("sns")
        self._create_allow_list()
        for bucket in (self.options.upload_bucket, self.options.quarantine_bucket):
            try:
                s3.create_bucket(Bucket=bucket)
            except ClientError as err:
                raise CliError(f"cannot create bucket {bucket!r}: {err}") from err
        # Versioned like the deployed quarantine bucket (release and purge work on versions). The upload bucket is
        # not: moto's notifications carry no versionId, so the scanner's delete after quarantine would only add a
        # delete marker and leave the infected bytes behind as a noncurrent version.
        s3.put_bucket_versioning(Bucket=self.options.quarantine_bucket, VersioningConfiguration={"Status": "Enabled"})
        self.dead_letter_url = sqs.create_queue(QueueName=defaults.DEAD_LETTER_QUEUE)["QueueUrl"]
        redrive = {
            "deadLetterTargetArn": _queue_arn(sqs, self.dead_letter_url),
            "maxReceiveCount": self.options.max_attempts,
        }
        self.queue_url = sqs.create_queue(
            QueueName=defaults.EVENTS_QUEUE,
            Attributes={"VisibilityTimeout": str(_VISIBILITY_TIMEOUT_S), "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        queue_arn = _queue_arn(sqs, self.queue_url)
        self.queue_arn = queue_arn
        s3.put_bucket_notification_configuration(
            Bucket=self.options.upload_bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {"Id": "scanner", "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]},
                ]
            },
        )
        self.findings_topic_arn = sns.create_topic(Name=defaults.FINDINGS_TOPIC)["TopicArn"]
        self.findings_queue_url = sqs.create_queue(QueueName=defaults.FINDINGS_QUEUE)["QueueUrl"]
        sns.subscribe(
            TopicArn=self.findings_topic_arn,
            Protocol="sqs",
            Endpoint=_queue_arn(sqs, self.findings_queue_url),
            Attributes={"RawMessageDelivery": "true"},
        )
        self._route_results()
        self.client("securityhub").enable_security_hub(EnableDefaultStandards=False)

    def _route_results(self) -> None:
        """EventBridge (default bus) -> a rule on our source -> the results queue, as a user's rule would."""
        sqs, events = self.client("sqs"), self.client("events")
        self.results_queue_url = sqs.create_queue(QueueName=defaults.RESULTS_QUEUE)["QueueUrl"]
        events.put_rule(
            Name=defaults.RESULTS_RULE,
            EventBusName=defaults.RESULT_EVENT_BUS,
            EventPattern=json.dumps({"source": [defaults.RESULT_EVENT_SOURCE], "detail-type": [c.RESULT_DETAIL_TYPE]}),
            State="ENABLED",
        )
        events.put_targets(
            Rule=defaults.RESULTS_RULE,
            EventBusName=defaults.RESULT_EVENT_BUS,
            Targets=[{"Id": "results-queue", "Arn": _queue_arn(sqs, self.results_queue_url)}],
        )

    def _create_allow_list(self) -> None:
        """The release allow-list, shaped like the deployed table (infra creates it with the same keys)."""
        allowlist.create_table(self.client("dynamodb"), defaults.ALLOW_LIST_TABLE)

    def _start_clamd(self) -> None:
        self.work_dir = Path(tempfile.mkdtemp(prefix="scanner-local-"))
        database = self.options.database
        if self.options.copy_database:
            database = self.work_dir / "database"
            shutil.copytree(self.options.database, database)
        clamd = ClamdSettings(
            database_dir=database,
            work_dir=self.work_dir / "clamd",
            binary=self.options.clamd_binary,
            start_timeout_s=self.options.clamd_start_timeout_s,
        )
        settings = Settings(
            action=InfectedAction.QUARANTINE,
            quarantine_bucket=self.options.quarantine_bucket,
            findings_topic_arn=self.findings_topic_arn,
            allow_list_table=defaults.ALLOW_LIST_TABLE,
            result_event_bus=defaults.RESULT_EVENT_BUS,
            result_event_source=defaults.RESULT_EVENT_SOURCE,
            security_hub_product_arn=defaults.SECURITY_HUB_PRODUCT_ARN,
            security_hub_unscannable=True,
            clamd=clamd,
        )
        self.daemon = ClamdDaemon(clamd, settings.stream_chunk_bytes)
        with _signals_deferred():
            # A Ctrl-C between spawning clamd and recording its PID would leave it running.
            self.daemon.start()
        try:
            self.daemon.wait_ready()
        except ScannerError as err:
            raise CliError(f"clamd did not start on {self.options.database}: {err}") from err
        self.runtime = ScannerRuntime(
            settings=settings,
            daemon=self.daemon,
            s3_client=self.client("s3"),
            sns_client=self.client("sns"),
            dynamodb_client=self.client("dynamodb"),
            events_client=self.client("events"),
            securityhub_client=self.client("securityhub"),
            on_outcome=self.on_outcome,
        )
        handler.set_runtime(self.runtime)

    def engine(self) -> str:
        """clamd's engine and database label (as tagged on every object)."""
        if self.runtime is None:
            raise CliError("the pipeline is not running")
        return self.runtime.engine()

    def _start_worker(self) -> None:
        assert self.queue_url and self.queue_arn
        self.worker = EventSourceMapping(
            self.client("sqs"),
            self.queue_url,
            self.queue_arn,
            handler.lambda_handler,
            max_attempts=self.options.max_attempts,
            retry_delay_s=self.options.retry_delay_s,
            batch_size=self.options.batch_size,
            on_retry=self.on_retry,
            on_dead_letter=self.on_dead_letter,
        )
        self.worker.start()


def find_clamd(explicit: str | None = None) -> str:
    """The clamd executable: --clamd, else PATH, else Debian's /usr/sbin (not on a normal user's PATH)."""
    for candidate in (explicit,) if explicit else defaults.CLAMD_CANDIDATES:
        path = shutil.which(candidate)
        if path:
            return path
    if explicit:
        raise CliError(f"clamd not found at {explicit!r}")
    raise CliError("clamd is not installed: sudo apt-get install clamav-daemon (or pass --clamd PATH)")


def _queue_arn(sqs: Any, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _require_free_port(port: int) -> None:
    # ThreadedMotoServer.start() waits forever when its server thread cannot bind: check first.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as err:
            raise CliError(f"port {port} on 127.0.0.1 is in use ({err.strerror}): pass --port N, or --port 0") from err


def _quiet_libraries() -> None:
    """Library chatter goes to stderr (or nowhere): stdout carries READY and the verdict lines only."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with contextlib.suppress(AttributeError, ValueError):
        logger.registered_handler.setStream(sys.stderr)  # type: ignore[attr-defined]
    # Metrics are CloudWatch EMF lines on stdout in Lambda; locally they are not published at all.
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    warnings.filterwarnings("ignore", message="No application metrics to publish")


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM for the duration of the block; they are delivered when it ends."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
