"""Without a definitions bucket the image's database is the only one: its age still feeds the age alarm."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from scanner.config import Settings
from scanner.runtime import ScannerRuntime
from tests.definitions.databases import EICAR_SIGNATURE, build_cud


def test_the_baked_database_reports_its_age_once_per_check_interval(clamd_daemon, tmp_path: Path, emitted) -> None:
    database = tmp_path / "baked"
    database.mkdir()
    build_cud(tmp_path, 27100, EICAR_SIGNATURE).rename(database / "daily.cud")
    clamd = dataclasses.replace(clamd_daemon.settings, database_dir=database)
    settings = Settings(clamd=clamd, quarantine_bucket="q", max_object_bytes=clamd.max_object_bytes)
    runtime = ScannerRuntime(settings=settings, daemon=clamd_daemon, s3_client=None)
    assert runtime.definitions is None
    emitted()
    runtime.refresh_definitions()
    ages = emitted()["DefinitionsAgeHours"]
    assert len(ages) == 1 and 0 <= ages[0] < 1, "the CUD was built just now"
    runtime.refresh_definitions()
    assert "DefinitionsAgeHours" not in emitted(), "not again before definitionsCheckMinutes"
