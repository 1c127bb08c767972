"""Behaviour is kept: snapshots, audit reports and remediation plans, recorded and replayed.

``data/golden/before-model.jsonl.gz`` holds, for every snapshot the test suite and the demo judged or
planned before the typed model (one record per distinct input): the snapshot document, the audit
JSON, the findings, the plan JSON, its CloudFormation and its text. Each is read back through the
typed model and produced again, byte for byte, apart from fields added since. When behaviour changes
on purpose, ``data/golden/rerecord.py`` prints every output field that changes (review it), then
records the new outputs; the inputs never change. Re-recorded once, for the chain rules of
docs/decisions.md "Verdicts you can trust" (every judged filter in the evidence, statistics by
reachability), and once when account-level findings got a valid resource name (AWS::::Account:<id>
instead of the invalid arn:<partition>:::<id>; the only change: every such `resource`).
"""

import gzip
import json
from pathlib import Path

import pytest

from chalicelib.checks import run_checks
from chalicelib.model import AccountSnapshot
from chalicelib.pipeline import judge_snapshot
from chalicelib.remediation.plan import make_plan
from chalicelib.remediation.template import to_cloudformation
from ciswatch_cli.remediate_cmd import render

GOLDEN = Path(__file__).parent / "data" / "golden" / "before-model.jsonl.gz"
MISSING = "<missing>"


def _records():
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


RECORDS = _records()


def _ids(kind):
    return [i for i, r in enumerate(RECORDS) if r["kind"] == kind]


def like(actual, expected):
    """``actual`` without the fields ``expected`` does not have (new fields); a field it lacks stays visible."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: like(actual[k], v) if k in actual else MISSING for k, v in expected.items()}
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [like(a, e) for a, e in zip(actual, expected, strict=True)]
    return actual


def same_text(actual, expected) -> bool:
    return json.dumps(like(actual, expected), indent=2) == json.dumps(expected, indent=2)


def findings_json(findings):
    return [dict(f.to_dict(), account=f.account) for f in findings]


def test_the_corpus_covers_every_kind_of_output():
    kinds = {r["kind"] for r in RECORDS}
    assert kinds == {"audit", "checks", "plan"} and len(_ids("audit")) > 100 and len(_ids("plan")) > 30


@pytest.mark.parametrize("i", _ids("audit"))
def test_saved_snapshot_and_audit_json_are_reproduced(i):
    rec = RECORDS[i]
    snapshot = AccountSnapshot.from_json(rec["snapshot"])
    assert json.dumps(snapshot.to_json(), indent=1, sort_keys=True) == json.dumps(
        rec["snapshot"], indent=1, sort_keys=True
    )
    result = judge_snapshot(snapshot, rec["benchmark"], duration_s=rec["duration_s"])
    assert same_text(json.loads(json.dumps(result.to_json(), default=str)), rec["audit"])


@pytest.mark.parametrize("i", _ids("checks"))
def test_findings_are_reproduced(i):
    rec = RECORDS[i]
    findings = run_checks(AccountSnapshot.from_json(rec["snapshot"]), rec["benchmark"])
    assert same_text(json.loads(json.dumps(findings_json(findings))), rec["findings"])


@pytest.mark.parametrize("i", _ids("plan"))
def test_remediation_plans_are_reproduced(i):
    rec = RECORDS[i]
    args = rec["args"]
    snapshot = AccountSnapshot.from_json(rec["snapshot"])
    findings = run_checks(snapshot, args["benchmark"])
    assert same_text(json.loads(json.dumps(findings_json(findings))), rec["findings"])
    plan = make_plan(snapshot, findings, **args)
    assert same_text(plan.to_dict(), rec["plan"])
    assert same_text(json.loads(json.dumps(findings_json(plan.after))), rec["after"])
    assert to_cloudformation(plan) == rec["cfn"]
    assert render(plan, "text") == rec["text"]
