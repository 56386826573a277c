"""ArchiveInspector against the real clamd: every archive clamd answers OK for without looking inside gets a reason,
every archive it does look into gets none. Samples: tests/support/archive_samples.py."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
import subprocess
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scanner import archives
from scanner.archives import ArchiveInspector, rar_supported
from scanner.clamd import ClamdDaemon
from tests.support import archive_samples as s
from tests.support.clamd import EICAR_NAME, TESTFILE_NAME, require_binary, start_daemon

CHUNK = 256 * 1024
FOUND_EICAR = f"stream: {EICAR_NAME} FOUND"
OK = "stream: OK"


def inspect(data: bytes, *, rar: bool = True, chunk: int = CHUNK, ranged: bool = True) -> str | None:
    inspector = ArchiveInspector(rar_supported=rar)
    for start in range(0, len(data), chunk):
        inspector.feed(data[start : start + chunk])
    return inspector.finish(len(data), (lambda a, b: data[a:b]) if ranged else None)


@pytest.fixture(scope="module")
def clamd_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdDaemon]:
    """ClamAV alone (without the scanner's own signatures): what these tests show it misses."""
    daemon = start_daemon(tmp_path_factory.mktemp("plain-clamd"), builtin_signatures=False)
    yield daemon
    daemon.stop()


def scan(daemon: ClamdDaemon, data: bytes) -> str:
    return daemon.client.instream(io.BytesIO(data))[0]


def reason(what: str) -> str:
    return archives.REASON_PREFIX + what


Extract = Callable[[Path, bytes], bytes]


def by_zipfile(tmp: Path, data: bytes) -> bytes:
    return s.zipfile_extract(data)


def by_7zip(tmp: Path, data: bytes) -> bytes:
    return s.sevenzip_extract(tmp, data)


def by_stream(tmp: Path, data: bytes) -> bytes:
    return s.stream_extract(data)


def prefixed(data: bytes) -> bytes:
    return b"#!/bin/sh\necho self-extracting archive\nexit 0\n" + data


def deflated(payload: bytes) -> bytes:
    return s.zip_python(payload)


def filtered(name: str) -> Callable[[Path, bytes], bytes]:
    return lambda t, p: s.sevenzip_7zz(t, p, f"-m0={name}", "-m1=LZMA2")


def unlisted(t: Path, p: bytes) -> bytes:
    return s.insert_unlisted_entry(deflated(s.clean_payload()), deflated(p))


def local_size_halved(t: Path, p: bytes) -> bytes:
    return s.patch_local(deflated(p), csize=s.local_csize(deflated(p)) // 2)


def hole(name: str, build: Callable[[Path, bytes], bytes], what: str, extract: Extract) -> object:
    return pytest.param(build, what, extract, id=name)


# Each: a sample with EICAR inside, the reason, a client that extracts EICAR from it.
HOLES = [
    hole("zip-lzma-by-zipfile", lambda t, p: s.zip_python(p, zipfile.ZIP_LZMA), "zip-lzma", by_zipfile),
    hole("zip-lzma-by-7zip", lambda t, p: s.zip_7zz(t, p, "LZMA"), "zip-lzma", by_7zip),
    hole("zip-ppmd-by-7zip", lambda t, p: s.zip_7zz(t, p, "PPMd"), "zip-ppmd", by_7zip),
    hole(
        "zip-no-central-directory",
        lambda t, p: s.strip_central_directory(deflated(p)),
        "zip-no-central-directory",
        by_7zip,
    ),
    hole("zip-entry-missing-from-central-directory", unlisted, "zip-unlisted-entry", by_stream),
    hole(
        "zip-local-lzma-central-deflate",
        lambda t, p: s.patch_local(deflated(p), method=14),
        "zip-method-mismatch",
        by_zipfile,
    ),
    hole(
        "zip-local-stored-central-deflate",
        lambda t, p: s.patch_local_stored_with_equal_sizes(deflated(p)),
        "zip-method-mismatch",
        by_zipfile,
    ),
    hole("zip-local-size-halved", local_size_halved, "zip-size-mismatch", by_zipfile),
    hole(
        "zip-local-header-masked",
        lambda t, p: s.patch_local(deflated(p), flags_or=0x2000),
        "zip-masked-header",
        by_zipfile,
    ),
    hole("zip64-local-headers-by-zipfile", lambda t, p: s.zip_python(p, force_zip64=True), "zip64", by_zipfile),
    hole("zip64-local-headers-by-infozip-stdin", s.zip_infozip_stdin, "zip64", by_zipfile),
    hole(
        "zip-appended-to-another-zip",
        lambda t, p: deflated(s.clean_payload()) + deflated(p),
        "zip-offsets-shifted",
        by_zipfile,
    ),
    hole("zip-lzma-after-prefix", lambda t, p: prefixed(s.zip_python(p, zipfile.ZIP_LZMA)), "zip-lzma", by_zipfile),
    hole(
        "zip-data-descriptor-after-prefix",
        lambda t, p: prefixed(s.zip_python_streamed(p)),
        "zip-sfx-data-descriptor",
        by_zipfile,
    ),
    hole("7z-bzip2", lambda t, p: s.sevenzip_7zz(t, p, "-m0=BZip2"), "7z-bzip2", by_7zip),
    hole("7z-bzip2-plain-header", lambda t, p: s.sevenzip_7zz(t, p, "-m0=BZip2", "-mhc=off"), "7z-bzip2", by_7zip),
    hole(
        "7z-header-compressed-with-bzip2",
        lambda t, p: s.encode_header_bzip2(s.sevenzip_solid([(s.MEMBER, p)])),
        "7z-header-bzip2",
        by_7zip,
    ),
    hole("7z-deflate", lambda t, p: s.sevenzip_7zz(t, p, "-m0=Deflate"), "7z-deflate", by_7zip),
    hole("7z-deflate64", lambda t, p: s.sevenzip_7zz(t, p, "-m0=Deflate64"), "7z-deflate64", by_7zip),
    hole("7z-delta-filter", filtered("Delta:4"), "7z-delta", by_7zip),
    *[hole(f"7z-{f.lower()}-filter", filtered(f), f"7z-{f.lower()}", by_7zip) for f in ("ARM64", "ARMT", "PPC")],
    *[hole(f"7z-{f.lower()}-filter", filtered(f), f"7z-{f.lower()}", by_7zip) for f in ("SPARC", "IA64", "RISCV")],
    hole("7z-swap4-filter", filtered("Swap4"), "7z-swap4", by_7zip),
]


@pytest.mark.parametrize(("build", "expected", "extract"), HOLES)
def test_clamd_misses_eicar_that_a_client_extracts_and_the_inspector_names_why(
    clamd_daemon: ClamdDaemon, tmp_path: Path, build: Callable[[Path, bytes], bytes], expected: str, extract: Extract
) -> None:
    data = build(tmp_path, s.infected_payload())
    assert not s.contains_eicar(data), "the sample must hide EICAR from a raw scan"
    assert s.contains_eicar(extract(tmp_path, data)), "a client must get EICAR out of the sample"
    assert scan(clamd_daemon, data) == OK
    assert inspect(data) == reason(expected)
    # Without ranged reads (content decoded from a Content-Encoding) only a ZIP behind a prefix needs a second look.
    behind_prefix = data.startswith(b"#!")
    assert inspect(data, ranged=False) == reason("zip-after-prefix-unreadable" if behind_prefix else expected)


def test_7z_folder_too_large_for_clamav_hides_its_files(clamd_daemon: ClamdDaemon, tmp_path: Path) -> None:
    """ClamAV unpacks a whole solid folder into one buffer of at most 1 GiB; 7-Zip streams it."""
    data = s.sevenzip_folder_over_1gib(s.infected_payload())
    assert s.contains_eicar(s.sevenzip_extract(tmp_path, data, s.MEMBER))
    assert scan(clamd_daemon, data) == OK
    assert inspect(data) == reason("7z-folder-too-large")


def test_truncated_zip_is_unscannable(clamd_daemon: ClamdDaemon) -> None:
    data = deflated(s.infected_payload())
    for cut in (len(data) // 2, len(data) - 10):
        assert scan(clamd_daemon, data[:cut]) == OK
        assert inspect(data[:cut]) == reason("zip-no-central-directory")


def test_7z_whose_header_clamav_cannot_read_is_unscannable(clamd_daemon: ClamdDaemon, tmp_path: Path) -> None:
    """Truncated, a damaged header, a header version ClamAV refuses: cli_7unz() unpacks nothing."""
    data = s.sevenzip_7zz(tmp_path, s.infected_payload())
    damaged = bytearray(data)
    damaged[-3] ^= 0xFF
    version = bytearray(data)
    version[6] = 1
    for sample, expected in ((data[:-10], "7z-header-unreadable"), (bytes(damaged), "7z-header-unreadable")):
        assert scan(clamd_daemon, sample) == OK
        assert inspect(sample) == reason(expected)
    assert scan(clamd_daemon, bytes(version)) == OK
    assert inspect(bytes(version)) == reason("7z-version")


# ---------------------------------------------------------------------------------------------------------------
# What ClamAV does unpack: EICAR inside is FOUND, and a clean archive of the same kind gets no reason.

BCJ2 = ("-m0=BCJ2", "-m1=LZMA", "-m2=LZMA", "-m3=LZMA", "-mb0:1", "-mb0s1:2", "-mb0s2:3")
SUPPORTED = [
    pytest.param(lambda t, p: s.zip_python(p, zipfile.ZIP_STORED), id="zip-stored-by-zipfile"),
    pytest.param(lambda t, p: s.zip_python(p), id="zip-deflate-by-zipfile"),
    pytest.param(lambda t, p: s.zip_python(p, zipfile.ZIP_BZIP2), id="zip-bzip2-by-zipfile"),
    pytest.param(lambda t, p: s.zip_python_streamed(p), id="zip-data-descriptors-by-zipfile"),
    pytest.param(s.zip_infozip, id="zip-by-infozip"),
    pytest.param(lambda t, p: s.zip_7zz(t, p, "Copy"), id="zip-copy-by-7zip"),
    pytest.param(lambda t, p: s.zip_7zz(t, p, "Deflate"), id="zip-deflate-by-7zip"),
    pytest.param(lambda t, p: s.zip_7zz(t, p, "Deflate64"), id="zip-deflate64-by-7zip"),
    pytest.param(lambda t, p: s.zip_7zz(t, p, "BZip2"), id="zip-bzip2-by-7zip"),
    pytest.param(lambda t, p: s.zip_ooxml_like(p), id="ooxml-like-zip"),
    pytest.param(lambda t, p: s.zip_jar_like(p), id="jar-like-zip"),
    pytest.param(lambda t, p: s.zip_long_comment(p), id="zip-with-64k-comment"),
    pytest.param(lambda t, p: deflated(p) + b"trailing garbage\n" * 300, id="zip-with-garbage-after"),
    pytest.param(lambda t, p: prefixed(deflated(p)), id="zip-after-prefix"),
    pytest.param(lambda t, p: prefixed(s.strip_central_directory(deflated(p))), id="zip-after-prefix-no-central-dir"),
    pytest.param(lambda t, p: s.sevenzip_7zz(t, p), id="7z-by-7zip-defaults"),
    pytest.param(lambda t, p: s.sevenzip_7zz_many(t, p), id="7z-compressed-header-by-7zip"),
    pytest.param(lambda t, p: s.sevenzip_7zz(t, p, "-m0=LZMA"), id="7z-lzma"),
    pytest.param(lambda t, p: s.sevenzip_7zz(t, p, "-m0=PPMd"), id="7z-ppmd"),
    pytest.param(lambda t, p: s.sevenzip_7zz(t, p, "-m0=Copy", "-mhc=off"), id="7z-copy-plain-header"),
    pytest.param(lambda t, p: s.sevenzip_7zz(t, p, "-m0=BCJ", "-m1=LZMA2"), id="7z-bcj-filter"),
    pytest.param(lambda t, p: s.sevenzip_7zz(t, p, "-m0=ARM", "-m1=LZMA2"), id="7z-arm-filter"),
    pytest.param(lambda t, p: s.sevenzip_7zz(t, p, *BCJ2), id="7z-bcj2"),
    pytest.param(lambda t, p: s.sevenzip_solid([("a.bin", bytes(5000)), (s.MEMBER, p)]), id="7z-solid-by-hand"),
    pytest.param(lambda t, p: s.sevenzip_7zz(t, p) + os.urandom(2 * 1024 * 1024), id="7z-with-garbage-after"),
    pytest.param(s.rar5, id="rar5-by-rar"),
]


@pytest.mark.parametrize("build", SUPPORTED)
def test_clamd_finds_eicar_in_archives_it_unpacks_and_clean_ones_get_no_reason(
    clamd_daemon: ClamdDaemon, tmp_path: Path, build: Callable[[Path, bytes], bytes], request: pytest.FixtureRequest
) -> None:
    infected = build(tmp_path, s.infected_payload())
    if not any(word in request.node.name for word in ("stored", "copy")):
        assert not s.contains_eicar(infected), "FOUND must come from unpacking, not from the raw bytes"
    assert scan(clamd_daemon, infected) == FOUND_EICAR
    clean = build(tmp_path, s.clean_payload())
    assert scan(clamd_daemon, clean) == OK
    assert inspect(clean) is None
    assert inspect(clean, ranged=False) in (None, reason("zip-after-prefix-unreadable"))


@pytest.mark.parametrize("path", [p.name for p in s.RAR4_SAMPLES])
def test_clamd_unpacks_rar4_with_libclamunrar(clamd_daemon: ClamdDaemon, path: str) -> None:
    data = (s.TESTFILES / path).read_bytes()
    assert scan(clamd_daemon, data) == f"stream: {TESTFILE_NAME} FOUND"
    assert inspect(data, rar=True) is None
    assert inspect(data, rar=False) == reason("rar")


def test_clamd_unpacks_rar5_with_libclamunrar(clamd_daemon: ClamdDaemon, tmp_path: Path) -> None:
    data = s.rar5(tmp_path, s.infected_payload())
    assert not s.contains_eicar(data)
    assert s.contains_eicar(s.rar_extract(tmp_path, data))
    assert scan(clamd_daemon, data) == FOUND_EICAR
    assert inspect(data, rar=True) is None
    assert inspect(data, rar=False) == reason("rar")


def test_ordinary_content_gets_no_reason(tmp_path: Path) -> None:
    samples = {
        "empty": b"",
        "text": b"hello\n" * 1000,
        "random": os.urandom(3 * CHUNK + 17),
        "empty-zip": s.empty_zip(),
        "pk-text": b"PK is not a zip\n" * 100,
        "rar-word": b"Rar! is not an archive",
        "7z-word": b"7z archives are mentioned here",
        "gzip": zlib.compress(b"x" * 1000, wbits=31),
        "tar-with-a-zip-inside": _tar_with(tmp_path, s.zip_python_streamed(s.clean_payload())),
    }
    for name, data in samples.items():
        assert inspect(data) is None, name
        assert inspect(data, ranged=False) is None, name


def _tar_with(tmp: Path, member: bytes) -> bytes:
    (tmp / "member.zip").write_bytes(member)
    subprocess.run(["tar", "-cf", "t.tar", "member.zip"], cwd=tmp, check=True)
    return (tmp / "t.tar").read_bytes()


# ---------------------------------------------------------------------------------------------------------------
# Reading: chunking, ranged reads, bounds.


def test_reason_does_not_depend_on_how_the_stream_is_chunked(tmp_path: Path) -> None:
    samples = [
        deflated(s.clean_payload()),
        s.zip_python(s.clean_payload(), zipfile.ZIP_LZMA),
        s.strip_central_directory(deflated(s.clean_payload())),
        s.sevenzip_7zz(tmp_path, s.clean_payload()),
        s.sevenzip_7zz(tmp_path, s.clean_payload(), "-m0=BZip2"),
        prefixed(s.zip_python(s.clean_payload(), zipfile.ZIP_LZMA)),
    ]
    for data in samples:
        expected = inspect(data, chunk=len(data) or 1)
        for chunk in (1, 7, 29, 31, 45, 4096):
            assert inspect(data, chunk=chunk) == expected, chunk


def test_finish_rejects_a_size_other_than_what_was_fed() -> None:
    inspector = ArchiveInspector(rar_supported=True)
    inspector.feed(b"abc")
    with pytest.raises(ValueError):
        inspector.finish(4, None)


def test_a_zip_needs_no_ranged_read(tmp_path: Path) -> None:
    """Local and central headers are recorded while streaming: read_range is never called for a ZIP or a 7z whose
    header follows its data, even with megabytes of data before the central directory."""
    big = s.zip_python(os.urandom(3 * 1024 * 1024) + s.clean_payload(), zipfile.ZIP_STORED)
    for data in (big, s.zip_python(s.clean_payload(), zipfile.ZIP_LZMA), s.sevenzip_7zz(tmp_path, s.clean_payload())):
        inspector = ArchiveInspector(rar_supported=True)
        for start in range(0, len(data), CHUNK):
            inspector.feed(data[start : start + CHUNK])

        def forbidden(a: int, b: int) -> bytes:
            raise AssertionError("read_range called")

        inspector.finish(len(data), forbidden)


def test_7z_header_data_far_from_the_header_is_read_by_range(clamd_daemon: ClamdDaemon, tmp_path: Path) -> None:
    """An encoded header's packed data 2 MiB before the header: outside what the inspector keeps while streaming."""
    plain = s.sevenzip_7zz_many(tmp_path, s.infected_payload())
    offset, length, crc = struct.unpack_from("<QQI", plain, 12)
    header_at = 32 + offset
    assert plain[header_at] == 0x17, "the sample needs an encoded (compressed) header"
    gap = os.urandom(2 * 1024 * 1024)
    body = plain[32:header_at] + gap + plain[header_at:]
    next_header = struct.pack("<QQI", offset + len(gap), length, crc)
    data = plain[:8] + struct.pack("<I", zlib.crc32(next_header)) + next_header + body
    assert s.contains_eicar(s.sevenzip_extract(tmp_path, data))
    assert scan(clamd_daemon, data) == FOUND_EICAR
    reads: list[tuple[int, int]] = []

    def read_range(a: int, b: int) -> bytes:
        reads.append((a, b))
        return data[a:b]

    inspector = ArchiveInspector(rar_supported=True)
    for start in range(0, len(data), CHUNK):
        inspector.feed(data[start : start + CHUNK])
    assert inspector.finish(len(data), read_range) is None
    assert len(reads) == 1 and reads[0][1] - reads[0][0] < 1024
    assert inspect(data, ranged=False) == reason("7z-header-unreadable")


def test_zip_after_prefix_is_read_again_in_bounded_ranges() -> None:
    data = prefixed(s.zip_python(os.urandom(20 * 1024 * 1024), zipfile.ZIP_STORED))
    reads: list[tuple[int, int]] = []

    def read_range(a: int, b: int) -> bytes:
        reads.append((a, b))
        return data[a:b]

    inspector = ArchiveInspector(rar_supported=True)
    for start in range(0, len(data), CHUNK):
        inspector.feed(data[start : start + CHUNK])
    assert inspector.finish(len(data), read_range) is None
    assert reads[0][0] == 0 and reads[-1][1] == len(data)
    assert max(b - a for a, b in reads) <= archives.REREAD_RANGE_BYTES


def test_zip_stuffed_with_header_signatures_stays_bounded() -> None:
    stuffed = s.zip_python(b"PK\x03\x04" * (archives.ZIP_MAX_HEADERS + 10), zipfile.ZIP_STORED)
    inspector = ArchiveInspector(rar_supported=True)
    for start in range(0, len(stuffed), CHUNK):
        inspector.feed(stuffed[start : start + CHUNK])
    assert inspector._zip is not None
    assert len(inspector._zip.local) + len(inspector._zip.central) <= archives.ZIP_MAX_HEADERS
    assert inspector.finish(len(stuffed), None) == reason("zip-too-many-headers")


def test_zip64_end_record_with_valid_32_bit_fields_is_read_like_clamav_reads_it(
    clamd_daemon: ClamdDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers add ZIP64 end records for many entries; below 4 GiB the 32-bit fields stay valid for ClamAV."""
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)

    def build(payload: bytes) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("a.txt", s.clean_payload())
            archive.writestr(s.MEMBER, payload)
        return out.getvalue()

    infected, clean = build(s.infected_payload()), build(s.clean_payload())
    assert b"PK\x06\x06" in infected and b"PK\x06\x07" in infected
    assert scan(clamd_daemon, infected) == FOUND_EICAR
    assert inspect(clean) is None


def test_hostile_7z_header_counts_are_bounded() -> None:
    """Counts a header states (files, streams) are bounded before anything is allocated for them."""
    huge = s.number(2**30)
    many_files = b"\x01\x05" + huge + b"\x00\x00"
    folder = b"\x07\x0b\x01\x00\x01\x01\x00\x0c\x05\x00"  # one Copy folder of 5 bytes
    many_streams = b"\x01\x04\x06\x00\x01\x09\x05\x00" + folder + b"\x08\x0d" + huge + b"\x0a\x01\x00\x00\x00"
    for header in (many_files, many_streams):
        start = time.perf_counter()
        assert inspect(s.sevenzip_with_header(header)) == reason("7z-header-too-large")
        assert time.perf_counter() - start < 1


def test_non_archive_costs_a_small_fraction_of_hashing_it() -> None:
    """Side by side on the same 64 MiB (best of 3 each): the inspector's work for a non-archive against SHA-256,
    which the scanner computes anyway."""
    chunks = [os.urandom(CHUNK)] * 256

    def hashing() -> None:
        digest = hashlib.sha256()
        for chunk in chunks:
            digest.update(chunk)

    def inspecting() -> None:
        inspector = ArchiveInspector(rar_supported=True)
        for chunk in chunks:
            inspector.feed(chunk)
        assert inspector.finish(len(chunks) * CHUNK, None) is None
        assert inspector._tail_bytes <= archives.TAIL_BYTES + CHUNK

    def best(run: Callable[[], None]) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return min(times)

    hashed, inspected = best(hashing), best(inspecting)
    assert inspected < hashed / 20, (inspected, hashed)


# ---------------------------------------------------------------------------------------------------------------
# RAR support: truthful with and without the library.


def test_rar_supported_on_this_machine_agrees_with_clamav() -> None:
    """scripts/dev installs libclamunrar12: libclamav's own report (clamconf) and rar_supported() both say RAR."""
    output = subprocess.run([require_binary("clamconf")], capture_output=True, text=True, check=True).stdout
    features = next(line for line in output.splitlines() if line.startswith("Optional features supported:"))
    assert "RAR" in features.split()
    assert rar_supported() is True


def test_rar_supported_is_false_without_a_loadable_module(tmp_path: Path) -> None:
    assert rar_supported([tmp_path / "missing"]) is False
    (tmp_path / "libclamunrar_iface.so.12").write_bytes(b"not a shared object")
    assert rar_supported([tmp_path]) is False
    decoy = _decoy_module(tmp_path / "decoy")
    assert rar_supported([decoy]) is False


def _decoy_module(directory: Path) -> Path:
    """A loadable shared object without the unrar functions, named as libclamav looks for libclamunrar_iface."""
    directory.mkdir()
    candidates = (Path("/lib/x86_64-linux-gnu/libz.so.1"), Path("/usr/lib/x86_64-linux-gnu/libz.so.1"))
    libz = next(path for path in candidates if path.exists())
    shutil.copy(libz, directory / "libclamunrar_iface.so.12")
    return directory


def test_clamd_without_unrar_misses_rar_and_rar_supported_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libclamav takes the first libclamunrar_iface it can load (LD_LIBRARY_PATH first): a decoy without the unrar
    functions turns RAR support off, as a missing library does. Both clamd and rar_supported() see it."""
    monkeypatch.setenv("LD_LIBRARY_PATH", str(_decoy_module(tmp_path / "decoy")))
    assert rar_supported() is False
    daemon = start_daemon(tmp_path / "clamd")
    try:
        rar = s.rar5(tmp_path, s.infected_payload())
        assert scan(daemon, rar) == OK
        assert inspect(rar, rar=rar_supported()) == reason("rar")
        for sample in s.RAR4_SAMPLES:
            assert scan(daemon, sample.read_bytes()) == OK
            assert inspect(sample.read_bytes(), rar=False) == reason("rar")
    finally:
        daemon.stop()


# ---------------------------------------------------------------------------------------------------------------
# Archives inside archives: the signatures clamd matches in every layer it unpacks.


@pytest.fixture(scope="module")
def nested_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdDaemon]:
    """clamd as the scanner runs it: the test signatures plus archives.NESTED_SIGNATURES (clamd.database_view)."""
    daemon = start_daemon(tmp_path_factory.mktemp("nested-clamd"))
    assert set(archives.NESTED_SIGNATURES) <= {p.name for p in daemon.paths.database_view.iterdir()}
    yield daemon
    daemon.stop()


def zipped(name: str, member: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("readme.txt", s.clean_payload())
        archive.writestr(name, member)
    return out.getvalue()


def tarred(tmp: Path, name: str, member: bytes, mode: str = "-cf") -> bytes:
    (tmp / name).write_bytes(member)
    subprocess.run(["tar", mode, "out.tar", name], cwd=tmp, check=True)
    return (tmp / "out.tar").read_bytes()


NESTED = [
    pytest.param(lambda t, i: zipped("inner.zip", i), "zip-nested-method", id="zip-lzma-in-zip"),
    pytest.param(
        lambda t, i: zipped("a.zip", zipped("inner.zip", i)), "zip-nested-method", id="zip-lzma-in-zip-in-zip"
    ),
    pytest.param(lambda t, i: tarred(t, "inner.zip", i), "zip-nested-method", id="zip-lzma-in-tar"),
    pytest.param(lambda t, i: tarred(t, "inner.zip", i, "-czf"), "zip-nested-method", id="zip-lzma-in-tar-gz"),
    pytest.param(lambda t, i: zlib.compress(i, wbits=31), "zip-nested-method", id="zip-lzma-gzipped"),
    pytest.param(lambda t, i: s.sevenzip_solid([("inner.zip", i)]), "zip-nested-method", id="zip-lzma-in-7z"),
]


@pytest.mark.parametrize(("wrap", "expected"), NESTED)
def test_unsupported_zip_nested_in_what_clamd_unpacks_is_found_by_the_nested_signatures(
    clamd_daemon: ClamdDaemon,
    nested_daemon: ClamdDaemon,
    tmp_path: Path,
    wrap: Callable[[Path, bytes], bytes],
    expected: str,
) -> None:
    data = wrap(tmp_path, s.zip_python(s.infected_payload(), zipfile.ZIP_LZMA))
    assert scan(clamd_daemon, data) == OK, "without the signatures clamd misses it"
    assert inspect(data) is None, "the inspector sees only the outer layer"
    reply = scan(nested_daemon, data)
    assert reply.startswith(f"stream: {archives.NESTED_SIGNATURE_PREFIX}") and reply.endswith(" FOUND")
    assert archives.nested_reason(reply.removeprefix("stream: ").removesuffix(" FOUND")) == reason(expected)


def test_zip_without_central_directory_nested_in_a_zip_is_found_by_the_nested_signatures(
    clamd_daemon: ClamdDaemon, nested_daemon: ClamdDaemon
) -> None:
    data = zipped("inner.zip", s.strip_central_directory(deflated(s.infected_payload())))
    assert scan(clamd_daemon, data) == OK
    reply = scan(nested_daemon, data)
    assert archives.nested_reason(reply.removeprefix("stream: ").removesuffix(" FOUND")) == reason(
        "zip-nested-no-central-directory"
    )
    assert archives.nested_reason(EICAR_NAME) is None


@pytest.mark.parametrize("build", SUPPORTED)
def test_nested_signatures_leave_ordinary_archives_alone(
    nested_daemon: ClamdDaemon, tmp_path: Path, build: Callable[[Path, bytes], bytes]
) -> None:
    clean = build(tmp_path, s.clean_payload())
    assert scan(nested_daemon, clean) == OK
    assert scan(nested_daemon, zipped("inner", clean)) == OK
    assert scan(nested_daemon, build(tmp_path, s.infected_payload())) == FOUND_EICAR
