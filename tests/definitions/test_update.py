"""The updater against a mirror on loopback: real freshclam downloads and test-loads, real clamscan verifies,
files then manifest land in a versioned bucket on the moto server."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from scanner import update
from scanner.definitions.clamav import verify_databases
from scanner.definitions.manifest import MANIFEST_KEY, Manifest, read_cvd_header
from scanner.exceptions import DefinitionsError
from tests.definitions.databases import EICAR_SIGNATURE, HOT_SIGNATURE, build_cud
from tests.support.clamd import SIGNATURES, require_binary


def published(s3: Any, bucket: str) -> Manifest:
    return Manifest.from_json(s3.get_object(Bucket=bucket, Key=MANIFEST_KEY)["Body"].read())


def versions(s3: Any, bucket: str) -> list[tuple[str, str]]:
    reply = s3.list_object_versions(Bucket=bucket)
    return sorted((v["Key"], v["VersionId"]) for v in reply.get("Versions", []))


def test_updater_publishes_the_mirrored_files_then_a_correct_manifest(
    make_updater, mirror, tmp_path: Path, s3_definitions, definitions_bucket: str, emitted
) -> None:
    cud = build_cud(tmp_path, 27000, EICAR_SIGNATURE)
    urls = (
        mirror.put("daily.cud", cud.read_bytes()),
        mirror.put("custom.hdb", (SIGNATURES / "test.hdb").read_bytes()),
    )
    writes: list[str] = []
    s3_definitions.meta.events.register(
        "before-call.s3.PutObject", lambda params, **_: writes.append(params["url_path"].rsplit("/", 2)[-1])
    )
    result = make_updater(extra_urls=urls).run()

    assert result.changed
    assert sorted(result.uploaded) == ["custom.hdb", "daily.cud"]
    assert writes == ["custom.hdb", "daily.cud", MANIFEST_KEY]
    assert {"/daily.cud", "/custom.hdb"} <= set(mirror.requests)
    manifest = published(s3_definitions, definitions_bucket)
    assert manifest == result.manifest
    assert [f.name for f in manifest.files] == ["custom.hdb", "daily.cud"]
    assert manifest.database_version == "daily-27000"
    assert manifest.engine.startswith("ClamAV 1.")
    daily = manifest.file("daily.cud")
    assert daily is not None and daily.version == 27000
    assert manifest.built_at == daily.built_at
    header = read_cvd_header(cud)
    assert header is not None and daily.built_at == header.built_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    sources = {"daily.cud": cud.read_bytes(), "custom.hdb": (SIGNATURES / "test.hdb").read_bytes()}
    for entry in manifest.files:
        assert entry.key == f"databases/{entry.name}"
        body = s3_definitions.get_object(Bucket=definitions_bucket, Key=entry.key, VersionId=entry.version_id)
        data = body["Body"].read()
        assert data == sources[entry.name]
        assert (entry.size, entry.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert emitted()["DefinitionsPublished"] == [1]


def test_an_unchanged_set_writes_nothing_and_a_changed_file_is_the_only_upload(
    make_updater, mirror, tmp_path: Path, s3_definitions, definitions_bucket: str
) -> None:
    urls = (
        mirror.put("first.ndb", EICAR_SIGNATURE.encode()),
        mirror.put("second.hdb", (SIGNATURES / "test.hdb").read_bytes()),
    )
    first = make_updater(extra_urls=urls).run()
    before = versions(s3_definitions, definitions_bucket)

    again = make_updater(extra_urls=urls).run()
    assert not again.changed and again.manifest == first.manifest
    assert versions(s3_definitions, definitions_bucket) == before

    mirror.put("first.ndb", (EICAR_SIGNATURE + HOT_SIGNATURE).encode())
    changed = make_updater(extra_urls=urls).run()
    assert changed.changed and changed.uploaded == ("first.ndb",)
    assert changed.manifest.file("second.hdb") == first.manifest.file("second.hdb")
    assert changed.manifest.file("first.ndb") != first.manifest.file("first.ndb")
    assert changed.manifest.database_version.startswith("local-")
    assert changed.manifest.database_version != first.manifest.database_version
    assert published(s3_definitions, definitions_bucket) == changed.manifest


@pytest.mark.parametrize(
    ("corruption", "reason"),
    [
        # freshclam loads every new database with libclamav before keeping it (TestDatabases).
        ("malformed-signatures", "Test failed"),
        ("damaged-container", "Test failed"),
        # ... and checks each official CVD's digital signature (Talos' key).
        ("unsigned-official-daily", "Invalid or corrupted CVD/CLD database"),
    ],
)
def test_a_corrupt_download_is_rejected_and_nothing_is_published(
    corruption: str, reason: str, make_updater, mirror, tmp_path: Path, s3_definitions, definitions_bucket: str, emitted
) -> None:
    good = mirror.put("good.ndb", EICAR_SIGNATURE.encode())
    if corruption == "malformed-signatures":
        updater = make_updater(extra_urls=(good, mirror.put("bad.ndb", b"Broken:0:*:zz-not-hex\n")))
    elif corruption == "damaged-container":
        data = bytearray(build_cud(tmp_path, 27000, EICAR_SIGNATURE).read_bytes())
        data[600] ^= 0xFF  # inside the compressed body: the header's MD5 no longer matches
        updater = make_updater(extra_urls=(good, mirror.put("daily.cud", bytes(data))))
    else:
        # A private mirror serving a daily.cvd that Talos did not sign: freshclam verifies the signature.
        mirror.put("daily.cvd", build_cud(tmp_path, 27000, EICAR_SIGNATURE).read_bytes())
        updater = make_updater(databases=("daily",), extra_urls=(good,))

    with pytest.raises(DefinitionsError, match="freshclam failed") as raised:
        updater.run()

    assert reason in str(raised.value)

    assert versions(s3_definitions, definitions_bucket) == []
    assert emitted()["DefinitionsPublishFailed"] == [1]
    assert not updater.paths.work_dir.exists()


def test_a_failed_run_leaves_the_published_set_untouched(
    make_updater, mirror, s3_definitions, definitions_bucket: str, emitted
) -> None:
    url = mirror.put("custom.ndb", EICAR_SIGNATURE.encode())
    first = make_updater(extra_urls=(url,)).run()
    before = versions(s3_definitions, definitions_bucket)
    emitted()

    mirror.put("custom.ndb", b"this is not a signature database\n")
    with pytest.raises(DefinitionsError):
        make_updater(extra_urls=(url,)).run()

    assert versions(s3_definitions, definitions_bucket) == before
    assert published(s3_definitions, definitions_bucket) == first.manifest
    metrics = emitted()
    assert metrics["DefinitionsPublishFailed"] == [1]
    assert len(metrics["DefinitionsAgeHours"]) == 1


def test_clamscan_verification_rejects_a_set_clamav_cannot_load(tmp_path: Path) -> None:
    directory = tmp_path / "set"
    directory.mkdir()
    (directory / "broken.ndb").write_text("Broken:0:*:zz\n")
    with pytest.raises(DefinitionsError, match="cannot load"):
        verify_databases(directory, require_binary("clamscan"), 60)
    (directory / "broken.ndb").write_text(EICAR_SIGNATURE)
    verify_databases(directory, require_binary("clamscan"), 60)


def test_seeding_starts_freshclam_from_the_published_cvds_only(
    make_updater, mirror, tmp_path: Path, s3_definitions, definitions_bucket: str
) -> None:
    from scanner.definitions.publish import publish_directory

    source = tmp_path / "source"
    source.mkdir()
    (source / "daily.cld").write_bytes(build_cud(tmp_path, 27100, EICAR_SIGNATURE).read_bytes())
    (source / "custom.ndb").write_text(EICAR_SIGNATURE)
    manifest = publish_directory(s3_definitions, definitions_bucket, source, previous=None, engine="ClamAV").manifest
    updater = make_updater(extra_urls=(mirror.put("custom.ndb", EICAR_SIGNATURE.encode()),))
    updater._reset()
    updater._seed(manifest)
    seeded = sorted(p.name for p in updater.paths.database_dir.iterdir())
    assert seeded == ["daily.cld"]
    assert (updater.paths.database_dir / "daily.cld").read_bytes() == (source / "daily.cld").read_bytes()


def test_lambda_handler_reads_its_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, mirror, tmp_path: Path, endpoint: str, definitions_bucket: str, capsys
) -> None:
    url = mirror.put("custom.ndb", EICAR_SIGNATURE.encode())
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("DEFINITIONS_BUCKET", definitions_bucket)
    monkeypatch.setenv("DEFINITIONS_MIRROR_URL", mirror.url)
    monkeypatch.setenv("DEFINITIONS_DATABASES", "none")
    monkeypatch.setenv("DEFINITIONS_EXTRA_URLS", url)
    monkeypatch.setenv("DEFINITIONS_DIR", str(tmp_path / "work"))
    update.set_updater(None)
    try:
        reply = update.lambda_handler({"source": "aws.events"}, None)
    finally:
        update.set_updater(None)
    assert reply["changed"] is True
    assert reply["files"] == ["custom.ndb"]
    assert reply["database_version"].startswith("local-")
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any("DefinitionsAgeHours" in doc for doc in emf)
