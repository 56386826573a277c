"""AWS access for the review and backfill commands: one session, clients on demand, errors a person can act on."""

from __future__ import annotations

import argparse
import getpass
import os
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from scanner.cli import defaults
from scanner.cli.errors import CliError

_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60)
_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "403", "Forbidden", "AllAccessDisabled"})
_NO_BUCKET = frozenset({"NoSuchBucket"})
_NO_KEY = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """--endpoint-url / --region / --profile, shared by every command that talks to AWS."""
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="endpoint, e.g. the local pipeline's http://127.0.0.1:4599 (default: AWS, or $AWS_ENDPOINT_URL)",
    )
    group.add_argument("--region", help="AWS region (default: from the profile; us-east-1 with --endpoint-url)")
    group.add_argument("--profile", help="AWS named profile (default: the default credential chain)")


@dataclass
class Aws:
    """Clients for one command, built lazily from one session; knows whether it talks to a local endpoint."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    _session: boto3.Session | None = field(default=None, init=False, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Aws:
        return cls(args.endpoint_url or defaults.endpoint_from_environment(), args.region, args.profile)

    @property
    def is_local(self) -> bool:
        return self.endpoint_url is not None

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            region = self.region or (defaults.LOCAL_REGION if self.is_local else None)
            try:
                session = boto3.Session(profile_name=self.profile, region_name=region)
            except BotoCoreError as err:
                raise CliError(f"AWS profile: {err}") from err
            if self.is_local and not self.profile and session.get_credentials() is None:
                # The local pipeline accepts any credentials; a fresh machine has none.
                session = boto3.Session(region_name=region, **defaults.LOCAL_CREDENTIALS)
            self._session = session
        return self._session

    def client(self, service: str) -> Any:
        if service not in self._clients:
            try:
                self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url, config=_CONFIG)
            except NoRegionError as err:
                raise CliError("no AWS region configured: pass --region or set AWS_REGION") from err
        return self._clients[service]

    def caller(self) -> str:
        """Who is acting: the caller's ARN from STS, or the local user name when STS cannot say."""
        try:
            return str(self.client("sts").get_caller_identity()["Arn"])
        except (BotoCoreError, ClientError, CliError):
            return os.environ.get("USER") or getpass.getuser()


def explain(err: BaseException, *, action: str, bucket: str | None = None, key: str | None = None) -> CliError:
    """A CliError naming what failed and what to do, for an exception raised by boto3."""
    where = f"s3://{bucket}/{key}" if bucket and key else (f"s3://{bucket}" if bucket else "")
    if isinstance(err, NoCredentialsError | PartialCredentialsError):
        return CliError(
            f"{action}: no AWS credentials found (configure a profile, or pass --endpoint-url for the local pipeline)"
        )
    if isinstance(err, EndpointConnectionError):
        return CliError(f"{action}: cannot connect to {err.kwargs.get('endpoint_url')} (is `scanner local` running?)")
    if isinstance(err, NoRegionError):
        return CliError(f"{action}: no AWS region configured: pass --region or set AWS_REGION")
    if isinstance(err, ClientError):
        code = error_code(err)
        if code in _NO_BUCKET:
            return CliError(f"{action}: bucket {bucket or '(unknown)'} does not exist")
        if code in _NO_KEY:
            return CliError(f"{action}: {where or 'the object'} does not exist")
        if code in _DENIED:
            return CliError(f"{action}: access denied on {where or 'the resource'} for this caller ({code})")
        message = err.response.get("Error", {}).get("Message") or code
        return CliError(f"{action}: {where + ': ' if where else ''}{code}: {message}")
    return CliError(f"{action}: {err}")


def error_code(err: BaseException) -> str:
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return type(err).__name__


def is_not_found(err: BaseException) -> bool:
    return isinstance(err, ClientError) and error_code(err) in _NO_KEY | _NO_BUCKET


def require_bucket(s3: Any, bucket: str, *, action: str) -> None:
    """Fail with a clear message when the bucket is missing or denied (HEAD answers 404/403 without a code)."""
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as err:
        if error_code(err) in {"404", "NoSuchBucket", "NotFound"}:
            raise CliError(f"{action}: bucket {bucket} does not exist") from err
        raise explain(err, action=action, bucket=bucket) from err
    except BotoCoreError as err:
        raise explain(err, action=action, bucket=bucket) from err
