"""clamd: run the daemon for the life of the execution environment and talk to it over its Unix socket.

The client is our own small module rather than `clamd`/`clamav-client`: both send INSTREAM in 1 KiB chunks,
and neither reads clamd's reply once clamd closes the stream early (size limit), which loses the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from scanner.archives import NESTED_SIGNATURES
from scanner.config import ClamdSettings
from scanner.engine_limits import limit_values
from scanner.exceptions import ClamdConnectionError, ClamdStartError, ClamdUnavailableError

_REPLY_LIMIT = 64 * 1024


class Readable(Protocol):
    """Anything with `.read(n)`: a file, a botocore StreamingBody."""

    def read(self, amt: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class ClamdPaths:
    """Files clamd uses at run time, all under the writable work directory."""

    work_dir: Path

    @property
    def config(self) -> Path:
        return self.work_dir / "clamd.conf"

    @property
    def socket(self) -> Path:
        return self.work_dir / "clamd.sock"

    @property
    def pid_file(self) -> Path:
        return self.work_dir / "clamd.pid"

    @property
    def temp_dir(self) -> Path:
        return self.work_dir / "tmp"

    @property
    def log_file(self) -> Path:
        return self.work_dir / "clamd.log"

    @property
    def database_view(self) -> Path:
        return self.work_dir / "database"


def database_view(source: Path, view: Path, *, builtin: bool = True) -> Path:
    """The directory clamd loads: every file of `source` (linked, not copied: the official set is ~140 MB) and the
    scanner's own signatures (archives.NESTED_SIGNATURES: archive members ClamAV cannot decompress, at any depth),
    whatever set is in use: the image's, a published one, the test signatures."""
    files = (
        [p for p in sorted(source.iterdir()) if p.is_file() and p.name not in NESTED_SIGNATURES]
        if source.is_dir()
        else []
    )
    if not files:
        # Fail closed: clamd on the scanner's own signatures alone would answer OK for everything.
        raise ClamdStartError(f"no signature database in {source}")
    shutil.rmtree(view, ignore_errors=True)
    view.mkdir(parents=True)
    for path in files:
        (view / path.name).symlink_to(path.resolve())
    for name, text in NESTED_SIGNATURES.items() if builtin else ():
        (view / name).write_text(text)
    return view


def render_config(settings: ClamdSettings, paths: ClamdPaths, database_dir: Path | None = None) -> str:
    """clamd.conf for one execution environment: everything writable lives under the work directory.

    Every engine limit is written explicitly (scanner.engine_limits): none may skip content silently.
    """
    lines = {
        "Foreground": "yes",
        "LocalSocket": str(paths.socket),
        "PidFile": str(paths.pid_file),
        "TemporaryDirectory": str(paths.temp_dir),
        "DatabaseDirectory": str(database_dir or settings.database_dir),
        "LogFile": str(paths.log_file),
        "LogTime": "yes",
        "LogFileMaxSize": "10M",
        # Reloads are driven by the scanner (definitions updates), not by a timer inside clamd.
        "SelfCheck": "0",
        # Each concurrent scan holds up to two INSTREAM sessions (stored and decoded bytes), plus PING/VERSION.
        "MaxThreads": str(settings.max_threads or 4),
        "MaxQueue": str(4 * (settings.max_threads or 4)),
        "ReadTimeout": str(max(30, int(settings.scan_timeout_s))),
        "CommandReadTimeout": "30",
        **{name: str(value) for name, value in limit_values(settings).items()},
        # Limits and encryption must surface as replies (never as a silent OK).
        "AlertExceedsMax": "yes",
        "AlertEncrypted": "yes",
        "AlertBrokenExecutables": "no",
        "DisableCache": "yes" if settings.disable_cache else "no",
        # Definitions switch blue-green (a second clamd), never by RELOAD: no second engine inside this process.
        "ConcurrentDatabaseReload": "no",
        "Bytecode": "yes",
    }
    return "".join(f"{key} {value}\n" for key, value in lines.items())


class ClamdClient:
    """Commands over clamd's Unix socket; INSTREAM with full writes and large chunks."""

    def __init__(self, socket_path: Path, timeout_s: float, chunk_bytes: int) -> None:
        self.socket_path = socket_path
        self.timeout_s = timeout_s
        self.chunk_bytes = chunk_bytes

    def _connect(self, timeout_s: float | None = None) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout_s or self.timeout_s)
        try:
            sock.connect(str(self.socket_path))
        except OSError as err:
            sock.close()
            raise ClamdUnavailableError(f"cannot connect to clamd at {self.socket_path}: {err}") from err
        return sock

    def command(self, name: str, timeout_s: float | None = None) -> str:
        """Send a one-line command (PING, VERSION, RELOAD) and return clamd's reply."""
        with self._connect(timeout_s) as sock:
            try:
                sock.sendall(f"z{name}\0".encode())
                return _read_reply(sock)
            except OSError as err:
                raise ClamdConnectionError(f"clamd {name} failed: {err}") from err

    def ping(self, timeout_s: float = 2.0) -> bool:
        """True when clamd answers PING with PONG."""
        try:
            return self.command("PING", timeout_s) == "PONG"
        except (ClamdUnavailableError, ClamdConnectionError):
            return False

    def version(self) -> str:
        """Engine and database version, e.g. `ClamAV 1.4.6/27830/Wed Nov 26 09:29:01 2026`."""
        return self.command("VERSION")

    def instream(self, stream: Readable) -> tuple[str, int]:
        """Stream `stream` to clamd's INSTREAM; return clamd's raw reply and the number of bytes sent.

        clamd may close the stream early (size limit); its reply is still read then. A broken connection
        or a timeout raises ClamdConnectionError: the caller must never treat that as clean.
        """
        with self.session() as session:
            while chunk := stream.read(self.chunk_bytes):
                session.send(chunk)
            return session.finish(), session.sent

    def session(self) -> InstreamSession:
        """An INSTREAM exchange fed chunk by chunk (several can be fed from one loop, e.g. stored and decoded)."""
        return InstreamSession(self._connect(), self.timeout_s)


class InstreamSession:
    """One INSTREAM exchange: send() chunks, then finish() for clamd's reply. Once clamd has rejected the stream
    (size limit), further chunks are dropped and its reply is still returned by finish()."""

    def __init__(self, sock: socket.socket, timeout_s: float) -> None:
        self.sock = sock
        self.timeout_s = timeout_s
        self.sent = 0
        self._early_reply: str | None = None
        self._call(lambda: sock.sendall(b"zINSTREAM\0"))

    def __enter__(self) -> InstreamSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, chunk: bytes) -> None:
        if self._early_reply is not None or not chunk:
            return
        self._call(lambda: self.sock.sendall(struct.pack("!L", len(chunk)) + chunk))
        if self._early_reply is None:
            self.sent += len(chunk)

    def finish(self) -> str:
        if self._early_reply is not None:
            return self._early_reply
        self._call(lambda: self.sock.sendall(struct.pack("!L", 0)))
        if self._early_reply is not None:
            return self._early_reply
        try:
            return _read_reply(self.sock)
        except TimeoutError as err:
            raise ClamdConnectionError(f"clamd timed out after {self.timeout_s}s ({self.sent} bytes sent)") from err
        except OSError as err:
            raise ClamdConnectionError(f"clamd connection failed after {self.sent} bytes: {err}") from err

    def _call(self, write: Callable[[], None]) -> None:
        try:
            write()
        except (BrokenPipeError, ConnectionResetError) as err:
            # clamd stops reading when it rejects the stream (size limit); its reason is still readable.
            reply = _try_read_reply(self.sock)
            if not reply:
                raise ClamdConnectionError(f"clamd closed the stream after {self.sent} bytes: {err}") from err
            self._early_reply = reply
        except TimeoutError as err:
            raise ClamdConnectionError(f"clamd timed out after {self.timeout_s}s ({self.sent} bytes sent)") from err
        except OSError as err:
            raise ClamdConnectionError(f"clamd connection failed after {self.sent} bytes: {err}") from err


def _read_reply(sock: socket.socket) -> str:
    """Read one NUL-terminated reply; a connection closed before the terminator is an error."""
    data = bytearray()
    while not data.endswith(b"\0"):
        part = sock.recv(4096)
        if not part:
            raise ClamdConnectionError(f"clamd closed the connection mid-reply (got {bytes(data)!r})")
        data += part
        if len(data) > _REPLY_LIMIT:
            raise ClamdConnectionError("clamd reply too long")
    return data[:-1].decode("utf-8", "replace").strip()


def _try_read_reply(sock: socket.socket) -> str | None:
    try:
        return _read_reply(sock)
    except (OSError, ClamdConnectionError):
        return None


class ClamdDaemon:
    """One clamd process owned by this execution environment: start, readiness, restart, stop."""

    def __init__(self, settings: ClamdSettings, chunk_bytes: int) -> None:
        self.settings = settings
        self.paths = ClamdPaths(settings.work_dir)
        self.database_dir = settings.database_dir
        self.client = ClamdClient(self.paths.socket, settings.scan_timeout_s, chunk_bytes)
        self.process: subprocess.Popen[bytes] | None = None
        self.answered = False
        """True once this clamd process has answered PING (its database is loaded)."""
        self._restart_lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, database_dir: Path | None = None) -> None:
        """Render the config and spawn clamd (non-blocking: call wait_ready before scanning)."""
        if database_dir is not None:
            self.database_dir = database_dir
        self.paths.temp_dir.mkdir(parents=True, exist_ok=True)
        self.paths.socket.unlink(missing_ok=True)
        self.paths.log_file.unlink(missing_ok=True)
        view = database_view(self.database_dir, self.paths.database_view, builtin=self.settings.builtin_signatures)
        self.paths.config.write_text(render_config(self.settings, self.paths, view))
        self.answered = False
        self.process = subprocess.Popen(
            [self.settings.binary, "--foreground", f"--config-file={self.paths.config}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Block until clamd answers PING; raise ClamdStartError naming the cause after the bounded wait."""
        deadline = time.monotonic() + (timeout_s or self.settings.start_timeout_s)
        while time.monotonic() < deadline:
            if not self.is_running():
                code = self.process.returncode if self.process else None
                raise ClamdStartError(f"clamd exited with code {code} during start: {self._log_tail()}")
            if self.client.ping(timeout_s=1.0):
                self.answered = True
                return
            time.sleep(0.05)
        raise ClamdStartError(
            f"clamd did not answer PING within {timeout_s or self.settings.start_timeout_s}s: {self._log_tail()}"
        )

    def ensure_running(self, hung_after_s: float = 5.0) -> None:
        """Start clamd if it is not running, then wait until it answers.

        A clamd that answered before and now stays silent for `hung_after_s` is hung, not loading: it is
        replaced instead of failing every later invocation of this warm environment.
        """
        if not self.is_running():
            self.start()
        elif self.answered:
            try:
                self.wait_ready(hung_after_s)
                return
            except ClamdStartError:
                self.stop(timeout_s=2.0)
                self.start()
        self.wait_ready()

    def restart(self) -> None:
        """Stop whatever is left of clamd and start it again (same database)."""
        self.stop()
        self.start()
        self.wait_ready()

    def restart_if(self, failed_pid: int | None) -> None:
        """Restart clamd unless another thread already replaced the process `failed_pid` (concurrent scans)."""
        with self._restart_lock:
            if self.pid == failed_pid or not self.is_running():
                self.restart()
            else:
                self.wait_ready()

    def reload(self) -> str:
        """Ask clamd to reload its database directory; returns its reply (RELOADING)."""
        return self.client.command("RELOAD")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate clamd by its PID and reap it (a stopped or hung clamd is killed)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGCONT)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout_s)
        self.process = None
        self.paths.socket.unlink(missing_ok=True)

    def _log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.paths.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no clamd log)"
