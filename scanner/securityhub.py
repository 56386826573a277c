"""Security Hub findings: one ASFF finding per INFECTED (and, when configured, UNSCANNABLE) object version.

Findings are imported with BatchImportFindings under this account's default product ARN, with an Id derived
from the bucket, key and version (the ETag when unversioned), so a rescan of the same content updates its
finding instead of adding one. Workflow.Status is the customer's: after a finding is created, AWS accepts
changes to it only through BatchUpdateFindings, which `scanner quarantine release` and `purge` call
(workflow_update below). Without Security Hub enabled, the scanner logs once and stops trying.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from scanner.observability import logger
from scanner.storage import is_versioned
from scanner.tags import utc_now_iso
from scanner.verdict import ScanStatus

if TYPE_CHECKING:
    from scanner.process import Outcome

ASFF_SCHEMA_VERSION: Final = "2018-10-08"
PRODUCT_NAME: Final = "s3-clamav-scanner"
MAX_FINDINGS_PER_CALL: Final = 100
"""BatchImportFindings and BatchUpdateFindings take at most 100 findings a request."""
NOT_ENABLED_CODES: Final = frozenset({"InvalidAccessException", "InvalidAccess"})
"""Security Hub (or the default product integration) is not enabled in this account and region."""
TYPES: Final = {
    ScanStatus.INFECTED: "TTPs/Initial Access/S3 Object Malware Detected",
    ScanStatus.UNSCANNABLE: "Software and Configuration Checks/Malware Scan/S3 Object Unscannable",
}
SEVERITY: Final = {ScanStatus.INFECTED: "HIGH", ScanStatus.UNSCANNABLE: "LOW"}
_PRODUCT_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):securityhub:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):product/\d{12}/default"
)


@dataclass(frozen=True)
class ProductArn:
    """`arn:<partition>:securityhub:<region>:<account>:product/<account>/default`, taken apart."""

    arn: str
    partition: str
    region: str
    account: str

    @classmethod
    def parse(cls, arn: str) -> ProductArn:
        match = _PRODUCT_ARN.fullmatch(arn)
        if match is None:
            raise ValueError(
                f"{arn!r} is not a default product ARN "
                "(arn:aws:securityhub:<region>:<account>:product/<account>/default)"
            )
        return cls(arn, match["partition"], match["region"], match["account"])


def finding_id(bucket: str, key: str, version_id: str | None, etag: str | None) -> str:
    """The finding of one content: its version, or its ETag when the bucket is unversioned (rule 3)."""
    content = version_id if is_versioned(version_id) else f"etag:{(etag or '').strip(chr(34))}"
    digest = hashlib.sha256(json.dumps([bucket, key, content], ensure_ascii=False).encode()).hexdigest()
    return f"{PRODUCT_NAME}/{digest}"


def reportable(outcome: Outcome, *, include_unscannable: bool) -> bool:
    if outcome.skipped or outcome.status is None:
        return False
    return outcome.status is ScanStatus.INFECTED or (include_unscannable and outcome.status is ScanStatus.UNSCANNABLE)


def finding(outcome: Outcome, product: ProductArn, *, now: str | None = None) -> dict[str, Any]:
    """The ASFF finding of one INFECTED or UNSCANNABLE outcome."""
    status = outcome.status
    assert status in TYPES, status
    ref = outcome.ref
    version = outcome.version_id or ref.version_id
    etag = (outcome.etag or ref.etag or "").strip('"') or None
    observed = outcome.scanned_at or utc_now_iso()
    location = f"s3://{ref.bucket}/{ref.key}"
    details: dict[str, str] = {}
    if etag:
        details["ETag"] = etag
    if is_versioned(version):
        details["VersionId"] = str(version)
    resource: dict[str, Any] = {
        "Type": "AwsS3Object",
        "Id": f"arn:{product.partition}:s3:::{ref.bucket}/{ref.key}",
        "Partition": product.partition,
        "Region": product.region,
    }
    if details:
        resource["Details"] = {"AwsS3Object": details}
    bucket = {"Type": "AwsS3Bucket", "Id": f"arn:{product.partition}:s3:::{ref.bucket}", "Partition": product.partition}
    severity = {"Label": SEVERITY[status], "Original": status.value}
    fields = {
        "scanner/status": status.value,
        "scanner/detail": outcome.detail,
        "scanner/engine": outcome.engine,
        "scanner/sha256": outcome.sha256,
        "scanner/quarantineLocation": outcome.quarantine_location,
        "scanner/versionId": version if is_versioned(version) else None,
        "scanner/eTag": etag,
    }
    document: dict[str, Any] = {
        "SchemaVersion": ASFF_SCHEMA_VERSION,
        "Id": finding_id(ref.bucket, ref.key, version, etag),
        "ProductArn": product.arn,
        "ProductName": PRODUCT_NAME,
        "GeneratorId": f"{PRODUCT_NAME}/{status.value}",
        "AwsAccountId": product.account,
        "FindingProviderFields": {"Severity": severity, "Types": [TYPES[status]]},
        "FirstObservedAt": observed,
        "LastObservedAt": observed,
        "CreatedAt": observed,
        "UpdatedAt": now or utc_now_iso(),
        "Title": _title(outcome)[:256],
        "Description": _description(outcome, location)[:1024],
        "ProductFields": {k: str(v)[:2048] for k, v in fields.items() if v},
        "Resources": [resource, bucket],
        "RecordState": "ACTIVE",
    }
    if status is ScanStatus.INFECTED and outcome.detail:
        malware = {"Name": outcome.detail[:64], "Path": location[:512]}
        state = _malware_state(outcome)
        if state:
            malware["State"] = state
        document["Malware"] = [malware]
    return document


class SecurityHubFindings:
    """Imports the findings of one invocation's outcomes; stays quiet for good once Security Hub says it is off."""

    def __init__(self, client: Any, product_arn: str, *, include_unscannable: bool) -> None:
        self.client = client
        self.product = ProductArn.parse(product_arn)
        self.include_unscannable = include_unscannable
        self.disabled = False
        """Security Hub answered that it is not enabled here: no further calls for the life of the environment."""

    def import_for(self, outcomes: Sequence[Outcome]) -> list[Outcome]:
        """Import one finding per reportable outcome; the outcomes whose finding failed (not for Security Hub
        being off) are returned."""
        wanted = [o for o in outcomes if reportable(o, include_unscannable=self.include_unscannable)]
        failed: list[Outcome] = []
        for start in range(0, len(wanted), MAX_FINDINGS_PER_CALL):
            if self.disabled:
                return []
            failed += self._import(wanted[start : start + MAX_FINDINGS_PER_CALL])
        return failed

    def _import(self, outcomes: list[Outcome]) -> list[Outcome]:
        documents = [finding(o, self.product) for o in outcomes]
        try:
            reply = self.client.batch_import_findings(Findings=documents)
        except ClientError as err:
            if _code(err) in NOT_ENABLED_CODES:
                self._disable(str(err))
                return []
            logger.error("Security Hub findings not imported", extra={"error": str(err), "findings": len(documents)})
            return outcomes
        except BotoCoreError as err:
            logger.error("Security Hub findings not imported", extra={"error": str(err), "findings": len(documents)})
            return outcomes
        by_id = {d["Id"]: o for d, o in zip(documents, outcomes, strict=True)}
        failed: list[Outcome] = []
        for error in reply.get("FailedFindings") or []:
            if error.get("ErrorCode") in NOT_ENABLED_CODES:
                self._disable(str(error.get("ErrorMessage")))
                continue
            outcome = by_id.get(str(error.get("Id")))
            logger.error(
                "Security Hub finding rejected",
                extra={"finding": error.get("Id"), "code": error.get("ErrorCode"), "error": error.get("ErrorMessage")},
            )
            if outcome is not None:
                failed.append(outcome)
        return failed

    def _disable(self, why: str) -> None:
        if not self.disabled:
            logger.warning("Security Hub is not enabled here: no findings are imported", extra={"error": why})
        self.disabled = True


@dataclass(frozen=True)
class WorkflowResult:
    """What BatchUpdateFindings said about a workflow update (for the CLI's output)."""

    status: str
    processed: int = 0
    unprocessed: tuple[str, ...] = ()
    error: str | None = None

    def document(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "processed": self.processed,
            "unprocessed": list(self.unprocessed),
            "error": self.error,
        }


def workflow_update(
    client: Any,
    product_arn: str,
    finding_ids: Sequence[str],
    *,
    status: str,
    note: str,
    updated_by: str,
    verification_state: str | None = None,
) -> WorkflowResult:
    """Set Workflow.Status (and a Note) on our findings with BatchUpdateFindings, the customer API for it.

    Never raises: the release or purge it follows has already happened; the result says what became of it.
    """
    identifiers = [{"Id": f, "ProductArn": product_arn} for f in dict.fromkeys(finding_ids)]
    if not identifiers:
        return WorkflowResult("no-findings")
    processed, unprocessed = 0, []
    for start in range(0, len(identifiers), MAX_FINDINGS_PER_CALL):
        request: dict[str, Any] = {
            "FindingIdentifiers": identifiers[start : start + MAX_FINDINGS_PER_CALL],
            "Workflow": {"Status": status},
            "Note": {"Text": note[:512] or status, "UpdatedBy": updated_by[:512] or "scanner"},
        }
        if verification_state:
            request["VerificationState"] = verification_state
        try:
            reply = client.batch_update_findings(**request)
        except ClientError as err:
            kind = "not-enabled" if _code(err) in NOT_ENABLED_CODES else "failed"
            return WorkflowResult(kind, processed, tuple(unprocessed), f"{_code(err)}: {err}")
        except BotoCoreError as err:
            return WorkflowResult("failed", processed, tuple(unprocessed), str(err))
        processed += len(reply.get("ProcessedFindings") or [])
        unprocessed += [
            f"{u.get('FindingIdentifier', {}).get('Id')}: {u.get('ErrorCode')}"
            for u in reply.get("UnprocessedFindings") or []
        ]
    return WorkflowResult("updated" if processed else "not-found", processed, tuple(unprocessed))


def _title(outcome: Outcome) -> str:
    if outcome.status is ScanStatus.INFECTED:
        return f"Malware in S3 object: {outcome.detail}"
    return f"S3 object could not be scanned: {outcome.detail}"


def _description(outcome: Outcome, location: str) -> str:
    if outcome.status is ScanStatus.INFECTED:
        where = f" It was moved to {outcome.quarantine_location}." if outcome.quarantine_location else ""
        return f"ClamAV ({outcome.engine}) detected {outcome.detail} in {location}.{where}"
    return (
        f"ClamAV ({outcome.engine}) could not see all of {location} ({outcome.detail}); it is tagged UNSCANNABLE "
        "and is not downloadable through the scanner's download block."
    )


def _malware_state(outcome: Outcome) -> str | None:
    """REMOVED once a verified quarantine copy exists, REMOVAL_FAILED when the action failed; otherwise unsaid
    (the outcome does not tell a tag-only deployment from a deleted source)."""
    if outcome.quarantine_location:
        return "REMOVED"
    if any(p.startswith("action:") for p in outcome.problems):
        return "REMOVAL_FAILED"
    return None


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))
