"""The release allow-list: content a reviewer released, by SHA-256, in a DynamoDB table only admins may write.

A release is a decision about exact content and one detection: an entry matches an INFECTED verdict only for the
same SHA-256 of the stored bytes, the same Content-Encoding, the same signature, and a scope that is either global
or the object's own `<bucket>/<key>`. The scanner reads the table on the INFECTED path only (clean objects pay
nothing); a RELEASED tag on its own is never trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scanner import constants as c
from scanner.exceptions import AllowListError


def create_table(dynamodb: Any, name: str) -> None:
    """Create the allow-list table with the key schema the stack gives it (the local pipeline and the tests)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": c.ALLOW_LIST_HASH_KEY, "KeyType": "HASH"},
            {"AttributeName": c.ALLOW_LIST_SCOPE_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": c.ALLOW_LIST_HASH_KEY, "AttributeType": "S"},
            {"AttributeName": c.ALLOW_LIST_SCOPE_KEY, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def scope_of(bucket: str, key: str) -> str:
    return f"{bucket}/{key}"


def normalized_encoding(content_encoding: str | None) -> str:
    """The Content-Encoding as compared: lower case, no spaces, `identity` and empty alike."""
    value = (content_encoding or "").replace(" ", "").lower()
    return "" if value in {"", "identity"} else value


@dataclass(frozen=True)
class Release:
    """One allow-list entry."""

    sha256: str
    scope: str
    """`<bucket>/<key>`, or `*` for content released everywhere."""
    signature: str
    content_encoding: str
    released_by: str
    reason: str
    released_at: str
    quarantine: str = ""
    """Where the released copy is kept (`s3://bucket/key?versionId=...`)."""

    @property
    def is_global(self) -> bool:
        return self.scope == c.ALLOW_LIST_GLOBAL_SCOPE

    def item(self) -> dict[str, dict[str, str]]:
        return {
            c.ALLOW_LIST_HASH_KEY: {"S": self.sha256},
            c.ALLOW_LIST_SCOPE_KEY: {"S": self.scope},
            "signature": {"S": self.signature},
            "contentEncoding": {"S": self.content_encoding},
            "releasedBy": {"S": self.released_by},
            "reason": {"S": self.reason},
            "releasedAt": {"S": self.released_at},
            "quarantine": {"S": self.quarantine},
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Release:
        def text(name: str) -> str:
            value = item.get(name, {})
            return str(value.get("S", "")) if isinstance(value, dict) else ""

        return cls(
            sha256=text(c.ALLOW_LIST_HASH_KEY),
            scope=text(c.ALLOW_LIST_SCOPE_KEY),
            signature=text("signature"),
            content_encoding=text("contentEncoding"),
            released_by=text("releasedBy"),
            reason=text("reason"),
            released_at=text("releasedAt"),
            quarantine=text("quarantine"),
        )

    def matches(self, *, sha256: str, bucket: str, key: str, signature: str, content_encoding: str | None) -> bool:
        return (
            self.sha256 == sha256
            and self.scope in {c.ALLOW_LIST_GLOBAL_SCOPE, scope_of(bucket, key)}
            and self.signature == signature
            and self.content_encoding == normalized_encoding(content_encoding)
        )


class AllowList:
    """Reads (scanner) and writes (release CLI) of the allow-list table."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def entries(self, sha256: str) -> list[Release]:
        """Every entry for this content (a strongly consistent read)."""
        try:
            reply = self.client.query(
                TableName=self.table,
                KeyConditionExpression="#h = :h",
                ExpressionAttributeNames={"#h": c.ALLOW_LIST_HASH_KEY},
                ExpressionAttributeValues={":h": {"S": sha256}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as err:
            raise AllowListError(f"allow-list {self.table}: {err}") from err
        return [Release.from_item(item) for item in reply.get("Items", [])]

    def lookup(
        self, *, sha256: str, bucket: str, key: str, signature: str, content_encoding: str | None
    ) -> Release | None:
        """The entry releasing this content and detection here, if any."""
        for release in self.entries(sha256):
            if release.matches(
                sha256=sha256, bucket=bucket, key=key, signature=signature, content_encoding=content_encoding
            ):
                return release
        return None

    def add(self, release: Release) -> None:
        """Record a release (admin roles only: the table's resource policy denies everyone else)."""
        try:
            self.client.put_item(TableName=self.table, Item=release.item())
        except (ClientError, BotoCoreError) as err:
            raise AllowListError(f"allow-list {self.table}: {err}") from err
