from __future__ import annotations

from pathlib import Path

import pytest

from scanner.config import InfectedAction, Settings, ensure_not_source
from scanner.exceptions import SettingsError


def test_defaults_and_parsing() -> None:
    settings = Settings.from_environment(
        {
            "INFECTED_ACTION": "Tag",
            "MAX_OBJECT_BYTES": "1048576",
            "ENCRYPTED_IS_INFECTED": "true",
            "CLAMD_DATABASE_DIR": "/opt/db",
            "FINDINGS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:findings",
        }
    )
    assert settings.action is InfectedAction.TAG
    assert settings.max_object_bytes == settings.clamd.max_object_bytes == 1048576
    assert settings.encrypted_is_infected is True
    assert settings.clamd.database_dir == Path("/opt/db")
    assert settings.clamd.work_dir == Path("/tmp/clamd")
    assert settings.findings_topic_arn.endswith(":findings")
    default = Settings.from_environment({"QUARANTINE_BUCKET": "q"})
    assert default.action is InfectedAction.QUARANTINE
    assert default.max_object_bytes == 512 * 1024**2


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"INFECTED_ACTION": "burn"}, ["INFECTED_ACTION", "burn", "tag, quarantine, delete"]),
        ({}, ["QUARANTINE_BUCKET", "INFECTED_ACTION=quarantine"]),
        ({"INFECTED_ACTION": "tag", "MAX_OBJECT_BYTES": "0"}, ["MAX_OBJECT_BYTES=0"]),
        ({"INFECTED_ACTION": "tag", "MAX_OBJECT_BYTES": str(2 * 1024**3)}, ["MAX_OBJECT_BYTES", "2 GiB - 1"]),
        ({"INFECTED_ACTION": "tag", "MAX_OBJECT_BYTES": "1GB"}, ["MAX_OBJECT_BYTES='1GB'", "not an integer"]),
        ({"INFECTED_ACTION": "tag", "STREAM_CHUNK_BYTES": "1024"}, ["STREAM_CHUNK_BYTES=1024"]),
        ({"INFECTED_ACTION": "tag", "ENCRYPTED_IS_INFECTED": "maybe"}, ["ENCRYPTED_IS_INFECTED='maybe'"]),
        ({"INFECTED_ACTION": "tag", "CLAMD_START_TIMEOUT_SECONDS": "-1"}, ["CLAMD_START_TIMEOUT_SECONDS"]),
    ],
)
def test_bad_settings_name_the_variable(environ: dict[str, str], names: list[str]) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_environment(environ)
    assert all(name in str(caught.value) for name in names), str(caught.value)


def test_quarantine_into_the_scanned_bucket_is_refused() -> None:
    settings = Settings(quarantine_bucket="uploads")
    with pytest.raises(SettingsError, match="loop"):
        ensure_not_source(settings, "uploads")
    ensure_not_source(settings, "other")
