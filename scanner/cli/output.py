"""Terminal output: plain tables, JSON documents, a progress line on stderr, confirmation prompts."""

from __future__ import annotations

import json
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from scanner.cli.errors import Refused

_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Control, format (bidi overrides, zero-width), surrogate, private-use, unassigned and line/paragraph separators."""


def printable(value: Any) -> str:
    """Text safe for a terminal line: control and invisible characters escaped (`\\n`, `\\x1b`, `\\u202e`), so a key
    can never start a new line, move the cursor or reorder what follows (and so forge a verdict line)."""
    text = str(value)
    if text.isprintable() and not any(unicodedata.category(ch) in _INVISIBLE for ch in text):
        return text
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif unicodedata.category(ch) in _INVISIBLE or (not ch.isprintable() and ch != " "):
            out.append(ch.encode("unicode_escape").decode("ascii") if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell (by display width, so accented and CJK keys line up); every cell
    printable()."""
    cells = [
        [str(h) for h in headers],
        *[["-" if v is None or v == "" else printable(v) for v in row] for row in rows],
    ]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [value + " " * (widths[i] - _width(value)) for i, value in enumerate(row)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in {"W", "F"} else 1 for ch in text)


def print_json(document: Any, stream: TextIO | None = None) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False, default=str), file=stream or sys.stdout, flush=True)


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def confirm(question: str, *, assume_yes: bool, stdin: TextIO | None = None, stderr: TextIO | None = None) -> None:
    """Return when confirmed; raise Refused otherwise. Without a terminal only --yes confirms."""
    if assume_yes:
        return
    stdin, stderr = stdin or sys.stdin, stderr or sys.stderr
    if not stdin.isatty():
        raise Refused(f"refusing to {question} without confirmation in a non-interactive session: rerun with --yes")
    print(f"{question}? [y/N] ", end="", file=stderr, flush=True)
    answer = stdin.readline().strip().lower()
    if answer not in {"y", "yes"}:
        raise Refused(f"not confirmed: nothing was changed ({question})")


class Progress:
    """A progress line on stderr: rewritten in place on a terminal, one line every few seconds otherwise."""

    def __init__(self, render: Callable[[], str], stream: TextIO | None = None, interval_s: float | None = None):
        self.render = render
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval_s = interval_s if interval_s is not None else (0.2 if self.tty else 5.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.interval_s):
            line = f"{self.render()}  {time.monotonic() - started:.0f}s"
            if self.tty:
                self.stream.write(f"\r\033[K{line}")
            else:
                self.stream.write(f"{line}\n")
            self.stream.flush()
