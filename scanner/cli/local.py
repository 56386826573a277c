"""`scanner local`: run the whole pipeline on this machine, print READY and one line per verdict until stopped."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from scanner.cli import defaults
from scanner.cli.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, CliError
from scanner.cli.output import printable

if TYPE_CHECKING:
    from scanner.cli.pipeline import DeadLetter, LocalPipeline, RetryScheduled
    from scanner.process import Outcome

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def add_parser(subparsers: Any) -> None:
    buckets = defaults.local_buckets()
    parser = subparsers.add_parser(
        "local",
        help="run the scanner pipeline on this machine (embedded S3/SQS/SNS, a real clamd)",
        description=(
            "Start an embedded S3/SQS/SNS endpoint (moto) on 127.0.0.1, a clamd, the upload and quarantine buckets "
            "and the deployed queue mode's wiring (upload bucket -> SQS -> event source mapping -> "
            "scanner.handler.lambda_handler in batches; a message failed 3 times goes to the dead-letter queue). "
            "Prints 'READY endpoint=<url> upload=<bucket> quarantine=<bucket>', then one line per verdict, until "
            "Ctrl-C or SIGTERM."
        ),
    )
    parser.add_argument(
        "--port",
        type=int,
        help=(
            f"port of the endpoint on 127.0.0.1 (default {defaults.DEFAULT_PORT}; with --demo a free port; "
            "0 picks a free port)"
        ),
    )
    parser.add_argument(
        "--upload-bucket", default=buckets.upload, help=f"bucket whose uploads are scanned (default {buckets.upload})"
    )
    parser.add_argument(
        "--quarantine-bucket",
        default=buckets.quarantine,
        help=f"where infected objects are moved (default {buckets.quarantine})",
    )
    parser.add_argument(
        "--database",
        type=Path,
        metavar="DIR",
        help="signature database directory, e.g. /var/lib/clamav (default: the project's test signatures)",
    )
    parser.add_argument("--clamd", metavar="PATH", help="clamd executable (default: clamd on PATH, /usr/sbin/clamd)")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="upload sample files, print a table of verdicts, exit 0 only if every verdict is the expected one",
    )
    parser.add_argument("--json", action="store_true", help="verdict lines as JSON objects (READY stays plain)")
    parser.add_argument(
        "--retry-delay",
        type=int,
        default=1,
        metavar="SECONDS",
        help="delay before a failed event's first retry, doubled for the second (Lambda: 1 and 2 minutes)",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, metavar="SECONDS", help="--demo: how long to wait for the verdicts"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="the scanner's JSON logs on stderr")
    parser.set_defaults(run=run)


class VerdictPrinter:
    """One line per verdict, retry and dead letter on stdout, flushed at once (scripts read it line by line)."""

    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            print(text, file=self.out, flush=True)

    def outcome(self, outcome: Outcome) -> None:
        if self.as_json:
            self.line(json.dumps({"type": "verdict", **outcome.log_fields()}, ensure_ascii=False))
        else:
            self.line(outcome_line(outcome))

    def retry(self, retry: RetryScheduled) -> None:
        if self.as_json:
            self.line(json.dumps({"type": "retry", **vars(retry)}, ensure_ascii=False))
        else:
            self.line(
                f"RETRY       message={retry.message_id} attempt={retry.attempt} in {retry.delay_s}s: "
                f"{printable(retry.error)}"
            )

    def dead_letter(self, dead: DeadLetter) -> None:
        if self.as_json:
            self.line(json.dumps({"type": "dead-letter", **vars(dead)}, ensure_ascii=False, default=str))
        else:
            self.line(f"DLQ         message={dead.message_id} attempts={dead.attempts}: {printable(dead.error)}")


def outcome_line(outcome: Outcome) -> str:
    """`STATUS  s3://bucket/key  detail  ms`, then where an infected object went or why a retry is needed."""
    if outcome.skipped:
        status, detail = "SKIPPED", outcome.skipped
    else:
        status = outcome.status.value if outcome.status else "ERROR"
        detail = outcome.detail or "-"
    where = printable(f"s3://{outcome.ref.bucket}/{outcome.ref.key}")
    line = f"{status:<11} {where}  {printable(detail)}  {outcome.duration_ms:.0f} ms"
    if outcome.quarantine_location:
        line += f"  -> {printable(outcome.quarantine_location)}"
    if outcome.retry:
        line += f"  (retry: {printable(', '.join(outcome.problems) or 'requested')})"
    return line


class _Stop(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM: unwinds whatever it is doing into the clean-up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum: int, frame: Any) -> None:
    # Once: a second Ctrl-C must not interrupt the clean-up the first one started.
    for sig in _SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise _Stop(signum)


def run(args: argparse.Namespace) -> int:
    from scanner.cli.demo import OutcomeCollector, run_demo
    from scanner.cli.pipeline import LocalPipeline, PipelineOptions, find_clamd
    from scanner.observability import logger

    options = PipelineOptions(
        upload_bucket=args.upload_bucket,
        quarantine_bucket=args.quarantine_bucket,
        database=_database(args.database),
        copy_database=args.database is None,
        clamd_binary=find_clamd(args.clamd),
        port=args.port if args.port is not None else (0 if args.demo else defaults.DEFAULT_PORT),
        retry_delay_s=max(0, args.retry_delay),
    )
    out = sys.stdout
    printer = VerdictPrinter(out, as_json=args.json)
    collector = OutcomeCollector()

    def on_outcome(outcome: Outcome) -> None:
        printer.outcome(outcome)
        collector.add(outcome)

    def on_dead_letter(dead: DeadLetter) -> None:
        printer.dead_letter(dead)
        collector.add_dead_letter(dead)

    logger.setLevel("INFO" if args.verbose else "WARNING")
    pipeline = LocalPipeline(options, on_outcome=on_outcome, on_retry=printer.retry, on_dead_letter=on_dead_letter)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, _raise_stop) for s in _SIGNALS} if in_main_thread else {}
    stopped_by, announced = "error", False
    try:
        pipeline.start()
        _announce(pipeline, printer, hints=not args.demo)
        announced = True
        if args.demo:
            ok = run_demo(pipeline, collector, out, timeout_s=args.timeout)
            stopped_by = "end of demo"
            return EXIT_OK if ok else EXIT_ERROR
        assert pipeline.worker is not None
        while pipeline.worker.is_alive():
            pipeline.worker.stop_requested.wait(0.5)
        raise CliError("the event worker stopped unexpectedly")
    except _Stop as stop:
        stopped_by = signal.Signals(stop.signum).name
        return EXIT_INTERRUPTED if args.demo else EXIT_OK
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        clamd_pid = pipeline.clamd_pid
        pipeline.stop()
        if announced:
            printer.line(f"STOPPED clamd_pid={clamd_pid} reason={stopped_by}")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _database(explicit: Path | None) -> Path:
    if explicit is not None:
        if not explicit.is_dir():
            raise CliError(f"--database {explicit}: not a directory")
        return explicit.resolve()
    found = defaults.default_database()
    if found is None:
        raise CliError(
            f"no default signature database ({defaults.TEST_SIGNATURES} is missing outside a checkout): "
            "pass --database DIR, e.g. /var/lib/clamav after freshclam"
        )
    return found


def _announce(pipeline: LocalPipeline, printer: VerdictPrinter, *, hints: bool) -> None:
    options = pipeline.options
    printer.line(
        f"clamd_pid={pipeline.clamd_pid} engine={pipeline.engine()!r} database={options.database} "
        f"work_dir={pipeline.work_dir}"
    )
    printer.line(
        f"queue={pipeline.queue_url} dlq={pipeline.dead_letter_url} findings_topic={pipeline.findings_topic_arn} "
        f"findings_queue={pipeline.findings_queue_url} results_queue={pipeline.results_queue_url}"
    )
    printer.line(
        f"READY endpoint={pipeline.endpoint_url} upload={options.upload_bucket} quarantine={options.quarantine_bucket}"
    )
    if not hints:
        return
    url = pipeline.endpoint_url
    print(
        "upload:  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
        f"aws --endpoint-url {url} s3 cp FILE s3://{options.upload_bucket}/\n"
        f"review:  scanner quarantine list --endpoint-url {url}\n"
        "stop:    Ctrl-C",
        file=sys.stderr,
        flush=True,
    )
