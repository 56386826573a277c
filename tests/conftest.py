"""Shared fixtures: AWS test credentials, a moto server, a real clamd, fresh buckets."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from scanner.clamd import ClamdDaemon
from scanner.config import Settings
from scanner.runtime import ScannerRuntime
from tests.support.clamd import start_daemon
from tests.support.moto_endpoint import moto_endpoint

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    POWERTOOLS_METRICS_NAMESPACE="S3ClamAVScanner",
)
os.environ.pop("AWS_PROFILE", None)

EVENTS = Path(__file__).parent / "events"


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    with moto_endpoint() as url:
        yield url


@pytest.fixture(scope="session")
def session() -> boto3.Session:
    return boto3.Session(region_name="us-east-1")


@pytest.fixture(scope="session")
def s3(session: boto3.Session, endpoint: str):
    return session.client("s3", endpoint_url=endpoint)


@pytest.fixture
def bucket_name() -> Iterator[str]:
    yield f"upload-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_bucket(s3):
    """Create fresh buckets: make_bucket(versioned=False) -> name."""

    def make(prefix: str = "bkt", *, versioned: bool = False) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=name)
        if versioned:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    return make


class FakeContext:
    """The few attributes of a Lambda context anything here reads."""

    function_name = "scanner-test"
    memory_limit_in_mb = 3008
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:scanner-test"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


@pytest.fixture
def lambda_context() -> FakeContext:
    return FakeContext()


@pytest.fixture(scope="session")
def clamd_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdDaemon]:
    daemon = start_daemon(tmp_path_factory.mktemp("clamd"))
    yield daemon
    daemon.stop()


@pytest.fixture
def make_runtime(clamd_daemon: ClamdDaemon, session, endpoint: str, make_bucket) -> Callable[..., ScannerRuntime]:
    """make_runtime(**Settings overrides) -> a runtime on the session clamd and the moto endpoint."""

    def make(**overrides: Any) -> ScannerRuntime:
        overrides.setdefault("quarantine_bucket", make_bucket("quarantine", versioned=True))
        overrides.setdefault("max_object_bytes", clamd_daemon.settings.max_object_bytes)
        settings = Settings(clamd=clamd_daemon.settings, **overrides)
        return ScannerRuntime(
            settings=settings,
            daemon=clamd_daemon,
            s3_client=session.client("s3", endpoint_url=endpoint),
            sns_client=session.client("sns", endpoint_url=endpoint),
        )

    return make
