"""An Organization audited through the queue, against moto's multi-account support: the schedule lists
the accounts and queues one request per ACTIVE account, the worker's real handler (fed by the poller)
assumes the member role and audits each with its credentials; every account ends with one outcome."""

import json
import os

import pytest
from botocore.awsrequest import AWSResponse
from chalice.test import Client

from chalicelib import organization, runs
from chalicelib.model.request import FIELDS, AuditRequest
from chalicelib.settings import Settings
from chalicelib.state.ledger import Ledger
from chalicelib.state.store import StateStore
from chalicelib.state.table import create_table
from sandbox.poller import drain, lambda_event

from .state_env import Raw

HOME = "ap-northeast-1"
TABLE = "ciswatch-dev-findings"
MANAGEMENT = "123456789012"


@pytest.fixture
def org(account, monkeypatch):
    members = account.organization(6, suspended=1)
    monitored = account.member(members[0])
    monitored.trail(region=HOME, log_group="CloudTrail/DefaultLogGroup")
    monitored.monitor_all(HOME, "CloudTrail/DefaultLogGroup", monitored.topic(HOME))
    monitored.key(HOME, rotation=True)
    create_table(account.client("dynamodb", HOME), TABLE)
    topic = account.topic(HOME, name="ciswatch-dev-digest", subscribe=None)
    digests = account.sqs_subscriber(topic, HOME)
    requests = account.request_queue(HOME, "ciswatch-dev-audit-requests", visibility_timeout=120)
    for name, value in {
        "CISWATCH_TOPIC_ARN": topic,
        "CISWATCH_REGIONS": HOME,
        "CISWATCH_QUEUE_URL": requests["url"],
        "CISWATCH_ORGANIZATION": "true",
        "CISWATCH_EXCLUDE_ACCOUNTS": members[1],
        "AWS_DEFAULT_REGION": HOME,
    }.items():
        monkeypatch.setenv(name, value)
    import app as app_module

    with Client(app_module.app, stage_name="dev") as client:
        yield {"client": client, "account": account, "members": members, "requests": requests, "digests": digests}


def work(org):
    sqs = org["account"].client("sqs", HOME)
    return drain(sqs, org["requests"]["url"], lambda e: org["client"].lambda_.invoke("audit_worker", e).payload)


def schedule(org):
    event = org["client"].events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=["arn:aws:events:::rule/daily"]
    )
    return org["client"].lambda_.invoke("daily_audit", event).payload


def received(org, url):
    sqs = org["account"].client("sqs", HOME)
    out = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        out += batch
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def test_every_account_ends_with_one_outcome_and_its_findings_under_its_own_key(org, capsys):
    members = org["members"]
    queued = schedule(org)
    # The management account and six members, one excluded: six accounts; the suspended one is skipped.
    assert queued["accounts"] == 6 and queued["queued"] == 5 and queued["skipped"] == 1
    sqs = org["account"].client("sqs", HOME)
    first = sqs.receive_message(QueueUrl=org["requests"]["url"], VisibilityTimeout=0)["Messages"][0]
    sqs.send_message(QueueUrl=org["requests"]["url"], MessageBody=first["Body"])  # delivered twice
    assert work(org).handled == 6
    run = json.loads(org["client"].http.get(f"/runs/{queued['run_id']}").body)
    assert run["status"] == "done" and run["pending"] == [] and run["expected"] == 6
    assert run["outcomes"] == {"AUDITED": 5, "SKIPPED": 1}
    by_account = {o["account"]: o for o in run["accounts"]}
    assert members[1] not in by_account
    assert by_account[members[-1]]["state"] == "SKIPPED" and "SUSPENDED" in by_account[members[-1]]["reason"]
    ddb = org["account"].client("dynamodb", HOME)
    for account_id, outcome in by_account.items():
        if outcome["state"] != "AUDITED":
            continue
        stored = StateStore(ddb, TABLE, account_id).current()
        assert stored and {i.account for i in stored.values()} == {account_id}
    monitored = StateStore(ddb, TABLE, members[0]).current()
    assert {i.status for i in monitored.values() if i.control != "kms_key_rotation"} == {"PASS"}
    assert {i.status for i in StateStore(ddb, TABLE, members[2]).current().values()} <= {"FAIL", "NOT_APPLICABLE"}
    # One digest for the run, sent by the worker that finished its last account; none for the duplicate.
    digests = received(org, org["digests"])
    assert len(digests) == 1
    slack = json.loads(json.loads(digests[0]["Body"])["Message"])  # a queue receives the Chatbot JSON
    assert slack["content"]["title"].startswith(f"ciswatch Organization {MANAGEMENT}: 5 baseline(s)")
    text = slack["content"]["description"]
    assert text.startswith("5 of 6 accounts audited, 1 skipped")
    assert f"`{members[-1]}` SKIPPED: the account is SUSPENDED" in text
    assert all(f"*{a}*: baseline" in text for a, o in by_account.items() if o["state"] == "AUDITED")
    closed = json.loads(org["client"].http.get(f"/runs/{queued['run_id']}").body)["digest"]
    assert closed["closed_by"] == "last account" and closed["result"]["published"] is True
    assert closed["result"]["accounts"] == {"AUDITED": 5, "ERROR": 0, "SKIPPED": 1, "PENDING": 0}
    # The Organization's trend: one point per closed run, the audited accounts' counts added up.
    trend = json.loads(org["client"].http.get("/runs?organization=true").body)
    assert trend["count"] == 1 and trend["runs"][0]["accounts"] == {"AUDITED": 5, "SKIPPED": 1}
    assert trend["runs"][0]["counts"]["PASS"] == sum(
        o["summary"]["counts"]["PASS"] for o in by_account.values() if o["state"] == "AUDITED"
    )
    assert org["client"].http.get(f"/runs?organization=true&account={members[0]}").status_code == 400
    from ciswatch_cli.main import main

    assert main(["history", "--organization", "--table", TABLE, "--region", HOME]) == 0
    printed = capsys.readouterr().out
    assert "ciswatch history - the Organization (runs of many accounts)" in printed
    assert "accounts: 5 AUDITED, 1 SKIPPED" in printed
    # The Organization's overview, and one member's findings and runs by its account id.
    overview = json.loads(org["client"].http.get("/accounts").body)
    audited = sorted(a for a, o in by_account.items() if o["state"] == "AUDITED")
    assert [a["account"] for a in overview["accounts"]] == audited and overview["count"] == 5
    assert overview["totals"]["PASS"] == sum(a["counts"]["PASS"] for a in overview["accounts"]) > 0
    member = json.loads(org["client"].http.get(f"/findings?account={members[0]}&status=PASS").body)
    assert member["total"] > 0 and all(members[0] in f["resource"] for f in member["findings"])
    runs_of_member = json.loads(org["client"].http.get(f"/runs?account={members[0]}").body)
    assert runs_of_member["count"] == 1 and runs_of_member["runs"][0]["account"] == members[0]
    assert org["client"].http.get("/findings?account=12").status_code == 400
    assert org["client"].http.get("/accounts?x=1").status_code == 400

    # Redelivering every request changes nothing and announces nothing.
    for account_id in by_account:
        request = AuditRequest.from_json({k: run[k] for k in FIELDS} | {"account": account_id})
        sqs.send_message(QueueUrl=org["requests"]["url"], MessageBody=request.to_message())
    assert work(org).handled == 6
    again = json.loads(org["client"].http.get(f"/runs/{queued['run_id']}").body)
    assert again["outcomes"] == run["outcomes"] and again["accounts"] == run["accounts"]
    assert received(org, org["digests"]) == []


def deny_assume_role(denied_account):
    def handler(request, **kwargs):
        body = request.body or b""
        if denied_account in (body.decode() if isinstance(body, bytes) else body):
            body = (
                b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not "
                b"authorized to perform: sts:AssumeRole</Message></Error></ErrorResponse>"
            )
            return AWSResponse(request.url, 403, {}, Raw(body))
        return None

    return handler


def test_a_member_that_denies_assume_role_is_an_error_naming_the_role_and_is_not_retried(account, moto_url):
    members = account.organization(2)
    create_table(account.client("dynamodb", HOME), TABLE)
    settings = Settings(
        regions=(HOME,), endpoint_url=moto_url, table=TABLE, state_region=HOME, organization=True, max_attempts=1
    )
    sts = account.client("sts", HOME)
    sts.meta.events.register("before-send.sts.AssumeRole", deny_assume_role(members[0]))
    base = runs.new_request(settings, MANAGEMENT, "schedule")
    Ledger(account.client("dynamodb", HOME), TABLE).add_request(base, (members[0], members[1]))
    outcomes = {}
    for member in members:
        request = AuditRequest.from_json({**base.to_json(), "account": member})
        outcomes[member] = runs.handle(settings, request, 1, MANAGEMENT, sts=sts).outcome
    denied = outcomes[members[0]]
    assert str(denied.state) == "ERROR"
    assert denied.reason.startswith(f"sts:AssumeRole into arn:aws:iam::{members[0]}:role/ciswatch-audit failed: ")
    assert "AccessDenied" in denied.reason
    assert str(outcomes[members[1]].state) == "AUDITED"
    record = runs.run_record(settings, base.run_id)
    assert record.to_json()["status"] == "failed" and record.pending == ()


def test_another_account_is_refused_when_organization_mode_is_off(account, moto_url):
    create_table(account.client("dynamodb", HOME), TABLE)
    settings = Settings(regions=(HOME,), endpoint_url=moto_url, table=TABLE, state_region=HOME)
    request = AuditRequest.from_json(
        {**runs.new_request(settings, MANAGEMENT, "api").to_json(), "account": "210987654321"}
    )
    Ledger(account.client("dynamodb", HOME), TABLE).add_request(request)
    outcome = runs.handle(settings, request, 1, MANAGEMENT).outcome
    assert str(outcome.state) == "ERROR" and "Organization mode is off" in outcome.reason


def test_organizational_units_select_their_accounts_at_any_depth(account):
    members = account.organization(4)
    orgs = account.client("organizations", "us-east-1")
    root = orgs.list_roots()["Roots"][0]["Id"]
    prod = orgs.create_organizational_unit(ParentId=root, Name="prod")["OrganizationalUnit"]["Id"]
    team = orgs.create_organizational_unit(ParentId=prod, Name="team")["OrganizationalUnit"]["Id"]
    orgs.move_account(AccountId=members[0], SourceParentId=root, DestinationParentId=prod)
    orgs.move_account(AccountId=members[1], SourceParentId=root, DestinationParentId=team)
    assert organization.accounts_under(orgs, [prod]) == {members[0], members[1]}
    everyone = organization.list_accounts(orgs)
    assert len(everyone) == 5 and {a.state for a in everyone} == {"ACTIVE"}
    chosen = organization.select(
        everyone,
        organization.Selection(include_ous=frozenset({prod}), exclude_accounts=frozenset({members[1]})),
        in_included_ous=organization.accounts_under(orgs, [prod]),
    )
    assert [a.id for a in chosen] == [members[0]]
    excluded = organization.select(
        everyone, organization.Selection(exclude_ous=frozenset({team})), in_excluded_ous={members[1]}
    )
    assert members[1] not in {a.id for a in excluded} and len(excluded) == 4


def test_the_cli_audits_the_organization_in_process(account, moto_url, capsys):
    from ciswatch_cli.main import main

    members = account.organization(3, suspended=1)
    monitored = account.member(members[0])
    monitored.trail(region=HOME, log_group="CloudTrail/DefaultLogGroup")
    monitored.monitor_all(HOME, "CloudTrail/DefaultLogGroup", monitored.topic(HOME))
    create_table(account.client("dynamodb", HOME), TABLE)
    topic = account.topic(HOME, name="ciswatch-dev-digest", subscribe=None)
    digests = account.sqs_subscriber(topic, HOME)
    code = main(
        ["audit", "--organization", "--regions", HOME, "--format", "json", "--endpoint-url", moto_url]
        + ["--table", TABLE, "--topic-arn", topic]
    )
    body = json.loads(capsys.readouterr().out)
    # One digest for the run, as the service sends it: three baselines and the skipped account.
    assert body["digest"]["published"] is True and body["digest"]["transitions"] == 3
    sqs = account.client("sqs", HOME)
    (sent,) = sqs.receive_message(QueueUrl=digests, MaxNumberOfMessages=10)["Messages"]
    slack = json.loads(json.loads(sent["Body"])["Message"])
    assert slack["content"]["description"].startswith("3 of 4 accounts audited, 1 skipped")
    assert code == 1  # FAIL findings somewhere in the Organization
    reports = {r["account"]: r for r in body["accounts"]}
    assert body["organization"].startswith("o-") and set(reports) == {MANAGEMENT, *members}
    assert body["summary"]["accounts"] == 4 and body["summary"]["audited"] == 3 and body["summary"]["skipped"] == 1
    assert reports[members[-1]]["outcome"] == "SKIPPED" and "SUSPENDED" in reports[members[-1]]["reason"]
    monitoring = [f for f in reports[members[0]]["findings"] if f["control"] != "kms_key_rotation"]
    assert {f["status"] for f in monitoring} == {"PASS"} and all(members[0] in f["resource"] for f in monitoring)
    assert reports[MANAGEMENT]["summary"]["FAIL"] > 0
    assert main(["audit", "--role", "x", "--regions", HOME, "--endpoint-url", moto_url]) == 2
    assert "--role and --external-id go with --organization" in capsys.readouterr().err


@pytest.mark.parametrize(("benchmark", "controls"), [("5.0.0", 16), ("1.2.0", 15)])
def test_an_account_that_cannot_be_read_has_one_error_per_control_of_its_benchmark(benchmark, controls):
    findings = organization.unaudited_findings("210987654321", "aws-us-gov", benchmark, "sts:AssumeRole ... failed")
    assert len(findings) == controls and {str(f.status) for f in findings} == {"ERROR"}
    assert {f.resource for f in findings} == {"AWS::::Account:210987654321"}
    assert all(f.reason == "sts:AssumeRole ... failed" and f.cis_id for f in findings)


SCP_DENY = (
    b'{"__type":"AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/ciswatch-audit/x '
    b'is not authorized to perform: kms:ListKeys with an explicit deny in a service control policy"}'
)


def test_a_region_an_scp_closes_is_not_applicable_not_an_error(account, moto_url):
    from chalicelib.inventory.aws import AwsReader
    from chalicelib.pipeline import audit

    account.key(HOME, rotation=False)

    def scp(client, service, region):
        if service == "kms" and region == "eu-west-1":
            client.meta.events.register(
                "before-send.kms.ListKeys", lambda request, **kw: AWSResponse(request.url, 400, {}, Raw(SCP_DENY))
            )

    settings = Settings(regions=(HOME, "eu-west-1"), endpoint_url=moto_url, max_attempts=1)
    result = audit(settings, reader=AwsReader(settings, on_client=scp))
    rollup = next(f for f in result.findings if f.control == "kms_key_rotation" and not f.is_per_resource)
    assert str(rollup.status) == "FAIL"  # the readable region's key still fails; the closed region is no ERROR
    assert "service control policy" in rollup.reason and rollup.evidence["region_errors"] == []
    only_closed = Settings(regions=("eu-west-1",), endpoint_url=moto_url, max_attempts=1)
    closed = audit(only_closed, reader=AwsReader(only_closed, on_client=scp))
    (alone,) = [f for f in closed.findings if f.control == "kms_key_rotation"]
    assert str(alone.status) == "NOT_APPLICABLE" and "service control policy" in alone.reason


def test_a_member_of_the_management_accounts_organization_trail_is_judged_on_its_chain(account, moto_url):
    """moto lists an organization trail only in its owner's account; the member's DescribeTrails answer
    is therefore the owner's trail record, as AWS shows it to members."""
    from dataclasses import replace

    from chalicelib.inventory.collect import collect_snapshot
    from chalicelib.pipeline import judge_snapshot

    members = account.organization(2)
    account.trail(region=HOME, log_group="CloudTrail/DefaultLogGroup")
    account.monitor_all(HOME, "CloudTrail/DefaultLogGroup", account.topic(HOME))
    settings = Settings(regions=(HOME,), endpoint_url=moto_url, organization=True, max_attempts=1)
    owner = collect_snapshot(settings)
    member_session = organization.member_session(account.client("sts", HOME), members[0], "ciswatch-audit", "aws")
    from chalicelib.inventory.aws import AwsReader

    member = collect_snapshot(settings, reader=AwsReader(settings, session=member_session))
    member = replace(member, trails=replace(member.trails, items=owner.trails.items))
    sts = account.client("sts", HOME)
    judged = organization.with_trail_owners(settings, member, "run-1", MANAGEMENT, sts, "aws")
    assert set(judged.trail_owners) == {MANAGEMENT}
    monitoring = [f for f in judge_snapshot(judged).findings if f.control != "kms_key_rotation"]
    assert {str(f.status) for f in monitoring} == {"PASS"}
    assert all(f.account == members[0] and f"judged in account {MANAGEMENT}" in f.reason for f in monitoring)
    # Read by another worker (another account's role) that may not assume into the owner: ERROR naming it.
    sts.meta.events.register("before-send.sts.AssumeRole", deny_assume_role(MANAGEMENT))
    elsewhere = organization.with_trail_owners(settings, member, "run-2", members[1], sts, "aws")
    assert MANAGEMENT in elsewhere.trail_owner_errors
    statuses = {str(f.status) for f in judge_snapshot(elsewhere).findings if f.control != "kms_key_rotation"}
    assert statuses == {"ERROR"}


def test_per_account_digests_as_an_option(org, monkeypatch):
    monkeypatch.setenv("CISWATCH_DIGEST_PER_ACCOUNT", "true")
    queued = schedule(org)
    assert work(org).handled == 5
    # Each audited account announces its own baseline; the run still closes and is a point of the trend,
    # with no digest of its own (every account was audited and its changes already announced).
    assert len(received(org, org["digests"])) == 5
    run = json.loads(org["client"].http.get(f"/runs/{queued['run_id']}").body)
    assert run["digest_scope"] == "account" and run["digest"]["closed_by"] == "last account"
    assert run["digest"]["result"]["published"] is False and run["digest"]["result"]["transitions"] == 0
    assert json.loads(org["client"].http.get("/runs?organization=true").body)["count"] == 1


def test_a_deadline_timer_that_is_not_due_puts_itself_back(org):
    queued = schedule(org)
    sqs = org["account"].client("sqs", HOME)
    url = org["requests"]["url"]

    def delayed():
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"])

    assert delayed() == 1  # the producer's timer, held back 15 minutes
    timer = {
        "MessageId": "timer-1",
        "ReceiptHandle": "r",
        "Body": json.dumps({"deadline_of": queued["run_id"], "due": queued["deadline"]}),
        "Attributes": {"ApproximateReceiveCount": "1"},
    }
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    answer = org["client"].lambda_.invoke("audit_worker", lambda_event([timer], arn, HOME)).payload
    assert answer == {"batchItemFailures": []} and delayed() == 2  # not due: back on the queue, delayed
    run = json.loads(org["client"].http.get(f"/runs/{queued['run_id']}").body)
    assert run["deadline"] == queued["deadline"] and run["digest"] is None and run["status"] == "running"
    assert work(org).handled == 5
    # Once the last account finished, the run is closed: a timer that comes then only ends.
    assert org["client"].lambda_.invoke("audit_worker", lambda_event([timer], arn, HOME)).payload == {
        "batchItemFailures": []
    }
    assert delayed() == 2


def test_a_run_digest_that_cannot_be_published_is_counted_and_its_changes_wait(org, monkeypatch, capsys):
    topic = os.environ["CISWATCH_TOPIC_ARN"]
    monkeypatch.setenv("CISWATCH_TOPIC_ARN", topic + "-gone")
    first = schedule(org)
    work(org)
    run = json.loads(org["client"].http.get(f"/runs/{first['run_id']}").body)
    assert run["digest"]["result"]["published"] is False and "sns:Publish failed" in run["digest"]["result"]["error"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CloudWatchMetrics"' in line]
    assert sum(blob.get("NotificationFailures", [0])[0] for blob in emf) == 1  # the closer's, with its trigger
    # The topic back: the next run's digest carries the five baselines the failed one released.
    monkeypatch.setenv("CISWATCH_TOPIC_ARN", topic)
    second = schedule(org)
    work(org)
    again = json.loads(org["client"].http.get(f"/runs/{second['run_id']}").body)
    assert again["digest"]["result"]["published"] is True and again["digest"]["result"]["transitions"] == 5
    assert len(received(org, org["digests"])) == 1
