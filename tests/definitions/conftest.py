"""Fixtures for definitions: a loopback mirror, a versioned definitions bucket, updaters, scanners with their
own clamd (never the session clamd of tests/scanner), an injectable clock, and the metrics a run emitted."""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scanner.clamd import ClamdDaemon
from scanner.config import ClamdSettings, InfectedAction, Settings, UpdaterSettings
from scanner.definitions.publish import DefinitionsUpdater
from scanner.definitions.watcher import DefinitionsWatcher
from scanner.observability import metrics
from scanner.runtime import ScannerRuntime
from tests.definitions.mirror import LoopbackMirror
from tests.support.clamd import SIGNATURES, require_binary


class FakeClock:
    """Seconds since the epoch: now when created, then moved by the test only."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def _fresh_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture
def emitted(capsys: pytest.CaptureFixture[str]) -> Callable[[], dict[str, list[float]]]:
    """Flush the Powertools metrics and return {metric name: [values]} from the EMF lines printed so far."""

    def read() -> dict[str, list[float]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "No application metrics to publish"
            metrics.flush_metrics()
        found: dict[str, list[float]] = {}
        for line in capsys.readouterr().out.splitlines():
            try:
                document = json.loads(line)
            except ValueError:
                continue
            if not isinstance(document, dict) or "_aws" not in document:
                continue
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    found.setdefault(metric["Name"], []).extend(value if isinstance(value, list) else [value])
        return found

    return read


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[LoopbackMirror]:
    with LoopbackMirror(tmp_path / "mirror") as served:
        yield served


@pytest.fixture
def definitions_bucket(make_bucket) -> str:
    return make_bucket("definitions", versioned=True)


@pytest.fixture
def s3_definitions(session, endpoint: str):
    """A client of its own for the definitions side (the scanner's runtime gets another)."""
    return session.client("s3", endpoint_url=endpoint)


@pytest.fixture
def make_updater(
    tmp_path: Path, definitions_bucket: str, mirror: LoopbackMirror, s3_definitions
) -> Callable[..., DefinitionsUpdater]:
    """make_updater(extra_urls=(...), databases=(), sns_client=None, **overrides) -> an updater on the mirror."""

    def make(*, sns_client: Any = None, **overrides: Any) -> DefinitionsUpdater:
        overrides.setdefault("definitions_bucket", definitions_bucket)
        overrides.setdefault("mirror_url", mirror.url)
        overrides.setdefault("databases", ())
        overrides.setdefault("work_dir", tmp_path / "updater")
        overrides.setdefault("freshclam_binary", require_binary("freshclam"))
        overrides.setdefault("clamscan_binary", require_binary("clamscan"))
        overrides.setdefault("freshclam_timeout_s", 60)
        overrides.setdefault("verify_timeout_s", 60)
        # One attempt: freshclam pauses seconds between attempts, and a loopback mirror answers or it does not.
        overrides.setdefault("freshclam_attempts", 1)
        return DefinitionsUpdater(UpdaterSettings(**overrides), s3_definitions, sns_client)

    return make


@dataclass
class FindingsTopic:
    """An SNS topic on the moto server with an SQS queue subscribed (raw delivery) to read what was published."""

    arn: str
    sns: Any
    sqs: Any
    queue_url: str

    def messages(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """(JSON body, message attributes) of everything published since the last call."""
        reply = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        found = []
        for message in reply.get("Messages", []):
            attributes = {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}
            found.append((json.loads(message["Body"]), attributes))
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return found


@pytest.fixture
def findings_topic(session, endpoint: str) -> FindingsTopic:
    sns = session.client("sns", endpoint_url=endpoint)
    sqs = session.client("sqs", endpoint_url=endpoint)
    name = f"findings-{uuid.uuid4().hex[:12]}"
    arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    return FindingsTopic(arn, sns, sqs, queue_url)


@pytest.fixture
def drop_custom(s3_definitions, definitions_bucket: str) -> Callable[[str, bytes], str]:
    """drop_custom(key, data) -> the version id: what an admin's `aws s3 cp` into the custom prefix does."""

    def drop(key: str, data: bytes) -> str:
        return s3_definitions.put_object(Bucket=definitions_bucket, Key=key, Body=data)["VersionId"]

    return drop


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_scanner(
    tmp_path_factory: pytest.TempPathFactory, session, endpoint: str, definitions_bucket: str, clock: FakeClock
) -> Iterator[Callable[..., ScannerRuntime]]:
    """make_scanner(**Settings overrides) -> a runtime with its own clamd (image database: tests/signatures),
    watching the definitions bucket with the injected clock; its clamd is stopped after the test."""
    runtimes: list[ScannerRuntime] = []

    def make(**overrides: Any) -> ScannerRuntime:
        clamd = ClamdSettings(
            database_dir=SIGNATURES,
            work_dir=tmp_path_factory.mktemp("clamd"),
            binary=require_binary("clamd"),
            start_timeout_s=30,
            scan_timeout_s=30,
            max_object_bytes=16 * 1024**2,
        )
        overrides.setdefault("action", InfectedAction.TAG)
        overrides.setdefault("max_object_bytes", clamd.max_object_bytes)
        overrides.setdefault("definitions_bucket", definitions_bucket)
        overrides.setdefault("definitions_check_minutes", 15)
        overrides.setdefault("definitions_dir", tmp_path_factory.mktemp("definitions"))
        settings = Settings(clamd=clamd, **overrides)
        s3 = session.client("s3", endpoint_url=endpoint)
        watcher = DefinitionsWatcher.from_settings(settings, s3, clock=clock) if settings.definitions_bucket else None
        runtime = ScannerRuntime(
            settings=settings,
            daemon=ClamdDaemon(settings.clamd, settings.stream_chunk_bytes),
            s3_client=s3,
            definitions=watcher,
        )
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        runtime.daemon.stop()
