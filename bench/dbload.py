"""clamd's load time and resident memory, clamscan per invocation and a warm INSTREAM of 1 KiB, by database.

    python -m bench dbload [--runs 3] [--quick]

Side by side, alternating the order in every run, for the official-shaped database (in containers, and unpacked
as plain files) and the legacy 1.1 M set:

* load: clamd spawned with the scanner's rendered config, timed until it answers PING; its RSS sampled every
  50 ms while loading (peak), then after 3 s idle (steady), and its VmHWM;
* clamscan: `clamscan --no-summary -d <db>` of a 1 KiB file per invocation (it loads the database every time);
* warm INSTREAM: the median of 50 scans of a fresh 1 KiB by the loaded clamd.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.clamd_proc import Clamd, MemorySampler
from bench.common import MiB, median, parser, require, runs, write_result
from bench.scanning import scan
from bench.signatures import database_bytes, ensure_database, signature_count

WARM_SCANS = 50


def load_once(database: Path, idle_s: float) -> dict[str, float]:
    clamd = Clamd(database, name="load")
    clamd.start()
    sampler = MemorySampler([clamd.pid]).start()
    try:
        ready = clamd.wait_ready()
        time.sleep(idle_s)
        sampler.stop()
        steady, hwm = clamd.memory()
        warm = [scan(clamd.client, os.urandom(1024)).seconds for _ in range(WARM_SCANS)]
        return {
            "load_s": ready,
            "peak_rss_mib": max(sampler.peak, hwm) / MiB,
            "steady_rss_mib": steady / MiB,
            "warm_instream_1k_ms": median(warm) * 1000,
        }
    finally:
        sampler.stop()
        clamd.stop()


def clamscan_once(database: Path) -> float:
    with tempfile.NamedTemporaryFile(suffix=".bin") as sample:
        sample.write(os.urandom(1024))
        sample.flush()
        started = time.perf_counter()
        done = subprocess.run(
            [require("clamscan"), "--no-summary", "-d", str(database), sample.name], capture_output=True, text=True
        )
        elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"clamscan failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    return elapsed


def measure(databases: dict[str, Path], count: int, idle_s: float, clamscan_labels: set[str]) -> dict[str, Any]:
    samples: dict[str, dict[str, list[float]]] = {label: {} for label in databases}
    for run in range(count):
        order = list(databases) if run % 2 == 0 else list(reversed(databases))
        for label in order:
            figures = load_once(databases[label], idle_s)
            if label in clamscan_labels:
                figures["clamscan_1k_s"] = clamscan_once(databases[label])
            for key, value in figures.items():
                samples[label].setdefault(key, []).append(round(value, 3))
            print(f"run {run} {label}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()), flush=True)
    out: dict[str, Any] = {}
    for label, values in samples.items():
        out[label] = {
            "signatures": signature_count(databases[label]),
            "database_mb": round(database_bytes(databases[label]) / 1e6, 1),
            "runs": values,
            **{f"{key}_median": round(median(v), 3) for key, v in values.items()},
        }
    return out


def main(argv: list[str] | None = None) -> int:
    options = parser(__doc__.splitlines()[0]).parse_args(argv)
    count = runs(options, default=3)
    databases = {
        "official": ensure_database(options.quick, "official"),
        "official-files": ensure_database(options.quick, "official", layout="files"),
        "legacy": ensure_database(options.quick, "legacy"),
    }
    results = measure(databases, count, idle_s=0.5 if options.quick else 3.0, clamscan_labels={"official", "legacy"})
    for label, figures in results.items():
        print(
            f"{label:15} {figures['signatures']:>10,} sigs: load {figures['load_s_median']} s, "
            f"RSS peak {figures['peak_rss_mib_median']:.0f} MiB steady {figures['steady_rss_mib_median']:.0f} MiB, "
            f"warm 1 KiB {figures['warm_instream_1k_ms_median']} ms"
            + (f", clamscan 1 KiB {figures['clamscan_1k_s_median']} s" if "clamscan_1k_s_median" in figures else "")
        )
    write_result(options, "dbload", {"runs": count, "databases": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
