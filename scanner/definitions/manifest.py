"""The definitions manifest: which database files make up the published set, and how to check each one.

The updater writes `manifest.json` last, after every file it names is uploaded; scanners trust a set only when
every file's size and sha256 match it. CVD headers give the database versions and build times.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scanner.exceptions import DefinitionsError

MANIFEST_KEY = "manifest.json"
DATABASE_PREFIX = "databases/"
SCHEMA_VERSION = 1
SET_PREFIX = "set-"
"""Local directories holding a downloaded set are named `set-...` (and nothing else under the root is touched)."""

CVD_SUFFIXES = frozenset({".cvd", ".cld", ".cud"})
"""Containers with a 512-byte `ClamAV-VDB:` header carrying version and build time."""
DATABASE_SUFFIXES = CVD_SUFFIXES | frozenset(
    {
        ".db", ".hdb", ".hdu", ".hsb", ".hsu", ".mdb", ".mdu", ".msb", ".msu", ".ndb", ".ndu", ".ldb", ".ldu",
        ".sdb", ".zmd", ".rmd", ".idb", ".cdb", ".cat", ".crb", ".cbc", ".ftm", ".fp", ".sfp", ".ign", ".ign2",
        ".wdb", ".pdb", ".gdb", ".pwdb", ".imp", ".yar", ".yara",
    }
)  # fmt: skip
"""Every extension libclamav loads from a database directory."""

# A plain file name: the scanner writes it into a local directory, so nothing that could leave it.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_BLOCK = 1024 * 1024
_ORIGIN_FIELDS = frozenset({"source_key", "source_version_id"})


def is_safe_name(name: str) -> bool:
    """A plain file name that stays inside the directory it is written to."""
    return bool(_SAFE_NAME.fullmatch(name))  # not match: "$" also matches before a final newline


def is_database_file(path: Path) -> bool:
    """A regular file libclamav would load (freshclam's own state, freshclam.dat, is not one)."""
    return path.is_file() and path.suffix.lower() in DATABASE_SUFFIXES and is_safe_name(path.name)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def set_digest(files: Iterable[tuple[str, str]]) -> str:
    """Identity of a set of files from their (name, sha256): the same for the manifest and a local directory."""
    text = "\n".join(f"{name}:{sha256}" for name, sha256 in sorted(files))
    return hashlib.sha256(text.encode()).hexdigest()


def is_container(name: str) -> bool:
    """A CVD/CLD/CUD container (the official databases); every other database file is a custom one."""
    return Path(name).suffix.lower() in CVD_SUFFIXES


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class CvdHeader:
    """The fields of a CVD/CLD/CUD header that matter here."""

    version: int
    signatures: int
    functionality_level: int
    built_at: datetime


def read_cvd_header(path: Path) -> CvdHeader | None:
    """Parse `ClamAV-VDB:<time>:<version>:<sigs>:<flevel>:<md5>:<dsig>:<builder>:<stime>`; None if not a CVD."""
    with path.open("rb") as handle:
        head = handle.read(512)
    if not head.startswith(b"ClamAV-VDB:"):
        return None
    fields = head.decode("ascii", "replace").rstrip(" \0\n").split(":")
    try:
        return CvdHeader(
            version=int(fields[2]),
            signatures=int(fields[3]),
            functionality_level=int(fields[4]),
            built_at=datetime.fromtimestamp(int(fields[8]), UTC),
        )
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class DatabaseFile:
    """One published database file."""

    name: str
    """File name in the database directory (`daily.cvd`, `custom.ndb`)."""
    key: str
    """S3 key in the definitions bucket."""
    size: int
    sha256: str
    version_id: str | None = None
    """The S3 object version the manifest pins (None in an unversioned bucket)."""
    version: int | None = None
    """Database version from the CVD header."""
    built_at: str | None = None
    """Build time from the CVD header, UTC ISO 8601."""
    source_key: str | None = None
    """For a security team's own file: the key it was read from (`custom/<name>`); `key` is the published copy."""
    source_version_id: str | None = None
    """The version of `source_key` that was read (the first one with this content)."""

    @classmethod
    def from_dict(cls, raw: Any) -> DatabaseFile:
        if not isinstance(raw, dict):
            raise DefinitionsError(f"manifest: a file entry is not an object: {raw!r}")
        try:
            entry = cls(
                name=str(raw["name"]),
                key=str(raw["key"]),
                size=int(raw["size"]),
                sha256=str(raw["sha256"]).lower(),
                version_id=raw.get("version_id") or None,
                version=int(raw["version"]) if raw.get("version") is not None else None,
                built_at=raw.get("built_at") or None,
                source_key=str(raw["source_key"]) if raw.get("source_key") else None,
                source_version_id=str(raw["source_version_id"]) if raw.get("source_version_id") else None,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DefinitionsError(f"manifest: invalid file entry {raw!r}: {err}") from None
        if not is_safe_name(entry.name) or Path(entry.name).suffix.lower() not in DATABASE_SUFFIXES:
            raise DefinitionsError(f"manifest: {entry.name!r} is not a database file name")
        if not _SHA256.match(entry.sha256) or entry.size < 0:
            raise DefinitionsError(f"manifest: {entry.name}: invalid size or sha256")
        return entry


@dataclass(frozen=True)
class Manifest:
    """The published set: written last, read first."""

    files: tuple[DatabaseFile, ...]
    database_version: str
    """`daily-27830` for official sets, `local-<hash>` for sets without a daily CVD."""
    engine: str
    """The ClamAV version that verified the set (`ClamAV 1.4.6`)."""
    created_at: str
    """When the set was published, UTC ISO 8601."""
    built_at: str | None = None
    """Newest CVD build time in the set (None without CVDs): what the definitions' age is measured from."""
    schema: int = field(default=SCHEMA_VERSION)

    @property
    def digest(self) -> str:
        """Identity of the content: equal digests mean the same files, whatever the publish time."""
        return set_digest((f.name, f.sha256) for f in self.files)

    @property
    def custom_digest(self) -> str | None:
        """Identity of the files outside CVD containers (None without any): the `+custom-` part of `scan-engine`."""
        custom = [(f.name, f.sha256) for f in self.files if not is_container(f.name)]
        return set_digest(custom) if custom else None

    @property
    def custom_sources(self) -> tuple[DatabaseFile, ...]:
        """The files read from the security team's prefix of the bucket."""
        return tuple(f for f in self.files if f.source_key)

    @property
    def directory_name(self) -> str:
        """Local directory name of this set: `set-<database_version>-<digest prefix>`."""
        return f"{SET_PREFIX}{re.sub(r'[^A-Za-z0-9._-]', '_', self.database_version)}-{self.digest[:12]}"

    def file(self, name: str) -> DatabaseFile | None:
        return next((f for f in self.files if f.name == name), None)

    def age_hours(self, now: datetime) -> float:
        """Hours since the newest database was built (or, without CVDs, since the set was published)."""
        basis = parse_time(self.built_at or self.created_at)
        return max(0.0, (now - basis).total_seconds() / 3600)

    def to_json(self) -> bytes:
        document = asdict(self)
        # Only a custom file has an origin: official entries keep the shape they always had.
        document["files"] = [
            {k: v for k, v in asdict(f).items() if v is not None or k not in _ORIGIN_FIELDS} for f in self.files
        ]
        return json.dumps(document, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse and validate; anything unexpected raises DefinitionsError (a bad manifest is never half-used)."""
        try:
            raw = json.loads(data)
        except ValueError as err:
            raise DefinitionsError(f"manifest is not JSON: {err}") from None
        if not isinstance(raw, dict):
            raise DefinitionsError("manifest is not a JSON object")
        if raw.get("schema") != SCHEMA_VERSION:
            raise DefinitionsError(f"manifest: unsupported schema {raw.get('schema')!r} (expected {SCHEMA_VERSION})")
        files = tuple(DatabaseFile.from_dict(f) for f in raw.get("files") or [])
        if not files:
            raise DefinitionsError("manifest names no database files")
        if len({f.name for f in files}) != len(files):
            raise DefinitionsError("manifest names a file twice")
        try:
            manifest = cls(
                files=files,
                database_version=str(raw["database_version"]),
                engine=str(raw.get("engine", "")),
                created_at=str(raw["created_at"]),
                built_at=raw.get("built_at") or None,
            )
            parse_time(manifest.created_at)
            if manifest.built_at:
                parse_time(manifest.built_at)
        except (KeyError, ValueError) as err:
            raise DefinitionsError(f"manifest: invalid field: {err}") from None
        return manifest


def database_version(files: list[tuple[str, str, CvdHeader | None]]) -> str:
    """`daily-<version>` when the set has a daily CVD, else `local-<hash of names and sha256s>`.

    `files` holds (name, sha256, header) for each file of the set.
    """
    for name, _, header in files:
        if Path(name).stem == "daily" and header is not None:
            return f"daily-{header.version}"
    return f"local-{set_digest((name, sha) for name, sha, _ in files)[:12]}"


def newest_build(headers: list[CvdHeader | None]) -> datetime | None:
    built = [h.built_at for h in headers if h is not None]
    return max(built) if built else None


def directory_built_at(directory: Path) -> datetime | None:
    """Newest CVD build time among the databases in a directory (the image's database, for example)."""
    try:
        paths = [p for p in directory.iterdir() if p.suffix.lower() in CVD_SUFFIXES and p.is_file()]
    except OSError:
        return None
    return newest_build([read_cvd_header(p) for p in paths])
