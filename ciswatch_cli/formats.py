"""Report files for other tools (CLI only; the Lambda does not render them): CSV, JUnit XML and ASFF."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import UTC, datetime

from chalicelib import catalog
from chalicelib.model import Finding, Status
from chalicelib.pipeline import AuditResult
from chalicelib.report import asff

CSV_COLUMNS = (
    "account",
    "cis_id",
    "control",
    "security_hub_id",
    "status",
    "severity",
    "region",
    "resource",
    "reason",
    "remediation",
)


def render_csv(result: AuditResult) -> str:
    """One row per finding, in benchmark order, with stable columns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for f in _ordered(result.findings):
        writer.writerow(
            [
                f.account,
                f.cis_id or "",
                f.control,
                f.security_hub_id or "",
                str(f.status),
                str(f.severity),
                f.region or "",
                f.resource,
                f.reason,
                f.remediation or "",
            ]
        )
    return out.getvalue()


def render_junit(result: AuditResult) -> str:
    """One test case per control: a failure per FAIL, an error per ERROR, skipped when not applicable.
    A control's per-resource findings (KMS keys) are listed in its case's text."""
    by_control: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        by_control[f.control].append(f)
    suite = ET.Element(
        "testsuite",
        name=f"ciswatch CIS AWS Foundations Benchmark {result.benchmark} ({result.account})",
        timestamp=result.started_at or datetime.now(UTC).isoformat(),
        time=str(result.duration_s),
    )
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for control in sorted(by_control, key=lambda c: _order_of(by_control[c])):
        findings = by_control[control]
        head = next((f for f in findings if not f.is_per_resource), findings[0])
        name = f"{head.cis_id} {catalog.control(control).title}" if head.cis_id else control
        case = ET.SubElement(suite, "testcase", classname=f"ciswatch.{control}", name=name)
        counts["tests"] += 1
        detail = "\n".join(f"{f.status} {f.region or ''} {f.resource}: {f.reason}".strip() for f in findings)
        if head.suppressed:
            note = head.suppressed
            ET.SubElement(
                case,
                "skipped",
                message=f"suppressed until {note.get('expires')} by {note.get('owner')}: {note.get('reason')}",
            )
            counts["skipped"] += 1
        elif head.status is Status.FAIL:
            failure = ET.SubElement(case, "failure", message=head.reason[:1000], type="FAIL")
            failure.text = detail + (f"\nFix: {head.remediation}" if head.remediation else "")
            counts["failures"] += 1
        elif head.status is Status.ERROR:
            error = ET.SubElement(case, "error", message=head.reason[:1000], type="ERROR")
            error.text = detail
            counts["errors"] += 1
        elif head.status is Status.NOT_APPLICABLE:
            ET.SubElement(case, "skipped", message=head.reason[:1000])
            counts["skipped"] += 1
        else:
            out = ET.SubElement(case, "system-out")
            out.text = detail
    for key, value in counts.items():
        suite.set(key, str(value))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def render_asff(result: AuditResult, region: str) -> str:
    """The findings as Security Hub would receive them ({"Findings": [...]}, BatchImportFindings' shape)."""
    ctx = asff.ImportContext.now(result.account, region, result.snapshot.partition, result.benchmark)
    return json.dumps({"Findings": asff.to_asff(result.findings, ctx)}, indent=2) + "\n"


def _order_of(findings: list[Finding]) -> tuple[tuple[int, ...], str]:
    f = findings[0]
    return catalog.cis_order(f.cis_id), f.control


def _ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (catalog.cis_order(f.cis_id), f.control, f.region or "", f.resource))
