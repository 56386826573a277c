"""Content-Encoding: the bytes an HTTP client receives for an object, decoded incrementally and bounded.

What clients do (and so what is decoded here); sources are cited in docs/ENGINE_LIMITS.md ("Content-Encoding"):
- The header is a comma-separated list of codings in the order they were applied, case-insensitive, with optional
  whitespace (RFC 9110 8.4); it is decoded in reverse order. curl refuses more than 5 codings: so do we.
- `gzip`/`x-gzip`: one gzip member. Clients disagree on anything after it (Chromium ignores it, curl fails on a
  second member or trailing bytes, urllib3 decodes further members), so no single byte stream is "what the client
  receives": a second member or trailing bytes are UNSCANNABLE. zlib-wrapped data labelled gzip decodes as in curl.
- `deflate`: zlib-wrapped (RFC 1950), falling back to raw deflate when zlib fails before any output (Chromium and
  curl both do); a raw stream may be followed by at most 4 bytes (curl's tolerance), nothing else.
- `br`, `zstd`: one Brotli stream; zstd frames back to back (libzstd's streaming decoder, as curl and browsers use),
  windows up to libzstd's default limit of 2**27 bytes.
- `identity` alone, or `aws-chunked` (S3 strips it when storing; it is never part of a GET's encoding) alone,
  is the raw object. Mixed with real codings, clients disagree (Chromium passes the raw body through for any
  coding it does not know, `identity` included; curl ignores `identity`): UNSCANNABLE.
- `compress`, `x-compress` and anything else: no mainstream client decodes them: UNSCANNABLE at open.
Truncated or corrupt data (including a bad gzip CRC or zlib Adler-32) is UNSCANNABLE, never partially CLEAN.
"""

from __future__ import annotations

import zlib
from typing import Final

import brotli
from backports.zstd import DecompressionParameter, ZstdDecompressor, ZstdError

from scanner.clamd import Readable
from scanner.exceptions import ScannerError
from scanner.tags import clean_value

REASON_PREFIX: Final = "content-encoding:"
TOO_LARGE_REASON: Final = "too-large"
MAX_CODINGS: Final = 5
"""curl's MAX_ENCODE_STACK: a longer list is refused."""
INPUT_SLICE: Final = 64 * 1024
"""Encoded bytes read from the source per step: bounds what any decoder holds."""
DEFAULT_READ: Final = 64 * 1024
"""Size returned by read() without a positive size (never "everything")."""
ZSTD_WINDOW_LOG_MAX: Final = 27
"""libzstd's default ZSTD_WINDOWLOG_LIMIT_DEFAULT (128 MiB), what curl decodes; browsers accept 8 MiB."""
DEFLATE_SNIFF_BYTES: Final = 1000
"""Chromium's kMaxZlibHeaderSniffBytes: the raw-deflate fallback is tried only within this much input."""
RAW_DEFLATE_TRAILER: Final = 4
"""curl tolerates up to 4 bytes (a stray Adler-32) after a raw deflate stream."""

_PASSTHROUGH: Final = frozenset({"identity", "aws-chunked"})
_KNOWN: Final = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd"})
_GZIP_MAGIC: Final = b"\x1f\x8b"


class ContentEncodingError(ScannerError):
    """The object's Content-Encoding cannot be decoded to one byte stream: UNSCANNABLE `reason`."""

    def __init__(self, value: str, detail: str) -> None:
        super().__init__(f"Content-Encoding {value!r}: {detail}")
        self.reason = encoding_reason(value)
        self.detail = detail


class DecodedTooLarge(ScannerError):
    """Decoding produced more than the limit (a decompression bomb): UNSCANNABLE `too-large`."""

    reason = TOO_LARGE_REASON

    def __init__(self, limit: int) -> None:
        super().__init__(f"decoded content exceeds {limit} bytes")
        self.limit = limit


def encoding_reason(value: str) -> str:
    """`content-encoding:<value>`, the value normalised (lower case, no blanks) and cleaned for a tag."""
    normalised = ",".join(parse_content_encoding(value)) or value.strip()
    return REASON_PREFIX + clean_value(normalised)[: 256 - len(REASON_PREFIX)]


def parse_content_encoding(value: str | None) -> tuple[str, ...]:
    """The codings in the order they were applied, lower case, empty list elements dropped (RFC 9110 5.6.1)."""
    if not value:
        return ()
    return tuple(token for part in value.split(",") if (token := part.strip(" \t").lower()))


def is_encoded(content_encoding: str | None) -> bool:
    """True when clients may receive other bytes than the stored ones (anything but none, identity, aws-chunked)."""
    return not all(coding in _PASSTHROUGH for coding in parse_content_encoding(content_encoding))


def open_decoded(raw: Readable, content_encoding: str | None, *, max_decoded_bytes: int) -> Readable:
    """A reader of the bytes a client receives for an object stored with this Content-Encoding.

    identity/None/'' (and aws-chunked) return `raw` itself. Known codings are decoded incrementally: each read(n)
    returns at most n bytes and each stage holds at most a few input slices. An unknown or unsupported coding
    raises ContentEncodingError here; corrupt, truncated or trailing data raise it during read; more than
    `max_decoded_bytes` of output from any stage raises DecodedTooLarge. Errors of `raw` itself pass through.
    """
    value = content_encoding or ""
    codings = parse_content_encoding(value)
    if not is_encoded(value):
        return raw
    unknown = [coding for coding in codings if coding not in _KNOWN | _PASSTHROUGH]
    if unknown:
        raise ContentEncodingError(value, f"no decoder for {', '.join(unknown)}")
    if any(coding in _PASSTHROUGH for coding in codings):
        raise ContentEncodingError(value, "identity/aws-chunked mixed with codings: clients disagree on the bytes")
    if len(codings) > MAX_CODINGS:
        raise ContentEncodingError(value, f"more than {MAX_CODINGS} codings")
    stream: Readable = raw
    for coding in reversed(codings):
        stream = _Bounded(_stage(coding, stream, value), max_decoded_bytes)
    return stream


def _stage(coding: str, source: Readable, value: str) -> _Stage:
    if coding in ("gzip", "x-gzip"):
        return _Zlib(source, value, gzip=True)
    if coding == "deflate":
        return _Zlib(source, value, gzip=False)
    if coding == "br":
        return _Brotli(source, value)
    return _Zstd(source, value)


def _read_size(n: int | None) -> int:
    return DEFAULT_READ if n is None or n < 0 else n


class _Bounded:
    """Counts a stage's output and stops it just past the limit."""

    def __init__(self, inner: Readable, limit: int) -> None:
        self._inner = inner
        self._limit = limit
        self.total = 0

    def read(self, n: int | None = -1, /) -> bytes:
        size = _read_size(n)
        if size == 0:
            return b""
        chunk = self._inner.read(min(size, self._limit - self.total + 1))
        self.total += len(chunk)
        if self.total > self._limit:
            raise DecodedTooLarge(self._limit)
        return chunk


class _Stage:
    """One decoding step over an encoded source; subclasses implement `_decode(n)`."""

    _errors: tuple[type[Exception], ...] = ()

    def __init__(self, source: Readable, value: str) -> None:
        self._source = source
        self._value = value
        self._input = b""
        """Encoded bytes read from the source and not yet handed to the decoder."""
        self._source_done = False
        self._seen_input = False
        self._done = False

    def read(self, n: int | None = -1, /) -> bytes:
        size = _read_size(n)
        if size == 0 or self._done:
            return b""
        try:
            chunk = self._decode(size)
        except self._errors as err:
            raise self._fail(f"corrupt data ({err})") from err
        if len(chunk) > size:  # never: every decoder is asked for at most `size`
            raise AssertionError("decoder returned more than asked")
        return chunk

    def _decode(self, n: int) -> bytes:
        raise NotImplementedError

    def _fill(self) -> bool:
        """Make `_input` non-empty from the source; False when the source has ended."""
        if self._input:
            return True
        if self._source_done:
            return False
        data = self._source.read(INPUT_SLICE)
        if not data:
            self._source_done = True
            return False
        self._seen_input = True
        self._input = bytes(data)
        return True

    def _end_of_input(self) -> bytes:
        """The source ended before the decoder did: empty content is fine, anything else is truncated."""
        if self._seen_input:
            raise self._fail("truncated data")
        self._done = True
        return b""

    def _finish(self, allowed_trailer: int = 0, what: str = "data after the end of the stream") -> bytes:
        """The decoder ended: accept at most `allowed_trailer` more bytes from the source, then end."""
        rest = len(self._input)
        self._input = b""
        while rest <= allowed_trailer and self._fill():
            rest += len(self._input)
            self._input = b""
        if rest > allowed_trailer:
            raise self._fail(what)
        self._done = True
        return b""

    def _fail(self, detail: str) -> ContentEncodingError:
        self._done = True
        return ContentEncodingError(self._value, detail)


class _Zlib(_Stage):
    """gzip (one member) and deflate (zlib-wrapped, or raw after a failed start as Chromium and curl do)."""

    _errors = (zlib.error,)

    def __init__(self, source: Readable, value: str, *, gzip: bool) -> None:
        super().__init__(source, value)
        self._gzip = gzip
        self._raw = False
        self._obj = zlib.decompressobj(32 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
        self._sniffed: bytearray | None = None if gzip else bytearray()
        """deflate input consumed before the first output: replayed if the stream turns out to be raw."""
        self._full = False
        """The last call filled its output: zlib may hold more output without new input."""

    def _decode(self, n: int) -> bytes:
        while True:
            if self._obj.eof:
                return self._end_of_member()
            if not self._input and self._full:
                self._full = False
                out = self._obj.decompress(b"", n)
                if out:
                    self._full = len(out) == n
                    return out
            if not self._fill():
                return self._end_of_input()
            data = self._input
            try:
                out = self._obj.decompress(data, n)
            except zlib.error:
                if self._sniffed is None:
                    raise
                self._switch_to_raw()
                continue
            self._input = self._obj.unused_data if self._obj.eof else self._obj.unconsumed_tail
            self._track_sniff(data, out)
            self._full = len(out) == n
            if out:
                return out

    def _track_sniff(self, data: bytes, out: bytes) -> None:
        if self._sniffed is None:
            return
        if out:
            self._sniffed = None
            return
        self._sniffed += data[: len(data) - len(self._input)]
        if len(self._sniffed) >= DEFLATE_SNIFF_BYTES:
            self._sniffed = None

    def _switch_to_raw(self) -> None:
        replay = bytes(self._sniffed or b"") + self._input
        self._sniffed = None
        self._raw = True
        self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
        self._input = replay

    def _end_of_member(self) -> bytes:
        if self._raw:
            return self._finish(RAW_DEFLATE_TRAILER, "data after the end of the raw deflate stream")
        if self._gzip and (self._input.startswith(_GZIP_MAGIC) or (not self._input and self._peek_gzip())):
            raise self._fail("multi-member gzip: clients disagree (Chromium decodes one member, curl fails)")
        return self._finish()

    def _peek_gzip(self) -> bool:
        return self._fill() and self._input.startswith(_GZIP_MAGIC)


class _Brotli(_Stage):
    """One Brotli stream, with Google's decoder limited per call (output_buffer_limit)."""

    _errors = (brotli.error,)

    def __init__(self, source: Readable, value: str) -> None:
        super().__init__(source, value)
        self._decoder = brotli.Decompressor()
        self._out = b""
        """Decoded bytes beyond what the caller asked for (the decoder's buffer grows in steps)."""
        self._drained = False

    def _decode(self, n: int) -> bytes:
        while True:
            if self._out:
                chunk, self._out = self._out[:n], self._out[n:]
                return chunk
            if self._decoder.is_finished():
                return self._finish()
            if self._decoder.can_accept_more_data() and self._fill():
                data, self._input = self._input, b""
            elif self._source_done and self._drained:
                return self._end_of_input()
            else:
                data = b""
            self._out = self._decoder.process(data, output_buffer_limit=n)
            # At the end of the source, one call with no input and no output means nothing more will come.
            self._drained = self._source_done and not data and not self._out


class _Zstd(_Stage):
    """zstd frames back to back (skippable frames decode to nothing), each with a bounded window."""

    _errors = (ZstdError,)

    def __init__(self, source: Readable, value: str) -> None:
        super().__init__(source, value)
        self._decoder = _zstd_decoder()

    def _decode(self, n: int) -> bytes:
        while True:
            if self._decoder.eof:
                self._input = self._decoder.unused_data + self._input
                if not self._fill():
                    self._done = True
                    return b""
                self._decoder = _zstd_decoder()
            if self._decoder.needs_input:
                if not self._fill():
                    return self._end_of_input()
                data, self._input = self._input, b""
            else:
                data = b""
            out = self._decoder.decompress(data, max_length=n)
            if out:
                return out


def _zstd_decoder() -> ZstdDecompressor:
    return ZstdDecompressor(options={DecompressionParameter.window_log_max: ZSTD_WINDOW_LOG_MAX})
