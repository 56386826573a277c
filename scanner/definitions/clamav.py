"""ClamAV's command-line tools as the updater runs them: bounded, output kept, and a database load reported.

A load is judged by more than clamscan's exit code: libclamav skips a YARA rule that does not compile, a rule
whose name is already taken and a logical signature for a newer engine, and still exits 0. The report keeps
every `LibClamAV Error/Warning` line and the `Known viruses` count, so a caller can tell a file that loaded
from one that was silently (partly) dropped.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from scanner.exceptions import DefinitionsError

OUTPUT_TAIL = 12
_KNOWN = re.compile(r"^Known viruses:\s*(\d+)\s*$", re.MULTILINE)
_PROBLEM = re.compile(r"^(LibClamAV (Error|Warning)|ERROR):.*$", re.MULTILINE)


def run_tool(command: list[str], timeout_s: float, what: str) -> subprocess.CompletedProcess[str]:
    """Run one tool to completion; a timeout or a missing binary raises DefinitionsError."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as err:
        raise DefinitionsError(f"{what} did not finish within {timeout_s:.0f}s") from err
    except OSError as err:
        raise DefinitionsError(f"{what} could not run: {err}") from err


def tail(completed: subprocess.CompletedProcess[str]) -> str:
    """The last lines of a tool's output, on one line."""
    lines = (completed.stdout + completed.stderr).strip().splitlines()
    return " | ".join(line.strip() for line in lines[-OUTPUT_TAIL:] if line.strip())


@dataclass(frozen=True)
class LoadReport:
    """What clamscan said while loading a database file or directory."""

    returncode: int
    known: int | None
    """`Known viruses` from the summary (None when clamscan printed none)."""
    problems: tuple[str, ...]
    """Every `LibClamAV Error:`/`LibClamAV Warning:`/`ERROR:` line, in order."""
    output: str

    @property
    def loaded(self) -> bool:
        return self.returncode == 0

    def problems_about(self, path: Path) -> tuple[str, ...]:
        """The problem lines that name `path` (libclamav prints the path it was given); `a.yar` is not `a.yara`."""
        named = re.compile(re.escape(str(path)) + r"(?![A-Za-z0-9._-])")
        return tuple(line for line in self.problems if named.search(line))


def load_database(database: Path, clamscan_binary: str, timeout_s: float) -> LoadReport:
    """Load `database` (a file or a directory) with clamscan, scanning one empty file, and report."""
    scratch = database.parent / ".clamscan"  # never a database file name: those start with a letter or digit
    scratch.mkdir(exist_ok=True)
    probe = scratch / "empty-probe"
    probe.write_bytes(b"")
    command = [clamscan_binary, f"--database={database}", f"--tempdir={scratch}", str(probe)]
    completed = run_tool(command, timeout_s, "clamscan")
    output = completed.stdout + completed.stderr
    known = _KNOWN.search(completed.stdout)
    return LoadReport(
        returncode=completed.returncode,
        known=int(known.group(1)) if known else None,
        problems=tuple(m.group(0).strip() for m in _PROBLEM.finditer(output)),
        output=tail(completed),
    )


def verify_databases(directory: Path, clamscan_binary: str, timeout_s: float) -> LoadReport:
    """Load exactly the set to publish once with clamscan: what loads here loads in every scanner's clamd."""
    report = load_database(directory, clamscan_binary, timeout_s)
    if not report.loaded:
        raise DefinitionsError(f"ClamAV cannot load the new set (exit {report.returncode}): {report.output}")
    return report


def engine_version(clamscan_binary: str) -> str:
    """`ClamAV 1.4.6` (clamscan's version without the database part)."""
    completed = run_tool([clamscan_binary, "--version"], 30, "clamscan --version")
    return completed.stdout.strip().split("/")[0] or "ClamAV"
