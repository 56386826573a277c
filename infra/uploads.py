"""The buckets being scanned: one managed bucket, or existing buckets attached by name."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.buckets import HardenedBucket, HardenedBucketArgs
from infra.config import StackConfig, UploadBucket


@dataclass(frozen=True)
class UploadTarget:
    """One bucket to scan: its name and ARN (known or computed) and the key filters."""

    key: str
    """Stable logical name for the bucket's trigger resources."""
    name: pulumi.Output[str]
    arn: pulumi.Output[str]
    prefix: str | None = None
    suffix: str | None = None

    def resolved(self, name: str) -> UploadBucket:
        """The bucket with its name resolved, for policy functions."""
        return UploadBucket(name=name, prefix=self.prefix, suffix=self.suffix)


class UploadBuckets(pulumi.ComponentResource):
    """Creates the managed upload bucket, or attaches existing ones; optionally blocks unscanned downloads.

    S3 keeps one policy per bucket: on an attached bucket, ``blockUnscannedDownloads`` replaces the policy it had.
    """

    targets: list[UploadTarget]
    managed: HardenedBucket | None
    download_blocks: list[aws.s3.BucketPolicy]
    """Policies of attached buckets denying unscanned downloads (empty unless blockUnscannedDownloads)."""

    def __init__(
        self,
        name: str,
        *,
        config: StackConfig,
        partition: pulumi.Input[str],
        exempt_arns: Sequence[pulumi.Input[str]],
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("s3clamav:storage:UploadBuckets", name, {}, opts)
        self.managed = None
        self.download_blocks = []
        block = config.block_unscanned_downloads
        if config.managed_upload_bucket:
            self.managed = HardenedBucket(
                f"{name}-managed",
                HardenedBucketArgs(
                    tags=tags,
                    # The download block must outlive `destroy` of a bucket that still holds unscanned objects.
                    retain_on_delete=True,
                    policy=lambda bucket: _policy_json(
                        bucket,
                        None,
                        partition=partition,
                        exempt_arns=exempt_arns,
                        enforce_tls=True,
                        block_unscanned=block,
                        guardduty_tag=config.options.guardduty_status_tag,
                    ),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.targets = [UploadTarget(key="managed", name=self.managed.name, arn=self.managed.arn)]
        else:
            self.targets = [self._attach(u, partition) for u in config.upload_buckets]
            if block:
                self.download_blocks = [
                    aws.s3.BucketPolicy(
                        f"{name}-{u.name}-policy",
                        bucket=u.name,
                        # Not our bucket: only the download block, no other statement.
                        policy=_policy_json(
                            u.name,
                            u,
                            partition=partition,
                            exempt_arns=exempt_arns,
                            enforce_tls=False,
                            block_unscanned=True,
                            guardduty_tag=config.options.guardduty_status_tag,
                        ),
                        opts=pulumi.ResourceOptions(parent=self),
                    )
                    for u in config.upload_buckets
                ]
        self.register_outputs({"names": pulumi.Output.all(*[t.name for t in self.targets])})

    @staticmethod
    def _attach(upload: UploadBucket, partition: pulumi.Input[str]) -> UploadTarget:
        arn = pulumi.Output.from_input(partition).apply(lambda p: policies.bucket_arn(p, upload.name))
        return UploadTarget(
            key=upload.name,
            name=pulumi.Output.from_input(upload.name),
            arn=arn,
            prefix=upload.prefix,
            suffix=upload.suffix,
        )


def _policy_json(
    bucket: pulumi.Input[str],
    upload: UploadBucket | None,
    *,
    partition: pulumi.Input[str],
    exempt_arns: Sequence[pulumi.Input[str]],
    enforce_tls: bool,
    block_unscanned: bool,
    guardduty_tag: bool = False,
) -> pulumi.Output[str]:
    """The upload bucket policy as JSON; ``upload`` None means the managed bucket (whole bucket scanned)."""

    def render(values: list[str]) -> str:
        name, part, *exempt = values
        target = upload or UploadBucket(name=name)
        return json.dumps(
            policies.upload_bucket_policy(
                partition=part,
                upload=target,
                exempt_arns=exempt,
                enforce_tls=enforce_tls,
                block_unscanned=block_unscanned,
                guardduty_tag=guardduty_tag,
            )
        )

    return pulumi.Output.all(bucket, partition, *exempt_arns).apply(render)
