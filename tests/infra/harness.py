"""Runs a real Pulumi program (``__main__.py``, or an example's) against recording mocks, one fresh runtime per run.

``deploy(settings)`` applies the ``Pulumi.yaml`` defaults the CLI would, passes every value as the string the engine
would, runs the program in its directory and returns a ``Deployment`` holding every registration: type, name, inputs
(as the provider would receive them: camelCase, resolved), parent, aliases and the dependencies the engine was told
about. Call it inside a ``@pulumi.runtime.test`` and check ``deployment.settled()``: it resolves once every resource is
registered. ``deploy(program=EXAMPLE)`` runs the example program instead.
"""

from __future__ import annotations

import contextlib
import json
import runpy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks

from infra.config import PROJECT

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "attach-bucket"
"""The example program: creates its own bucket and attaches the scanner to it."""
ACCOUNT = "123456789012"
REGION = "eu-west-1"
STACK = "test"
DIGEST = "sha256:" + "ab" * 32
ECR_PASSWORD = "ecr-token-password"
SECRET_SIG = rpc._special_sig_key
"""The key Pulumi puts on every serialized secret value."""


@dataclass
class Registration:
    """One resource as the engine saw it."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    secret_inputs: set[str]
    """Top-level input keys sent as (or containing) secrets."""
    retain_on_delete: bool = False
    aliases: list[str] = field(default_factory=list)
    """URNs the resource was known by before (alias specs resolved against this stack)."""
    parent: str = ""
    """The parent's URN, as the mock monitor made it ("" for none)."""
    engine_aliases: list[str] = field(default_factory=list)
    """The aliases as engine URNs (whole parent type chains, see RecordingMonitor.engine_urn)."""


class ScannerMocks(Mocks):
    """Returns the inputs plus the computed fields (ARNs, names, URLs, digests) the AWS provider would."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        name = args.name
        physical = args.inputs.get("name") or f"{args.inputs.get('namePrefix') or name + '-'}0a1b2c3"
        t = args.typ
        if t == "aws:s3/bucket:Bucket":
            bucket = args.inputs.get("bucket") or f"{name}-0a1b2c3"
            state.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
            return bucket, state
        arns = {
            "aws:iam/role:Role": f"arn:aws:iam::{ACCOUNT}:role/{physical}",
            "aws:lambda/function:Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{physical}",
            "aws:sqs/queue:Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{physical}",
            "aws:sns/topic:Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{physical}",
            "aws:kms/key:Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{name}-0000-1111",
            "aws:cloudwatch/logGroup:LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{physical}",
            "aws:ecr/repository:Repository": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{physical}",
            "aws:cloudwatch/eventRule:EventRule": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{physical}",
            "aws:cloudwatch/metricAlarm:MetricAlarm": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{physical}",
            "aws:dynamodb/table:Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{physical}",
        }
        if t in arns:
            state.update(name=physical, arn=arns[t])
        if t == "aws:sqs/queue:Queue":
            state["url"] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{physical}"
        if t == "aws:kms/key:Key":
            state["keyId"] = f"{name}-0000-1111"
        if t == "aws:ecr/repository:Repository":
            state.update(repositoryUrl=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{physical}", registryId=ACCOUNT)
        if t == "docker-build:index:Image":
            state.update(digest=DIGEST, ref=f"{args.inputs['tags'][0]}@{DIGEST}")
        return state.get("name", f"{name}-id"), state

    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        results = {
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/deployer",
                "userId": "AIDA",
                "id": ACCOUNT,
            },
            "aws:index/getPartition:getPartition": {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": "aws",
            },
            "aws:index/getRegion:getRegion": {
                "region": REGION,
                "name": REGION,
                "id": REGION,
                "endpoint": f"ec2.{REGION}.amazonaws.com",
                "description": "Europe (Ireland)",
            },
            "aws:ecr/getAuthorizationToken:getAuthorizationToken": {
                "userName": "AWS",
                "password": ECR_PASSWORD,
                "authorizationToken": "QVdTOnRva2Vu",
                "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com",
                "expiresAt": "2030-01-01",
                "id": REGION,
                "registryId": ACCOUNT,
            },
        }
        if args.token not in results:
            raise NotImplementedError(f"unexpected invoke {args.token}")
        return results[args.token]


class RecordingMonitor(MockMonitor):
    """MockMonitor that also keeps the exact inputs and dependencies of every registration."""

    def __init__(self, mocks: Mocks, project: str = PROJECT) -> None:
        super().__init__(mocks)
        self.project = project
        self.registrations: dict[str, Registration] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        raw = json.loads(json.dumps(dict(request.object), default=_struct_to_python))
        # The parent registered first: its type chain is known.
        engine_aliases = [self._engine_alias(a, request) for a in request.aliases]
        self.registrations[response.urn] = Registration(
            type=request.type,
            name=request.name,
            urn=response.urn,
            inputs=rpc.deserialize_properties(request.object),
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            secret_inputs={k for k, v in raw.items() if SECRET_SIG in json.dumps(v)},
            retain_on_delete=bool(request.retainOnDelete),
            aliases=[_alias_urn(a, request, self.project) for a in request.aliases],
            parent=request.parent,
            engine_aliases=engine_aliases,
        )
        return response

    def _engine_alias(self, alias: Any, request: Any) -> str:
        if alias.urn:
            return alias.urn
        spec = alias.spec
        parent = "" if spec.noParent else spec.parentUrn or request.parent
        chain = self.qualified_type(parent) if parent in self.registrations else ""
        chain = "" if chain == "pulumi:pulumi:Stack" else chain
        typ = spec.type or request.type
        qualified = f"{chain}${typ}" if chain else typ
        return f"urn:pulumi:{STACK}::{self.project}::{qualified}::{spec.name or request.name}"

    def engine_urn(self, urn: str) -> str:
        """The URN the engine gives the resource: the mock monitor's keeps only the parent's type, the engine's the
        parent's whole type chain."""
        registration = self.registrations[urn]
        return f"urn:pulumi:{STACK}::{self.project}::{self.qualified_type(urn)}::{registration.name}"

    def qualified_type(self, urn: str) -> str:
        """The type chain from the top of the stack down to this resource (the stack itself left out)."""
        registration = self.registrations[urn]
        parent = self.registrations.get(registration.parent)
        if parent is None or parent.type == "pulumi:pulumi:Stack":
            return registration.type
        return f"{self.qualified_type(registration.parent)}${registration.type}"


def _alias_urn(alias: Any, request: Any, project: str) -> str:
    """The URN an alias spec names: the same name and type, under the given parent (or the stack itself)."""
    if alias.urn:
        return alias.urn
    spec = alias.spec
    if spec.noParent:
        parent_type = ""
    else:
        parent_urn = spec.parentUrn or request.parent
        parent_type = parent_urn.split("::")[2] if parent_urn else ""
        if parent_type.endswith("pulumi:pulumi:Stack"):
            parent_type = ""
    qualified = f"{parent_type}${request.type}" if parent_type else request.type
    return f"urn:pulumi:{STACK}::{project}::{qualified}::{spec.name or request.name}"


def _struct_to_python(value: Any) -> Any:
    from google.protobuf import json_format

    return json_format.MessageToDict(value)


class CheckLedger:
    """Counts checks handed to the runtime and checks the runtime actually invoked (conftest fails a test where they
    differ, or that deployed without scheduling any)."""

    def __init__(self) -> None:
        self.deployments = 0
        self.scheduled = 0
        self.ran = 0


LEDGER = CheckLedger()


@dataclass
class Deployment:
    """The program's module globals and everything it registered."""

    program: dict[str, Any]
    monitor: RecordingMonitor
    stack: pulumi.Resource
    resources: list[pulumi.Resource] = field(default_factory=list)

    def settled(self) -> pulumi.Output[Deployment]:
        """Resolves to this deployment once every resource of the program is registered."""
        return pulumi.Output.all(*[r.urn for r in self.resources]).apply(lambda _: self)

    def verify(self, check: Callable[[Deployment], None]) -> pulumi.Output[bool]:
        """Run ``check`` on the settled deployment; return this from a ``@pulumi.runtime.test`` function."""
        LEDGER.scheduled += 1

        def run(deployment: Deployment) -> bool:
            LEDGER.ran += 1  # reached: a failing check fails the test itself
            check(deployment)
            return True

        return self.settled().apply(run)

    def outputs(self) -> pulumi.Output[dict[str, Any]]:
        """The stack outputs the program exported, resolved."""
        return pulumi.Output.all(**self.stack.outputs)  # type: ignore[attr-defined]

    @property
    def registrations(self) -> list[Registration]:
        return list(self.monitor.registrations.values())

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.registrations if r.name == name]
        assert len(matches) == 1, f"{len(matches)} resources named {name!r}"
        return matches[0]


def project_file(program: Path = ROOT) -> dict[str, Any]:
    """A program's Pulumi.yaml."""
    return yaml.safe_load((program / "Pulumi.yaml").read_text())


def project_defaults(program: Path = ROOT) -> dict[str, Any]:
    """Defaults declared in a program's Pulumi.yaml, keyed by config key."""
    return {key: spec["default"] for key, spec in (project_file(program).get("config") or {}).items()}


def stack_settings(stack: str) -> dict[str, Any]:
    """The project's keys set in ``Pulumi.<stack>.yaml``."""
    values = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    prefix = f"{PROJECT}:"
    return {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}


def engine_config(settings: Mapping[str, Any], program: Path = ROOT) -> dict[str, str]:
    """Config as the engine hands it to the program: Pulumi.yaml defaults, overridden, every value a string (lists and
    objects as JSON)."""
    merged = {**project_defaults(program), **settings}
    project = project_file(program)["name"]

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | dict):
            return json.dumps(value)
        return str(value)

    return {f"{project}:{key}": text(value) for key, value in merged.items()}


def runtime(settings: Mapping[str, Any] | None = None, *, program: Path = ROOT, failing: bool = False) -> Deployment:
    """A fresh mocked runtime for a program's project and config, the program not run: resources the test creates
    are recorded as the program's. ``failing``: the test expects the run to fail, so it schedules no check."""
    deployment = _start(settings, program)
    LEDGER.deployments += 0 if failing else 1
    return deployment


def _start(settings: Mapping[str, Any] | None, program: Path) -> Deployment:
    project = project_file(program)["name"]
    mocks = ScannerMocks()
    monitor = RecordingMonitor(mocks, project)
    pulumi.runtime.settings.ROOT.set(None)  # a fresh root stack per program run
    pulumi.runtime.set_mocks(mocks, project=project, stack=STACK, preview=False, monitor=monitor)
    root = pulumi.runtime.settings.get_root_resource()
    assert root is not None
    deployment = Deployment(program={}, monitor=monitor, stack=root)

    def collect(args: pulumi.ResourceTransformationArgs) -> None:
        deployment.resources.append(args.resource)

    pulumi.runtime.register_stack_transformation(collect)
    pulumi.runtime.set_all_config(engine_config(settings or {}, program))
    return deployment


def deploy(settings: Mapping[str, Any] | None = None, *, program: Path = ROOT) -> Deployment:
    """Run the program's ``__main__.py`` in its directory, as the CLI does, with these config keys (unset keys take
    their Pulumi.yaml defaults)."""
    deployment = _start(settings, program)
    with contextlib.chdir(program):
        deployment.program = runpy.run_path(str(program / "__main__.py"), run_name="__pulumi_program__")
    LEDGER.deployments += 1
    return deployment
