"""Archive samples for tests/scanner/test_archives.py, built from Python and the tools scripts/dev installs.

Every builder takes the member's content: tests pass `infected_payload()` (EICAR between compressible lines, so a
compressed member never shows EICAR in the archive's raw bytes) or `clean_payload()`. Tools: `zip` (Info-ZIP),
`7zz` (Debian's 7zip), `rar` (non-free); RAR4 samples come from clamav-testfiles-rar (non-free), whose members
are the ClamAV test file that tests/signatures/test.hdb matches by hash.
"""

from __future__ import annotations

import bz2
import io
import lzma
import shutil
import struct
import subprocess
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from tests.support.clamd import EICAR, TESTFILES, require_binary

RAR4_SAMPLES = (TESTFILES / "clam-v2.rar", TESTFILES / "clam-v3.rar")  # RAR 2.0 and 2.9 (RAR4 format) methods
MEMBER = "member.txt"


def clean_payload() -> bytes:
    return b"".join(b"line %d of a compressible text file\n" % i for i in range(3000))


def infected_payload() -> bytes:
    text = clean_payload()
    return text + EICAR + b"\n" + text


def contains_eicar(data: bytes) -> bool:
    return EICAR in data


# ---------------------------------------------------------------------------------------------------------------
# What clients extract.


def zipfile_extract(data: bytes) -> bytes:
    """Python's zipfile (central directory, like Info-ZIP and 7-Zip): every member it can read, concatenated."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return b"".join(archive.read(info) for info in archive.infolist())
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, lzma.LZMAError, zlib.error):
        return b""


def stream_extract(data: bytes) -> bytes:
    """libarchive reading a ZIP from a pipe (`... | bsdtar -xOf -`): local headers in order, no central directory."""
    command = [require_binary("bsdtar"), "-xOf", "-"]
    return subprocess.run(command, input=data, capture_output=True, check=False).stdout


# ---------------------------------------------------------------------------------------------------------------
# ZIP.


def zip_python(payload: bytes, method: int = zipfile.ZIP_DEFLATED, **kwargs: bool) -> bytes:
    """Python's zipfile; `force_zip64=True` writes ZIP64 local headers."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        if kwargs:
            with archive.open(MEMBER, "w", **kwargs) as member:
                member.write(payload)
        else:
            archive.writestr(MEMBER, payload)
    return out.getvalue()


class _Unseekable(io.RawIOBase):
    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def zip_python_streamed(payload: bytes) -> bytes:
    """zipfile writing to an unseekable stream: data descriptors (flag bit 3), zero sizes in the local header."""
    out = _Unseekable()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        archive.writestr(MEMBER, payload)
    return bytes(out.data)


def zip_7zz(tmp: Path, payload: bytes, method: str) -> bytes:
    """7-Zip writing a ZIP with -mm=<method> (Copy, Deflate, Deflate64, BZip2, LZMA, PPMd)."""
    return _tool_archive(tmp, payload, "archive.zip", [require_binary("7zz"), "a", "-bso0", "-tzip", f"-mm={method}"])


def zip_infozip(tmp: Path, payload: bytes) -> bytes:
    return _tool_archive(tmp, payload, "archive.zip", [require_binary("zip"), "-q"])


def zip_infozip_stdin(tmp: Path, payload: bytes) -> bytes:
    """`... | zip archive.zip -`: Info-ZIP streams the member with ZIP64 local sizes (0xFFFFFFFF)."""
    target = tmp / "stdin.zip"
    target.unlink(missing_ok=True)
    subprocess.run([require_binary("zip"), "-q", str(target), "-"], input=payload, check=True)
    return target.read_bytes()


def zip_ooxml_like(payload: bytes) -> bytes:
    """A .docx-like ZIP: [Content_Types].xml first, stored and deflated parts."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b'<?xml version="1.0"?><Types/>')
        archive.writestr("_rels/.rels", b"<Relationships/>")
        archive.writestr("word/document.xml", payload)
        archive.writestr(zipfile.ZipInfo("word/media/"), b"")
        archive.writestr("word/media/image1.png", b"\x89PNG\r\n\x1a\n" + bytes(200), zipfile.ZIP_STORED)
    return out.getvalue()


def zip_jar_like(payload: bytes) -> bytes:
    """A .jar-like ZIP: META-INF/ directory and manifest first, members with data descriptors (as `jar` writes)."""
    out = _Unseekable()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        archive.writestr(zipfile.ZipInfo("META-INF/"), b"")
        archive.writestr("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\n\r\n")
        archive.writestr("com/example/Main.class", b"\xca\xfe\xba\xbe" + bytes(100))
        archive.writestr("com/example/data.txt", payload)
    return bytes(out.data)


def zip_long_comment(payload: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MEMBER, payload)
        archive.comment = b"c" * 0xFFFF
    return out.getvalue()


def zip_many_entries(payload: bytes, count: int = 70_000) -> bytes:
    """More than 65535 entries: Python writes ZIP64 end records (32-bit fields still valid below 4 GiB)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for index in range(count):
            archive.writestr(f"e{index}", b"")
        archive.writestr(MEMBER, payload, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def empty_zip() -> bytes:
    out = io.BytesIO()
    zipfile.ZipFile(out, "w").close()
    return out.getvalue()


def _central_directory_start(data: bytes) -> int:
    return data.rfind(b"PK\x01\x02", 0, data.rfind(b"PK\x05\x06"))


def _first_central(data: bytes) -> int:
    end = data.rfind(b"PK\x05\x06")
    return int(struct.unpack_from("<I", data, end + 16)[0])


def strip_central_directory(data: bytes) -> bytes:
    """Only the local headers and data: what a ZIP cut before its central directory looks like."""
    return data[: _first_central(data)]


def patch_local(data: bytes, *, method: int | None = None, flags_or: int = 0, csize: int | None = None) -> bytes:
    """Change the first local header (the central directory keeps the true values)."""
    out = bytearray(data)
    if method is not None:
        struct.pack_into("<H", out, 8, method)
    if flags_or:
        struct.pack_into("<H", out, 6, struct.unpack_from("<H", out, 6)[0] | flags_or)
    if csize is not None:
        struct.pack_into("<I", out, 18, csize)
    return bytes(out)


def local_csize(data: bytes) -> int:
    return int(struct.unpack_from("<I", data, 18)[0])


def patch_local_stored_with_equal_sizes(data: bytes) -> bytes:
    """Local header says stored with usize == csize, the central directory says deflate (extractors inflate)."""
    out = bytearray(patch_local(data, method=0))
    struct.pack_into("<I", out, 22, local_csize(data))
    return bytes(out)


def patch_central(data: bytes, *, flags_or: int = 0) -> bytes:
    out = bytearray(data)
    at = _first_central(data)
    struct.pack_into("<H", out, at + 8, struct.unpack_from("<H", out, at + 8)[0] | flags_or)
    return bytes(out)


def insert_unlisted_entry(listed: bytes, hidden: bytes) -> bytes:
    """`hidden`'s local entry inserted after `listed`'s data; the central directory (shifted) lists only `listed`.
    Streaming readers (libarchive) extract both; cli_unzip() follows the central directory."""
    hidden_entry = hidden[: _first_central(hidden)]
    cd_at = _first_central(listed)
    shift = len(hidden_entry)
    out = bytearray(listed[:cd_at] + hidden_entry + listed[cd_at:])
    end = out.rfind(b"PK\x05\x06")
    struct.pack_into("<I", out, end + 16, cd_at + shift)
    return bytes(out)


# ---------------------------------------------------------------------------------------------------------------
# 7z.


def sevenzip_7zz(tmp: Path, payload: bytes, *switches: str) -> bytes:
    """7-Zip writing a 7z: no switches = its defaults (LZMA2, compressed header); e.g. "-m0=BZip2", or a filter
    chain "-m0=ARM64", "-m1=LZMA2"."""
    return _tool_archive(tmp, payload, "archive.7z", [require_binary("7zz"), "a", "-bso0", "-t7z", *switches])


def sevenzip_7zz_many(tmp: Path, payload: bytes, count: int = 30) -> bytes:
    """7-Zip defaults on `payload` and `count` small files: enough names for 7-Zip to compress the header."""
    work = tmp / f"many-{len(list(tmp.glob('many-*')))}"
    work.mkdir(parents=True)
    (work / MEMBER).write_bytes(payload)
    for index in range(count):
        (work / f"file{index}.txt").write_bytes(b"file %d\n" % index)
    subprocess.run([require_binary("7zz"), "a", "-bso0", "-t7z", "archive.7z", "."], cwd=work, check=True)
    data = (work / "archive.7z").read_bytes()
    shutil.rmtree(work)
    return data


def sevenzip_extract(tmp: Path, data: bytes, member: str | None = None) -> bytes:
    """What 7-Zip extracts (every member, or `member`, concatenated): a client's view of a 7z or ZIP."""
    path = tmp / "extract.bin"
    path.write_bytes(data)
    command = [require_binary("7zz"), "e", "-so", str(path), *([member] if member else [])]
    return subprocess.run(command, capture_output=True, check=False).stdout


def _number(value: int) -> bytes:
    """7z's variable-length number (7zIn.c SzReadNumber)."""
    for extra in range(8):
        if value < 1 << (8 * extra + 7 - extra):
            first = ((0xFF << (8 - extra)) & 0xFF) | (value >> (8 * extra))
            return bytes([first]) + (value & ((1 << (8 * extra)) - 1)).to_bytes(extra, "little")
    return b"\xff" + value.to_bytes(8, "little")


def sevenzip_solid(files: list[tuple[str, bytes | tuple[bytes, int]]]) -> bytes:
    """A 7z with one solid LZMA2 folder and an unencoded header, written by hand. A file is (name, content) or
    (name, (one_lzma2_stream_without_end_marker, size)) for content compressed once and repeated cheaply."""
    filters = [{"id": lzma.FILTER_LZMA2, "dict_size": 1 << 20, "preset": 1}]
    packed = bytearray()
    sizes: list[int] = []
    crcs: list[int] = []
    for _, content in files:
        if isinstance(content, tuple):
            stream, size = content
            packed += stream
            sizes.append(size)
            crcs.append(_zero_crc(size))
        else:
            packed += lzma.compress(content, format=lzma.FORMAT_RAW, filters=filters)[:-1]
            sizes.append(len(content))
            crcs.append(zlib.crc32(content))
    packed += b"\x00"  # LZMA2 end marker
    names = b"".join(name.encode("utf-16-le") + b"\x00\x00" for name, _ in files)
    header = b"".join(
        [
            b"\x01\x04",  # kHeader, kMainStreamsInfo
            b"\x06" + _number(0) + _number(1) + b"\x09" + _number(len(packed)) + b"\x00",  # kPackInfo
            b"\x07\x0b" + _number(1) + b"\x00",  # kUnpackInfo, kFolder, 1 folder, not external
            b"\x01\x21\x21" + _number(1) + b"\x10",  # 1 coder: LZMA2 (id 0x21), property: 1 MiB dictionary
            b"\x0c" + _number(sum(sizes)) + b"\x00",  # kCodersUnpackSize, kEnd
            b"\x08\x0d" + _number(len(files)),  # kSubStreamsInfo, kNumUnpackStream
            b"\x09" + b"".join(_number(s) for s in sizes[:-1]),  # kSize
            b"\x0a\x01" + b"".join(struct.pack("<I", c) for c in crcs) + b"\x00",  # kCRC, all defined; kEnd
            b"\x00",  # end of streams info
            b"\x05" + _number(len(files)),  # kFilesInfo
            b"\x11" + _number(len(names) + 1) + b"\x00" + names,  # kName
            b"\x00\x00",  # end of files info, end of header
        ]
    )
    return _start_header(len(packed), header) + bytes(packed) + header


def encode_header_bzip2(data: bytes) -> bytes:
    """A 7z with a plain header (sevenzip_solid) rewritten with its header compressed by BZip2, which 7-Zip reads
    and ClamAV cannot: it then unpacks nothing of the archive."""
    offset, length, _ = struct.unpack_from("<QQI", data, 12)
    body, header = data[32 : 32 + offset], data[32 + offset : 32 + offset + length]
    packed = bz2.compress(header)
    encoded = b"".join(
        [
            b"\x17\x06" + _number(len(body)) + _number(1) + b"\x09" + _number(len(packed)) + b"\x00",
            b"\x07\x0b" + _number(1) + b"\x00" + b"\x01\x03\x04\x02\x02",  # 1 folder, 1 coder: BZip2 (040202)
            b"\x0c" + _number(len(header)) + b"\x0a\x01" + struct.pack("<I", zlib.crc32(header)) + b"\x00",
            b"\x00",
        ]
    )
    return _start_header(len(body) + len(packed), encoded) + body + packed + encoded


def sevenzip_with_header(header: bytes) -> bytes:
    """A 7z of nothing but the given (plain) header, e.g. a hostile one."""
    return _start_header(0, header) + header


def number(value: int) -> bytes:
    return _number(value)


def _start_header(next_offset: int, next_header: bytes) -> bytes:
    fields = struct.pack("<QQI", next_offset, len(next_header), zlib.crc32(next_header))
    return b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<I", zlib.crc32(fields)) + fields


_ZERO_CRCS: dict[int, int] = {}


def _zero_crc(size: int) -> int:
    if size not in _ZERO_CRCS:
        crc, block = 0, bytes(1 << 20)
        for _ in range(size >> 20):
            crc = zlib.crc32(block, crc)
        _ZERO_CRCS[size] = zlib.crc32(bytes(size & ((1 << 20) - 1)), crc)
    return _ZERO_CRCS[size]


def zeros_lzma2(size: int) -> tuple[bytes, int]:
    """`size` zero bytes as one LZMA2 stream without its end marker (it resets the dictionary, so it can follow
    another stream inside one folder)."""
    filters = [{"id": lzma.FILTER_LZMA2, "dict_size": 1 << 20, "preset": 1}]
    compressor = lzma.LZMACompressor(format=lzma.FORMAT_RAW, filters=filters)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(size >> 20)]
    parts.append(compressor.compress(bytes(size & ((1 << 20) - 1))))
    parts.append(compressor.flush())
    return b"".join(parts)[:-1], size


def sevenzip_folder_over_1gib(payload: bytes) -> bytes:
    """One solid folder of 1.05 GiB: `payload`, then 21 files of 50 MiB of zeros (each below clamd's 64 MiB test
    limits). ClamAV must allocate the whole folder (limit 1 GiB) to unpack any file of it; 7-Zip streams it."""
    zeros = zeros_lzma2(50 * 1024 * 1024)
    files: list[tuple[str, bytes | tuple[bytes, int]]] = [(MEMBER, payload)]
    files += [(f"zeros{index}.bin", zeros) for index in range(21)]
    return sevenzip_solid(files)


# ---------------------------------------------------------------------------------------------------------------
# RAR.


def rar5(tmp: Path, payload: bytes) -> bytes:
    """`rar` 7.x writes RAR5 (it cannot write RAR4 any more; RAR4 samples: RAR4_SAMPLES)."""
    return _tool_archive(tmp, payload, "archive.rar", [require_binary("rar"), "a", "-inul", "-ma5"])


def rar_extract(tmp: Path, data: bytes) -> bytes:
    path = tmp / "extract.rar"
    path.write_bytes(data)
    result = subprocess.run([require_binary("rar"), "p", "-inul", str(path)], capture_output=True, check=False)
    return result.stdout


# ---------------------------------------------------------------------------------------------------------------


def _tool_archive(tmp: Path, payload: bytes, archive_name: str, command: list[str]) -> bytes:
    work = tmp / f"build-{len(list(tmp.glob('build-*')))}"
    work.mkdir(parents=True)
    (work / MEMBER).write_bytes(payload)
    subprocess.run([*command, archive_name, MEMBER], cwd=work, check=True, stdout=subprocess.DEVNULL)
    data = (work / archive_name).read_bytes()
    shutil.rmtree(work)
    return data


Builder = Callable[[Path, bytes], bytes]
