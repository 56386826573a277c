"""Where infected objects go: the quarantine bucket, its optional customer-managed key and the release allow-list.

Everything here holds evidence or decides what is released, so all of it is retained when Pulumi deletes it
(``destroy``, ``infectedAction`` leaving ``quarantine``, a rename): docs/DEPLOY.md says how to remove it on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.buckets import HardenedBucket, HardenedBucketArgs, writers_only_policy
from scanner import constants

KEY_DELETION_WINDOW_DAYS = 30
SUPERSEDED_COPY_DAYS = 1
"""Days a quarantine version is kept once it is no longer current: expiration made it so (its bytes are past the
retention), or a newer copy took its key."""


@dataclass(frozen=True)
class QuarantineArgs:
    """The quarantine's settings and who may touch it."""

    tags: Mapping[str, str]
    partition: pulumi.Input[str]
    account_id: pulumi.Input[str]
    privileged_arns: Sequence[pulumi.Input[str]]
    """The scanner role and the admin roles: the only principals that read or write quarantined objects."""
    admin_role_arns: Sequence[str]
    """The only principals that write the allow-list (``scanner quarantine release``)."""
    retention_days: int
    """Days a quarantined object is kept."""
    bucket_name: str | None = None
    """Physical name of the bucket; None lets Pulumi generate one."""
    customer_key: bool = False
    """Encrypt bucket and table with a customer-managed KMS key instead of AWS-owned keys."""


class Quarantine(pulumi.ComponentResource):
    """Quarantine bucket (reads and writes denied to all but the scanner and admins), optional KMS key, and the
    DynamoDB allow-list of released content (written by admins only, read by the scanner)."""

    key: aws.kms.Key | None
    bucket: HardenedBucket
    table: aws.dynamodb.Table
    table_policy: aws.dynamodb.ResourcePolicy
    bucket_name: pulumi.Output[str]
    key_arn: pulumi.Output[str] | None
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]

    def __init__(self, name: str, args: QuarantineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("s3clamav:quarantine:Quarantine", name, {}, opts)
        retained = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        self.key = None
        self.key_arn = None
        if args.customer_key:
            self.key = aws.kms.Key(
                f"{name}-key",
                description="Encrypts the ClamAV scanner's quarantine bucket and release allow-list",
                enable_key_rotation=True,
                deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
                policy=pulumi.Output.all(args.partition, args.account_id).apply(
                    lambda v: json.dumps(policies.quarantine_key_policy(partition=v[0], account_id=v[1]))
                ),
                tags=dict(args.tags),
                # A retained bucket is unreadable without its key.
                opts=retained,
            )
            self.key_arn = self.key.arn
        self.bucket = HardenedBucket(
            name,
            HardenedBucketArgs(
                tags=args.tags,
                bucket_name=args.bucket_name,
                expiration_days=args.retention_days,
                noncurrent_days=SUPERSEDED_COPY_DAYS,
                policy=writers_only_policy(policies.quarantine_bucket_policy, args.partition, args.privileged_arns),
                kms_key_arn=self.key_arn,
                retain_on_delete=True,
            ),
            # The bucket was created at the top of the stack before this component existed: same resources.
            opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)]),
        )
        self.table = aws.dynamodb.Table(
            f"{name}-allow-list",
            billing_mode="PAY_PER_REQUEST",
            hash_key=constants.ALLOW_LIST_HASH_KEY,
            range_key=constants.ALLOW_LIST_SCOPE_KEY,
            attributes=[
                aws.dynamodb.TableAttributeArgs(name=constants.ALLOW_LIST_HASH_KEY, type="S"),
                aws.dynamodb.TableAttributeArgs(name=constants.ALLOW_LIST_SCOPE_KEY, type="S"),
            ],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            deletion_protection_enabled=True,
            # Without a customer key DynamoDB encrypts with an AWS-owned key.
            server_side_encryption=(
                aws.dynamodb.TableServerSideEncryptionArgs(enabled=True, kms_key_arn=self.key_arn)
                if self.key_arn is not None
                else None
            ),
            tags=dict(args.tags),
            opts=retained,
        )
        admins = list(args.admin_role_arns)
        self.table_policy = aws.dynamodb.ResourcePolicy(
            f"{name}-allow-list-policy",
            resource_arn=self.table.arn,
            policy=self.table.arn.apply(
                lambda arn: json.dumps(policies.allow_list_table_policy(table_arn=arn, admin_arns=admins))
            ),
            opts=retained,
        )
        self.bucket_name = self.bucket.name
        self.table_name = self.table.name
        self.table_arn = self.table.arn
        self.register_outputs({"bucket": self.bucket_name, "allowListTable": self.table_name})
