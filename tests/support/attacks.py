"""Shared by the attack tests: the release allow-list on moto, a runtime that consults it, S3/DynamoDB refusals
injected into one boto3 client, and samples that hide EICAR from a scanner that does not look closely."""

from __future__ import annotations

import dataclasses
import gzip
import io
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from scanner import allowlist
from scanner.runtime import ScannerRuntime
from tests.support.clamd import EICAR

SAMPLES = Path(__file__).resolve().parents[1] / "faults" / "samples"
"""Committed samples that need a tool to build (7zz, zstd, brotli, xz): tests/faults/samples/make.sh."""


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def payload() -> bytes:
    """The samples' payload: EICAR between letters (tests/faults/samples/make_payload.py, same bytes)."""
    import random

    rng = random.Random(7)
    prefix = bytes(rng.choice(b"etaoinshrdlu") for _ in range(3000))
    return prefix + EICAR + prefix[::-1]


def create_allow_list(dynamodb: Any, name: str | None = None) -> str:
    """The release allow-list table, shaped as the stack and the local pipeline create it."""
    name = name or f"allow-list-{uuid.uuid4().hex[:10]}"
    allowlist.create_table(dynamodb, name)
    return name


def with_allow_list(runtime: ScannerRuntime, dynamodb: Any, table: str | None = None) -> ScannerRuntime:
    """The runtime, consulting a (fresh) allow-list table on the INFECTED path, as deployed in quarantine mode."""
    table = table or create_allow_list(dynamodb)
    settings = dataclasses.replace(runtime.settings, allow_list_table=table)
    return dataclasses.replace(runtime, settings=settings, dynamodb_client=dynamodb)


OTHER_SIGNATURE = "Other-Test-Signature"


@contextmanager
def other_signature(runtime: ScannerRuntime, work_dir: Path) -> Iterator[ScannerRuntime]:
    """The runtime on a clamd of its own whose only database names EICAR `Other-Test-Signature`: a newer
    database that finds the same bytes under another detection."""
    from tests.faults.harness import own_clamd

    database = work_dir / "other-db"
    database.mkdir()
    (database / "other.ndb").write_text(f"{OTHER_SIGNATURE}:0:*:{EICAR.hex()}\n")
    daemon = own_clamd(work_dir / "other-clamd", database_dir=database)
    try:
        settings = dataclasses.replace(runtime.settings, clamd=daemon.settings)
        yield dataclasses.replace(runtime, daemon=daemon, settings=settings)
    finally:
        daemon.stop()


@dataclass
class Refusal:
    """Counts the calls it refused."""

    refused: int = 0


@contextmanager
def refused(
    client: Any,
    operation: str,
    code: str = "AccessDenied",
    *,
    times: int | None = None,
    when: Any = None,
) -> Iterator[Refusal]:
    """Answer `operation` on this client with a ClientError `code` (`times` times, or while the block runs), for
    the calls whose API parameters satisfy `when(params)` (default: all). Raised before the request is built,
    so it never reaches moto, and botocore does not retry it."""
    refusal = Refusal()
    service = client.meta.service_model.service_name
    unique = f"refuse-{operation}-{uuid.uuid4().hex}"

    def refuse(params: dict[str, Any], **kwargs: Any) -> None:
        if (times is not None and refusal.refused >= times) or (when is not None and not when(params)):
            return
        refusal.refused += 1
        raise ClientError({"Error": {"Code": code, "Message": "refused by the attack test"}}, operation)

    event = f"before-parameter-build.{service}.{operation}"
    client.meta.events.register(event, refuse, unique_id=unique)
    try:
        yield refusal
    finally:
        client.meta.events.unregister(event, unique_id=unique)


# Content-Encoding samples: what a browser, CloudFront or a presigned URL decodes transparently.


def gzipped(data: bytes, *, comment: bytes | None = None) -> bytes:
    if comment is None:
        return gzip.compress(data, mtime=0)
    # FLG.FCOMMENT (bit 4): a zero-terminated comment after the header, which every decoder skips.
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = raw.compress(data) + raw.flush()
    header = b"\x1f\x8b\x08\x10" + b"\0\0\0\0" + b"\x02\xff" + comment + b"\0"
    trailer = zlib.crc32(data).to_bytes(4, "little") + (len(data) & 0xFFFFFFFF).to_bytes(4, "little")
    return header + body + trailer


def raw_deflate(data: bytes) -> bytes:
    """Deflate without the zlib wrapper: what some servers send as `deflate`, and browsers accept."""
    encoder = zlib.compressobj(9, zlib.DEFLATED, -15)
    return encoder.compress(data) + encoder.flush()


# Archives ClamAV 1.4 answers OK for without looking inside.


def zip_of(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_without_central_directory(members: dict[str, bytes]) -> bytes:
    """Local headers and data only: the central directory and its end record cut off."""
    data = zip_of(members)
    return data[: data.rfind(b"PK\x01\x02")]
