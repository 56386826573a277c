"""Signature sets the tests make: plain .ndb files and unsigned CVD containers (.cud) built with sigtool.

A real CVD is signed with Talos' private key, which tests cannot do; `sigtool --build --unsigned` makes the
same container without the signature (.cud). clamd loads it and reports its version in VERSION, and freshclam
accepts it as an extra database (DatabaseCustomURL), after loading it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.clamd import EICAR, require_binary

EICAR_SIGNATURE = f"Eicar-Test-Signature-Body:0:*:{EICAR.hex()}\n"
HOT_SAMPLE = b"HOTRELOAD-SAMPLE-5f0c2e9a: a file only the newer signature set knows\n"
HOT_SIGNATURE_NAME = "Hot-Reload-Test-Sample"
HOT_SIGNATURE = f"{HOT_SIGNATURE_NAME}:0:*:{HOT_SAMPLE[:26].hex()}\n"


def build_cud(directory: Path, version: int, signatures: str, *, name: str = "daily") -> Path:
    """An unsigned `<name>.cud` of database version `version` holding `signatures` (.ndb lines)."""
    build = directory / f"build-{name}-{version}"
    build.mkdir(parents=True)
    (build / "COPYING").write_text("Test signatures for s3-clamav-scanner.\n")
    (build / f"{name}.ndb").write_text(signatures)
    command = [
        require_binary("sigtool"),
        f"--build={name}.cud",
        "--unsigned",
        f"--cvd-version={version}",
        "--no-cdiff",
        f"--datadir={build}",
    ]
    # sigtool asks for the builder's name on stdin.
    completed = subprocess.run(command, cwd=build, input="tests\n", capture_output=True, text=True, timeout=60)
    cud = build / f"{name}.cud"
    if completed.returncode != 0 or not cud.is_file():
        raise AssertionError(f"sigtool --build failed: {completed.stdout} {completed.stderr}")
    return cud
