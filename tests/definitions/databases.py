"""Signature sets the tests make: plain .ndb files and unsigned CVD containers (.cud) built with sigtool.

A real CVD is signed with Talos' private key, which tests cannot do; `sigtool --build --unsigned` makes the
same container without the signature (.cud). clamd loads it and reports its version in VERSION, and freshclam
accepts it as an extra database (DatabaseCustomURL), after loading it.
"""

from __future__ import annotations

import hashlib
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


# The security team's own signatures (custom/ prefix of the definitions bucket), one sample for each format.
INCIDENT_SAMPLE = b"INCIDENT-2026-041 dropper: the file the incident responders hashed\n"
INCIDENT_NAME = "Incident-2026-041-Dropper"
INCIDENT_HDB = f"{hashlib.md5(INCIDENT_SAMPLE).hexdigest()}:{len(INCIDENT_SAMPLE)}:{INCIDENT_NAME}\n"
WEBSHELL_SAMPLE = b"<?php /* team-webshell-7731 */ eval($_POST['c']); ?>\n"
WEBSHELL_NAME = "Team-Webshell-7731"
WEBSHELL_NDB = f"{WEBSHELL_NAME}:0:*:{b'team-webshell-7731'.hex()}\n"
BEACON_SAMPLE = b"MZ... beacon config: c2=teamtest.invalid:8443 id=BEACON-5521\n"
BEACON_RULE = "Team_Beacon_5521"
BEACON_YAR = f"""rule {BEACON_RULE}
{{
    meta:
        description = "beacon configuration string from incident 2026-041"
    strings:
        $id = "BEACON-5521"
        $c2 = "teamtest.invalid" ascii
    condition:
        all of them
}}
"""
