"""Pack database files into an unsigned ClamAV container (`.cud`): what main.cvd / daily.cvd are, minus the signature.

A `.cud` is a `.cvd` without the digital signature: a 512-byte `ClamAV-VDB:` header, then a gzip-compressed
ustar archive whose first member `<name>.info` repeats the header and lists every file with its size and
SHA-256. clamd loads it like a `.cvd` (decompress, hash every file, parse), skipping only the RSA check, and
takes the engine's database version (VERSION) from the header of the one named `daily`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import time
from pathlib import Path

FUNCTIONALITY_LEVEL = 90


def header(version: int, signatures: int, built: int, builder: str = "bench") -> str:
    stamp = time.strftime("%d %b %Y %H-%M +0000", time.gmtime(built))
    return f"ClamAV-VDB:{stamp}:{version}:{signatures}:{FUNCTIONALITY_LEVEL}:{'0' * 32}:unsigned:{builder}:{built}"


def pack(target: Path, files: list[Path], version: int, signatures: int, built: int, level: int = 6) -> Path:
    """Write `target` (e.g. daily.cud) holding `files`, then remove them."""
    head = header(version, signatures, built)
    info_lines = [head]
    for path in files:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        info_lines.append(f"{path.name}:{path.stat().st_size}:{digest.hexdigest()}")
    info = ("\n".join(info_lines) + "\n").encode()
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as raw:
        raw.write(head.encode().ljust(512, b" "))
        with (
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level, mtime=built) as zipped,
            tarfile.open(fileobj=zipped, mode="w|", format=tarfile.USTAR_FORMAT) as archive,
        ):
            _add(archive, f"{target.stem}.info", io.BytesIO(info), len(info), built)
            for path in files:
                with path.open("rb") as handle:
                    _add(archive, path.name, handle, path.stat().st_size, built)
    partial.rename(target)
    for path in files:
        path.unlink()
    return target


def _add(archive: tarfile.TarFile, name: str, data: io.IOBase, size: int, mtime: int) -> None:
    member = tarfile.TarInfo(name)
    member.size = size
    member.mtime = mtime
    member.mode = 0o644
    member.uname = member.gname = "clamav"
    archive.addfile(member, data)  # type: ignore[arg-type]


def read_header(path: Path) -> dict[str, str]:
    """The fields of a container's header (version, signatures, builder...)."""
    fields = path.read_bytes()[:512].decode("ascii", "replace").strip().split(":")
    return {"version": fields[2], "signatures": fields[3], "builder": fields[7], "built": fields[8]}
