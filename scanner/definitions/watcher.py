"""Keep one execution environment's clamd on the published definitions.

Cold start: download the published set before clamd starts (or fall back to the image's database). Warm: at
most every `check_interval_s`, read the manifest; when its content differs, download the new set into a fresh
directory and stage it (check()). The runtime then starts a second clamd on the staged set beside the one that
keeps scanning, and switches to it between invocations once it answers (accept()), or drops it if it cannot load
the set (reject()): scans never stall, and every verdict's scan-engine names the database of the process that
gave it. When anything fails, clamd keeps the set it has and DefinitionsUpdateFailed is counted.

Blue-green rather than RELOAD: with ConcurrentDatabaseReload clamd answers RELOAD before the new engine is in
place, so a verdict could not be attributed to a database version; without it, scanning stalls for the whole
load. The price is the same as ConcurrentDatabaseReload's: two engines in memory while the new one loads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scanner import constants as c
from scanner.config import Settings
from scanner.definitions.fetch import DEFAULT_WORKERS, download_set, prune, read_manifest
from scanner.definitions.manifest import Manifest, directory_built_at
from scanner.definitions.reporting import count, report_age
from scanner.exceptions import DefinitionsError
from scanner.observability import logger


@dataclass(frozen=True)
class Staged:
    """A downloaded, verified set waiting for a clamd to load it."""

    manifest: Manifest
    directory: Path
    staged_at: float


class DefinitionsWatcher:
    """The published set this environment's clamd runs on, and when to look for a newer one."""

    def __init__(
        self,
        s3_client: Any,
        bucket: str,
        root: Path,
        check_interval_s: float,
        *,
        image_database_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        self.s3 = s3_client
        self.bucket = bucket
        self.root = root
        """Downloaded sets live in `root/set-*` directories."""
        self.check_interval_s = check_interval_s
        self.image_database_dir = image_database_dir
        """The database baked into the image, used until a published set is ready (its age is reported too)."""
        self.clock = clock
        """Seconds since the epoch; tests inject their own."""
        self.workers = workers
        self.manifest: Manifest | None = None
        """The set clamd runs on; None while it runs on the image's database."""
        self.prepared = False
        self._checked_at: float | None = None
        self._rejected: str | None = None
        """Digest of a set clamd could not load: not downloaded again until a different one is published."""

    @classmethod
    def from_settings(
        cls, settings: Settings, s3_client: Any, *, clock: Callable[[], float] = time.time
    ) -> DefinitionsWatcher:
        if not settings.definitions_bucket:
            raise ValueError("no definitions bucket configured")
        return cls(
            s3_client,
            settings.definitions_bucket,
            settings.definitions_dir,
            settings.definitions_check_minutes * 60,
            image_database_dir=settings.clamd.database_dir,
            clock=clock,
        )

    def prepare(self) -> Path | None:
        """Cold start: the published set, downloaded and verified; None to start on the image's database."""
        self.prepared = True
        self._checked_at = self.clock()
        try:
            manifest = read_manifest(self.s3, self.bucket)
            if manifest is None:
                logger.warning("no definitions published yet: image database", extra={"bucket": self.bucket})
                self._report_age(None)
                return None
            directory = download_set(self.s3, self.bucket, manifest, self.root, workers=self.workers)
        except Exception as err:  # noqa: BLE001 - definitions must never stop scanning
            self._failed("cold start: using the image's database", err)
            self._report_age(None)
            return None
        self.manifest = manifest
        prune(self.root, keep=[directory])
        logger.info("definitions ready", extra=self._fields(manifest))
        self._report_age(manifest)
        return directory

    def reject_current(self, err: BaseException) -> None:
        """clamd could not load the set prepare() chose: never that set again; back to the image's database.

        Called at cold start, so one bad published set cannot brick every new execution environment; the next
        check looks for a newer set as usual.
        """
        if self.manifest is not None:
            self._rejected = self.manifest.digest
        self._failed("clamd cannot load the published set: using the image's database", err)
        self.manifest = None
        prune(self.root, keep=[])
        self._report_age(None)

    def due(self) -> bool:
        return self._checked_at is None or self.clock() - self._checked_at >= self.check_interval_s

    def check(self) -> Staged | None:
        """When a check is due: a newer published set, downloaded and verified, for a new clamd to load; else None.

        The current clamd keeps scanning meanwhile; accept() or reject() settles the staged set.
        """
        if not self.due():
            return None
        self._checked_at = self.clock()
        try:
            manifest = read_manifest(self.s3, self.bucket)
            if manifest is None or (self.manifest is not None and manifest.digest == self.manifest.digest):
                self._report_age(self.manifest)
                return None
            if manifest.digest == self._rejected:
                raise DefinitionsError(f"{manifest.database_version} was rejected by clamd before; waiting for another")
            directory = download_set(self.s3, self.bucket, manifest, self.root, workers=self.workers)
        except Exception as err:  # noqa: BLE001 - definitions must never stop scanning
            self._failed("update failed: scanning with the current definitions", err)
            self._report_age(self.manifest)
            return None
        return Staged(manifest, directory, time.monotonic())

    def accept(self, staged: Staged) -> None:
        """A new clamd answers on the staged set: it is the set from now on; older sets are removed."""
        old = self.manifest
        self.manifest = staged.manifest
        prune(self.root, keep=[staged.directory])
        count(c.METRIC_DEFINITIONS_RELOADED)
        logger.info(
            "definitions switched",
            extra={
                **self._fields(staged.manifest),
                "previous": old.database_version if old else "image",
                "load_ms": round((time.monotonic() - staged.staged_at) * 1000),
            },
        )
        self._report_age(staged.manifest)

    def reject(self, staged: Staged, current_dir: Path | None, err: BaseException) -> None:
        """clamd could not load the staged set: never that set again; the current one stays."""
        self._rejected = staged.manifest.digest
        self._failed("clamd cannot load the new set: keeping the current one", err)
        prune(self.root, keep=[current_dir])
        self._report_age(self.manifest)

    def _report_age(self, manifest: Manifest | None) -> None:
        now = datetime.fromtimestamp(self.clock(), UTC)
        if manifest is not None:
            report_age(manifest.age_hours(now))
            return
        # On the image's database: its CVD headers still say how old it is.
        built = directory_built_at(self.image_database_dir) if self.image_database_dir else None
        if built is not None:
            report_age(max(0.0, (now - built).total_seconds() / 3600))

    def _failed(self, message: str, err: BaseException) -> None:
        count(c.METRIC_DEFINITIONS_UPDATE_FAILED)
        logger.error(message, extra={"error": str(err), "bucket": self.bucket})

    @staticmethod
    def _fields(manifest: Manifest) -> dict[str, Any]:
        return {
            "database_version": manifest.database_version,
            "published_at": manifest.created_at,
            "files": [f.name for f in manifest.files],
        }
