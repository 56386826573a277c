"""`scanner scan s3://bucket/prefix`: submit existing objects to the scanner (backfill).

Each object becomes one S3-shaped ObjectCreated event, submitted either to the deployed function as an
asynchronous invocation (`--function NAME`: Lambda's own retries and dead-letter queue apply), to a queue the
scanner consumes (`--queue-url`), or to the local pipeline's events queue (`--endpoint-url`), where the running
`scanner local` scans it exactly as an upload.

Every object under the prefix is submitted: tags are outputs, never inputs, so a `scan-status` tag (which an
uploader may have forged) never exempts an object. `--only-untagged` skips objects that already carry a final
status, which is safe only where the bucket policy forbids writing `scan-*` tags to everyone but the scanner.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote_plus, urlparse

from botocore.exceptions import BotoCoreError, ClientError

from scanner import constants as c
from scanner.cli import defaults
from scanner.cli.aws import Aws, add_connection_arguments, error_code, explain, is_not_found, require_bucket
from scanner.cli.errors import EXIT_ERROR, EXIT_OK, CliError
from scanner.cli.output import Progress, print_json
from scanner.tags import from_tag_set
from scanner.verdict import FINAL_STATUSES

_FINAL = frozenset(s.value for s in FINAL_STATUSES)
_FATAL_CODES = frozenset(
    {"ResourceNotFoundException", "AccessDeniedException", "AccessDenied", "AWS.SimpleQueueService.NonExistentQueue"}
)
_MAX_FAILURES_SHOWN = 20


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="submit existing objects to the scanner (backfill)",
        description=(
            "List s3://bucket/prefix and submit every object as an S3 ObjectCreated event: to the deployed function "
            "(--function NAME, asynchronous invocation), a queue (--queue-url) or the local pipeline "
            "(--endpoint-url). Tags are never trusted, so every object is submitted unless --only-untagged."
        ),
    )
    parser.add_argument("target", metavar="s3://BUCKET[/PREFIX]", help="what to scan")
    to = parser.add_mutually_exclusive_group()
    to.add_argument("--function", metavar="NAME", help="the deployed scanner function (stack output functionName)")
    to.add_argument(
        "--queue-url",
        metavar="URL",
        help=f"an SQS queue taking S3 events (with --endpoint-url: the local pipeline's {defaults.EVENTS_QUEUE})",
    )
    parser.add_argument(
        "--only-untagged",
        action="store_true",
        help=(
            "skip objects that already carry a final scan-status tag (resume an interrupted run); safe ONLY where "
            "the bucket policy forbids scan-* tags to everyone but the scanner (blockUnscannedDownloads), since an "
            "uploader could otherwise forge the tag to be skipped"
        ),
    )
    parser.add_argument("--concurrency", type=int, default=8, metavar="N", help="parallel submissions (default 8)")
    parser.add_argument("--dry-run", action="store_true", help="count what would be submitted, submit nothing")
    parser.add_argument("--json", action="store_true", help="summary as JSON")
    add_connection_arguments(parser)
    parser.set_defaults(run=run)


def parse_s3_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise CliError(f"{url!r}: expected s3://bucket or s3://bucket/prefix")
    return parsed.netloc, parsed.path.lstrip("/")


def object_created_event(bucket: str, key: str, *, size: int, etag: str, region: str) -> dict[str, Any]:
    """The S3 notification S3 sends for a PUT, for one existing object (key URL-encoded as S3 encodes it)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "scanner-backfill"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "scanner-backfill",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag.strip('"')},
                },
            }
        ]
    }


class Submitter(Protocol):
    target: str

    def submit(self, event: dict[str, Any]) -> None: ...


class FatalSubmitError(CliError):
    """Every further submission would fail the same way (no such function or queue, access denied)."""


@dataclass
class LambdaSubmitter:
    """Asynchronous invocation of the deployed function, one event per invocation."""

    client: Any
    function: str

    @property
    def target(self) -> str:
        return f"function {self.function}"

    def submit(self, event: dict[str, Any]) -> None:
        reply = self.client.invoke(
            FunctionName=self.function, InvocationType="Event", Payload=json.dumps(event).encode()
        )
        if reply.get("StatusCode") != 202:
            raise CliError(f"invoke {self.function}: status {reply.get('StatusCode')}")


@dataclass
class QueueSubmitter:
    """The local pipeline's events queue (or any queue whose consumer takes S3 notifications)."""

    client: Any
    queue_url: str

    @property
    def target(self) -> str:
        return f"queue {self.queue_url}"

    def submit(self, event: dict[str, Any]) -> None:
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(event))


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
    """Counts shared by the worker threads."""

    listed: int = 0
    submitted: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    fatal: CliError | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str, key: str | None = None, error: str | None = None) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)
            if error and key is not None and len(self.failures) < _MAX_FAILURES_SHOWN:
                self.failures.append({"key": key, "error": error})

    def render(self) -> str:
        return f"listed {self.listed}  submitted {self.submitted}  skipped {self.skipped}  failed {self.failed}"


@dataclass
class Backfill:
    """List, check tags, submit; bounded concurrency."""

    s3: Any
    bucket: str
    prefix: str
    submitter: Submitter
    region: str
    only_untagged: bool = False
    dry_run: bool = False
    concurrency: int = 8
    tally: Tally = field(default_factory=Tally)

    def run(self) -> Tally:
        slots = threading.BoundedSemaphore(self.concurrency * 4)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="scan") as pool:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                for obj in page.get("Contents", []):
                    if self.tally.fatal:
                        break
                    self.tally.count("listed")
                    slots.acquire()
                    future: Future[None] = pool.submit(self.one, obj)
                    future.add_done_callback(lambda _: slots.release())
                if self.tally.fatal:
                    break
        if self.tally.fatal:
            raise self.tally.fatal
        return self.tally

    def one(self, obj: dict[str, Any]) -> None:
        key = obj["Key"]
        if self.tally.fatal:
            return
        try:
            if key.endswith("/") and obj.get("Size", 0) == 0:
                self.tally.count("skipped")  # folder marker: the scanner skips it too
                return
            if self.only_untagged and self._has_final_status(key):
                self.tally.count("skipped")
                return
            if not self.dry_run:
                event = object_created_event(
                    self.bucket, key, size=int(obj.get("Size", 0)), etag=obj.get("ETag", ""), region=self.region
                )
                self.submitter.submit(event)
            self.tally.count("submitted")
        except ClientError as err:
            if is_not_found(err):
                self.tally.count("skipped")  # deleted since the listing
            elif error_code(err) in _FATAL_CODES:
                self.tally.fatal = FatalSubmitError(str(explain(err, action=f"scan ({self.submitter.target})")))
            else:
                self.tally.count("failed", key, f"{error_code(err)}: {err}")
        except (BotoCoreError, CliError) as err:
            self.tally.count("failed", key, str(err))

    def _has_final_status(self, key: str) -> bool:
        tags = from_tag_set(self.s3.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"])
        return tags.get(c.TAG_STATUS) in _FINAL


def run(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise CliError("--concurrency must be at least 1")
    bucket, prefix = parse_s3_url(args.target)
    aws = Aws.from_args(args)
    if not (args.function or args.queue_url or aws.is_local):
        raise CliError("scan: where to? pass --function NAME (deployed) or --endpoint-url URL (local pipeline)")
    s3 = aws.client("s3")
    require_bucket(s3, bucket, action="scan")
    submitter = make_submitter(args, aws)
    backfill = Backfill(
        s3,
        bucket,
        prefix,
        submitter,
        region=aws.session.region_name or defaults.LOCAL_REGION,
        only_untagged=args.only_untagged,
        dry_run=args.dry_run,
        concurrency=args.concurrency,
    )
    started = time.monotonic()
    try:
        with Progress(backfill.tally.render):
            tally = backfill.run()
    except (ClientError, BotoCoreError) as err:
        raise explain(err, action="scan (listing)", bucket=bucket) from err
    elapsed = time.monotonic() - started
    summary = {
        "target": f"s3://{bucket}/{prefix}",
        "submittedTo": submitter.target,
        "dryRun": args.dry_run,
        "listed": tally.listed,
        "submitted": tally.submitted,
        "skipped": tally.skipped,
        "failed": tally.failed,
        "failures": tally.failures,
        "seconds": round(elapsed, 2),
    }
    if args.json:
        print_json(summary)
    else:
        verb = "would submit" if args.dry_run else "submitted"
        print(
            f"s3://{bucket}/{prefix}: listed {tally.listed}, {verb} {tally.submitted} to {submitter.target}, "
            f"skipped {tally.skipped} (already scanned), failed {tally.failed} in {elapsed:.1f}s"
        )
        for failure in tally.failures:
            print(f"  failed: {failure['key']}: {failure['error']}")
    return EXIT_ERROR if tally.failed else EXIT_OK
