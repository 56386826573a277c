"""One PNG with a panel per benchmark, from the JSON results of one run.

    python -m bench plot [--results-dir bench/results] [--output docs/benchmarks.png]

Panels whose results are missing are left out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from bench.common import REPO, RESULTS, load_results
from bench.memory import growth_mib

HANDLER = "#1f77b4"
BASELINE = "#d62728"
LIMIT = "#7f7f7f"


def latency(ax: Axes, data: dict[str, Any]) -> None:
    labels, handler, old, baseline, ratios = [], [], [], [], []
    for name, figures in data["databases"].items():
        labels.append(f"{name}\n({figures['signatures']:,} signatures)")
        handler.append(figures["handler_ms_median"])
        old.append(figures["sequences"]["old-versioned"]["ms_median"])
        baseline.append(figures["per_invocation_ms_median"])
        ratios.append(figures["ratio_median"])
    x = range(len(labels))
    ax.bar([i - 0.27 for i in x], handler, 0.27, label="handler: GET + PutObjectTagging", color=HANDLER)
    ax.bar(list(x), old, 0.27, label="before: HEAD, GetObjectTagging, GET, PutObjectTagging", color=LIMIT)
    ax.bar([i + 0.27 for i in x], baseline, 0.27, label="download to /tmp + clamscan", color=BASELINE)
    for i, ratio in enumerate(ratios):
        ax.annotate(f"{ratio:g}x", (i, max(handler[i], baseline[i])), ha="center", va="bottom", fontweight="bold")
    ax.set_yscale("log")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("ms per 1 KiB object (median)")
    ax.set_title(f"1-2. Warm 1 KiB latency (target >= {data['target_ratio']:g}x), before and after")
    ax.legend(fontsize=7, loc="upper left")
    ax.margins(y=0.3)


def concurrency(ax: Axes, data: dict[str, Any]) -> None:
    settings = list(data["settings"])
    rates = [data["settings"][s]["objects_per_s"] for s in settings]
    gbs = [data["settings"][s]["gb_seconds_per_object"] for s in settings]
    ax.bar(range(len(settings)), rates, color=[LIMIT, HANDLER][: len(settings)] + [HANDLER] * (len(settings) - 2))
    for i, (rate, gb) in enumerate(zip(rates, gbs, strict=True)):
        ax.annotate(f"{rate:g}/s\n{gb:g} GB-s/object", (i, rate), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(settings)), [f"SCAN_CONCURRENCY={s}" for s in settings], fontsize=8)
    ax.set_ylabel("objects per second (median batch)")
    ax.set_ylim(0, max(rates) * 1.35)
    ax.set_title(
        f"3. Batches of 10 on {data['vcpus']} vCPUs: {data['speedup_median']:g}x "
        f"(target >= {data['target_speedup']:g}x)"
    )


def throughput(ax: Axes, data: dict[str, Any]) -> None:
    sizes = sorted(data["sizes_mib"], key=int)
    x = [int(s) for s in sizes]
    ax.plot(x, [data["sizes_mib"][s]["handler_mib_s"] for s in sizes], "o-", color=HANDLER, label="handler")
    ax.plot(x, [data["sizes_mib"][s]["limit_mib_s"] for s in sizes], "s--", color=LIMIT, label="limit: GET + clamdscan")
    for size in sizes:
        figures = data["sizes_mib"][size]
        ax.annotate(
            f"{figures['ratio_median']:.2f}",
            (int(size), figures["handler_mib_s"]),
            textcoords="offset points",
            xytext=(0, -14),
            ha="center",
            fontsize=8,
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [f"{s} MiB" if s < 1024 else f"{s // 1024} GiB" for s in x], fontsize=8)
    ax.set_ylim(bottom=0, top=max(data["sizes_mib"][s]["limit_mib_s"] for s in sizes) * 1.3)
    ax.set_ylabel("MiB/s (median)")
    ax.set_title(f"Throughput ({data.get('kind', 'random')}), ratio to the limit (target >= {data['target_ratio']:g})")
    ax.legend(fontsize=8, loc="lower right")


def memory(ax: Axes, data: dict[str, Any]) -> None:
    sizes = sorted(data["sizes_mib"], key=int)
    x = [int(s) for s in sizes]
    peaks = [data["sizes_mib"][s]["peak_rss_mib_median"] for s in sizes]
    clamd = [data["sizes_mib"][s]["clamd_peak_rss_mib_median"] for s in sizes]
    ax.plot(x, peaks, "o-", color=HANDLER, label="handler process (measured)")
    ax.plot(x, clamd, "^:", color=LIMIT, label="clamd process (context)")
    for size, peak in zip(x, peaks, strict=True):
        ax.annotate(f"{peak:.0f}", (size, peak), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [f"{s} MiB" if s < 1024 else f"{s // 1024} GiB" for s in x], fontsize=8)
    ax.set_ylim(bottom=0, top=max(clamd + peaks) * 1.2)
    ax.set_ylabel("peak RSS, MiB (median)")
    ax.set_title(f"Memory: +{growth_mib(data['sizes_mib']):g} MiB across sizes (target <= {data['target_growth_mib']})")
    ax.legend(fontsize=8, loc="upper left")


def coldstart(ax: Axes, data: dict[str, Any]) -> None:
    names = [
        "init phase: process start to handler imported",
        "clamd alone: start to PONG",
        "handler: process start to first verdict",
    ]
    values = [data["handler_imports_s_median"], data["clamd_s_median"], data["handler_s_median"]]
    ax.barh(names, values, color=[LIMIT, LIMIT, HANDLER])
    for i, value in enumerate(values):
        ax.annotate(f"{value:.2f} s", (value, i), textcoords="offset points", xytext=(4, 0), va="center", fontsize=9)
    ax.axvline(data.get("init_limit_s", 10), color=BASELINE, linestyle=":", linewidth=1)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlim(0, max(*values, data.get("init_limit_s", 10)) * 1.25)
    ax.set_xlabel(f"seconds (median), {data['signatures']:,} signatures; dotted: Lambda's 10 s init limit")
    ax.set_title(f"4. Cold start: {data['extra_s_median']:+.2f} s over clamd (target <= +{data['target_extra_s']:g} s)")


def switch(ax: Axes, data: dict[str, Any]) -> None:
    methods = [m["method"] for m in data["methods"]]
    gaps = [max(m["max_gap_s"], 0.01) for m in data["methods"]]
    peaks = [m["peak_rss_mib"] for m in data["methods"]]
    x = range(len(methods))
    colors = [HANDLER if m in ("blue-green", "runtime") else LIMIT for m in methods]
    ax.bar(list(x), gaps, color=colors)
    for i, m in enumerate(data["methods"]):
        ax.annotate(
            f"{m['max_gap_s']:g} s\n{m['peak_rss_mib']:,} MiB\n{m['failed_scans']} failed",
            (i, gaps[i]),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    ax.set_yscale("log")
    ax.set_xticks(list(x), methods, fontsize=7, rotation=15)
    ax.set_ylabel("longest time without a verdict (s)")
    ax.set_ylim(top=max(gaps) * 20)
    ax.set_title(f"5. Definitions switch under scanning (peak RSS {min(peaks):,}-{max(peaks):,} MiB)")


def scanrate(ax: Axes, data: dict[str, Any]) -> None:
    kinds = list(data["rates"])
    size = max(next(iter(data["rates"].values())), key=int)
    official = [data["rates"][k][size]["official"]["mib_per_s"] for k in kinds]
    legacy = [data["rates"][k][size]["legacy"]["mib_per_s"] for k in kinds]
    x = range(len(kinds))
    ax.bar([i - 0.2 for i in x], official, 0.4, color=HANDLER, label="production-shaped database")
    ax.bar([i + 0.2 for i in x], legacy, 0.4, color=LIMIT, label="legacy 1.1 M set")
    for i, rate in enumerate(official):
        ax.annotate(f"{rate:g}", (i - 0.2, rate), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), kinds, fontsize=8)
    ax.set_ylabel(f"MiB/s scanned, {size} MiB objects (median)")
    ax.set_title("Scan rate by content (sets maxObjectBytes per timeoutSeconds)")
    ax.legend(fontsize=8, loc="upper left")


def burst(ax: Axes, data: dict[str, Any]) -> None:
    rates = [b["objects_per_s"] for b in data["bursts"]]
    ax.bar(range(1, len(rates) + 1), rates, color=HANDLER)
    ax.set_xticks(range(1, len(rates) + 1))
    ax.axhline(data["objects_per_s_median"], color="black", linestyle="--", linewidth=1)
    ax.set_xlabel(f"burst of {data['objects']:,} objects (run)")
    ax.set_ylabel("objects per second")
    ax.set_title(
        f"7. Burst via scanner local (queue path): {data['objects_per_s_median']:g} objects/s, "
        f"lost {data['lost_total']}, wrong {data['wrong_total']}"
    )


def cost(ax: Axes, data: dict[str, Any]) -> None:
    labels = list(data["sizes"])
    ours = [data["sizes"][s]["mix"]["total"] for s in labels]
    worst = [data["sizes"][s]["random"]["total"] for s in labels]
    gd = [data["sizes"][s]["mix"]["guardduty"] for s in labels]
    x = range(len(labels))
    ax.bar([i - 0.27 for i in x], ours, 0.27, color=HANDLER, label="scanner, representative mix (all in)")
    ax.bar(list(x), worst, 0.27, color=LIMIT, label="scanner, incompressible content (all in)")
    ax.bar([i + 0.27 for i in x], gd, 0.27, color=BASELINE, label="GuardDuty Malware Protection for S3")
    for i, size in enumerate(labels):
        ax.annotate(f"${ours[i]:,.2f}", (i - 0.27, ours[i]), ha="center", va="bottom", fontsize=7)
        ax.annotate(f"${gd[i]:,.0f}", (i + 0.27, gd[i]), ha="center", va="bottom", fontsize=7)
        ax.annotate(
            f"1/{data['sizes'][size]['mix']['guardduty_over_total']:g}",
            (i, gd[i]),
            textcoords="offset points",
            xytext=(0, 14),
            ha="center",
            fontweight="bold",
        )
    ax.set_yscale("log")
    ax.set_xticks(list(x), [f"{s} objects" for s in labels], fontsize=8)
    ax.set_ylabel("USD per million objects")
    ax.set_title(f"6. Cost per million objects, queue mode, {data['memory_mb']} MB (target 1 MiB <= 1/50)")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_ylim(bottom=min(ours) / 3, top=max(gd) * 30)


PANELS = {
    "latency": latency,
    "concurrency": concurrency,
    "coldstart": coldstart,
    "switch": switch,
    "cost": cost,
    "burst": burst,
    "scanrate": scanrate,
    "throughput": throughput,
    "memory": memory,
}


def plot(results: dict[str, dict[str, Any]], output: Path) -> Path:
    present = [name for name in PANELS if name in results]
    if not present:
        raise SystemExit("no results to plot")
    columns = 2 if len(present) > 1 else 1
    rows = (len(present) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(7.5 * columns, 4.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, present, strict=False):
        PANELS[name](ax, results[name])
        ax.grid(True, which="major", alpha=0.3)
    for ax in list(axes.flat)[len(present) :]:
        ax.set_visible(False)
    first = results[present[0]]
    machine = first["machine"]
    fig.suptitle(
        f"s3-clamav-scanner benchmarks - {first['measured_at'][:10]}, {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory_gib']} GiB, {machine['clamav']}, moto S3 on loopback",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    print(f"wrote {output}")
    return output


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--results-dir", type=Path, default=RESULTS)
    args.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.png")
    parsed = args.parse_args(argv)
    plot(load_results(parsed.results_dir), parsed.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
