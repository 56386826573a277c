"""Downloading a published set: parallel, pinned to the manifest's versions, verified, renamed into place."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from scanner.definitions.fetch import download_set, prune, read_manifest
from scanner.definitions.manifest import MANIFEST_KEY, Manifest
from scanner.definitions.publish import publish_directory
from scanner.exceptions import DefinitionsError
from tests.definitions.databases import EICAR_SIGNATURE, HOT_SIGNATURE
from tests.support.clamd import SIGNATURES


def publish(s3: Any, bucket: str, tmp_path: Path, files: dict[str, bytes]) -> Manifest:
    source = tmp_path / f"source-{len(list(tmp_path.glob('source-*')))}"
    source.mkdir()
    for name, data in files.items():
        (source / name).write_bytes(data)
    return publish_directory(s3, bucket, source, previous=None, engine="ClamAV 1.4.6").manifest


def test_files_are_downloaded_in_parallel_into_a_directory_named_after_the_set(
    s3_definitions, definitions_bucket: str, tmp_path: Path
) -> None:
    files = {"a.ndb": EICAR_SIGNATURE.encode(), "b.hdb": (SIGNATURES / "test.hdb").read_bytes()}
    manifest = publish(s3_definitions, definitions_bucket, tmp_path, files)
    # Both downloads must be in flight at once to get past the barrier.
    barrier = threading.Barrier(2, timeout=10)

    def both_in_flight(**_: Any) -> None:
        barrier.wait()  # a hook returning a value would replace the response

    s3_definitions.meta.events.register("before-call.s3.GetObject", both_in_flight)

    directory = download_set(s3_definitions, definitions_bucket, manifest, tmp_path / "sets", workers=4)

    assert directory == tmp_path / "sets" / manifest.directory_name
    assert directory.name.startswith("set-local-")
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == files
    assert sorted(p.name for p in (tmp_path / "sets").iterdir()) == [directory.name]


def test_the_manifest_pins_versions_so_a_later_upload_cannot_mix_into_the_set(
    s3_definitions, definitions_bucket: str, tmp_path: Path
) -> None:
    old = publish(s3_definitions, definitions_bucket, tmp_path, {"custom.ndb": EICAR_SIGNATURE.encode()})
    publish(s3_definitions, definitions_bucket, tmp_path, {"custom.ndb": (EICAR_SIGNATURE + HOT_SIGNATURE).encode()})
    directory = download_set(s3_definitions, definitions_bucket, old, tmp_path / "sets")
    assert (directory / "custom.ndb").read_text() == EICAR_SIGNATURE


@pytest.mark.parametrize("field", ["sha256", "size"])
def test_a_file_that_does_not_match_the_manifest_fails_the_whole_set_and_leaves_nothing(
    field: str, s3_definitions, definitions_bucket: str, tmp_path: Path
) -> None:
    files = {"a.ndb": EICAR_SIGNATURE.encode(), "b.ndb": HOT_SIGNATURE.encode()}
    manifest = publish(s3_definitions, definitions_bucket, tmp_path, files)
    wrong = {"sha256": "f" * 64} if field == "sha256" else {"size": manifest.files[1].size + 1}
    bad = dataclasses.replace(manifest, files=(manifest.files[0], dataclasses.replace(manifest.files[1], **wrong)))

    with pytest.raises(DefinitionsError, match=r"b\.ndb"):
        download_set(s3_definitions, definitions_bucket, bad, tmp_path / "sets")
    assert list((tmp_path / "sets").iterdir()) == []


def test_read_manifest(s3_definitions, definitions_bucket: str, tmp_path: Path, make_bucket) -> None:
    assert read_manifest(s3_definitions, definitions_bucket) is None
    manifest = publish(s3_definitions, definitions_bucket, tmp_path, {"custom.ndb": EICAR_SIGNATURE.encode()})
    assert read_manifest(s3_definitions, definitions_bucket) == manifest
    s3_definitions.put_object(Bucket=definitions_bucket, Key=MANIFEST_KEY, Body=b"{not json")
    with pytest.raises(DefinitionsError, match="not JSON"):
        read_manifest(s3_definitions, definitions_bucket)
    with pytest.raises(DefinitionsError, match="NoSuchBucket"):
        read_manifest(s3_definitions, "definitions-no-such-bucket")


def test_prune_removes_only_the_directories_it_owns(tmp_path: Path) -> None:
    for name in ("set-daily-1-aaa", "set-daily-2-bbb", ".partial-x1", "clamd", "notes"):
        (tmp_path / name).mkdir()
    removed = prune(tmp_path, keep=[tmp_path / "set-daily-2-bbb"])
    assert sorted(p.name for p in removed) == [".partial-x1", "set-daily-1-aaa"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clamd", "notes", "set-daily-2-bbb"]
