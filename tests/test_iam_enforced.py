"""Least privilege, enforced: moto server checks every request against IAM, with a principal holding
exactly the actions of one function's policy (deploy/policies.py, as .chalice/policy-*-prod.json has it).

moto evaluates actions but presents most resources as "*", so a statement scoped to ARNs never matches
there: the test widens each statement's Resource to "*" and keeps its actions. What it proves is that
the policy's actions are sufficient (zero AccessDenied) and that each one is needed (removing one
makes the findings that depend on it ERROR, naming the call, while the run completes).
moto also spells two actions its own way: CloudWatch under its endpoint prefix `monitoring:` (AWS's IAM
prefix is `cloudwatch:`), and a transaction as `dynamodb:TransactWriteItems` (AWS authorizes each item's
PutItem/UpdateItem instead); the moto view grants those spellings alongside the policy's own.
moto does not evaluate Condition blocks either: that the producers' PutItem is limited to LEDGER# keys
(dynamodb:LeadingKeys) is reviewed in deploy/policies.py and asserted on the document, not enforced here."""

import json

import boto3
import pytest

from chalicelib.pipeline import run_audit
from chalicelib.settings import Settings
from chalicelib.state.table import create_table
from deploy import policies
from sandbox.moto_env import MotoAccount, moto_process, set_auth

pytestmark = pytest.mark.moto
HOME = "ap-northeast-1"
POLICY = policies.document("audit_worker", "prod")
API_POLICY = policies.document("api_handler", "prod")


def moto_view(policy: dict, drop: str | None = None) -> dict:
    statements = []
    for st in policy["Statement"]:
        actions = [a for a in st["Action"] if a != drop]
        actions += [a.replace("cloudwatch:", "monitoring:") for a in actions if a.startswith("cloudwatch:")]
        if "dynamodb:BatchWriteItem" in actions:
            actions.append("dynamodb:TransactWriteItems")
        if actions:
            statements.append({"Effect": st["Effect"], "Action": actions, "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


@pytest.fixture(scope="module")
def enforced():
    with moto_process() as url:
        acct = MotoAccount(url)
        acct.trail(region=HOME, log_group="CloudTrail/DefaultLogGroup")
        acct.monitor_all(HOME, "CloudTrail/DefaultLogGroup", acct.topic(HOME))
        acct.key(HOME, rotation=True)
        acct.key(HOME, rotation=False)
        create_table(acct.client("dynamodb", HOME), "ciswatch-prod-findings")
        topic = acct.topic(HOME, name="ciswatch-prod-digest", subscribe=None)
        acct.sqs_subscriber(topic, HOME)
        requests = acct.request_queue(HOME, "ciswatch-prod-audit-requests")
        iam = acct.client("iam", "us-east-1")
        keys = {}
        for user in ("ciswatch-auditor", "ciswatch-api", "ciswatch-dead-letters"):
            iam.create_user(UserName=user)
            keys[user] = iam.create_access_key(UserName=user)["AccessKey"]
        yield {
            "url": url,
            "iam": iam,
            "key": keys["ciswatch-auditor"],
            "api_key": keys["ciswatch-api"],
            "dead_letters_key": keys["ciswatch-dead-letters"],
            "topic": topic,
            "requests": requests,
            "acct": acct,
        }


def prod_settings(enforced, max_attempts: int) -> Settings:
    return Settings(
        regions=(HOME,),
        endpoint_url=enforced["url"],
        table="ciswatch-prod-findings",
        topic_arn=enforced["topic"],
        state_region=HOME,
        max_attempts=max_attempts,
    )


def audit_as_auditor(enforced, policy: dict) -> dict:
    set_auth(enforced["url"], float("inf"))
    enforced["iam"].put_user_policy(
        UserName="ciswatch-auditor", PolicyName="ciswatch", PolicyDocument=json.dumps(policy)
    )
    set_auth(enforced["url"], 0)
    try:
        session = boto3.Session(
            aws_access_key_id=enforced["key"]["AccessKeyId"], aws_secret_access_key=enforced["key"]["SecretAccessKey"]
        )
        settings = prod_settings(enforced, max_attempts=2)
        from chalicelib.inventory.aws import AwsReader

        ddb = session.client("dynamodb", region_name=HOME, endpoint_url=enforced["url"])
        sns = session.client("sns", region_name=HOME, endpoint_url=enforced["url"])
        return run_audit(settings, reader=AwsReader(settings, session=session), dynamodb=ddb, sns=sns)
    finally:
        set_auth(enforced["url"], float("inf"))


def test_policy_prod_is_enough(enforced):
    run = audit_as_auditor(enforced, moto_view(POLICY))
    result = run["result"]
    denied = [f.reason for f in result.findings if f.status == "ERROR"]
    assert denied == [] and run["counts"]["ERROR"] == 0
    assert run["notification"]["published"] is True and run["baseline"] is True
    assert {f.status for f in result.findings if f.control != "kms_key_rotation"} == {"PASS"}


def test_enforcement_is_on(enforced):
    # Only the state-and-topic statements: every audit read is refused, and each finding says so.
    own_only = {**POLICY, "Statement": [st for st in POLICY["Statement"] if not st["Sid"].startswith("Audit")]}
    run = audit_as_auditor(enforced, moto_view(own_only))
    controls = [f for f in run["result"].findings if f.control != "kms_key_rotation" or f.region is None]
    assert {f.status for f in controls} == {"ERROR"}
    assert all("AccessDenied" in f.reason or "not authorized" in f.reason for f in controls)


@pytest.mark.parametrize(
    ("drop", "control", "call"),
    [
        ("kms:GetKeyRotationStatus", "kms_key_rotation", "kms:GetKeyRotationStatus"),
        ("logs:DescribeMetricFilters", "vpc_changes", "logs:DescribeMetricFilters"),
        ("cloudwatch:DescribeAlarms", "root_account_usage", "cloudwatch:DescribeAlarms"),
        ("sns:ListSubscriptionsByTopic", "iam_policy_changes", "sns:ListSubscriptionsByTopic"),
        ("cloudtrail:GetTrailStatus", "nacl_changes", "cloudtrail:GetTrailStatus"),
    ],
)
def test_removing_one_read_action_makes_its_findings_error(enforced, drop, control, call):
    run = audit_as_auditor(enforced, moto_view(POLICY, drop=drop))
    affected = [f for f in run["result"].findings if f.control == control and f.status == "ERROR"]
    assert affected, [f.reason for f in run["result"].findings if f.control == control]
    assert any(
        call in f.reason and ("AccessDenied" in f.reason or "Unauthorized" in f.reason or "NotAuthorized" in f.reason)
        for f in affected
    ), affected[0].reason
    assert run["notification"] is not None  # the run completed, recorded and notified


# --- the API's role -------------------------------------------------------------------------------


@pytest.fixture
def as_api(enforced, monkeypatch):
    """The process's default credentials become the API role's, with its policy enforced."""
    set_auth(enforced["url"], float("inf"))
    enforced["iam"].put_user_policy(
        UserName="ciswatch-api", PolicyName="ciswatch", PolicyDocument=json.dumps(moto_view(API_POLICY))
    )
    key = enforced["api_key"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", HOME)
    settings = Settings(
        endpoint_url=enforced["url"],
        table="ciswatch-prod-findings",
        state_region=HOME,
        queue_url=enforced["requests"]["url"],
        max_attempts=1,
    )
    from chalicelib import service

    service.caller_account(enforced["url"], None)  # STS needs no permission in AWS; ask before enforcing
    set_auth(enforced["url"], 0)
    yield settings
    set_auth(enforced["url"], float("inf"))


def test_the_api_role_reads_findings_and_queues_requests(as_api):
    from chalicelib import runs, service

    assert service.list_findings(as_api, {})["total"] >= 0
    request = runs.new_request(as_api, "123456789012", "api")
    runs.enqueue(as_api, request)
    assert runs.run_record(as_api, request.run_id).to_json()["status"] == "queued"


@pytest.mark.parametrize(
    ("service_name", "call", "kwargs"),
    [
        ("cloudtrail", "describe_trails", {}),
        ("kms", "list_keys", {}),
        ("logs", "describe_metric_filters", {}),
        ("ec2", "describe_regions", {}),
        (
            "sns",
            "publish",
            {"TopicArn": "arn:aws:sns:ap-northeast-1:123456789012:ciswatch-prod-digest", "Message": "x"},
        ),
        (
            "dynamodb",
            "batch_write_item",
            {
                "RequestItems": {
                    "ciswatch-prod-findings": [{"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"S": "b"}}}}]
                }
            },
        ),
        ("dynamodb", "scan", {"TableName": "ciswatch-prod-findings"}),
        ("kms", "decrypt", {"CiphertextBlob": b"x" * 32}),
    ],
)
def test_the_api_role_is_denied_what_only_the_worker_may_do(as_api, service_name, call, kwargs):
    # Actions the API role does not hold at all (moto widens resources, so an action it holds on another
    # resource — DeleteItem on the idempotency table — cannot be shown denied on the findings table here).
    from botocore.exceptions import ClientError

    client = boto3.client(service_name, region_name=HOME, endpoint_url=as_api.endpoint_url)
    with pytest.raises(ClientError) as caught:
        getattr(client, call)(**kwargs)
    error = caught.value.response["Error"]
    text = f"{error.get('Code')} {error.get('Message')}"
    # moto answers some JSON services with its XML error body and code 403; the words are the same.
    assert "AccessDenied" in text or "AuthorizationError" in text or "not authorized" in text, error


def test_the_member_role_policy_is_enough_to_audit_an_account(enforced):
    from chalicelib.inventory.aws import AwsReader
    from chalicelib.pipeline import audit

    member = policies.member_role_template()["Resources"]["AuditRole"]["Properties"]["Policies"][0]["PolicyDocument"]

    def resolve(value):
        if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
            return value["Fn::Sub"].replace("${AWS::Partition}", "aws")
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    plain = resolve(member)
    set_auth(enforced["url"], float("inf"))
    enforced["iam"].put_user_policy(
        UserName="ciswatch-auditor", PolicyName="ciswatch", PolicyDocument=json.dumps(moto_view(plain))
    )
    set_auth(enforced["url"], 0)
    try:
        session = boto3.Session(
            aws_access_key_id=enforced["key"]["AccessKeyId"], aws_secret_access_key=enforced["key"]["SecretAccessKey"]
        )
        settings = Settings(regions=(HOME,), endpoint_url=enforced["url"], max_attempts=2)
        result = audit(settings, reader=AwsReader(settings, session=session))
    finally:
        set_auth(enforced["url"], float("inf"))
    assert [f.reason for f in result.findings if f.status == "ERROR"] == []


def test_the_dead_letter_consumers_role_records_the_account_and_sends_the_runs_digest(enforced, monkeypatch):
    """Set up as an administrator: a run of two accounts, one audited with its baseline waiting in its
    outbox, the other's request dead-lettered. Then, as the dead_letters role only, record it: the run
    closes and its one digest is published, with no AccessDenied."""
    from dataclasses import replace

    from chalicelib import runs
    from chalicelib.state.ledger import Ledger, Outcome

    own, other = "123456789012", "210987654321"
    settings = prod_settings(enforced, max_attempts=1)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": HOME,
    }.items():
        monkeypatch.setenv(name, value)  # the administrator, while enforcement is off
    ddb = enforced["acct"].client("dynamodb", HOME)
    book = Ledger(ddb, "ciswatch-prod-findings")
    head = replace(runs.new_request(settings, own, "schedule"), digest_scope="run")
    book.add_request(head, (own, other))
    begun = book.begin(head, 1)
    run_audit(settings.with_(topic_arn=None), dynamodb=ddb, run_id=head.run_id)
    assert not book.finish(head, begun, Outcome.AUDITED).closes_run
    set_auth(enforced["url"], float("inf"))
    enforced["iam"].put_user_policy(
        UserName="ciswatch-dead-letters",
        PolicyName="ciswatch",
        PolicyDocument=json.dumps(moto_view(policies.document("dead_letters", "prod"))),
    )
    key = enforced["dead_letters_key"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    set_auth(enforced["url"], 0)
    try:
        assert runs.handle_dead_letter(settings, replace(head, account=other), 4) == "recorded as ERROR"
        record = runs.run_record(settings, head.run_id)
    finally:
        set_auth(enforced["url"], float("inf"))
    assert record.pending == () and record.digest["result"]["published"] is True
    assert record.digest["result"]["accounts"] == {"AUDITED": 1, "ERROR": 0, "SKIPPED": 0, "PENDING": 1}
