"""Interim: no archive inspection yet (replaced by the archive inspector)."""

from __future__ import annotations

from collections.abc import Callable


class ArchiveInspector:
    def __init__(self, *, rar_supported: bool) -> None:
        self.rar_supported = rar_supported

    def feed(self, chunk: bytes) -> None:
        return None

    def finish(self, size: int, read_range: Callable[[int, int], bytes] | None) -> str | None:
        return None


def rar_supported() -> bool:
    return False
