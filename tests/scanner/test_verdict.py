from __future__ import annotations

import pytest

from scanner.exceptions import ClamdConnectionError
from scanner.verdict import ScanStatus, Verdict, too_large, verdict_from_error, verdict_from_reply


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("stream: OK", Verdict(ScanStatus.CLEAN)),
        ("stream: Eicar-Test-Signature FOUND", Verdict(ScanStatus.INFECTED, "Eicar-Test-Signature")),
        ("stream: Win.Test.EICAR_HDB-1 FOUND", Verdict(ScanStatus.INFECTED, "Win.Test.EICAR_HDB-1")),
        (
            "stream: Heuristics.Limits.Exceeded.MaxScanSize FOUND",
            Verdict(ScanStatus.UNSCANNABLE, "limits-exceeded:MaxScanSize"),
        ),
        (
            "stream: Heuristics.Limits.Exceeded.MaxRecursion.UNOFFICIAL FOUND",
            Verdict(ScanStatus.UNSCANNABLE, "limits-exceeded:MaxRecursion"),
        ),
        ("stream: Heuristics.Encrypted.Zip FOUND", Verdict(ScanStatus.UNSCANNABLE, "encrypted")),
        ("INSTREAM size limit exceeded. ERROR", Verdict(ScanStatus.ERROR, "clamd-error:INSTREAM size limit exceeded.")),
        ("stream: Can't allocate memory ERROR", Verdict(ScanStatus.ERROR, "clamd-error:Can't allocate memory")),
        ("", Verdict(ScanStatus.ERROR, "unknown-reply:")),
        ("stream: OK ", Verdict(ScanStatus.ERROR, "unknown-reply:OK")),
        ("stream:OK", Verdict(ScanStatus.ERROR, "unknown-reply:OK")),
        ("PONG", Verdict(ScanStatus.ERROR, "unknown-reply:PONG")),
        ("stream: OK\nstream: OK", Verdict(ScanStatus.ERROR, "unknown-reply:OK\nstream: OK")),
    ],
)
def test_reply_maps_to_one_verdict(reply: str, expected: Verdict) -> None:
    assert verdict_from_reply(reply) == expected


def test_only_exact_ok_is_clean() -> None:
    near_misses = ["stream: ok", "OK", "stream: OK FOUND", "stream: OK ERROR", "1: stream: OK", "stream: OKAY"]
    assert all(verdict_from_reply(r).status is not ScanStatus.CLEAN for r in near_misses)


def test_encrypted_can_count_as_infected() -> None:
    verdict = verdict_from_reply("stream: Heuristics.Encrypted.Zip FOUND", encrypted_is_infected=True)
    assert verdict == Verdict(ScanStatus.INFECTED, "Heuristics.Encrypted.Zip")


def test_errors_and_limits() -> None:
    assert verdict_from_error(ClamdConnectionError("reset")) == Verdict(ScanStatus.ERROR, "ClamdConnectionError")
    assert too_large() == Verdict(ScanStatus.UNSCANNABLE, "too-large")
    assert not ScanStatus.ERROR.is_final
    assert ScanStatus.CLEAN.is_final and ScanStatus.INFECTED.is_final and ScanStatus.UNSCANNABLE.is_final
