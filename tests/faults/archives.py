"""Hostile archives built on the fly: bombs, deep nesting, too many members, encryption."""

from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
import tempfile
import uuid
import zipfile
from pathlib import Path


def zipped(members: dict[str, bytes], *, stored: bool = False) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def unique(text: str = "payload") -> bytes:
    """Content never seen before: clamd's clean-file cache cannot answer for it."""
    return f"{text} {uuid.uuid4()}\n".encode()


def zip_bomb(expanded: int) -> bytes:
    """One member of `expanded` zero bytes (deflate shrinks it ~1000 times)."""
    return zipped({"zeros.bin": b"\0" * expanded})


def gzip_bomb(expanded: int) -> bytes:
    return gzip.compress(b"\0" * expanded, compresslevel=9)


def tar_gz_bomb(expanded: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("zeros.bin")
        info.size = expanded
        archive.addfile(info, io.BytesIO(b"\0" * expanded))
    return buffer.getvalue()


def wide_zip(members: int, each: int) -> bytes:
    """`members` members of `each` zero bytes: small alone, too much together (42.zip's first level)."""
    return zipped({f"part-{i}.bin": b"\0" * each + unique() for i in range(members)})


def many_members_zip(members: int) -> bytes:
    return zipped({f"f{i}": b"x" for i in range(members)}, stored=True)


def nested_zip(depth: int, innermost: bytes) -> bytes:
    """`innermost` inside `depth` levels of zip."""
    data = innermost
    for level in range(depth, 0, -1):
        data = zipped({f"level-{level}.{'zip' if level < depth else 'bin'}": data})
    return data


def encrypted_zip(members: dict[str, bytes], password: str = "infected") -> bytes:
    """A ZipCrypto archive made by Info-ZIP's `zip -P` (Python's zipfile cannot write encrypted members)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, data in members.items():
            (root / name).write_bytes(data)
        subprocess.run(["zip", "-q", "-P", password, "out.zip", *members], cwd=root, check=True)
        return (root / "out.zip").read_bytes()
