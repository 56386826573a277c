"""The scanner's container image: an ECR repository and a buildx build pushed to it, referenced by digest."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from infra import policies

DEPLOY_TAG = "latest"
"""The one tag each deploy moves; every other tag in the repository is immutable."""


@dataclass(frozen=True)
class ScannerImageArgs:
    """Where the image is built from and how long old images are kept."""

    tags: Mapping[str, str]
    """AWS tags of the repository."""
    keep_images: int = 10
    """The repository's lifecycle policy keeps this many newest images."""
    context: str = "."
    """Build context, relative to the project directory."""
    dockerfile: str = "Dockerfile"
    """Dockerfile, relative to the project directory."""
    definitions_stamp: str = ""
    """Build argument DEFINITIONS_STAMP: a new value makes the build download fresh definitions."""
    ca_bundle: str | None = None
    """PEM text handed to the build as secret ``ca`` (the Dockerfile's pip trusts it behind a TLS proxy)."""
    partition: pulumi.Input[str] = "aws"
    region: pulumi.Input[str] = ""
    account_id: pulumi.Input[str] = ""
    """Where the functions that may pull the image live (the repository policy names them)."""


class ScannerImage(pulumi.ComponentResource):
    """ECR repository (scan on push, immutable tags, lifecycle) and the linux/amd64 image pushed to it."""

    repository: aws.ecr.Repository
    repository_policy: aws.ecr.RepositoryPolicy
    image: docker_build.Image
    image_uri: pulumi.Output[str]
    """``<repository>@sha256:...``: pinned by digest, so every new image redeploys the functions. It depends on the
    repository policy too, so a function using it is created only once Lambda may pull the image."""
    ref: pulumi.Output[str]

    def __init__(self, name: str, args: ScannerImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("s3clamav:image:ScannerImage", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository = aws.ecr.Repository(
            f"{name}-repository",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            image_tag_mutability="IMMUTABLE_WITH_EXCLUSION",
            image_tag_mutability_exclusion_filters=[
                aws.ecr.RepositoryImageTagMutabilityExclusionFilterArgs(filter=DEPLOY_TAG, filter_type="WILDCARD")
            ],
            # Images are build output: rebuilt from the repository on every deploy.
            force_delete=True,
            tags=dict(args.tags),
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=self.repository.name,
            policy=json.dumps(policies.ecr_lifecycle_policy(args.keep_images)),
            opts=child,
        )
        self.repository_policy = aws.ecr.RepositoryPolicy(
            f"{name}-repository-policy",
            repository=self.repository.name,
            policy=pulumi.Output.all(args.partition, args.region, args.account_id).apply(
                lambda v: json.dumps(policies.ecr_repository_policy(partition=v[0], region=v[1], account_id=v[2]))
            ),
            opts=child,
        )
        token = aws.ecr.get_authorization_token_output(
            registry_id=self.repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        self.image = docker_build.Image(
            f"{name}-image",
            context=docker_build.BuildContextArgs(location=args.context),
            dockerfile=docker_build.DockerfileArgs(location=args.dockerfile),
            platforms=[docker_build.Platform.LINUX_AMD64],
            build_args={"DEFINITIONS_STAMP": args.definitions_stamp},
            secrets={"ca": pulumi.Output.secret(args.ca_bundle)} if args.ca_bundle is not None else None,
            tags=[self.repository.repository_url.apply(lambda url: f"{url}:{DEPLOY_TAG}")],
            # One registry export of a single-platform build, in Docker media types: a plain image manifest, no
            # index. The provider's embedded buildx adds no provenance attestation (which would wrap the image in
            # an index that Lambda rejects); exec mode would use the host's docker-buildx defaults, so it stays off.
            push=False,
            exports=[docker_build.ExportArgs(registry=docker_build.ExportRegistryArgs(oci_media_types=False))],
            exec_=False,
            registries=[
                docker_build.RegistryArgs(
                    address=self.repository.repository_url,
                    username=token.user_name,
                    password=pulumi.Output.secret(token.password),
                )
            ],
            opts=child,
        )
        self.image_uri = pulumi.Output.all(
            self.repository.repository_url, self.image.digest, self.repository_policy.id
        ).apply(lambda v: f"{v[0]}@{v[1]}")
        self.ref = self.image.ref
        self.register_outputs({"imageUri": self.image_uri, "ref": self.ref})
