"""Transition rules and digest building: pure, no AWS."""

import json

import pytest

from chalicelib.notify.digest import SNS_LIMIT
from chalicelib.notify.digest import build_digest as build_typed_digest
from chalicelib.state.items import Confirmation, TransitionItem
from chalicelib.state.transitions import CLOSED, announcement, step


def build_digest(account, benchmark, items, run_id, **kwargs):
    """The digest of outbox items given as the table stores them."""
    return build_typed_digest(account, benchmark, [TransitionItem.from_item(i) for i in items], run_id, **kwargs)


@pytest.mark.parametrize(
    ("stored", "observed", "window", "state", "change"),
    [
        (None, "FAIL", 1, ("FAIL", None, 0), (None, "FAIL")),
        (None, "FAIL", 2, (None, "FAIL", 1), None),
        ({"status": None, "pending_status": "FAIL", "pending_count": 1}, "FAIL", 2, ("FAIL", None, 0), (None, "FAIL")),
        ({"status": "PASS"}, "PASS", 2, ("PASS", None, 0), None),
        ({"status": "PASS"}, "FAIL", 2, ("PASS", "FAIL", 1), None),
        ({"status": "PASS", "pending_status": "FAIL", "pending_count": 1}, "PASS", 2, ("PASS", None, 0), None),
        ({"status": "PASS", "pending_status": "ERROR", "pending_count": 1}, "FAIL", 2, ("PASS", "FAIL", 1), None),
        ({"status": "FAIL"}, "PASS", 1, ("PASS", None, 0), ("FAIL", "PASS")),
        ({"status": "FAIL"}, CLOSED, 1, (CLOSED, None, 0), ("FAIL", CLOSED)),
    ],
)
def test_confirmation_window(stored, observed, window, state, change):
    new, got = step(Confirmation(**stored) if stored else None, observed, window)
    assert (new.status, new.pending_status, new.pending_count) == state and got == change


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        (None, "FAIL", "NEW_FAILURE"),
        ("NOT_APPLICABLE", "FAIL", "NEW_FAILURE"),
        ("PASS", "FAIL", "REGRESSED"),
        ("WARNING", "FAIL", "REGRESSED"),
        ("FAIL", "PASS", "FIXED"),
        ("FAIL", CLOSED, "FIXED"),
        ("PASS", "ERROR", "COULD_NOT_CHECK"),
        ("ERROR", "PASS", "CHECK_RECOVERED"),
        ("ERROR", "FAIL", "CHECK_RECOVERED"),
        ("FAIL", "NOT_APPLICABLE", None),
        ("PASS", "NOT_APPLICABLE", None),
        ("NOT_APPLICABLE", "PASS", None),
        (None, "PASS", None),
        ("PASS", "WARNING", None),
        ("PASS", CLOSED, None),
    ],
)
def test_which_changes_are_announced(before, after, kind):
    assert announcement(before, after) == kind


def transition(i, kind="REGRESSED", to="FAIL", control="vpc_changes", reason=None):
    return {
        "sk": f"TRANSITION#2026-11-27T00:00:00Z#run#{i:05d}",
        "kind": kind,
        "control": control,
        "cis_id": "4.14",
        "resource": f"arn:aws:kms:eu-west-1:123456789012:key/{i:08d}",
        "region": "eu-west-1",
        "severity": "HIGH",
        "from_status": "PASS",
        "to_status": to,
        "reason": reason or f"alarm number {i} has its actions disabled " + "x" * 120,
        "remediation": f"aws cloudwatch enable-alarm-actions --alarm-names alarm-{i} " + "y" * 80,
    }


def test_two_thousand_changes_fit_in_one_message():
    items = [transition(i) for i in range(2000)]
    digest = build_digest("123456789012", "5.0.0", items, "run-1")
    size = len(digest["Message"].encode()) + sum(
        len(k) + len(v["StringValue"]) for k, v in digest["MessageAttributes"].items()
    )
    assert size < SNS_LIMIT
    body = json.loads(digest["Message"])
    assert set(body) == {"default", "https", "email"} and body["default"] == body["https"]
    assert "more entries" in body["email"] and "2000 regressed" in body["email"]
    slack = json.loads(body["default"])
    assert len(slack["content"]["description"]) <= 3600 and "more" in slack["content"]["description"]
    assert len(digest["Subject"]) < 100 and "\n" not in digest["Subject"]


def test_email_and_slack_bodies_carry_control_reason_fix_and_region():
    items = [
        transition(1, reason="alarm cis-vpc has its actions disabled"),
        transition(2, kind="FIXED", to="PASS", control="nacl_changes"),
    ]
    digest = build_digest("123456789012", "5.0.0", items, "run-9", table="tbl")
    body = json.loads(digest["Message"])
    email = body["email"]
    assert "REGRESSED [HIGH]: kms_key_rotation" not in email  # a monitoring control is named by its CIS id
    assert "REGRESSED [HIGH]: 4.14 vpc_changes in eu-west-1 (PASS -> FAIL)" in email
    assert (
        "why: alarm cis-vpc has its actions disabled" in email and "fix: aws cloudwatch enable-alarm-actions" in email
    )
    assert "FIXED: 4.14 nacl_changes" in email and "fix:" not in email.split("FIXED")[1]
    slack = json.loads(body["https"])
    assert (
        slack["content"]["textType"] == "client-markdown" and slack["metadata"]["threadId"] == "ciswatch-123456789012"
    )
    assert "`4.14 vpc_changes` eu-west-1: alarm cis-vpc has its actions disabled" in slack["content"]["description"]
    assert slack["content"]["nextSteps"][0].startswith("aws cloudwatch enable-alarm-actions")
    assert digest["MessageAttributes"]["severity"]["StringValue"] == "HIGH"


def test_nothing_to_announce_builds_no_message():
    assert build_digest("1", "5.0.0", [], "r") is None
    assert build_digest("1", "5.0.0", [{**transition(1), "kind": None}], "r") is None


def test_long_subject_is_cut_below_100_characters():
    items = [
        transition(i, kind=k, to=t)
        for i, (k, t) in enumerate(
            [
                ("NEW_FAILURE", "FAIL"),
                ("REGRESSED", "FAIL"),
                ("COULD_NOT_CHECK", "ERROR"),
                ("CHECK_RECOVERED", "PASS"),
                ("FIXED", "PASS"),
            ]
            * 3
        )
    ]
    subject = build_digest("123456789012", "5.0.0", items, "r")["Subject"]
    assert len(subject) < 100
