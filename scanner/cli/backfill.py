"""`scanner scan s3://bucket/prefix`: submit existing objects to the scanner (backfill and rescans).

Each object becomes one S3-shaped ObjectCreated event, submitted either to the deployed function as an
asynchronous invocation (`--function NAME`: Lambda's own retries and dead-letter queue apply), to the scan queue
the uploads use (`--queue-url`, SendMessageBatch: the deployment's concurrency cap holds), or to the local
pipeline's events queue (`--endpoint-url`), where the running `scanner local` scans it exactly as an upload.
`--batch-operations` creates an S3 Batch Operations job instead (scanner.cli.batch_job).

Every object under the prefix is submitted unless a filter says otherwise:
- `--modified-since WHEN`: S3's LastModified (not a tag) at or after WHEN;
- `--scanned-before ENGINE|WHEN`: a rescan of what older signatures passed. Tags are outputs, never inputs: an
  object is left out only when its own scan tags parse and prove a final verdict from that database or time or a
  newer one; missing, partial, unparseable or ERROR tags always submit it. The selection is only as trustworthy
  as the bucket policy forbidding scan-* tags to everyone but the scanner (a forged newer `scan-engine` would
  keep an object out of a rescan, never out of the scan of its upload);
- `--only-untagged`: skip objects that already carry a final status (the same caveat).
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from scanner import constants as c
from scanner.cli import defaults
from scanner.cli.aws import Aws, add_connection_arguments, error_code, explain, is_not_found, require_bucket
from scanner.cli.errors import EXIT_ERROR, EXIT_OK, CliError
from scanner.cli.output import Progress, print_json
from scanner.cli.quarantine import parse_since
from scanner.config import RescanTarget
from scanner.rescan import QueueBatchSender, SendFailure, is_folder_marker, list_objects
from scanner.rescan import object_created_event as _object_created_event
from scanner.tags import from_tag_set
from scanner.verdict import FINAL_STATUSES

_FINAL = frozenset(s.value for s in FINAL_STATUSES)
_FATAL_CODES = frozenset(
    {"ResourceNotFoundException", "AccessDeniedException", "AccessDenied", "AWS.SimpleQueueService.NonExistentQueue"}
)
_MAX_FAILURES_SHOWN = 20
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ].*)?|\d+(\.\d+)?\s*[smhdw]")
_BAR_WIDTH = 24


def add_parser(subparsers: Any) -> None:
    from scanner.cli import batch_job

    parser = subparsers.add_parser(
        "scan",
        help="submit existing objects to the scanner (backfill, rescans, S3 Batch Operations)",
        description=(
            "List s3://bucket/prefix and submit every object as an S3 ObjectCreated event: to the deployed function "
            "(--function NAME, asynchronous invocation), the scan queue (--queue-url) or the local pipeline "
            "(--endpoint-url). Tags are never trusted: --scanned-before leaves an object out only when its own "
            "scan tags prove a verdict from that database or a newer one."
        ),
    )
    parser.add_argument("target", metavar="s3://BUCKET[/PREFIX]", help="what to scan")
    to = parser.add_mutually_exclusive_group()
    to.add_argument("--function", metavar="NAME", help="the deployed scanner function (stack output functionName)")
    to.add_argument(
        "--queue-url",
        metavar="URL",
        help=(
            "the scan queue the uploads use (stack output scanQueueUrl; with --endpoint-url: the local pipeline's "
            f"{defaults.EVENTS_QUEUE})"
        ),
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--scanned-before",
        metavar="ENGINE|WHEN",
        help=(
            "rescan: only objects whose last verdict came from an older database (a daily version such as 27830, "
            "or a scan-engine label) or was made before WHEN (2026-11-01, 2026-11-01T12:00:00Z, 30d); objects "
            "with missing or unparseable scan tags are always submitted"
        ),
    )
    which.add_argument(
        "--only-untagged",
        action="store_true",
        help=(
            "skip objects that already carry a final scan-status tag (resume an interrupted run); safe ONLY where "
            "the bucket policy forbids scan-* tags to everyone but the scanner (blockUnscannedDownloads), since an "
            "uploader could otherwise forge the tag to be skipped"
        ),
    )
    parser.add_argument(
        "--modified-since",
        metavar="WHEN",
        help="only objects whose LastModified is at or after WHEN (2026-11-01, ISO 8601, or 7d / 24h ago)",
    )
    parser.add_argument("--concurrency", type=int, default=8, metavar="N", help="parallel tag reads/submissions (8)")
    parser.add_argument("--dry-run", action="store_true", help="count what would be submitted, submit nothing")
    parser.add_argument("--json", action="store_true", help="summary as JSON")
    batch_job.add_arguments(parser)
    add_connection_arguments(parser)
    parser.set_defaults(run=run)


def parse_s3_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise CliError(f"{url!r}: expected s3://bucket or s3://bucket/prefix")
    return parsed.netloc, parsed.path.lstrip("/")


def object_created_event(bucket: str, key: str, *, size: int, etag: str, region: str) -> dict[str, Any]:
    """The S3 notification S3 sends for a PUT, for one existing object (key URL-encoded as S3 encodes it)."""
    return _object_created_event(bucket, key, size=size, etag=etag, region=region, source="scanner-backfill")


# --- selection ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineCutoff:
    """`--scanned-before 27830` or a scan-engine label: verdicts from an older database are rescanned."""

    label: str
    database: int | None


@dataclass(frozen=True)
class TimeCutoff:
    """`--scanned-before 2026-11-01`: verdicts made before this instant are rescanned."""

    when: datetime


Cutoff = EngineCutoff | TimeCutoff


def database_version(engine: str | None) -> int | None:
    """The daily database version in a scan-engine label (`ClamAV 1.4.6/27830/<date>`), when it has one."""
    parts = (engine or "").split("/")
    return int(parts[1]) if len(parts) > 1 and parts[1].strip().isdigit() else None


def parse_scanned_before(text: str) -> Cutoff:
    value = text.strip()
    if value.isdigit():
        return EngineCutoff(value, int(value))
    if _DATE.fullmatch(value):
        return TimeCutoff(parse_since(value))
    if "/" in value:
        return EngineCutoff(value, database_version(value))
    raise CliError(
        f"--scanned-before {text!r}: expected a daily database version (27830), a scan-engine label "
        "('ClamAV 1.4.6/27830/...') or a date (2026-11-01, 30d)"
    )


def _scan_time(value: str | None) -> datetime | None:
    try:
        when = datetime.strptime(value or "", "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return when.replace(tzinfo=UTC)


def verdict_is_older(tags: Mapping[str, str], cutoff: Cutoff) -> bool:
    """True unless the object's own tags prove a final verdict at least as new as the cutoff (rule 1: a missing
    or unreadable tag never keeps an object out)."""
    if tags.get(c.TAG_STATUS) not in _FINAL:
        return True
    if isinstance(cutoff, TimeCutoff):
        when = _scan_time(tags.get(c.TAG_TIME))
        return when is None or when < cutoff.when
    engine = tags.get(c.TAG_ENGINE)
    if not engine:
        return True
    if cutoff.database is not None:
        database = database_version(engine)
        return database is None or database < cutoff.database
    return engine != cutoff.label


@dataclass(frozen=True)
class Selector:
    """Which listed objects are submitted, and why the others are not."""

    modified_since: datetime | None = None
    scanned_before: Cutoff | None = None
    only_untagged: bool = False

    @property
    def reads_tags(self) -> bool:
        return self.scanned_before is not None or self.only_untagged

    def skip_reason(self, obj: Mapping[str, Any], tags: Mapping[str, str] | None) -> str | None:
        """None: submit it. Otherwise the reason it is left out."""
        if is_folder_marker(obj):
            return "folder-marker"  # the scanner skips it too
        if self.modified_since is not None and obj["LastModified"] < self.modified_since:
            return "modified-before"
        if tags is None:
            return None
        if self.only_untagged and tags.get(c.TAG_STATUS) in _FINAL:
            return "already-scanned"
        if self.scanned_before is not None and not verdict_is_older(tags, self.scanned_before):
            return "scanned-with-newer"
        return None

    def document(self) -> dict[str, Any]:
        cutoff = self.scanned_before
        return {
            "modifiedSince": self.modified_since.isoformat() if self.modified_since else None,
            "scannedBefore": (
                cutoff.when.isoformat() if isinstance(cutoff, TimeCutoff) else (cutoff.label if cutoff else None)
            ),
            "onlyUntagged": self.only_untagged,
        }


# --- submission --------------------------------------------------------------------------------------------


class Submitter(Protocol):
    target: str
    batch_size: int

    def submit_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[SendFailure]: ...


class FatalSubmitError(CliError):
    """Every further submission would fail the same way (no such function or queue, access denied)."""


@dataclass
class LambdaSubmitter:
    """Asynchronous invocation of the deployed function, one event per invocation."""

    client: Any
    function: str
    batch_size: int = 1

    @property
    def target(self) -> str:
        return f"function {self.function}"

    def submit(self, event: dict[str, Any]) -> None:
        reply = self.client.invoke(
            FunctionName=self.function, InvocationType="Event", Payload=json.dumps(event).encode()
        )
        if reply.get("StatusCode") != 202:
            raise CliError(f"invoke {self.function}: status {reply.get('StatusCode')}")

    def submit_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[SendFailure]:
        failures = []
        for key, event in items:
            try:
                self.submit(event)
            except CliError as err:
                failures.append(SendFailure(key, str(err)))
        return failures


@dataclass
class QueueSubmitter:
    """The scan queue (or any queue whose consumer takes S3 notifications): SendMessageBatch, ten at a time."""

    client: Any
    queue_url: str
    batch_size: int = 10

    @property
    def target(self) -> str:
        return f"queue {self.queue_url}"

    def submit_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[SendFailure]:
        return QueueBatchSender(self.client, self.queue_url).send(items)


def make_submitter(args: argparse.Namespace, aws: Aws) -> Submitter:
    if args.function:
        return LambdaSubmitter(aws.client("lambda"), args.function)
    sqs = aws.client("sqs")
    if args.queue_url:
        return QueueSubmitter(sqs, args.queue_url)
    try:
        url = sqs.get_queue_url(QueueName=defaults.EVENTS_QUEUE)["QueueUrl"]
    except (ClientError, BotoCoreError) as err:
        raise CliError(
            f"scan: no queue {defaults.EVENTS_QUEUE} at {aws.endpoint_url}: is `scanner local` running there?"
        ) from err
    return QueueSubmitter(sqs, url)


@dataclass
class Tally:
    """Counts shared by the worker threads, and what the progress line shows."""

    listed: int = 0
    submitted: int = 0
    skipped: int = 0
    failed: int = 0
    skipped_by: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    fatal: CliError | None = None
    listing_done: bool = False
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str, key: str | None = None, error: str | None = None, n: int = 1) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + n)
            if error and key is not None and len(self.failures) < _MAX_FAILURES_SHOWN:
                self.failures.append({"key": key, "error": error})

    def skip(self, reason: str) -> None:
        with self._lock:
            self.skipped += 1
            self.skipped_by[reason] = self.skipped_by.get(reason, 0) + 1

    @property
    def done(self) -> int:
        return self.submitted + self.skipped + self.failed

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def render(self) -> str:
        """`[#####.....] 1200/5000 24%  310/s  ETA 12s  submitted 900 skipped 300 failed 0` (ETA once listed)."""
        done, listed = self.done, self.listed
        fraction = done / listed if listed else 0.0
        filled = int(fraction * _BAR_WIDTH)
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        rate = self.rate()
        if not self.listing_done:
            eta = "ETA ? (listing)"
        elif rate > 0:
            eta = f"ETA {_duration((listed - done) / rate)}"
        else:
            eta = "ETA ?"
        total = f"{listed}" if self.listing_done else f"{listed}+"
        return (
            f"[{bar}] {done}/{total} {fraction:.0%}  {rate:.0f}/s  {eta}  "
            f"submitted {self.submitted} skipped {self.skipped} failed {self.failed}"
        )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Batcher:
    """Collects selected objects and submits them in the submitter's batch size (SendMessageBatch: 10)."""

    def __init__(self, submitter: Submitter, tally: Tally, *, dry_run: bool) -> None:
        self.submitter = submitter
        self.tally = tally
        self.dry_run = dry_run
        self._items: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def add(self, key: str, event: dict[str, Any]) -> None:
        with self._lock:
            self._items.append((key, event))
            if len(self._items) < self.submitter.batch_size:
                return
            chunk, self._items = self._items, []
        self._send(chunk)

    def close(self) -> None:
        with self._lock:
            chunk, self._items = self._items, []
        if chunk:
            self._send(chunk)

    def _send(self, chunk: list[tuple[str, dict[str, Any]]]) -> None:
        if self.dry_run:
            self.tally.count("submitted", n=len(chunk))
            return
        if self.tally.fatal:
            return
        try:
            failures = self.submitter.submit_many(chunk)
        except ClientError as err:
            if error_code(err) in _FATAL_CODES:
                self.tally.fatal = FatalSubmitError(str(explain(err, action=f"scan ({self.submitter.target})")))
            else:
                for key, _ in chunk:
                    self.tally.count("failed", key, f"{error_code(err)}: {err}")
            return
        except (BotoCoreError, CliError) as err:
            for key, _ in chunk:
                self.tally.count("failed", key, str(err))
            return
        self.tally.count("submitted", n=len(chunk) - len(failures))
        for failure in failures:
            self.tally.count("failed", failure.key, failure.error)


@dataclass
class Backfill:
    """List, select (tags read concurrently when a filter needs them), submit in batches; bounded concurrency."""

    s3: Any
    bucket: str
    prefix: str
    submitter: Submitter
    region: str
    selector: Selector = field(default_factory=Selector)
    dry_run: bool = False
    concurrency: int = 8
    tally: Tally = field(default_factory=Tally)

    def run(self) -> Tally:
        batcher = Batcher(self.submitter, self.tally, dry_run=self.dry_run)
        slots = threading.BoundedSemaphore(self.concurrency * 4)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="scan") as pool:
            for obj in list_objects(self.s3, RescanTarget(self.bucket, self.prefix)):
                if self.tally.fatal:
                    break
                self.tally.count("listed")
                slots.acquire()
                future: Future[None] = pool.submit(self.one, obj, batcher)
                future.add_done_callback(lambda _: slots.release())
            self.tally.listing_done = True
        batcher.close()
        if self.tally.fatal:
            raise self.tally.fatal
        return self.tally

    def one(self, obj: dict[str, Any], batcher: Batcher) -> None:
        key = obj["Key"]
        if self.tally.fatal:
            return
        try:
            reason = self.selector.skip_reason(obj, None)
            if reason is None and self.selector.reads_tags:
                reason = self.selector.skip_reason(obj, self._tags(key))
            if reason is not None:
                self.tally.skip(reason)
                return
            event = object_created_event(
                self.bucket, key, size=int(obj.get("Size", 0)), etag=obj.get("ETag", ""), region=self.region
            )
            batcher.add(key, event)
        except ClientError as err:
            if is_not_found(err):
                self.tally.skip("gone")  # deleted since the listing
            elif error_code(err) in _FATAL_CODES:
                self.tally.fatal = FatalSubmitError(str(explain(err, action=f"scan ({self.submitter.target})")))
            else:
                self.tally.count("failed", key, f"{error_code(err)}: {err}")
        except (BotoCoreError, CliError) as err:
            self.tally.count("failed", key, str(err))

    def _tags(self, key: str) -> dict[str, str]:
        return from_tag_set(self.s3.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"])


def selector_from_args(args: argparse.Namespace) -> Selector:
    return Selector(
        modified_since=parse_since(args.modified_since) if args.modified_since else None,
        scanned_before=parse_scanned_before(args.scanned_before) if args.scanned_before else None,
        only_untagged=args.only_untagged,
    )


def run(args: argparse.Namespace) -> int:
    if args.batch_operations:
        from scanner.cli import batch_job

        return batch_job.run(args)
    if args.concurrency < 1:
        raise CliError("--concurrency must be at least 1")
    bucket, prefix = parse_s3_url(args.target)
    selector = selector_from_args(args)
    aws = Aws.from_args(args)
    if not (args.function or args.queue_url or aws.is_local):
        raise CliError(
            "scan: where to? pass --queue-url URL (the scan queue), --function NAME (deployed) or --endpoint-url URL "
            "(local pipeline)"
        )
    s3 = aws.client("s3")
    require_bucket(s3, bucket, action="scan")
    submitter = make_submitter(args, aws)
    backfill = Backfill(
        s3,
        bucket,
        prefix,
        submitter,
        region=aws.session.region_name or defaults.LOCAL_REGION,
        selector=selector,
        dry_run=args.dry_run,
        concurrency=args.concurrency,
    )
    try:
        with Progress(backfill.tally.render):
            tally = backfill.run()
    except (ClientError, BotoCoreError) as err:
        raise explain(err, action="scan (listing)", bucket=bucket) from err
    elapsed = time.monotonic() - tally.started
    summary = {
        "target": f"s3://{bucket}/{prefix}",
        "submittedTo": submitter.target,
        "dryRun": args.dry_run,
        "selection": selector.document(),
        "listed": tally.listed,
        "submitted": tally.submitted,
        "skipped": tally.skipped,
        "skippedBy": dict(sorted(tally.skipped_by.items())),
        "failed": tally.failed,
        "failures": tally.failures,
        "seconds": round(elapsed, 2),
        "perSecond": round(tally.done / elapsed, 1) if elapsed > 0 else None,
    }
    if args.json:
        print_json(summary)
    else:
        verb = "would submit" if args.dry_run else "submitted"
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(tally.skipped_by.items())) or "none"
        print(
            f"s3://{bucket}/{prefix}: listed {tally.listed}, {verb} {tally.submitted} to {submitter.target}, "
            f"skipped {tally.skipped} ({reasons}), failed {tally.failed} in {elapsed:.1f}s"
        )
        for failure in tally.failures:
            print(f"  failed: {failure['key']}: {failure['error']}")
    return EXIT_ERROR if tally.failed else EXIT_OK
