"""Lambda's init phase only starts the cold start; the first invocation waits for it."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.events import put_and_event


class SlowDefinitions:
    """A definitions watcher whose download takes a while and then finds nothing published (image database)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.prepared = False
        self.manifest = None

    def prepare(self) -> Path | None:
        time.sleep(self.seconds)
        self.prepared = True
        return None

    def check(self) -> None:
        return None


def test_init_returns_at_once_and_the_first_invocation_waits(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime()
    runtime.definitions = SlowDefinitions(1.5)  # type: ignore[assignment]
    started = time.monotonic()
    runtime.start_in_background()
    assert time.monotonic() - started < 0.5, "init must not wait for the download or clamd's load"
    bucket = make_bucket()
    result = runtime.handle(put_and_event(s3, bucket, "a.txt", b"first"))
    assert result["statuses"][0]["status"] == "CLEAN"
    assert time.monotonic() - started >= 1.5, "the first verdict waited for the cold start"


def test_provisioned_concurrency_init_waits_until_clamd_answers(make_runtime) -> None:
    runtime = make_runtime()
    runtime.definitions = SlowDefinitions(0.2)  # type: ignore[assignment]
    runtime.start_in_background(wait=True)
    assert runtime.daemon.answered and runtime.daemon.is_running()


def test_a_failed_background_start_is_done_again_by_the_first_invocation(make_runtime, make_bucket, s3) -> None:
    runtime = make_runtime()

    class Broken(SlowDefinitions):
        calls = 0

        def prepare(self) -> Path | None:
            Broken.calls += 1
            if Broken.calls == 1:
                raise OSError("no space left on /tmp")
            return super().prepare()

    runtime.definitions = Broken(0)  # type: ignore[assignment]
    runtime.start_in_background()
    bucket = make_bucket()
    assert runtime.handle(put_and_event(s3, bucket, "b.txt", b"x"))["statuses"][0]["status"] == "CLEAN"
    assert Broken.calls == 2
