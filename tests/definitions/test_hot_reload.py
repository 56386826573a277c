"""A warm scanner follows the published definitions: real freshclam publishes from a loopback mirror, a real
clamd of the test's own is switched to the new set in the same process, and the tags say which set scanned."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from scanner.definitions.manifest import MANIFEST_KEY, Manifest
from scanner.definitions.publish import publish_directory
from tests.definitions.databases import EICAR_SIGNATURE, HOT_SAMPLE, HOT_SIGNATURE, HOT_SIGNATURE_NAME, build_cud
from tests.support.clamd import EICAR
from tests.support.events import put_and_event

CHECK_S = 15 * 60


def scan(runtime: Any, s3: Any, bucket: str, key: str, body: bytes) -> tuple[str, dict[str, str]]:
    """Upload, handle the notification, return (status, tags of the object)."""
    result = runtime.handle(put_and_event(s3, bucket, key, body))
    found = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
    return result["statuses"][0]["status"], found


def set_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_a_warm_scanner_detects_a_sample_after_new_signatures_are_published(
    make_updater, make_scanner, mirror, tmp_path: Path, make_bucket, s3, clock, emitted
) -> None:
    url = mirror.put("daily.cud", build_cud(tmp_path, 27000, EICAR_SIGNATURE).read_bytes())
    make_updater(extra_urls=(url,)).run()
    runtime = make_scanner()
    runtime.start()  # what Lambda's init phase does
    uploads = make_bucket("uploads")

    status, tags = scan(runtime, s3, uploads, "eicar.txt", EICAR)
    assert status == "INFECTED"
    old_engine = tags["scan-engine"]
    assert "/27000/" in old_engine
    status, tags = scan(runtime, s3, uploads, "sample-1.bin", HOT_SAMPLE)
    assert (status, tags["scan-engine"]) == ("CLEAN", old_engine)
    old_dir = runtime.daemon.database_dir
    clamd_pid = runtime.daemon.pid
    emitted()

    mirror.put("daily.cud", build_cud(tmp_path, 27001, EICAR_SIGNATURE + HOT_SIGNATURE).read_bytes())
    assert make_updater(extra_urls=(url,)).run().changed

    clock.advance(CHECK_S - 60)  # not due yet: the manifest is not even read
    status, tags = scan(runtime, s3, uploads, "sample-2.bin", HOT_SAMPLE)
    assert (status, tags["scan-engine"]) == ("CLEAN", old_engine)
    assert runtime.daemon.pid == clamd_pid

    clock.advance(60)
    # Due: the new set is downloaded and a second clamd loads it; this scan goes on with the current one.
    status, tags = scan(runtime, s3, uploads, "sample-3.bin", HOT_SAMPLE)
    assert (status, tags["scan-engine"]) == ("CLEAN", old_engine)
    assert runtime.daemon.pid == clamd_pid, "scanning never stalls for the load"
    assert runtime.settle_switch(wait_s=60), "the new clamd answers"
    assert runtime.daemon.pid != clamd_pid
    status, tags = scan(runtime, s3, uploads, "sample-4.bin", HOT_SAMPLE)
    assert status == "INFECTED"
    assert tags["scan-detail"].startswith(HOT_SIGNATURE_NAME)
    assert "/27001/" in tags["scan-engine"] and tags["scan-engine"] != old_engine
    assert runtime.definitions.manifest.database_version == "daily-27001"
    assert runtime.daemon.database_dir != old_dir and not old_dir.exists()
    assert set_dirs(runtime.settings.definitions_dir) == [runtime.daemon.database_dir.name]
    metrics = emitted()
    assert metrics["DefinitionsReloaded"] == [1]
    assert "DefinitionsUpdateFailed" not in metrics
    assert 0 <= metrics["DefinitionsAgeHours"][-1] < 1
    # The earlier object keeps the verdict of the set that scanned it.
    first = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=uploads, Key="sample-1.bin")["TagSet"]}
    assert (first["scan-status"], first["scan-engine"]) == ("CLEAN", old_engine)


def test_without_a_published_set_the_image_database_is_used_until_one_appears(
    make_updater, make_scanner, mirror, tmp_path: Path, make_bucket, s3, clock, emitted
) -> None:
    runtime = make_scanner()
    runtime.start()
    uploads = make_bucket("uploads")
    status, tags = scan(runtime, s3, uploads, "eicar.txt", EICAR)
    assert status == "INFECTED" and "/local-" in tags["scan-engine"]  # tests/signatures: the image's database
    assert runtime.daemon.database_dir == runtime.settings.clamd.database_dir
    assert "DefinitionsUpdateFailed" not in emitted()

    url = mirror.put("daily.cud", build_cud(tmp_path, 27005, EICAR_SIGNATURE + HOT_SIGNATURE).read_bytes())
    make_updater(extra_urls=(url,)).run()
    clock.advance(CHECK_S)
    status, tags = scan(runtime, s3, uploads, "sample.bin", HOT_SAMPLE)
    assert status == "CLEAN" and "/local-" in tags["scan-engine"], "the image's clamd scans while the new one loads"
    assert runtime.settle_switch(wait_s=60)
    status, tags = scan(runtime, s3, uploads, "sample-2.bin", HOT_SAMPLE)
    assert status == "INFECTED" and "/27005/" in tags["scan-engine"]
    assert runtime.settings.clamd.database_dir.is_dir()  # the image's database is never removed


def test_a_failing_download_at_cold_start_leaves_scanning_working_and_reports_the_metric(
    make_updater, make_scanner, mirror, make_bucket, s3, s3_definitions, definitions_bucket: str, emitted
) -> None:
    url = mirror.put("custom.ndb", (EICAR_SIGNATURE + HOT_SIGNATURE).encode())
    manifest = make_updater(extra_urls=(url,)).run().manifest
    entry = manifest.files[0]
    # The pinned version disappears: every download of this set fails.
    s3_definitions.delete_object(Bucket=definitions_bucket, Key=entry.key, VersionId=entry.version_id)

    runtime = make_scanner()
    runtime.start()
    uploads = make_bucket("uploads")
    status, _ = scan(runtime, s3, uploads, "eicar.txt", EICAR)

    assert status == "INFECTED"  # on the image's database
    assert runtime.daemon.database_dir == runtime.settings.clamd.database_dir
    assert runtime.definitions.manifest is None
    assert set_dirs(runtime.settings.definitions_dir) == []  # no partial download left behind
    metrics = emitted()
    assert metrics["DefinitionsUpdateFailed"] == [1]


def test_a_failing_warm_update_keeps_the_current_definitions_and_reports_the_metric(
    make_updater, make_scanner, mirror, make_bucket, s3, s3_definitions, definitions_bucket: str, clock, emitted
) -> None:
    url = mirror.put("custom.ndb", EICAR_SIGNATURE.encode())
    make_updater(extra_urls=(url,)).run()
    runtime = make_scanner()
    runtime.start()
    uploads = make_bucket("uploads")
    status, tags = scan(runtime, s3, uploads, "eicar.txt", EICAR)
    assert status == "INFECTED"
    engine = tags["scan-engine"]
    current = runtime.daemon.database_dir
    emitted()

    mirror.put("custom.ndb", (EICAR_SIGNATURE + HOT_SIGNATURE).encode())
    published = make_updater(extra_urls=(url,)).run().manifest
    # The bytes in the bucket no longer match what the manifest promises.
    tampered = dataclasses.replace(published.files[0], sha256="0" * 64)
    document = dataclasses.replace(published, files=(tampered,)).to_json()
    s3_definitions.put_object(Bucket=definitions_bucket, Key=MANIFEST_KEY, Body=document)
    emitted()  # the updater's own metrics

    clock.advance(CHECK_S)
    status, tags = scan(runtime, s3, uploads, "sample.bin", HOT_SAMPLE)
    assert (status, tags["scan-engine"]) == ("CLEAN", engine)
    assert runtime.daemon.database_dir == current and current.is_dir()
    assert set_dirs(runtime.settings.definitions_dir) == [current.name]
    metrics = emitted()
    assert metrics["DefinitionsUpdateFailed"] == [1]
    assert metrics["DefinitionsAgeHours"] == [0.25]  # the current set keeps ageing (on the injected clock)
    assert "DefinitionsReloaded" not in metrics

    status, _ = scan(runtime, s3, uploads, "eicar-2.txt", EICAR)
    assert status == "INFECTED"


def test_a_published_set_clamd_cannot_load_is_rolled_back_and_not_retried(
    make_updater,
    make_scanner,
    mirror,
    tmp_path: Path,
    make_bucket,
    s3,
    s3_definitions,
    definitions_bucket,
    clock,
    emitted,
) -> None:
    url = mirror.put("custom.ndb", EICAR_SIGNATURE.encode())
    first = make_updater(extra_urls=(url,)).run().manifest
    runtime = make_scanner()
    runtime.start()
    uploads = make_bucket("uploads")
    assert scan(runtime, s3, uploads, "eicar.txt", EICAR)[0] == "INFECTED"
    current = runtime.daemon.database_dir
    emitted()

    # Published around the updater's verification (by hand): clamd refuses to start on it.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "custom.ndb").write_text("Broken:0:*:zz-not-hex\n")
    publish_directory(s3_definitions, definitions_bucket, broken, previous=first, engine="ClamAV")
    clock.advance(CHECK_S)
    status, _ = scan(runtime, s3, uploads, "eicar-2.txt", EICAR)
    assert status == "INFECTED"
    assert runtime.settle_switch(wait_s=60), "the second clamd exits on the broken set"
    assert runtime.daemon.database_dir == current
    assert runtime.definitions.manifest == first
    assert set_dirs(runtime.settings.definitions_dir) == [current.name]
    assert emitted()["DefinitionsUpdateFailed"] == [1]

    pid = runtime.daemon.pid
    clock.advance(CHECK_S)
    assert scan(runtime, s3, uploads, "eicar-3.txt", EICAR)[0] == "INFECTED"
    assert runtime.daemon.pid == pid  # the rejected set is not tried again
    assert emitted()["DefinitionsUpdateFailed"] == [1]


def test_the_manifest_in_the_bucket_is_what_the_scanner_runs_on(
    make_updater, make_scanner, mirror, tmp_path: Path, s3_definitions, definitions_bucket: str
) -> None:
    url = mirror.put("daily.cud", build_cud(tmp_path, 27010, EICAR_SIGNATURE).read_bytes())
    make_updater(extra_urls=(url,)).run()
    runtime = make_scanner()
    runtime.start()
    manifest = Manifest.from_json(s3_definitions.get_object(Bucket=definitions_bucket, Key=MANIFEST_KEY)["Body"].read())
    directory = runtime.daemon.database_dir
    assert directory.name == manifest.directory_name
    assert sorted(p.name for p in directory.iterdir()) == ["daily.cud"]
    assert (directory / "daily.cud").read_bytes() == (mirror.directory / "daily.cud").read_bytes()
    assert json.loads(manifest.to_json())["files"][0]["version"] == 27010
    runtime.daemon.wait_ready()
    assert runtime.engine().startswith("ClamAV 1.") and "/27010/" in runtime.engine()


def test_without_a_definitions_bucket_the_runtime_starts_on_the_image_database(
    make_scanner, make_bucket, s3, emitted
) -> None:
    runtime = make_scanner(definitions_bucket=None)
    assert runtime.definitions is None
    runtime.start()
    status, tags = scan(runtime, s3, make_bucket("uploads"), "eicar.txt", EICAR)
    assert status == "INFECTED" and "/local-" in tags["scan-engine"]
    assert runtime.daemon.database_dir == runtime.settings.clamd.database_dir
    assert not [name for name in emitted() if name.startswith("Definitions")]
