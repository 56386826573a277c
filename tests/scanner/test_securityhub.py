"""Security Hub findings: ASFF content (checked against botocore's model), imports into moto's Security Hub,
"not enabled" handled once, and the workflow update after a release or purge (BatchUpdateFindings: not in moto
5.2.5, so its request is checked against botocore's model with a Stubber)."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from botocore.validate import ParamValidator

from scanner.events import ObjectRef
from scanner.process import Outcome
from scanner.securityhub import ProductArn, SecurityHubFindings, finding, finding_id, workflow_update
from scanner.verdict import ScanStatus

ACCOUNT = "123456789012"
PRODUCT = f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default"
ENGINE = "ClamAV 1.4.6/27830/Wed Nov 26 09:29:01 2026"


def infected(key: str = "in/evil.bin", version: str | None = "v1", **overrides: Any) -> Outcome:
    fields: dict[str, Any] = {
        "ref": ObjectRef("uploads", key),
        "status": ScanStatus.INFECTED,
        "detail": "Eicar-Test-Signature",
        "version_id": version,
        "etag": "0123abcd",
        "sha256": "cd" * 32,
        "engine": ENGINE,
        "scanned_at": "2026-11-27T07:00:00Z",
        "quarantine_location": f"s3://quarantine/uploads/{key}",
    }
    fields.update(overrides)
    return Outcome(**fields)


def unscannable(key: str = "in/secret.zip") -> Outcome:
    return Outcome(
        ObjectRef("uploads", key),
        status=ScanStatus.UNSCANNABLE,
        detail="encrypted",
        version_id="v2",
        etag="ffff",
        engine=ENGINE,
        scanned_at="2026-11-27T07:00:00Z",
    )


def validate(operation: str, params: dict[str, Any]) -> None:
    client = boto3.client("securityhub", region_name="us-east-1")
    shape = client.meta.service_model.operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), report.generate_report()


def test_an_infected_finding_names_the_object_version_signature_and_quarantine() -> None:
    document = finding(infected(), ProductArn.parse(PRODUCT), now="2026-11-27T07:00:01Z")
    validate("BatchImportFindings", {"Findings": [document]})
    assert document["ProductArn"] == PRODUCT and document["AwsAccountId"] == ACCOUNT
    assert document["SchemaVersion"] == "2018-10-08"
    assert document["GeneratorId"] == "s3-clamav-scanner/INFECTED"
    assert document["FindingProviderFields"] == {
        "Severity": {"Label": "HIGH", "Original": "INFECTED"},
        "Types": ["TTPs/Initial Access/S3 Object Malware Detected"],
    }
    obj, bucket = document["Resources"]
    assert obj == {
        "Type": "AwsS3Object",
        "Id": "arn:aws:s3:::uploads/in/evil.bin",
        "Partition": "aws",
        "Region": "us-east-1",
        "Details": {"AwsS3Object": {"ETag": "0123abcd", "VersionId": "v1"}},
    }
    assert bucket["Type"] == "AwsS3Bucket" and bucket["Id"] == "arn:aws:s3:::uploads"
    assert document["Malware"] == [
        {"Name": "Eicar-Test-Signature", "Path": "s3://uploads/in/evil.bin", "State": "REMOVED"}
    ]
    assert document["ProductFields"]["scanner/quarantineLocation"] == "s3://quarantine/uploads/in/evil.bin"
    assert document["ProductFields"]["scanner/sha256"] == "cd" * 32
    assert "Eicar-Test-Signature" in document["Title"]


def test_finding_ids_are_per_content() -> None:
    assert finding_id("b", "k", "v1", "e") == finding_id("b", "k", "v1", "other-etag"), "a version names the content"
    assert finding_id("b", "k", "v1", "e") != finding_id("b", "k", "v2", "e")
    assert finding_id("b", "k", None, "e1") != finding_id("b", "k", None, "e2"), "unversioned: the ETag does"
    assert finding_id("b", "k", "null", '"e1"') == finding_id("b", "k", None, "e1")
    assert finding_id("b", "k/1", None, "e") != finding_id("b/k", "1", None, "e")
    assert len(finding_id("b", "k" * 1024, "v", "e")) <= 512


@pytest.fixture
def hub(session: boto3.Session, endpoint: str) -> Any:
    client = session.client("securityhub", endpoint_url=endpoint)
    try:
        client.enable_security_hub(EnableDefaultStandards=False)
    except ClientError as err:
        if "already" not in str(err).lower():
            raise
    return client


def ours(client: Any, ids: set[str]) -> dict[str, dict[str, Any]]:
    return {f["Id"]: f for f in client.get_findings()["Findings"] if f["Id"] in ids}


def test_findings_are_imported_into_moto_security_hub_and_reimport_updates(hub: Any) -> None:
    key = f"in/{uuid.uuid4().hex}.bin"
    findings = SecurityHubFindings(hub, PRODUCT, include_unscannable=False)
    items = [infected(key), unscannable(f"{key}.zip"), Outcome(ObjectRef("uploads", "x"), status=ScanStatus.CLEAN)]
    assert findings.import_for(items) == []
    wanted = finding_id("uploads", key, "v1", "0123abcd")
    skipped = finding_id("uploads", f"{key}.zip", "v2", "ffff")
    stored = ours(hub, {wanted, skipped})
    assert set(stored) == {wanted}, "UNSCANNABLE only when configured, CLEAN never"
    assert stored[wanted]["Resources"][0]["Id"] == f"arn:aws:s3:::uploads/{key}"

    findings.import_for([infected(key, quarantine_location=None, problems=["action:QuarantineError"])])
    again = ours(hub, {wanted})
    assert len(again) == 1 and again[wanted]["Malware"][0]["State"] == "REMOVAL_FAILED"

    assert SecurityHubFindings(hub, PRODUCT, include_unscannable=True).import_for([unscannable(f"{key}.zip")]) == []
    assert ours(hub, {skipped})[skipped]["FindingProviderFields"]["Severity"]["Label"] == "LOW"


def test_security_hub_not_enabled_is_logged_once_and_never_tried_again() -> None:
    client = boto3.client("securityhub", region_name="us-east-1")
    findings = SecurityHubFindings(client, PRODUCT, include_unscannable=True)
    with Stubber(client) as stub:
        stub.add_client_error(
            "batch_import_findings",
            service_error_code="InvalidAccessException",
            service_message="Account 123456789012 is not subscribed to AWS Security Hub",
            http_status_code=401,
        )
        assert findings.import_for([infected()]) == []
        assert findings.disabled
        assert findings.import_for([infected("other")]) == [], "no second call (the Stubber has no answer left)"
        stub.assert_no_pending_responses()

    client = boto3.client("securityhub", region_name="us-east-1")
    findings = SecurityHubFindings(client, PRODUCT, include_unscannable=False)
    with Stubber(client) as stub:
        stub.add_response(
            "batch_import_findings",
            {
                "FailedCount": 1,
                "SuccessCount": 0,
                "FailedFindings": [{"Id": "x", "ErrorCode": "InvalidAccess", "ErrorMessage": "not enabled"}],
            },
            {"Findings": ANY},
        )
        assert findings.import_for([infected()]) == [] and findings.disabled


def test_other_failures_hand_back_the_outcomes() -> None:
    client = boto3.client("securityhub", region_name="us-east-1")
    findings = SecurityHubFindings(client, PRODUCT, include_unscannable=False)
    first, second = infected("a"), infected("b")
    with Stubber(client) as stub:
        stub.add_response(
            "batch_import_findings",
            {
                "FailedCount": 1,
                "SuccessCount": 1,
                "FailedFindings": [
                    {"Id": finding_id("uploads", "b", "v1", "x"), "ErrorCode": "InvalidInput", "ErrorMessage": "bad"}
                ],
            },
            {"Findings": ANY},
        )
        stub.add_client_error("batch_import_findings", service_error_code="AccessDeniedException", http_status_code=403)
        assert findings.import_for([first, second]) == [second]
        assert findings.import_for([first]) == [first]
        assert not findings.disabled


def test_release_suppresses_the_finding_with_batch_update_findings() -> None:
    client = boto3.client("securityhub", region_name="us-east-1")
    fid = finding_id("uploads", "in/evil.bin", "v1", "0123abcd")
    request = {
        "FindingIdentifiers": [{"Id": fid, "ProductArn": PRODUCT}],
        "Workflow": {"Status": "SUPPRESSED"},
        "Note": {"Text": "released: a false positive", "UpdatedBy": "arn:aws:iam::123456789012:user/alice"},
        "VerificationState": "FALSE_POSITIVE",
    }
    validate("BatchUpdateFindings", request)
    with Stubber(client) as stub:
        stub.add_response(
            "batch_update_findings",
            {"ProcessedFindings": [{"Id": fid, "ProductArn": PRODUCT}], "UnprocessedFindings": []},
            request,
        )
        result = workflow_update(
            client,
            PRODUCT,
            [fid, fid],
            status="SUPPRESSED",
            note="released: a false positive",
            updated_by="arn:aws:iam::123456789012:user/alice",
            verification_state="FALSE_POSITIVE",
        )
        stub.assert_no_pending_responses()
    assert (result.status, result.processed) == ("updated", 1)


def test_workflow_update_never_raises_and_says_why(session: boto3.Session, endpoint: str, hub: Any) -> None:
    client = boto3.client("securityhub", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error(
            "batch_update_findings", service_error_code="InvalidAccessException", http_status_code=401
        )
        result = workflow_update(client, PRODUCT, ["x"], status="RESOLVED", note="purged", updated_by="bob")
    assert result.status == "not-enabled"
    # moto 5.2.5 has no BatchUpdateFindings: the real HTTP call fails, and the caller is told, not crashed.
    moto = workflow_update(hub, PRODUCT, ["x"], status="RESOLVED", note="purged", updated_by="bob")
    assert moto.status == "failed" and moto.error
