"""Engine limits: every silent clamd limit is raised or reported, proven against a real clamd."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import scanner.clamd as clamd_module
from scanner.clamd import ClamdDaemon, ClamdPaths, render_config
from scanner.config import ClamdSettings
from scanner.engine_limits import (
    BY_NAME,
    ENGINE_MAX_FILE_SIZE,
    LIMITS,
    RESIDUAL_SILENT,
    SIZE_LIMITS_AT_OBJECT_MAX,
    effective_values,
    limit_values,
    unscannable_reason,
)
from tests.support.clamd import SIGNATURES, start_daemon

MIB = 1024**2
GIB = 1024**3


def rendered(settings: ClamdSettings, tmp_path: Path) -> dict[str, str]:
    text = render_config(settings, ClamdPaths(tmp_path))
    return dict(line.split(" ", 1) for line in text.splitlines())


@pytest.mark.parametrize("max_bytes", [100 * 1024, 64 * MIB, GIB, 2**31 - 1])
def test_config_writes_every_limit_and_raises_the_silent_ones(tmp_path: Path, max_bytes: int) -> None:
    settings = ClamdSettings(work_dir=tmp_path, max_object_bytes=max_bytes)
    lines = rendered(settings, tmp_path)
    assert {limit.name for limit in LIMITS} <= set(lines)
    for name in SIZE_LIMITS_AT_OBJECT_MAX:
        assert int(lines[name]) == max_bytes
    assert int(lines["MaxPartitions"]) * 128 > max_bytes
    assert int(lines["MaxIconsPE"]) * 14 > max_bytes
    assert int(lines["BytecodeTimeout"]) == int(lines["MaxScanTime"])
    assert lines["AlertExceedsMax"] == "yes"
    # No layer clamd scans exceeds MaxFileSize (that alerts), so no silent size limit can be reached.
    silent_sizes = [limit.name for limit in LIMITS if not limit.alerts and limit.bounds == "size"]
    assert silent_sizes and all(int(lines[name]) >= int(lines["MaxFileSize"]) for name in silent_sizes)


def test_scan_time_ends_before_the_clients_socket_timeout(tmp_path: Path) -> None:
    # 90% of the socket timeout, even above ClamAV's 120 s default: large objects get the invocation's time.
    assert rendered(ClamdSettings(scan_timeout_s=840), tmp_path)["MaxScanTime"] == "756000"
    assert rendered(ClamdSettings(scan_timeout_s=30), tmp_path)["MaxScanTime"] == "27000"


def test_residual_silent_limits_are_the_documented_ones() -> None:
    assert set(RESIDUAL_SILENT) == {"MaxRecHWP3", "PCREMatchLimit", "PCRERecMatchLimit"}
    for name in RESIDUAL_SILENT:
        assert not BY_NAME[name].alerts
        assert limit_values(ClamdSettings())[name] == BY_NAME[name].clamd_default


@pytest.mark.parametrize("size", [0, 1, 8 * MIB + 1, 40 * MIB + 1, 100 * MIB + 1, GIB])
def test_no_reason_for_any_size_within_the_object_maximum(size: int) -> None:
    assert unscannable_reason(size, ClamdSettings(max_object_bytes=GIB)) is None


def test_reasons_past_the_limits() -> None:
    settings = ClamdSettings(max_object_bytes=GIB)
    assert unscannable_reason(GIB + 1, settings) == "limits:StreamMaxLength"
    # ClamAV clamps MaxFileSize to INT_MAX - 2: the two largest sizes clamd accepts cannot be scanned.
    top = ClamdSettings(max_object_bytes=2**31 - 1)
    assert effective_values(top)["MaxFileSize"] == ENGINE_MAX_FILE_SIZE
    assert unscannable_reason(ENGINE_MAX_FILE_SIZE, top) is None
    assert unscannable_reason(ENGINE_MAX_FILE_SIZE + 1, top) == "limits:MaxFileSize"


# -- Against a real clamd. --

_LIMIT_LINES = {
    "MaxScanTime": r"Global time limit set to (\d+)",
    "MaxScanSize": r"Global size limit set to (\d+)",
    "MaxFileSize": r"File size limit set to (\d+)",
    "MaxRecursion": r"Recursion level limit set to (\d+)",
    "MaxFiles": r"Files limit set to (\d+)",
    **{
        name: rf"{name} limit set to (\d+)"
        for name in (
            "MaxEmbeddedPE",
            "MaxHTMLNormalize",
            "MaxHTMLNoTags",
            "MaxScriptNormalize",
            "MaxZipTypeRcg",
            "MaxPartitions",
            "MaxIconsPE",
            "MaxRecHWP3",
            "PCREMatchLimit",
            "PCRERecMatchLimit",
            "PCREMaxFileSize",
        )
    },
}


def engine_limits_from_log(daemon: ClamdDaemon) -> dict[str, int]:
    log = daemon.paths.log_file.read_text()
    values = {}
    for name, pattern in _LIMIT_LINES.items():
        match = re.search(r"Limits: " + pattern, log)
        assert match, f"clamd did not log {name}"
        values[name] = int(match.group(1))
    return values


@pytest.mark.parametrize("max_bytes", [GIB, 2**31 - 1])
def test_clamd_applies_every_rendered_limit_and_clamps_only_max_file_size(tmp_path: Path, max_bytes: int) -> None:
    daemon = start_daemon(tmp_path / "clamd", max_object_bytes=max_bytes)
    try:
        logged = engine_limits_from_log(daemon)
    finally:
        daemon.stop()
    expected = effective_values(daemon.settings)
    assert logged == {name: expected[name] for name in _LIMIT_LINES}
    assert logged["MaxFileSize"] == min(max_bytes, 2**31 - 3)


# Signatures that only match after ClamAV's normalisation: target 7 is normalised text (lower case, runs of
# whitespace as one space), target 3 normalised HTML (comments dropped, entities decoded; "notags" drops tags).
TEST_SIGNATURES = {
    "Test.Script.Normalized": (7, "this is a clamtest script marker"),
    "Test.Html.Normalized": (3, "clamtest html entity marker"),
    "Test.Html.NoTags": (3, "clamtest no tags marker"),
}
SCRIPT_MARKER = b"ThiS   iS\tA\nClamTest   ScRipt MARKER"
HTML_ENTITY_MARKER = b"<p>CLAMTEST &#72;TML   ENTITY <!-- comment -->Marker</p>"
HTML_NOTAGS_MARKER = b"<p>clamtest<b>no</b>tags<i>marker</i></p>"

_FILLER = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\n" * 10_000


def text_of(size: int, marker: bytes) -> bytes:
    return (marker + b"\n" + _FILLER * (size // len(_FILLER) + 1))[:size]


def html_of(size: int, marker: bytes) -> bytes:
    return b"<html><body>" + marker + b"<p>" + text_of(size, b"x") + b"</p></body></html>"


@pytest.fixture(scope="module")
def normalisation_signatures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("signatures")
    for path in SIGNATURES.iterdir():
        shutil.copy(path, folder)
    lines = [f"{name}:{target}:*:{text.encode().hex()}" for name, (target, text) in TEST_SIGNATURES.items()]
    (folder / "normalised.ndb").write_text("\n".join(lines) + "\n")
    return folder


def _defaults_config(*args: object, **kwargs: object) -> str:
    """The config before this change: the raised limits left at clamd's defaults."""
    raised = {limit.name for limit in LIMITS} - {"StreamMaxLength", "MaxFileSize", "MaxScanSize"}
    text = render_config(*args, **kwargs)  # type: ignore[arg-type]
    return "".join(f"{line}\n" for line in text.splitlines() if line.split(" ", 1)[0] not in raised)


@pytest.fixture(scope="module")
def daemons(
    tmp_path_factory: pytest.TempPathFactory, normalisation_signatures: Path
) -> Iterator[dict[str, ClamdDaemon]]:
    """Two clamds on the same signatures: clamd's default limits ("old") and the rendered ones ("new")."""
    started: dict[str, ClamdDaemon] = {}
    patch = pytest.MonkeyPatch()
    try:
        patch.setattr(clamd_module, "render_config", _defaults_config)
        started["old"] = start_daemon(
            tmp_path_factory.mktemp("old"), max_object_bytes=128 * MIB, database_dir=normalisation_signatures
        )
        patch.undo()
        started["new"] = start_daemon(
            tmp_path_factory.mktemp("new"), max_object_bytes=128 * MIB, database_dir=normalisation_signatures
        )
        yield started
    finally:
        patch.undo()
        for daemon in started.values():
            daemon.stop()


def scan(daemon: ClamdDaemon, data: bytes) -> str:
    reply, sent = daemon.client.instream(io.BytesIO(data))
    assert sent == len(data)
    return reply


def test_old_config_really_has_clamd_defaults(daemons: dict[str, ClamdDaemon]) -> None:
    logged = engine_limits_from_log(daemons["old"])
    assert logged["MaxScriptNormalize"] == 20 * MIB
    assert logged["MaxHTMLNormalize"] == 40 * MIB
    assert logged["MaxHTMLNoTags"] == 8 * MIB
    assert engine_limits_from_log(daemons["new"])["MaxHTMLNormalize"] == 128 * MIB


@pytest.mark.parametrize(
    ("limit", "sample", "signature"),
    [
        ("MaxScriptNormalize", lambda: text_of(21 * MIB, SCRIPT_MARKER), "Test.Script.Normalized"),
        ("MaxHTMLNoTags", lambda: html_of(9 * MIB, HTML_NOTAGS_MARKER), "Test.Html.NoTags"),
        ("MaxHTMLNormalize", lambda: html_of(41 * MIB, HTML_ENTITY_MARKER), "Test.Html.Normalized"),
    ],
)
def test_content_past_a_default_limit_was_ok_and_is_now_found(
    daemons: dict[str, ClamdDaemon], limit: str, sample, signature: str
) -> None:
    data = sample()
    assert len(data) > BY_NAME[limit].clamd_default
    assert scan(daemons["old"], data) == "stream: OK"  # silently skipped: no Heuristics.Limits.Exceeded
    assert scan(daemons["new"], data) == f"stream: {signature}.UNOFFICIAL FOUND"


@pytest.mark.parametrize(
    ("sample", "signature"),
    [
        (lambda: text_of(MIB, SCRIPT_MARKER), "Test.Script.Normalized"),
        (lambda: html_of(MIB, HTML_NOTAGS_MARKER), "Test.Html.NoTags"),
        (lambda: html_of(MIB, HTML_ENTITY_MARKER), "Test.Html.Normalized"),
    ],
)
def test_the_same_content_below_the_default_limits_was_always_found(
    daemons: dict[str, ClamdDaemon], sample, signature: str
) -> None:
    """The signatures are right: both configs find them in small files, so the difference above is the limit."""
    data = sample()
    for daemon in daemons.values():
        assert scan(daemon, data) == f"stream: {signature}.UNOFFICIAL FOUND"
