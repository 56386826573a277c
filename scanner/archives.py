"""Archives clamd answers OK for without having looked inside: ZIP, 7z and RAR content ClamAV 1.4 cannot unpack.

clamd's OK only covers what libclamav unpacked. Its ZIP, 7z and RAR readers silently skip members (or whole
archives) that use a method they do not implement, that they cannot locate, or that they read differently from
ordinary extractors (Python's zipfile, Info-ZIP, 7-Zip, libarchive). `ArchiveInspector` watches the bytes streamed to
clamd and, after an OK, names the first such blind spot as an `unsupported-archive:<what>` reason. What ClamAV does
and does not read is taken from its source (tag clamav-1.4.5, the newest 1.4 tag upstream; Debian ships 1.4.6,
whose readers the tests in tests/scanner/test_archives.py check against the real clamd):

- libclamav/unzip.c `cli_unzip()`, `index_the_central_directory()`, `parse_local_file_header()`, `unz()`:
  ZIPs are read only through the end record found scanning backwards from the end, at the raw 32-bit offsets
  it gives (no ZIP64, no offset correction for prepended data); each member with the method, flags and sizes
  of its *local* header; no central directory means nothing is unpacked.
- libclamav/scanners.c `scanraw()`: a ZIP that does not start at byte 0 is read member by member from each
  local header (`cli_unzip_single()`), skipping members with a data descriptor.
- libclamav/7z/7zIn.c `SzArEx_Open2()` / `SzReadHeader2()` and libclamav/7z/7zDec.c `CheckSupportedFolder()`:
  the 7z header must parse, and every folder must use one of a few coder chains.
- libclamav/others.c `rarload()`: RAR needs libclamunrar_iface, loaded at run time; without it RAR is never unpacked.

Cost: an object's first bytes decide. Anything that is not ZIP/7z/RAR only keeps references to its last chunks
(for a ZIP end record behind prepended data) and pays one bounded `rfind` at the end. ZIPs record their header
signatures while streaming; 7z keeps its header's bytes; every buffer is bounded.
"""

from __future__ import annotations

import bisect
import ctypes
import lzma
import os
import struct
import sysconfig
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

REASON_PREFIX = "unsupported-archive:"

# ---------------------------------------------------------------------------------------------------------------
# What ClamAV 1.4 unpacks.

# ZIP compression methods `unz()` decompresses (libclamav/unzip.c, clamav-1.4.5: the ALG_STORED, ALG_DEFLATE,
# ALG_DEFLATE64, ALG_BZIP2 and ALG_IMPLODE cases; every other method, ALG_LZMA and ALG_PPMD included, falls through
# to "unsupported method"). Method numbers: PKWARE APPNOTE.TXT 4.4.5.
ZIP_SUPPORTED_METHODS: dict[int, str] = {0: "stored", 6: "implode", 8: "deflate", 9: "deflate64", 12: "bzip2"}
ZIP_METHOD_NAMES: dict[int, str] = {
    **ZIP_SUPPORTED_METHODS,
    **{1: "shrink", 2: "reduce", 3: "reduce", 4: "reduce", 5: "reduce", 7: "tokenize", 10: "terse", 14: "lzma"},
    **{16: "ibm-cmpsc", 18: "terse", 19: "lz77", 20: "zstd", 93: "zstd", 94: "mp3", 95: "xz", 96: "jpeg"},
    **{97: "wavpack", 98: "ppmd", 99: "aes"},
}

# 7z coders (method ids: 7-Zip's DOC/Methods.txt). libclamav/7z/7zDec.c, clamav-1.4.5, `IS_MAIN_METHOD()` and
# `CheckSupportedFolder()`: a folder is one main coder (Copy, LZMA, LZMA2 or PPMd; one in, one out stream), or a main
# coder followed by a BCJ (x86) or ARM filter, or the fixed four-coder BCJ2 layout with main coders; 7zAES as the
# first coder means encrypted. Everything else (BZip2, Deflate, Deflate64, Delta, ARM64, ARMT, PPC, SPARC, IA64,
# RISCV, Swap, zstd...) is SZ_ERROR_UNSUPPORTED: that folder's files are skipped.
SEVENZIP_MAIN_CODERS: dict[int, str] = {0x00: "copy", 0x030101: "lzma", 0x21: "lzma2", 0x030401: "ppmd"}
SEVENZIP_FILTERS: dict[int, str] = {0x03030103: "bcj", 0x03030501: "arm"}
SEVENZIP_BCJ2 = 0x0303011B
SEVENZIP_AES = 0x06F10701
SEVENZIP_CODER_NAMES: dict[int, str] = {
    **SEVENZIP_MAIN_CODERS,
    **SEVENZIP_FILTERS,
    **{SEVENZIP_BCJ2: "bcj2", SEVENZIP_AES: "aes", 0x03: "delta", 0x04: "x86", 0x05: "ppc", 0x06: "ia64"},
    **{0x07: "arm", 0x08: "armt", 0x09: "sparc", 0x0A: "arm64", 0x0B: "riscv", 0x020302: "swap2"},
    **{0x020304: "swap4", 0x03030205: "ppc", 0x03030401: "ia64", 0x03030701: "armt", 0x03030805: "sparc"},
    **{0x040108: "deflate", 0x040109: "deflate64", 0x040202: "bzip2", 0x04F71101: "zstd", 0x04F71102: "brotli"},
    **{0x04F71104: "lz4", 0x04F71105: "lz5", 0x04F71106: "lizard"},
}
# libclamav/7z/7zIn.c SzGetNextFolderItem(): NUM_FOLDER_CODERS_MAX, NUM_CODER_STREAMS_MAX.
SEVENZIP_MAX_CODERS = 32
SEVENZIP_MAX_CODER_STREAMS = 32
# libclamav/others.h CLI_MAX_ALLOCATION: ClamAV unpacks a whole 7z folder into one buffer (7zIn.c SzArEx_Extract(),
# allocated by lzma_iface.c __lzma_wrap_alloc()); a larger folder fails to allocate and its files are skipped.
CLAMAV_MAX_ALLOCATION = 1024 * 1024 * 1024

# libclamav/others.c rarload(): the module and the functions libclamav looks up in it.
UNRAR_MODULE = "libclamunrar_iface"
_UNRAR_FUNCTIONS = ("open", "peek_file_header", "extract_file", "skip_file", "close")
UNRAR_SYMBOLS = tuple(f"libclamunrar_iface_LTX_unrar_{name}" for name in _UNRAR_FUNCTIONS)

# Archives nested in archives: the inspector sees only the outer bytes, but clamd matches signatures against every
# layer it unpacks (a ZIP inside a ZIP, a tar, a gzip, a 7z...). These signatures, installed beside the database,
# make clamd report a nested ZIP whose local header uses a method unz() does not decompress, or a nested file that
# starts like a ZIP and has no end record (cli_unzip() unpacks nothing of it). A FOUND whose name starts with
# NESTED_SIGNATURE_PREFIX is an UNSCANNABLE reason, see nested_reason().
NESTED_SIGNATURE_PREFIX = "S3Scanner.Unsupported."
_NESTED_METHODS = sorted(m for m in ZIP_METHOD_NAMES if m not in ZIP_SUPPORTED_METHODS and m != 99)  # 99: encrypted
NESTED_SIGNATURES: dict[str, str] = {
    "s3-clamav-scanner-archives.ndb": (
        f"{NESTED_SIGNATURE_PREFIX}ZipMethod:0:*:504b0304{{4}}({'|'.join(f'{m:02x}' for m in _NESTED_METHODS)})00\n"
    ),
    # Compressed formats ClamAV 1.4 does not decompress at all (clamd answers OK for EICAR inside them), as a whole
    # object or as a member of what it unpacks: their magic at the start of any scanned layer.
    "s3-clamav-scanner-formats.ndb": (
        f"{NESTED_SIGNATURE_PREFIX}Zstd:0:0:28b52ffd\n"
        f"{NESTED_SIGNATURE_PREFIX}Lz4:0:0:04224d18\n"
        f"{NESTED_SIGNATURE_PREFIX}Lzip:0:0:4c5a495001\n"
        f"{NESTED_SIGNATURE_PREFIX}LzmaAlone:0:0:5d0000??00\n"
        f"{NESTED_SIGNATURE_PREFIX}Compress:0:0:1f9d(89|8a|8b|8c|8d|8e|8f|90)\n"
    ),
    "s3-clamav-scanner-archives.ldb": (
        f"{NESTED_SIGNATURE_PREFIX}ZipNoCentralDirectory;Engine:81-255,Target:0;0&(1=0);0:504b0304;504b0506\n"
    ),
}
_NESTED_REASONS = {
    "ZipMethod": "zip-nested-method",
    "ZipNoCentralDirectory": "zip-nested-no-central-directory",
    "Zstd": "zstd",
    "Lz4": "lz4",
    "Lzip": "lzip",
    "LzmaAlone": "lzma",
    "Compress": "compress",
}


def nested_reason(signature: str) -> str | None:
    """The reason for a clamd FOUND of one of NESTED_SIGNATURES (clamd may append ".UNOFFICIAL"), else None."""
    if not signature.startswith(NESTED_SIGNATURE_PREFIX):
        return None
    name = signature[len(NESTED_SIGNATURE_PREFIX) :].removesuffix(".UNOFFICIAL")
    return REASON_PREFIX + _NESTED_REASONS.get(name, "nested")


# ---------------------------------------------------------------------------------------------------------------
# Bounds.

HEAD_BYTES = 262  # enough for every magic looked at (a POSIX tar's "ustar" ends at byte 262)
TAIL_BYTES = 128 * 1024  # a ZIP end record, its 64 KiB comment, and the ZIP64 locator and record before it
ZIP_MAX_HEADERS = 50_000  # local + central header signatures remembered per object (about 5 MB at most)
SEVENZIP_MAX_HEADER = 16 * 1024 * 1024  # bytes of a 7z header (and of a packed, encoded header) we read
SEVENZIP_MAX_DECODED_HEADER = 64 * 1024 * 1024  # bytes an encoded 7z header may decode to
SEVENZIP_MAX_ITEMS = 1_000_000  # files, folders, streams or digests in one 7z header
SEVENZIP_WINDOW_BEFORE_HEADER = 1024 * 1024  # kept before the header: where 7-Zip puts an encoded header's data
REREAD_RANGE_BYTES = 8 * 1024 * 1024  # ranged reads when a ZIP behind prepended data must be read again

_ZIP_LOCAL = b"PK\x03\x04"
_ZIP_CENTRAL = b"PK\x01\x02"
_ZIP_END = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END = b"PK\x06\x06"
_ZIP_LOCAL_SIZE = 30
_ZIP_CENTRAL_SIZE = 46
_ZIP_END_SIZE = 22
_ZIP_MAX_COMMENT = 0xFFFF
_U32_MAX = 0xFFFFFFFF
_SEVENZIP_SIGNATURE = b"7z\xbc\xaf\x27\x1c"
_SEVENZIP_START_HEADER = 32

ReadRange = Callable[[int, int], bytes]


class RangeReadError(RuntimeError):
    """read_range returned another number of bytes than asked for (the object changed, or a short read)."""


def _checked_read(read_range: ReadRange, start: int, stop: int) -> bytes:
    data = read_range(start, stop)
    if len(data) != stop - start:
        raise RangeReadError(f"read_range({start}, {stop}) returned {len(data)} bytes")
    return data


def _reason(what: str) -> str:
    return REASON_PREFIX + what


# ---------------------------------------------------------------------------------------------------------------
# The inspector.


class ArchiveInspector:
    """Watches the (decoded) bytes streamed to clamd; after clamd said OK, tells whether the content is an archive
    ClamAV 1.4 could not really look into."""

    def __init__(self, *, rar_supported: bool) -> None:
        self.rar_supported = rar_supported
        self._size = 0
        self._head = bytearray()
        self._pending: list[bytes] = []  # what was fed before the first bytes decided (one chunk, usually)
        self._kind: str | None = None
        self._tail: deque[bytes] = deque()
        self._tail_bytes = 0
        self._zip: _ZipHeaders | None = None
        self._sevenzip: _Window | None = None

    def feed(self, chunk: bytes) -> None:
        """Called with every chunk, in order, exactly the bytes clamd received. Must cost ~nothing for non-archives
        (decide from the first bytes, then return immediately) and stay bounded in memory for archives."""
        if not chunk:
            return
        if not isinstance(chunk, bytes):
            chunk = bytes(chunk)  # the caller may reuse its buffer
        offset = self._size
        self._size += len(chunk)
        if self._kind is not None:
            self._route(chunk, offset)
            return
        self._pending.append(chunk)
        self._head += chunk[: HEAD_BYTES - len(self._head)]
        if len(self._head) >= HEAD_BYTES:
            self._decide()

    def finish(self, size: int, read_range: ReadRange | None) -> str | None:
        """After the stream: None when nothing is known to be hidden from clamd, else an UNSCANNABLE reason
        `unsupported-archive:<method>`. `size` = total bytes fed. `read_range(start, end)` returns content bytes
        [start, end) (pinned to the scanned version), or is None when the content was decoded from a
        Content-Encoding: then only what was kept while feeding is available."""
        if size != self._size:
            raise ValueError(f"finish(size={size}) after {self._size} bytes were fed")
        if self._kind is None:
            self._decide()
        tail, tail_start = self._tail_and_start()
        if self._kind == "zip":
            assert self._zip is not None
            return _zip_reason(self._zip, tail, tail_start, size, prefixed=False)
        if self._kind == "7z":
            assert self._sevenzip is not None
            return _sevenzip_reason(bytes(self._head[:_SEVENZIP_START_HEADER]), self._sevenzip, size, read_range)
        if self._kind == "rar":
            return None if self.rar_supported else _reason("rar")
        if self._kind == "other":
            return _prefixed_zip_reason(tail, tail_start, size, read_range)
        return None

    def _decide(self) -> None:
        """Classify from the first bytes, then pass on everything fed so far."""
        self._kind = _classify(bytes(self._head))
        if self._kind == "zip":
            self._zip = _ZipHeaders()
        elif self._kind == "7z":
            self._sevenzip = _sevenzip_window(bytes(self._head))
        offset = 0
        for chunk in self._pending:
            self._route(chunk, offset)
            offset += len(chunk)
        self._pending = []

    def _route(self, chunk: bytes, offset: int) -> None:
        kind = self._kind
        if kind == "other":
            self._keep_tail(chunk)
        elif kind == "zip":
            self._keep_tail(chunk)
            assert self._zip is not None
            self._zip.feed(chunk, offset)
        elif kind == "7z":
            assert self._sevenzip is not None
            self._sevenzip.feed(chunk, offset)

    def _keep_tail(self, chunk: bytes) -> None:
        """Keep references to the last chunks covering at least TAIL_BYTES."""
        self._tail.append(chunk)
        self._tail_bytes += len(chunk)
        while self._tail_bytes - len(self._tail[0]) >= TAIL_BYTES:
            self._tail_bytes -= len(self._tail.popleft())

    def _tail_and_start(self) -> tuple[bytes, int]:
        data = b"".join(self._tail)[-TAIL_BYTES:]
        return data, self._size - len(data)


def _classify(head: bytes) -> str:
    """ClamAV's type for the first bytes (libclamav/filetypes_int.h, clamav-1.4.5): ZIP "PK\\3\\4" (or the spanned
    marker "PK00PK\\3\\4"), 7z "7z\\xBC\\xAF\\x27\\x1C", RAR "Rar!" at offset 0."""
    if head.startswith(_ZIP_LOCAL) or head.startswith(b"PK00" + _ZIP_LOCAL):
        return "zip"
    if head.startswith(_SEVENZIP_SIGNATURE):
        return "7z"
    if head.startswith(b"Rar!\x1a\x07\x00") or head.startswith(b"Rar!\x1a\x07\x01\x00"):
        return "rar"
    if head.startswith(b"\x1f\x8b") or head[257:262] == b"ustar":
        # gzip and tar are unpacked by ClamAV and their members scanned as files; scanners.c scanraw() does not
        # look for ZIPs inside their raw bytes, so an end record in their tail belongs to a member.
        return "container"
    return "other"


# ---------------------------------------------------------------------------------------------------------------
# ZIP.


class _ZipHeaders:
    """Offsets and fixed parts of every local and central header signature in the stream."""

    def __init__(self) -> None:
        self.local: dict[int, bytes] = {}
        self.central: dict[int, bytes] = {}
        self.overflow = False
        self._carry = b""

    def feed(self, chunk: bytes, offset: int) -> None:
        if self.overflow:
            return
        buf = self._carry + chunk if self._carry else chunk
        base = offset - len(self._carry)
        end = len(buf)
        carry_from = max(end - 3, 0)
        for signature, size, table in (
            (_ZIP_LOCAL, _ZIP_LOCAL_SIZE, self.local),
            (_ZIP_CENTRAL, _ZIP_CENTRAL_SIZE, self.central),
        ):
            at = buf.find(signature)
            while at >= 0:
                if at + size > end:
                    carry_from = min(carry_from, at)
                    break
                table[base + at] = buf[at : at + size]
                if len(self.local) + len(self.central) > ZIP_MAX_HEADERS:
                    self.overflow = True
                    self.local.clear()
                    self.central.clear()
                    self._carry = b""
                    return
                at = buf.find(signature, at + 4)
        self._carry = buf[carry_from:]


@dataclass(frozen=True)
class _Central:
    offset: int
    flags: int
    method: int
    csize: int
    usize: int
    local_offset: int


@dataclass(frozen=True)
class _EndRecord:
    position: int
    clamav_cd_offset: int  # the 32-bit offset cli_unzip() reads the central directory at
    cd_size: int  # Python's zipfile: from the ZIP64 end record when there is one
    cd_offset: int
    concat: int  # how far Python's zipfile shifts every offset (data prepended to the archive)


def _find_end_record(tail: bytes, tail_start: int, size: int) -> int | None:
    """Position of the end record an extractor uses: the last signature in the last 64 KiB + 22 bytes that still
    has 22 bytes behind it (Python's zipfile `_EndRecData`); ClamAV's backward scan in `cli_unzip()` meets the
    same one first."""
    last_start = size - _ZIP_END_SIZE
    if last_start < 0:
        return None
    low = max(last_start - _ZIP_MAX_COMMENT, tail_start)
    at = tail.rfind(_ZIP_END, low - tail_start, last_start - tail_start + 4)
    return tail_start + at if at >= 0 else None


def _end_record(tail: bytes, tail_start: int, position: int) -> _EndRecord:
    """The end record at `position`, and the ZIP64 end record Python's zipfile takes its values from."""
    rel = position - tail_start
    cd_size, cd_offset = struct.unpack_from("<II", tail, rel + 12)
    size, offset, concat = cd_size, cd_offset, position - cd_size - cd_offset
    if rel >= 76 and tail[rel - 20 : rel - 16] == _ZIP64_LOCATOR and tail[rel - 76 : rel - 72] == _ZIP64_END:
        size, offset = struct.unpack_from("<QQ", tail, rel - 76 + 40)
        concat = position - size - offset - 76
    return _EndRecord(position, cd_offset, size, offset, concat)


def _central_entries(headers: _ZipHeaders, end: _EndRecord) -> list[_Central] | None:
    """The central directory as Python's zipfile walks it (start shifted by `concat`), or None if unreadable."""
    entries: list[_Central] = []
    at = end.cd_offset + end.concat
    stop = at + end.cd_size
    while at < stop:
        raw = headers.central.get(at)
        if raw is None:
            return None
        fields = struct.unpack_from("<IHHHHHHIIIHHHHHII", raw)
        flags, method, csize, usize = fields[3], fields[4], fields[8], fields[9]
        name_len, extra_len, comment_len, local_offset = fields[10], fields[11], fields[12], fields[16]
        entries.append(_Central(at, flags, method, csize, usize, local_offset))
        at += _ZIP_CENTRAL_SIZE + name_len + extra_len + comment_len
    return entries


def _zip_reason(headers: _ZipHeaders, tail: bytes, tail_start: int, size: int, *, prefixed: bool) -> str | None:
    """Reason for a ZIP whose members ClamAV skips or reads differently, else None.

    `prefixed`: the archive does not start at byte 0; ClamAV then reads each local header on its own
    (scanners.c scanraw() -> unzip.c cli_unzip_single()), and a central directory Python cannot read means no
    client sees a ZIP either."""
    found = _zip_problem(headers, tail, tail_start, size, prefixed=prefixed)
    return None if found is None else _reason(found)


def _zip_problem(headers: _ZipHeaders, tail: bytes, tail_start: int, size: int, *, prefixed: bool) -> str | None:
    if headers.overflow:
        return "zip-too-many-headers"
    position = _find_end_record(tail, tail_start, size)
    if position is None:
        # cli_unzip() unpacks nothing without a central directory, yet 7-Zip and streaming readers (libarchive,
        # Java's ZipInputStream) extract such a ZIP from its local headers.
        return None if prefixed else "zip-no-central-directory"
    end = _end_record(tail, tail_start, position)
    if end.concat < 0:
        return None if prefixed else "zip-central-directory-unreadable"
    if not prefixed:
        # cli_unzip() keeps an end record only if its 32-bit directory offset leaves room for a central header
        # (CLI_ISCONTAINED_0_TO(fsize, chptr, SIZEOF_CENTRAL_HEADER)), takes offset 0 for "not found", and never
        # reads ZIP64 records or shifts offsets for data before the archive (one ZIP appended to another).
        if end.clamav_cd_offset == _U32_MAX:
            return "zip64"
        if end.clamav_cd_offset == 0 or end.clamav_cd_offset + _ZIP_CENTRAL_SIZE > size:
            return "zip-central-directory-unreadable"
        if end.clamav_cd_offset != end.cd_offset + end.concat:
            return "zip64" if end.cd_offset != end.clamav_cd_offset else "zip-offsets-shifted"
        if end.concat:
            return "zip-offsets-shifted"
    entries = _central_entries(headers, end)
    if entries is None:
        return None if prefixed else "zip-central-directory-unreadable"
    spans: list[tuple[int, int]] = []
    for entry in entries:
        problem = _zip_entry_problem(headers, entry, end.concat, size, prefixed, spans)
        if problem:
            return problem
    if not prefixed:
        return _unlisted_local_header(headers, spans, end.cd_offset)
    return None


def _zip_entry_problem(
    headers: _ZipHeaders, entry: _Central, concat: int, size: int, prefixed: bool, spans: list[tuple[int, int]]
) -> str | None:
    """What keeps ClamAV from reading this central directory entry the way an extractor does."""
    if _U32_MAX in (entry.csize, entry.usize, entry.local_offset):
        return "zip64"  # cli_unzip() reads only the 32-bit fields, never the ZIP64 extra field
    offset = entry.local_offset + concat
    raw = headers.local.get(offset)
    if raw is None:
        return None if entry.csize == 0 else "zip-local-header-unreadable"
    _, _, flags, method, _, _, csize, usize, name_len, extra_len = struct.unpack_from("<IHHHIIIIHH", raw)
    data_start = offset + _ZIP_LOCAL_SIZE + name_len + extra_len
    spans.append((offset, data_start + entry.csize))
    if entry.csize == 0:
        return None  # nothing for an extractor to unpack (directories, empty files)
    # parse_local_file_header(): masked headers (flag bit 13) are skipped; bit 0 decides encryption.
    if flags & 0x2000:
        return "zip-masked-header"
    if (flags ^ entry.flags) & 0x1:
        return "zip-encryption-flag-mismatch"
    if flags & 0x1:
        return "zip-encrypted"  # libclamav alerts Heuristics.Encrypted.Zip for these: an OK means it did not
    if method != entry.method:
        return "zip-method-mismatch"  # ClamAV decompresses with the local header's method, extractors the central's
    if method not in ZIP_SUPPORTED_METHODS:
        return "zip-" + ZIP_METHOD_NAMES.get(method, f"method-{method}")
    if flags & 0x8:
        if prefixed:
            return "zip-sfx-data-descriptor"  # cli_unzip_single() has no central header to take the sizes from
        csize, usize = entry.csize, entry.usize  # parse_local_file_header() takes them from the central header
    if _U32_MAX in (csize, usize):
        return "zip64"
    if (csize, usize) != (entry.csize, entry.usize):
        return "zip-size-mismatch"  # ClamAV unpacks the local header's sizes, extractors the central's
    if method == 0 and csize < usize:
        return "zip-stored-size-mismatch"  # unz() then inflates instead of copying
    # parse_local_file_header(): the name and the extra field must end before the end of the file, the data fit in.
    if offset + _ZIP_LOCAL_SIZE + name_len >= size or data_start >= size or data_start + csize > size:
        return "zip-truncated"
    return None


def _unlisted_local_header(headers: _ZipHeaders, spans: list[tuple[int, int]], cd_offset: int) -> str | None:
    """A local header before the central directory that is neither an entry nor inside one: a member streaming
    readers extract and cli_unzip() (which follows the central directory) never sees."""
    spans.sort()
    starts = [start for start, _ in spans]
    for offset in headers.local:
        if offset >= cd_offset:
            continue
        index = bisect.bisect_right(starts, offset) - 1
        if index >= 0 and offset < spans[index][1]:
            continue
        return "zip-unlisted-entry"
    return None


def _prefixed_zip_reason(tail: bytes, tail_start: int, size: int, read_range: ReadRange | None) -> str | None:
    """A ZIP behind other data (self-extractors, polyglots): extractors open it through its end record; ClamAV reads
    each local header on its own. Costs nothing unless the last 64 KiB hold a plausible end record."""
    position = _find_end_record(tail, tail_start, size)
    if position is None:
        return None
    end = _end_record(tail, tail_start, position)
    comment_length = struct.unpack_from("<H", tail, position - tail_start + 20)[0]
    if end.concat < 0 or end.cd_size < _ZIP_CENTRAL_SIZE or position + _ZIP_END_SIZE + comment_length > size:
        return None  # not a ZIP to Python's zipfile, one without members, or no end record at all
    cd_start = end.cd_offset + end.concat
    if cd_start >= tail_start and tail[cd_start - tail_start : cd_start - tail_start + 4] != _ZIP_CENTRAL:
        return None
    if read_range is None:
        return _reason("zip-after-prefix-unreadable")
    headers = _ZipHeaders()
    for start in range(0, size, REREAD_RANGE_BYTES):
        stop = min(start + REREAD_RANGE_BYTES, size)
        headers.feed(_checked_read(read_range, start, stop), start)
    return _zip_reason(headers, tail, tail_start, size, prefixed=True)


# ---------------------------------------------------------------------------------------------------------------
# 7z.


class _Window:
    """Keeps the stream's bytes in [start, stop) while they pass."""

    def __init__(self, start: int, stop: int) -> None:
        self.start = start
        self.stop = stop
        self.data = bytearray()

    def feed(self, chunk: bytes, offset: int) -> None:
        end = offset + len(chunk)
        if end <= self.start or offset >= self.stop:
            return
        self.data += chunk[max(self.start - offset, 0) : min(self.stop, end) - offset]

    def get(self, start: int, stop: int) -> bytes | None:
        if start < self.start or stop > self.start + len(self.data):
            return None
        return bytes(self.data[start - self.start : stop - self.start])


def _sevenzip_window(head: bytes) -> _Window:
    """The bytes to keep: the header the start header points at, and 1 MiB before it."""
    if len(head) < _SEVENZIP_START_HEADER:
        return _Window(0, 0)
    offset, length = struct.unpack_from("<QQ", head, 12)
    start = _SEVENZIP_START_HEADER + offset
    stop = start + min(length, SEVENZIP_MAX_HEADER)
    return _Window(max(start - SEVENZIP_WINDOW_BEFORE_HEADER, _SEVENZIP_START_HEADER), stop)


class _SevenZipError(Exception):
    """The 7z header does not parse the way libclamav/7z/7zIn.c parses it: ClamAV unpacks nothing."""


class _SevenZipUnsupported(Exception):
    """A reason (without the prefix)."""


@dataclass
class _Coder:
    method: int
    num_in: int
    num_out: int
    props: bytes


@dataclass
class _Folder:
    coders: list[_Coder]
    bind_pairs: list[tuple[int, int]]
    pack_streams: list[int]
    unpack_sizes: list[int] = field(default_factory=list)
    crc: int | None = None
    num_unpack_streams: int = 0  # SzFolder_Init(); only a SubStreamsInfo sets it

    def unpack_size(self) -> int:
        """7zIn.c SzFolder_GetUnpackSize(): the size of the one output stream no bind pair consumes."""
        bound = {out_index for _, out_index in self.bind_pairs}
        for index in range(sum(c.num_out for c in self.coders) - 1, -1, -1):
            if index not in bound:
                return self.unpack_sizes[index]
        return 0


@dataclass
class _Streams:
    pack_pos: int = 0
    pack_sizes: list[int] = field(default_factory=list)
    folders: list[_Folder] = field(default_factory=list)
    num_unpack_streams: int = 0


def _bounded(count: int) -> int:
    if count > SEVENZIP_MAX_ITEMS:
        raise _SevenZipUnsupported("7z-header-too-large")
    return count


class _Reader:
    """7zIn.c's CSzData readers: SzReadByte, SzReadNumber, SzReadNumber32, SzReadUInt32, SzSkeepData..."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise _SevenZipError("header ends early")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise _SevenZipError("header ends early")
        value = self.data[self.pos : self.pos + count]
        self.pos += count
        return value

    def number(self) -> int:
        first = self.byte()
        mask = 0x80
        value = 0
        for index in range(8):
            if first & mask == 0:
                return value | ((first & (mask - 1)) << (8 * index))
            value |= self.byte() << (8 * index)
            mask >>= 1
        return value

    def number32(self) -> int:
        value = self.number()
        if value >= 0x80000000:
            raise _SevenZipError("number too large")
        return value

    def count(self) -> int:
        """A number of items the header lists (files, folders, streams)."""
        return _bounded(self.number32())

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def skip_data(self) -> None:
        self.take(self.number())

    def wait(self, attribute: int) -> None:
        """SzWaitAttribute(): skip properties until `attribute`; the end marker first is an error."""
        while True:
            kind = self.number()
            if kind == attribute:
                return
            if kind == 0:
                raise _SevenZipError(f"property {attribute} missing")
            self.skip_data()

    def bools(self, count: int) -> list[bool]:
        _bounded(count)
        values: list[bool] = []
        byte = mask = 0
        for _ in range(count):
            if mask == 0:
                byte, mask = self.byte(), 0x80
            values.append(bool(byte & mask))
            mask >>= 1
        return values

    def bools_or_all(self, count: int) -> list[bool]:
        return [True] * _bounded(count) if self.byte() else self.bools(count)

    def digests(self, count: int) -> list[int | None]:
        return [self.u32() if defined else None for defined in self.bools_or_all(count)]


def _read_folder(r: _Reader) -> _Folder:
    """7zIn.c SzGetNextFolderItem()."""
    num_coders = r.number32()
    if num_coders > SEVENZIP_MAX_CODERS:
        raise _SevenZipError("too many coders")
    coders: list[_Coder] = []
    for _ in range(num_coders):
        main = r.byte()
        id_size = main & 0xF
        method_id = r.take(id_size)
        if id_size > 8:
            raise _SevenZipError("coder id too long")
        num_in = num_out = 1
        if main & 0x10:
            num_in, num_out = r.number32(), r.number32()
            if num_in > SEVENZIP_MAX_CODER_STREAMS or num_out > SEVENZIP_MAX_CODER_STREAMS:
                raise _SevenZipError("too many coder streams")
        props = r.take(r.number()) if main & 0x20 else b""
        while main & 0x80:  # alternative methods: read and ignored
            main = r.byte()
            r.take(main & 0xF)
            if main & 0x10:
                r.number32(), r.number32()
            if main & 0x20:
                r.skip_data()
        coders.append(_Coder(int.from_bytes(method_id, "big"), num_in, num_out, props))
    total_in = sum(c.num_in for c in coders)
    total_out = sum(c.num_out for c in coders)
    if total_out == 0:
        raise _SevenZipError("no output stream")
    bind_pairs = [(r.number32(), r.number32()) for _ in range(total_out - 1)]
    if total_in < len(bind_pairs):
        raise _SevenZipError("bind pairs")
    num_pack = total_in - len(bind_pairs)
    if num_pack == 1:
        bound_in = {in_index for in_index, _ in bind_pairs}
        free = [index for index in range(total_in) if index not in bound_in]
        if not free:
            raise _SevenZipError("no packed stream")
        pack_streams = [free[0]]
    else:
        pack_streams = [r.number32() for _ in range(num_pack)]
    return _Folder(coders, bind_pairs, pack_streams)


def _read_streams_info(r: _Reader) -> _Streams:
    """7zIn.c SzReadStreamsInfo() with SzReadPackInfo(), SzReadUnpackInfo(), SzReadSubStreamsInfo()."""
    streams = _Streams()
    seen: set[int] = set()
    while True:
        kind = r.number()
        if kind == 0:
            return streams
        if kind in seen and kind in (6, 7, 8):
            raise _SevenZipError("repeated streams property")  # the *Info readers refuse pre-filled tables
        seen.add(kind)
        if kind == 6:  # kPackInfo
            streams.pack_pos = r.number()
            count = r.count()
            r.wait(9)  # kSize
            streams.pack_sizes = [r.number() for _ in range(count)]
            while (sub := r.number()) != 0:
                if sub == 10:  # kCRC
                    r.digests(count)
                else:
                    r.skip_data()
        elif kind == 7:  # kUnpackInfo
            r.wait(11)  # kFolder
            count = r.count()
            if r.byte() != 0:
                raise _SevenZipError("external folders")
            streams.folders = [_read_folder(r) for _ in range(count)]
            r.wait(12)  # kCodersUnpackSize
            for folder in streams.folders:
                folder.unpack_sizes = [r.number() for _ in range(sum(c.num_out for c in folder.coders))]
            while (sub := r.number()) != 0:
                if sub == 10:
                    for folder, crc in zip(streams.folders, r.digests(count), strict=True):
                        folder.crc = crc
                else:
                    r.skip_data()
        elif kind == 8:  # kSubStreamsInfo
            _read_substreams(r, streams)
        else:
            raise _SevenZipError(f"unknown streams property {kind}")


def _read_substreams(r: _Reader, streams: _Streams) -> None:
    folders = streams.folders
    for folder in folders:
        folder.num_unpack_streams = 1
    streams.num_unpack_streams = len(folders)
    while True:
        kind = r.number()
        if kind == 13:  # kNumUnpackStream
            for folder in folders:
                folder.num_unpack_streams = r.number32()
            streams.num_unpack_streams = _bounded(sum(f.num_unpack_streams for f in folders))
            continue
        if kind in (0, 9, 10):
            break
        r.skip_data()
    if kind == 9:  # kSize
        for folder in folders:
            for _ in range(max(folder.num_unpack_streams - 1, 0)):
                r.number()
        kind = r.number()
    num_digests = sum(f.num_unpack_streams for f in folders if f.num_unpack_streams != 1 or f.crc is None)
    while kind != 0:
        if kind == 10:
            r.digests(num_digests)
        else:
            r.skip_data()
        kind = r.number()


def _read_header(r: _Reader) -> _Streams:
    """7zIn.c SzReadHeader2() and SzArEx_Fill(), after the kHeader id: the folders files are unpacked from."""
    kind = r.number()
    if kind == 2:  # kArchiveProperties
        while r.number() != 0:
            r.skip_data()
        kind = r.number()
    streams = _Streams()
    if kind == 4:  # kMainStreamsInfo
        streams = _read_streams_info(r)
        kind = r.number()
    if kind == 0:
        return streams
    if kind != 5:  # kFilesInfo; kAdditionalStreamsInfo (3) is not supported by ClamAV
        raise _SevenZipError(f"unexpected header property {kind}")
    num_files = r.count()
    empty_stream: list[bool] | None = None
    empty_file: list[bool] | None = None
    seen: set[int] = set()
    while (kind := r.number()) != 0:
        size = r.number()
        if size > len(r.data) - r.pos:
            raise _SevenZipError("file property beyond the header")
        if kind in seen and kind in (0x0E, 0x0F, 0x11):
            raise _SevenZipError("repeated file property")
        seen.add(kind)
        if kind == 0x11:  # kName
            if r.byte() != 0:
                raise _SevenZipError("external names")
            _check_names(r.take(size - 1), num_files)
        elif kind == 0x0E:  # kEmptyStream
            empty_stream = r.bools(num_files)
        elif kind == 0x0F:  # kEmptyFile
            empty_file = r.bools(sum(empty_stream or []))
        elif kind in (0x14, 0x15):  # kMTime, kWinAttributes
            defined = r.bools_or_all(num_files)
            if r.byte() != 0:
                raise _SevenZipError("external file property")
            r.take((8 if kind == 0x14 else 4) * sum(defined))
        else:
            r.take(size)
    del empty_file  # read for its bytes only, as SzReadHeader2() does
    has_stream = [not (empty_stream and empty_stream[i]) for i in range(num_files)]
    if sum(has_stream) > streams.num_unpack_streams:
        raise _SevenZipError("more files than streams")
    _check_file_folders(has_stream, streams.folders)
    return streams


def _check_names(names: bytes, num_files: int) -> None:
    """7zIn.c SzReadFileNames(): exactly `num_files` NUL-terminated UTF-16 names, filling the property."""
    if len(names) % 2:
        raise _SevenZipError("odd names size")
    pos = 0
    for _ in range(num_files):
        at = names.find(b"\x00\x00", pos)
        while at >= 0 and at % 2:  # a zero high byte followed by a zero low byte: not a terminator
            at = names.find(b"\x00\x00", at + 1)
        if at < 0:
            raise _SevenZipError("names end early")
        pos = at + 2
    if pos != len(names):
        raise _SevenZipError("names size")


def _check_file_folders(has_stream: list[bool], folders: list[_Folder]) -> None:
    """7zIn.c SzArEx_Fill(): every file with data must map to a folder."""
    folder_index = index_in_folder = 0
    for stream in has_stream:
        if not stream and index_in_folder == 0:
            continue
        if index_in_folder == 0:
            while True:
                if folder_index >= len(folders):
                    raise _SevenZipError("file without folder")
                if folders[folder_index].num_unpack_streams != 0:
                    break
                folder_index += 1
        if not stream:
            continue
        index_in_folder += 1
        if index_in_folder >= folders[folder_index].num_unpack_streams:
            folder_index += 1
            index_in_folder = 0


def _coder_name(method: int) -> str:
    return SEVENZIP_CODER_NAMES.get(method, f"coder-{method:x}")


def _folder_problem(folder: _Folder) -> str | None:
    """7zDec.c CheckSupportedFolder(): None when ClamAV can unpack the folder, else the coder it fails on."""
    coders = folder.coders

    def main(coder: _Coder) -> bool:
        return coder.num_in == 1 and coder.num_out == 1 and coder.method in SEVENZIP_MAIN_CODERS

    if not 1 <= len(coders) <= 4:
        return "coder-chain"
    if coders[0].method == SEVENZIP_AES:
        return "encrypted"  # SZ_ERROR_ENCRYPTED: libclamav alerts Heuristics.Encrypted.7Zip, so an OK means it did not
    if not main(coders[0]):
        return _coder_name(coders[0].method)
    if len(coders) == 1:
        if folder.pack_streams != [0] or folder.bind_pairs:
            return "coder-chain"
        return None
    if len(coders) == 2:
        second = coders[1]
        if second.method not in SEVENZIP_FILTERS:
            return _coder_name(second.method)
        if (second.num_in, second.num_out) != (1, 1) or folder.pack_streams != [0] or folder.bind_pairs != [(1, 0)]:
            return "coder-chain"
        return None
    if len(coders) == 4:
        for coder in coders[1:3]:
            if not main(coder):
                return _coder_name(coder.method)
        bcj2 = coders[3]
        if bcj2.method != SEVENZIP_BCJ2:
            return _coder_name(bcj2.method)
        if (bcj2.num_in, bcj2.num_out) != (4, 1):
            return "coder-chain"
        if folder.pack_streams != [2, 6, 1, 0] or folder.bind_pairs != [(5, 0), (4, 1), (3, 2)]:
            return "coder-chain"
        return None
    return "coder-chain"


def _lzma_filters(folder: _Folder) -> list[dict[str, int]] | None:
    """Python lzma filters decoding a header folder: Copy, LZMA or LZMA2, optionally behind a BCJ or ARM filter."""
    first = folder.coders[0]
    chain: list[dict[str, int]] = []
    if len(folder.coders) == 2:
        chain.append({"id": lzma.FILTER_X86 if folder.coders[1].method == 0x03030103 else lzma.FILTER_ARM})
    if first.method == 0x030101 and len(first.props) == 5:
        d = first.props[0]
        dict_size = max(int.from_bytes(first.props[1:5], "little"), 4096)
        chain.append({"id": lzma.FILTER_LZMA1, "lc": d % 9, "lp": (d // 9) % 5, "pb": d // 45, "dict_size": dict_size})
    elif first.method == 0x21 and len(first.props) == 1 and first.props[0] <= 40:
        b = first.props[0]
        dict_size = _U32_MAX if b == 40 else (2 | (b & 1)) << (b // 2 + 11)
        chain.append({"id": lzma.FILTER_LZMA2, "dict_size": max(min(dict_size, 1536 * 1024 * 1024), 4096)})
    elif first.method != 0x00:
        return None
    return chain


def _decode_header(streams: _Streams, read: Callable[[int, int], bytes | None]) -> bytes:
    """7zIn.c SzReadAndDecodePackedStreams(): unpack an encoded header's single folder."""
    if len(streams.folders) != 1:
        raise _SevenZipError("encoded header with several folders")
    folder = streams.folders[0]
    problem = _folder_problem(folder)
    if problem:
        raise _SevenZipUnsupported("7z-header-" + problem)
    chain = _lzma_filters(folder)
    if chain is None or len(folder.pack_streams) != 1 or len(streams.pack_sizes) < 1:
        raise _SevenZipUnsupported("7z-header-undecodable")
    unpack_size = folder.unpack_size()
    pack_size = streams.pack_sizes[0]
    if unpack_size > SEVENZIP_MAX_DECODED_HEADER or pack_size > SEVENZIP_MAX_HEADER:
        raise _SevenZipUnsupported("7z-header-too-large")
    start = _SEVENZIP_START_HEADER + streams.pack_pos
    packed = read(start, start + pack_size)
    if packed is None:
        raise _SevenZipUnsupported("7z-header-unreadable")
    if not chain:
        decoded = packed[:unpack_size]
    else:
        try:
            decoded = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=chain).decompress(packed, max_length=unpack_size)
        except lzma.LZMAError as err:
            raise _SevenZipError(f"header does not decode: {err}") from err
    if len(decoded) != unpack_size:
        raise _SevenZipError("header decodes short")
    if folder.crc is not None and zlib.crc32(decoded) != folder.crc:
        raise _SevenZipError("header CRC")
    return decoded


def _sevenzip_reason(start_header: bytes, window: _Window, size: int, read_range: ReadRange | None) -> str | None:
    try:
        problem = _sevenzip_problem(start_header, window, size, read_range)
    except (_SevenZipError, IndexError, struct.error, OverflowError, lzma.LZMAError):
        problem = "7z-header-unreadable"
    except _SevenZipUnsupported as unsupported:
        problem = str(unsupported)
    return None if problem is None else _reason(problem)


def _sevenzip_problem(start_header: bytes, window: _Window, size: int, read_range: ReadRange | None) -> str | None:
    """7zIn.c SzArEx_Open2(), then each folder files are unpacked from (7z_iface.c cli_7unz())."""
    if len(start_header) < _SEVENZIP_START_HEADER:
        raise _SevenZipError("no start header")
    if start_header[6] != 0:
        return "7z-version"
    start_crc, offset, length, header_crc = struct.unpack_from("<IQQI", start_header, 8)
    if start_crc == 0 and offset == 0 and length == 0 and header_crc == 0:
        raise _SevenZipError("start header is empty (ClamAV's recovery mode)")
    if length == 0:
        return None  # an empty archive
    if length > SEVENZIP_MAX_HEADER:
        return "7z-header-too-large"
    start = _SEVENZIP_START_HEADER + offset
    if start + length > size:
        raise _SevenZipError("header beyond the end")

    def read(begin: int, end: int) -> bytes | None:
        if begin < 0 or end > size or begin > end:
            return None
        kept = window.get(begin, end)
        if kept is not None or read_range is None:
            return kept
        return _checked_read(read_range, begin, end)

    header = read(start, start + length)
    if header is None:
        raise _SevenZipUnsupported("7z-header-unreadable")
    if zlib.crc32(header) != header_crc:
        raise _SevenZipError("header CRC")
    r = _Reader(header)
    kind = r.number()
    if kind == 0x17:  # kEncodedHeader
        r = _Reader(_decode_header(_read_streams_info(r), read))
        kind = r.number()
    if kind != 0x01:  # kHeader
        raise _SevenZipError("no header")
    streams = _read_header(r)
    for folder in streams.folders:
        problem = _folder_problem(folder)
        if problem:
            return "7z-" + problem
        if folder.unpack_size() > CLAMAV_MAX_ALLOCATION:
            return "7z-folder-too-large"
    return None


# ---------------------------------------------------------------------------------------------------------------
# RAR.


def _clamav_library_dirs() -> list[Path]:
    """Where libclamav's load_module() looks (others.c, clamav-1.4.5): each LD_LIBRARY_PATH entry (at most 10),
    then its build's library directory (Debian: /usr/lib/<multiarch>)."""
    dirs = [Path(p) for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p][:10]
    multiarch = sysconfig.get_config_var("MULTIARCH")
    dirs.append(Path("/usr/lib") / multiarch if multiarch else Path("/usr/lib"))
    return dirs


def _module_suffixes() -> list[str]:
    """load_module()'s suffixes: ".so.<libclamav's full version>", ".so.<major>", ".so"."""
    libclamav = _clamav_library_dirs()[-1] / "libclamav.so.12"
    full = [os.path.realpath(libclamav).rsplit("libclamav", 1)[-1]] if libclamav.exists() else []
    return [*full, ".so.12", ".so"]


def rar_supported(library_dirs: Iterable[Path | str] | None = None) -> bool:
    """Whether the clamd on this machine/image can unpack RAR (libclamunrar present and loadable).

    Mirrors libclamav's rarload(): the first libclamunrar_iface that loads must export every unrar function.
    `library_dirs` replaces where libclamav looks (tests point it at a directory without the module)."""
    dirs = [Path(d) for d in library_dirs] if library_dirs is not None else _clamav_library_dirs()
    suffixes = _module_suffixes()
    for library_dir in dirs:
        for suffix in suffixes:
            path = library_dir / f"{UNRAR_MODULE}{suffix}"
            if not path.is_file():
                continue
            try:
                module = ctypes.CDLL(str(path))
            except OSError:
                continue
            return all(hasattr(module, symbol) for symbol in UNRAR_SYMBOLS)
    return False
