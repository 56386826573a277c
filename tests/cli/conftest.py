"""One `scanner local` subprocess shared by the tests of tests/cli, and clients to its endpoint."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from tests.cli.local_process import LocalProcess, Ready
from tests.support.clamd import require_binary


@pytest.fixture(scope="session")
def local_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProcess]:
    """`scanner local --json --retry-delay 0` on a free port (verdict lines as JSON, retries without delay)."""
    require_binary("clamd")
    log = tmp_path_factory.mktemp("local") / "scanner-local.log"
    with LocalProcess("--json", "--retry-delay", "0", log_path=log) as process:
        process.wait_ready()
        yield process


@pytest.fixture(scope="session")
def ready(local_pipeline: LocalProcess) -> Ready:
    return local_pipeline.wait_ready()


@pytest.fixture(scope="session")
def local_client(ready: Ready) -> Callable[[str], Any]:
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = session.client(service, endpoint_url=ready.endpoint)
        return clients[service]

    return client


@pytest.fixture(scope="session")
def local_s3(local_client: Callable[[str], Any]) -> Any:
    return local_client("s3")


@pytest.fixture
def unique() -> str:
    """A key prefix no other test uses."""
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def scratch_bucket(local_s3: Any) -> str:
    """A bucket without notifications: objects put here stay unscanned until `scanner scan` submits them."""
    name = f"scratch-{uuid.uuid4().hex[:10]}"
    local_s3.create_bucket(Bucket=name)
    return name
