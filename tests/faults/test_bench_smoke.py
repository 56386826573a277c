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
    "concurrency": "speedup_median",
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
    "hashing": "hash_share_of_scan",
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
    assert set(methods) == {"restart", "reload", "reload-blocking", "reload-blocking-idle2", "blue-green", "runtime"}
    for figures in methods.values():
        assert figures["failed_scans"] == 0 and figures["reached_b"], figures
        assert figures["a_verdicts_after_first_b"] == 0, figures
    runtime = methods["runtime"]
    # Through the scanner's own runtime every verdict's scan-engine label names the set whose canary fired.
    assert runtime["engine_labels_checked"] == runtime["scans"] > 0 and runtime["version_mismatches"] == 0, runtime


def test_quick_latency_counts_the_s3_requests_per_clean_object(results: Path) -> None:
    document = json.loads((results / "latency.json").read_text())
    for figures in document["databases"].values():
        sequences = figures["sequences"]
        assert sequences["handler-versioned"]["requests"] == {"GetObject": 1, "PutObjectTagging": 1}
        assert sequences["handler-unversioned"]["requests"] == {"GetObject": 1, "HeadObject": 1, "PutObjectTagging": 1}
        assert sequences["old-versioned"]["requests"] == {
            "GetObject": 1,
            "GetObjectTagging": 1,
            "HeadObject": 1,
            "PutObjectTagging": 1,
        }
        assert sequences["old-unversioned"]["requests_total"] == 5


def test_quick_cost_prices_every_line_from_measured_requests(results: Path) -> None:
    document = json.loads((results / "cost.json").read_text())
    row = document["sizes"]["100 KiB"]["mix"]
    assert row["workload"]["s3_requests"] == {"GetObject": 1.0, "PutObjectTagging": 1.0}
    assert row["workload"]["tags_per_object"] >= 2
    assert row["total"] == pytest.approx(sum(row["lines"].values()), abs=0.001)
    assert document["cold_start"]["billed_s"] > 0
    assert all(price["source"].startswith("https://") for price in document["prices"].values())


def test_report_of_the_quick_results(results: Path) -> None:
    done = run_bench("report", "--results-dir", str(results))
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.startswith("## Summary\n")


def test_report_rewrites_only_the_marked_blocks_of_a_page(results: Path, tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Prose kept\n\n<!-- bench:summary -->\nold summary\n<!-- /bench:summary -->\n\nmiddle prose\n\n"
        "<!-- bench:latency -->\nold table\n<!-- /bench:latency -->\n"
        "<!-- bench:machine -->\n<!-- /bench:machine -->\nend\n"
    )
    done = run_bench("report", "--results-dir", str(results), "--update", str(page))
    assert done.returncode == 0, done.stderr[-4000:]
    text = page.read_text()
    assert "old summary" not in text and "old table" not in text
    assert text.startswith("# Prose kept\n\n<!-- bench:summary -->\n| # |") and "\n\nmiddle prose\n\n" in text
    assert "| database | signatures | handler, versioned (ms)" in text
    assert "<!-- /bench:latency -->\n<!-- bench:machine -->\nMachine: " in text  # an empty block is filled too
    assert text.endswith("<!-- /bench:machine -->\nend\n")
    again = run_bench("report", "--results-dir", str(results), "--update", str(page))
    assert again.returncode == 0 and page.read_text() == text, "a second update changes nothing"
    page.write_text("<!-- bench:nosuch -->\nx\n<!-- /bench:nosuch -->\n")
    refused = run_bench("report", "--results-dir", str(results), "--update", str(page))
    assert refused.returncode != 0 and "nosuch" in refused.stderr
    assert page.read_text() == "<!-- bench:nosuch -->\nx\n<!-- /bench:nosuch -->\n"


def test_the_benchmarks_page_marks_only_blocks_the_report_makes() -> None:
    import re

    from bench.report import TABLES

    marked = re.findall(r"<!-- bench:([a-z]+) -->", (REPO / "docs" / "BENCHMARKS.md").read_text())
    assert marked and set(marked) <= {"machine", "summary", "timeouts", *TABLES}
    assert len(marked) == len(set(marked))


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


def test_cost_model_bills_each_line_from_its_inputs() -> None:
    from bench.pricing import Workload, per_million

    work = Workload(
        object_bytes=1024**2,
        batch_s=2.0,
        batch_size=10,
        memory_mb=2048,
        s3_requests={"GetObject": 1, "PutObjectTagging": 1},
        tags_per_object=3,
        cold_start_s=20.0,
        objects_per_cold_start=10_000,
    )
    cost = per_million(work)
    lines = cost["lines"]
    assert lines["lambda_duration"] == pytest.approx(100_000 * 2.0 * 2 * 0.0000166667, abs=1e-3)
    assert lines["lambda_requests"] == pytest.approx(0.02)
    assert lines["cold_starts"] == pytest.approx(100 * 20.0 * 2 * 0.0000166667, abs=1e-4)
    assert lines["sqs"] == pytest.approx(1.2)
    assert lines["s3_requests"] == pytest.approx(0.4 + 5.0)
    assert cost["tags_per_month"] == pytest.approx(3.0)
    assert cost["guardduty"] == pytest.approx(1_000_000 * (0.09 / 1024 + 0.000215), abs=0.01)
    assert cost["guardduty_over_total"] == pytest.approx(cost["guardduty"] / cost["total"], abs=0.1)
