"""Interim: identity only; every other Content-Encoding is UNSCANNABLE (replaced by the decoding module)."""

from __future__ import annotations

from typing import Any

from scanner.exceptions import ScannerError
from scanner.tags import clean_value


class ContentEncodingError(ScannerError):
    """The content is stored with an encoding that cannot be decoded."""

    def __init__(self, value: str, message: str | None = None) -> None:
        super().__init__(message or f"cannot decode Content-Encoding {value!r}")
        self.reason = f"content-encoding:{clean_value(value.strip().lower())[:64]}"


class DecodedTooLarge(ScannerError):
    """The decoded content exceeds the size limit."""


def is_encoded(content_encoding: str | None) -> bool:
    """True when clients may receive other bytes than the stored ones (anything but none or identity)."""
    return bool(content_encoding) and any(
        part.strip().lower() not in {"", "identity"} for part in str(content_encoding).split(",")
    )


def open_decoded(raw: Any, content_encoding: str | None, *, max_decoded_bytes: int) -> Any:
    if not content_encoding or content_encoding.strip().lower() in {"", "identity"}:
        return raw
    raise ContentEncodingError(content_encoding)
