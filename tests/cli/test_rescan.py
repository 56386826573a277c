"""Rescans: `scanner scan --scanned-before/--modified-since` submits exactly the objects scanned with older
databases (never leaving out one whose tags are missing or unreadable), the scheduled rescan submits through the
scan queue by LastModified, bounded, and the progress line shows rate and ETA."""

from __future__ import annotations

import io
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from scanner.cli.backfill import (
    EngineCutoff,
    Selector,
    Tally,
    TimeCutoff,
    database_version,
    parse_scanned_before,
    verdict_is_older,
)
from scanner.cli.errors import EXIT_OK, CliError
from scanner.cli.output import Progress
from scanner.config import RescanSettings, RescanTarget
from scanner.events import parse_event
from scanner.rescan import Selection, is_trigger, run
from tests.cli.local_process import LocalProcess, Ready
from tests.cli.test_backfill import scan
from tests.support.clamd import EICAR

OLD = "ClamAV 1.4.6/27000/Mon Sep  1 09:00:00 2026"
NEW = "ClamAV 1.4.6/27900/Wed Nov 26 09:29:01 2026"


def scan_tags(status: str, engine: str | None, when: str | None = "2026-11-01T00:00:00Z") -> dict[str, str]:
    tags = {"scan-status": status}
    if engine is not None:
        tags["scan-engine"] = engine
    if when is not None:
        tags["scan-time"] = when
    return tags


@pytest.mark.parametrize(
    ("tags", "older"),
    [
        ({}, True),
        (scan_tags("CLEAN", OLD), True),
        (scan_tags("CLEAN", NEW), False),
        (scan_tags("INFECTED", NEW), False),
        (scan_tags("CLEAN", "ClamAV 1.4.6/27830"), False),
        (scan_tags("CLEAN", None), True),
        (scan_tags("CLEAN", "garbage"), True),
        (scan_tags("CLEAN", "ClamAV 1.4.6/local-0123456789ab"), True),
        (scan_tags("ERROR", NEW), True),
        (scan_tags("clean", NEW), True),
        ({"scan-engine": NEW, "scan-time": "2026-11-27T00:00:00Z"}, True),
    ],
)
def test_an_engine_cutoff_never_leaves_out_what_its_tags_do_not_prove(tags: dict[str, str], older: bool) -> None:
    assert verdict_is_older(tags, parse_scanned_before("27830")) is older


def test_time_and_label_cutoffs() -> None:
    cutoff = parse_scanned_before("2026-11-15")
    assert isinstance(cutoff, TimeCutoff) and cutoff.when == datetime(2026, 11, 15, tzinfo=UTC)
    assert verdict_is_older(scan_tags("CLEAN", NEW, "2026-11-01T00:00:00Z"), cutoff)
    assert not verdict_is_older(scan_tags("CLEAN", OLD, "2026-11-20T00:00:00Z"), cutoff)
    assert verdict_is_older(scan_tags("CLEAN", NEW, "yesterday"), cutoff)
    assert verdict_is_older(scan_tags("CLEAN", NEW, None), cutoff)
    relative = parse_scanned_before("30d")
    assert isinstance(relative, TimeCutoff) and relative.when < datetime.now(UTC) - timedelta(days=29)
    label = parse_scanned_before("ClamAV 1.4.6/local-0123456789ab")
    assert label == EngineCutoff("ClamAV 1.4.6/local-0123456789ab", None)
    assert not verdict_is_older(scan_tags("CLEAN", "ClamAV 1.4.6/local-0123456789ab"), label)
    assert verdict_is_older(scan_tags("CLEAN", "ClamAV 1.4.6/local-fedcba987654"), label)
    assert parse_scanned_before(NEW) == EngineCutoff(NEW, 27900)
    assert database_version(NEW) == 27900 and database_version("ClamAV 1.4.6") is None
    with pytest.raises(CliError):
        parse_scanned_before("latest")


def test_the_progress_line_has_a_bar_rate_and_an_eta_once_listed() -> None:
    tally = Tally(started=time.monotonic() - 10)
    tally.listed, tally.submitted, tally.skipped = 1000, 150, 50
    assert "ETA ? (listing)" in tally.render() and "200/1000+" in tally.render()
    tally.listing_done = True
    line = tally.render()
    assert line.startswith("[####" + "." * 20 + "]") and "200/1000 20%" in line
    rate = re.search(r"  (\d+)/s  ETA (\d+)s  ", line)
    assert rate and 15 <= int(rate[1]) <= 20 and 40 <= int(rate[2]) <= 55, line
    stream = io.StringIO()
    with Progress(tally.render, stream=stream, interval_s=0.05):
        time.sleep(0.2)
    lines = [line for line in stream.getvalue().splitlines() if line]
    assert lines and all("\r" not in line and "\033" not in line for line in lines), "plain lines off a terminal"


def test_scanned_before_submits_exactly_the_older_and_the_unproven(
    local_pipeline: LocalProcess, ready: Ready, local_s3: Any, scratch_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = {
        "old.txt": scan_tags("CLEAN", OLD),
        "new.txt": scan_tags("CLEAN", NEW),
        "new-infected.bin": scan_tags("CLEAN", NEW),  # a forged newer engine keeps it out of a rescan only
        "untagged.txt": {},
        "unparseable.txt": scan_tags("CLEAN", "not an engine"),
        "error.txt": scan_tags("ERROR", NEW),
        "no-status.txt": {"scan-engine": NEW, "owner": "bob"},
    }
    for key, tags in objects.items():
        body = EICAR if key.endswith(".bin") else key.encode()
        local_s3.put_object(Bucket=scratch_bucket, Key=f"r/{key}", Body=body, Tagging=urlencode(tags))
    code, summary = scan(capsys, ready, f"s3://{scratch_bucket}/r/", "--scanned-before", "27830")
    assert code == EXIT_OK
    assert (summary["listed"], summary["submitted"], summary["skipped"]) == (7, 5, 2)
    assert summary["skippedBy"] == {"scanned-with-newer": 2}
    submitted = {f"r/{k}" for k in ("old.txt", "untagged.txt", "unparseable.txt", "error.txt", "no-status.txt")}
    verdicts = local_pipeline.verdicts(scratch_bucket, submitted, timeout_s=60)
    assert {v["status"] for v in verdicts.values()} == {"CLEAN"}
    time.sleep(1)
    seen = {doc["key"] for doc in local_pipeline.json_lines() if doc.get("bucket") == scratch_bucket}
    assert seen == submitted, "nothing else was submitted"


def test_modified_since_selects_by_last_modified(
    local_pipeline: LocalProcess, ready: Ready, local_s3: Any, scratch_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    local_s3.put_object(Bucket=scratch_bucket, Key="m/before.txt", Body=b"before")
    time.sleep(1.5)
    between = datetime.now(UTC).replace(microsecond=0)
    time.sleep(1.5)
    local_s3.put_object(Bucket=scratch_bucket, Key="m/after.txt", Body=b"after")
    code, summary = scan(
        capsys, ready, f"s3://{scratch_bucket}/m/", "--modified-since", between.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    assert code == EXIT_OK
    assert (summary["submitted"], summary["skippedBy"]) == (1, {"modified-before": 1})
    assert local_pipeline.verdicts(scratch_bucket, {"m/after.txt"}, timeout_s=30)["m/after.txt"]["status"] == "CLEAN"


def test_scheduled_rescan_submits_through_the_queue_newest_first_bounded(
    local_pipeline: LocalProcess, ready: Ready, local_client: Any, scratch_bucket: str
) -> None:
    s3, sqs = local_client("s3"), local_client("sqs")
    keys = [f"s/{i}.txt" for i in range(3)]
    for key in keys:
        s3.put_object(Bucket=scratch_bucket, Key=key, Body=key.encode())
        time.sleep(1.1)
    s3.put_object(Bucket=scratch_bucket, Key="s/folder/", Body=b"")
    queue = sqs.get_queue_url(QueueName="scanner-local-events")["QueueUrl"]
    settings = RescanSettings(queue, (RescanTarget(scratch_bucket, "s/"),), days=7, max_objects=2)
    summary = run(settings, s3, sqs, region="us-east-1")
    assert (summary["listed"], summary["matched"], summary["submitted"], summary["truncated"]) == (4, 3, 2, 1)
    assert summary["sendMessageBatchCalls"] == 1 and summary["failed"] == 0
    verdicts = local_pipeline.verdicts(scratch_bucket, set(keys[1:]), timeout_s=60)
    assert {v["status"] for v in verdicts.values()} == {"CLEAN"}, "the two newest"


def test_selection_by_last_modified_keeps_the_newest_and_skips_folder_markers() -> None:
    now = datetime.now(UTC)
    selection = Selection(now - timedelta(days=7), limit=2)
    for key, age, size in [("a", 1, 5), ("b", 8, 5), ("c", 2, 5), ("d", 0, 5), ("e/", 0, 0)]:
        selection.offer("bkt", {"Key": key, "LastModified": now - timedelta(days=age), "Size": size, "ETag": '"x"'})
    assert [c.key for c in selection.chosen] == ["d", "a"]
    assert (selection.listed, selection.matched, selection.truncated) == (5, 3, 1)


def test_rescan_triggers_and_submitted_events_parse() -> None:
    manifest = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": "defs"}, "object": {"key": "manifest.json"}},
    }
    assert is_trigger(manifest, "defs") and not is_trigger(manifest, "other")
    assert not is_trigger({**manifest, "detail": {"bucket": {"name": "defs"}, "object": {"key": "daily.cvd"}}})
    assert is_trigger({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})
    assert is_trigger({})
    assert not is_trigger({"Records": [{"eventSource": "aws:s3"}]} | {"source": "aws.sqs"})
    from scanner.rescan import object_created_event

    deliveries, _ = parse_event(object_created_event("b", "a b+c/ü.txt", size=3, etag='"e"', region="r", source="x"))
    ref = deliveries[0].items[0]
    assert (ref.bucket, ref.key, ref.etag) == ("b", "a b+c/ü.txt", "e")  # type: ignore[union-attr]


def test_selector_reads_no_tags_for_modified_since_only() -> None:
    assert not Selector(modified_since=datetime.now(UTC)).reads_tags
    assert Selector(scanned_before=EngineCutoff("1", 1)).reads_tags
