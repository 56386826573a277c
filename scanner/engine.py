"""The engine/database version recorded with every verdict (`scan-engine`).

The digests are the manifest's (scanner.definitions.manifest.set_digest over file names and sha256s), so a label
can be matched with the published set it came from: `/local-<h>` is the manifest's `database_version` of a set
without CVDs, `+custom-<h>` the first 12 hex digits of its `custom_digest`.
"""

from __future__ import annotations

from pathlib import Path

from scanner import constants as c
from scanner.definitions.manifest import DATABASE_SUFFIXES, is_container, set_digest, sha256_file

DIGEST_HEX = 12


def _files(directory: Path, *, custom_only: bool) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in DATABASE_SUFFIXES or not path.is_file():
            continue
        if custom_only and is_container(path.name):
            continue
        found.append((path.name, sha256_file(path)))
    return found


def database_fingerprint(directory: Path) -> str:
    """Short content hash of every database file in a directory (sets without a CVD version)."""
    return set_digest(_files(directory, custom_only=False))[:DIGEST_HEX]


def custom_fingerprint(directory: Path) -> str | None:
    """Short content hash of the database files outside CVD containers; None when there are none."""
    files = _files(directory, custom_only=True)
    return set_digest(files)[:DIGEST_HEX] if files else None


def engine_label(version_reply: str, database_dir: Path) -> str:
    """The `scan-engine` value for clamd's VERSION reply on `database_dir`.

    `ClamAV 1.4.6/27830/<date>` for CVDs only; `ClamAV 1.4.6/27830/<date>+custom-<hash>` when other signature
    files (the security team's, extra URLs) are loaded too, so the label changes with them; `ClamAV 1.4.6/local-
    <hash>` without a CVD. Never longer than an S3 tag value: the reply is shortened, the digest kept.
    """
    if "/" not in version_reply:
        suffix = f"/local-{database_fingerprint(database_dir)}"
    else:
        custom = custom_fingerprint(database_dir)
        suffix = f"+custom-{custom}" if custom else ""
    return version_reply[: c.S3_TAG_VALUE_MAX - len(suffix)] + suffix
