"""Policy documents for people outside the program, rendered from infra.policies (no Pulumi engine needed).

python -m infra.documents deployer-policy                  # docs/deployer-policy.json (placeholders)
python -m infra.documents deployer-policy --account 111122223333 --region eu-west-1 --attach corp-uploads
python -m infra.documents upload-statements --bucket corp-uploads --exempt arn:aws:iam::111122223333:role/scanner-...
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from infra import policies
from infra.config import UploadBucket

ACCOUNT_PLACEHOLDER = "111122223333"
REGION_PLACEHOLDER = "eu-west-1"
ATTACHED_PLACEHOLDER = "ATTACHED-BUCKET"
PUBLISHED_DEPLOYER_POLICY = "docs/deployer-policy.json"


def published_deployer_policy() -> dict[str, Any]:
    """The deployer policy as docs/deployer-policy.json publishes it: an example account and region, one attached
    bucket placeholder (drop that statement without attached buckets)."""
    return policies.deployer_policy(
        partition="aws",
        region=REGION_PLACEHOLDER,
        account_id=ACCOUNT_PLACEHOLDER,
        attached_buckets=[ATTACHED_PLACEHOLDER],
    )


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.documents", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    deployer = commands.add_parser("deployer-policy", help="the IAM policy `pulumi up`/`destroy` needs")
    deployer.add_argument("--account", default=ACCOUNT_PLACEHOLDER)
    deployer.add_argument("--region", default=REGION_PLACEHOLDER)
    deployer.add_argument("--partition", default="aws")
    deployer.add_argument("--attach", action="append", default=[], help="an attached upload bucket (repeatable)")
    deployer.add_argument("--quarantine-bucket", help="quarantineBucketName, when set")
    upload = commands.add_parser(
        "upload-statements", help="the statements an attached bucket's policy needs before trusting scan-status"
    )
    upload.add_argument("--bucket", required=True)
    upload.add_argument("--prefix")
    upload.add_argument("--suffix")
    upload.add_argument("--partition", default="aws")
    upload.add_argument("--exempt", action="append", required=True, help="scanner role and admin role ARNs")
    args = parser.parse_args(argv)
    if args.command == "deployer-policy":
        document = policies.deployer_policy(
            partition=args.partition,
            region=args.region,
            account_id=args.account,
            attached_buckets=args.attach,
            quarantine_bucket_name=args.quarantine_bucket,
        )
    else:
        document = policies.upload_bucket_policy(
            partition=args.partition,
            upload=UploadBucket(args.bucket, args.prefix, args.suffix),
            exempt_arns=args.exempt,
            enforce_tls=False,
            block_unscanned=True,
        )
    sys.stdout.write(render(document))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
