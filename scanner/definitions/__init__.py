"""Virus definitions: the updater publishes verified ClamAV databases to S3; scanners fetch and switch to them."""

from __future__ import annotations

from scanner.definitions.fetch import download_set, prune, read_manifest
from scanner.definitions.manifest import MANIFEST_KEY, DatabaseFile, Manifest, read_cvd_header
from scanner.definitions.publish import DefinitionsUpdater, PublishResult, publish_directory, render_freshclam_config
from scanner.definitions.watcher import DefinitionsWatcher

__all__ = [
    "MANIFEST_KEY",
    "DatabaseFile",
    "DefinitionsUpdater",
    "DefinitionsWatcher",
    "Manifest",
    "PublishResult",
    "download_set",
    "prune",
    "publish_directory",
    "read_cvd_header",
    "read_manifest",
    "render_freshclam_config",
]
