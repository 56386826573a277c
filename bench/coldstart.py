"""Cold start through the real init path: process start to first verdict vs clamd's own load, same database.

    python -m bench coldstart [--runs 5] [--quick]

Side by side in every run:

* handler: a new Python process with the Lambda environment (AWS_LAMBDA_RUNTIME_API set, so importing
  scanner.handler is Lambda's init phase: it starts the cold start in a background thread, spawning clamd, and
  returns) imports the handler, calls `lambda_handler` on one S3 event for a fresh 1 KiB object (the first
  invocation waits for clamd, then scans), and prints the verdict; timed from spawning the process to the line.
  The init phase is timed too: process spawn to the end of the import (interpreter start, imports, thread start);
* clamd alone: clamd started with the same rendered configuration and database, timed until it answers PING
  (polled every 5 ms).

The figure is the median of the per-run differences (target: at most 1 s); the init phase must stay well under
Lambda's 10 s. The definitions download (a separate term) is `python -m bench coldterms`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    bench_runtime,
    clamd_settings,
    load_average,
    median,
    moto_server,
    parser,
    runs,
    write_result,
)
from bench.signatures import ensure_database, signature_count
from scanner import constants as c
from scanner.clamd import ClamdDaemon

TARGET_EXTRA_S = 1.0
INIT_LIMIT_S = 10.0
"""Lambda's init phase limit (what does not finish is retried inside the first invocation)."""

CHILD = """
import time
begun = time.time()
import json, os, sys
import scanner.handler as handler
imported = time.time()
result = handler.lambda_handler(json.loads(os.environ["BENCH_EVENT"]), None)
print("VERDICT", result["statuses"][0]["status"], begun, imported, time.time(), flush=True)
handler.get_runtime().daemon.stop()
"""


def handler_cold_start(endpoint: str, database: Path, quarantine: str, event: dict[str, Any]) -> dict[str, float]:
    """Seconds from spawning a fresh handler process to its first verdict, to the end of its init phase (the handler
    module imported), and of the import itself."""
    work = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        c.ENV_CLAMD_DATABASE_DIR: str(database),
        c.ENV_CLAMD_WORK_DIR: str(work),
        c.ENV_CLAMD_DISABLE_CACHE: "true",
        c.ENV_QUARANTINE_BUCKET: quarantine,
        "BENCH_EVENT": json.dumps(event),
    }
    started = time.time()
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        for line in process.stdout or ():
            if line.startswith("VERDICT "):
                verdict_at = time.time()
                _, status, begun, imported, _ = line.split()
                if status != "CLEAN":
                    raise RuntimeError(f"first verdict was {status}")
                process.wait(60)
                return {
                    "total_s": verdict_at - started,
                    "imports_s": float(imported) - started,
                    "import_s": float(imported) - float(begun),
                }
        raise RuntimeError(f"no verdict: {process.stderr.read() if process.stderr else ''}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


def clamd_alone(database: Path) -> float:
    """Seconds from spawning clamd (same configuration) until it answers PING."""
    work = Path(tempfile.mkdtemp(prefix="bench-clamd-alone-"))
    daemon = ClamdDaemon(clamd_settings(database, work), c.DEFAULT_STREAM_CHUNK_BYTES)
    try:
        started = time.time()
        daemon.start()
        while not daemon.client.ping(timeout_s=5):
            if not daemon.is_running():
                raise RuntimeError("clamd exited during start")
            time.sleep(0.005)
        return time.time() - started
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)


def measure(count: int, database: Path) -> dict[str, Any]:
    handler_s: list[float] = []
    imports_s: list[float] = []
    import_s: list[float] = []
    clamd_s: list[float] = []
    with moto_server() as endpoint, bench_runtime(endpoint, database, name="cold") as setup:
        setup.runtime.daemon.stop()  # only the buckets are needed here
        for run in range(-1, count):  # one warm-up round (page cache), not recorded
            event = setup.put(f"cold/{run + 1}.bin", os.urandom(1024))
            steps = [
                ("handler", lambda e=event: handler_cold_start(endpoint, database, setup.quarantine, e)),
                ("clamd", lambda: clamd_alone(database)),
            ]
            if run % 2:
                steps.reverse()
            figures = {name: step() for name, step in steps}
            if run >= 0:
                handler_s.append(figures["handler"]["total_s"])
                imports_s.append(figures["handler"]["imports_s"])
                import_s.append(figures["handler"]["import_s"])
                clamd_s.append(figures["clamd"])
                print(
                    f"run {run}: handler {handler_s[-1]:.3f} s (init phase {imports_s[-1]:.3f} s), "
                    f"clamd alone {clamd_s[-1]:.3f} s",
                    flush=True,
                )
    extra = [h - cl for h, cl in zip(handler_s, clamd_s, strict=True)]
    return {
        "signatures": signature_count(database),
        "handler_s": [round(s, 3) for s in handler_s],
        "handler_imports_s": [round(s, 3) for s in imports_s],
        "clamd_s": [round(s, 3) for s in clamd_s],
        "handler_s_median": round(median(handler_s), 3),
        "handler_imports_s_median": round(median(imports_s), 3),
        "init_phase_s": [round(s, 3) for s in imports_s],
        "init_phase_s_median": round(median(imports_s), 3),
        "init_phase_s_max": round(max(imports_s), 3),
        "handler_module_import_s_median": round(median(import_s), 3),
        "clamd_s_median": round(median(clamd_s), 3),
        "extra_s": [round(s, 3) for s in extra],
        "extra_s_median": round(median(extra), 3),
    }


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    count = runs(args, default=5)
    database = ensure_database(args.quick, args.profile)
    started_load = load_average()
    results = measure(count, database)
    print(
        f"first verdict {results['handler_s_median']:.3f} s, clamd alone {results['clamd_s_median']:.3f} s: "
        f"{results['extra_s_median']:+.3f} s (target <= +{TARGET_EXTRA_S} s); init phase "
        f"{results['init_phase_s_median']:.3f} s (max {results['init_phase_s_max']:.3f} s, "
        f"Lambda allows {INIT_LIMIT_S:g} s)"
    )
    write_result(
        args,
        "coldstart",
        {
            "runs": count,
            "database": str(database),
            "target_extra_s": TARGET_EXTRA_S,
            "init_limit_s": INIT_LIMIT_S,
            "load_average_at_start": started_load,
            **results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
