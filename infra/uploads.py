"""The buckets being scanned: one managed bucket, or existing buckets attached by name or resource."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.buckets import HardenedBucket, HardenedBucketArgs
from infra.config import UploadBucket


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


def attached_target(
    key: str,
    name: pulumi.Input[str],
    *,
    partition: pulumi.Input[str],
    arn: pulumi.Input[str] | None = None,
    prefix: str | None = None,
    suffix: str | None = None,
) -> UploadTarget:
    """An existing bucket to scan; without ``arn`` (a bucket known by name only) it is derived from the name."""
    bucket_arn = (
        pulumi.Output.from_input(arn)
        if arn is not None
        else pulumi.Output.all(partition, name).apply(lambda v: policies.bucket_arn(v[0], v[1]))
    )
    return UploadTarget(key=key, name=pulumi.Output.from_input(name), arn=bucket_arn, prefix=prefix, suffix=suffix)


class UploadBuckets(pulumi.ComponentResource):
    """Creates the managed upload bucket, or attaches existing ones; optionally blocks unscanned downloads.

    S3 keeps one policy per bucket: on an attached bucket, ``block_unscanned`` replaces the policy it had.
    """

    targets: list[UploadTarget]
    managed: HardenedBucket | None
    download_blocks: list[aws.s3.BucketPolicy]
    """Policies of attached buckets denying unscanned downloads (empty unless block_unscanned)."""

    def __init__(
        self,
        name: str,
        *,
        attached: Sequence[UploadTarget],
        block_unscanned: bool,
        guardduty_tag: bool = False,
        partition: pulumi.Input[str],
        exempt_arns: Sequence[pulumi.Input[str]],
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``attached`` empty: one managed bucket is created (and scanned whole). ``guardduty_tag``: the policies
        also protect GuardDuty's status tag from uploaders."""
        super().__init__("s3clamav:storage:UploadBuckets", name, {}, opts)
        self.managed = None
        self.download_blocks = []
        if not attached:
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
                        block_unscanned=block_unscanned,
                        guardduty_tag=guardduty_tag,
                    ),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.targets = [UploadTarget(key="managed", name=self.managed.name, arn=self.managed.arn)]
        else:
            self.targets = list(attached)
            if block_unscanned:
                self.download_blocks = [
                    aws.s3.BucketPolicy(
                        f"{name}-{t.key}-policy",
                        bucket=t.name,
                        # Not our bucket: only the download block, no other statement.
                        policy=_policy_json(
                            t.name,
                            t,
                            partition=partition,
                            exempt_arns=exempt_arns,
                            enforce_tls=False,
                            block_unscanned=True,
                            guardduty_tag=guardduty_tag,
                        ),
                        opts=pulumi.ResourceOptions(parent=self),
                    )
                    for t in self.targets
                ]
        self.register_outputs({"names": pulumi.Output.all(*[t.name for t in self.targets])})


def _policy_json(
    bucket: pulumi.Input[str],
    upload: UploadTarget | None,
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
        target = upload.resolved(name) if upload else UploadBucket(name=name)
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
