"""An Organization of 100 accounts audited through the request queue with faults injected at the HTTP
level (botocore hooks on the sessions the worker really builds): suspended accounts, members that deny
AssumeRole, persistent and transient throttling, a region a service control policy closes, a message
delivered twice, a worker that crashes on every attempt, and one still running at the run's deadline.

The worker's and the dead-letter consumer's real handlers are fed by the poller from moto's queues; SQS's
own redrive moves the crashing request to the dead-letter queue."""

import json
import time
from datetime import timedelta

import pytest
from botocore.awsrequest import AWSResponse
from chalice.test import Client

from chalicelib import organization, runs
from chalicelib.model.request import FIELDS, AuditRequest
from chalicelib.state.store import StateStore
from chalicelib.state.table import create_table
from sandbox.moto_env import MotoAccount, moto_process
from sandbox.poller import SandboxCrash, drain

from .state_env import Raw
from .test_organization import SCP_DENY, deny_assume_role, received

HOME = "ap-northeast-1"
OTHER = "eu-west-1"
TABLE = "ciswatch-dev-findings"
MANAGEMENT = "123456789012"
MEMBERS = 99  # with the management account: an Organization of 100
pytestmark = pytest.mark.moto
THROTTLED = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'  # KMS's JSON error shape


class Faults:
    """Which member fails how, by its position among the members (the suspended one is the last)."""

    def __init__(self, members):
        self.denied = set(members[0:2])
        self.throttled_always = members[2]
        self.throttled_once = members[3]
        self.scp_closed = set(members[4:7])
        self.crashing = members[7]
        self.slow = members[8]
        self.suspended = members[-1]
        self.transient_left = {members[3]: 1}
        self.on_slow = None  # what happens while the slow account's audit runs (the deadline comes)

    def sts_hooks(self, account, sts_client):
        if account in self.denied:
            sts_client.meta.events.register("before-send.sts.AssumeRole", deny_assume_role(account))

    def session_hooks(self, account, session):
        events = session.events
        if account == self.throttled_always:
            events.register("before-send.kms.ListKeys", lambda request, **kw: _answer(request, THROTTLED))
        if account == self.throttled_once:

            def once(request, **kw):
                if self.transient_left[account]:
                    self.transient_left[account] -= 1
                    return _answer(request, THROTTLED)
                return None

            events.register("before-send.kms.ListKeys", once)
        if account in self.scp_closed:

            def scp(request, **kw):
                scope = request.headers.get("Authorization", b"")
                scope = scope.decode() if isinstance(scope, bytes) else scope
                return _answer(request, SCP_DENY) if f"/{OTHER}/kms/" in scope else None

            events.register("before-send.kms.ListKeys", scp)
        if account == self.crashing:

            def crash(**kw):
                raise SandboxCrash(f"the worker's runtime died while auditing {account}")

            events.register("before-send.cloudtrail.DescribeTrails", crash)
        if account == self.slow:

            def slow(request, **kw):
                if self.on_slow is not None:
                    fire, self.on_slow = self.on_slow, None
                    fire()
                return None

            events.register("before-send.cloudtrail.DescribeTrails", slow)


def _answer(request, body):
    return AWSResponse(request.url, 400, {}, Raw(body))


@pytest.fixture
def org(monkeypatch):
    # Its own moto server: a hundred accounts' backends would make every later reset of the shared one slow.
    with moto_process() as url:
        for name, value in {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
        }.items():
            monkeypatch.setenv(name, value)
        yield from _organization(MotoAccount(url), monkeypatch)


def _organization(account, monkeypatch):
    members = account.organization(MEMBERS, suspended=1)
    faults = Faults(members)
    real_member_session = organization.member_session

    def member_session(sts_client, account_id, *args, **kwargs):
        faults.sts_hooks(account_id, sts_client)
        session = real_member_session(sts_client, account_id, *args, **kwargs)
        faults.session_hooks(account_id, session)
        return session

    monkeypatch.setattr(organization, "member_session", member_session)
    create_table(account.client("dynamodb", HOME), TABLE)
    topic = account.topic(HOME, name="ciswatch-dev-digest", subscribe=None)
    digests = account.sqs_subscriber(topic, HOME)
    requests = account.request_queue(HOME, "ciswatch-dev-audit-requests", visibility_timeout=1)
    for name, value in {
        "CISWATCH_TOPIC_ARN": topic,
        "CISWATCH_REGIONS": f"{HOME},{OTHER}",
        "CISWATCH_QUEUE_URL": requests["url"],
        "CISWATCH_ORGANIZATION": "true",
        "CISWATCH_RUN_DEADLINE_MINUTES": "60",
        "CISWATCH_MAX_ATTEMPTS": "2",
        "AWS_DEFAULT_REGION": HOME,
    }.items():
        monkeypatch.setenv(name, value)
    import app as app_module

    with Client(app_module.app, stage_name="dev") as client:
        yield {
            "client": client,
            "account": account,
            "members": members,
            "faults": faults,
            "requests": requests,
            "digests": digests,
            "monkeypatch": monkeypatch,
        }


def _feed(org, queue_url, function):
    sqs = org["account"].client("sqs", HOME)
    return drain(sqs, queue_url, lambda e: org["client"].lambda_.invoke(function, e).payload)


def _queue_counts(sqs, url):
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return {k.replace("ApproximateNumberOfMessages", "") or "Visible": int(v) for k, v in attrs.items()}


def test_a_hundred_accounts_with_faults_end_with_one_outcome_each_and_one_digest(org):
    client, faults, members = org["client"], org["faults"], org["members"]
    sqs = org["account"].client("sqs", HOME)
    url, dlq = org["requests"]["url"], org["requests"]["dlq"]
    queued = client.lambda_.invoke(
        "daily_audit",
        client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=["arn:aws:events:::rule/d"]
        ),
    ).payload
    run_id = queued["run_id"]
    assert queued["accounts"] == 100 and queued["queued"] == 99 and queued["skipped"] == 1

    # Hold the slow account's request aside (it runs last); deliver one other request twice.
    taken = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=3600).get("Messages"):
        taken += batch
    assert len(taken) == 99
    (held,) = [m for m in taken if json.loads(m["Body"])["account"] == faults.slow]
    twice = next(m for m in taken if json.loads(m["Body"])["account"] not in (faults.crashing, faults.slow))
    sqs.send_message(QueueUrl=url, MessageBody=twice["Body"])
    for m in taken:
        if m is not held:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)

    # The workers: the crashing request comes back after each 1 s visibility timeout until SQS moves it.
    for _ in range(10):
        _feed(org, url, "audit_worker")
        if _queue_counts(sqs, dlq)["Visible"]:
            break
        time.sleep(1.1)
    assert _queue_counts(sqs, dlq)["Visible"] == 1
    assert _feed(org, dlq, "dead_letters").handled == 1
    record = json.loads(client.http.get(f"/runs/{run_id}").body)
    assert record["pending"] == [faults.slow] and record["digest"] is None

    # The slow account's audit is still reading when the run's deadline comes (the timer's last delivery).
    requested = _parse(record["requested_at"])

    fired = []

    def deadline_arrives():
        org["monkeypatch"].setattr(runs, "_utcnow", lambda: requested + timedelta(minutes=61))
        body = json.dumps({"deadline_of": run_id, "due": record["deadline"]})
        sqs.send_message(QueueUrl=url, MessageBody=body)
        fired.append(_feed(org, url, "audit_worker").handled)  # (an assert here would read as an API error)

    faults.on_slow = deadline_arrives
    # From now on a receive hides a message longer than an audit takes, as the deployed queue's 5,400 s do.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "300"})
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=held["ReceiptHandle"], VisibilityTimeout=0)
    _feed(org, url, "audit_worker")
    assert fired == [1]

    # Exactly one digest, sent at the deadline, naming the slow account as pending; counts = the ledger's then.
    (digest,) = received(org, org["digests"])
    slack = json.loads(json.loads(digest["Body"])["Message"])
    text = slack["content"]["description"]
    assert text.startswith("95 of 100 accounts audited, 2 could not be audited, 2 did not finish, 1 skipped")
    assert f"`{faults.slow}` PENDING: did not finish by the run's deadline" in text
    assert f"`{faults.crashing}` PENDING: the worker failed on every one of" in text
    for denied in faults.denied:
        assert f"`{denied}` ERROR: sts:AssumeRole into arn:aws:iam::{denied}:role/ciswatch-audit failed" in text
    assert f"`{faults.suspended}` SKIPPED: the account is SUSPENDED" in text
    final = json.loads(client.http.get(f"/runs/{run_id}").body)
    sent = final["digest"]
    assert sent["closed_by"] == "deadline" and sent["result"]["published"] is True
    assert sent["result"]["accounts"] == {"AUDITED": 95, "ERROR": 2, "SKIPPED": 1, "PENDING": 2}

    # Every account has exactly one outcome; the slow one's real result replaced the deadline's ERROR.
    by_account = {o["account"]: o for o in final["accounts"]}
    assert set(by_account) == {MANAGEMENT, *members} and final["pending"] == []
    assert final["outcomes"] == {"AUDITED": 96, "ERROR": 3, "SKIPPED": 1}
    assert by_account[faults.slow]["state"] == "AUDITED" and "closed_by" not in by_account[faults.slow]
    assert by_account[faults.crashing]["closed_by"] == "dead-letter"
    ddb = org["account"].client("dynamodb", HOME)
    findings = {a: StateStore(ddb, TABLE, a).current() for a, o in by_account.items() if o["state"] == "AUDITED"}
    for account_id, stored in findings.items():
        assert stored and {i.account for i in stored.values()} == {account_id}
    assert not any(StateStore(ddb, TABLE, a).current() for a in (*faults.denied, faults.crashing, faults.suspended))

    def kms(account_id):
        return [i for i in findings[account_id].values() if i.control == "kms_key_rotation"]

    throttled = [i for i in kms(faults.throttled_always) if i.status == "ERROR"]
    assert throttled and all("ThrottlingException" in (i.reason or "") for i in throttled)
    assert not [i for i in kms(faults.throttled_once) if i.status == "ERROR"]  # retried within the worker
    for closed in faults.scp_closed:
        assert {i.status for i in kms(closed)} <= {"NOT_APPLICABLE", "PASS", "FAIL"}
    assert not any(i.status == "ERROR" for a in faults.scp_closed for i in kms(a))

    # Announced once: every audited account's outbox is empty except the slow one's (its baseline came
    # after the digest; it waits for the next run's, not lost).
    waiting = {a for a in findings if StateStore(ddb, TABLE, a).claim_outbox("probe", lease_seconds=0)}
    assert waiting == {faults.slow}

    # Redelivering every request (the crash fixed) changes no finished outcome and announces nothing; the
    # crashed account is audited at last (a real result replaces the dead-letter ERROR), its baseline
    # waiting for the next digest. The queues end empty but for the run's own deadline timer, still
    # delayed, which will find the run closed.
    crashed, faults.crashing = faults.crashing, None
    for account_id in by_account:
        request = AuditRequest.from_json({k: record[k] for k in (*FIELDS, "digest_scope")} | {"account": account_id})
        sqs.send_message(QueueUrl=url, MessageBody=request.to_message())
    _feed(org, url, "audit_worker")
    again = json.loads(client.http.get(f"/runs/{run_id}").body)
    assert again["outcomes"] == {"AUDITED": 97, "ERROR": 2, "SKIPPED": 1} and again["digest"] == final["digest"]
    assert [o for o in again["accounts"] if o["account"] != crashed] == [
        o for o in final["accounts"] if o["account"] != crashed
    ]
    assert next(o for o in again["accounts"] if o["account"] == crashed)["state"] == "AUDITED"
    assert received(org, org["digests"]) == []
    assert _queue_counts(sqs, url) == {"Visible": 0, "NotVisible": 0, "Delayed": 1}
    assert _queue_counts(sqs, dlq) == {"Visible": 0, "NotVisible": 0, "Delayed": 0}


def _parse(text):
    from datetime import UTC, datetime

    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
