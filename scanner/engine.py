"""The engine/database version recorded with every verdict (`scan-engine`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

_DATABASE_SUFFIXES = {".cvd", ".cld", ".cud", ".ndb", ".hdb", ".hsb", ".mdb", ".msb", ".ldb", ".cdb", ".ign2", ".fp"}


def database_fingerprint(directory: Path) -> str:
    """Short content hash of a signature directory without a CVD version (custom or test signature sets)."""
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        if path.suffix in _DATABASE_SUFFIXES and path.is_file():
            digest.update(path.name.encode() + b"\0")
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1024 * 1024), b""):
                    digest.update(block)
    return digest.hexdigest()[:12]


def engine_label(version_reply: str, database_dir: Path) -> str:
    """clamd's VERSION reply (`ClamAV 1.4.6/27830/<date>`), or `ClamAV 1.4.6/local-<hash>` without a CVD."""
    if "/" in version_reply:
        return version_reply
    return f"{version_reply}/local-{database_fingerprint(database_dir)}"
