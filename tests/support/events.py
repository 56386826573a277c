"""Build Lambda events from the JSON samples under tests/events, with keys encoded the way S3 encodes them."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

EVENTS = Path(__file__).resolve().parents[1] / "events"


@cache
def _load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of tests/events/<name>."""
    return copy.deepcopy(_load(name))


def s3_record(
    bucket: str,
    key: str,
    *,
    size: int = 0,
    version_id: str | None = None,
    etag: str = "",
    event_name: str = "ObjectCreated:Put",
) -> dict[str, Any]:
    record = sample("s3_put.json")["Records"][0]
    record["eventName"] = event_name
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    obj = record["s3"]["object"]
    obj.update(key=quote_plus(key, safe="/"), size=size, eTag=etag)
    if version_id:
        obj["versionId"] = version_id
    else:
        obj.pop("versionId")
    return record


def s3_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def eventbridge_event(bucket: str, key: str, *, size: int = 0, version_id: str | None = None) -> dict[str, Any]:
    event = sample("eventbridge_object_created.json")
    event["detail"]["bucket"]["name"] = bucket
    obj = event["detail"]["object"]
    obj.update(key=key, size=size)  # EventBridge carries the raw key (scanner/events.py says why)
    if version_id:
        obj["version-id"] = version_id
    else:
        obj.pop("version-id")
    return event


def sqs_event(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    """An SQS batch, one message per body (a dict is JSON-encoded, a str is sent as is)."""
    template = sample("sqs_batch.json")["Records"][0]
    records = []
    for index, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record["messageId"] = f"msg-{index}"
        record["body"] = body if isinstance(body, str) else json.dumps(body)
        records.append(record)
    return {"Records": records}


def put_and_event(s3: Any, bucket: str, key: str, body: bytes, **put_args: Any) -> dict[str, Any]:
    """Upload `body` and return the S3 notification S3 would send for it."""
    reply = s3.put_object(Bucket=bucket, Key=key, Body=body, **put_args)
    return s3_event(
        s3_record(bucket, key, size=len(body), version_id=reply.get("VersionId"), etag=reply["ETag"].strip('"'))
    )
