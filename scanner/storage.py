"""S3 access for one object version: head, stream, tags, copy, delete. The client is passed in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from scanner import constants as c
from scanner.events import ObjectRef
from scanner.tags import from_tag_set, tag_set

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound", "NoSuchBucket"})


def is_missing(error: BaseException) -> bool:
    """True when S3 says the object, version or bucket does not exist."""
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in _MISSING_CODES


@dataclass(frozen=True)
class ObjectInfo:
    """What HEAD says about one object version."""

    size: int
    etag: str
    version_id: str | None
    encryption: str | None
    metadata: dict[str, str]
    content_type: str | None = None

    @property
    def etag_is_md5(self) -> bool:
        """A plain MD5 ETag (single-part upload, not SSE-KMS) can be compared across a copy."""
        return "-" not in self.etag and self.encryption != "aws:kms"


def _version_args(ref: ObjectRef) -> dict[str, str]:
    args = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        args["VersionId"] = ref.version_id
    return args


class ObjectStore:
    """Thin, typed wrapper over the S3 calls the scanner makes."""

    def __init__(self, client: S3Client, single_copy_limit: int = c.S3_SINGLE_COPY_LIMIT) -> None:
        self.client = client
        self.single_copy_limit = single_copy_limit

    def head(self, ref: ObjectRef) -> ObjectInfo:
        reply = self.client.head_object(**_version_args(ref))
        return ObjectInfo(
            size=int(reply["ContentLength"]),
            etag=reply.get("ETag", "").strip('"'),
            version_id=reply.get("VersionId"),
            encryption=reply.get("ServerSideEncryption"),
            metadata=dict(reply.get("Metadata", {})),
            content_type=reply.get("ContentType"),
        )

    def open(self, ref: ObjectRef, etag: str | None = None) -> Any:
        """The object version's body as a stream (botocore StreamingBody: `.read(n)`, checks its length).

        With `etag`, S3 refuses (412 PreconditionFailed) when the key no longer holds that content.
        """
        args = _version_args(ref)
        if etag:
            args["IfMatch"] = f'"{etag}"'
        return self.client.get_object(**args)["Body"]

    def get_tags(self, ref: ObjectRef) -> dict[str, str]:
        return from_tag_set(self.client.get_object_tagging(**_version_args(ref))["TagSet"])

    def put_tags(self, ref: ObjectRef, tags: Mapping[str, str]) -> None:
        self.client.put_object_tagging(**_version_args(ref), Tagging={"TagSet": tag_set(tags)})

    def delete(self, ref: ObjectRef) -> None:
        """Delete exactly this version (permanently, when the bucket is versioned)."""
        self.client.delete_object(**_version_args(ref))

    def copy(
        self, source: ObjectRef, info: ObjectInfo, bucket: str, key: str, metadata: Mapping[str, str]
    ) -> str | None:
        """Server-side copy of one version with new metadata (Content-Type kept); multipart above the single-copy
        limit. Returns the new version id when S3 reports it."""
        copy_source = {"Bucket": source.bucket, "Key": source.key}
        if source.version_id:
            copy_source["VersionId"] = source.version_id
        extra: dict[str, Any] = {"Metadata": dict(metadata), "MetadataDirective": "REPLACE"}
        if info.content_type:
            extra["ContentType"] = info.content_type
        if info.size <= self.single_copy_limit:
            reply = self.client.copy_object(
                Bucket=bucket, Key=key, CopySource=copy_source, TaggingDirective="REPLACE", **extra
            )
            return reply.get("VersionId")
        config = TransferConfig(multipart_threshold=self.single_copy_limit, multipart_chunksize=512 * 1024**2)
        self.client.copy(copy_source, bucket, key, ExtraArgs=extra, Config=config)
        return None
