"""Provenance records: one JSON document per quarantine copy version, under the quarantine bucket's `_records/`.

The copy itself keeps the uploader's metadata and content headers untouched (a server-side copy with
MetadataDirective COPY), so nothing of the provenance has to fit in S3's 2 KB of user metadata; the record holds
where the content came from, what was found, and the uploader's tags, which a release restores.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from scanner import constants as c

SCHEMA_VERSION = 1


def record_key(quarantine_key: str, version_id: str) -> str:
    """`_records/<digest of the quarantine key>/<copy version id>.json` (always within S3's 1,024-byte keys)."""
    digest = hashlib.sha256(quarantine_key.encode()).hexdigest()[:32]
    return f"{c.QUARANTINE_RECORDS_PREFIX}{digest}/{version_id}.json"


def is_reserved_key(key: str) -> bool:
    """Records live beside the copies; listings of quarantined objects skip them."""
    return key.startswith(c.QUARANTINE_RECORDS_PREFIX)


@dataclass(frozen=True)
class ProvenanceRecord:
    """Where a quarantined content came from and what was found in it."""

    source_bucket: str
    source_key: str
    source_version_id: str | None
    source_etag: str
    sha256: str
    """Hex SHA-256 of the stored bytes, computed while they were scanned (S3's checksum of the copy equals it)."""
    size: int
    content_encoding: str | None
    signature: str
    engine: str
    quarantined_at: str
    user_tags: dict[str, str] = field(default_factory=dict)
    """The uploader's tags on the source (scan-* tags excluded): restored on release."""
    source_encryption: str | None = None
    source_kms_key_id: str | None = None
    """The source's SSE-KMS key: a release encrypts the restored object with it again."""
    quarantine_bucket: str = ""
    quarantine_key: str = ""
    quarantine_version_id: str = ""
    schema: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True).encode()

    @classmethod
    def from_json(cls, body: bytes) -> ProvenanceRecord:
        data: dict[str, Any] = json.loads(body)
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
            raise ValueError("not a provenance record of a known schema")
        fields = {name for name in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in fields})
