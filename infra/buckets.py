"""A private, encrypted, versioned S3 bucket: the quarantine, definitions and managed upload buckets."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

PolicyFactory = Callable[[pulumi.Output[str]], pulumi.Input[str]]
"""Builds the bucket policy JSON from the bucket's name."""


@dataclass(frozen=True)
class HardenedBucketArgs:
    """How to harden one bucket."""

    tags: Mapping[str, str]
    """Tags of the bucket."""
    bucket_name: str | None = None
    """Physical name; None lets Pulumi generate a unique one."""
    expiration_days: int | None = None
    """Days after which current objects expire (the quarantine retention); None keeps them."""
    noncurrent_days: int = 30
    """Days a superseded or deleted object version is kept."""
    policy: PolicyFactory | None = None
    """The bucket policy; None leaves the bucket without one."""
    force_destroy: bool = False
    """Let ``pulumi destroy`` empty the bucket (only for content that can be rebuilt)."""
    abort_multipart_days: int = 7
    """Days after which incomplete multipart uploads are removed."""
    kms_key_arn: pulumi.Input[str] | None = None
    """Default encryption with this customer-managed key (SSE-KMS, with an S3 Bucket Key); None: SSE-S3."""
    retain_on_delete: bool = False
    """Keep the bucket and every protection on it when Pulumi deletes them (``destroy``, a rename, a config change):
    content that must not be left unprotected, nor silently lost."""


class HardenedBucket(pulumi.ComponentResource):
    """Bucket with owner-enforced ownership, all public access blocked, default encryption, versioning, lifecycle
    rules and an optional policy."""

    bucket: aws.s3.Bucket
    name: pulumi.Output[str]
    arn: pulumi.Output[str]
    policy: aws.s3.BucketPolicy | None

    def __init__(self, name: str, args: HardenedBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("s3clamav:storage:HardenedBucket", name, {}, opts)
        # Retained children outlive the program: Pulumi never deletes the policy, public access block, ownership,
        # encryption or lifecycle before failing on a non-empty bucket.
        retain = args.retain_on_delete or None
        child = pulumi.ResourceOptions(parent=self, retain_on_delete=retain)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name,
            force_destroy=args.force_destroy,
            tags=dict(args.tags),
            opts=child,
        )
        bucket_id = self.bucket.id
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket_id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket_id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=_default_encryption(args.kms_key_arn),
                    bucket_key_enabled=True if args.kms_key_arn is not None else None,
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket_id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket_id,
            rules=_lifecycle_rules(args),
            # Noncurrent-version rules need versioning in place first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning], retain_on_delete=retain),
        )
        self.policy = None
        if args.policy is not None:
            self.policy = aws.s3.BucketPolicy(
                f"{name}-policy",
                bucket=bucket_id,
                policy=args.policy(self.bucket.bucket),
                # S3 rejects policy writes that race the public access block and ownership settings.
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[public_access, ownership], retain_on_delete=retain
                ),
            )
        self.name = self.bucket.bucket
        self.arn = self.bucket.arn
        self.register_outputs({"name": self.name, "arn": self.arn})


def _default_encryption(
    kms_key_arn: pulumi.Input[str] | None,
) -> aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs:
    if kms_key_arn is None:
        return aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="AES256"
        )
    return aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
        sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn
    )


def _lifecycle_rules(args: HardenedBucketArgs) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    everything = aws.s3.BucketLifecycleConfigurationRuleFilterArgs()
    rules = [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="abort-incomplete-uploads",
            status="Enabled",
            filter=everything,
            abort_incomplete_multipart_upload=(
                aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=args.abort_multipart_days
                )
            ),
        ),
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="expire-noncurrent-versions",
            status="Enabled",
            filter=everything,
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=args.noncurrent_days
            ),
        ),
    ]
    if args.expiration_days is not None:
        rules.append(
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-objects",
                status="Enabled",
                filter=everything,
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.expiration_days),
            )
        )
        # Expiring a version leaves a delete marker; once the version behind it is gone, so is the marker.
        rules.append(
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="remove-expired-delete-markers",
                status="Enabled",
                filter=everything,
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(expired_object_delete_marker=True),
            )
        )
    return rules


def writers_only_policy(
    render: Callable[..., dict[str, Any]], partition: pulumi.Input[str], writers: Sequence[pulumi.Input[str]]
) -> PolicyFactory:
    """Bind a ``render(partition=, bucket=, writer_arns=)`` policy function to resolved values."""

    def factory(bucket: pulumi.Output[str]) -> pulumi.Output[str]:
        return pulumi.Output.all(bucket, partition, *writers).apply(
            lambda v: json.dumps(render(partition=v[1], bucket=v[0], writer_arns=list(v[2:])))
        )

    return factory
