"""`scanner local` end to end: a subprocess with moto, a real clamd and the handler, driven with boto3."""

from __future__ import annotations

import hashlib
import io
import json
import signal
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from scanner.cli.quarantined import load_record
from tests.cli.helpers import exists, tags_of
from tests.cli.local_process import REPO, LocalProcess, Ready, process_alive, processes_mentioning
from tests.support.clamd import EICAR, EICAR_NAME, TESTFILE_NAME, TESTFILES, require_binary


def zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def test_clean_upload_is_tagged_clean(local_pipeline: LocalProcess, ready: Ready, local_s3: Any, unique: str) -> None:
    key = f"{unique}/notes.txt"
    local_s3.put_object(Bucket=ready.upload, Key=key, Body=b"meeting notes\n", Tagging="owner=alice")

    verdict = local_pipeline.verdicts(ready.upload, {key}, timeout_s=30)[key]

    assert verdict["status"] == "CLEAN"
    tags = tags_of(local_s3, ready.upload, key)
    assert tags["scan-status"] == "CLEAN"
    assert tags["scan-engine"].startswith("ClamAV ")
    assert tags["owner"] == "alice"


def test_infected_uploads_move_to_quarantine_with_provenance(
    local_pipeline: LocalProcess, ready: Ready, local_s3: Any, local_client: Any, unique: str
) -> None:
    samples = {
        f"{unique}/eicar.com": (EICAR, EICAR_NAME),
        f"{unique}/nested/eicar.zip": (zipped("eicar.com", EICAR), EICAR_NAME),
        f"{unique}/clam.exe": ((TESTFILES / "clam.exe").read_bytes(), TESTFILE_NAME),
        f"{unique}/Gehälter 2026 (Entwurf)+final.exe": (EICAR, EICAR_NAME),
    }
    for key, (body, _) in samples.items():
        local_s3.put_object(Bucket=ready.upload, Key=key, Body=body)

    verdicts = local_pipeline.verdicts(ready.upload, set(samples), timeout_s=60)

    for key, (body, signature) in samples.items():
        assert verdicts[key]["status"] == "INFECTED", key
        assert verdicts[key]["detail"] == signature
        assert not exists(local_s3, ready.upload, key), f"{key} is still in the upload bucket"
        copy_key = f"{ready.upload}/{key}"
        assert verdicts[key]["quarantine"] == f"s3://{ready.quarantine}/{copy_key}"
        copy = local_s3.get_object(Bucket=ready.quarantine, Key=copy_key)
        assert copy["Body"].read() == body
        record = load_record(local_s3, ready.quarantine, copy_key, copy["VersionId"])
        assert record is not None
        assert (record.source_bucket, record.source_key, record.signature) == (ready.upload, key, signature)
        assert record.sha256 == hashlib.sha256(body).hexdigest()
        assert record.quarantined_at
        tags = tags_of(local_s3, ready.quarantine, copy_key, copy["VersionId"])
        assert tags["scan-status"] == "INFECTED"
        assert tags["scan-detail"] == signature

    sqs = local_client("sqs")
    findings_url = sqs.get_queue_url(QueueName="scanner-local-findings")["QueueUrl"]
    reported: set[str] = set()
    deadline = time.monotonic() + 20
    while not set(samples) <= reported and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=findings_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            reported.add(json.loads(message["Body"])["key"])
    assert set(samples) <= reported, "a finding per infected object on the findings topic"


def test_burst_of_200_uploads_all_reach_a_final_status(
    local_pipeline: LocalProcess, ready: Ready, local_s3: Any, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = {f"{unique}/burst/{i:03d}.{'com' if i % 20 == 0 else 'txt'}": i % 20 == 0 for i in range(200)}
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda key: local_s3.put_object(
                    Bucket=ready.upload, Key=key, Body=EICAR if keys[key] else f"object {key}\n".encode()
                ),
                keys,
            )
        )
    uploaded = time.monotonic()

    verdicts = local_pipeline.verdicts(ready.upload, set(keys), timeout_s=150)
    done = time.monotonic()

    assert {k: v["status"] for k, v in verdicts.items()} == {
        k: "INFECTED" if infected else "CLEAN" for k, infected in keys.items()
    }
    listed = {
        obj["Key"]
        for page in local_s3.get_paginator("list_objects_v2").paginate(Bucket=ready.upload, Prefix=f"{unique}/burst/")
        for obj in page.get("Contents", [])
    }
    clean = {k for k, infected in keys.items() if not infected}
    assert listed == clean, "every clean object stays, every infected one left the upload bucket"
    untagged = [k for k in clean if tags_of(local_s3, ready.upload, k).get("scan-status") != "CLEAN"]
    assert untagged == []
    for key in (k for k, infected in keys.items() if infected):
        assert exists(local_s3, ready.quarantine, f"{ready.upload}/{key}")
    with capsys.disabled():
        print(
            f"\nburst: 200 uploads in {uploaded - started:.1f} s, all verdicts after {done - started:.1f} s "
            f"({200 / (done - started):.0f} objects/s end to end)"
        )


def test_failing_message_is_received_three_times_then_redriven_to_the_dead_letter_queue(
    local_pipeline: LocalProcess, local_client: Any
) -> None:
    sqs = local_client("sqs")
    queue_url = sqs.get_queue_url(QueueName="scanner-local-events")["QueueUrl"]
    body = json.dumps({"Records": "not a list"})
    message_id = sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]

    dead = local_pipeline.wait_json(
        lambda d: d.get("type") == "dead-letter" and d["message_id"] == message_id, 30, "a dead-letter line"
    )

    assert dead["attempts"] == 3
    assert dead["error"] == "reported in batchItemFailures", "the handler failed this message alone"
    retries = [d for d in local_pipeline.json_lines() if d.get("type") == "retry" and d["message_id"] == message_id]
    assert [r["attempt"] for r in retries] == [1, 2]
    dlq_url = sqs.get_queue_url(QueueName="scanner-local-dlq")["QueueUrl"]
    bodies = [
        m["Body"]
        for m in sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    ]
    assert body in bodies, "the queue's redrive policy moves the original message to the dead-letter queue"


def test_demo_runs_the_samples_and_exits_zero(tmp_path: Path) -> None:
    require_binary("clamd")
    result = subprocess.run(
        [sys.executable, "-m", "scanner", "local", "--demo", "--port", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo: 4 of 4 verdicts as expected" in result.stdout
    table = result.stdout.split("SAMPLE", 1)[1]
    assert "FAIL" not in table
    assert table.count(" ok") == 4
    assert "Q3 résumé naïve 数据.txt" in table


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_clamd_and_the_worker(sig: signal.Signals, tmp_path: Path) -> None:
    require_binary("clamd")
    with LocalProcess(log_path=tmp_path / "local.log") as local:
        ready = local.wait_ready()
        assert process_alive(ready.clamd_pid)
        assert processes_mentioning(str(ready.work_dir)) == [ready.clamd_pid]
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=ready.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.put_object(Bucket=ready.upload, Key="hello world.txt", Body=b"hello")
        line = local.wait_for(lambda text: "hello world.txt" in text, 30, "a verdict line")
        assert line.split()[:2] == ["CLEAN", f"s3://{ready.upload}/hello"]
        assert line.endswith(" ms")

        code = local.stop(sig, timeout_s=30)

    assert code == 0, local.describe()
    assert local.lines[-1].startswith(f"STOPPED clamd_pid={ready.clamd_pid} reason={sig.name}")
    assert not process_alive(ready.clamd_pid), "clamd survived"
    assert processes_mentioning(str(ready.work_dir)) == []
    assert not ready.work_dir.exists(), "the work directory is removed"


def test_review_and_backfill_commands_never_import_moto() -> None:
    """moto is a development dependency: only `scanner local` may import it (the image has no moto)."""
    code = (
        "import sys\n"
        "from scanner.cli import main\n"
        "import scanner.handler\n"
        "for argv in (['quarantine', 'list', '--help'], ['scan', '--help'], ['local', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'moto'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
