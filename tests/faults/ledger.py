"""The fault suite's bookkeeping: where each uploaded object ended up, and the session's totals."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from scanner import constants as c
from scanner.constants import QUARANTINE_RECORDS_PREFIX
from scanner.provenance import ProvenanceRecord, record_key
from tests.support.clamd import EICAR_NAME


@dataclass(frozen=True)
class Tracked:
    """An object a test uploaded, and the truth about it."""

    bucket: str
    key: str
    body: bytes
    version_id: str | None = None
    must_not_be_clean: bool = False
    """Infected, or a bad input that must never come back CLEAN."""
    deletion_is_final: bool = False
    """The configured action deletes it (INFECTED with INFECTED_ACTION=delete): gone is not lost."""
    must_not_be_released: bool = False
    """Content no reviewer released here (whatever its tags say): RELEASED would make it downloadable."""


@dataclass(frozen=True)
class Whereabouts:
    """Where a tracked object is now: its source version and/or a quarantine copy of it, with their tags."""

    source_tags: dict[str, str] | None
    """None: the source version is gone (or holds other bytes)."""
    quarantine_tags: dict[str, str] | None
    """None: no quarantine copy of it."""

    @property
    def in_source(self) -> bool:
        return self.source_tags is not None

    @property
    def in_quarantine(self) -> bool:
        return self.quarantine_tags is not None

    @property
    def lost(self) -> bool:
        return not (self.in_source or self.in_quarantine)

    @property
    def status(self) -> str | None:
        """scan-status of the source version (None: untagged or gone)."""
        return (self.source_tags or {}).get(c.TAG_STATUS)

    @property
    def labelled_clean(self) -> bool:
        return self.status == "CLEAN" or (self.quarantine_tags or {}).get(c.TAG_STATUS) == "CLEAN"

    @property
    def labelled_released(self) -> bool:
        """The source version is tagged RELEASED (downloadable through the download block)."""
        return self.status == "RELEASED"


def locate(s3: Any, obj: Tracked, quarantine_bucket: str | None) -> Whereabouts:
    """Look the object up in its source bucket and, by provenance metadata, in the quarantine bucket."""
    return _locate(s3, obj, quarantine_bucket, quarantine_index(s3, quarantine_bucket))


def quarantine_index(s3: Any, quarantine_bucket: str | None) -> list[tuple[str, str, ProvenanceRecord]]:
    """Every copy version in the quarantine bucket that has a provenance record (found through the records, whose
    keys are plain hex: listing versions of keys with control characters is more than moto can do)."""
    if not quarantine_bucket:
        return []
    index = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=quarantine_bucket, Prefix=QUARANTINE_RECORDS_PREFIX
    ):
        for item in page.get("Contents", []):
            record = ProvenanceRecord.from_json(s3.get_object(Bucket=quarantine_bucket, Key=item["Key"])["Body"].read())
            if record_key(record.quarantine_key, record.quarantine_version_id) == item["Key"]:
                index.append((record.quarantine_key, record.quarantine_version_id, record))
    return index


def _locate(
    s3: Any, obj: Tracked, quarantine_bucket: str | None, index: list[tuple[str, str, ProvenanceRecord]]
) -> Whereabouts:
    version = {"VersionId": obj.version_id} if obj.version_id else {}
    source_tags = None
    if _body(s3, obj.bucket, obj.key, version) == obj.body:
        source_tags = _tags(s3, obj.bucket, obj.key, version)
    quarantine_tags = None
    for item, copy_version, record in index:
        if (record.source_bucket, record.source_key) != (obj.bucket, obj.key):
            continue
        if obj.version_id and record.source_version_id != obj.version_id:
            continue
        copy = {"VersionId": copy_version}
        if quarantine_bucket and _body(s3, quarantine_bucket, item, copy) == obj.body:
            quarantine_tags = _tags(s3, quarantine_bucket, item, copy)
    return Whereabouts(source_tags, quarantine_tags)


def _body(s3: Any, bucket: str, key: str, version: dict[str, str]) -> bytes | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key, **version)["Body"].read()
    except ClientError as err:
        if err.response["Error"]["Code"] in {"NoSuchKey", "NoSuchVersion", "404", "NoSuchBucket"}:
            return None
        raise


def _tags(s3: Any, bucket: str, key: str, version: dict[str, str]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key, **version)["TagSet"]}


def _list(s3: Any, bucket: str) -> list[str]:
    return [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]


ATTACK_CLASSES = ("forged_tags", "encodings", "unsupported_archives", "release_flow", "races")
"""What tests/faults/test_attacks.py tries, counted apart in the summary line."""


@dataclass
class Ledger:
    """Session totals for the summary line."""

    faults_injected: int = 0
    bad_inputs: int = 0
    objects_checked: int = 0
    attacks: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ATTACK_CLASSES, 0))
    _lost: set[tuple[str, str]] = field(default_factory=set)
    _wrongly_clean: set[tuple[str, str]] = field(default_factory=set)
    _wrongly_released: set[tuple[str, str]] = field(default_factory=set)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    @property
    def objects_lost(self) -> int:
        return len(self._lost)

    @property
    def wrongly_clean(self) -> int:
        return len(self._wrongly_clean)

    @property
    def wrongly_released(self) -> int:
        return len(self._wrongly_released)

    @property
    def used(self) -> bool:
        return bool(self.faults_injected or self.bad_inputs or self._seen or any(self.attacks.values()))

    def attack(self, kind: str, count: int = 1) -> None:
        """One more attempt of an attack class (ATTACK_CLASSES)."""
        if kind not in self.attacks:
            raise ValueError(f"unknown attack class {kind!r}: one of {ATTACK_CLASSES}")
        self.attacks[kind] += count

    def fault(self, count: int = 1) -> None:
        self.faults_injected += count

    def bad_input(self, count: int = 1) -> None:
        self.bad_inputs += count

    def check(self, s3: Any, objects: Iterable[Tracked], quarantine_bucket: str | None) -> dict[str, Whereabouts]:
        """Locate every object; record (once per object) any that is lost or wrongly labelled CLEAN."""
        found: dict[str, Whereabouts] = {}
        index = quarantine_index(s3, quarantine_bucket)
        for obj in objects:
            where = _locate(s3, obj, quarantine_bucket, index)
            ident = (obj.bucket, obj.key)
            if ident not in self._seen:
                self._seen.add(ident)
                self.objects_checked += 1
            if where.lost and not obj.deletion_is_final:
                self._lost.add(ident)
            if obj.must_not_be_clean and where.labelled_clean:
                self._wrongly_clean.add(ident)
            if obj.must_not_be_released and where.labelled_released:
                self._wrongly_released.add(ident)
            found[obj.key] = where
        return found

    def summary(self) -> str:
        attacks = " ".join(f"{kind}={count}" for kind, count in self.attacks.items())
        return (
            f"FAULT-SUITE faults_injected={self.faults_injected} bad_inputs={self.bad_inputs} {attacks} "
            f"objects_checked={self.objects_checked} objects_lost={self.objects_lost} "
            f"wrongly_clean={self.wrongly_clean} wrongly_released={self.wrongly_released}"
        )


LEDGER = Ledger()
"""The session's one ledger (tests/faults/conftest.py prints its summary)."""


def assert_safe(found: dict[str, Whereabouts], objects: Iterable[Tracked]) -> None:
    """No object lost, none that must not be CLEAN labelled CLEAN, none never released labelled RELEASED."""
    for obj in objects:
        where = found[obj.key]
        assert obj.deletion_is_final or not where.lost, f"object lost: s3://{obj.bucket}/{obj.key}"
        if obj.must_not_be_clean:
            assert not where.labelled_clean, f"labelled CLEAN but must not be: s3://{obj.bucket}/{obj.key} {where}"
        if obj.must_not_be_released:
            assert not where.labelled_released, f"RELEASED but never released: s3://{obj.bucket}/{obj.key} {where}"


def assert_final(found: dict[str, Whereabouts], obj: Tracked, signature: str = EICAR_NAME) -> None:
    """The right final state: CLEAN and tagged in place, or INFECTED and only in quarantine."""
    where = found[obj.key]
    if obj.must_not_be_clean:
        assert not where.in_source, "the infected source version must be gone after a verified copy"
        assert where.quarantine_tags is not None, "the infected object must be in quarantine"
        assert where.quarantine_tags.get(c.TAG_STATUS) == "INFECTED"
        assert where.quarantine_tags.get(c.TAG_DETAIL) == signature
    else:
        assert where.status == "CLEAN"
        assert where.source_tags is not None and where.source_tags.get(c.TAG_ENGINE)
