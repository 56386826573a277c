"""Fixtures for the scanner package: one real clamd for the session, runtimes wired to the moto server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from scanner.clamd import ClamdDaemon
from scanner.config import Settings
from scanner.runtime import ScannerRuntime
from tests.support.clamd import start_daemon


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
