"""Findings as AWS Security Finding Format (ASFF) for Security Hub's BatchImportFindings (pure).

One ASFF finding per ciswatch finding, with an Id that is stable across runs (account, control and
resource), so a later import updates it: a fixed finding becomes PASSED with Workflow RESOLVED, and
a finding whose resource is gone is ARCHIVED. Field limits are Security Hub's (botocore's model).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import catalog
from ..model import Arn, Finding, Status
from ..model.errors import ArnError
from ..model.findings import account_resource

SCHEMA_VERSION = "2018-10-08"
FINDING_TYPE = "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark"
COMPLIANCE = {
    Status.PASS: "PASSED",
    Status.FAIL: "FAILED",
    Status.WARNING: "WARNING",
    Status.ERROR: "NOT_AVAILABLE",
    Status.NOT_APPLICABLE: "NOT_AVAILABLE",
}
WORKFLOW = {Status.PASS: "RESOLVED", Status.NOT_APPLICABLE: "RESOLVED"}  # otherwise NEW
RESOURCE_TYPES = {
    "kms": "AwsKmsKey",
    "cloudtrail": "AwsCloudTrailTrail",
    "sns": "AwsSnsTopic",
    "cloudwatch": "AwsCloudWatchAlarm",
}


@dataclass(frozen=True)
class ImportContext:
    """Where the findings are imported: the account's default product in one region."""

    account: str
    region: str
    partition: str
    benchmark: str
    at: str  # ISO 8601 with a Z, the run's time

    @classmethod
    def now(cls, account: str, region: str, partition: str, benchmark: str) -> ImportContext:
        """The context of an import (or an ASFF file) made at this moment."""
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return cls(account=account, region=region, partition=partition, benchmark=benchmark, at=at)

    @property
    def product_arn(self) -> str:
        return f"arn:{self.partition}:securityhub:{self.region}:{self.account}:product/{self.account}/default"


def finding_id(account: str, control: str, resource: str) -> str:
    """Stable across runs and status changes (Security Hub updates the finding with this Id)."""
    digest = hashlib.sha256(resource.encode()).hexdigest()[:20]
    return f"ciswatch/{account}/{control}/{digest}"


def _severity(f: Finding) -> str:
    if f.status is Status.FAIL:
        return str(f.severity)  # HIGH or MEDIUM
    if f.status in (Status.WARNING, Status.ERROR):
        return "LOW"
    return "INFORMATIONAL"


def _resource(arn_text: str | None, ctx: ImportContext) -> dict[str, Any] | None:
    if not arn_text:
        return None
    try:
        arn = Arn.parse(arn_text)
    except ArnError:
        return None
    kind = RESOURCE_TYPES.get(arn.service)
    if kind is None:
        return None
    return {"Type": kind, "Id": arn_text, "Partition": ctx.partition, "Region": arn.region or ctx.region}


def _account(account: str, ctx: ImportContext) -> dict[str, Any]:
    return {
        "Type": "AwsAccount",
        "Id": account_resource(ctx.partition, account),
        "Partition": ctx.partition,
        "Region": ctx.region,
    }


def _resources(f: Finding, ctx: ImportContext) -> list[dict[str, Any]]:
    """The finding's own resource first (the key, or the account), then the chain's links it names."""
    own = _resource(f.resource, ctx) if f.is_per_resource else None
    out = [own or _account(f.account, ctx)]
    for key in ("trail", "alarm", "topic"):
        value = f.evidence.get(key) if isinstance(f.evidence, Mapping) else None
        extra = _resource(value, ctx) if isinstance(value, str) else None
        if extra and extra["Id"] not in {r["Id"] for r in out}:
            out.append(extra)
    return out[:32]


def _requirements(control: str, cis_id: str | None, benchmark: str, security_hub_id: str | None) -> list[str]:
    reqs = []
    if cis_id:
        reqs.append(f"CIS AWS Foundations Benchmark v{benchmark}/{cis_id}")
    if security_hub_id:
        reqs.append(security_hub_id)
    return reqs


def _title(control: str, cis_id: str | None) -> str:
    title = catalog.control(control).title
    return (f"{cis_id} {title}" if cis_id else title)[:256]


def to_asff(findings: Iterable[Finding], ctx: ImportContext) -> list[dict[str, Any]]:
    out = []
    for f in findings:
        status = Status(f.status)
        item: dict[str, Any] = {
            "SchemaVersion": SCHEMA_VERSION,
            "Id": finding_id(f.account, f.control, f.resource),
            "ProductArn": ctx.product_arn,
            "GeneratorId": f"ciswatch/{f.control}",
            "AwsAccountId": f.account,
            "Types": [FINDING_TYPE],
            "CreatedAt": ctx.at,
            "UpdatedAt": ctx.at,
            "Severity": {"Label": _severity(f)},
            "Title": _title(f.control, f.cis_id),
            "Description": (f.reason or f.control)[:1024],
            "Resources": _resources(f, ctx),
            "Compliance": {
                "Status": COMPLIANCE[status],
                "RelatedRequirements": _requirements(f.control, f.cis_id, ctx.benchmark, f.security_hub_id),
            },
            "Workflow": {"Status": "SUPPRESSED" if f.suppressed else WORKFLOW.get(status, "NEW")},
            "RecordState": "ACTIVE",
            "ProductFields": {"ciswatch/status": str(status), "ciswatch/control": f.control},
        }
        if f.suppressed:
            note = f.suppressed
            item["Note"] = {
                "Text": f"suppressed until {note.get('expires')}: {note.get('reason')}"[:512],
                "UpdatedBy": str(note.get("owner") or "ciswatch")[:512],
                "UpdatedAt": ctx.at,
            }
        if f.remediation:
            item["Remediation"] = {"Recommendation": {"Text": f.remediation[:512]}}
        out.append(item)
    return out


def archived(gone: Iterable[Mapping[str, Any]], ctx: ImportContext) -> list[dict[str, Any]]:
    """Findings whose resource no longer exists (a transition to CLOSED): ARCHIVED in Security Hub."""
    out = []
    for t in gone:
        control, resource = str(t["control"]), str(t["resource"])
        account = str(t.get("account") or ctx.account)
        cis_id = t.get("cis_id")
        res = _resource(resource, ctx) or _account(account, ctx)
        out.append(
            {
                "SchemaVersion": SCHEMA_VERSION,
                "Id": finding_id(account, control, resource),
                "ProductArn": ctx.product_arn,
                "GeneratorId": f"ciswatch/{control}",
                "AwsAccountId": account,
                "Types": [FINDING_TYPE],
                "CreatedAt": ctx.at,
                "UpdatedAt": ctx.at,
                "Severity": {"Label": "INFORMATIONAL"},
                "Title": _title(control, cis_id if isinstance(cis_id, str) else None),
                "Description": "the resource no longer exists",
                "Resources": [res],
                "Compliance": {"Status": "NOT_AVAILABLE"},
                "Workflow": {"Status": "RESOLVED"},
                "RecordState": "ARCHIVED",
            }
        )
    return out
