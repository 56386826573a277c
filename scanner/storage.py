"""S3 access for one object: a pinned GET, tags, ranged reads, copies, conditional deletes. The client is passed in.

Every call after the first GET is pinned to exactly the content that GET returned: the version id in a versioned
bucket, the ETag (If-Match) where S3 allows a condition in an unversioned one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from botocore.exceptions import ClientError

from scanner.events import ObjectRef
from scanner.tags import from_tag_set, tag_set

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound", "NoSuchBucket"})
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "412"})

# Headers S3 stores with an object and hands to every client: they travel with quarantine copies and releases.
CONTENT_HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "CacheControl", "ContentLanguage", "Expires")


def error_code(error: BaseException) -> str:
    """S3's error code, or the exception's class name for anything that is not a ClientError."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__


def is_missing(error: BaseException) -> bool:
    """True when S3 says the object, version or bucket does not exist."""
    return isinstance(error, ClientError) and error_code(error) in _MISSING_CODES


def is_precondition_failed(error: BaseException) -> bool:
    """True when S3 refused a conditional request (If-Match): the key now holds other content."""
    return isinstance(error, ClientError) and error_code(error) in _PRECONDITION_CODES


def is_versioned(version_id: str | None) -> bool:
    """A real version id. Unversioned buckets answer none; suspended ones "null", a version a new PUT replaces."""
    return bool(version_id) and version_id != "null"


@dataclass(frozen=True)
class Pinned:
    """Exactly one content of one key: its version in a versioned bucket, else its ETag."""

    bucket: str
    key: str
    version_id: str | None
    etag: str

    @property
    def versioned(self) -> bool:
        return is_versioned(self.version_id)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.bucket, self.key, self.version_id if self.versioned else None)

    def args(self) -> dict[str, str]:
        """Bucket, Key and VersionId (when versioned) for S3 calls on this content."""
        args = {"Bucket": self.bucket, "Key": self.key}
        if self.versioned:
            args["VersionId"] = str(self.version_id)
        return args

    def copy_source(self) -> dict[str, str]:
        source = {"Bucket": self.bucket, "Key": self.key}
        if self.versioned:
            source["VersionId"] = str(self.version_id)
        return source

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" + (f"?versionId={self.version_id}" if self.versioned else "")


@dataclass
class OpenedObject:
    """A GET in progress: the content's identity, its stored headers, and the body still to be read."""

    pinned: Pinned
    size: int
    body: Any
    """botocore StreamingBody: `.read(n)`, checks that the full Content-Length arrived."""
    tag_count: int
    headers: dict[str, Any] = field(default_factory=dict)
    """The CONTENT_HEADERS S3 returned (only those present)."""
    metadata: dict[str, str] = field(default_factory=dict)
    encryption: str | None = None
    """ServerSideEncryption of the stored object (AES256, aws:kms, aws:kms:dsse)."""
    kms_key_id: str | None = None
    """The SSE-KMS key, restored on release so a released object keeps its protection."""

    @property
    def content_encoding(self) -> str | None:
        value = self.headers.get("ContentEncoding")
        return str(value) if value else None

    def close(self) -> None:
        self.body.close()


@dataclass(frozen=True)
class HeadInfo:
    """What HEAD says about one content."""

    size: int
    etag: str
    version_id: str | None
    sha256: str | None = None
    """Hex SHA-256 from S3's own checksum (ChecksumMode=ENABLED), when the object has a full-object SHA-256."""


def _args(ref: ObjectRef) -> dict[str, str]:
    args = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        args["VersionId"] = ref.version_id
    return args


def checksum_to_hex(value: str | None) -> str | None:
    """S3's base64 ChecksumSHA256 as hex; None for a missing or composite (`...-N`) checksum."""
    if not value or "-" in value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def hex_to_checksum(value: str) -> str:
    return base64.b64encode(bytes.fromhex(value)).decode()


class ObjectStore:
    """Thin, typed wrapper over the S3 calls the scanner makes."""

    def __init__(self, client: S3Client) -> None:
        self.client = client

    def open(self, ref: ObjectRef) -> OpenedObject:
        """GET the event's version (or, without one, whatever the key holds now) and pin to what S3 returned."""
        reply = self.client.get_object(**_args(ref))
        version = reply.get("VersionId") or ref.version_id
        return self._opened(Pinned(ref.bucket, ref.key, version, str(reply.get("ETag", "")).strip('"')), reply)

    @staticmethod
    def _opened(pinned: Pinned, reply: Mapping[str, Any]) -> OpenedObject:
        return OpenedObject(
            pinned=pinned,
            size=int(reply["ContentLength"]),
            body=reply["Body"],
            tag_count=int(reply.get("TagCount") or 0),
            headers={h: reply[h] for h in CONTENT_HEADERS if reply.get(h) is not None},
            metadata=dict(reply.get("Metadata") or {}),
            encryption=reply.get("ServerSideEncryption"),
            kms_key_id=reply.get("SSEKMSKeyId"),
        )

    def open_pinned(self, pinned: Pinned) -> OpenedObject:
        """GET exactly the pinned content again; S3 answers 412 (PreconditionFailed) if the key was overwritten."""
        args: dict[str, str] = pinned.args()
        if not pinned.versioned:
            args["IfMatch"] = f'"{pinned.etag}"'
        reply = self.client.get_object(**args)
        return self._opened(pinned, reply)

    def head(self, ref: ObjectRef | Pinned, *, checksum: bool = False) -> HeadInfo:
        args = ref.args() if isinstance(ref, Pinned) else _args(ref)
        if checksum:
            args["ChecksumMode"] = "ENABLED"
        reply = self.client.head_object(**args)
        return HeadInfo(
            size=int(reply["ContentLength"]),
            etag=str(reply.get("ETag", "")).strip('"'),
            version_id=reply.get("VersionId"),
            sha256=checksum_to_hex(reply.get("ChecksumSHA256")),
        )

    def read_range(self, pinned: Pinned, start: int, end: int) -> bytes:
        """Bytes [start, end) of exactly the pinned content (If-Match guards an unversioned key)."""
        if end <= start:
            return b""
        args = pinned.args()
        if not pinned.versioned:
            args["IfMatch"] = f'"{pinned.etag}"'
        reply = self.client.get_object(**args, Range=f"bytes={start}-{end - 1}")
        return reply["Body"].read()

    def get_tags(self, ref: ObjectRef | Pinned) -> dict[str, str]:
        args = ref.args() if isinstance(ref, Pinned) else _args(ref)
        return from_tag_set(self.client.get_object_tagging(**args)["TagSet"])

    def put_tags(self, ref: ObjectRef | Pinned, tags: Mapping[str, str]) -> None:
        args = ref.args() if isinstance(ref, Pinned) else _args(ref)
        self.client.put_object_tagging(**args, Tagging={"TagSet": tag_set(tags)})

    def delete(self, pinned: Pinned) -> None:
        """Delete exactly the pinned content: that version (permanently), or the key only while it holds that ETag."""
        args = pinned.args()
        if not pinned.versioned:
            args["IfMatch"] = f'"{pinned.etag}"'
        self.client.delete_object(**args)

    def copy_exact(
        self, source: Pinned, bucket: str, key: str, tags: Mapping[str, str]
    ) -> tuple[str | None, str | None]:
        """Server-side copy of exactly the pinned content with its metadata and content headers (MetadataDirective
        COPY), new tags, and a SHA-256 checksum S3 computes over the copy. Returns (version id, hex SHA-256)."""
        args: dict[str, Any] = {}
        if not source.versioned:
            args["CopySourceIfMatch"] = f'"{source.etag}"'
        reply = self.client.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource=source.copy_source(),
            MetadataDirective="COPY",
            TaggingDirective="REPLACE",
            Tagging=_tagging_header(tags),
            ChecksumAlgorithm="SHA256",
            **args,
        )
        return reply.get("VersionId"), checksum_to_hex(reply.get("CopyObjectResult", {}).get("ChecksumSHA256"))

    def put_json(self, bucket: str, key: str, body: bytes) -> str | None:
        """Write a small JSON document with an integrity checksum; returns its version id."""
        reply = self.client.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            ChecksumSHA256=hex_to_checksum(hashlib.sha256(body).hexdigest()),
        )
        return reply.get("VersionId")

    def get_json_bytes(self, bucket: str, key: str) -> bytes | None:
        """A small document, or None when it does not exist."""
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as err:
            if is_missing(err):
                return None
            raise


def _tagging_header(tags: Mapping[str, str]) -> str:
    return urlencode(dict(tags), quote_via=quote)
