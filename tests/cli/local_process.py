"""`python -m scanner local` as a subprocess: start, wait for READY, read its verdict lines, stop it by signal."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_FIELDS = re.compile(r"(\w+)=(\S+)")


@dataclass(frozen=True)
class Ready:
    """What `scanner local` announced before READY."""

    endpoint: str
    upload: str
    quarantine: str
    clamd_pid: int
    work_dir: Path


class LocalProcess:
    """One `scanner local` subprocess; stdout lines are collected by a reader thread, stderr goes to a file."""

    def __init__(self, *args: str, log_path: Path) -> None:
        self.log_path = log_path
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._log = log_path.open("w")
        env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scanner", "local", "--port", "0", *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            encoding="utf-8",
        )
        self._reader = threading.Thread(target=self._read, name="local-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[str], bool], timeout_s: float, what: str = "a line") -> str:
        """The first stdout line (from the start) matching `predicate`."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no {what} within {timeout_s:.0f} s; {self.describe()}")
                self._changed.wait(min(remaining, 0.5))

    def wait_ready(self, timeout_s: float = 90.0) -> Ready:
        ready = _fields(self.wait_for(lambda line: line.startswith("READY "), timeout_s, "READY line"))
        started = _fields(next(line for line in self.lines if line.startswith("clamd_pid=")))
        return Ready(
            endpoint=ready["endpoint"],
            upload=ready["upload"],
            quarantine=ready["quarantine"],
            clamd_pid=int(started["clamd_pid"]),
            work_dir=Path(started["work_dir"]),
        )

    def json_lines(self) -> list[dict[str, Any]]:
        with self._changed:
            lines = list(self.lines)
        return [json.loads(line) for line in lines if line.startswith("{")]

    def wait_json(self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float, what: str) -> dict[str, Any]:
        line = self.wait_for(lambda text: text.startswith("{") and predicate(json.loads(text)), timeout_s, what)
        return json.loads(line)

    def verdicts(self, bucket: str, keys: set[str], timeout_s: float) -> dict[str, dict[str, Any]]:
        """The first verdict line (not a skip, not a retry) for each key; fails after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        found: dict[str, dict[str, Any]] = {}
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if not line.startswith("{"):
                        continue
                    doc = json.loads(line)
                    if (
                        doc.get("type") == "verdict"
                        and doc["bucket"] == bucket
                        and doc["key"] in keys
                        and not doc["skipped"]
                        and not doc["retry"]
                    ):
                        found.setdefault(doc["key"], doc)
                seen = len(self.lines)
                if len(found) == len(keys):
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = sorted(keys - set(found))
                    raise AssertionError(f"{len(missing)} of {len(keys)} without a verdict: {missing[:5]}")
                self._changed.wait(min(remaining, 0.5))

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout_s)
        finally:
            self._reader.join(5)
            self._log.close()

    def kill(self) -> None:
        """Last resort for a test that failed: never leave the subprocess (or its clamd) running."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()

    def describe(self) -> str:
        tail = "\n".join(self.lines[-10:])
        try:
            log = self.log_path.read_text()[-3000:]
        except OSError:
            log = ""
        return f"exit code {self.proc.poll()}\n--- stdout (tail) ---\n{tail}\n--- stderr (tail) ---\n{log}"

    def __enter__(self) -> LocalProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc.poll() is None:
            try:
                self.stop(signal.SIGTERM, timeout_s=30)
            except subprocess.TimeoutExpired:
                self.kill()


def _fields(line: str) -> dict[str, str]:
    return dict(_FIELDS.findall(line))


def process_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains `text` (e.g. a clamd started with a config file under a work dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            pids.append(int(entry.name))
    return pids
