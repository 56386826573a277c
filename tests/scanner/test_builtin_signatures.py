"""The scanner's own signatures (archives.NESTED_SIGNATURES) are loaded beside every database and stay silent on
ordinary content: only formats ClamAV cannot open make them fire."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import tarfile
import zipfile
from pathlib import Path

import pytest

from scanner import archives
from scanner.clamd import ClamdDaemon
from scanner.verdict import ScanStatus, verdict_from_reply


def _zip(data: bytes, method: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr("member.bin", data)
    return buffer.getvalue()


def _tar_of_libraries() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(Path("/usr/lib/x86_64-linux-gnu").glob("lib*.so*"))[:60]:
            if buffer.tell() > 32 * 1024**2:
                break
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 4 * 1024**2:
                archive.add(path, arcname=path.name)
    return buffer.getvalue()


RANDOM = random.Random(5).randbytes(4 * 1024**2)
TEXT = b"".join(f"line {i}, invoice {i * 7}, total {i * 3.5:.2f}\n".encode() for i in range(60_000))
ORDINARY = {
    "random": RANDOM,
    "text": TEXT,
    "elf": Path("/bin/ls").read_bytes(),
    "tar-of-libraries": _tar_of_libraries(),
    "zip-deflate": _zip(TEXT, zipfile.ZIP_DEFLATED),
    "zip-bzip2": _zip(RANDOM[:100_000], zipfile.ZIP_BZIP2),
    "gzip": gzip.compress(TEXT),
    "bzip2": bz2.compress(TEXT),
    "xz": lzma.compress(TEXT),
}


@pytest.mark.parametrize("name", list(ORDINARY))
def test_builtin_signatures_stay_silent_on_ordinary_content(clamd_daemon: ClamdDaemon, name: str) -> None:
    loaded = {p.name for p in clamd_daemon.paths.database_view.iterdir()}
    assert set(archives.NESTED_SIGNATURES) <= loaded, "the scanner's clamd loads its own signatures"
    reply, _ = clamd_daemon.client.instream(io.BytesIO(ORDINARY[name]))
    assert reply == "stream: OK", f"{name}: {reply}"


def test_a_format_clamav_cannot_open_is_unscannable_not_clean(clamd_daemon: ClamdDaemon) -> None:
    lzma_alone = lzma.compress(b"anything at all, unseen by ClamAV\n" * 100, format=lzma.FORMAT_ALONE)
    reply, _ = clamd_daemon.client.instream(io.BytesIO(lzma_alone))
    verdict = verdict_from_reply(reply)
    assert (verdict.status, verdict.detail) == (ScanStatus.UNSCANNABLE, "unsupported-archive:lzma")
