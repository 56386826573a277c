"""Attacks on the release flow: `scanner quarantine release` (in process, against the moto server) and the scanner
(real clamd) that must honour exactly what was released, where, for which detection, and nothing else.

A release is decided by content: the allow-list holds the SHA-256 of the stored bytes, the scope (the source
bucket/key, or global), the signature and the Content-Encoding. A RELEASED tag on its own is never trusted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from scanner import constants as c
from scanner.actions import quarantine_key
from scanner.allowlist import AllowList
from scanner.cli import main
from scanner.cli.aws import Aws
from scanner.cli.errors import EXIT_ERROR, EXIT_OK, CliError
from scanner.cli.release import release
from scanner.provenance import record_key
from scanner.runtime import InvocationFailed
from tests.cli.helpers import exists, tags_of
from tests.faults.injection import error_response
from tests.support.attacks import OTHER_SIGNATURE, gzipped, other_signature, payload, refused
from tests.support.clamd import EICAR, EICAR_NAME
from tests.support.events import put_and_event, s3_event, s3_record

tags = tags_of


def evil(label: str = "") -> bytes:
    return EICAR + f"\n{label}{uuid.uuid4()}\n".encode()


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], endpoint: str, runtime: Any):
    """cli(*argv) -> (exit code, stdout, stderr) of `scanner quarantine ...` on the runtime's quarantine bucket."""

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        extra = ["--bucket", runtime.settings.quarantine_bucket, "--endpoint-url", endpoint]
        if argv[0] == "release":
            extra += ["--allow-list-table", runtime.settings.allow_list_table]
        code = main(["quarantine", *argv, *extra])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def scan(runtime: Any, event: dict[str, Any]) -> dict[str, Any]:
    result = runtime.handle(event)
    assert len(result["statuses"]) == 1, result
    return result["statuses"][0]


def quarantined(runtime: Any, s3: Any, bucket: str, key: str, content: bytes, **put_args: Any) -> tuple[str, str]:
    """Upload infected content, let the scanner quarantine it; (quarantine key, copy version)."""
    outcome = scan(runtime, put_and_event(s3, bucket, key, content, **put_args))
    assert outcome["status"] == "INFECTED", outcome
    assert not exists(s3, bucket, key)
    qkey = quarantine_key(bucket, key)
    version = s3.head_object(Bucket=runtime.settings.quarantine_bucket, Key=qkey)["VersionId"]
    return qkey, version


def restored_event(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    """The notification S3 sends when the release copies the object back."""
    head = s3.head_object(Bucket=bucket, Key=key)
    return s3_event(
        s3_record(bucket, key, size=head["ContentLength"], version_id=head.get("VersionId"), etag=head["ETag"])
    )


def released_here(runtime: Any, s3: Any, cli: Any, bucket: str, key: str, content: bytes) -> str:
    """Quarantined, released by the CLI, and the restored object's rescan RELEASED; the quarantine key."""
    qkey, _ = quarantined(runtime, s3, bucket, key, content)
    code, _, err = cli("release", qkey, "--reason", "reviewed")
    assert code == EXIT_OK, err
    assert scan(runtime, restored_event(s3, bucket, key))["status"] == "RELEASED"
    return qkey


def entries(runtime: Any, content: bytes) -> list[Any]:
    return AllowList(runtime.dynamodb_client, runtime.settings.allow_list_table).entries(sha(content))


def test_release_restores_everything_the_uploader_set_and_the_rescan_releases_it(runtime, make_bucket, s3, cli) -> None:
    bucket = make_bucket(versioned=True)
    content = evil()
    expires = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    kms_key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    headers = {
        "ContentType": "application/x-msdownload",
        "ContentDisposition": 'attachment; filename="vendor tool.exe"',
        "CacheControl": "no-store",
        "ContentLanguage": "de-CH",
        "Expires": expires,
    }
    qkey, _ = quarantined(
        runtime,
        s3,
        bucket,
        "vendor/tool.exe",
        content,
        Metadata={"origin": "vendor", "ticket": "4711"},
        Tagging="owner=alice&project=apollo",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=kms_key,
        **headers,
    )

    code, out, err = cli("release", qkey, "--reason", "vendor's signed test file", "--json")

    assert code == EXIT_OK, err
    got = s3.get_object(Bucket=bucket, Key="vendor/tool.exe")
    assert got["Body"].read() == content
    assert got["Metadata"] == {"origin": "vendor", "ticket": "4711"}
    for name, value in headers.items():
        assert got.get(name) == value, f"{name}: {got.get(name)!r} != {value!r}"
    assert (got.get("ServerSideEncryption"), got.get("SSEKMSKeyId")) == ("aws:kms", kms_key)
    restored = tags(s3, bucket, "vendor/tool.exe")
    assert (restored["owner"], restored["project"], restored[c.TAG_STATUS]) == ("alice", "apollo", "RELEASED")

    outcome = scan(runtime, restored_event(s3, bucket, "vendor/tool.exe"))

    assert (outcome["status"], outcome["detail"]) == ("RELEASED", EICAR_NAME)
    after = tags(s3, bucket, "vendor/tool.exe")
    assert (after["owner"], after["project"], after[c.TAG_STATUS]) == ("alice", "apollo", "RELEASED")
    assert after[c.TAG_RELEASED_BY] == json.loads(out)["by"]


def test_release_restores_the_content_encoding_and_the_rescan_releases_the_decoded_detection(
    runtime, make_bucket, s3, cli
) -> None:
    """A gzip-encoded EICAR is found in the decoded stream (rule 2), quarantined with its Content-Encoding, and
    restored with it: the rescan decodes it again and finds the release (same bytes, same encoding)."""
    bucket = make_bucket()
    stored = gzipped(payload() + uuid.uuid4().bytes)
    qkey, _ = quarantined(runtime, s3, bucket, "page.html", stored, ContentEncoding="gzip", ContentType="text/html")

    code, _, err = cli("release", qkey, "--reason", "false positive")

    assert code == EXIT_OK, err
    got = s3.get_object(Bucket=bucket, Key="page.html")
    assert (got["Body"].read(), got["ContentEncoding"], got["ContentType"]) == (stored, "gzip", "text/html")
    assert scan(runtime, restored_event(s3, bucket, "page.html"))["status"] == "RELEASED"


def test_release_writes_the_allow_list_and_marks_the_copy_before_the_object_reappears(
    runtime, make_bucket, s3, endpoint
) -> None:
    bucket = make_bucket()
    qkey, _ = quarantined(runtime, s3, bucket, "a.exe", evil())
    aws = Aws(endpoint_url=endpoint)
    calls: list[str] = []
    for service, operations in {"dynamodb": ["PutItem"], "s3": ["PutObjectTagging", "CopyObject"]}.items():
        for operation in operations:
            aws.client(service).meta.events.register(
                f"before-parameter-build.{service}.{operation}",
                lambda params, operation=operation, **kw: calls.append(f"{operation}:{params.get('Bucket', '')}"),
            )

    release(
        aws,
        runtime.settings.quarantine_bucket,
        qkey,
        allow_list_table=runtime.settings.allow_list_table,
        reason="ok",
        version_id=None,
        everywhere=False,
        overwrite=False,
        assume_yes=False,
    )

    assert calls == ["PutItem:", f"PutObjectTagging:{runtime.settings.quarantine_bucket}", f"CopyObject:{bucket}"]


def run_release(runtime: Any, aws: Any, qkey: str, **overrides: Any) -> Any:
    args = dict(
        allow_list_table=runtime.settings.allow_list_table,
        reason="false positive",
        version_id=None,
        everywhere=False,
        overwrite=False,
        assume_yes=False,
    )
    return release(aws, runtime.settings.quarantine_bucket, qkey, **{**args, **overrides})


def test_a_failed_copy_back_leaves_the_release_recorded_and_a_rerun_restores(
    runtime, make_bucket, s3, endpoint
) -> None:
    bucket = make_bucket()
    content = evil()
    qkey, version = quarantined(runtime, s3, bucket, "a.exe", content)
    aws = Aws(endpoint_url=endpoint)

    with refused(aws.client("s3"), "CopyObject", "InternalError"), pytest.raises(CliError, match="copy back"):
        run_release(runtime, aws, qkey)

    assert [e.scope for e in entries(runtime, content)] == [f"{bucket}/a.exe"], "the release is recorded"
    assert tags(s3, runtime.settings.quarantine_bucket, qkey, version)[c.TAG_STATUS] == "RELEASED"
    assert not exists(s3, bucket, "a.exe")

    done = run_release(runtime, aws, qkey)

    assert (done.restored_bucket, done.restored_key) == (bucket, "a.exe")
    assert s3.get_object(Bucket=bucket, Key="a.exe")["Body"].read() == content
    assert scan(runtime, restored_event(s3, bucket, "a.exe"))["status"] == "RELEASED"


def test_a_failed_allow_list_write_restores_nothing(runtime, make_bucket, s3, endpoint) -> None:
    bucket = make_bucket()
    content = evil()
    qkey, version = quarantined(runtime, s3, bucket, "a.exe", content)
    aws = Aws(endpoint_url=endpoint)

    with (
        refused(aws.client("dynamodb"), "PutItem", "AccessDeniedException"),
        pytest.raises(CliError, match="nothing was restored"),
    ):
        run_release(runtime, aws, qkey)

    assert entries(runtime, content) == []
    assert not exists(s3, bucket, "a.exe")
    assert tags(s3, runtime.settings.quarantine_bucket, qkey, version)[c.TAG_STATUS] == "INFECTED"


def test_releasing_a_non_current_quarantine_version_restores_exactly_that_version(
    runtime, make_bucket, s3, cli
) -> None:
    bucket = make_bucket()
    older, newer = evil("old"), evil("new")
    qkey, old_version = quarantined(runtime, s3, bucket, "twice.exe", older)
    quarantined(runtime, s3, bucket, "twice.exe", newer)

    code, out, err = cli("release", qkey, "--version-id", old_version, "--reason", "the first one", "--json")

    assert code == EXIT_OK, err
    assert json.loads(out)["sha256"] == sha(older)
    assert s3.get_object(Bucket=bucket, Key="twice.exe")["Body"].read() == older
    assert scan(runtime, restored_event(s3, bucket, "twice.exe"))["status"] == "RELEASED"
    # The newer content was not released: uploaded again, it is quarantined again.
    outcome = scan(runtime, put_and_event(s3, bucket, "twice.exe", newer))
    assert outcome["status"] == "INFECTED"


def test_a_release_is_scoped_to_its_source_unless_global(runtime, make_bucket, s3, cli) -> None:
    bucket, other_bucket = make_bucket(), make_bucket()
    content = evil()
    qkey, _ = quarantined(runtime, s3, bucket, "k1.exe", content)
    assert cli("release", qkey, "--reason", "here only")[0] == EXIT_OK

    for where, key in [(bucket, "k2.exe"), (other_bucket, "k1.exe")]:
        outcome = scan(runtime, put_and_event(s3, where, key, content))
        assert outcome["status"] == "INFECTED", f"released at {bucket}/k1.exe only, not at {where}/{key}"
        assert not exists(s3, where, key)

    code, _, err = cli("release", quarantine_key(bucket, "k2.exe"), "--reason", "everywhere", "--global")
    assert code == EXIT_OK, err
    outcome = scan(runtime, put_and_event(s3, make_bucket(), "anywhere.exe", content))
    assert outcome["status"] == "RELEASED"


def test_another_signature_on_released_content_is_not_released(runtime, make_bucket, s3, cli, tmp_path: Path) -> None:
    """A release covers one detection: the same bytes, found by a newer database under another signature, are
    quarantined (the reviewer never judged that detection)."""
    bucket = make_bucket()
    released_here(runtime, s3, cli, bucket, "tool.exe", evil())

    with other_signature(runtime, tmp_path) as newer:
        outcome = scan(newer, restored_event(s3, bucket, "tool.exe"))

    assert (outcome["status"], outcome["detail"]) == ("INFECTED", f"{OTHER_SIGNATURE}.UNOFFICIAL")
    assert not exists(s3, bucket, "tool.exe")


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "br"])
def test_the_same_bytes_with_another_content_encoding_are_not_released(
    runtime, make_bucket, s3, cli, encoding: str
) -> None:
    """Released as a plain .gz file (clamd unpacks it: INFECTED), then uploaded with `Content-Encoding: gzip`:
    the same stored bytes, but browsers now hand out the decoded EICAR. Never RELEASED, never CLEAN."""
    bucket = make_bucket()
    stored = gzipped(payload() + uuid.uuid4().bytes)
    qkey, _ = quarantined(runtime, s3, bucket, "archive.gz", stored, ContentType="application/gzip")
    assert cli("release", qkey, "--reason", "a known archive")[0] == EXIT_OK
    assert scan(runtime, restored_event(s3, bucket, "archive.gz"))["status"] == "RELEASED"

    outcome = scan(runtime, put_and_event(s3, bucket, "archive.gz", stored, ContentEncoding=encoding))

    assert outcome["status"] not in {"RELEASED", "CLEAN"}, outcome
    if exists(s3, bucket, "archive.gz"):
        assert tags(s3, bucket, "archive.gz")[c.TAG_STATUS] not in c.DOWNLOADABLE_STATUSES


def test_an_identity_content_encoding_is_the_same_release(runtime, make_bucket, s3, cli) -> None:
    bucket = make_bucket()
    content = evil()
    qkey, _ = quarantined(runtime, s3, bucket, "t.exe", content)
    assert cli("release", qkey, "--reason", "ok")[0] == EXIT_OK
    outcome = scan(runtime, put_and_event(s3, bucket, "t.exe", content, ContentEncoding="identity"))
    assert outcome["status"] == "RELEASED"


def test_a_tampered_quarantine_copy_is_refused_by_release(runtime, make_bucket, s3, cli) -> None:
    """An admin overwrites the copy with other bytes (a new version), even copying the provenance record
    beside it: release refuses both, restores nothing, records nothing; the genuine version is still releasable."""
    bucket = make_bucket()
    quarantine = runtime.settings.quarantine_bucket
    genuine, other = evil("genuine"), evil("tamper")
    qkey, genuine_version = quarantined(runtime, s3, bucket, "x.exe", genuine)

    tampered = s3.put_object(Bucket=quarantine, Key=qkey, Body=other, ChecksumAlgorithm="SHA256")["VersionId"]
    code, _, err = cli("release", qkey, "--reason", "looks fine")
    assert code == EXIT_ERROR and "no provenance record" in err

    record = s3.get_object(Bucket=quarantine, Key=record_key(qkey, genuine_version))["Body"].read()
    s3.put_object(Bucket=quarantine, Key=record_key(qkey, tampered), Body=record)
    code, _, err = cli("release", qkey, "--reason", "looks fine")
    assert code == EXIT_ERROR and "does not hold the content that was scanned" in err

    assert not exists(s3, bucket, "x.exe")
    assert entries(runtime, other) == [] and entries(runtime, genuine) == []
    code, _, err = cli("release", qkey, "--version-id", genuine_version, "--reason", "the real one")
    assert code == EXIT_OK, err
    assert s3.get_object(Bucket=bucket, Key="x.exe")["Body"].read() == genuine


def test_a_copy_without_a_checksum_is_refused_by_release(runtime, make_bucket, s3, cli) -> None:
    """Overwritten without a checksum (the console, an old SDK): S3 has no SHA-256 of it, so it is refused."""
    bucket = make_bucket()
    quarantine = runtime.settings.quarantine_bucket
    qkey, genuine_version = quarantined(runtime, s3, bucket, "y.exe", evil())
    tampered = s3.put_object(Bucket=quarantine, Key=qkey, Body=evil())["VersionId"]
    record = s3.get_object(Bucket=quarantine, Key=record_key(qkey, genuine_version))["Body"].read()
    s3.put_object(Bucket=quarantine, Key=record_key(qkey, tampered), Body=record)

    code, _, err = cli("release", qkey, "--reason", "r")

    assert code == EXIT_ERROR and "refusing" in err
    assert not exists(s3, bucket, "y.exe")


HOSTILE_KEYS = {
    "carriage-return": "inv.pdf\rINFECTED    fake",
    "ansi": "inv.pdf\x1b[2K\x1b[1Gfake",
    "bidi": "inv\u202eexe.pdf",
    "line-separator": "inv.pdf\u2028fake",
    "nel": "inv.pdf\x85fake",
    "tab-bell": "inv.pdf\t\x07fake",
}


def test_quarantine_list_and_show_escape_control_characters_in_keys_and_tags(runtime, make_bucket, s3, cli) -> None:
    bucket = make_bucket()
    qkeys = {}
    for label, key in HOSTILE_KEYS.items():
        qkey, _ = quarantined(runtime, s3, bucket, f"{label}/{key}", evil(), Tagging="note=a%0Db")
        qkeys[label] = qkey

    code, out, _ = cli("list", "--source-bucket", bucket)
    assert code == EXIT_OK
    lines = out.split("\n")
    assert len([line for line in lines if line]) == 1 + len(HOSTILE_KEYS) + 1, out
    assert all(line.isprintable() for line in lines), [line for line in lines if not line.isprintable()]
    # `show` counts versions with ListObjectVersions, which moto answers with a 500 for keys holding characters
    # XML 1.0 cannot carry (ESC, BEL): those two are proven by the list table above only.
    for label, qkey in qkeys.items():
        if label in {"ansi", "tab-bell"}:
            continue
        code, out, _ = cli("show", qkey)
        assert code == EXIT_OK
        assert all(line.isprintable() for line in out.split("\n")), out


def test_release_messages_escape_control_characters_in_keys(runtime, make_bucket, s3, cli) -> None:
    """Success and refusal lines of release name the source key: neither may carry its control characters."""
    bucket = make_bucket()
    key = "r/inv.pdf\rscanner: release: nothing to see\x1b[2K"
    qkey, _ = quarantined(runtime, s3, bucket, key, evil())
    s3.put_object(Bucket=bucket, Key=key, Body=b"uploaded again")

    code, out, err = cli("release", qkey, "--reason", "r")
    assert code == EXIT_ERROR and "--overwrite" in err
    assert err.rstrip("\n").isprintable(), f"a refusal printed the key raw: {err!r}"

    s3.delete_object(Bucket=bucket, Key=key)
    code, out, err = cli("release", qkey, "--reason", "r")
    assert code == EXIT_OK, err
    assert all(line.isprintable() for line in out.split("\n")), out


def test_a_new_detection_of_released_content_can_be_released_for_that_detection(
    runtime, make_bucket, s3, cli, tmp_path: Path
) -> None:
    """Released for one signature; a newer database finds it under another and quarantines it again (at the same
    quarantine key, the same bytes). The reviewer releases it again: that release must cover the new detection,
    or the object bounces back into quarantine forever."""
    bucket = make_bucket()
    qkey = released_here(runtime, s3, cli, bucket, "tool.exe", evil())

    with other_signature(runtime, tmp_path) as newer:
        assert scan(newer, restored_event(s3, bucket, "tool.exe"))["status"] == "INFECTED"
        code, out, err = cli("release", qkey, "--reason", "second review", "--json")
        assert code == EXIT_OK, err
        assert json.loads(out)["signature"] == f"{OTHER_SIGNATURE}.UNOFFICIAL", "released for the new detection"
        outcome = scan(newer, restored_event(s3, bucket, "tool.exe"))

    assert outcome["status"] == "RELEASED"


def test_an_unreachable_allow_list_keeps_the_object_infected_and_retries(runtime, make_bucket, s3, cli) -> None:
    """DynamoDB unavailable on the INFECTED path: whether it was released is unknown, so it is tagged INFECTED
    (never RELEASED on the tag's word), nothing is moved, and the retry settles it once the table answers."""
    bucket = make_bucket()
    content = evil()
    qkey, _ = quarantined(runtime, s3, bucket, "tool.exe", content)
    assert cli("release", qkey, "--reason", "ok")[0] == EXIT_OK
    event = restored_event(s3, bucket, "tool.exe")

    with (
        refused(runtime.dynamodb_client, "Query", "ProvisionedThroughputExceededException"),
        pytest.raises(InvocationFailed),
    ):
        runtime.handle(event)

    assert tags(s3, bucket, "tool.exe")[c.TAG_STATUS] == "INFECTED"
    assert exists(s3, bucket, "tool.exe"), "nothing is moved while the release is unknown"
    assert scan(runtime, event)["status"] == "RELEASED"


def test_release_never_overwrites_an_upload_that_arrived_during_the_release(runtime, make_bucket, s3, endpoint) -> None:
    """Unversioned source: the key was free when release looked (HEAD), then someone uploaded a new file there
    while the allow-list and the mark were written. The copy back must not replace it unseen (no --overwrite):
    S3 refuses a CopyObject with `If-None-Match: *` onto an existing key (412), which moto 5.2.5 does not
    implement, so the hook below answers as S3 would."""
    bucket = make_bucket()
    qkey, _ = quarantined(runtime, s3, bucket, "report.pdf", evil())
    aws = Aws(endpoint_url=endpoint)
    newer = b"the uploader's new report " + uuid.uuid4().bytes

    def upload_first(params: dict[str, Any], **kwargs: Any) -> None:
        if params.get("Bucket") == bucket:
            s3.put_object(Bucket=bucket, Key="report.pdf", Body=newer)

    def as_s3_would(request: Any, **kwargs: Any) -> Any:
        if request.headers.get("If-None-Match") in ("*", b"*") and exists(s3, bucket, "report.pdf"):
            return error_response(request.url, 412, "PreconditionFailed", "At least one of the preconditions failed")
        return None

    aws.client("s3").meta.events.register("before-parameter-build.s3.CopyObject", upload_first)
    aws.client("s3").meta.events.register("before-send.s3.CopyObject", as_s3_would)
    with contextlib.suppress(CliError):  # refusing is right; the newer upload must survive either way
        run_release(runtime, aws, qkey)

    assert s3.get_object(Bucket=bucket, Key="report.pdf")["Body"].read() == newer, "a newer upload was overwritten"
