"""Read the published manifest and download the set it names: in parallel, into a fresh directory, verified.

A set's directory gets its final name only once every file in it matched the manifest (size and sha256), by
one rename; until then it is `.partial-*`. clamd is never pointed at a directory that is still being written.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scanner.definitions.manifest import MANIFEST_KEY, SET_PREFIX, DatabaseFile, Manifest
from scanner.exceptions import DefinitionsError

PARTIAL_PREFIX = ".partial-"
DEFAULT_WORKERS = 8
_CHUNK = 1024 * 1024
_NOT_PUBLISHED = frozenset({"NoSuchKey", "404", "NotFound"})


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", "ClientError"))


def read_manifest(s3: Any, bucket: str) -> Manifest | None:
    """The published manifest, or None when nothing was published yet; DefinitionsError for anything else."""
    try:
        body = s3.get_object(Bucket=bucket, Key=MANIFEST_KEY)["Body"].read()
    except ClientError as err:
        if _code(err) in _NOT_PUBLISHED:
            return None
        raise DefinitionsError(f"s3://{bucket}/{MANIFEST_KEY}: {_code(err)}") from err
    except BotoCoreError as err:
        raise DefinitionsError(f"s3://{bucket}/{MANIFEST_KEY}: {err}") from err
    return Manifest.from_json(body)


def download_file(s3: Any, bucket: str, entry: DatabaseFile, directory: Path) -> Path:
    """Stream one file (the pinned version when the manifest has one) to `directory`, checking size and sha256."""
    args = {"Bucket": bucket, "Key": entry.key}
    if entry.version_id:
        args["VersionId"] = entry.version_id
    target = directory / entry.name
    digest = hashlib.sha256()
    size = 0
    try:
        body = s3.get_object(**args)["Body"]
        with target.open("wb") as out:
            while chunk := body.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except ClientError as err:
        raise DefinitionsError(f"s3://{bucket}/{entry.key}: {_code(err)}") from err
    except BotoCoreError as err:
        raise DefinitionsError(f"s3://{bucket}/{entry.key}: {err}") from err
    if size != entry.size:
        raise DefinitionsError(f"{entry.name}: {size} bytes downloaded, the manifest says {entry.size}")
    if digest.hexdigest() != entry.sha256:
        raise DefinitionsError(f"{entry.name}: sha256 {digest.hexdigest()} differs from the manifest's {entry.sha256}")
    return target


def download_set(s3: Any, bucket: str, manifest: Manifest, root: Path, *, workers: int = DEFAULT_WORKERS) -> Path:
    """Download every file of `manifest` into `root/<manifest.directory_name>`; return that directory.

    A directory with that name already holds this exact set (it is only ever created by the final rename).
    On any failure the partial directory is removed and DefinitionsError raised.
    """
    final = root / manifest.directory_name
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=root))
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(manifest.files)))) as pool:
            futures = [pool.submit(download_file, s3, bucket, entry, staging) for entry in manifest.files]
            for future in futures:
                future.result()
        staging.rename(final)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise DefinitionsError(f"cannot write definitions under {root}: {err}") from err
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def prune(root: Path, keep: Iterable[Path | None]) -> list[Path]:
    """Remove the set directories under `root` except `keep` (old sets, leftovers of failed downloads).

    Only directories this module creates (`set-*`, `.partial-*`) are candidates, whatever else `root` holds.
    """
    kept = {p.resolve() for p in keep if p is not None}
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for path in root.iterdir():
        ours = path.name.startswith((SET_PREFIX, PARTIAL_PREFIX))
        if ours and path.is_dir() and not path.is_symlink() and path.resolve() not in kept:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
