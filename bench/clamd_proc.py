"""A clamd driven from bench code: the scanner's rendered config with lines overridden, timed, its memory sampled.

The scanner's own ClamdDaemon fixes the config (ConcurrentDatabaseReload yes, no IdleTimeout); the definitions
switch measurements need other values, so this renders the scanner's config with `scanner.clamd.render_config`
and replaces or adds lines.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import clamd_settings
from scanner import constants as c
from scanner.clamd import ClamdClient, ClamdPaths, render_config

MiB = 1024**2


def rendered_config(database: Path, paths: ClamdPaths, overrides: dict[str, str] | None = None) -> str:
    """The scanner's clamd.conf for `database` with `overrides` replacing (or adding) lines."""
    settings = clamd_settings(database, paths.work_dir)
    lines: dict[str, str] = {}
    for line in render_config(settings, paths).splitlines():
        key, _, value = line.partition(" ")
        lines[key] = value
    lines.update(overrides or {})
    return "".join(f"{key} {value}\n" for key, value in lines.items())


def proc_memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in bytes; (0, 0) once it is gone."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return rss, hwm


@dataclass
class MemorySampler:
    """Samples the summed RSS of some processes every `interval_s` in a thread; keeps the peak and a timeline."""

    pids: list[int]
    interval_s: float = 0.05
    peak: int = 0
    timeline: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started: float = 0.0

    def start(self) -> MemorySampler:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            total = sum(proc_memory(pid)[0] for pid in list(self.pids))
            self.peak = max(self.peak, total)
            self.timeline.append((round(time.monotonic() - self._started, 3), total))
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)


class Clamd:
    """One clamd process with its own work directory and socket."""

    def __init__(self, database: Path, overrides: dict[str, str] | None = None, name: str = "bench") -> None:
        self.work = Path(tempfile.mkdtemp(prefix=f"{name}-clamd-"))
        self.paths = ClamdPaths(self.work)
        self.database = database
        self.overrides = overrides or {}
        self.client = ClamdClient(self.paths.socket, 600, c.DEFAULT_STREAM_CHUNK_BYTES)
        self.process: subprocess.Popen[bytes] | None = None
        self.spawned_at = 0.0

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("clamd not started")
        return self.process.pid

    def start(self) -> None:
        self.paths.temp_dir.mkdir(parents=True, exist_ok=True)
        self.paths.config.write_text(rendered_config(self.database, self.paths, self.overrides))
        self.spawned_at = time.monotonic()
        self.process = subprocess.Popen(
            ["clamd", "--foreground", f"--config-file={self.paths.config}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = 300, poll_s: float = 0.01) -> float:
        """Seconds from spawn until clamd answered PING."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"clamd exited during start: {self.log_tail()}")
            if self.client.ping(timeout_s=5):
                return time.monotonic() - self.spawned_at
            time.sleep(poll_s)
        raise RuntimeError(f"clamd did not answer within {timeout_s} s: {self.log_tail()}")

    def memory(self) -> tuple[int, int]:
        return proc_memory(self.pid)

    def log_tail(self, lines: int = 8) -> str:
        try:
            return " | ".join(self.paths.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)
        self.process = None
        shutil.rmtree(self.work, ignore_errors=True)


@contextmanager
def running_clamd(database: Path, overrides: dict[str, str] | None = None, name: str = "bench") -> Iterator[Clamd]:
    """A started and ready clamd, stopped afterwards."""
    clamd = Clamd(database, overrides, name)
    clamd.start()
    try:
        clamd.wait_ready()
        yield clamd
    finally:
        clamd.stop()
