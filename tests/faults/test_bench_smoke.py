"""Every benchmark script in its tiny mode (`--quick`: a 1,100-signature database, small objects, one run), so
the heavy benchmarks documented in docs/BENCHMARKS.md keep working without being run in CI."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# benchmark -> a field its result must carry
BENCHMARKS = {
    "latency": "databases",
    "throughput": "sizes_mib",
    "memory": "growth_mib",
    "coldstart": "extra_s_median",
    "cost": "sizes",
    "burst": "objects_per_s_median",
    "falsepositives": "false_positives",
    "dbload": "databases",
    "scanrate": "rates",
    "switch": "methods",
    "coldterms": "first_verdict_s_median",
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-results")


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_benchmark_quick_run(results: Path, name: str) -> None:
    done = run_bench(name, "--quick", "--results-dir", str(results))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    document = json.loads((results / f"{name}.json").read_text())
    assert document["quick"] is True and BENCHMARKS[name] in document
    assert document["machine"]["clamav"].startswith("ClamAV ")


def test_quick_official_database_has_every_file_type_and_still_detects(results: Path) -> None:
    from bench.signatures import ensure_database

    directory = ensure_database(quick=True, layout="files")
    present = {path.suffix.lstrip(".") for path in directory.iterdir()}
    wanted = {"hdb", "hsb", "mdb", "msb", "ndb", "ldb", "cdb", "ftm", "pdb", "wdb", "fp", "sfp", "ign2", "crb"}
    assert wanted <= present, wanted - present
    document = json.loads((results / "falsepositives.json").read_text())
    assert document["false_positives"] == 0, document["corpora"]
    assert document["controls_detected"], document["controls"]


def test_quick_switch_methods_lose_no_scan_and_reach_the_new_set(results: Path) -> None:
    document = json.loads((results / "switch.json").read_text())
    methods = {m["method"]: m for m in document["methods"]}
    assert set(methods) == {"restart", "reload", "reload-blocking", "reload-blocking-idle2", "blue-green"}
    for figures in methods.values():
        assert figures["failed_scans"] == 0 and figures["reached_b"], figures
        assert figures["a_verdicts_after_first_b"] == 0, figures


def test_report_of_the_quick_results(results: Path) -> None:
    done = run_bench("report", "--results-dir", str(results))
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.startswith("## Summary\n")


def test_plot_of_the_quick_results(results: Path) -> None:
    if importlib.util.find_spec("matplotlib") is None:
        message = "matplotlib is not installed: pip install -r bench/requirements.txt"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    missing = [name for name in BENCHMARKS if not (results / f"{name}.json").exists()]
    assert not missing, f"no quick results for {missing}: the quick runs above failed"
    output = results / "benchmarks.png"
    done = run_bench("plot", "--results-dir", str(results), "--output", str(output))
    assert done.returncode == 0, done.stderr[-4000:]
    assert output.read_bytes().startswith(b"\x89PNG")
