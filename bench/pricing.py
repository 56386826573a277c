"""List prices (US East, N. Virginia) and the cost model per million objects, from measured figures.

Every price names its source; they were read from AWS's pricing pages (and the pages that quote them) for this
run, not fetched live: check them before relying on a figure.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

GB = 1024**3
"""AWS bills a GB of scanned data, and a GB of Lambda memory, as 2**30 bytes."""


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str


PRICES: dict[str, Price] = {
    "lambda_gb_second": Price(
        0.0000166667,
        "per GB-second, x86, first 6 billion GB-seconds a month",
        "https://aws.amazon.com/lambda/pricing/ (x86 duration tier 1)",
    ),
    "lambda_request": Price(
        0.20 / 1_000_000,
        "per invocation",
        "https://aws.amazon.com/lambda/pricing/ ($0.20 per 1M requests)",
    ),
    "sqs_request": Price(
        0.40 / 1_000_000,
        "per request (each 64 KiB of payload is one), standard queue, after the first 1M a month",
        "https://aws.amazon.com/sqs/pricing/ ($0.40 per 1M requests); SSE-SQS encryption adds no charge",
    ),
    "s3_get": Price(
        0.0004 / 1_000,
        "per GET, HEAD, GetObjectTagging (S3 Standard)",
        "https://aws.amazon.com/s3/pricing/ (GET, SELECT and all other requests: $0.0004 per 1,000)",
    ),
    "s3_put": Price(
        0.005 / 1_000,
        "per PUT, COPY, POST, LIST, PutObjectTagging (S3 Standard)",
        "https://aws.amazon.com/s3/pricing/ (PUT, COPY, POST, LIST requests: $0.005 per 1,000)",
    ),
    "s3_tag_month": Price(
        0.01 / 10_000,
        "per object tag per month",
        "https://aws.amazon.com/s3/pricing/ (Management & insights: object tagging $0.01 per 10,000 tags per month)",
    ),
    "eventbridge_event": Price(
        1.00 / 1_000_000,
        "per custom event published (each 64 KiB is one)",
        "https://aws.amazon.com/eventbridge/pricing/ (custom events: $1.00 per 1M)",
    ),
    "guardduty_gb": Price(
        0.09,
        "per GB scanned",
        "https://aws.amazon.com/guardduty/pricing/ (Malware Protection for S3; issue 14 gives the same list price)",
    ),
    "guardduty_object": Price(
        0.215 / 1_000,
        "per object evaluated",
        "https://aws.amazon.com/guardduty/pricing/ ($0.215 per 1,000 objects)",
    ),
}
NOTES = (
    "Lambda bills a container image's INIT phase like its invocation time (aws.amazon.com/blogs/compute/"
    "aws-lambda-standardizes-billing-for-init-phase); the first invocation's wait for clamd is invocation time.",
    "GuardDuty's scans also cost S3 requests (it reads the object) and, with tagging on, a PutObjectTagging and one "
    "stored tag per object (docs.aws.amazon.com/guardduty/latest/ug/pricing-malware-protection-for-s3-guardduty.html).",
    "Free tiers are left out on both sides.",
)
GET_TIER = ("GetObject", "HeadObject", "GetObjectTagging")
PUT_TIER = ("PutObjectTagging", "PutObject", "CopyObject")
SQS_REQUESTS_PER_MESSAGE = 3
"""SendMessage (by S3), ReceiveMessage and DeleteMessage counted per message: the upper bound (the event source
mapping receives and deletes in batches, so 1 + 2/batch is the lower one)."""


@dataclass(frozen=True)
class Workload:
    """Measured figures the cost of one object size rests on."""

    object_bytes: int
    batch_s: float
    """One invocation's duration for a batch of `batch_size` objects (concurrent scans)."""
    batch_size: int
    memory_mb: int
    s3_requests: dict[str, float]
    """S3 requests per object, by operation (measured)."""
    tags_per_object: int
    """Tags the scanner leaves on a clean object (stored for as long as the object)."""
    cold_start_s: float
    """Billed time of one cold start: init plus the first invocation's wait until clamd answers."""
    objects_per_cold_start: int
    """Objects one execution environment handles per cold start (a stated assumption)."""


def usd(value: float) -> float:
    return round(value, 4)


def per_million(work: Workload) -> dict[str, Any]:
    """USD per million objects, by line item; `total` is what scanning a million objects costs once, and
    `tags_per_month` what their scan tags cost every month they are kept."""
    million = 1_000_000
    gb = work.memory_mb / 1024
    invocations = million / work.batch_size
    billed_s = math.ceil(work.batch_s * 1000) / 1000
    lines = {
        "lambda_duration": invocations * billed_s * gb * PRICES["lambda_gb_second"].usd,
        "lambda_requests": invocations * PRICES["lambda_request"].usd,
        "cold_starts": million / work.objects_per_cold_start * work.cold_start_s * gb * PRICES["lambda_gb_second"].usd,
        "sqs": million * SQS_REQUESTS_PER_MESSAGE * PRICES["sqs_request"].usd,
        "s3_requests": million
        * sum(
            n * (PRICES["s3_get"].usd if op in GET_TIER else PRICES["s3_put"].usd) for op, n in work.s3_requests.items()
        ),
    }
    total = sum(lines.values())
    guardduty_scan = million * (work.object_bytes / GB * PRICES["guardduty_gb"].usd + PRICES["guardduty_object"].usd)
    guardduty_s3 = million * (PRICES["s3_get"].usd + PRICES["s3_put"].usd)
    scanner_compute = lines["lambda_duration"] + lines["lambda_requests"] + lines["cold_starts"] + lines["sqs"]
    return {
        "lines": {name: usd(value) for name, value in lines.items()},
        "total": usd(total),
        "gb_seconds_per_object": round(billed_s * gb / work.batch_size, 5),
        "tags_per_month": usd(million * work.tags_per_object * PRICES["s3_tag_month"].usd),
        "eventbridge_optional": usd(million * PRICES["eventbridge_event"].usd),
        "guardduty": usd(guardduty_scan),
        "guardduty_s3_requests_with_tagging": usd(guardduty_s3),
        "guardduty_tags_per_month": usd(million * PRICES["s3_tag_month"].usd),
        "guardduty_over_total": round(guardduty_scan / total, 1),
        "guardduty_over_scanner_compute": round(guardduty_scan / scanner_compute, 1),
        "like_for_like_ratio": round((guardduty_scan + guardduty_s3) / total, 1),
        "workload": asdict(work),
    }


def price_table() -> dict[str, dict[str, Any]]:
    return {name: asdict(price) for name, price in PRICES.items()}
