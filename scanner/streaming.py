"""Readers between S3 and clamd: the stored bytes counted and hashed, the bytes clamd receives counted and watched.

S3 body -> StoredBytes (SHA-256, count) -> Content-Encoding decoder -> Tap (count, archive inspector)
        -> clamd INSTREAM
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from scanner.exceptions import SourceReadError


class StoredBytes:
    """The object's stored bytes as read from S3, hashed while they pass (the content's identity)."""

    def __init__(self, body: Any, expected_size: int) -> None:
        self.body = body
        self.expected_size = expected_size
        self.count = 0
        self.at_end = False
        self._digest = hashlib.sha256()

    def read(self, amt: int = -1, /) -> bytes:
        try:
            chunk = self.body.read(amt)
        except Exception as err:
            raise SourceReadError(f"reading the object failed after {self.count} bytes: {err}") from err
        if chunk:
            self._digest.update(chunk)
            self.count += len(chunk)
        else:
            self.at_end = True
        return chunk

    @property
    def complete(self) -> bool:
        """Every stored byte was read: the stream ended exactly at the object's size."""
        return self.at_end and self.count == self.expected_size

    @property
    def sha256(self) -> str | None:
        """Hex SHA-256 of the whole content, only once it was read completely."""
        return self._digest.hexdigest() if self.complete else None


class Tap:
    """Reads through to `source`, counting the bytes and handing every chunk to `sink` in order: the archive
    inspector (the bytes clamd receives) or the stored bytes' own INSTREAM."""

    def __init__(self, source: Any, sink: Callable[[bytes], None]) -> None:
        self.source = source
        self.sink = sink
        self.count = 0
        self.at_end = False

    def read(self, amt: int = -1, /) -> bytes:
        chunk = self.source.read(amt)
        if chunk:
            self.count += len(chunk)
            self.sink(chunk)
        else:
            self.at_end = True
        return chunk
