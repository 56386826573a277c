"""Scanning through a clamd from bench code: one INSTREAM of a file or bytes, its verdict and duration."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

from scanner.clamd import ClamdClient


@dataclass(frozen=True)
class Verdict:
    reply: str
    seconds: float

    @property
    def clean(self) -> bool:
        return self.reply.endswith(": OK")

    @property
    def found(self) -> str | None:
        """The signature name when clamd reported one."""
        if self.reply.endswith(" FOUND"):
            return self.reply.removesuffix(" FOUND").split(": ", 1)[1]
        return None


def scan(client: ClamdClient, content: bytes | Path) -> Verdict:
    """INSTREAM `content`; raises ClamdError subclasses when the scan itself fails."""
    started = time.perf_counter()
    if isinstance(content, Path):
        with content.open("rb") as handle:
            reply, _ = client.instream(handle)
    else:
        reply, _ = client.instream(io.BytesIO(content))
    return Verdict(reply, time.perf_counter() - started)
