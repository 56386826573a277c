"""Scan statuses and the one mapping from clamd's reply (or failure) to a verdict."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from scanner.archives import nested_reason


class ScanStatus(StrEnum):
    """Value of the `scan-status` tag."""

    CLEAN = "CLEAN"
    INFECTED = "INFECTED"
    UNSCANNABLE = "UNSCANNABLE"
    ERROR = "ERROR"
    # Set by `scanner quarantine release`, never by a scan.
    RELEASED = "RELEASED"

    @property
    def is_final(self) -> bool:
        """A final status is not rescanned on redelivery (ERROR is retried)."""
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({ScanStatus.CLEAN, ScanStatus.INFECTED, ScanStatus.UNSCANNABLE, ScanStatus.RELEASED})


@dataclass(frozen=True)
class Verdict:
    """The outcome of scanning one object version."""

    status: ScanStatus
    detail: str | None = None
    """Signature name (INFECTED), reason (UNSCANNABLE) or error class (ERROR); None for CLEAN."""

    @property
    def signature(self) -> str | None:
        return self.detail if self.status is ScanStatus.INFECTED else None


_FOUND = re.compile(r"^stream: (?P<name>.+) FOUND$")
_LIMITS_PREFIX = "Heuristics.Limits.Exceeded."
_ENCRYPTED_PREFIX = "Heuristics.Encrypted."


def verdict_from_reply(reply: str, *, encrypted_is_infected: bool = False) -> Verdict:
    """Map clamd's INSTREAM reply to a verdict. Only the exact reply `stream: OK` is CLEAN."""
    if reply == "stream: OK":
        return Verdict(ScanStatus.CLEAN)
    if reply.endswith("ERROR"):
        return Verdict(ScanStatus.ERROR, f"clamd-error:{_short(reply.removesuffix('ERROR'))}")
    match = _FOUND.match(reply)
    if match is None:
        return Verdict(ScanStatus.ERROR, f"unknown-reply:{_short(reply)}")
    name = match.group("name").strip()
    nested = nested_reason(name)
    if nested:
        # The scanner's own signature: an archive member (at any depth) ClamAV cannot decompress.
        return Verdict(ScanStatus.UNSCANNABLE, nested)
    base = name.removesuffix(".UNOFFICIAL")
    if base.startswith(_LIMITS_PREFIX):
        return Verdict(ScanStatus.UNSCANNABLE, f"limits-exceeded:{base.removeprefix(_LIMITS_PREFIX)}")
    if base.startswith(_ENCRYPTED_PREFIX):
        if encrypted_is_infected:
            return Verdict(ScanStatus.INFECTED, name)
        return Verdict(ScanStatus.UNSCANNABLE, "encrypted")
    return Verdict(ScanStatus.INFECTED, name)


def verdict_from_error(error: BaseException) -> Verdict:
    """A failure to get a full reply is an ERROR, named by its class."""
    return Verdict(ScanStatus.ERROR, type(error).__name__)


def too_large() -> Verdict:
    """An object (or its decoded content) above the configured maximum: not scanned in full."""
    return Verdict(ScanStatus.UNSCANNABLE, "too-large")


def too_large_for_timeout() -> Verdict:
    """An object that could not be scanned before the invocation's deadline: not streamed at all."""
    return Verdict(ScanStatus.UNSCANNABLE, "too-large-for-timeout")


def unscannable(reason: str) -> Verdict:
    """Content the engine could not really look at, with the reason (an encoding, a limit, an archive method)."""
    return Verdict(ScanStatus.UNSCANNABLE, reason)


def _short(text: str, limit: int = 120) -> str:
    text = text.strip().removeprefix("stream:").strip()
    return text[:limit]
