"""Stored findings keep a bounded, readable evidence that reads back as it was written (pure)."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.model import Finding, Scope, Severity, Status
from chalicelib.state.items import EVIDENCE_LIMIT, Confirmation, FindingItem


def item(evidence):
    finding = Finding(
        account="123456789012",
        control="vpc_changes",
        resource="arn:aws:iam::123456789012:root",
        region=None,
        status=Status.PASS,
        severity=Severity.MEDIUM,
        reason="ok",
        remediation=None,
        evidence=evidence,
        cis_id="4.14",
        security_hub_id="CloudWatch.14",
        scope=Scope.CONTROL,
    )
    return FindingItem.of(finding, Confirmation("PASS"), "run", "t", "t", "t", 1)


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=20) | st.dictionaries(st.text(max_size=10), inner, max_size=10),
    max_leaves=200,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=20), values, max_size=30))
def test_stored_evidence_is_a_bounded_json_object_that_reads_back_unchanged(evidence):
    stored = item(evidence).to_item()
    text = stored["evidence"]
    assert len(text) <= EVIDENCE_LIMIT and isinstance(json.loads(text), dict)
    again = FindingItem.from_item(stored)
    assert not again.defects and again.to_item() == stored
    assert item(evidence).unchanged_since(again)


def test_large_evidence_keeps_its_small_fields_and_names_what_was_left_out():
    evidence = {"alarm": "cis-vpc", "broken_link": None, "filters_judged": [{"filter": "x" * 50}] * 200}
    stored = json.loads(item(evidence).to_item()["evidence"])
    assert stored["alarm"] == "cis-vpc" and stored["broken_link"] is None
    assert stored["filters_judged"].startswith("(omitted here: ")
