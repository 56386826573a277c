"""The tables of docs/BENCHMARKS.md, in Markdown, from the JSON results of one run.

python -m bench report [--results-dir bench/results]                 # every table to stdout
python -m bench report --update docs/BENCHMARKS.md                   # rewrite the page's marked tables in place

A page marks each generated block as `<!-- bench:NAME -->` ... `<!-- /bench:NAME -->`, NAME one of `machine`,
`summary`, `timeouts` or a benchmark's name; the text around the blocks is left as it is.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import RESULTS, load_results
from bench.memory import growth_mib
from scanner import constants as c

TIMEOUTS_S = (60, 120, 300, 600, 900)
MiB = 1024**2


def _size(mib: str | int) -> str:
    value = int(mib)
    return f"{value // 1024} GiB" if value >= 1024 else f"{value} MiB"


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _production(latency: dict[str, Any]) -> dict[str, Any]:
    """The production-shaped database's latency figures (the first database measured)."""
    return next(iter(latency["databases"].values()))


def cold_start_budget_s(results: dict[str, dict[str, Any]]) -> float:
    """What a first invocation loses before it can scan: time to first verdict, plus the definitions download."""
    cold = results.get("coldstart", {}).get("handler_s_median", 0.0)
    download = results.get("coldterms", {}).get("at_rate", {}).get("100", {}).get("download_s", 0.0)
    return float(cold) + float(download)


def max_object_mib(rate_mib_s: float, timeout_s: float, cold_s: float) -> float:
    """Largest object (MiB) that can be scanned at `rate_mib_s` within one invocation, cold start included."""
    return max(0.0, rate_mib_s * (timeout_s - c.DEADLINE_HEADROOM_SECONDS - cold_s))


def summary(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = ["| # | figure | measured | target | met |", "|---|---|---|---|---|"]
    rows += _latency_rows(results)
    if conc := results.get("concurrency"):
        speedup = conc["speedup_median"]
        one, many = conc["settings"]["1"], conc["settings"][str(max(int(k) for k in conc["settings"]))]
        rows.append(
            f"| 3 | concurrent batch scanning on {conc['vcpus']} vCPUs vs one at a time | **{speedup:g}x** "
            f"({many['objects_per_s']:g} vs {one['objects_per_s']:g} objects/s; {many['gb_seconds_per_object']:g} vs "
            f"{one['gb_seconds_per_object']:g} GB-s per object) | >= {conc['target_speedup']:g}x | "
            f"{_yes(speedup >= conc['target_speedup'])} |"
        )
    if cold := results.get("coldstart"):
        extra = cold["extra_s_median"]
        init = cold.get("init_phase_s_max", cold["handler_imports_s_median"])
        rows.append(
            f"| 4 | time to first verdict at cold start, over clamd's own load | **{extra:+.2f} s** "
            f"({cold['handler_s_median']:.2f} s vs {cold['clamd_s_median']:.2f} s); init phase {init:.2f} s at most | "
            f"<= +{cold['target_extra_s']:g} s; init < {cold.get('init_limit_s', 10):g} s | "
            f"{_yes(extra <= cold['target_extra_s'] and init < cold.get('init_limit_s', 10))} |"
        )
    if switch := results.get("switch"):
        methods = {m["method"]: m for m in switch["methods"]}
        chosen = methods.get("runtime") or methods.get("blue-green")
        if chosen:
            failed = sum(m["failed_scans"] for m in methods.values() if m["method"] in ("runtime", "blue-green"))
            rows.append(
                f"| 5 | definitions switch, blue-green (implemented), while scanning | **{failed} failed scans**, "
                f"longest gap {chosen['max_gap_s']:g} s, peak RSS {chosen['peak_rss_mib']:,} MiB (before "
                f"{chosen['rss_before_mib']:,}) | zero failed; stall and peak measured | {_yes(failed == 0)} |"
            )
    if cost := results.get("cost"):
        mib = cost["sizes"].get("1 MiB", next(iter(cost["sizes"].values())))["mix"]
        wanted = 1 / cost["target_fraction"]
        rows.append(
            f"| 6 | cost per million 1 MiB objects (representative mix), all in, vs GuardDuty | "
            f"**${mib['total']:,.2f}** vs ${mib['guardduty']:,.2f} = 1/{mib['guardduty_over_total']:g} "
            f"(compute and queue only: 1/{mib['guardduty_over_scanner_compute']:g}) | <= 1/{wanted:g} | "
            f"{_yes(mib['guardduty_over_total'] >= wanted)} |"
        )
    if burst := results.get("burst"):
        ok = burst["lost_total"] == 0 and burst["wrong_total"] == 0
        rows.append(
            f"| 7 | burst of {burst['objects']:,} uploads through `scanner local` (queue path) | lost "
            f"**{burst['lost_total']}**, wrong **{burst['wrong_total']}**, dead letters {burst['dead_letters_total']}; "
            f"{burst['objects_per_s_median']:g} objects/s ({burst['runs']} bursts) | 0 lost, 0 wrong | {_yes(ok)} |"
        )
    rows += _earlier_rows(results)
    return rows


def _latency_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    latency = results.get("latency")
    if not latency:
        return []
    big = _production(latency)
    ratio = big["ratio_median"]
    rows = [
        f"| 1 | warm 1 KiB end to end, handler vs download + `clamscan` ({big['signatures']:,} signatures) | "
        f"**{ratio:g}x** ({big['handler_ms_median']:g} ms vs {big['per_invocation_ms_median']:,.0f} ms) | "
        f">= {latency['target_ratio']:g}x | {_yes(ratio >= latency['target_ratio'])} |"
    ]
    if "sequences" in big:
        seq = big["sequences"]
        targets = latency["target_requests"]
        ok = all(seq[f"handler-{k}"]["requests_total"] == n for k, n in targets.items())
        rows.append(
            f"| 2 | S3 requests per clean object | **{seq['handler-versioned']['requests_total']}** versioned "
            f"({_ops(seq['handler-versioned']['requests'])}), **{seq['handler-unversioned']['requests_total']}** "
            f"unversioned; before: {seq['old-versioned']['requests_total']} / "
            f"{seq['old-unversioned']['requests_total']}; warm 1 KiB {seq['handler-versioned']['ms_median']:g} ms vs "
            f"{seq['old-versioned']['ms_median']:g} ms before | {targets['versioned']}, +1 HEAD unversioned | "
            f"{_yes(ok)} |"
        )
    return rows


def _earlier_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = []
    if throughput := results.get("throughput"):
        ratios = {size: f["ratio_median"] for size, f in throughput["sizes_mib"].items()}
        worst = min(ratios.values())
        listed = ", ".join(f"{_size(s)} {r:.2f}" for s, r in ratios.items())
        rows.append(
            f"| - | throughput vs GET + `clamdscan --fdpass` ({throughput.get('kind', 'random')}) | **{worst:.2f}** "
            f"at worst ({listed}) | >= {throughput['target_ratio']:g} | {_yes(worst >= throughput['target_ratio'])} |"
        )
    if memory := results.get("memory"):
        sizes = list(memory["sizes_mib"])
        growth = growth_mib(memory["sizes_mib"])
        rows.append(
            f"| - | handler peak RSS growth, {_size(sizes[0])} -> {_size(sizes[-1])} | **{growth:g} MiB** | "
            f"<= {memory['target_growth_mib']} MiB | {_yes(growth <= memory['target_growth_mib'])} |"
        )
    if fp := results.get("falsepositives"):
        detected = ", ".join(k for k, v in fp["controls"].items() if v["detected"])
        rows.append(
            f"| - | false positives on ordinary data ({fp['bytes_scanned'] / MiB:,.0f} MiB) | "
            f"**{fp['false_positives']}**, controls detected: {detected} | 0 | {_yes(fp['false_positives'] == 0)} |"
        )
    return rows


def _ops(requests: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" if n > 1 else op for op, n in requests.items())


def latency_table(data: dict[str, Any]) -> list[str]:
    rows = [
        "| database | signatures | handler, versioned (ms) | of which S3 calls (ms) | old sequence (ms) | "
        "handler, unversioned (ms) | old, unversioned (ms) | download + clamscan (ms) | ratio to clamscan |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, f in data["databases"].items():
        seq = f["sequences"]
        rows.append(
            f"| {name} | {f['signatures']:,} | {f['handler_ms_median']:g} | {f['handler_s3_calls_ms_median']:g} | "
            f"{seq['old-versioned']['ms_median']:g} | {seq['handler-unversioned']['ms_median']:g} | "
            f"{seq['old-unversioned']['ms_median']:g} | {f['per_invocation_ms_median']:,.1f} | {f['ratio_median']:g}x |"
        )
    big = _production(data)
    rows += ["", "| sequence | S3 requests per clean object (counted, every run) |", "|---|---|"]
    for name, s in big["sequences"].items():
        patterns = "; ".join(f"{p} in {n} runs" for p, n in s["request_patterns"].items())
        rows.append(f"| {name} | {s['requests_total']}: {_ops(s['requests'])} ({patterns}) |")
    return rows


def concurrency_table(data: dict[str, Any]) -> list[str]:
    rows = [
        "| SCAN_CONCURRENCY | batch of 10 (s, median) | objects/s | GB-s per object at "
        f"{data['memory_mb']} MB | clamd CPU per batch (s) | runs (s) |",
        "|---|---|---|---|---|---|",
    ]
    for setting, f in data["settings"].items():
        rows.append(
            f"| {setting} | {f['batch_s_median']:g} | {f['objects_per_s']:g} | {f['gb_seconds_per_object']:g} | "
            f"{f['clamd_cpu_s_median']:g} | {', '.join(map(str, f['batch_s']))} |"
        )
    rows += [
        "",
        f"Per-run speedups: {', '.join(f'{s:g}x' for s in data['speedups'])}; median **{data['speedup_median']:g}x**.",
    ]
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
    rows = [
        "| | median (s) | runs (s) |",
        "|---|---|---|",
        f"| clamd alone, start to PONG | {data['clamd_s_median']:g} | {', '.join(map(str, data['clamd_s']))} |",
        f"| handler, process start to first verdict | {data['handler_s_median']:g} | "
        f"{', '.join(map(str, data['handler_s']))} |",
        f"| of which: init phase (process start to handler module imported, clamd spawned) | "
        f"{data['handler_imports_s_median']:g} | {', '.join(map(str, data['handler_imports_s']))} |",
    ]
    if "handler_module_import_s_median" in data:
        rows.append(f"| of which: `import scanner.handler` itself | {data['handler_module_import_s_median']:g} | |")
    rows.append(f"| difference | {data['extra_s_median']:+g} | {', '.join(f'{x:+g}' for x in data['extra_s'])} |")
    return rows


def coldterms_table(data: dict[str, Any]) -> list[str]:
    rows = [
        "| term | median (s) | runs (s) |",
        "|---|---|---|",
        f"| download of the set from moto S3 ({data['database_bytes'] / 1e6:.1f} MB, 8 parallel GETs, "
        f"{data['moto_mb_per_s']:g} MB/s) | {data['download_s_median']:g} | "
        f"{', '.join(map(str, data['runs']['download_s']))} |",
        f"| clamd spawn to PING | {data['load_s_median']:g} | {', '.join(map(str, data['runs']['load_s']))} |",
        f"| clamd spawn to first verdict (1 KiB) | {data['first_verdict_s_median']:g} | "
        f"{', '.join(map(str, data['runs']['first_verdict_s']))} |",
    ]
    for rate, f in data["at_rate"].items():
        rows.append(
            f"| download at {rate} MB/s; then total to first verdict | {f['download_s']:g}; {f['total_s']:g} | |"
        )
    return rows


def cost_table(data: dict[str, Any]) -> list[str]:
    rows = [
        "| object | content | batch of 10 (s) | GB-s per object | Lambda duration | Lambda requests | cold starts | "
        "SQS | S3 requests | **total** | GuardDuty | GuardDuty / total | tags, per month kept |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, row in data["sizes"].items():
        for content, f in row.items():
            lines = f["lines"]
            rows.append(
                f"| {size} | {content} | {f['batch_s_median']:g} | {f['gb_seconds_per_object']:g} | "
                f"{lines['lambda_duration']:,.2f} | {lines['lambda_requests']:,.2f} | {lines['cold_starts']:,.2f} | "
                f"{lines['sqs']:,.2f} | {lines['s3_requests']:,.2f} | **{f['total']:,.2f}** | {f['guardduty']:,.2f} | "
                f"{f['guardduty_over_total']:g}x | {f['tags_per_month']:,.2f} |"
            )
    cold = data["cold_start"]
    rows += [
        "",
        f"USD per million objects. Memory {data['memory_mb']} MB; one invocation per SQS batch of 10; one cold start "
        f"per {data['objects_per_cold_start']:,} objects per environment, billed {cold['billed_s']:g} s "
        f"({cold['source']}: {cold['first_verdict_s']:g} s, + definitions download {cold['download_s']:g} s); "
        f"SQS {data['sqs_requests_per_message']} requests per message.",
        "",
        "| price | USD | unit | source |",
        "|---|---|---|---|",
    ]
    for name, p in data["prices"].items():
        rows.append(f"| {name} | {p['usd']:.10g} | {p['unit']} | {p['source']} |")
    rows += ["", *(f"- {note}" for note in data.get("notes", []))]
    return rows


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


def switch_table(data: dict[str, Any]) -> list[str]:
    rows = [
        "| method | failed scans | longest time without a verdict (s) | switch -> first verdict by B (s) | "
        "peak RSS, all clamd (MiB) | RSS before (MiB) | verdicts A / B | A after first B | label != engine |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in data["methods"]:
        engines = m["engines"]
        rows.append(
            f"| {m['method']} | {m['failed_scans']} | {m['max_gap_s']:g} | {m['switch_to_first_b_s']} | "
            f"{m['peak_rss_mib']:,} | {m['rss_before_mib']:,} | {engines.get('A', 0)} / {engines.get('B', 0)} | "
            f"{m['a_verdicts_after_first_b']} | {m['version_mismatches']} |"
        )
    runtime = next((m for m in data["methods"] if m["method"] == "runtime"), None)
    if runtime and "definitions_disk_peak_mb" in runtime:
        rows += ["", f"Runtime switch: definitions on disk peaked at {runtime['definitions_disk_peak_mb']:g} MB."]
    return rows


def scanrate_table(data: dict[str, Any]) -> list[str]:
    sizes = list(next(iter(data["rates"].values())))
    head = " | ".join(f"{s} MiB official / legacy (MiB/s)" for s in sizes)
    rows = [f"| content | {head} | official / legacy at {sizes[-1]} MiB |", "|---|" + "---|" * (len(sizes) + 1)]
    for kind, by_size in data["rates"].items():
        cells = " | ".join(
            f"{by_size[s]['official']['mib_per_s']:g} / {by_size[s]['legacy']['mib_per_s']:g}" for s in sizes
        )
        last = by_size[sizes[-1]]
        rows.append(f"| {kind} | {cells} | {last['official']['mib_per_s'] / last['legacy']['mib_per_s']:.2f} |")
    if data.get("limits_reached"):
        rows += ["", f"Limits reached (the time is the limit, not a rate): {data['limits_reached']}"]
    return rows


def timeouts_table(results: dict[str, dict[str, Any]]) -> list[str]:
    """maxObjectBytes that fits timeoutSeconds: at the scanner's floor and at each content's measured rate."""
    rates = results["scanrate"]["rates"]
    largest = max(next(iter(rates.values())), key=int)
    cold = cold_start_budget_s(results)
    floor = c.DEFAULT_SCAN_RATE_FLOOR_BYTES_PER_SECOND / MiB
    kinds = list(rates)
    rows = [
        f"`maxObjectBytes <= SCAN_RATE_FLOOR x (timeoutSeconds - {c.DEADLINE_HEADROOM_SECONDS:g} s headroom - "
        f"{cold:.1f} s cold start)`; the floor is {floor:g} MiB/s; the measured rates are the official-shaped "
        f"database's at {largest} MiB on this machine (MiB):",
        "",
        f"| timeoutSeconds | at the floor, {floor:g} MiB/s | " + " | ".join(kinds) + " |",
        "|---|---|" + "---|" * len(kinds),
    ]
    for timeout in TIMEOUTS_S:
        cells = " | ".join(
            f"{max_object_mib(rates[k][largest]['official']['mib_per_s'], timeout, cold):,.0f}" for k in kinds
        )
        rows.append(f"| {timeout} | **{max_object_mib(floor, timeout, cold):,.0f}** | {cells} |")
    return rows


def dbload_table(data: dict[str, Any]) -> list[str]:
    rows = [
        "| database | signatures | on disk (MB) | clamd spawn -> PING (s) | RSS peak / steady (MiB) | "
        "warm INSTREAM 1 KiB (ms) | clamscan 1 KiB per invocation (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, f in data["databases"].items():
        clamscan = f.get("clamscan_1k_s_median")
        rows.append(
            f"| {name} | {f['signatures']:,} | {f['database_mb']:g} | {f['load_s_median']:g} "
            f"({', '.join(map(str, f['runs']['load_s']))}) | {f['peak_rss_mib_median']:,.0f} / "
            f"{f['steady_rss_mib_median']:,.0f} | {f['warm_instream_1k_ms_median']:g} | "
            f"{clamscan if clamscan is not None else '-'} |"
        )
    return rows


def hashing_table(data: dict[str, Any]) -> list[str]:
    return [
        "| SHA-256 (MB/s) | clamd INSTREAM (MB/s) | INSTREAM through the hashing reader (MB/s) | "
        "hash share of a scan |",
        "|---|---|---|---|",
        f"| {data['sha256_mb_per_s']:g} | {data['clamd_instream_mb_per_s']:g} | "
        f"{data['clamd_instream_hashed_mb_per_s']:g} | {data['hash_share_of_scan'] * 100:.1f} % |",
    ]


TABLES: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "latency": latency_table,
    "concurrency": concurrency_table,
    "coldstart": coldstart_table,
    "coldterms": coldterms_table,
    "switch": switch_table,
    "scanrate": scanrate_table,
    "cost": cost_table,
    "burst": burst_table,
    "throughput": throughput_table,
    "memory": memory_table,
    "dbload": dbload_table,
    "hashing": hashing_table,
}


def machine_line(results: dict[str, dict[str, Any]]) -> str:
    first = next(iter(results.values()))
    m = first["machine"]
    loads = {name: r.get("load_average_at_end") for name, r in results.items() if r.get("load_average_at_end")}
    spread = [v[0] for v in loads.values()]
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, Python {m['python']}, "
        f"{m['clamav']}; 1-minute load average at the end of each benchmark {min(spread):g}-{max(spread):g}."
        if spread
        else f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['clamav']}."
    )


def render(results: dict[str, dict[str, Any]]) -> str:
    lines = ["## Summary", "", machine_line(results), "", *summary(results)]
    for name, table in TABLES.items():
        if name in results:
            lines += ["", f"### {name}", "", *table(results[name])]
            if name == "scanrate" and "coldstart" in results:
                lines += ["", "### timeouts", "", *timeouts_table(results)]
    return "\n".join(lines) + "\n"


def blocks(results: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Every block a page can mark, by name, for the benchmarks in ``results``."""
    named = {"machine": [machine_line(results)], "summary": summary(results)}
    named |= {name: table(results[name]) for name, table in TABLES.items() if name in results}
    if "scanrate" in results and "coldstart" in results:
        named["timeouts"] = timeouts_table(results)
    return named


_BLOCK = re.compile(r"(<!-- bench:(?P<name>[a-z]+) -->\n)(?:.*?\n)?(<!-- /bench:(?P=name) -->)", re.DOTALL)


def update(page: str, results: dict[str, dict[str, Any]]) -> str:
    """``page`` with each marked block replaced by its table; a block with no results is an error."""
    named = blocks(results)

    def fill(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in named:
            raise SystemExit(f"the page marks {name!r}, for which there are no results")
        return match[1] + "\n".join(named[name]) + "\n" + match[3]

    return _BLOCK.sub(fill, page)


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--results-dir", type=Path, default=RESULTS)
    args.add_argument("--update", type=Path, help="a page whose marked blocks to rewrite in place")
    options = args.parse_args(argv)
    results = load_results(options.results_dir)
    if options.update:
        options.update.write_text(update(options.update.read_text(), results))
        print(f"updated {options.update}")
    else:
        print(render(results), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
