"""The clamd lifecycle and INSTREAM client against a real clamd."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from scanner.clamd import ClamdClient, ClamdDaemon, ClamdPaths, render_config
from scanner.config import ClamdSettings
from scanner.exceptions import ClamdConnectionError, ClamdStartError, ClamdUnavailableError
from tests.support.clamd import EICAR, EICAR_NAME, SIGNATURES, require_binary, start_daemon


class CountingStream(io.BytesIO):
    """Records the size of every read the client asks for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.requests: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.requests.append(size if size is not None else -1)
        return super().read(size)


def test_config_keeps_everything_writable_under_the_work_dir(tmp_path: Path) -> None:
    settings = ClamdSettings(database_dir=Path("/opt/db"), work_dir=tmp_path, max_object_bytes=123)
    text = render_config(settings, ClamdPaths(tmp_path))
    lines = dict(line.split(" ", 1) for line in text.splitlines())
    assert lines["LocalSocket"] == str(tmp_path / "clamd.sock")
    assert lines["PidFile"] == str(tmp_path / "clamd.pid")
    assert lines["TemporaryDirectory"] == str(tmp_path / "tmp")
    assert lines["DatabaseDirectory"] == "/opt/db"
    assert lines["StreamMaxLength"] == lines["MaxFileSize"] == lines["MaxScanSize"] == "123"
    assert lines["AlertExceedsMax"] == "yes" and lines["AlertEncrypted"] == "yes"
    assert lines["Foreground"] == "yes"


def test_ping_version_and_chunked_instream(clamd_daemon: ClamdDaemon) -> None:
    assert clamd_daemon.client.ping()
    assert clamd_daemon.client.version().startswith("ClamAV 1.")
    stream = CountingStream(b"a" * (700 * 1024))
    reply, sent = clamd_daemon.client.instream(stream)
    assert (reply, sent) == ("stream: OK", 700 * 1024)
    assert set(stream.requests) == {256 * 1024}
    reply, _ = clamd_daemon.client.instream(io.BytesIO(b"prefix " + EICAR + b" suffix"))
    assert reply == f"stream: {EICAR_NAME} FOUND"


def test_reply_is_read_when_clamd_closes_the_stream_early(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "small", max_object_bytes=100 * 1024)
    try:
        reply, sent = daemon.client.instream(io.BytesIO(b"b" * (5 * 1024 * 1024)))
        assert reply == "INSTREAM size limit exceeded. ERROR"
        assert sent < 5 * 1024 * 1024
    finally:
        daemon.stop()
    assert not daemon.is_running()


def test_killed_daemon_is_unavailable_and_restarts(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "kill")
    try:
        pid = daemon.pid
        os.kill(pid, signal.SIGKILL)
        daemon.process.wait(5)
        with pytest.raises(ClamdUnavailableError):
            daemon.client.instream(io.BytesIO(b"x"))
        daemon.ensure_running()
        assert daemon.pid != pid
        assert daemon.client.instream(io.BytesIO(b"x")) == ("stream: OK", 1)
    finally:
        daemon.stop()


def test_start_failure_is_reported_with_the_cause(tmp_path: Path) -> None:
    settings = ClamdSettings(
        database_dir=tmp_path / "no-such-db",
        work_dir=tmp_path / "w",
        binary=require_binary("clamd"),
        start_timeout_s=20,
    )
    daemon = ClamdDaemon(settings, 256 * 1024)
    with pytest.raises(ClamdStartError, match="no signature database in"):
        daemon.start()
    assert daemon.process is None, "never started on the scanner's own signatures alone"
    (tmp_path / "broken-db").mkdir()
    (tmp_path / "broken-db" / "broken.ndb").write_text("Broken:0:*:zz-not-hex\n")
    daemon.start(tmp_path / "broken-db")
    with pytest.raises(ClamdStartError, match="clamd exited with code"):
        daemon.wait_ready()
    daemon.stop()


def test_bounded_wait_when_nothing_answers(tmp_path: Path) -> None:
    settings = ClamdSettings(database_dir=SIGNATURES, work_dir=tmp_path, binary="sleep", start_timeout_s=0.5)
    daemon = ClamdDaemon(settings, 256 * 1024)
    # A process that is alive but never opens the socket.
    daemon.process = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(ClamdStartError, match=r"did not answer PING within 0.5s"):
            daemon.wait_ready()
    finally:
        daemon.process.kill()
        daemon.process.wait()


def test_timeout_is_a_connection_error(tmp_path: Path) -> None:
    path = tmp_path / "hang.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    client = ClamdClient(path, timeout_s=0.5, chunk_bytes=64 * 1024)
    with pytest.raises(ClamdConnectionError, match="timed out"):
        client.instream(io.BytesIO(b"data"))
    server.close()
