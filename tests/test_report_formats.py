"""The report files other tools read: ASFF checked against botocore's own model of BatchImportFindings,
CSV and JUnit read back by their parsers, over every audit snapshot of the golden corpus (pure)."""

import csv
import gzip
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator

from chalicelib.model import AccountSnapshot, Status
from chalicelib.pipeline import judge_snapshot
from chalicelib.report import asff
from ciswatch_cli import formats

GOLDEN = Path(__file__).parent / "data" / "golden" / "before-model.jsonl.gz"
with gzip.open(GOLDEN, "rt", encoding="utf-8") as fh:
    AUDITS = [r for r in map(json.loads, fh) if r["kind"] == "audit"]
SHAPE = (
    botocore.session.get_session().get_service_model("securityhub").operation_model("BatchImportFindings").input_shape
)
CTX = dict(region="ap-northeast-1", at="2026-12-01T06:00:00.000Z")


def result_of(rec):
    return judge_snapshot(AccountSnapshot.from_json(rec["snapshot"]), rec["benchmark"], duration_s=rec["duration_s"])


def context(result):
    return asff.ImportContext(result.account, partition=result.snapshot.partition, benchmark=result.benchmark, **CTX)


@pytest.mark.parametrize("i", range(0, len(AUDITS), 3))
def test_every_asff_finding_is_valid_for_security_hub(i):
    result = result_of(AUDITS[i])
    findings = asff.to_asff(result.findings, context(result))
    report = ParamValidator().validate({"Findings": findings[:100]}, SHAPE)
    assert not report.has_errors(), report.generate_report()
    assert len({f["Id"] for f in findings}) == len(findings) == len(result.findings)
    for f, src in zip(findings, result.findings, strict=True):
        assert (
            f["ProductArn"]
            == f"arn:{result.snapshot.partition}:securityhub:ap-northeast-1:{result.account}:product/{result.account}/default"
        )
        assert f["Compliance"]["Status"] == asff.COMPLIANCE[Status(src.status)]
        assert not any(r["Id"].startswith("arn:aws:::") for r in f["Resources"])
        if not src.is_per_resource:
            assert f["Resources"][0] == {
                "Type": "AwsAccount",
                "Id": f"AWS::::Account:{result.account}",
                "Partition": result.snapshot.partition,
                "Region": "ap-northeast-1",
            }
        else:
            assert f["Resources"][0]["Type"] == "AwsKmsKey"


def test_the_asff_id_is_stable_across_runs_and_statuses():
    result = result_of(AUDITS[0])
    first = asff.to_asff(result.findings, context(result))
    later = asff.to_asff(
        result.findings,
        asff.ImportContext(result.account, "ap-northeast-1", "aws", "5.0.0", "2027-01-01T00:00:00.000Z"),
    )
    assert [f["Id"] for f in first] == [f["Id"] for f in later]
    gone = asff.archived(
        [{"control": "kms_key_rotation", "resource": "arn:aws:kms:ap-northeast-1:123456789012:key/k"}], context(result)
    )
    assert (
        gone[0]["RecordState"] == "ARCHIVED" and not ParamValidator().validate({"Findings": gone}, SHAPE).has_errors()
    )


@pytest.mark.parametrize("i", range(0, len(AUDITS), 7))
def test_csv_has_one_row_per_finding_with_stable_columns(i):
    result = result_of(AUDITS[i])
    rows = list(csv.DictReader(io.StringIO(formats.render_csv(result))))
    assert len(rows) == len(result.findings)
    assert tuple(rows[0].keys()) == formats.CSV_COLUMNS if rows else True
    assert sorted(r["status"] for r in rows) == sorted(str(f.status) for f in result.findings)


@pytest.mark.parametrize("i", range(0, len(AUDITS), 7))
def test_junit_has_one_case_per_control_a_failure_per_fail_and_an_error_per_error(i):
    result = result_of(AUDITS[i])
    suite = ET.fromstring(formats.render_junit(result))
    cases = suite.findall("testcase")
    controls = {f.control for f in result.findings}
    assert len(cases) == len(controls) == int(suite.get("tests"))
    heads = {}
    for f in result.findings:
        if not f.is_per_resource or f.control not in heads:
            heads[f.control] = f
    expected = {s: sum(1 for f in heads.values() if f.status is s) for s in Status}
    assert len(suite.findall("testcase/failure")) == expected[Status.FAIL] == int(suite.get("failures"))
    assert len(suite.findall("testcase/error")) == expected[Status.ERROR] == int(suite.get("errors"))
    assert len(suite.findall("testcase/skipped")) == expected[Status.NOT_APPLICABLE] == int(suite.get("skipped"))


def test_a_suppressed_finding_is_imported_as_suppressed_with_its_note():
    from datetime import date

    from chalicelib.model.suppression import Suppression, apply

    result = result_of(AUDITS[0])
    accepted = Suppression("c" * 12, result.findings[0].control, "accepted", "owner", date(2099, 1, 1))
    findings, _ = apply(result.findings, [accepted], date(2026, 12, 1))
    out = asff.to_asff(findings, context(result))
    assert not ParamValidator().validate({"Findings": out[:100]}, SHAPE).has_errors()
    suppressed = [f for f in out if f["Workflow"]["Status"] == "SUPPRESSED"]
    assert suppressed and all(f["Note"]["UpdatedBy"] == "owner" for f in suppressed)


@pytest.mark.parametrize("i", range(0, len(AUDITS), 9))
def test_ocsf_events_are_compliance_findings_the_model_library_accepts(i):
    from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding

    from ciswatch_cli.ocsf_report import render_ocsf

    result = result_of(AUDITS[i])
    events = json.loads(render_ocsf(result, "ap-northeast-1"))
    assert len(events) == len(result.findings)
    for event, f in zip(events, result.findings, strict=True):
        parsed = ComplianceFinding.model_validate(event)  # the schema's required fields and types
        assert parsed.class_uid == 2003 and parsed.type_uid == 200301 and parsed.category_uid == 2
        assert event["finding_info"]["uid"] == asff.finding_id(f.account, f.control, f.resource)
        assert event["compliance"]["standards"] == [f"CIS AWS Foundations Benchmark v{result.benchmark}"]
        assert event["status_code"] == str(f.status)
