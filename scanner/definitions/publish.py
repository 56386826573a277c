"""The updater: freshclam into /tmp, ClamAV verifies the set, the files are uploaded, then the manifest, last.

Why freshclam (not Talos' cvdupdate): it is already in the image (Debian's clamav-freshclam, the same release as
the engine), it verifies each CVD's digital signature against Talos' key and test-loads every new database with
libclamav before keeping it (TestDatabases), it applies daily cdiffs, and it speaks both the official CDN
(DatabaseMirror) and private mirrors (PrivateMirror, e.g. one that cvdupdate fills), plus extra signature files
(DatabaseCustomURL). cvdupdate only downloads: it verifies nothing and is meant to feed a mirror.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlparse

from scanner import constants as c
from scanner.config import UpdaterSettings
from scanner.definitions.clamav import OUTPUT_TAIL, engine_version, load_database, run_tool, tail
from scanner.definitions.custom import CustomCollector, CustomFile, CustomSignaturesRejected, Rejection, merged_problems
from scanner.definitions.fetch import download_set, read_manifest
from scanner.definitions.manifest import (
    CVD_SUFFIXES,
    DATABASE_PREFIX,
    MANIFEST_KEY,
    CvdHeader,
    DatabaseFile,
    Manifest,
    database_version,
    is_database_file,
    newest_build,
    read_cvd_header,
    sha256_file,
    utc_iso,
)
from scanner.definitions.reporting import count, publish_finding, rejection_message, report_age
from scanner.exceptions import DefinitionsError
from scanner.observability import logger

OFFICIAL_MIRROR_HOST = "database.clamav.net"


@dataclass(frozen=True)
class UpdaterPaths:
    """Everything the updater writes, under one scratch directory in /tmp."""

    work_dir: Path

    @property
    def config(self) -> Path:
        return self.work_dir / "freshclam.conf"

    @property
    def database_dir(self) -> Path:
        """freshclam's DatabaseDirectory (seeded with the published CVDs so only newer ones are fetched)."""
        return self.work_dir / "freshclam"

    @property
    def seed_dir(self) -> Path:
        return self.work_dir / "seed"

    @property
    def custom_dir(self) -> Path:
        """The security team's files as read from the bucket, each loaded alone there."""
        return self.work_dir / "custom"

    @property
    def verified_dir(self) -> Path:
        """Exactly the files to publish, loaded once by clamscan."""
        return self.work_dir / "verified"


@dataclass(frozen=True)
class PublishResult:
    """What a run left in the definitions bucket."""

    manifest: Manifest
    changed: bool
    """False when the set was identical to the published one (nothing was written)."""
    uploaded: tuple[str, ...] = ()
    """Names of the files uploaded by this run (unchanged files keep their published version)."""


def is_official_mirror(url: str) -> bool:
    return (urlparse(url).hostname or "").lower() == OFFICIAL_MIRROR_HOST


def render_freshclam_config(settings: UpdaterSettings, database_dir: Path, *, as_root: bool) -> str:
    """freshclam.conf for one run as any user on a read-only filesystem: every path it writes is under /tmp."""
    lines: list[tuple[str, str]] = [
        ("DatabaseDirectory", str(database_dir)),
        ("Foreground", "yes"),
        ("LogSyslog", "no"),
        ("LogTime", "yes"),
        ("ConnectTimeout", "30"),
        ("ReceiveTimeout", str(int(settings.freshclam_timeout_s))),
        ("MaxAttempts", str(settings.freshclam_attempts)),
        # Every new database is loaded by libclamav before it replaces the old one.
        ("TestDatabases", "yes"),
        ("CompressLocalDatabase", "no"),
        ("Bytecode", "yes" if "bytecode" in settings.databases else "no"),
    ]
    if as_root:
        # freshclam drops root for DatabaseOwner (default clamav), who could not write our /tmp directories.
        # Lambda never runs as root, and freshclam ignores DatabaseOwner for other users.
        lines.append(("DatabaseOwner", "root"))
    if is_official_mirror(settings.mirror_url):
        # DNS TXT records give the current versions; daily is brought up to date with cdiffs.
        lines += [("DatabaseMirror", OFFICIAL_MIRROR_HOST), ("ScriptedUpdates", "yes")]
    else:
        # No DNS: freshclam compares each remote CVD header with the local one (If-Modified-Since).
        lines.append(("PrivateMirror", settings.mirror_url.rstrip("/")))
    lines += [("ExcludeDatabase", name) for name in c.OFFICIAL_DATABASES if name not in settings.databases]
    lines += [("DatabaseCustomURL", url) for url in settings.extra_urls]
    return "".join(f"{key} {value}\n" for key, value in lines)


def freshclam_command(settings: UpdaterSettings, config: Path) -> list[str]:
    return [settings.freshclam_binary, f"--config-file={config}", "--stdout"]


def run_freshclam(settings: UpdaterSettings, paths: UpdaterPaths) -> str:
    """Render the config and run freshclam once; a non-zero exit (download, signature or test failure) raises."""
    paths.database_dir.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(render_freshclam_config(settings, paths.database_dir, as_root=os.geteuid() == 0))
    completed = run_tool(freshclam_command(settings, paths.config), settings.freshclam_timeout_s, "freshclam")
    if completed.returncode != 0:
        raise DefinitionsError(f"freshclam failed with exit code {completed.returncode}: {tail(completed)}")
    return completed.stdout


def stage_databases(source: Path, target: Path, required: tuple[str, ...] = ()) -> list[Path]:
    """Link the database files of `source` (not freshclam's state) into `target`; check `required` are there."""
    target.mkdir(parents=True, exist_ok=True)
    staged: list[Path] = []
    for path in sorted(source.iterdir()):
        if is_database_file(path):
            destination = target / path.name
            _link(path, destination)
            staged.append(destination)
    if not staged:
        raise DefinitionsError(f"no database files in {source}")
    names = {p.name for p in staged}
    missing = [db for db in required if f"{db}.cvd" not in names and f"{db}.cld" not in names]
    if missing:
        raise DefinitionsError(f"freshclam did not produce {', '.join(missing)}")
    return staged


def stage_custom(files: list[CustomFile], target: Path) -> tuple[dict[Path, CustomFile], list[Rejection]]:
    """Link the custom files that loaded alone into the set; one named like a file freshclam fetched is rejected."""
    staged: dict[Path, CustomFile] = {}
    rejected: list[Rejection] = []
    for file in files:
        destination = target / file.name
        if destination.exists():
            reason = f"collides with {file.name} fetched by freshclam"
            rejected.append(Rejection(file.key, reason, file.version_id, file.sha256))
            continue
        _link(file.path, destination)
        staged[destination] = file
    return staged, rejected


def _link(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _sha256_b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def publish_directory(
    s3: Any,
    bucket: str,
    directory: Path,
    *,
    previous: Manifest | None,
    engine: str,
    now: datetime | None = None,
    sources: Mapping[str, CustomFile] | None = None,
) -> PublishResult:
    """Upload the set in `directory` (files first, each with S3-checked sha256), then the manifest, last.

    `sources` names the custom files (by file name) and the bucket key and version each was read from; the
    manifest records them. Files identical to the published ones (content and origin) keep their published
    version; an identical set writes nothing. A failure before the manifest is written leaves the published set
    as it was (the manifest pins versions).
    """
    now = now or datetime.now(UTC)
    sources = sources or {}
    described: list[tuple[Path, str, CvdHeader | None]] = []
    for path in sorted(p for p in directory.iterdir() if is_database_file(p)):
        header = read_cvd_header(path) if path.suffix.lower() in CVD_SUFFIXES else None
        described.append((path, sha256_file(path), header))
    if not described:
        raise DefinitionsError(f"no database files to publish in {directory}")
    wanted = {p.name: (s, sources[p.name].key if p.name in sources else None) for p, s, _ in described}
    if previous is not None and {f.name: (f.sha256, f.source_key) for f in previous.files} == wanted:
        return PublishResult(previous, changed=False)
    entries: list[DatabaseFile] = []
    uploaded: list[str] = []
    for path, sha256, header in described:
        size = path.stat().st_size
        known = previous.file(path.name) if previous else None
        source = sources.get(path.name)
        if known is not None and (known.sha256, known.size, known.source_key) == (sha256, size, wanted[path.name][1]):
            entries.append(known)
            continue
        key = f"{DATABASE_PREFIX}{path.name}"
        with path.open("rb") as body:
            reply = s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ChecksumSHA256=_sha256_b64(sha256),
                ContentType="application/octet-stream",
                Metadata={"sha256": sha256},
            )
        entries.append(
            DatabaseFile(
                name=path.name,
                key=key,
                size=size,
                sha256=sha256,
                version_id=reply.get("VersionId"),
                version=header.version if header else None,
                built_at=utc_iso(header.built_at) if header else None,
                source_key=source.key if source else None,
                source_version_id=source.version_id if source else None,
            )
        )
        uploaded.append(path.name)
    built = newest_build([h for _, _, h in described])
    manifest = Manifest(
        files=tuple(entries),
        database_version=database_version([(p.name, s, h) for p, s, h in described]),
        engine=engine,
        created_at=utc_iso(now),
        built_at=utc_iso(built) if built else None,
    )
    document = manifest.to_json()
    s3.put_object(
        Bucket=bucket,
        Key=MANIFEST_KEY,
        Body=document,
        ChecksumSHA256=_sha256_b64(hashlib.sha256(document).hexdigest()),
        ContentType="application/json",
        CacheControl="no-cache",
    )
    return PublishResult(manifest, changed=True, uploaded=tuple(uploaded))


class DefinitionsUpdater:
    """One scheduled run: the team's custom files, seed from the published set, freshclam, verify, publish."""

    def __init__(self, settings: UpdaterSettings, s3_client: Any, sns_client: Any | None = None) -> None:
        self.settings = settings
        self.s3 = s3_client
        self.sns = sns_client
        """Tells the findings topic about rejected custom files (when `settings.findings_topic_arn` is set)."""
        self.paths = UpdaterPaths(settings.work_dir)

    def run(self) -> PublishResult:
        started = time.monotonic()
        previous: Manifest | None = None
        try:
            self._reset()
            previous = self._previous()
            custom = self._custom(previous)
            self._seed(previous)
            output = run_freshclam(self.settings, self.paths)
            logger.info("freshclam finished", extra={"output": output.strip().splitlines()[-OUTPUT_TAIL:]})
            stage_databases(self.paths.database_dir, self.paths.verified_dir, self.settings.databases)
            staged, collisions = stage_custom(custom, self.paths.verified_dir)
            if collisions:
                self._reject(collisions, previous)
            self._verify(staged, previous)
            result = publish_directory(
                self.s3,
                self.settings.definitions_bucket,
                self.paths.verified_dir,
                previous=previous,
                engine=engine_version(self.settings.clamscan_binary),
                sources={path.name: file for path, file in staged.items()},
            )
        except Exception as err:
            count(c.METRIC_DEFINITIONS_PUBLISH_FAILED)
            if previous is not None:
                # The published set keeps ageing while updates fail: the age alarm must see it.
                self._report_age(previous)
            logger.error("definitions update failed; nothing was published", extra={"error": str(err)})
            raise
        finally:
            shutil.rmtree(self.paths.work_dir, ignore_errors=True)
        self._report_age(result.manifest)
        if result.changed:
            count(c.METRIC_DEFINITIONS_PUBLISHED)
        logger.info(
            "definitions published" if result.changed else "definitions unchanged",
            extra={
                "database_version": result.manifest.database_version,
                "uploaded": list(result.uploaded),
                "files": [f.name for f in result.manifest.files],
                "custom": [
                    {"key": f.source_key, "version_id": f.source_version_id} for f in result.manifest.custom_sources
                ],
                "seconds": round(time.monotonic() - started, 1),
            },
        )
        return result

    def _custom(self, previous: Manifest | None) -> list[CustomFile]:
        """The team's files that load alone; any other file under the prefix stops the run (after the finding)."""
        accepted, rejected = CustomCollector(self.settings, self.s3, self.paths.custom_dir).collect()
        if rejected:
            self._reject(rejected, previous)
        return accepted

    def _verify(self, staged: dict[Path, CustomFile], previous: Manifest | None) -> None:
        """Load the merged set once; a custom file it complains about, or without which it loads, is rejected."""
        directory = self.paths.verified_dir
        report = load_database(directory, self.settings.clamscan_binary, self.settings.verify_timeout_s)
        rejected = merged_problems(report, staged)
        if not rejected and not report.loaded and staged:
            for path in staged:
                path.unlink()
            alone = load_database(directory, self.settings.clamscan_binary, self.settings.verify_timeout_s)
            if alone.loaded:
                reason = f"the set does not load with the custom files: {report.output}"
                rejected = [Rejection(f.key, reason, f.version_id, f.sha256) for f in staged.values()]
        if rejected:
            self._reject(rejected, previous)
        if not report.loaded:
            raise DefinitionsError(f"ClamAV cannot load the new set (exit {report.returncode}): {report.output}")

    def _reject(self, rejected: list[Rejection], previous: Manifest | None) -> NoReturn:
        """Count, tell the findings topic, and stop the run: the published set stays as it is."""
        count(c.METRIC_CUSTOM_SIGNATURES_REJECTED, len(rejected))
        bucket = self.settings.definitions_bucket
        message = rejection_message(
            bucket, self.settings.custom_prefixes, rejected, previous, utc_iso(datetime.now(UTC))
        )
        topic = self.settings.findings_topic_arn
        if topic and self.sns is not None:
            publish_finding(self.sns, topic, f"Custom signatures rejected: {bucket}", message)
        elif topic:
            logger.warning("no SNS client: the finding is only logged", extra={"topic": topic})
        logger.error("custom signature files rejected; the published set stays", extra={"finding": message})
        raise CustomSignaturesRejected(rejected)

    def _reset(self) -> None:
        shutil.rmtree(self.paths.work_dir, ignore_errors=True)
        self.paths.work_dir.mkdir(parents=True)

    def _previous(self) -> Manifest | None:
        try:
            return read_manifest(self.s3, self.settings.definitions_bucket)
        except DefinitionsError as err:
            # A manifest scanners cannot use is replaced by this run's.
            logger.warning("published manifest unusable; publishing a complete set", extra={"error": str(err)})
            return None

    def _seed(self, previous: Manifest | None) -> None:
        """Start freshclam from the published CVDs: it then fetches only newer ones (the CDN rate-limits).

        Only CVD/CLD files: freshclam compares their headers' versions. Extra signature files are compared by
        the local file's mtime (If-Modified-Since), which a fresh download would fake, so they are fetched anew.
        """
        self.paths.database_dir.mkdir(parents=True, exist_ok=True)
        if previous is None:
            return
        cvds = tuple(f for f in previous.files if Path(f.name).suffix.lower() in {".cvd", ".cld"})
        if not cvds:
            return
        try:
            subset = dataclasses.replace(previous, files=cvds)
            seeded = download_set(self.s3, self.settings.definitions_bucket, subset, self.paths.seed_dir)
        except DefinitionsError as err:
            logger.warning("cannot seed from the published set; downloading everything", extra={"error": str(err)})
            return
        for path in seeded.iterdir():
            path.rename(self.paths.database_dir / path.name)

    @staticmethod
    def _report_age(manifest: Manifest) -> None:
        report_age(manifest.age_hours(datetime.now(UTC)))
