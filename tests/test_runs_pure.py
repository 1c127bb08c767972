"""The pieces of a run of many accounts that need no AWS: the run's one digest, the deadline timer's
message, the reads' time budget and rate limit."""

import json

import pytest

from chalicelib import pipeline
from chalicelib.inventory.aws import AwsReader, RateLimit, TimeBudget
from chalicelib.model import Status
from chalicelib.model.request import AuditRequest, MalformedRequest, RunDeadline, parse_message
from chalicelib.notify.digest import SNS_LIMIT, RunAccount, build_run_digest
from chalicelib.settings import Settings
from chalicelib.state.items import TransitionItem

from .test_transitions_and_digest import transition

MANAGEMENT = "123456789012"


def changes(account, n, kind="REGRESSED"):
    items = []
    for i in range(n):
        raw = transition(i, kind=kind) | {"pk": f"ACCOUNT#{account}", "account": account}
        items.append(TransitionItem.from_item(raw))
    return tuple(items)


def accounts_of_a_run():
    return [
        RunAccount("111111111111", "AUDITED", items=changes("111111111111", 2)),
        RunAccount("222222222222", "AUDITED"),
        RunAccount(
            "333333333333", "ERROR", "sts:AssumeRole into arn:aws:iam::333333333333:role/x failed: AccessDenied"
        ),
        RunAccount("444444444444", "SKIPPED", "the account is SUSPENDED in the Organization: not audited"),
        RunAccount("555555555555", "PENDING", "did not finish by the run's deadline (2026-12-01T10:00:00Z)"),
    ]


def test_the_run_digest_gives_the_ledgers_counts_the_accounts_not_audited_and_each_accounts_changes():
    digest = build_run_digest(MANAGEMENT, "5.0.0", "run-1", accounts_of_a_run(), table="t", closed_by="deadline")
    body = json.loads(digest["Message"])
    email = body["email"]
    assert "sent at its deadline" in email
    assert "2 of 5 accounts audited, 1 could not be audited, 1 did not finish, 1 skipped" in email
    assert "333333333333 ERROR: sts:AssumeRole into" in email and "555555555555 PENDING: did not finish" in email
    assert "== account 111111111111: 2 regressed" in email and "222222222222:" not in email.split("NOT AUDITED")[0]
    assert email.count("REGRESSED [HIGH]") == 2
    assert digest["Subject"] == f"ciswatch Organization {MANAGEMENT}: 2 regressed in 1 account(s); 2 not audited"
    attrs = {k: v["StringValue"] for k, v in digest["MessageAttributes"].items()}
    assert attrs == {"severity": "HIGH", "status": "FAIL", "account": MANAGEMENT, "scope": "organization"}
    slack = json.loads(body["default"])
    assert slack["content"]["description"].startswith("2 of 5 accounts audited")


def test_a_quiet_run_where_every_account_was_audited_says_nothing():
    quiet = [RunAccount("111111111111", "AUDITED"), RunAccount("444444444444", "SKIPPED", "SUSPENDED")]
    assert build_run_digest(MANAGEMENT, "5.0.0", "run-1", quiet) is None


def test_accounts_that_could_not_be_audited_are_announced_even_on_a_quiet_day():
    digest = build_run_digest(MANAGEMENT, "5.0.0", "run-1", [RunAccount("333333333333", "ERROR", "denied")])
    assert digest["MessageAttributes"]["status"]["StringValue"] == "ERROR"
    assert "no changes; 1 not audited" in digest["Subject"]


def test_a_thousand_accounts_of_changes_fit_in_one_message_and_say_what_was_left_out():
    many = [RunAccount(f"{i:012d}", "AUDITED", items=changes(f"{i:012d}", 5)) for i in range(1000)]
    digest = build_run_digest(MANAGEMENT, "5.0.0", "run-1", many)
    size = len(digest["Message"].encode()) + sum(
        len(k) + len(v["StringValue"]) for k, v in digest["MessageAttributes"].items()
    )
    assert size < SNS_LIMIT
    email = json.loads(digest["Message"])["email"]
    assert "5000 regressed in 1000 account(s)" in email and "more entries, summarised above" in email


def test_the_deadline_timer_is_its_own_message_and_strictly_parsed():
    timer = RunDeadline("20261201T060000Z-0123abcd", "2026-12-01T10:00:00Z")
    assert parse_message(timer.to_message()) == timer
    with pytest.raises(MalformedRequest, match="deadline_of"):
        AuditRequest.from_message(timer.to_message())
    for body, field in [
        ({"deadline_of": "x", "due": "2026-12-01T10:00:00Z"}, "deadline_of"),
        ({"deadline_of": timer.run_id, "due": "tomorrow"}, "due"),
        ({"deadline_of": timer.run_id, "due": timer.due, "extra": 1}, "deadline_of"),
    ]:
        with pytest.raises(MalformedRequest) as err:
            parse_message(json.dumps(body))
        assert err.value.field == field


def test_a_request_queued_before_digest_scopes_existed_is_announced_per_account():
    old = {
        "run_id": "20261201T060000Z-0123abcd",
        "account": MANAGEMENT,
        "regions": [],
        "benchmark": "5.0.0",
        "trigger": "schedule",
        "requested_at": "2026-12-01T06:00:00.000000Z",
    }
    assert AuditRequest.from_json(old).digest_scope == "account"
    with pytest.raises(MalformedRequest, match="digest_scope"):
        AuditRequest.from_json(old | {"digest_scope": "everyone"})


def test_reads_after_the_time_budget_are_errors_naming_the_budget_and_the_audit_still_judges(account, moto_url):
    account.trail(region="ap-northeast-1", log_group="CloudTrail/DefaultLogGroup")
    checks = iter([0.0])  # the first read (whose account is this) within the budget, every later one past it
    budget = TimeBudget(deadline=1.0, seconds=720, clock=lambda: next(checks, 2.0))
    settings = Settings(regions=("ap-northeast-1",), endpoint_url=moto_url)
    reader = AwsReader(settings, budget=budget)
    result = pipeline.audit(settings, reader=reader)
    assert result.findings and {f.status for f in result.findings} == {Status.ERROR}
    assert all("time budget (720 s) ran out" in (f.reason or "") for f in result.findings)
    assert reader.counter.total == 1


def test_the_rate_limit_spaces_calls_per_region_and_operation():
    now, slept = [100.0], []

    def sleep(seconds):
        slept.append(round(seconds, 3))
        now[0] += seconds

    limit = RateLimit(10, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limit(event_name="before-send.kms.DescribeKey", region="eu-west-1")
    limit(event_name="before-send.kms.DescribeKey", region="us-east-1")  # another region: its own pace
    limit(event_name="before-send.kms.GetKeyRotationStatus", region="eu-west-1")  # another operation too
    assert slept == [0.1, 0.1]
