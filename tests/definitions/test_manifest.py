"""The manifest format, CVD headers, and the freshclam configuration the updater renders."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scanner.config import UpdaterSettings
from scanner.definitions.manifest import DatabaseFile, Manifest, database_version, read_cvd_header
from scanner.definitions.publish import freshclam_command, render_freshclam_config
from scanner.exceptions import DefinitionsError
from tests.definitions.databases import EICAR_SIGNATURE, build_cud
from tests.support.clamd import SIGNATURES

SHA_A = "a" * 64
SHA_B = "b" * 64


def manifest(**overrides) -> Manifest:
    values = {
        "files": (
            DatabaseFile("daily.cvd", "databases/daily.cvd", 10, SHA_A, "v1", 27830, "2026-11-27T04:00:00Z"),
            DatabaseFile("main.cvd", "databases/main.cvd", 20, SHA_B, "v2", 62, "2021-09-16T10:00:00Z"),
        ),
        "database_version": "daily-27830",
        "engine": "ClamAV 1.4.6",
        "created_at": "2026-11-27T06:00:00Z",
        "built_at": "2026-11-27T04:00:00Z",
    }
    return Manifest(**{**values, **overrides})


def test_manifest_round_trips_through_json() -> None:
    original = manifest()
    document = json.loads(original.to_json())
    assert document["schema"] == 1
    assert document["files"][0] == {
        "name": "daily.cvd",
        "key": "databases/daily.cvd",
        "size": 10,
        "sha256": SHA_A,
        "version_id": "v1",
        "version": 27830,
        "built_at": "2026-11-27T04:00:00Z",
    }
    assert Manifest.from_json(original.to_json()) == original


def test_digest_is_the_content_not_the_order_or_the_publish_time() -> None:
    original = manifest()
    assert manifest(files=tuple(reversed(original.files)), created_at="2026-11-28T00:00:00Z").digest == original.digest
    changed = (original.files[0], DatabaseFile("main.cvd", "databases/main.cvd", 20, SHA_A))
    assert manifest(files=changed).digest != original.digest
    assert original.directory_name == f"set-daily-27830-{original.digest[:12]}"


def test_age_is_measured_from_the_newest_build_else_from_publication() -> None:
    now = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
    assert manifest().age_hours(now) == 24
    assert manifest(built_at=None).age_hours(now) == 22
    assert manifest().age_hours(now - timedelta(days=2)) == 0


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["files"][0].update(name="../../etc/cron.d/x.ndb"), "not a database file name"),
        (lambda d: d["files"][0].update(name="sub/daily.cvd"), "not a database file name"),
        (lambda d: d["files"][0].update(name="notes.txt"), "not a database file name"),
        (lambda d: d["files"][0].update(sha256="xyz"), "invalid size or sha256"),
        (lambda d: d["files"][1].update(name="daily.cvd"), "twice"),
        (lambda d: d.update(files=[]), "no database files"),
        (lambda d: d.update(schema=2), "unsupported schema"),
        (lambda d: d.pop("created_at"), "invalid field"),
        (lambda d: d.update(created_at="yesterday"), "invalid field"),
        (lambda d: d["files"][0].pop("size"), "invalid file entry"),
    ],
)
def test_an_invalid_manifest_is_rejected_whole(mutate, message: str) -> None:
    document = json.loads(manifest().to_json())
    mutate(document)
    with pytest.raises(DefinitionsError, match=message):
        Manifest.from_json(json.dumps(document).encode())


def test_cvd_header_of_a_sigtool_container(tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    header = read_cvd_header(build_cud(tmp_path, 27042, EICAR_SIGNATURE))
    assert header is not None
    assert (header.version, header.signatures) == (27042, 1)
    assert before <= header.built_at <= datetime.now(UTC)
    assert read_cvd_header(SIGNATURES / "test.ndb") is None


def test_database_version_names_daily_or_hashes_the_set(tmp_path: Path) -> None:
    header = read_cvd_header(build_cud(tmp_path, 27043, EICAR_SIGNATURE))
    assert database_version([("daily.cud", SHA_A, header), ("custom.ndb", SHA_B, None)]) == "daily-27043"
    local = database_version([("custom.ndb", SHA_B, None)])
    assert local.startswith("local-") and len(local) == len("local-") + 12
    assert database_version([("custom.ndb", SHA_A, None)]) != local


def config_lines(**overrides) -> list[str]:
    settings = UpdaterSettings(definitions_bucket="defs", **overrides)
    return render_freshclam_config(settings, Path("/tmp/definitions/freshclam"), as_root=False).splitlines()


def test_freshclam_config_for_the_official_cdn() -> None:
    lines = config_lines()
    assert "DatabaseDirectory /tmp/definitions/freshclam" in lines
    assert "DatabaseMirror database.clamav.net" in lines
    assert "ScriptedUpdates yes" in lines
    assert "TestDatabases yes" in lines
    assert "Bytecode yes" in lines
    assert not [line for line in lines if line.startswith(("PrivateMirror", "ExcludeDatabase", "DatabaseOwner"))]
    # Nothing outside /tmp is written: no log file, no pid file, no clamd to notify.
    assert not [line for line in lines if line.startswith(("UpdateLogFile", "PidFile", "NotifyClamd"))]


def test_freshclam_config_for_a_private_mirror_with_extra_files() -> None:
    lines = config_lines(
        mirror_url="https://clamav-mirror.internal.example:8443/",
        databases=("main", "daily"),
        extra_urls=("https://sigs.example.com/phish.ndb",),
    )
    assert "PrivateMirror https://clamav-mirror.internal.example:8443" in lines
    assert not [line for line in lines if line.startswith(("DatabaseMirror", "ScriptedUpdates"))]
    assert "ExcludeDatabase bytecode" in lines and "Bytecode no" in lines
    assert "DatabaseCustomURL https://sigs.example.com/phish.ndb" in lines


def test_freshclam_keeps_root_when_started_as_root() -> None:
    settings = UpdaterSettings(definitions_bucket="defs")
    rendered = render_freshclam_config(settings, Path("/tmp/x"), as_root=True)
    assert "DatabaseOwner root\n" in rendered
    command = freshclam_command(settings, Path("/tmp/x/freshclam.conf"))
    assert command == ["freshclam", "--config-file=/tmp/x/freshclam.conf", "--stdout"]
