"""The security team's own signature files: listed under a prefix of the definitions bucket, each read at one
version, checked by name, loaded alone with clamscan, and only then staged to join the published set.

Accepted formats, and why the others are refused:

- detection: `.hdb` `.hsb` (file hashes), `.mdb` `.msb` (PE section hashes), `.ndb` (body), `.ldb` (logical),
  `.cdb` (container metadata), `.yar`/`.yara` (YARA);
- allow-listing, only with `custom_allow_listing`: `.fp` `.sfp` (file hashes passed as clean), `.ign2` (signature
  names switched off). They make the engine pass content without any per-object trace, so they are off unless
  the deployment asks; a false positive on one object is released with `scanner quarantine release` instead
  (content-scoped, audited);
- never: signed containers (`.cvd`/`.cld`/`.cud`: the official mirror's, verified by freshclam), PUA formats
  (`.hdu`...: clamd runs without DetectPUA, so they would load and never match), bytecode (`.cbc`: code, and only
  Talos-signed bytecode runs), `.ftm` (file-type magic: changes what every file is scanned as), certificate
  trust (`.crb`/`.cat`: passes signed executables), phishing and other heuristics lists, the deprecated `.ign`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scanner.config import UpdaterSettings
from scanner.definitions.clamav import LoadReport, load_database
from scanner.definitions.manifest import CVD_SUFFIXES, is_safe_name
from scanner.exceptions import DefinitionsError

DETECTION_SUFFIXES = frozenset({".hdb", ".hsb", ".mdb", ".msb", ".ndb", ".ldb", ".cdb", ".yar", ".yara"})
ALLOW_LIST_SUFFIXES = frozenset({".fp", ".sfp", ".ign2"})
RESERVED_STEMS = frozenset({"main", "daily", "bytecode", "safebrowsing"})
"""Official database names: freshclam and clamd treat files of these names as the official databases."""

_YARA_SUFFIXES = frozenset({".yar", ".yara"})
_UNCOUNTED_SUFFIXES = _YARA_SUFFIXES | {".ign2"}
"""Formats whose signature count cannot be read off their lines (ignore lists count as no signature)."""
_REFUSED: dict[str, str] = {
    **dict.fromkeys(CVD_SUFFIXES, "signed database containers come from the official mirror only"),
    **dict.fromkeys(
        (".hdu", ".hsu", ".mdu", ".msu", ".ndu", ".ldu"),
        "a PUA database: clamd runs without DetectPUA, so its signatures would never match",
    ),
    ".cbc": "bytecode signatures are programs; clamd runs Talos-signed bytecode only",
    ".ftm": "file-type magic changes what every file is scanned as",
    ".crb": "certificate trust lists pass signed executables",
    ".cat": "certificate trust lists pass signed executables",
    ".ign": "the deprecated ignore format (use .ign2)",
}
_YARA_INCLUDE = re.compile(rb"^\s*include\s*\"", re.MULTILINE)
_CHUNK = 1024 * 1024
MAX_REASON = 1000
"""Characters of clamscan's messages kept in a rejection's reason (a finding stays far below SNS's 256 KiB)."""


@dataclass(frozen=True)
class CustomFile:
    """One custom file read from the bucket: where from (the exact version) and where it is now."""

    name: str
    key: str
    version_id: str | None
    size: int
    sha256: str
    path: Path


@dataclass(frozen=True)
class Rejection:
    """A custom file kept out of the set, and why (what the finding says)."""

    key: str
    reason: str
    version_id: str | None = None
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "versionId": self.version_id, "sha256": self.sha256, "reason": self.reason}


class CustomSignaturesRejected(DefinitionsError):
    """Custom files did not pass: nothing is published this run."""

    def __init__(self, rejections: Iterable[Rejection]) -> None:
        self.rejections = tuple(rejections)
        names = ", ".join(f"{r.key} ({r.reason})" for r in self.rejections)
        super().__init__(f"custom signature files rejected: {names}")


def reserved_names(settings: UpdaterSettings) -> frozenset[str]:
    """File names freshclam will write this run (extra URLs), which a custom file must not take."""
    return frozenset(url.rstrip("/").rsplit("/", 1)[-1] for url in settings.extra_urls)


def name_problem(name: str, *, reserved: Collection[str] = (), allow_listing: bool = False) -> str | None:
    """Why a key's name below the prefix cannot be a custom file; None when it can."""
    suffix = Path(name).suffix.lower()
    if not is_safe_name(name):
        return "not a plain file name directly under the prefix (letters, digits, '.', '_', '-'; no folders)"
    if suffix in _REFUSED:
        return f"{suffix} files are not accepted: {_REFUSED[suffix]}"
    if suffix in ALLOW_LIST_SUFFIXES and not allow_listing:
        return f"{suffix} is an allow-listing format, accepted only with CUSTOM_SIGNATURES_ALLOW_LISTING=true"
    if suffix not in DETECTION_SUFFIXES | ALLOW_LIST_SUFFIXES:
        accepted = sorted(DETECTION_SUFFIXES | (ALLOW_LIST_SUFFIXES if allow_listing else frozenset()))
        return f"not a signature format accepted here ({' '.join(accepted)})"
    if Path(name).stem.lower() in RESERVED_STEMS:
        return "the name of an official database"
    if name in reserved:
        return "the name of a file freshclam fetches (DEFINITIONS_EXTRA_URLS)"
    return None


def list_keys(s3: Any, bucket: str, prefix: str) -> list[tuple[str, int]]:
    """(key, size) of every object under `prefix`, in key order; folder markers (`.../`, empty) left out."""
    found: list[tuple[str, int]] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key, size = str(item["Key"]), int(item["Size"])
                if not (key.endswith("/") and size == 0):
                    found.append((key, size))
    except (ClientError, BotoCoreError) as err:
        raise DefinitionsError(f"cannot list s3://{bucket}/{prefix}: {err}") from err
    return sorted(found)


def download(s3: Any, bucket: str, key: str, target: Path, limit: int) -> CustomFile | None:
    """Read the current version of `key` into `target`, recording that version; None if it is gone."""
    digest = hashlib.sha256()
    size = 0
    try:
        reply = s3.get_object(Bucket=bucket, Key=key)
        with target.open("wb") as out:
            while chunk := reply["Body"].read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise DefinitionsError(f"s3://{bucket}/{key}: larger than the {limit} bytes allowed")
                digest.update(chunk)
                out.write(chunk)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            target.unlink(missing_ok=True)
            return None  # deleted since the listing: not part of this set
        raise DefinitionsError(f"s3://{bucket}/{key}: {err}") from err
    except BotoCoreError as err:
        raise DefinitionsError(f"s3://{bucket}/{key}: {err}") from err
    return CustomFile(
        name=target.name,
        key=key,
        version_id=reply.get("VersionId") or None,
        size=size,
        sha256=digest.hexdigest(),
        path=target,
    )


def expected_signatures(path: Path) -> int | None:
    """Signatures a line-based file defines (one a line, `#` comments aside); None for YARA and ignore lists."""
    if path.suffix.lower() in _UNCOUNTED_SUFFIXES:
        return None
    lines = path.read_bytes().splitlines()
    return sum(1 for line in lines if line.strip() and not line.lstrip().startswith(b"#"))


def load_problem(file: CustomFile, clamscan_binary: str, timeout_s: float) -> str | None:
    """Load one file alone with clamscan; why it does not load completely, or None."""
    suffix = file.path.suffix.lower()
    if suffix in _YARA_SUFFIXES and _YARA_INCLUDE.search(file.path.read_bytes()):
        return "YARA include: a published file must be self-contained"
    report = load_database(file.path, clamscan_binary, timeout_s)
    if not report.loaded:
        return f"ClamAV cannot load it: {_problems(report, file.path.parent)}"
    if report.problems:
        return f"ClamAV skipped part of it: {_problems(report, file.path.parent)}"
    expected = expected_signatures(file.path)
    known = report.known or 0
    if expected is not None and known != expected:
        return f"ClamAV loaded {known} of its {expected} signatures (the others need a newer engine or are invalid)"
    if suffix in _YARA_SUFFIXES and known == 0:
        return "ClamAV loaded no YARA rule from it"
    return None


def merged_problems(report: LoadReport, staged: dict[Path, CustomFile]) -> list[Rejection]:
    """Custom files the load of the merged set complained about (a YARA rule name taken twice, for one)."""
    rejected: list[Rejection] = []
    for path, file in staged.items():
        lines = report.problems_about(path)
        if lines:
            shown = LoadReport(report.returncode, report.known, lines, report.output)
            reason = f"does not load with the rest of the set: {_problems(shown, path.parent)}"
            rejected.append(Rejection(file.key, reason, file.version_id, file.sha256))
    return rejected


def _problems(report: LoadReport, directory: Path | None = None) -> str:
    """The problem lines, on one line, without the updater's scratch paths, at most MAX_REASON characters."""
    text = " | ".join(report.problems) or report.output
    if directory is not None:
        text = text.replace(f"{directory}/", "")
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


class CustomCollector:
    """One run's custom files: listed, named, downloaded and loaded one by one into `directory`."""

    def __init__(self, settings: UpdaterSettings, s3: Any, directory: Path) -> None:
        self.settings = settings
        self.s3 = s3
        self.directory = directory

    def collect(self) -> tuple[list[CustomFile], list[Rejection]]:
        """The files that loaded alone, and the rejected ones (all of them, not just the first)."""
        bucket = self.settings.definitions_bucket
        listed = [(p, key, size) for p in self.settings.custom_prefixes for key, size in list_keys(self.s3, bucket, p)]
        if not listed:
            return [], []
        self.directory.mkdir(parents=True, exist_ok=True)
        reserved = reserved_names(self.settings)
        keys_by_name: dict[str, list[str]] = {}
        for prefix, key, _ in listed:
            keys_by_name.setdefault(key[len(prefix) :], []).append(key)
        accepted: list[CustomFile] = []
        rejected: list[Rejection] = []
        budget = self.settings.custom_max_bytes
        for prefix, key, size in listed:
            name = key[len(prefix) :]
            problem = name_problem(name, reserved=reserved, allow_listing=self.settings.custom_allow_listing)
            if problem is None and len(keys_by_name[name]) > 1:
                problem = f"the same file name as {', '.join(k for k in keys_by_name[name] if k != key)}"
            if problem is None and size > budget:
                problem = f"the custom files exceed CUSTOM_SIGNATURES_MAX_BYTES ({self.settings.custom_max_bytes})"
            if problem is not None:
                rejected.append(Rejection(key, problem))  # never downloaded
                continue
            file = download(self.s3, bucket, key, self.directory / name, budget)
            if file is None:
                continue
            budget -= file.size
            problem = load_problem(file, self.settings.clamscan_binary, self.settings.verify_timeout_s)
            if problem is None:
                accepted.append(file)
            else:
                rejected.append(Rejection(key, problem, file.version_id, file.sha256))
        return accepted, rejected
