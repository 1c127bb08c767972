"""``--format ocsf``: OCSF Compliance Finding events (class 2003), built with py-ocsf-models (the
maintained model library Prowler uses: pydantic models of the OCSF schema, so a field of the wrong
type or a missing required one is refused while building). CLI only: not in the Lambda bundle."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import metadata as package_metadata

from py_ocsf_models.events.base_event import SeverityID, StatusID
from py_ocsf_models.events.findings.activity_id import ActivityID
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
from py_ocsf_models.events.findings.compliance_finding_type_id import ComplianceFindingTypeID
from py_ocsf_models.objects.compliance import Compliance
from py_ocsf_models.objects.compliance_status import StatusID as ComplianceStatusID
from py_ocsf_models.objects.finding_info import FindingInformation
from py_ocsf_models.objects.metadata import Metadata
from py_ocsf_models.objects.product import Product
from py_ocsf_models.objects.remediation import Remediation
from py_ocsf_models.objects.resource_details import ResourceDetails

from chalicelib import catalog
from chalicelib.model import Finding, Status
from chalicelib.pipeline import AuditResult
from chalicelib.report.asff import finding_id

COMPLIANCE_STATUS = {
    Status.PASS: ComplianceStatusID.Pass,
    Status.FAIL: ComplianceStatusID.Fail,
    Status.WARNING: ComplianceStatusID.Warning,
    Status.ERROR: ComplianceStatusID.Unknown,
    Status.NOT_APPLICABLE: ComplianceStatusID.Other,
}


def _version() -> str:
    try:
        return package_metadata.version("ciswatch")
    except package_metadata.PackageNotFoundError:
        return "0"


def _severity(f: Finding) -> SeverityID:
    if f.status is Status.FAIL:
        return SeverityID.High if str(f.severity) == "HIGH" else SeverityID.Medium
    if f.status in (Status.WARNING, Status.ERROR):
        return SeverityID.Low
    return SeverityID.Informational


def to_ocsf(result: AuditResult, region: str) -> list[ComplianceFinding]:
    now = datetime.now(UTC)
    product = Product(name="ciswatch", vendor_name="ciswatch", version=_version())
    events = []
    for f in result.findings:
        status = Status(f.status)
        title = catalog.control(f.control).title
        resource = ResourceDetails(
            uid=f.resource,
            type="AWS::KMS::Key" if f.is_per_resource else "AWS::::Account",
            region=f.region or region,
            cloud_partition=result.snapshot.partition,
            data={"evidence": dict(f.evidence)},
        )
        event = ComplianceFinding(
            activity_id=ActivityID.Create,
            activity_name=ActivityID.Create.name,
            type_uid=ComplianceFindingTypeID.Create,
            type_name=f"Compliance Finding: {ActivityID.Create.name}",
            time=int(now.timestamp()),
            time_dt=now,
            severity_id=_severity(f),
            severity=_severity(f).name,
            status_id=StatusID.Suppressed
            if f.suppressed
            else (StatusID.Resolved if status is Status.PASS else StatusID.New),
            status_code=str(status),
            status_detail=f.reason,
            message=f.reason,
            metadata=Metadata(
                event_code=f.control,
                product=product,
                version="1.5.0",
                profiles=["cloud"],
                tenant_uid=result.account,
            ),
            finding_info=FindingInformation(
                uid=finding_id(f.account, f.control, f.resource),
                title=f"{f.cis_id} {title}" if f.cis_id else title,
                desc=f.reason,
                created_time=int(now.timestamp()),
                created_time_dt=now,
                types=["CIS AWS Foundations Benchmark"],
            ),
            compliance=Compliance(
                standards=[f"CIS AWS Foundations Benchmark v{result.benchmark}"],
                requirements=[r for r in (f.cis_id, f.security_hub_id) if r],
                control=f.cis_id or f.control,
                status_id=COMPLIANCE_STATUS[status],
            ),
            remediation=Remediation(desc=f.remediation) if f.remediation else None,
            resources=[resource],
            unmapped={"suppressed": dict(f.suppressed)} if f.suppressed else None,
        )
        events.append(event)
    return events


def render_ocsf(result: AuditResult, region: str) -> str:
    """A JSON array of events, as OCSF consumers (Security Lake, SIEMs) take them."""
    events = [json.loads(e.model_dump_json(exclude_none=True)) for e in to_ocsf(result, region)]
    return json.dumps(events, indent=2) + "\n"
