"""The tag schema: scan tags for a verdict, merged into an object's existing tags within S3's limits."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from scanner import constants as c
from scanner.verdict import ScanStatus, Verdict

# S3 tag values: letters, digits, spaces and + - = . _ : / @ (Unicode letters are allowed).
_DISALLOWED = re.compile(r"[^\w +\-=._:/@]")


def clean_value(value: str) -> str:
    """A tag value S3 accepts: disallowed characters replaced by '_', at most 256 characters."""
    return _DISALLOWED.sub("_", value)[: c.S3_TAG_VALUE_MAX]


def utc_now_iso() -> str:
    """Current time, UTC, ISO 8601 to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_scan_tag(key: str) -> bool:
    """The scanner owns every `scan-*` tag: it never reads them as input and replaces them on every write."""
    return key.startswith(c.SCAN_TAG_PREFIX)


def user_tags(tags: Mapping[str, str], *, guardduty: bool = False) -> dict[str, str]:
    """The uploader's tags: everything but the scanner's (and GuardDuty's status tag when the scanner writes it)."""
    return {k: v for k, v in tags.items() if not is_scan_tag(k) and not (guardduty and k == c.TAG_GUARDDUTY_STATUS)}


def guardduty_status_tag(status: ScanStatus, detail: str | None) -> dict[str, str]:
    """GuardDuty's `GuardDutyMalwareScanStatus` tag for a verdict (one of its five values)."""
    from scanner.results import guardduty_result  # results imports nothing of tags; a local import keeps it so

    return {c.TAG_GUARDDUTY_STATUS: guardduty_result(status, detail).result_status}


def scan_tags(
    verdict: Verdict,
    engine: str,
    scanned_at: str,
    *,
    released_by: str | None = None,
    release_reason: str | None = None,
    guardduty: bool = False,
) -> dict[str, str]:
    """Scan tags in priority order (scan-status first, then GuardDuty's status tag when `guardduty`); scan-detail
    absent for CLEAN; who released and why for RELEASED."""
    tags = {c.TAG_STATUS: verdict.status.value}
    if guardduty:
        tags.update(guardduty_status_tag(verdict.status, verdict.detail))
    if verdict.detail and verdict.status is not ScanStatus.CLEAN:
        tags[c.TAG_DETAIL] = clean_value(verdict.detail)
    tags[c.TAG_TIME] = scanned_at
    if engine:
        tags[c.TAG_ENGINE] = clean_value(engine)
    if released_by:
        tags[c.TAG_RELEASED_BY] = clean_value(released_by)
    if release_reason:
        tags[c.TAG_RELEASE_REASON] = clean_value(release_reason)
    return tags


@dataclass(frozen=True)
class MergedTags:
    """The tag set to write and what did not fit."""

    tags: dict[str, str]
    dropped_scan_tags: tuple[str, ...] = ()
    dropped_user_tags: tuple[str, ...] = ()


def merge_tags(existing: Mapping[str, str], new_scan_tags: Mapping[str, str]) -> MergedTags:
    """Replace our scan tags, keep the uploader's, within S3's 10-tag limit.

    Priority: the required tags always (scan-status, and GuardDutyMalwareScanStatus when the new tags carry it);
    then the uploader's tags; then the other scan tags in order. Only when the uploader's tags leave no room is
    one of theirs (the last by key) given up for each required tag, because an untagged object cannot be told
    apart from one never scanned (and a bucket policy written against GuardDuty's tag blocks or passes on it).
    GuardDuty's tag belongs to the scanner only while it writes it: otherwise it is the uploader's (or GuardDuty's
    own, when both run side by side) and kept like any other.
    """
    required = [k for k in (c.TAG_STATUS, c.TAG_GUARDDUTY_STATUS) if k in new_scan_tags]
    user = user_tags(existing, guardduty=c.TAG_GUARDDUTY_STATUS in new_scan_tags)
    dropped_user: list[str] = []
    while len(user) > c.S3_MAX_TAGS - len(required):
        last = sorted(user)[-1]
        dropped_user.append(last)
        del user[last]
    merged = {**{k: new_scan_tags[k] for k in required}, **user}
    dropped_scan: list[str] = []
    for key, value in new_scan_tags.items():
        if key in required:
            continue
        if len(merged) < c.S3_MAX_TAGS:
            merged[key] = value
        else:
            dropped_scan.append(key)
    return MergedTags(merged, tuple(dropped_scan), tuple(dropped_user))


def tag_set(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """boto3's TagSet shape."""
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def from_tag_set(tag_set_: list[Mapping[str, str]]) -> dict[str, str]:
    """boto3's TagSet -> dict."""
    return {t["Key"]: t["Value"] for t in tag_set_}
