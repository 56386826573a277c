"""Representative content of a given size, deterministic and cached in bench/.cache/corpus.

Kinds: `random` (incompressible bytes), `text` (CSV rows of words and numbers), `libs` (a tar of this machine's
shared libraries), `office` (a .docx-shaped zip: deflated XML plus a stored image), `pdf` (flate streams of text
plus a binary image stream) and `pe` (a PE32 executable whose sections hold x86 code taken from the shared
libraries).
"""

from __future__ import annotations

import io
import random
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from bench.common import CACHE, random_file

KINDS = ("random", "text", "libs", "office", "pdf", "pe")
LIB_DIRS = (Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/lib"))
WORDS = [
    *[
        "invoice",
        "order",
        "customer",
        "account",
        "payment",
        "shipped",
        "pending",
        "total",
        "amount",
        "region",
        "north",
        "south",
        "east",
        "west",
    ],
    *[
        "product",
        "widget",
        "gadget",
        "service",
        "monthly",
        "annual",
        "refund",
        "discount",
        "tax",
        "delivery",
        "warehouse",
        "stock",
        "supplier",
    ],
    *["contract", "renewal"],
]


def corpus_file(kind: str, size: int, seed: int = 7) -> Path:
    """The cached file of `kind` with exactly `size` bytes (one per seed)."""
    path = CACHE / "corpus" / (f"{kind}-{size}.bin" if seed == 7 else f"{kind}-{size}-s{seed}.bin")
    if path.exists() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "random":
        return random_file(path, size, seed)
    data = BUILDERS[kind](size, random.Random(seed))
    if len(data) != size:
        raise RuntimeError(f"{kind}: built {len(data)} bytes, wanted {size}")
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    partial.rename(path)
    return path


def _text(size: int, rng: random.Random) -> bytes:
    rows = ["id,date,customer,region,amount,note"]
    length = len(rows[0]) + 1
    index = 0
    while length < size:
        index += 1
        note = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        date = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        row = f"{index},{date},{rng.choice(WORDS)}-{rng.randint(1, 9999)},"
        row += f"{rng.choice(WORDS[10:14])},{rng.randint(1, 99999)}.{rng.randint(0, 99):02d},{note}"
        rows.append(row)
        length += len(row) + 1
    return ("\n".join(rows) + "\n").encode()[:size]


def shared_libraries() -> list[Path]:
    seen: list[Path] = []
    for directory in LIB_DIRS:
        for path in sorted(directory.glob("*.so*")):
            if path.is_file() and not path.is_symlink() and path.stat().st_size > 4096:
                seen.append(path)
    if not seen:
        raise RuntimeError("no shared libraries found under /usr/lib")
    return seen


def _padded_tar(size: int, members: list[tuple[str, bytes]], rng: random.Random) -> bytes:
    """A ustar archive of `members` (as many as fit) padded with one random member to exactly `size` bytes."""
    buffer = io.BytesIO()
    used = 1024 + 512  # the end-of-archive blocks and the padding member's header
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members:
            cost = 512 + -(-len(data) // 512) * 512
            if used + cost > size:
                continue
            used += cost
            _tar_add(archive, name, data)
        pad = size - buffer.tell() - 512 - 1024
        pad -= pad % 512
        if pad > 0:
            _tar_add(archive, "padding.bin", rng.randbytes(pad))
        content = buffer.tell()
    # The members, then zero blocks (the end of the archive) up to exactly `size`.
    return buffer.getvalue()[:content] + b"\0" * (size - content)


def _tar_add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mtime = 1_790_000_000
    archive.addfile(member, io.BytesIO(data))


def _libs(size: int, rng: random.Random) -> bytes:
    members = [(path.name, path.read_bytes()) for path in shared_libraries()[:4000]]
    rng.shuffle(members)
    return _padded_tar(size, members, rng)


def _office(size: int, rng: random.Random) -> bytes:
    """A .docx-shaped zip: [Content_Types].xml, word/document.xml (deflated) and stored media, to `size`."""
    paragraphs = []
    length = 0
    while length < size * 2:
        text = " ".join(rng.choice(WORDS) for _ in range(40))
        paragraphs.append(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>")
        length += len(paragraphs[-1])
    document = ('<?xml version="1.0"?><w:document><w:body>' + "".join(paragraphs) + "</w:body></w:document>").encode()
    types = b'<?xml version="1.0"?><Types><Default Extension="xml" ContentType="application/xml"/></Types>'
    # Deflated XML compresses ~20x; fill the rest with a stored (incompressible) image.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", types, zipfile.ZIP_DEFLATED)
        archive.writestr("word/document.xml", document[: size * 2], zipfile.ZIP_DEFLATED)
    overhead = buffer.tell() + 300
    image = rng.randbytes(max(0, size - overhead))
    for _ in range(3):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("[Content_Types].xml", types, zipfile.ZIP_DEFLATED)
            archive.writestr("word/document.xml", document[: size * 2], zipfile.ZIP_DEFLATED)
            archive.writestr("word/media/image1.png", image, zipfile.ZIP_STORED)
            archive.comment = b""
        extra = size - buffer.tell()
        if extra >= 0:
            with zipfile.ZipFile(buffer, "a") as archive:
                archive.comment = b" " * min(extra, 65535)
            if buffer.tell() == size:
                return buffer.getvalue()
        image = image[: max(0, len(image) + min(extra, 0) - 64)]
    raise RuntimeError(f"office zip of {size} bytes could not be sized")


def _pdf(size: int, rng: random.Random) -> bytes:
    """A PDF: text pages as FlateDecode streams and one raw image stream, with an xref table, to `size`."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    budget = size - 4096 - size // 200
    while budget > 0:
        text = " ".join(rng.choice(WORDS) for _ in range(2000)).encode()
        stream = zlib.compress(b"BT /F1 12 Tf 72 712 Td (" + text + b") Tj ET")
        if len(stream) + 200 > budget:
            break
        objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream")
        budget -= len(stream) + 80
        image = rng.randbytes(min(budget - 200, 256 * 1024)) if budget > 400 else b""
        if image:
            objects.append(
                b"<< /Type /XObject /Subtype /Image /Length %d >>\nstream\n" % len(image) + image + b"\nendstream"
            )
            budget -= len(image) + 100
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    if len(out) > size:
        raise RuntimeError("pdf grew past its size")
    return bytes(out) + b"\n" * (size - len(out))


def _x86_code(size: int, rng: random.Random) -> bytes:
    """Bytes of real machine code: slices of the shared libraries."""
    chunks = []
    total = 0
    libraries = shared_libraries()
    while total < size:
        data = rng.choice(libraries).read_bytes()
        start = rng.randrange(0, max(1, len(data) - 65536))
        chunk = data[start : start + min(65536, size - total)]
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)[:size]


def _pe(size: int, rng: random.Random) -> bytes:
    """A PE32 executable: headers, a .text section of machine code and a .data section, exactly `size` bytes."""
    file_align, section_align, headers = 0x200, 0x1000, 0x400
    body = size - headers
    if body < 2 * file_align:
        raise ValueError("a PE needs at least 1.5 KiB")
    text_size = (body * 3 // 4) // file_align * file_align
    data_size = body - text_size
    data_size -= data_size % file_align
    tail = body - text_size - data_size  # overlay after the last section

    def aligned(n: int) -> int:
        return -(-n // section_align) * section_align

    text_rva = section_align
    data_rva = text_rva + aligned(text_size)
    image_size = data_rva + aligned(data_size)
    dos = bytearray(0x80)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x80)
    coff = struct.pack("<HHIIIHH", 0x14C, 2, 1_790_000_000, 0, 0, 0xE0, 0x0102)
    optional = (
        struct.pack(
            "<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII",
            0x10B,
            14,
            0,
            text_size,
            data_size,
            0,
            text_rva,
            text_rva,
            data_rva,
            0x400000,
            section_align,
            file_align,
            6,
            0,
            0,
            0,
            6,
            0,
            0,
            image_size,
            headers,
            0,
            2,
            0x8140,
            0x100000,
            0x1000,
            0x100000,
            0x1000,
            0,
            16,
        )
        + b"\0" * 128
    )
    sections = struct.pack("<8sIIIIIIHHI", b".text", text_size, text_rva, text_size, headers, 0, 0, 0, 0, 0x60000020)
    sections += struct.pack(
        "<8sIIIIIIHHI", b".data", data_size, data_rva, data_size, headers + text_size, 0, 0, 0, 0, 0xC0000040
    )
    head = bytes(dos) + b"PE\0\0" + coff + optional + sections
    head += b"\0" * (headers - len(head))
    return head + _x86_code(text_size, rng) + _text(data_size, rng) + rng.randbytes(tail)


BUILDERS: dict[str, Callable[[int, random.Random], bytes]] = {
    "text": _text,
    "libs": _libs,
    "office": _office,
    "pdf": _pdf,
    "pe": _pe,
}


KiB = 1024
UPLOAD_MIX: tuple[tuple[str, int], ...] = (
    ("text", 64 * KiB),
    ("text", 512 * KiB),
    ("pdf", 256 * KiB),
    ("pdf", 1024 * KiB),
    ("office", 128 * KiB),
    ("office", 512 * KiB),
    ("pe", 256 * KiB),
    ("libs", 1024 * KiB),
    ("random", 256 * KiB),
    ("random", 1024 * KiB),
)
"""A representative SQS batch of 10 uploads (kind, bytes), 5 MiB in all: a guess, stated as one. Text and data
(CSV, JSON, logs), documents (PDF, office), an executable, an archive of binaries, and incompressible content
(media, compressed or encrypted files), 64 KiB to 1 MiB each."""


def upload_batch(size: int | None = None, *, quick: bool = False, seed: int = 0) -> list[tuple[str, Path]]:
    """The files of one representative batch: UPLOAD_MIX's kinds at their own sizes, or all at `size`; quick: 64 KiB.

    Each record gets its own content (seed + index), so no two objects of a batch are the same bytes.
    """
    files = []
    for index, (kind, own) in enumerate(UPLOAD_MIX):
        nbytes = 64 * KiB if quick else (size or own)
        files.append((kind, corpus_file(kind, nbytes, seed=seed + index)))
    return files
