"""clamd's engine limits: the values rendered into clamd.conf, and which could let content go unseen.

ClamAV 1.4 skips some content silently when a limit is hit: no Heuristics.Limits.Exceeded alert even with
AlertExceedsMax (libclamav/scanners.c cli_scanhtml/cli_scanscript/scanraw/cli_magic_scan, matcher.c, pe_icons.c,
mbr.c/gpt.c/apm.c, hwp.c; only cli_checklimits, the recursion stack and the scan-time check alert). Each silent
limit is raised so that no layer the engine accepts at all (every layer is at most MaxFileSize, which alerts) can
reach it; docs/ENGINE_LIMITS.md has the table with its sources. Values are engine-checked as `value < size`
(scanners.c: `curr_len > maxhtmlnormalize` ...), so a limit equal to the largest layer never triggers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from scanner.config import ClamdSettings

REASON_PREFIX: Final = "limits:"
ENGINE_MAX_FILE_SIZE: Final = 2**31 - 1 - 2
"""cl_engine_set_num clamps MaxFileSize to INT_MAX - 2 (libclamav/others.c)."""
CLAMD_DEFAULT_MAX_SCAN_TIME_MS: Final = 120_000
MIN_PARTITION_ENTRY_BYTES: Final = 128
"""GPT entries are 128 bytes, MBR/EBR and APM entries a 512-byte sector: no image holds more than size/128."""
MIN_ICON_ENTRY_BYTES: Final = 14
"""Each icon counted by pe_icons.c is a 14-byte group directory entry: no PE holds more than size/14."""


@dataclass(frozen=True)
class EngineLimit:
    """One clamd.conf limit: its ClamAV default, whether exceeding it alerts, and what it bounds."""

    name: str
    clamd_default: int
    alerts: bool
    """True when AlertExceedsMax turns exceeding it into Heuristics.Limits.Exceeded.* (never a silent OK)."""
    bounds: str
    """"size" (bytes of one layer), "count", "time" (ms) or "budget" (work per signature)."""


LIMITS: Final = (
    EngineLimit("StreamMaxLength", 100 * 1024**2, True, "size"),  # clamd replies "size limit exceeded" ERROR
    EngineLimit("MaxFileSize", 100 * 1024**2, True, "size"),
    EngineLimit("MaxScanSize", 400 * 1024**2, True, "size"),
    EngineLimit("MaxRecursion", 17, True, "count"),
    EngineLimit("MaxFiles", 10_000, True, "count"),
    EngineLimit("MaxScanTime", CLAMD_DEFAULT_MAX_SCAN_TIME_MS, True, "time"),
    EngineLimit("MaxEmbeddedPE", 40 * 1024**2, False, "size"),
    EngineLimit("MaxHTMLNormalize", 40 * 1024**2, False, "size"),
    EngineLimit("MaxHTMLNoTags", 8 * 1024**2, False, "size"),
    EngineLimit("MaxScriptNormalize", 20 * 1024**2, False, "size"),
    EngineLimit("MaxZipTypeRcg", 1024**2, False, "size"),
    EngineLimit("PCREMaxFileSize", 100 * 1024**2, False, "size"),
    EngineLimit("MaxPartitions", 50, False, "count"),
    EngineLimit("MaxIconsPE", 100, False, "count"),
    EngineLimit("MaxRecHWP3", 16, False, "count"),
    EngineLimit("PCREMatchLimit", 100_000, False, "budget"),
    EngineLimit("PCRERecMatchLimit", 2_000, False, "budget"),
    EngineLimit("BytecodeTimeout", 10_000, False, "time"),
)
BY_NAME: Final = {limit.name: limit for limit in LIMITS}

SIZE_LIMITS_AT_OBJECT_MAX: Final = (
    "StreamMaxLength",
    "MaxFileSize",
    "MaxScanSize",
    "MaxEmbeddedPE",
    "MaxHTMLNormalize",
    "MaxHTMLNoTags",
    "MaxScriptNormalize",
    "MaxZipTypeRcg",
    "PCREMaxFileSize",
)
"""Rendered as the object maximum: with MaxFileSize there, no layer the engine scans is larger."""

RESIDUAL_SILENT: Final = ("MaxRecHWP3", "PCREMatchLimit", "PCRERecMatchLimit")
"""Silent limits no size can decide (recursion depth, regex work): kept at ClamAV's defaults, see the docs."""


def scan_time_ms(settings: ClamdSettings) -> int:
    """clamd's MaxScanTime: 90% of the client's socket timeout (which the stack derives from the function's
    timeout), so that a large object may use the time the invocation has, and a scan that still runs too long ends
    as the Heuristics.Limits.Exceeded.MaxScanTime alert (UNSCANNABLE) rather than a broken connection. (ClamAV's
    own default, 120 s, would cut off objects of a few hundred MiB at the official database's scan rates.)"""
    return max(1_000, int(settings.scan_timeout_s * 900))


def limit_values(settings: ClamdSettings) -> dict[str, int]:
    """The value of every engine limit in clamd.conf (render_config writes exactly these)."""
    size = settings.max_object_bytes
    values = dict.fromkeys(SIZE_LIMITS_AT_OBJECT_MAX, size)
    scan_ms = scan_time_ms(settings)
    values.update(
        MaxRecursion=BY_NAME["MaxRecursion"].clamd_default,
        MaxFiles=BY_NAME["MaxFiles"].clamd_default,
        MaxScanTime=scan_ms,
        # A bytecode that times out is skipped silently unless the scan's own time limit has passed too
        # (bytecode.c cli_bytecode_runlsig): as long as the scan may run, it becomes the MaxScanTime alert.
        BytecodeTimeout=scan_ms,
        MaxPartitions=size // MIN_PARTITION_ENTRY_BYTES + 1,
        MaxIconsPE=size // MIN_ICON_ENTRY_BYTES + 1,
        **{name: BY_NAME[name].clamd_default for name in RESIDUAL_SILENT},
    )
    return values


def effective_values(settings: ClamdSettings) -> dict[str, int]:
    """What libclamav uses: the rendered values after its own clamps (only MaxFileSize is clamped)."""
    values = limit_values(settings)
    values["MaxFileSize"] = min(values["MaxFileSize"], ENGINE_MAX_FILE_SIZE)
    return values


def unscannable_reason(size: int, settings: ClamdSettings) -> str | None:
    """`limits:<Limit>` when a layer of `size` bytes could exceed a limit clamd would hit, else None.

    Call it with the object's size (or the decoded limit for an encoded object) before streaming. The size
    limits are raised to the object maximum, so within it only ClamAV's clamp of MaxFileSize to INT_MAX - 2
    can apply; the count limits that grow with size are checked against what `size` bytes can hold. Because
    every silent size limit is at least MaxFileSize, a size-only check is exact here even for limits that only
    apply to one file type (HTML, scripts, ZIP): no type check is needed, and no false positive arises.
    """
    values = effective_values(settings)
    for name in SIZE_LIMITS_AT_OBJECT_MAX:
        if size > values[name]:
            return REASON_PREFIX + name
    if size // MIN_PARTITION_ENTRY_BYTES >= values["MaxPartitions"]:
        return REASON_PREFIX + "MaxPartitions"
    if size // MIN_ICON_ENTRY_BYTES >= values["MaxIconsPE"]:
        return REASON_PREFIX + "MaxIconsPE"
    return None
