"""Definitions switch methods on the official-shaped database while a client keeps scanning in a loop.

    python -m bench switch [--methods restart,reload,reload-blocking,reload-blocking-idle2,blue-green] [--quick]

Set A is the official-shaped database; set B is the next release (daily version + 1, canary signature renamed).
A client thread loops: VERSION, then INSTREAM of a 1 KiB object starting with the canary, so every verdict names
the engine that produced it (`Bench.Canary.A-...` or `.B-...`) and says whether the VERSION asked just before
named the same database. Methods:

* restart: between two scans (the scanner's current switch), stop clamd and start one on B's directory;
* reload: one directory; B's daily container replaces A's (atomic rename), then RELOAD, ConcurrentDatabaseReload
  yes (clamd's default: a second engine is built beside the first);
* reload-blocking: the same with ConcurrentDatabaseReload no, IdleTimeout 30 (clamd's default);
  reload-blocking-idle2: the same with IdleTimeout 2;
* blue-green: a second clamd on B's directory and its own socket while the first keeps scanning; once it
  answers PING the client switches to it (between two scans) and the first is stopped;
* runtime: the scanner's own blue-green switch, through ScannerRuntime (bench/runtime_switch.py): B published to
  a definitions bucket, invocations going on, refresh_definitions stages B on a second clamd, settle_switch
  switches once it answers.

Per method: scans, failed scans (an accepted scan that got an error or a broken connection), the longest time
between two verdicts, the time from the switch to the first verdict by B, the peak RSS of every clamd involved
(summed, sampled every 50 ms), and which engine produced each verdict.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.clamd_proc import Clamd, MemorySampler
from bench.common import CACHE, BackgroundLoop, MiB, parser, wait_until, write_result
from bench.runtime_switch import run_runtime
from bench.scanning import scan
from bench.signatures import CANARY, canary_name, daily_version, ensure_database
from scanner.clamd import ClamdClient
from scanner.exceptions import ClamdError, ClamdUnavailableError

METHODS = ("restart", "reload", "reload-blocking", "reload-blocking-idle2", "blue-green", "runtime")
PROBE = CANARY + bytes(1024 - len(CANARY))


@dataclass
class Sample:
    at: float
    engine: str | None
    version_engine: str | None
    failed: str | None = None


@dataclass
class ScanLoop(BackgroundLoop):
    """Scans in a thread until stopped; switches happen under `lock`, between two scans."""

    client: ClamdClient
    lock: threading.Lock = field(default_factory=threading.Lock)
    samples: list[Sample] = field(default_factory=list)
    refused: int = 0

    def _run(self) -> None:
        while not self.stopping():
            with self.lock:
                client = self.client
                try:
                    version_engine = _engine_of_version(client.version())
                    verdict = scan(client, PROBE)
                except ClamdUnavailableError:
                    # Nothing was accepted: the scan waits for a clamd (as the scanner's wait_ready does).
                    self.refused += 1
                    time.sleep(0.01)
                    continue
                except ClamdError as err:
                    self.samples.append(Sample(time.monotonic(), None, None, str(err)))
                    continue
            found = verdict.found
            engine = found.split(".")[2].split("-")[0] if found and found.startswith("Bench.Canary.") else None
            self.samples.append(Sample(time.monotonic(), engine, version_engine, None if engine else verdict.reply))

    def wait_for_engine(self, engine: str, timeout_s: float) -> bool:
        return wait_until(lambda: any(s.engine == engine for s in self.samples[-50:]), timeout_s)


def _engine_of_version(reply: str) -> str | None:
    """`ClamAV 1.4.6/28130/...` -> the variant whose daily version it names."""
    parts = reply.split("/")
    if len(parts) < 2:
        return None
    for variant in ("a", "b"):
        if parts[1] == str(daily_version(variant)):
            return variant.upper()
    return None


def live_directory(source: Path, name: str) -> Path:
    """A directory clamd loads and RELOADs, holding links to `source`'s files."""
    directory = CACHE / f"live-{name}-{os.getpid()}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for path in source.iterdir():
        if path.name != "spec.json":
            os.link(path, directory / path.name)
    return directory


def install(source: Path, directory: Path) -> None:
    """Put `source`'s containers into `directory`, each by one atomic rename (clamd ignores `.partial`)."""
    for path in source.glob("*.cud"):
        partial = directory / f".{path.name}.partial"
        shutil.copyfile(path, partial)
        os.replace(partial, directory / path.name)


def run_method(method: str, set_a: Path, set_b: Path, settle_s: float, timeout_s: float) -> dict[str, Any]:
    overrides: dict[str, str] = {}
    if method.startswith("reload-blocking"):
        overrides = {"ConcurrentDatabaseReload": "no", "IdleTimeout": "2" if method.endswith("idle2") else "30"}
    elif method == "reload":
        overrides = {"ConcurrentDatabaseReload": "yes"}
    live = live_directory(set_a, method) if method.startswith("reload") else set_a
    first = Clamd(live, overrides, name=f"switch-{method}")
    clamds = [first]
    first.start()
    first.wait_ready()
    sampler = MemorySampler([first.pid]).start()
    loop = ScanLoop(first.client).start()
    try:
        time.sleep(settle_s)
        rss_before = first.memory()[0]
        switched_at = time.monotonic()
        switch: Callable[[], None] = {
            "restart": lambda: _restart(loop, clamds, sampler, set_b),
            "blue-green": lambda: _blue_green(loop, clamds, sampler, set_b),
        }.get(method, lambda: _reload(loop, first, live, set_b))
        switch()
        reached = loop.wait_for_engine("B", timeout_s)
        time.sleep(settle_s)
    finally:
        loop.stop()
        sampler.stop()
        for clamd in clamds:
            clamd.stop()
        if live != set_a:
            shutil.rmtree(live, ignore_errors=True)
    return summarize(method, loop, sampler, switched_at, rss_before, reached, overrides)


def _restart(loop: ScanLoop, clamds: list[Clamd], sampler: MemorySampler, set_b: Path) -> None:
    with loop.lock:
        clamds[0].stop()
        second = Clamd(set_b, name="switch-restart-b")
        clamds.append(second)
        second.start()
        sampler.pids[:] = [second.pid]
        second.wait_ready()
        loop.client = second.client


def _blue_green(loop: ScanLoop, clamds: list[Clamd], sampler: MemorySampler, set_b: Path) -> None:
    second = Clamd(set_b, name="switch-green")
    clamds.append(second)
    second.start()
    sampler.pids.append(second.pid)
    second.wait_ready()
    with loop.lock:
        loop.client = second.client
    clamds[0].stop()


def _reload(loop: ScanLoop, clamd: Clamd, live: Path, set_b: Path) -> None:
    install(set_b, live)
    reply = ClamdClient(clamd.paths.socket, 30, 1024).command("RELOAD")
    if reply != "RELOADING":
        raise RuntimeError(f"RELOAD answered {reply!r}")


def summarize(
    method: str,
    loop: ScanLoop,
    sampler: MemorySampler,
    switched_at: float,
    rss_before: int,
    reached: bool,
    overrides: dict[str, str],
) -> dict[str, Any]:
    samples = loop.samples
    times = [s.at for s in samples if s.failed is None]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    first_b = next((s.at for s in samples if s.engine == "B"), None)
    last_a = max((s.at for s in samples if s.engine == "A"), default=None)
    engines: dict[str, int] = {}
    for s in samples:
        key = s.engine or "failed"
        engines[key] = engines.get(key, 0) + 1
    a_after_b = sum(1 for s in samples if s.engine == "A" and first_b is not None and s.at > first_b)
    mismatched = sum(1 for s in samples if s.engine and s.version_engine and s.engine != s.version_engine)
    timeline = [(round(t - (switched_at - sampler._started), 1), round(v / MiB)) for t, v in sampler.timeline[::10]]
    return {
        "method": method,
        "config": overrides,
        "scans": len(samples),
        "failed_scans": sum(1 for s in samples if s.failed),
        "failures": sorted({s.failed for s in samples if s.failed})[:5],
        "refused_connects": loop.refused,
        "max_gap_s": round(max(gaps, default=0.0), 3),
        "switch_to_first_b_s": round(first_b - switched_at, 3) if first_b else None,
        "last_a_after_switch_s": round(last_a - switched_at, 3) if last_a else None,
        "reached_b": reached,
        "engines": engines,
        "a_verdicts_after_first_b": a_after_b,
        "version_mismatches": mismatched,
        "rss_before_mib": round(rss_before / MiB),
        "peak_rss_mib": round(sampler.peak / MiB),
        "rss_timeline_mib": timeline,
    }


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0])
    args.add_argument("--methods", default=",".join(METHODS), help="comma-separated, from " + ", ".join(METHODS))
    options = args.parse_args(argv)
    set_a = ensure_database(options.quick, "official", variant="a")
    set_b = ensure_database(options.quick, "official", variant="b")
    settle = 0.5 if options.quick else 3.0
    results = []
    timeout = 30 if options.quick else 180
    daily = {variant.upper(): str(daily_version(variant)) for variant in ("a", "b")}
    for method in options.methods.split(","):
        if method == "runtime":
            figures = run_runtime(set_a, set_b, daily, settle, timeout)
        else:
            figures = run_method(method, set_a, set_b, settle, timeout_s=timeout)
        results.append(figures)
        print(
            f"{method:22} scans {figures['scans']}, failed {figures['failed_scans']}, "
            f"max gap {figures['max_gap_s']} s, "
            f"first B after {figures['switch_to_first_b_s']} s, peak RSS {figures['peak_rss_mib']} MiB "
            f"(before {figures['rss_before_mib']}), engines {figures['engines']}, "
            f"A after B {figures['a_verdicts_after_first_b']}, VERSION mismatches {figures['version_mismatches']}",
            flush=True,
        )
    write_result(
        options,
        "switch",
        {
            "set_a": str(set_a),
            "set_b": str(set_b),
            "canaries": [canary_name("a"), canary_name("b")],
            "methods": results,
        },
    )
    return 0 if all(r["failed_scans"] == 0 and r["reached_b"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
