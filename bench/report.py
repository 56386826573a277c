"""The tables of docs/BENCHMARKS.md, in Markdown, from the JSON results of one run.

python -m bench report [--results-dir bench/results]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import RESULTS, load_results
from bench.memory import growth_mib


def _size(mib: str | int) -> str:
    value = int(mib)
    return f"{value // 1024} GiB" if value >= 1024 else f"{value} MiB"


def summary(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = ["| # | figure | measured | target | met |", "|---|---|---|---|---|"]
    if latency := results.get("latency"):
        big = next(iter(latency["databases"].values()))
        ratio = big["ratio_median"]
        rows.append(
            f"| 1 | warm latency, 1 KiB, handler vs download + `clamscan` ({big['signatures']:,} signatures) | "
            f"**{ratio:g}x** ({big['handler_ms_median']:g} ms vs {big['per_invocation_ms_median']:g} ms) | "
            f">= {latency['target_ratio']:g}x | {'yes' if ratio >= latency['target_ratio'] else '**no**'} |"
        )
    if throughput := results.get("throughput"):
        ratios = {size: f["ratio_median"] for size, f in throughput["sizes_mib"].items()}
        worst = min(ratios.values())
        listed = ", ".join(f"{_size(s)} {r:.2f}" for s, r in ratios.items())
        rows.append(
            f"| 2 | throughput vs GET + `clamdscan --fdpass` limit | **{worst:.2f}** at worst ({listed}) | "
            f">= {throughput['target_ratio']:g} | {'yes' if worst >= throughput['target_ratio'] else '**no**'} |"
        )
    if memory := results.get("memory"):
        sizes = list(memory["sizes_mib"])
        peaks = ", ".join(f"{_size(s)} {memory['sizes_mib'][s]['peak_rss_mib_median']:g}" for s in sizes)
        growth = growth_mib(memory["sizes_mib"])
        rows.append(
            f"| 3 | handler peak RSS growth, {_size(sizes[0])} -> {_size(sizes[-1])} | **{growth:g} MiB** "
            f"(MiB: {peaks}) | <= {memory['target_growth_mib']} MiB | "
            f"{'yes' if growth <= memory['target_growth_mib'] else '**no**'} |"
        )
    if cold := results.get("coldstart"):
        extra = cold["extra_s_median"]
        rows.append(
            f"| 4 | cold start to first verdict, over clamd's own load | **{extra:+.2f} s** "
            f"({cold['handler_s_median']:.2f} s vs {cold['clamd_s_median']:.2f} s) | "
            f"<= +{cold['target_extra_s']:g} s | {'yes' if extra <= cold['target_extra_s'] else '**no**'} |"
        )
    if burst := results.get("burst"):
        ok = burst["lost_total"] == 0 and burst["wrong_total"] == 0
        rows.append(
            f"| 5 | burst of {burst['objects']:,} objects via `scanner local` | **{burst['objects_per_s_median']:g} "
            f"objects/s**, lost {burst['lost_total']}, wrong {burst['wrong_total']}, dead letters "
            f"{burst['dead_letters_total']} ({burst['runs']} bursts) | all final, zero lost | "
            f"{'yes' if ok else '**no**'} |"
        )
    if cost := results.get("cost"):
        parts = ", ".join(
            f"{s}: ${f['lambda_usd_per_million']:,.2f} vs ${f['guardduty_usd_per_million']:,.2f} "
            f"({f['guardduty_over_lambda']:g}x)"
            for s, f in cost["sizes"].items()
        )
        rows.append(f"| 6 | cost per million objects, Lambda vs GuardDuty | {parts} | (reported) | - |")
    return rows


def latency_table(data: dict[str, Any]) -> list[str]:
    rows = [
        "| database | signatures | handler (ms) | of which S3 calls (ms) | download + clamscan (ms) | "
        "ratio (median of per-run ratios) |",
        "|---|---|---|---|---|---|",
    ]
    for name, f in data["databases"].items():
        rows.append(
            f"| {name} | {f['signatures']:,} | {f['handler_ms_median']:g} | {f.get('handler_s3_calls_ms_median', '-')} "
            f"| {f['per_invocation_ms_median']:g} | {f['ratio_median']:g}x |"
        )
    return rows


def throughput_table(data: dict[str, Any]) -> list[str]:
    rows = [
        "| object | handler (s) | GET to nowhere + clamdscan --fdpass (s) | handler MiB/s | limit MiB/s | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for size, f in data["sizes_mib"].items():
        rows.append(
            f"| {_size(size)} | {f['handler_s_median']:g} | {f['limit_s_median']:g} | {f['handler_mib_s']:g} | "
            f"{f['limit_mib_s']:g} | {f['ratio_median']:.3f} |"
        )
    return rows


def memory_table(data: dict[str, Any]) -> list[str]:
    rows = [
        "| object | handler peak RSS (MiB) | handler RSS before the object (MiB) | clamd peak RSS (MiB) | scan (s) |",
        "|---|---|---|---|---|",
    ]
    for size, f in data["sizes_mib"].items():
        rows.append(
            f"| {_size(size)} | {f['peak_rss_mib_median']:g} | {f['before_rss_mib_median']:g} | "
            f"{f['clamd_peak_rss_mib_median']:g} | {f['seconds_median']:g} |"
        )
    return rows


def coldstart_table(data: dict[str, Any]) -> list[str]:
    return [
        "| | median (s) | runs (s) |",
        "|---|---|---|",
        f"| clamd alone, start to PONG | {data['clamd_s_median']:g} | {', '.join(map(str, data['clamd_s']))} |",
        f"| handler, process start to first verdict | {data['handler_s_median']:g} | "
        f"{', '.join(map(str, data['handler_s']))} |",
        f"| of which: Python imports before clamd is spawned | {data['handler_imports_s_median']:g} | "
        f"{', '.join(map(str, data['handler_imports_s']))} |",
        f"| difference | {data['extra_s_median']:+g} | {', '.join(f'{x:+g}' for x in data['extra_s'])} |",
    ]


def burst_table(data: dict[str, Any]) -> list[str]:
    rows = [
        "| burst | objects | infected | uploads done (s) | last verdict (s) | objects/s | statuses | lost | wrong | "
        "retries | dead letters |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, b in enumerate(data["bursts"], 1):
        statuses = ", ".join(f"{k} {v}" for k, v in b["statuses"].items())
        rows.append(
            f"| {i} | {b['objects']} | {b['infected']} | {b['upload_s']:g} | {b['seconds']:g} | {b['objects_per_s']:g} "
            f"| {statuses} | {b['lost']} | {b['wrong']} | {b['retries']} | {b['dead_letters']} |"
        )
    return rows


def cost_table(data: dict[str, Any]) -> list[str]:
    rows = [
        "| object | handler (ms, median) | Lambda $ / 1M objects | GuardDuty $ / 1M objects | GuardDuty / Lambda | "
        "break-even duration |",
        "|---|---|---|---|---|---|",
    ]
    for size, f in data["sizes"].items():
        rows.append(
            f"| {size} | {f['duration_ms_median']:g} | {f['lambda_usd_per_million']:,.2f} | "
            f"{f['guardduty_usd_per_million']:,.2f} | {f['guardduty_over_lambda']:g}x | {f['break_even_s']:g} s |"
        )
    return rows


TABLES: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "latency": latency_table,
    "throughput": throughput_table,
    "memory": memory_table,
    "coldstart": coldstart_table,
    "burst": burst_table,
    "cost": cost_table,
}


def render(results: dict[str, dict[str, Any]]) -> str:
    lines = ["## Summary", "", *summary(results)]
    for name, table in TABLES.items():
        if name in results:
            lines += ["", f"### {name}", "", *table(results[name])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--results-dir", type=Path, default=RESULTS)
    print(render(load_results(args.parse_args(argv).results_dir)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
