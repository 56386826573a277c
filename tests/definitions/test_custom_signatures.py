"""The security team's own signatures: files dropped under custom/ in the definitions bucket are published by
the next updater run (real freshclam, real clamscan, moto S3/SNS/SQS) and detected by a real clamd started on the
set the scanner's download path fetched; files that do not load, or have names they must not have, are rejected
with the previous set kept published, a finding and a metric."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from scanner import update
from scanner.definitions.clamav import LoadReport
from scanner.definitions.custom import CustomSignaturesRejected, name_problem
from scanner.definitions.fetch import download_set, read_manifest
from scanner.definitions.manifest import Manifest, database_version
from scanner.engine import engine_label
from scanner.exceptions import DefinitionsError
from scanner.tags import clean_value
from scanner.verdict import ScanStatus, verdict_from_reply
from tests.definitions.databases import (
    BEACON_RULE,
    BEACON_SAMPLE,
    BEACON_YAR,
    EICAR_SIGNATURE,
    INCIDENT_HDB,
    INCIDENT_NAME,
    INCIDENT_SAMPLE,
    WEBSHELL_NAME,
    WEBSHELL_NDB,
    WEBSHELL_SAMPLE,
    build_cud,
)
from tests.support.clamd import EICAR, EICAR_NAME, start_daemon

CUSTOM_FILES = {
    "custom/incident-2026-041.hdb": INCIDENT_HDB.encode(),
    "custom/webshells.ndb": WEBSHELL_NDB.encode(),
    "custom/beacon.yar": BEACON_YAR.encode(),
}
LABEL = re.compile(r"ClamAV 1\.\d+\.\d+/27000/[^+]+\+custom-[0-9a-f]{12}")


def published_versions(s3: Any, bucket: str) -> list[tuple[str, str]]:
    """Versions of what the updater writes (everything but the custom prefix, which admins write)."""
    reply = s3.list_object_versions(Bucket=bucket)
    return sorted((v["Key"], v["VersionId"]) for v in reply.get("Versions", []) if not v["Key"].startswith("custom/"))


def scan(daemon: Any, data: bytes) -> tuple[ScanStatus, str | None]:
    reply, _ = daemon.client.instream(io.BytesIO(data))
    verdict = verdict_from_reply(reply)
    return verdict.status, verdict.detail


def test_custom_hdb_ndb_and_yara_files_are_published_and_detected_with_a_new_engine_label(
    make_updater, mirror, tmp_path: Path, s3_definitions, definitions_bucket: str, drop_custom, emitted
) -> None:
    url = mirror.put("daily.cud", build_cud(tmp_path, 27000, EICAR_SIGNATURE).read_bytes())
    first = make_updater(extra_urls=(url,)).run()
    assert first.manifest.custom_sources == () and first.manifest.custom_digest is None
    pinned = {key: drop_custom(key, data) for key, data in CUSTOM_FILES.items()}
    drop_custom("custom/", b"")  # the console's "folder": ignored
    emitted()

    second = make_updater(extra_urls=(url,)).run()

    assert second.changed
    assert sorted(second.uploaded) == ["beacon.yar", "incident-2026-041.hdb", "webshells.ndb"]
    manifest = read_manifest(s3_definitions, definitions_bucket)
    assert manifest == second.manifest and manifest.database_version == "daily-27000"
    assert manifest.file("daily.cud") == first.manifest.file("daily.cud")  # unchanged: not uploaded again
    for key, data in CUSTOM_FILES.items():
        entry = manifest.file(key.removeprefix("custom/"))
        assert entry is not None
        assert (entry.source_key, entry.source_version_id) == (key, pinned[key])
        assert (entry.size, entry.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        # Scanners read the updater's copy, never the admins' prefix.
        assert entry.key == f"databases/{entry.name}"
        copy = s3_definitions.get_object(Bucket=definitions_bucket, Key=entry.key, VersionId=entry.version_id)
        assert copy["Body"].read() == data
    assert len(manifest.custom_sources) == 3
    metrics = emitted()
    assert metrics["DefinitionsPublished"] == [1] and "CustomSignaturesRejected" not in metrics

    reads: list[str] = []
    s3_definitions.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: reads.append(params["url_path"])
    )
    old_set = download_set(s3_definitions, definitions_bucket, first.manifest, tmp_path / "sets")
    directory = download_set(s3_definitions, definitions_bucket, manifest, tmp_path / "sets")
    assert reads and not [path for path in reads if "/custom/" in path]
    daemon = start_daemon(tmp_path / "clamd", database_dir=directory)
    try:
        assert scan(daemon, INCIDENT_SAMPLE) == (ScanStatus.INFECTED, f"{INCIDENT_NAME}.UNOFFICIAL")
        assert scan(daemon, WEBSHELL_SAMPLE) == (ScanStatus.INFECTED, f"{WEBSHELL_NAME}.UNOFFICIAL")
        assert scan(daemon, BEACON_SAMPLE) == (ScanStatus.INFECTED, f"YARA.{BEACON_RULE}.UNOFFICIAL")
        assert scan(daemon, EICAR) == (ScanStatus.INFECTED, EICAR_NAME)  # the official part still loaded
        assert scan(daemon, b"an ordinary upload\n") == (ScanStatus.CLEAN, None)
        reply = daemon.client.version()
    finally:
        daemon.stop()
    label = engine_label(reply, directory)
    assert LABEL.fullmatch(label), label
    assert label == f"{reply}+custom-{manifest.custom_digest[:12]}"
    assert clean_value(label) == label
    assert engine_label(reply, old_set) == reply  # the set without custom files: the plain VERSION reply


def test_files_under_several_prefixes_are_merged_and_one_name_under_two_is_rejected(
    make_updater, mirror, s3_definitions, definitions_bucket: str, drop_custom
) -> None:
    # custom/ is the admins' folder; feeds/ is where a feed job (fangfrisch, see docs) syncs its downloads.
    url = mirror.put("official.ndb", EICAR_SIGNATURE.encode())
    drop_custom("custom/webshells.ndb", WEBSHELL_NDB.encode())
    drop_custom("feeds/incident-2026-041.hdb", INCIDENT_HDB.encode())
    manifest = make_updater(extra_urls=(url,), custom_prefixes=("custom/", "feeds/")).run().manifest
    assert [f.source_key for f in manifest.custom_sources] == ["feeds/incident-2026-041.hdb", "custom/webshells.ndb"]

    drop_custom("feeds/webshells.ndb", WEBSHELL_NDB.encode())
    with pytest.raises(CustomSignaturesRejected) as raised:
        make_updater(extra_urls=(url,), custom_prefixes=("custom/", "feeds/")).run()
    assert {r.key: r.reason for r in raised.value.rejections} == {
        "custom/webshells.ndb": "the same file name as feeds/webshells.ndb",
        "feeds/webshells.ndb": "the same file name as custom/webshells.ndb",
    }
    assert read_manifest(s3_definitions, definitions_bucket) == manifest


def test_removing_a_custom_file_publishes_the_set_without_it(
    make_updater, mirror, s3_definitions, definitions_bucket: str, drop_custom
) -> None:
    url = mirror.put("official.ndb", EICAR_SIGNATURE.encode())
    drop_custom("custom/webshells.ndb", WEBSHELL_NDB.encode())
    with_custom = make_updater(extra_urls=(url,)).run().manifest
    assert [f.name for f in with_custom.custom_sources] == ["webshells.ndb"]

    s3_definitions.delete_object(Bucket=definitions_bucket, Key="custom/webshells.ndb")
    without = make_updater(extra_urls=(url,)).run()

    assert without.changed and [f.name for f in without.manifest.files] == ["official.ndb"]
    assert without.manifest.custom_sources == ()


BROKEN = {
    # A syntax error: clamscan fails.
    "ndb-syntax-error": ("custom/broken.ndb", b"Broken-Sig:0:*:zz-not-hex\n", "ClamAV cannot load it"),
    # A YARA syntax error: libclamav drops the rule, says so, and exits 0.
    "yara-syntax-error": (
        "custom/broken.yar",
        b'rule Broken_Rule { strings: $a = "x" condition: $a and and }\n',
        "ClamAV skipped part of it",
    ),
    # A logical signature for a newer engine: skipped without a word; only the count shows it.
    "ldb-for-a-newer-engine": (
        "custom/future.ldb",
        b"Team-Future;Engine:250-255,Target:0;0;41414141\n",
        "ClamAV loaded 0 of its 1 signatures",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_custom_file_that_does_not_load_is_rejected_and_the_previous_set_stays_published(
    case: str,
    make_updater,
    mirror,
    s3_definitions,
    definitions_bucket: str,
    drop_custom,
    findings_topic,
    emitted,
) -> None:
    url = mirror.put("official.ndb", EICAR_SIGNATURE.encode())
    drop_custom("custom/webshells.ndb", WEBSHELL_NDB.encode())
    previous = make_updater(extra_urls=(url,)).run().manifest
    before = published_versions(s3_definitions, definitions_bucket)
    emitted()

    key, data, reason = BROKEN[case]
    version = drop_custom(key, data)
    # A good change dropped in the same run is not published either: the previous set stays as a whole.
    drop_custom("custom/webshells.ndb", (WEBSHELL_NDB + f"Team-Webshell-7732:0:*:{b'webshell-7732'.hex()}\n").encode())
    updater = make_updater(extra_urls=(url,), findings_topic_arn=findings_topic.arn, sns_client=findings_topic.sns)
    with pytest.raises(CustomSignaturesRejected, match=re.escape(key)) as raised:
        updater.run()

    assert [r.key for r in raised.value.rejections] == [key]
    assert published_versions(s3_definitions, definitions_bucket) == before
    assert read_manifest(s3_definitions, definitions_bucket) == previous
    assert not updater.paths.work_dir.exists()
    [(body, attributes)] = findings_topic.messages()
    assert attributes == {"status": "SIGNATURES_REJECTED"}
    assert body["type"] == "CustomSignaturesRejected"
    assert (body["bucket"], body["prefixes"]) == (definitions_bucket, ["custom/"])
    [rejected] = body["rejected"]
    assert (rejected["key"], rejected["versionId"]) == (key, version)
    assert rejected["sha256"] == hashlib.sha256(data).hexdigest()
    assert rejected["reason"].startswith(reason), rejected["reason"]
    assert str(updater.paths.work_dir) not in rejected["reason"], "the updater's scratch paths are left out"
    assert body["published"] == {
        "databaseVersion": previous.database_version,
        "createdAt": previous.created_at,
        "digest": previous.digest,
    }
    metrics = emitted()
    assert metrics["CustomSignaturesRejected"] == [1]
    assert metrics["DefinitionsPublishFailed"] == [1]
    assert len(metrics["DefinitionsAgeHours"]) == 1  # of the set still published
    assert "DefinitionsPublished" not in metrics


DANGEROUS = {
    "custom/../x.ndb": "not a plain file name",
    "custom/sub/x.ndb": "not a plain file name",
    "custom/.hidden.ndb": "not a plain file name",
    "custom/main.cvd": ".cvd files are not accepted",
    "custom/daily.cud": ".cud files are not accepted",
    "custom/daily.ndb": "the name of an official database",
    "custom/official.ndb": "the name of a file freshclam fetches",
    "custom/pua.ndu": "a PUA database",
    "custom/code.cbc": "bytecode",
    "custom/types.ftm": "file-type magic",
    "custom/eicar.fp": "allow-listing format",
    "custom/notes.txt": "not a signature format accepted here",
}


def test_files_with_dangerous_or_reserved_names_are_rejected_without_being_read(
    make_updater, mirror, s3_definitions, definitions_bucket: str, drop_custom, findings_topic, emitted
) -> None:
    url = mirror.put("official.ndb", EICAR_SIGNATURE.encode())
    previous = make_updater(extra_urls=(url,)).run().manifest
    for key in DANGEROUS:
        drop_custom(key, WEBSHELL_NDB.encode())
    listed = {o["Key"] for o in s3_definitions.list_objects_v2(Bucket=definitions_bucket)["Contents"]}
    assert set(DANGEROUS) <= listed  # S3 keeps these keys as they are
    reads: list[str] = []
    s3_definitions.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: reads.append(params["url_path"])
    )
    emitted()

    updater = make_updater(extra_urls=(url,), findings_topic_arn=findings_topic.arn, sns_client=findings_topic.sns)
    with pytest.raises(CustomSignaturesRejected):
        updater.run()

    assert not [path for path in reads if "/custom/" in path], "a rejected name is never downloaded"
    [(body, _)] = findings_topic.messages()
    reasons = {r["key"]: r["reason"] for r in body["rejected"]}
    assert set(reasons) == set(DANGEROUS)
    for key, reason in DANGEROUS.items():
        assert reason in reasons[key], (key, reasons[key])
    assert read_manifest(s3_definitions, definitions_bucket) == previous
    assert emitted()["CustomSignaturesRejected"] == [len(DANGEROUS)]
    assert not (updater.paths.work_dir.parent / "x.ndb").exists()


@pytest.mark.parametrize(
    ("name", "allow_listing", "problem"),
    [
        ("ok.hdb", False, None),
        ("Team_IOCs-2026.ldb", False, None),
        ("rules.yara", False, None),
        ("ok.sfp", True, None),
        ("ok.ign2", True, None),
        ("ok.ign2", False, "allow-listing"),
        ("old.ign", True, "deprecated"),
        ("Main.ndb", False, "official database"),
        ("bytecode.ldb", False, "official database"),
        ("x" * 140 + ".ndb", False, "plain file name"),
        ("a b.ndb", False, "plain file name"),
        ("..ndb", False, "plain file name"),
        ("x.ndb\n", False, "plain file name"),
        ("cert.crb", False, "certificate"),
        ("phish.wdb", False, "not a signature format"),
    ],
)
def test_name_rules(name: str, allow_listing: bool, problem: str | None) -> None:
    found = name_problem(name, allow_listing=allow_listing)
    assert (found is None) if problem is None else (found is not None and problem in found), found


def test_allow_listing_files_are_published_only_when_enabled_and_then_pass_content(
    make_updater, mirror, tmp_path: Path, s3_definitions, definitions_bucket: str, drop_custom
) -> None:
    url = mirror.put("official.ndb", EICAR_SIGNATURE.encode())
    drop_custom("custom/released.fp", f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:Released-Eicar\n".encode())
    with pytest.raises(CustomSignaturesRejected, match="allow-listing"):
        make_updater(extra_urls=(url,)).run()
    assert read_manifest(s3_definitions, definitions_bucket) is None

    manifest = make_updater(extra_urls=(url,), custom_allow_listing=True).run().manifest

    assert [f.name for f in manifest.custom_sources] == ["released.fp"]
    directory = download_set(s3_definitions, definitions_bucket, manifest, tmp_path / "sets")
    daemon = start_daemon(tmp_path / "clamd", database_dir=directory)
    try:
        assert scan(daemon, EICAR) == (ScanStatus.CLEAN, None)
    finally:
        daemon.stop()


def test_a_file_that_loads_alone_but_not_with_the_set_is_rejected(
    make_updater, mirror, s3_definitions, definitions_bucket: str, drop_custom, findings_topic
) -> None:
    # Two YARA files declaring the same rule: each loads alone; together libclamav drops the second (exit 0).
    url = mirror.put("official.ndb", EICAR_SIGNATURE.encode())
    drop_custom("custom/a-beacon.yar", BEACON_YAR.encode())
    drop_custom("custom/b-beacon.yar", BEACON_YAR.encode())
    updater = make_updater(extra_urls=(url,), findings_topic_arn=findings_topic.arn, sns_client=findings_topic.sns)

    with pytest.raises(CustomSignaturesRejected) as raised:
        updater.run()

    [rejection] = raised.value.rejections
    assert rejection.key == "custom/b-beacon.yar"
    assert "does not load with the rest of the set" in rejection.reason and "duplicate" in rejection.reason
    [(body, _)] = findings_topic.messages()
    assert [r["key"] for r in body["rejected"]] == ["custom/b-beacon.yar"]
    assert body["published"] is None
    assert read_manifest(s3_definitions, definitions_bucket) is None


def test_custom_files_are_verified_by_the_scanner_like_any_other(
    make_updater, mirror, tmp_path: Path, s3_definitions, definitions_bucket: str, drop_custom
) -> None:
    drop_custom("custom/webshells.ndb", WEBSHELL_NDB.encode())
    manifest = make_updater(extra_urls=(mirror.put("official.ndb", EICAR_SIGNATURE.encode()),)).run().manifest
    entry = manifest.file("webshells.ndb")
    tampered = dataclasses.replace(
        manifest,
        files=tuple(dataclasses.replace(f, sha256="0" * 64) if f == entry else f for f in manifest.files),
    )
    with pytest.raises(DefinitionsError, match=r"webshells\.ndb: sha256"):
        download_set(s3_definitions, definitions_bucket, tampered, tmp_path / "sets")
    assert list((tmp_path / "sets").iterdir()) == []


def test_merged_load_messages_are_matched_to_the_file_they_name(tmp_path: Path) -> None:
    lines = (f"LibClamAV Error: yyerror(): {tmp_path}/a.yara line 7 duplicate identifier",)
    report = LoadReport(returncode=0, known=3, problems=lines, output="")
    assert report.problems_about(tmp_path / "a.yara") == lines
    assert report.problems_about(tmp_path / "a.yar") == ()


def test_the_manifest_records_origins_and_reads_manifests_without_them() -> None:
    document = {
        "schema": 1,
        "database_version": "local-0123456789ab",
        "engine": "ClamAV 1.4.6",
        "created_at": "2026-11-27T06:00:12Z",
        "files": [
            {"name": "official.ndb", "key": "databases/official.ndb", "size": 1, "sha256": "a" * 64},
            {
                "name": "team.ndb",
                "key": "databases/team.ndb",
                "size": 2,
                "sha256": "b" * 64,
                "source_key": "custom/team.ndb",
                "source_version_id": "v1",
            },
        ],
    }
    manifest = Manifest.from_json(json.dumps(document).encode())
    assert [(f.name, f.source_key, f.source_version_id) for f in manifest.custom_sources] == [
        ("team.ndb", "custom/team.ndb", "v1")
    ]
    files = json.loads(manifest.to_json())["files"]
    assert "source_key" not in files[0] and files[1]["source_key"] == "custom/team.ndb"
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_engine_labels(tmp_path: Path) -> None:
    reply = "ClamAV 1.4.6/27000/Thu Nov 26 04:05:00 2026"
    directory = tmp_path / "set"
    directory.mkdir()
    (directory / "daily.cvd").write_bytes(b"ClamAV-VDB:container")
    (directory / "freshclam.dat").write_bytes(b"state")
    assert engine_label(reply, directory) == reply
    (directory / "team.yar").write_text(BEACON_YAR)
    with_yara = engine_label(reply, directory)
    assert re.fullmatch(re.escape(reply) + r"\+custom-[0-9a-f]{12}", with_yara)
    (directory / "team.yar").write_text(BEACON_YAR + "\n")
    assert engine_label(reply, directory) not in {reply, with_yara}, "the label changes with the content"
    suffix = engine_label(reply, directory).removeprefix(reply)
    long = engine_label("ClamAV 1.4.6/27000/" + "x" * 300, directory)
    assert len(long) == 256 and long.endswith(suffix), "the reply is cut, never the digest"
    # Without a CVD the label is the manifest's database_version of the same files.
    (directory / "daily.cvd").unlink()
    (directory / "freshclam.dat").unlink()
    digest = hashlib.sha256((directory / "team.yar").read_bytes()).hexdigest()
    assert engine_label("ClamAV 1.4.6", directory) == f"ClamAV 1.4.6/{database_version([('team.yar', digest, None)])}"


def test_the_lambda_handler_tells_the_findings_topic_about_a_rejected_file(
    monkeypatch: pytest.MonkeyPatch,
    mirror,
    tmp_path: Path,
    endpoint: str,
    s3_definitions,
    definitions_bucket: str,
    drop_custom,
    findings_topic,
) -> None:
    drop_custom("custom/broken.ndb", b"Broken-Sig:0:*:zz\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("DEFINITIONS_BUCKET", definitions_bucket)
    monkeypatch.setenv("DEFINITIONS_MIRROR_URL", mirror.url)
    monkeypatch.setenv("DEFINITIONS_DATABASES", "none")
    monkeypatch.setenv("DEFINITIONS_EXTRA_URLS", mirror.put("official.ndb", EICAR_SIGNATURE.encode()))
    monkeypatch.setenv("DEFINITIONS_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("FINDINGS_TOPIC_ARN", findings_topic.arn)
    update.set_updater(None)
    try:
        with pytest.raises(CustomSignaturesRejected):
            update.lambda_handler({"source": "aws.events"}, None)
    finally:
        update.set_updater(None)
    [(body, _)] = findings_topic.messages()
    assert [r["key"] for r in body["rejected"]] == ["custom/broken.ndb"]
    listed = s3_definitions.list_objects_v2(Bucket=definitions_bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["custom/broken.ndb"], "nothing was published"
