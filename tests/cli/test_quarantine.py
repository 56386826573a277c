"""`scanner quarantine list|show|release|purge` against the running local pipeline (in-process main(argv))."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from scanner.cli import main
from scanner.cli.aws import explain
from scanner.cli.errors import EXIT_ERROR, EXIT_OK, EXIT_REFUSED
from scanner.cli.quarantine import parse_since
from tests.cli.helpers import exists, tags_of
from tests.cli.local_process import LocalProcess, Ready
from tests.support.clamd import EICAR, EICAR_NAME


def run(capsys: pytest.CaptureFixture[str], ready: Ready, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([*argv, "--endpoint-url", ready.endpoint])
    out, err = capsys.readouterr()
    return code, out, err


def quarantine_one(local_pipeline: LocalProcess, ready: Ready, local_s3: Any, key: str, body: bytes = EICAR) -> str:
    """Upload an infected object, wait until it is quarantined, return its quarantine key."""
    local_s3.put_object(Bucket=ready.upload, Key=key, Body=body)
    verdict = local_pipeline.verdicts(ready.upload, {key}, timeout_s=30)[key]
    assert verdict["status"] == "INFECTED"
    return f"{ready.upload}/{key}"


def test_list_shows_quarantined_objects_with_filters(
    local_pipeline: LocalProcess, ready: Ready, local_s3: Any, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    qkey = quarantine_one(local_pipeline, ready, local_s3, f"{unique}/invoice 04.pdf.exe")

    code, out, _ = run(capsys, ready, "quarantine", "list", "--json", "--source-bucket", ready.upload)
    assert code == EXIT_OK
    entry = next(e for e in json.loads(out) if e["key"] == qkey)
    assert entry["sourceBucket"] == ready.upload
    assert entry["sourceKey"] == f"{unique}/invoice 04.pdf.exe"
    assert entry["signature"] == EICAR_NAME
    assert entry["size"] == len(EICAR)
    assert entry["status"] == "INFECTED"

    code, out, _ = run(capsys, ready, "quarantine", "list", "--since", "1h")
    assert code == EXIT_OK
    assert "QUARANTINED" in out.splitlines()[0]
    row = next(line for line in out.splitlines() if qkey in line)
    assert EICAR_NAME in row
    assert f"{ready.upload}/{unique}/invoice 04.pdf.exe" in row

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    code, out, _ = run(capsys, ready, "quarantine", "list", "--json", "--since", tomorrow)
    assert (code, json.loads(out)) == (EXIT_OK, [])
    code, out, _ = run(capsys, ready, "quarantine", "list", "--json", "--source-bucket", "some-other-bucket")
    assert (code, json.loads(out)) == (EXIT_OK, [])


def test_show_prints_provenance_and_tags(
    local_pipeline: LocalProcess, ready: Ready, local_s3: Any, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = f"{unique}/résumé v2.doc"
    qkey = quarantine_one(local_pipeline, ready, local_s3, key)

    code, out, _ = run(capsys, ready, "quarantine", "show", qkey, "--json")
    assert code == EXIT_OK
    shown = json.loads(out)
    assert shown["sourceKey"] == key
    assert shown["recordFound"] is True
    assert shown["sha256"] == hashlib.sha256(EICAR).hexdigest()
    assert shown["tags"]["scan-status"] == "INFECTED"
    assert shown["tags"]["scan-detail"] == EICAR_NAME
    assert shown["engine"].startswith("ClamAV ")
    assert shown["versions"] == 1

    code, out, _ = run(capsys, ready, "quarantine", "show", f"s3://{ready.quarantine}/{qkey}")
    assert code == EXIT_OK
    assert f"source          s3://{ready.upload}/{key}" in out
    assert f"scan-detail = {EICAR_NAME}" in out


def test_release_of_a_false_positive_restores_it_tagged_released(
    local_pipeline: LocalProcess, ready: Ready, local_s3: Any, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = f"{unique}/vendor tool.exe"
    local_s3.put_object(
        Bucket=ready.upload,
        Key=key,
        Body=EICAR,
        Tagging="owner=alice",
        Metadata={"origin": "vendor"},
        ContentType="application/x-msdownload",
        ContentDisposition='attachment; filename="vendor tool.exe"',
        CacheControl="no-store",
    )
    assert local_pipeline.verdicts(ready.upload, {key}, timeout_s=30)[key]["status"] == "INFECTED"
    qkey = f"{ready.upload}/{key}"
    reason = "vendor's signed test file (ticket #4)"

    code, out, err = run(capsys, ready, "quarantine", "release", qkey, "--reason", reason, "--json")

    assert code == EXIT_OK, err
    audit = json.loads(out)
    assert audit["action"] == "release"
    assert audit["reason"] == reason
    assert audit["by"] == "arn:aws:sts::123456789012:user/moto"
    assert audit["restored"] == {"bucket": ready.upload, "key": key, "versionId": None}
    restored = tags_of(local_s3, ready.upload, key)
    assert restored["scan-status"] == "RELEASED"
    assert restored["scan-released-by"] == audit["by"]
    assert restored["scan-release-reason"] == "vendor_s signed test file _ticket _4_"
    assert restored["scan-detail"] == EICAR_NAME
    assert restored["owner"] == "alice", "the uploader's tags come back"
    got = local_s3.get_object(Bucket=ready.upload, Key=key)
    assert got["Body"].read() == EICAR
    assert got["Metadata"] == {"origin": "vendor"}
    assert (got["ContentType"], got["CacheControl"]) == ("application/x-msdownload", "no-store")
    assert got["ContentDisposition"] == 'attachment; filename="vendor tool.exe"'

    # The copy back fires the upload bucket's notification: the scanner scans it, finds the allow-list entry for
    # exactly this content and signature, and tags it RELEASED instead of quarantining it again.
    local_pipeline.wait_json(
        lambda d: d.get("type") == "verdict" and d["key"] == key and d["status"] == "RELEASED",
        30,
        "the scanner finding the release",
    )
    assert exists(local_s3, ready.upload, key)
    assert tags_of(local_s3, ready.upload, key)["scan-status"] == "RELEASED"
    marked = tags_of(local_s3, ready.quarantine, qkey)
    assert marked["scan-status"] == "RELEASED"
    assert marked["scan-detail"] == EICAR_NAME, "the quarantine copy keeps its scan tags for audit"
    assert marked["scan-released-by"] == audit["by"]

    code, _, err = run(capsys, ready, "quarantine", "release", qkey, "--reason", "again")
    assert code == EXIT_ERROR
    assert "exists" in err and "--overwrite" in err
    code, _, err = run(capsys, ready, "quarantine", "release", qkey, "--reason", "again", "--overwrite")
    assert code == EXIT_REFUSED, "overwriting asks for confirmation; no terminal and no --yes refuses"


def test_purge_is_refused_without_yes_then_deletes_every_version(
    local_pipeline: LocalProcess, ready: Ready, local_s3: Any, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = f"{unique}/twice.bin"
    qkey = quarantine_one(local_pipeline, ready, local_s3, key)
    quarantine_one(local_pipeline, ready, local_s3, key, body=EICAR + b"\n")  # a second version of the same key

    code, _, err = run(capsys, ready, "quarantine", "purge", qkey)
    assert code == EXIT_REFUSED
    assert "--yes" in err
    assert exists(local_s3, ready.quarantine, qkey)

    code, out, _ = run(capsys, ready, "quarantine", "purge", qkey, "--yes", "--json")
    assert code == EXIT_OK
    purged = {p["key"]: p["versions"] for p in json.loads(out)["purged"]}
    assert purged.pop(qkey) == 2
    assert len(purged) == 2 and all(k.startswith("_records/") for k in purged), "and both provenance records"
    assert not local_s3.list_objects_v2(Bucket=ready.quarantine, Prefix=next(iter(purged)).rsplit("/", 1)[0]).get(
        "Contents"
    )
    versions = local_s3.list_object_versions(Bucket=ready.quarantine, Prefix=qkey)
    assert versions.get("Versions", []) == [] and versions.get("DeleteMarkers", []) == []

    code, _, err = run(capsys, ready, "quarantine", "show", qkey)
    assert code == EXIT_ERROR
    assert "no quarantined object" in err


def test_purge_older_than_is_limited_to_a_source_bucket(
    local_pipeline: LocalProcess,
    ready: Ready,
    local_s3: Any,
    scratch_bucket: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local_s3.put_object(Bucket=scratch_bucket, Key="old/eicar.txt", Body=EICAR)
    code, _, err = run(capsys, ready, "scan", f"s3://{scratch_bucket}/")
    assert code == EXIT_OK, err
    local_pipeline.verdicts(scratch_bucket, {"old/eicar.txt"}, timeout_s=30)
    others = [
        o["Key"]
        for o in local_s3.list_objects_v2(Bucket=ready.quarantine).get("Contents", [])
        if not o["Key"].startswith("_records/")
    ]

    code, _, _ = run(capsys, ready, "quarantine", "purge", "--older-than", "1", "--source-bucket", scratch_bucket)
    assert code == EXIT_OK, "nothing is a day old: nothing to confirm"
    code, out, _ = run(
        capsys, ready, "quarantine", "purge", "--older-than", "0", "--source-bucket", scratch_bucket, "--yes", "--json"
    )

    assert code == EXIT_OK
    purged = [p for p in json.loads(out)["purged"] if not p["key"].startswith("_records/")]
    assert purged == [{"key": f"{scratch_bucket}/old/eicar.txt", "versions": 1}]
    remaining = [o["Key"] for o in local_s3.list_objects_v2(Bucket=ready.quarantine).get("Contents", [])]
    assert f"{scratch_bucket}/old/eicar.txt" not in remaining
    assert set(others) - {f"{scratch_bucket}/old/eicar.txt"} <= set(remaining)


def test_clear_errors_for_missing_bucket_and_key(ready: Ready, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, ready, "quarantine", "list", "--bucket", "no-such-bucket")
    assert (code, err.strip()) == (EXIT_ERROR, "scanner: list: bucket no-such-bucket does not exist")
    code, _, err = run(capsys, ready, "quarantine", "show", "local-uploads/never-there")
    assert code == EXIT_ERROR
    assert err.strip() == f"scanner: show: no quarantined object 'local-uploads/never-there' in {ready.quarantine}"
    code, _, err = run(capsys, ready, "quarantine", "release", "x/y", "--reason", "r", "--bucket", "no-such-bucket")
    assert (code, err.strip()) == (EXIT_ERROR, "scanner: release: bucket no-such-bucket does not exist")


def test_access_denied_is_named() -> None:
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")
    message = str(explain(denied, action="show", bucket="quarantine", key="a/b"))
    assert message == "show: access denied on s3://quarantine/a/b for this caller (AccessDenied)"


def test_since_accepts_durations_and_dates() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("36h", now) == now - timedelta(hours=36)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-01T10:00:00+02:00", now) == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
