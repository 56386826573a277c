"""A real clamd on the project's test signatures, for tests and the local pipeline's checks."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from scanner.clamd import ClamdDaemon
from scanner.cli.demo import EICAR as EICAR
from scanner.config import ClamdSettings

SIGNATURES = Path(__file__).resolve().parents[1] / "signatures"
EICAR_NAME = "Eicar-Test-Signature-Body.UNOFFICIAL"
TESTFILE_NAME = "ClamAV-Test-File.UNOFFICIAL"
TESTFILES = Path("/usr/share/clamav-testfiles")


def require_binary(name: str) -> str:
    """Path of `name`; in CI a missing binary fails the test run instead of skipping it."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (apt-get install clamav-daemon clamav)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def start_daemon(
    work_dir: Path,
    *,
    max_object_bytes: int = 64 * 1024**2,
    database_dir: Path = SIGNATURES,
    builtin_signatures: bool = True,
) -> ClamdDaemon:
    """Start clamd on `database_dir` and wait until it answers PING."""
    settings = ClamdSettings(
        database_dir=database_dir,
        work_dir=work_dir,
        binary=require_binary("clamd"),
        start_timeout_s=60,
        scan_timeout_s=30,
        max_object_bytes=max_object_bytes,
        builtin_signatures=builtin_signatures,
    )
    daemon = ClamdDaemon(settings, chunk_bytes=256 * 1024)
    daemon.start()
    daemon.wait_ready()
    return daemon
