"""Stack settings: parsing, defaults that match Pulumi.yaml, and errors that name the key at fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import CONFIG_KEYS, PROJECT, ConfigError, InfectedAction, StackConfig, UploadBucket
from infra.options import TriggerMode
from tests.infra.harness import ROOT, engine_config, project_defaults, stack_settings

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def parse(**settings: Any) -> StackConfig:
    return StackConfig.from_mapping(settings)


def test_pulumi_yaml_documents_exactly_the_keys_the_program_reads() -> None:
    assert sorted(project_defaults()) == sorted(CONFIG_KEYS)


def test_the_readmes_config_table_names_every_key() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = readme.split("| key | default | what it sets |", 1)[1].split("\n\n", 1)[0]
    assert [key for key in CONFIG_KEYS if f"`{key}`" not in table] == []


UNTYPED_KEYS = {"uploadBuckets"}
"""Keys Pulumi.yaml declares without a type: the CLI would refuse some of the forms the program accepts."""


def test_pulumi_yaml_declarations_are_well_formed() -> None:
    # The CLI accepts these types only, wants `items` on arrays, and checks each default against its type; a key
    # without `type` is passed through unchecked (CLI 3.45+).
    python_types = {"string": str, "integer": int, "boolean": bool, "array": list}
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert {key for key, spec in project["config"].items() if "type" not in spec} == UNTYPED_KEYS
    for key, spec in project["config"].items():
        assert set(spec) <= {"type", "items", "default", "description"}, key
        assert spec["description"].strip(), key
        if key in UNTYPED_KEYS:
            assert set(spec) == {"default", "description"}, key
            continue
        assert isinstance(spec["default"], python_types[spec["type"]]), key
        if spec["type"] == "array":
            assert spec["items"] == {"type": "string"}, key
            assert all(isinstance(item, str) for item in spec["default"]), key


def test_pulumi_yaml_documents_both_forms_of_upload_buckets() -> None:
    description = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]["uploadBuckets"]["description"]
    assert "pulumi config set --path 'uploadBuckets[0].name'" in description
    assert "bucket/prefix*suffix" in description


def test_pulumi_yaml_defaults_are_the_program_defaults() -> None:
    # What the CLI passes when a stack sets nothing must equal what the program assumes when a key is absent.
    from_engine = StackConfig.from_mapping({k.split(":", 1)[1]: v for k, v in engine_config({}).items()})
    assert from_engine == StackConfig.from_mapping({})


def test_defaults() -> None:
    config = parse()
    assert config == StackConfig()
    assert config.upload_buckets == ()
    assert config.managed_upload_bucket
    assert config.infected_action is InfectedAction.QUARANTINE
    assert config.quarantine_retention_days == 90
    assert (config.memory_mb, config.timeout_seconds, config.ephemeral_storage_mb) == (3008, 900, 4096)
    assert config.max_object_bytes == 512 * 1024**2
    assert config.options.trigger_mode is TriggerMode.DIRECT
    assert config.reserved_concurrency is None
    assert config.block_unscanned_downloads is True
    assert config.definitions_updates is True
    assert config.definitions_schedule == "rate(3 hours)"
    assert config.definitions_interval_seconds == 3 * 3600
    assert config.definitions_mirror_url == "https://database.clamav.net"
    assert (config.definitions_check_minutes, config.definitions_max_age_hours) == (15, 24)


def test_engine_strings_are_typed() -> None:
    config = StackConfig.from_mapping(
        {
            "uploadBuckets": '["corp-uploads/incoming/", "partner-drop/inbound/*.zip", "plain-bucket"]',
            "memoryMB": "4096",
            "reservedConcurrency": "25",
            "encryptedIsInfected": "true",
            "tags": '["team=security", "environment=prod"]',
            "kmsKeyArns": f'["{KEY_ARN}", "{KEY_ARN}"]',
        }
    )
    assert config.upload_buckets == (
        UploadBucket("corp-uploads", "incoming/", None),
        UploadBucket("partner-drop", "inbound/", ".zip"),
        UploadBucket("plain-bucket", None, None),
    )
    assert (config.memory_mb, config.reserved_concurrency, config.encrypted_is_infected) == (4096, 25, True)
    assert config.tags == {"team": "security", "environment": "prod"}
    assert config.kms_key_arns == (KEY_ARN,)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("bucket-a", UploadBucket("bucket-a")),
        ("bucket-a/", UploadBucket("bucket-a")),
        ("bucket-a/in/", UploadBucket("bucket-a", "in/")),
        ("bucket-a/in/*.pdf", UploadBucket("bucket-a", "in/", ".pdf")),
        ("bucket-a/*.pdf", UploadBucket("bucket-a", None, ".pdf")),
        ("my.dotted.bucket/a/b/c", UploadBucket("my.dotted.bucket", "a/b/c")),
    ],
)
def test_upload_bucket_entries(entry: str, expected: UploadBucket) -> None:
    assert UploadBucket.parse(entry, "uploadBuckets[0]") == expected


STRUCTURED = [
    {"name": "corp-uploads", "prefix": "incoming/"},
    {"name": "partner-drop", "prefix": "inbound/", "suffix": ".zip"},
    {"name": "plain-bucket"},
    {"name": "pdfs-only", "suffix": ".pdf"},
]
STRINGS = ["corp-uploads/incoming/", "partner-drop/inbound/*.zip", "plain-bucket", "pdfs-only/*.pdf"]


@pytest.mark.parametrize("value", [STRUCTURED, json.dumps(STRUCTURED)], ids=["native", "engine-json"])
def test_structured_upload_buckets_are_the_string_form(value: Any) -> None:
    """What `pulumi config set --path 'uploadBuckets[0].name' ...` writes is the same stack as the string form."""
    structured = StackConfig.from_mapping({"uploadBuckets": value})
    assert structured == StackConfig.from_mapping({"uploadBuckets": STRINGS})
    assert structured.upload_buckets[3] == UploadBucket("pdfs-only", None, ".pdf")


def test_the_forms_mix_and_empty_filters_are_unset() -> None:
    config = parse(uploadBuckets=["corp-uploads/incoming/", {"name": "drop", "prefix": "", "suffix": None}])
    assert config.upload_buckets == (UploadBucket("corp-uploads", "incoming/"), UploadBucket("drop"))


@pytest.mark.parametrize(
    ("entry", "key", "fragment"),
    [
        ({"prefix": "incoming/"}, "uploadBuckets[0].name", "the bucket name is required"),
        ({"name": "  "}, "uploadBuckets[0].name", "the bucket name is required"),
        ({"name": "Not_A_Bucket"}, "uploadBuckets[0].name", "not a valid S3 bucket name"),
        ({"name": "corp", "prefix": "in coming/"}, "uploadBuckets[0].prefix", "would need URL-encoded"),
        ({"name": "corp", "suffix": "*.zip"}, "uploadBuckets[0].suffix", "would need URL-encoded"),
        ({"name": "corp", "prefx": "in/"}, "uploadBuckets[0].prefx", "unknown field (did you mean prefix?)"),
        ({"name": "corp", "filter": "in/"}, "uploadBuckets[0].filter", "an entry has name, prefix and suffix"),
        # `pulumi config set --path 'uploadBuckets[0].prefix' 2024` stores a number
        ({"name": "corp", "prefix": 2024}, "uploadBuckets[0].prefix=2024", "add --type string"),
        ({"name": True}, "uploadBuckets[0].name=True", "is not a string"),
        (["corp"], "uploadBuckets[0]", "expected an object {name, prefix, suffix} or a string"),
    ],
)
def test_bad_structured_entries_name_the_field(entry: Any, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(uploadBuckets=[entry])
    assert key in str(error.value)
    assert fragment in str(error.value)


def test_structured_entries_are_checked_across_entries_too() -> None:
    with pytest.raises(ConfigError, match="uploadBuckets: corp listed more than once"):
        parse(uploadBuckets=[{"name": "corp", "prefix": "a/"}, "corp/b/"])
    with pytest.raises(ConfigError, match="quarantineBucketName='corp' is also in uploadBuckets"):
        parse(uploadBuckets=[{"name": "corp"}], quarantineBucketName="corp")


@pytest.mark.parametrize(
    ("uploads", "setting", "expected"),
    [
        ([], "auto", True),
        (["existing-bucket"], "auto", False),
        (["existing-bucket"], "true", True),
        ([], "false", False),
    ],
)
def test_block_unscanned_downloads_defaults_by_bucket_kind(uploads: list[str], setting: str, expected: bool) -> None:
    assert parse(uploadBuckets=uploads, blockUnscannedDownloads=setting).block_unscanned_downloads is expected


def test_definitions_interval_for_cron_is_unknown() -> None:
    config = parse(definitionsSchedule="cron(0 */6 * * ? *)")
    assert config.definitions_interval_seconds is None


@pytest.mark.parametrize(
    ("settings", "key", "fragment"),
    [
        # configuration that would loop
        (
            {"uploadBuckets": ["corp-uploads"], "quarantineBucketName": "corp-uploads"},
            "quarantineBucketName",
            "scanned again",
        ),
        # unknown action
        ({"infectedAction": "shred"}, "infectedAction", "tag, quarantine, delete"),
        # sizes out of range
        ({"maxObjectBytes": 0}, "maxObjectBytes", "out of range 1..2147483647"),
        ({"maxObjectBytes": 2**31}, "maxObjectBytes", "out of range 1..2147483647"),
        ({"memoryMB": 1024}, "memoryMB", "out of range 2048..10240"),
        ({"memoryMB": 10241}, "memoryMB", "out of range 2048..10240"),
        ({"timeoutSeconds": 901}, "timeoutSeconds", "out of range 30..900"),
        ({"ephemeralStorageMB": 10241}, "ephemeralStorageMB", "out of range 512..10240"),
        # One scan per environment (direct mode): two streams of maxObjectBytes, 512 MiB, two definitions sets.
        ({"maxObjectBytes": 600 * 1024**2, "ephemeralStorageMB": 2559}, "ephemeralStorageMB", "at least 2736"),
        ({"maxObjectBytes": 512 * 1024**2, "ephemeralStorageMB": 2559}, "ephemeralStorageMB", "at least 2560"),
        (
            {"maxObjectBytes": 512 * 1024**2, "ephemeralStorageMB": 1535, "definitionsUpdates": False},
            "ephemeralStorageMB",
            "at least 1536",
        ),
        ({"reservedConcurrency": 0}, "reservedConcurrency", "0 would stop all scans"),
        ({"maxEventAgeSeconds": 30}, "maxEventAgeSeconds", "out of range 60..21600"),
        ({"quarantineRetentionDays": 0}, "quarantineRetentionDays", "out of range"),
        ({"imageRetentionCount": 0}, "imageRetentionCount", "out of range"),
        # missing required key: an entry without its bucket name
        ({"uploadBuckets": ["/incoming/"]}, "uploadBuckets[0]", "bucket name is required"),
        ({"uploadBuckets": ["ok-bucket", ""]}, "uploadBuckets[1]", "bucket name is required"),
        # malformed values
        ({"uploadBuckets": ["Not_A_Bucket"]}, "uploadBuckets[0]", "not a valid S3 bucket name"),
        ({"uploadBuckets": ["b-1/a*b*c"]}, "uploadBuckets[0]", "more than one '*'"),
        ({"uploadBuckets": ["dup-bucket/a/", "dup-bucket/b/"]}, "uploadBuckets", "more than once"),
        ({"uploadBuckets": "corp-uploads"}, "uploadBuckets", "expected a list"),
        ({"memoryMB": "lots"}, "memoryMB", "not an integer"),
        ({"encryptedIsInfected": "maybe"}, "encryptedIsInfected", "not a boolean"),
        ({"blockUnscannedDownloads": "sometimes"}, "blockUnscannedDownloads", "auto, true or false"),
        ({"kmsKeyArns": ["alias/my-key"]}, "kmsKeyArns[0]", "not a KMS key ARN"),
        ({"adminRoleArns": ["arn:aws:iam::123456789012:user/bob"]}, "adminRoleArns[0]", "not an IAM role ARN"),
        ({"findingsEmail": "security"}, "findingsEmail", "not an e-mail address"),
        ({"logRetentionDays": 31}, "logRetentionDays", "not a CloudWatch Logs retention period"),
        ({"tags": ["team"]}, "tags[0]", "expected 'key=value'"),
        ({"tags": ["aws:owner=me"]}, "tags[0]", "'aws:' is reserved"),
        ({"quarantineBucketName": "UPPER"}, "quarantineBucketName", "not a valid S3 bucket name"),
        ({"definitionsSchedule": "every 3 hours"}, "definitionsSchedule", "not an EventBridge schedule"),
        ({"definitionsSchedule": "rate(1 hours)"}, "definitionsSchedule", "singular unit"),
        ({"definitionsSchedule": "rate(3 hour)"}, "definitionsSchedule", "singular unit"),
        ({"definitionsMirrorUrl": "ftp://mirror.example"}, "definitionsMirrorUrl", "not an http(s) URL"),
        ({"definitionsCheckMinutes": 0}, "definitionsCheckMinutes", "out of range 1..1440"),
        ({"definitionsMaxAgeHours": 3}, "definitionsMaxAgeHours", "must exceed the time between updates"),
        # a typo is not silently ignored
        ({"infectedActon": "delete"}, "infectedActon", "did you mean infectedAction?"),
    ],
)
def test_bad_configuration_names_the_key(settings: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        StackConfig.from_mapping(settings)
    message = str(error.value)
    assert key in message
    assert fragment in message


def test_quarantine_bucket_may_share_a_name_only_when_not_quarantining() -> None:
    config = parse(uploadBuckets=["corp-uploads"], quarantineBucketName="corp-uploads", infectedAction="tag")
    assert config.infected_action is InfectedAction.TAG


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_are_valid(stack: str) -> None:
    config = StackConfig.from_mapping(stack_settings(stack))
    assert config.infected_action is InfectedAction.QUARANTINE


def test_prod_example_attaches_filtered_buckets() -> None:
    config = StackConfig.from_mapping(stack_settings("prod"))
    assert config.upload_buckets == (
        UploadBucket("example-customer-uploads", "incoming/"),
        UploadBucket("example-partner-drop", "inbound/", ".zip"),
    )
    assert config.block_unscanned_downloads is True
    assert config.max_object_bytes == 512 * 1024**2
    assert config.options.trigger_mode is TriggerMode.QUEUE, "prod deploys the queue mode"
    assert (config.concurrent_scans, config.options.queue_maximum_concurrency) == (3, 20)


def test_hardening_keys_default_and_parse() -> None:
    from datetime import date

    default = parse()
    assert (default.quarantine_kms_key, default.definitions_stamp, default.image_build_ca_file) == (False, "auto", None)
    assert default.image_definitions_stamp(date(2026, 1, 2)) == ""
    baked = parse(definitionsUpdates="false", quarantineKmsKey="true")
    assert baked.quarantine_kms_key is True
    assert baked.image_definitions_stamp(date(2026, 1, 2)) == "2026-01-02"
    assert parse(definitionsStamp="pinned-1").image_definitions_stamp(date(2026, 1, 2)) == "pinned-1"


@pytest.mark.parametrize("tag", ["app=other", "pulumi-stack=x"])
def test_the_programs_own_tags_cannot_be_overridden(tag: str) -> None:
    # The deployer policy finds the stack's KMS keys by the app tag.
    with pytest.raises(ConfigError, match=r"tags\[0\].*set by the program"):
        parse(tags=[tag])
