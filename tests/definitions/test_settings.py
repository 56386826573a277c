"""Definitions settings from the environment: the updater's, and the scanner's definitions directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.config import Settings, UpdaterSettings
from scanner.exceptions import SettingsError


def test_updater_settings_from_the_environment() -> None:
    settings = UpdaterSettings.from_environment(
        {
            "DEFINITIONS_BUCKET": "defs",
            "DEFINITIONS_MIRROR_URL": "https://mirror.example.com/clamav",
            "DEFINITIONS_DATABASES": "daily, main",
            "DEFINITIONS_EXTRA_URLS": "https://sigs.example.com/a.ndb,https://sigs.example.com/b.hdb",
        }
    )
    assert settings.mirror_url == "https://mirror.example.com/clamav"
    assert settings.databases == ("daily", "main")
    assert settings.extra_urls == ("https://sigs.example.com/a.ndb", "https://sigs.example.com/b.hdb")
    assert settings.work_dir == Path("/tmp/definitions")
    default = UpdaterSettings.from_environment({"DEFINITIONS_BUCKET": "defs"})
    assert default.mirror_url == "https://database.clamav.net"
    assert default.databases == ("main", "daily", "bytecode")


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({}, ["DEFINITIONS_BUCKET", "required"]),
        ({"DEFINITIONS_MIRROR_URL": "database.clamav.net"}, ["DEFINITIONS_MIRROR_URL", "http(s)"]),
        ({"DEFINITIONS_DATABASES": "daily,safebrowsing"}, ["DEFINITIONS_DATABASES", "main, daily, bytecode"]),
        ({"DEFINITIONS_DATABASES": "daily,daily"}, ["DEFINITIONS_DATABASES", "distinct"]),
        ({"DEFINITIONS_EXTRA_URLS": "sigs.example.com/a.ndb"}, ["DEFINITIONS_EXTRA_URLS", "a.ndb"]),
        ({"DEFINITIONS_DATABASES": "none"}, ["DEFINITIONS_DATABASES=none", "DEFINITIONS_EXTRA_URLS", "nothing"]),
        ({"DEFINITIONS_DIR": "tmp/defs"}, ["DEFINITIONS_DIR", "absolute"]),
    ],
)
def test_updater_settings_errors_name_the_variable(environ: dict[str, str], names: list[str]) -> None:
    if environ:
        environ = {"DEFINITIONS_BUCKET": "defs", **environ}
    with pytest.raises(SettingsError) as raised:
        UpdaterSettings.from_environment(environ)
    for name in names:
        assert name in str(raised.value)


def test_scanner_definitions_settings() -> None:
    settings = Settings.from_environment(
        {
            "QUARANTINE_BUCKET": "q",
            "DEFINITIONS_BUCKET": "defs",
            "DEFINITIONS_CHECK_MINUTES": "5",
            "DEFINITIONS_DIR": "/tmp/defs",
        }
    )
    assert (settings.definitions_bucket, settings.definitions_check_minutes) == ("defs", 5)
    assert settings.definitions_dir == Path("/tmp/defs")
    assert Settings.from_environment({"QUARANTINE_BUCKET": "q"}).definitions_dir == Path("/tmp/definitions")
    with pytest.raises(SettingsError, match="DEFINITIONS_DIR"):
        Settings.from_environment({"QUARANTINE_BUCKET": "q", "DEFINITIONS_DIR": "defs"})


def test_custom_signature_settings_from_the_environment() -> None:
    default = UpdaterSettings.from_environment({"DEFINITIONS_BUCKET": "defs"})
    assert default.custom_prefixes == ("custom/",)
    assert (default.custom_allow_listing, default.findings_topic_arn) == (False, None)
    assert default.custom_max_bytes == 64 * 1024**2
    settings = UpdaterSettings.from_environment(
        {
            "DEFINITIONS_BUCKET": "defs",
            "CUSTOM_SIGNATURES_PREFIXES": "security-team/iocs/, feeds/",
            "CUSTOM_SIGNATURES_ALLOW_LISTING": "true",
            "CUSTOM_SIGNATURES_MAX_BYTES": "1048576",
            "FINDINGS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:findings",
        }
    )
    assert settings.custom_prefixes == ("security-team/iocs/", "feeds/")
    assert settings.custom_allow_listing and settings.custom_max_bytes == 1024**2
    assert settings.findings_topic_arn == "arn:aws:sns:us-east-1:123456789012:findings"
    off = UpdaterSettings.from_environment({"DEFINITIONS_BUCKET": "defs", "CUSTOM_SIGNATURES_PREFIXES": "none"})
    assert off.custom_prefixes == ()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CUSTOM_SIGNATURES_PREFIXES": "custom"}, "ending in '/'"),
        ({"CUSTOM_SIGNATURES_PREFIXES": "/custom/"}, "ending in '/'"),
        ({"CUSTOM_SIGNATURES_PREFIXES": "a/../"}, "no '..'"),
        ({"CUSTOM_SIGNATURES_PREFIXES": "databases/"}, "overlaps"),
        ({"CUSTOM_SIGNATURES_PREFIXES": "databases/custom/"}, "overlaps"),
        ({"CUSTOM_SIGNATURES_PREFIXES": "custom/,custom/feeds/"}, "contains another"),
        ({"CUSTOM_SIGNATURES_PREFIXES": "custom/,custom/"}, "twice"),
        ({"CUSTOM_SIGNATURES_ALLOW_LISTING": "maybe"}, "boolean"),
        ({"CUSTOM_SIGNATURES_MAX_BYTES": "0"}, "positive"),
    ],
)
def test_custom_signature_settings_errors_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        UpdaterSettings.from_environment({"DEFINITIONS_BUCKET": "defs", **environ})
    assert next(iter(environ)) in str(raised.value) and message in str(raised.value)
