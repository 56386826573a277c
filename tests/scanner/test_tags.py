from __future__ import annotations

import re

from scanner.tags import clean_value, merge_tags, scan_tags
from scanner.verdict import ScanStatus, Verdict

ENGINE = "ClamAV 1.4.6/27830/Wed Nov 26 09:29:01 2026"
WHEN = "2026-11-27T07:00:00Z"


def test_scan_tags_for_each_status() -> None:
    assert scan_tags(Verdict(ScanStatus.CLEAN), ENGINE, WHEN) == {
        "scan-status": "CLEAN",
        "scan-time": WHEN,
        "scan-engine": ENGINE,
    }
    infected = scan_tags(Verdict(ScanStatus.INFECTED, "Win.Test.EICAR_HDB-1"), ENGINE, WHEN)
    assert infected["scan-status"] == "INFECTED"
    assert infected["scan-detail"] == "Win.Test.EICAR_HDB-1"
    assert list(infected) == ["scan-status", "scan-detail", "scan-time", "scan-engine"]


def test_values_are_cleaned_to_s3_rules() -> None:
    assert clean_value('unknown-reply:stream: <b>"x"</b>; rm -rf') == "unknown-reply:stream: _b__x__/b__ rm -rf"
    assert clean_value("a\nb\tc") == "a_b_c"
    assert len(clean_value("x" * 1000)) == 256
    assert re.fullmatch(r"[\w +\-=._:/@]*", clean_value("é ü ß 漢字 +-=._:/@"))


def test_merge_keeps_user_tags_and_replaces_scan_tags() -> None:
    existing = {"owner": "alice", "scan-status": "ERROR", "scan-detail": "old"}
    merged = merge_tags(existing, scan_tags(Verdict(ScanStatus.CLEAN), ENGINE, WHEN))
    assert merged.tags == {"scan-status": "CLEAN", "owner": "alice", "scan-time": WHEN, "scan-engine": ENGINE}
    assert merged.dropped_scan_tags == () and merged.dropped_user_tags == ()


def test_nine_user_tags_leave_room_for_status_only() -> None:
    existing = {f"k{i}": str(i) for i in range(9)}
    merged = merge_tags(existing, scan_tags(Verdict(ScanStatus.INFECTED, "Sig"), ENGINE, WHEN))
    assert len(merged.tags) == 10
    assert merged.tags["scan-status"] == "INFECTED"
    assert all(merged.tags[f"k{i}"] == str(i) for i in range(9))
    assert merged.dropped_scan_tags == ("scan-detail", "scan-time", "scan-engine")


def test_ten_user_tags_give_up_one_for_status() -> None:
    existing = {f"k{i}": str(i) for i in range(10)}
    merged = merge_tags(existing, scan_tags(Verdict(ScanStatus.CLEAN), ENGINE, WHEN))
    assert len(merged.tags) == 10
    assert merged.tags["scan-status"] == "CLEAN"
    assert merged.dropped_user_tags == ("k9",)
    assert merged.dropped_scan_tags == ("scan-time", "scan-engine")
