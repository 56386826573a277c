"""Fixtures of the fault and bad-input suite, and its summary line.

The suite runs the real handler against the moto server and real clamd processes, breaks things on purpose,
and checks every uploaded object afterwards: never lost, never wrongly CLEAN, and a rerun converges. It ends
with one line in pytest's terminal summary:

    FAULT-SUITE faults_injected=N bad_inputs=M forged_tags=A encodings=B unsupported_archives=C release_flow=D
        races=E objects_checked=K objects_lost=0 wrongly_clean=0 wrongly_released=0
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.retries.standard import ExponentialBackoff

from scanner.clamd import ClamdDaemon
from scanner.runtime import BOTO_CONFIG, ScannerRuntime
from tests.faults.harness import own_clamd
from tests.faults.injection import S3FaultInjector, thaw
from tests.faults.ledger import LEDGER, Ledger


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if LEDGER.used:
        terminalreporter.write_sep("-", "fault and bad-input suite")
        terminalreporter.write_line(LEDGER.summary())


@pytest.fixture(scope="session")
def ledger() -> Ledger:
    return LEDGER


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore still decides what to retry and how often; only the sleep between attempts is skipped."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


@pytest.fixture
def start_clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ClamdDaemon]]:
    """start_clamd(work_dir=None, **ClamdSettings overrides) -> own_clamd(...), stopped after the test.

    Destructive faults (kill, SIGSTOP, a full disk) never touch the session's clamd.
    """
    daemons: list[ClamdDaemon] = []

    def start(work_dir: Path | None = None, **overrides: Any) -> ClamdDaemon:
        daemon = own_clamd(work_dir or tmp_path_factory.mktemp("own-clamd"), **overrides)
        daemons.append(daemon)
        return daemon

    yield start
    for daemon in daemons:
        thaw(daemon)
        daemon.stop()


@pytest.fixture
def runtime_for(request: pytest.FixtureRequest, session: Any, endpoint: str) -> Callable[..., ScannerRuntime]:
    """runtime_for(daemon=None, **Settings overrides): make_runtime's runtime with the production S3 client
    configuration (standard retries, 5 attempts) and, when given, a clamd of the test's own."""
    base: Callable[..., ScannerRuntime] = request.getfixturevalue("make_runtime")

    def make(daemon: ClamdDaemon | None = None, **overrides: Any) -> ScannerRuntime:
        if daemon is not None:
            overrides.setdefault("max_object_bytes", daemon.settings.max_object_bytes)
        runtime = base(**overrides)
        changes: dict[str, Any] = {"s3_client": session.client("s3", endpoint_url=endpoint, config=BOTO_CONFIG)}
        if daemon is not None:
            changes["daemon"] = daemon
            changes["settings"] = dataclasses.replace(runtime.settings, clamd=daemon.settings)
        return dataclasses.replace(runtime, **changes)

    return make


@pytest.fixture
def dynamodb(session: Any, endpoint: str) -> Any:
    """The release allow-list's service on the moto endpoint (tests/support/attacks.with_allow_list)."""
    return session.client("dynamodb", endpoint_url=endpoint)


@pytest.fixture
def faults(no_backoff: None) -> Iterator[Callable[[ScannerRuntime], S3FaultInjector]]:
    """faults(runtime) -> an injector on the runtime's S3 client, removed after the test."""
    injectors: list[S3FaultInjector] = []

    def attach(runtime: ScannerRuntime) -> S3FaultInjector:
        injector = S3FaultInjector(runtime.s3_client)
        injectors.append(injector)
        return injector

    yield attach
    for injector in injectors:
        injector.remove()


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: clamd's TemporaryDirectory with no room for the object it is sent."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        message = f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield mount_point
    # Lazily: a clamd started after this fixture still has files here until start_clamd's teardown stops it.
    subprocess.run(["umount", "-l", str(mount_point)], check=True)
