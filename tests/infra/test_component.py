"""The S3VirusScanner component: the standalone program and the example both run through it, existing stacks keep
their resources through aliases, its arguments are checked like the stack config, and the component package other
languages use serves the schema and constructs the same resources."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pulumi
import pulumi_aws
import pytest
from google.protobuf import empty_pb2
from pulumi.provider.experimental.analyzer import Analyzer
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.experimental.util import camel_case
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from infra.component import PACKAGE, TYPE, S3VirusScanner, ScanBucket, ScannerArgs, _targets
from infra.config import CONFIG_KEYS, ConfigError, InfectedAction, StackConfig
from infra.options import ScanOptions, TriggerMode
from tests.infra.harness import (
    ACCOUNT,
    EXAMPLE,
    PROJECT,
    ROOT,
    STACK,
    Deployment,
    Registration,
    deploy,
    runtime,
    stack_settings,
)

PRE_COMPONENT = json.loads((Path(__file__).parent / "data" / "pre_component_urns.json").read_text())["cases"]
COMPONENT_ONLY = {"buckets", "source_dir", "resource_name_prefix"}
EXAMPLE_BUCKET = "uploads-0a1b2c3"


def component(d: Deployment) -> Registration:
    (registration,) = d.of_type(TYPE)
    return registration


def descends_from(d: Deployment, registration: Registration, ancestor: Registration) -> bool:
    parent = d.monitor.registrations.get(registration.parent)
    return parent is not None and (parent.urn == ancestor.urn or descends_from(d, parent, ancestor))


# --- the standalone program is config in, one component, exports out --------------------------------------------


@pulumi.runtime.test
def test_the_program_is_one_component_owning_every_resource() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        scanner = component(d)
        assert scanner.name == "clamav"
        assert d.monitor.registrations[scanner.parent].type == "pulumi:pulumi:Stack"
        others = [r for r in d.registrations if r.type not in (TYPE, "pulumi:pulumi:Stack")]
        assert len(others) == len(PRE_COMPONENT["default"]["urns"])
        assert all(descends_from(d, r, scanner) for r in others)
        assert all(d.monitor.engine_urn(r.urn).split("::")[2].startswith(f"{TYPE}$") for r in others)

    return deploy().verify(check)


def test_the_program_only_reads_config_and_exports() -> None:
    program = (ROOT / "__main__.py").read_text()
    assert program.count("S3VirusScanner(") == 1
    assert "infra.component" not in program and "pulumi_aws" not in program


# --- existing stacks keep their resources ------------------------------------------------------------------------


def taken_over(d: Deployment, old_state: set[str]) -> dict[str, str]:
    """For each resource, the URN in ``old_state`` the engine matches it with: its own URN, else the first of its
    aliases, its own and those inherited from its parent's match (pkg/resource/deploy/step_generator.go,
    generateAliases and inheritedChildAlias)."""
    matched: dict[str, str] = {}
    via_alias: dict[str, str] = {}
    for urn, r in d.monitor.registrations.items():  # registration order: parents first
        if r.type == "pulumi:pulumi:Stack":
            continue
        new = d.monitor.engine_urn(urn)
        if new in old_state:
            matched[urn] = new
            continue
        candidates = list(r.engine_aliases)
        parent = d.monitor.registrations.get(r.parent)
        if parent is not None and r.parent in via_alias:
            own = [(r.type, r.name)] + [(a.split("::")[2].split("$")[-1], a.split("::")[3]) for a in r.engine_aliases]
            candidates += [inherited(typ, name, parent.name, via_alias[r.parent]) for typ, name in own]
        hit = next((c for c in candidates if c in old_state), None)
        if hit is not None:
            matched[urn] = via_alias[urn] = hit
    return matched


def inherited(child_type: str, child_name: str, parent_name: str, parent_alias: str) -> str:
    """The engine's inheritedChildAlias: the child under its parent's old URN; a name derived from the parent's
    follows the parent's old name."""
    _, _, parent_type, parent_alias_name = parent_alias.split("::")
    name = (
        parent_alias_name + child_name.removeprefix(parent_name) if child_name.startswith(parent_name) else child_name
    )
    return f"urn:pulumi:{STACK}::{PROJECT}::{parent_type}${child_type}::{name}"


@pytest.mark.parametrize("case", sorted(PRE_COMPONENT))
@pulumi.runtime.test
def test_every_resource_of_a_pre_component_stack_is_taken_over(case: str) -> pulumi.Output[bool]:
    old_state = set(PRE_COMPONENT[case]["urns"])

    def check(d: Deployment) -> None:
        matched = taken_over(d, old_state)
        # Nothing of the old state is left to delete, and no resource takes over two of them.
        assert sorted(matched.values()) == sorted(old_state)
        # Only the component itself is new.
        new = [d.monitor.registrations[u] for u in d.monitor.registrations if u not in matched]
        assert [r.type for r in new] == ["pulumi:pulumi:Stack", TYPE]
        for urn, old in matched.items():
            registration = d.monitor.registrations[urn]
            assert old.endswith(f"{registration.type}::{registration.name}"), (old, urn)

    return deploy(PRE_COMPONENT[case]["settings"]).verify(check)


@pulumi.runtime.test
def test_each_child_of_the_component_is_aliased_to_the_top_of_the_stack() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        scanner = component(d)
        children = [r for r in d.registrations if r.parent == scanner.urn]
        assert {r.name for r in children} >= {"findings", "scanner-image", "scanner", "uploads", "alarms"}
        for child in children:
            top = f"urn:pulumi:{STACK}::{PROJECT}::{child.type}::{child.name}"
            assert child.engine_aliases == [top], child.name
            assert child.aliases == [top], child.name
        # Below them the engine carries the alias over (inherited aliases): only the quarantine's bucket has one of
        # its own, from when it moved into Quarantine. (pulumi_aws adds type aliases of its own: BucketV2 -> Bucket.)
        grandchildren = [r for r in d.registrations if r.parent not in (scanner.urn, scanner.parent, "")]
        top_level = [r.name for r in grandchildren if any("$" not in a.split("::")[2] for a in r.engine_aliases)]
        assert top_level == ["quarantine"]

    return deploy({"uploadBuckets": ["corp-uploads/incoming/"]}).verify(check)


# --- the example program -----------------------------------------------------------------------------------------


@pulumi.runtime.test
def test_the_example_attaches_the_scanner_to_its_own_bucket() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        scanner = component(d)
        assert scanner.name == "av"
        bucket = d.named("uploads")
        assert bucket.type == "aws:s3/bucket:Bucket" and bucket.parent == scanner.parent
        others = [r for r in d.registrations if r.type not in (TYPE, "pulumi:pulumi:Stack") and r.name != "uploads"]
        assert others and all(descends_from(d, r, scanner) and r.name.startswith("av-") for r in others)

        notification = d.named("av-trigger-uploads-notification")
        assert notification.inputs["bucket"] == EXAMPLE_BUCKET
        (subscription,) = notification.inputs["lambdaFunctions"]
        assert subscription["filterPrefix"] == "incoming/"
        permission = d.named("av-trigger-uploads-permission")
        assert permission.inputs["sourceArn"] == f"arn:aws:s3:::{EXAMPLE_BUCKET}"
        assert permission.inputs["sourceAccount"] == ACCOUNT
        # The ARN comes from the bucket resource itself.
        assert bucket.urn in permission.property_dependencies["sourceArn"]

        block = d.named("av-uploads-uploads-policy")
        assert block.inputs["bucket"] == EXAMPLE_BUCKET
        deny = {s["Sid"]: s for s in json.loads(block.inputs["policy"])["Statement"]}["DenyUnscannedDownloads"]
        assert deny["Resource"] == [f"arn:aws:s3:::{EXAMPLE_BUCKET}/incoming/*"]
        grants = {s["Sid"]: s for s in json.loads(d.named("av-scanner-policy").inputs["policy"])["Statement"]}
        assert grants["ReadAndTagUploads"]["Resource"] == [f"arn:aws:s3:::{EXAMPLE_BUCKET}/incoming/*"]

        # The image is built from this checkout, addressed from the example's directory.
        image = d.named("av-scanner-image-image").inputs
        assert image["context"] == {"location": "../.."}
        assert image["dockerfile"] == {"location": "../../Dockerfile"}
        assert (EXAMPLE / image["dockerfile"]["location"]).resolve() == ROOT / "Dockerfile"

    return deploy(program=EXAMPLE).verify(check)


@pulumi.runtime.test
def test_the_example_exports_the_components_outputs() -> pulumi.Output[bool]:
    deployment = deploy(program=EXAMPLE)

    def check(outputs: dict[str, Any]) -> bool:
        assert outputs["uploadBucket"] == EXAMPLE_BUCKET
        assert outputs["scannerFunction"] == "av-scanner-function-0a1b2c3"
        assert outputs["quarantineBucket"] == "av-quarantine-bucket-0a1b2c3"
        assert outputs["findingsTopicArn"].endswith(":av-findings-topic-0a1b2c3")
        return True

    return deployment.verify(lambda d: None).apply(lambda _: deployment.outputs()).apply(check)


def test_the_example_attaches_in_a_few_lines() -> None:
    program = (EXAMPLE / "__main__.py").read_text()
    code = [line for line in program.splitlines() if line.strip() and not line.lstrip().startswith(("#", '"""'))]
    assert "from s3_clamav_scanner import S3VirusScanner, ScanBucket, ScannerArgs" in program
    assert len(code) <= 14


# --- structured stack config -------------------------------------------------------------------------------------

STRUCTURED = [
    {"name": "corp-uploads", "prefix": "incoming/"},
    {"name": "partner-drop", "prefix": "inbound/", "suffix": ".zip"},
]


@pulumi.runtime.test
def test_structured_upload_buckets_attach_with_their_filters() -> pulumi.Output[bool]:
    def check(d: Deployment) -> None:
        for bucket, prefix, suffix in [("corp-uploads", "incoming/", None), ("partner-drop", "inbound/", ".zip")]:
            (subscription,) = d.named(f"trigger-{bucket}-notification").inputs["lambdaFunctions"]
            assert subscription.get("filterPrefix") == prefix
            assert subscription.get("filterSuffix") == suffix
            assert d.named(f"uploads-{bucket}-policy").inputs["bucket"] == bucket
        grants = {s["Sid"]: s for s in json.loads(d.named("scanner-policy").inputs["policy"])["Statement"]}
        assert grants["ReadAndTagUploads"]["Resource"] == [
            "arn:aws:s3:::corp-uploads/incoming/*",
            "arn:aws:s3:::partner-drop/inbound/*",
        ]

    # The harness hands the list to the program as the engine does: one JSON string.
    return deploy({"uploadBuckets": STRUCTURED, "blockUnscannedDownloads": "true"}).verify(check)


def test_the_program_refuses_a_bad_structured_entry() -> None:
    with pytest.raises(ConfigError, match=r"uploadBuckets\[1\]\.sufix: unknown field \(did you mean suffix\?\)"):
        deploy({"uploadBuckets": [{"name": "corp-uploads"}, {"name": "partner-drop", "sufix": ".zip"}]})


# --- the component's arguments -----------------------------------------------------------------------------------


def test_scanner_args_hold_every_stack_setting_under_its_config_key() -> None:
    options = {f.name for f in dataclasses.fields(ScanOptions)}
    option_args = {"guard_duty_status_tag" if n == "guardduty_status_tag" else n for n in options}
    settings = {f.name for f in dataclasses.fields(StackConfig)} - {"upload_buckets", "options"} | option_args
    fields = {f.name for f in dataclasses.fields(ScannerArgs) if not f.name.startswith("_")}
    assert fields == settings | COMPONENT_ONLY
    analyzer = Analyzer(PACKAGE)
    documented = {}
    for name in fields:
        doc = analyzer.get_docstring(ScannerArgs, name)
        assert doc and doc.strip(), name
        documented[name] = doc.split(":", 1)[0]
    keys = {documented[name] for name in settings | {"buckets"}}
    assert keys == set(CONFIG_KEYS)
    for name in ("bucket", "prefix", "suffix", "key"):
        assert analyzer.get_docstring(ScanBucket, name), name


@pytest.mark.parametrize("stack", ["default", "dev", "prod"])
def test_a_stack_config_passes_through_the_arguments_unchanged(stack: str) -> None:
    config = StackConfig.from_mapping({} if stack == "default" else stack_settings(stack))
    assert ScannerArgs.from_stack_config(config).settings == config


def test_defaults_are_the_stack_configs() -> None:
    assert ScannerArgs().settings == StackConfig.from_mapping({})
    attached = ScannerArgs(buckets=[ScanBucket("corp-uploads")]).settings
    assert attached == StackConfig.from_mapping({"uploadBuckets": ["corp-uploads"]})
    assert attached.block_unscanned_downloads is False


ARG_ERRORS = [
    ({"memory_mb": 512}, {"memoryMB": 512}),
    ({"infected_action": "incinerate"}, {"infectedAction": "incinerate"}),
    ({"timeout_seconds": 30, "max_object_bytes": 2**31 - 1}, {"timeoutSeconds": 30, "maxObjectBytes": 2**31 - 1}),
    ({"definitions_schedule": "rate(1 days)"}, {"definitionsSchedule": "rate(1 days)"}),
    ({"kms_key_arns": ["alias/uploads"]}, {"kmsKeyArns": ["alias/uploads"]}),
    ({"log_retention_days": 31}, {"logRetentionDays": 31}),
    ({"reserved_concurrency": 0}, {"reservedConcurrency": 0}),
    ({"buckets": [ScanBucket("Not_A_Bucket")]}, {"uploadBuckets": [{"name": "Not_A_Bucket"}]}),
    (
        {"buckets": [ScanBucket("corp", prefix="in coming/")]},
        {"uploadBuckets": [{"name": "corp", "prefix": "in coming/"}]},
    ),
    (
        {"buckets": [ScanBucket("dup-bucket"), ScanBucket("dup-bucket")]},
        {"uploadBuckets": ["dup-bucket", "dup-bucket"]},
    ),
    (
        {"buckets": [ScanBucket("corp-uploads")], "quarantine_bucket_name": "corp-uploads"},
        {"uploadBuckets": ["corp-uploads"], "quarantineBucketName": "corp-uploads"},
    ),
    ({"trigger_mode": "fanout"}, {"triggerMode": "fanout"}),
    ({"scheduled_rescan": True}, {"scheduledRescan": True}),
    (
        {"trigger_mode": "queue", "scheduled_rescan": True, "definitions_updates": False},
        {"triggerMode": "queue", "scheduledRescan": True, "definitionsUpdates": False},
    ),
    (
        {"trigger_mode": "queue", "queue_batch_size": 50, "queue_batch_window_seconds": 0},
        {"triggerMode": "queue", "queueBatchSize": 50, "queueBatchWindowSeconds": 0},
    ),
    (
        {"trigger_mode": "queue", "scan_concurrency": 4, "max_object_bytes": 2**30},
        {"triggerMode": "queue", "scanConcurrency": 4, "maxObjectBytes": 2**30},
    ),
]


@pytest.mark.parametrize(("args", "settings"), ARG_ERRORS, ids=[next(iter(s)) for _, s in ARG_ERRORS])
def test_bad_arguments_get_the_stack_configs_error(args: dict[str, Any], settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as from_config:
        StackConfig.from_mapping(settings)
    with pytest.raises(ConfigError) as from_args:
        ScannerArgs(**args)
    assert str(from_args.value) == str(from_config.value)


def test_the_components_own_tags_are_refused_too() -> None:
    with pytest.raises(ConfigError, match=r"tags\['app'\]: tag 'app' is set by the program itself"):
        ScannerArgs(tags={"app": "other"})


def test_a_bucket_must_come_as_a_scan_bucket() -> None:
    with pytest.raises(ConfigError, match=r"uploadBuckets\[0\]: expected a ScanBucket"):
        ScannerArgs(buckets=["corp-uploads"])  # type: ignore[list-item]


@pulumi.runtime.test
def test_buckets_named_by_outputs_need_a_key_each() -> pulumi.Output[bool]:
    d = runtime()
    name = pulumi.Output.from_input("corp-uploads")
    with pytest.raises(ConfigError, match=r"uploadBuckets\[0\]\.key: required for a bucket named by an Output"):
        _targets(ScannerArgs(buckets=[ScanBucket(name)]), "aws")
    with pytest.raises(ConfigError, match=r"uploadBuckets\[1\]\.key: 'corp' also names uploadBuckets\[0\]"):
        _targets(ScannerArgs(buckets=[ScanBucket(name, key="corp"), ScanBucket("corp")]), "aws")
    (target,) = _targets(ScannerArgs(buckets=[ScanBucket(name, key="corp", suffix=".pdf")]), "aws")

    def check(values: list[str]) -> bool:
        assert values == ["corp", "corp-uploads", "arn:aws:s3:::corp-uploads"]
        assert (target.prefix, target.suffix) == (None, ".pdf")
        return True

    return d.verify(lambda _: None).apply(lambda _: pulumi.Output.all(target.key, target.name, target.arn)).apply(check)


@pytest.mark.parametrize(
    ("name", "quarantine", "message"),
    [
        ("Bad_Name", None, r"uploadBuckets\[0\]\.name: 'Bad_Name' is not a valid S3 bucket name"),
        ("corp-q", "corp-q", r"quarantineBucketName='corp-q' is also in uploadBuckets"),
    ],
)
def test_a_name_known_only_at_deployment_is_checked_then(name: str, quarantine: str | None, message: str) -> None:
    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        d = runtime(failing=True)
        bucket = ScanBucket(pulumi.Output.from_input(name), key="b")
        S3VirusScanner("av", ScannerArgs(buckets=[bucket], quarantine_bucket_name=quarantine))
        return d.settled()

    # The engine gets the error of the first resource whose inputs need the name.
    with pytest.raises(ValueError, match=message) as error:
        program()
    causes = [error.value]
    while causes[-1].__cause__ is not None:
        causes.append(causes[-1].__cause__)  # type: ignore[arg-type]
    assert isinstance(causes[-1], ConfigError)


@pulumi.runtime.test
def test_a_bucket_resource_feeds_the_scan_queue_through_eventbridge() -> pulumi.Output[bool]:
    d = runtime()
    bucket = pulumi_aws.s3.Bucket("uploads", bucket=EXAMPLE_BUCKET)
    scanner = S3VirusScanner(
        "av",
        ScannerArgs(
            buckets=[ScanBucket(bucket, prefix="incoming/")],
            trigger_mode="EventBridge",  # type: ignore[arg-type] - other languages send the enum's value
            scheduled_rescan=True,
            batch_operations=True,
        ),
    )
    assert scanner.scan_queue is not None and scanner.rescan is not None and scanner.batch_operations is not None
    assert scanner.triggers == []

    def check(d: Deployment) -> None:
        # An attached bucket's notification configuration stays its owner's (the managed bucket would get one).
        notified = [n.inputs["bucket"] for n in d.of_type("aws:s3/bucketNotification:BucketNotification")]
        assert EXAMPLE_BUCKET not in notified
        assert d.named("av-rescan-definitions-events").inputs["eventbridge"] is True, "the rescan's own trigger"
        assert len(notified) == 1
        invokers = [p.inputs["principal"] for p in d.of_type("aws:lambda/permission:Permission")]
        assert "s3.amazonaws.com" not in invokers
        rules = d.of_type("aws:cloudwatch/eventRule:EventRule")
        (rule,) = [r for r in rules if r.name.startswith("av-queue-triggers-")]
        assert json.loads(rule.inputs["eventPattern"])["detail"] == {
            "bucket": {"name": [EXAMPLE_BUCKET]},
            "object": {"key": [{"prefix": "incoming/"}]},
        }
        mapping = d.named("av-scan-mapping").inputs
        assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["functionName"].startswith("av-scanner-function")
        rescan_env = d.named("av-rescan-function").inputs["environment"]["variables"]
        assert EXAMPLE_BUCKET in json.dumps(rescan_env)
        assert d.named("av-batch-operations-role").inputs["assumeRolePolicy"]
        scanner_registration = component(d)
        children = {(r.type, r.name) for r in d.registrations if r.parent == scanner_registration.urn}
        assert {
            ("s3clamav:scanner:ScanQueue", "av-scan"),
            ("s3clamav:scanner:QueueTriggers", "av-queue-triggers"),
            ("s3clamav:rescan:ScheduledRescan", "av-rescan"),
            ("s3clamav:rescan:BatchOperationsAccess", "av-batch-operations"),
        } <= children

    return d.verify(check)


@pulumi.runtime.test
def test_the_image_needs_a_checkout_to_build_from(tmp_path: Path) -> pulumi.Output[bool]:
    d = runtime()
    with pytest.raises(ConfigError, match=r"source_dir=.* holds no Dockerfile and scanner/"):
        S3VirusScanner("av", ScannerArgs(source_dir=str(tmp_path)))

    def check(d: Deployment) -> None:
        assert [r.type for r in d.registrations] == ["pulumi:pulumi:Stack", TYPE]  # nothing under it

    return d.verify(check)


# --- the component package for other languages -------------------------------------------------------------------


def schema() -> dict[str, Any]:
    return json.loads(ComponentProvider([S3VirusScanner], PACKAGE, None, "0.1.0").schema or "{}")


def test_the_schema_other_languages_get() -> None:
    resource = schema()["resources"][TYPE]
    assert resource["isComponent"] is True
    inputs = resource["inputProperties"]
    fields = [f.name for f in dataclasses.fields(ScannerArgs) if not f.name.startswith("_")]
    assert set(inputs) == {camel_case(name) for name in fields}
    assert {"memoryMb", "kmsKeyArns", "resourceNamePrefix"} <= set(inputs)
    assert resource.get("requiredInputs", []) == []
    assert inputs["buckets"]["items"]["$ref"] == f"#/types/{PACKAGE}:index:ScanBucket"
    assert inputs["infectedAction"]["$ref"] == f"#/types/{PACKAGE}:index:InfectedAction"
    assert inputs["memoryMb"]["type"] == "integer"
    assert inputs["tags"]["additionalProperties"]["type"] == "string"
    types = schema()["types"]
    bucket = types[f"{PACKAGE}:index:ScanBucket"]
    assert set(bucket["properties"]) == {"bucket", "prefix", "suffix", "key"}
    assert bucket["required"] == ["bucket"]
    assert bucket["properties"]["bucket"]["type"] == "string"
    assert [e["value"] for e in types[f"{PACKAGE}:index:InfectedAction"]["enum"]] == [a.value for a in InfectedAction]
    outputs = resource["properties"]
    assert {"functionName", "functionArn", "roleArn", "quarantineBucket", "deadLetterQueueUrl"} <= set(outputs)
    assert set(resource["required"]) == set(outputs) - {
        "quarantineBucket",
        "allowListTable",
        "definitionsBucket",
        "updaterFunctionName",
        "scanQueueUrl",
        "scanDeadLetterQueueUrl",
        "rescanFunctionName",
        "batchOperationsRoleArn",
        "batchOperationsReportBucket",
    }
    assert [e["value"] for e in types[f"{PACKAGE}:index:TriggerMode"]["enum"]] == [m.value for m in TriggerMode]
    assert inputs["triggerMode"]["$ref"] == f"#/types/{PACKAGE}:index:TriggerMode"
    assert inputs["guardDutyStatusTag"]["type"] == "boolean"


@pulumi.runtime.test
def test_the_provider_constructs_what_other_languages_ask_for() -> pulumi.Output[bool]:
    d = runtime()
    provider = ComponentProvider([S3VirusScanner], PACKAGE, None, "0.1.0")
    # As another language's SDK sends them: camelCase, numbers as floats, the enum as its value.
    inputs = {
        "buckets": [{"bucket": "corp-uploads", "prefix": "incoming/"}],
        "memoryMb": 4096.0,
        "infectedAction": "delete",
        "definitionsUpdates": False,
    }
    result = provider.construct("av", TYPE, inputs)

    def check(d: Deployment) -> None:
        assert component(d).name == "av"
        function = d.named("av-scanner-function").inputs
        assert function["memorySize"] == 4096
        assert function["environment"]["variables"]["INFECTED_ACTION"] == "delete"
        assert not d.of_type("aws:s3/bucket:Bucket")  # no quarantine, no definitions, no managed bucket
        (subscription,) = d.named("av-trigger-corp-uploads-notification").inputs["lambdaFunctions"]
        assert subscription["filterPrefix"] == "incoming/"
        assert set(result.state) >= {"functionName", "functionArn", "roleArn", "deadLetterQueueUrl", "uploadBuckets"}
        assert "quarantineBucket" not in result.state

    return d.verify(check)


def test_the_plugin_serves_the_schema_as_the_language_host_runs_it() -> None:
    """What the Python language host's RunPlugin starts: `python <plugin directory> <engine address>` (no Pulumi CLI
    here: the engine address is never dialled for these two calls)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "provider"), "127.0.0.1:9"],
        cwd=EXAMPLE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip() or 0)
        assert port, process.stderr.read().decode() if process.stderr else ""
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            served = json.loads(stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=60).schema)
            info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=60)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert served == schema()
    assert served["name"] == PACKAGE
    assert info.version == "0.1.0"


def test_the_plugin_is_a_python_source_package_on_the_programs_pins() -> None:
    import yaml

    plugin = ROOT / "provider"
    assert yaml.safe_load((plugin / "PulumiPlugin.yaml").read_text()) == {"runtime": "python"}
    lines = [line for line in (plugin / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert lines == ["-r ../requirements.txt"]
    # The root's __main__.py is the standalone program: a PulumiPlugin.yaml there would run it as the plugin.
    assert not (ROOT / "PulumiPlugin.yaml").exists()


def test_the_example_installs_this_checkout() -> None:
    lines = [line for line in (EXAMPLE / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert lines == ["-r ../../requirements.txt", "-e ../.."]
    assert (EXAMPLE / "../../pyproject.toml").resolve() == ROOT / "pyproject.toml"


def python_snippet(document: Path) -> str:
    text = document.read_text()
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_docs_show_the_same_three_lines() -> None:
    snippet = python_snippet(ROOT / "README.md")
    assert python_snippet(ROOT / "docs" / "DEPLOY.md") == snippet
    assert len([line for line in snippet.splitlines() if line.strip()]) == 3


@pulumi.runtime.test
def test_the_readmes_three_lines_deploy() -> pulumi.Output[bool]:
    import pulumi_aws as aws

    d = runtime()
    exec(python_snippet(ROOT / "README.md"), {"aws": aws})

    def check(d: Deployment) -> None:
        assert component(d).name == "av"
        (subscription,) = d.named("av-trigger-uploads-notification").inputs["lambdaFunctions"]
        assert subscription["filterPrefix"] == "incoming/"
        assert d.named("av-trigger-uploads-notification").inputs["bucket"] == EXAMPLE_BUCKET

    return d.verify(check)
