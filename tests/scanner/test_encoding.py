"""Content-Encoding decoding: round trips, bombs, bad data, client-matching rules, and why it matters to clamd."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import brotli
import pytest
from backports import zstd

from scanner.clamd import ClamdDaemon
from scanner.encoding import (
    DEFLATE_SNIFF_BYTES,
    INPUT_SLICE,
    ContentEncodingError,
    DecodedTooLarge,
    encoding_reason,
    open_decoded,
    parse_content_encoding,
)
from tests.support.clamd import EICAR, EICAR_NAME, start_daemon

MIB = 1024**2


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": lambda data: brotli.compress(data, quality=5),
    "zstd": zstd.compress,
}


class CountingReader(io.BytesIO):
    """A source that records how much it was asked for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.requests: list[int] = []

    def read(self, size: int | None = -1, /) -> bytes:
        self.requests.append(-1 if size is None else size)
        return super().read(size)


def decode_all(blob: bytes, encoding: str | None, *, size: int = 4096, limit: int = 64 * MIB) -> bytes:
    reader = open_decoded(io.BytesIO(blob), encoding, max_decoded_bytes=limit)
    out = bytearray()
    while chunk := reader.read(size):
        assert len(chunk) <= size
        out += chunk
    return bytes(out)


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_each_encoding_round_trips_eicar(encoding: str) -> None:
    payload = b"prefix " + EICAR + b" suffix" * 1000
    assert decode_all(ENCODERS[encoding](payload), encoding) == payload


@pytest.mark.parametrize("size", [1, 7, 4096, 300_000])
@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_read_never_returns_more_than_asked(encoding: str, size: int) -> None:
    payload = random.Random(7).randbytes(20_000) + b"z" * 200_000
    reader = open_decoded(io.BytesIO(ENCODERS[encoding](payload)), encoding, max_decoded_bytes=64 * MIB)
    out = bytearray()
    while chunk := reader.read(size):
        assert 0 < len(chunk) <= size
        out += chunk
    assert out == payload
    assert reader.read(size) == b""


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_source_is_read_in_bounded_slices(encoding: str) -> None:
    source = CountingReader(ENCODERS[encoding](random.Random(1).randbytes(3 * MIB)))
    reader = open_decoded(source, encoding, max_decoded_bytes=64 * MIB)
    while reader.read(256 * 1024):
        pass
    assert source.requests and max(source.requests) == INPUT_SLICE


def test_list_is_decoded_in_reverse_order_case_and_blanks_ignored() -> None:
    payload = EICAR * 10
    blob = zstd.compress(brotli.compress(gzip.compress(payload)))
    assert decode_all(blob, " GZip ,br,\tZSTD ") == payload
    assert parse_content_encoding(" GZip ,, br ") == ("gzip", "br")


@pytest.mark.parametrize("value", [None, "", "identity", " IDENTITY ", "aws-chunked", "identity, identity", ", ,"])
def test_identity_values_return_the_raw_reader_itself(value: str | None) -> None:
    raw = io.BytesIO(b"anything")
    assert open_decoded(raw, value, max_decoded_bytes=1) is raw


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("compress", "content-encoding:compress"),
        ("x-compress", "content-encoding:x-compress"),
        ("exi", "content-encoding:exi"),
        ("gzip, identity", "content-encoding:gzip_identity"),
        ("aws-chunked, gzip", "content-encoding:aws-chunked_gzip"),
        ("gzip, sdch", "content-encoding:gzip_sdch"),
        ("gzip,gzip,gzip,gzip,gzip,gzip", "content-encoding:gzip_gzip_gzip_gzip_gzip_gzip"),
        ('br;q=1 "<x>"', "content-encoding:br_q=1 __x__"),
    ],
)
def test_unknown_or_ambiguous_encodings_raise_at_open(value: str, reason: str) -> None:
    with pytest.raises(ContentEncodingError) as caught:
        open_decoded(io.BytesIO(b""), value, max_decoded_bytes=1)
    assert caught.value.reason == reason


def test_reason_is_tag_safe_and_fits_a_tag_value() -> None:
    reason = encoding_reason("x" * 1000 + ",\x00\n")
    assert reason.startswith("content-encoding:x") and len(reason) <= 256
    assert "\n" not in reason and "," not in reason


def test_deflate_accepts_raw_deflate_as_browsers_and_curl_do() -> None:
    payload = EICAR * 100
    assert decode_all(raw_deflate(payload), "deflate") == payload
    # curl tolerates up to 4 bytes after a raw stream (a stray Adler-32); more is an error.
    assert decode_all(raw_deflate(payload) + b"\x01\x02\x03\x04", "deflate") == payload
    with pytest.raises(ContentEncodingError, match="after the end"):
        decode_all(raw_deflate(payload) + b"\x01\x02\x03\x04\x05", "deflate")


def test_deflate_raw_fallback_only_before_output() -> None:
    # A zlib stream corrupted after its first output is not retried as raw deflate (Chromium/curl neither).
    good = zlib.compress(random.Random(3).randbytes(200_000), 1)
    corrupt = good[: len(good) // 2] + bytes(b ^ 0x55 for b in good[len(good) // 2 :])
    with pytest.raises(ContentEncodingError, match="corrupt"):
        decode_all(corrupt, "deflate")
    assert DEFLATE_SNIFF_BYTES == 1000


def test_gzip_label_accepts_zlib_wrapped_data_like_curl() -> None:
    assert decode_all(zlib.compress(EICAR), "gzip") == EICAR


def test_multi_member_gzip_is_unscannable() -> None:
    with pytest.raises(ContentEncodingError, match="multi-member") as caught:
        decode_all(gzip.compress(b"harmless") + gzip.compress(EICAR), "gzip")
    assert caught.value.reason == "content-encoding:gzip"


def test_multi_frame_zstd_decodes_every_frame_and_skips_skippable_frames() -> None:
    skippable = b"\x50\x2a\x4d\x18" + (4).to_bytes(4, "little") + b"skip"
    blob = zstd.compress(b"one ") + skippable + zstd.compress(EICAR)
    assert decode_all(blob, "zstd") == b"one " + EICAR


def test_zstd_window_above_libzstd_default_is_unscannable() -> None:
    compressor = zstd.ZstdCompressor(options={zstd.CompressionParameter.window_log: 28})
    blob = compressor.compress(b"a" * 1000, mode=zstd.ZstdCompressor.FLUSH_BLOCK)
    blob += compressor.compress(b"", mode=zstd.ZstdCompressor.FLUSH_FRAME)
    with pytest.raises(ContentEncodingError, match="corrupt"):
        decode_all(blob, "zstd")


def compressible_payload() -> bytes:
    """EICAR inside repetitive text: every encoder entropy-codes it, so no copy of EICAR survives in the blob."""
    rng = random.Random(2)
    words = [b"alpha", b"beta", b"gamma", b"delta", b"X5O", b"EICAR", b"P%@AP", b"[4\\PZX54(P^)7CC)7}$"]
    text = b" ".join(rng.choice(words) for _ in range(20000))
    return text[:30000] + EICAR + text[30000:]


# Formats without a checksum cannot tell a flipped literal from data; the zstd CLI writes frame checksums.
CHECKED_ENCODERS = {
    **ENCODERS,
    "zstd": lambda data: zstd.compress(data, options={zstd.CompressionParameter.checksum_flag: 1}),
}


def _truncated(blob: bytes) -> bytes:
    return blob[:-3]


def _trailing(blob: bytes) -> bytes:
    return blob + b"trailing garbage"


def _corrupt(blob: bytes) -> bytes:
    middle = len(blob) // 2
    return blob[:middle] + bytes(b ^ 0xFF for b in blob[middle : middle + 16]) + blob[middle + 16 :]


@pytest.mark.parametrize("damage", [_truncated, _trailing, _corrupt], ids=["truncated", "trailing", "corrupt"])
@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_bad_data_raises_content_encoding_error(encoding: str, damage: Callable[[bytes], bytes]) -> None:
    with pytest.raises(ContentEncodingError) as caught:
        decode_all(damage(CHECKED_ENCODERS[encoding](compressible_payload())), encoding)
    assert caught.value.reason == f"content-encoding:{encoding}"


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_empty_body_decodes_to_empty(encoding: str) -> None:
    assert decode_all(b"", encoding) == b""


def test_errors_of_the_source_pass_through_unchanged() -> None:
    class Broken:
        def read(self, amt: int = -1, /) -> bytes:
            raise ConnectionResetError("S3 went away")

    reader = open_decoded(Broken(), "gzip", max_decoded_bytes=MIB)
    with pytest.raises(ConnectionResetError):
        reader.read(10)


def test_limit_applies_to_every_stage_of_a_list() -> None:
    # gzip inside br: the inner gzip stage expands the br stage's output beyond the limit.
    blob = brotli.compress(gzip.compress(b"\0" * (8 * MIB)))
    with pytest.raises(DecodedTooLarge):
        decode_all(blob, "gzip, br", limit=MIB)
    assert decode_all(blob, "gzip, br", limit=8 * MIB) == b"\0" * (8 * MIB)


# -- Decompression bombs: each encoding stops at the limit with bounded memory. --

BOMB_DECODED = 512 * MIB
BOMB_LIMIT = 64 * MIB
READ_SIZE = 256 * 1024


def _stream_compress(encoding: str, total: int) -> bytes:
    block = b"\0" * (4 * MIB)
    if encoding == "br":
        compressor = brotli.Compressor(quality=1)
        parts = [compressor.process(block) for _ in range(total // len(block))]
        return b"".join([*parts, compressor.finish()])
    if encoding == "zstd":
        zc = zstd.ZstdCompressor()
        parts = [zc.compress(block) for _ in range(total // len(block))]
        return b"".join([*parts, zc.flush()])
    zlib_compressor = zlib.compressobj(9, wbits=31 if encoding == "gzip" else 15)
    parts = [zlib_compressor.compress(block) for _ in range(total // len(block))]
    return b"".join([*parts, zlib_compressor.flush()])


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """512 MiB of zeros in each encoding (a few KiB to 0.5 MiB on disk)."""
    folder = tmp_path_factory.mktemp("bombs")
    paths = {}
    for encoding in ("gzip", "deflate", "br", "zstd"):
        path = folder / f"bomb.{encoding}"
        path.write_bytes(_stream_compress(encoding, BOMB_DECODED))
        paths[encoding] = path
    return paths


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_bomb_stops_at_the_limit_with_bounded_python_memory(encoding: str, bombs: dict[str, Path]) -> None:
    blob = bombs[encoding].read_bytes()
    assert len(blob) < BOMB_DECODED // 1000  # a real bomb: over 1000:1
    reader = open_decoded(io.BytesIO(blob), encoding, max_decoded_bytes=BOMB_LIMIT)
    decoded = 0
    tracemalloc.start()
    try:
        with pytest.raises(DecodedTooLarge):
            while chunk := reader.read(READ_SIZE):
                decoded += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert BOMB_LIMIT - READ_SIZE < decoded <= BOMB_LIMIT  # decoded up to the limit, never past it
    assert peak < 4 * MIB, f"{encoding}: Python allocations peaked at {peak / MIB:.1f} MiB"


_RSS_PROBE = """
import io, json, resource, sys
from scanner.encoding import DecodedTooLarge, open_decoded
blob = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
reader = open_decoded(io.BytesIO(blob), sys.argv[2], max_decoded_bytes=int(sys.argv[3]))
stopped = False
try:
    while reader.read(256 * 1024):
        pass
except DecodedTooLarge:
    stopped = True
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"stopped": stopped, "growth_kib": after - before}))
"""


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_bomb_peak_rss_growth_stays_small(encoding: str, bombs: dict[str, Path]) -> None:
    """Peak RSS of a fresh process (C allocations included) grows by a few MiB, not by the decoded size."""
    result = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(bombs[encoding]), encoding, str(BOMB_LIMIT)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    probe = json.loads(result.stdout)
    assert probe["stopped"] is True
    assert probe["growth_kib"] < 32 * 1024, f"{encoding}: peak RSS grew by {probe['growth_kib']} KiB"


# -- Against a real clamd: what it sees of an encoded object, raw and decoded. --


@pytest.mark.parametrize(
    ("encoding", "raw_reply"),
    [
        ("gzip", f"stream: {EICAR_NAME} FOUND"),  # clamd unpacks gzip itself
        ("deflate", "stream: OK"),  # a bare zlib stream is no container clamd opens
        ("br", "stream: OK"),
        # The raw zstd frame is no container ClamAV opens; the scanner's own signature names it for what it is.
        ("zstd", "stream: S3Scanner.Unsupported.Zstd.UNOFFICIAL FOUND"),
    ],
)
def test_clamd_sees_eicar_only_once_decoded(clamd_daemon: ClamdDaemon, encoding: str, raw_reply: str) -> None:
    blob = ENCODERS[encoding](compressible_payload())
    assert EICAR not in blob
    raw, _ = clamd_daemon.client.instream(io.BytesIO(blob))
    assert raw == raw_reply
    decoded = open_decoded(io.BytesIO(blob), encoding, max_decoded_bytes=MIB)
    reply, _ = clamd_daemon.client.instream(decoded)
    assert reply == f"stream: {EICAR_NAME} FOUND"


def _mixed_data(size: int) -> bytes:
    """Thirds of random bytes, English-like text and long zero runs, interleaved in 1 MiB blocks."""
    rng = random.Random(11)
    words = [rng.randbytes(rng.randint(2, 9)).hex() for _ in range(2000)]
    text = " ".join(rng.choice(words) for _ in range(400_000)).encode()[:MIB]
    blocks = [rng.randbytes(MIB), text, b"\0" * MIB]
    return b"".join(blocks[i % 3] for i in range(size // MIB))


def test_decoding_keeps_pace_with_clamd(tmp_path: Path) -> None:
    """64 MiB of mixed data: every decoder is faster than clamd scanning the decoded bytes (one run)."""
    data = _mixed_data(64 * MIB)
    daemon = start_daemon(tmp_path / "clamd", max_object_bytes=128 * MIB)
    try:
        started = time.perf_counter()
        reply, _ = daemon.client.instream(io.BytesIO(data))
        clamd_mb_s = len(data) / MIB / (time.perf_counter() - started)
    finally:
        daemon.stop()
    assert reply == "stream: OK"
    rates = {}
    for encoding in ("gzip", "deflate", "br", "zstd"):
        blob = ENCODERS[encoding](data)
        started = time.perf_counter()
        assert decode_all(blob, encoding, size=256 * 1024, limit=128 * MIB) == data
        rates[encoding] = len(data) / MIB / (time.perf_counter() - started)
    figures = {"clamd_scan": clamd_mb_s, **rates}
    print("decode MB/s (MiB/s) vs clamd:", json.dumps({k: round(v, 1) for k, v in figures.items()}))
    (Path(os.environ.get("ENCODING_BENCH_OUT", tmp_path)) / "encoding-throughput.json").write_text(json.dumps(figures))
    for encoding, rate in rates.items():
        assert rate > clamd_mb_s, f"{encoding} decodes at {rate:.0f} MiB/s, slower than clamd's {clamd_mb_s:.0f}"
