"""Least privilege, enforced: moto server checks every request against IAM, with a principal holding
exactly the actions of .chalice/policy-prod.json.

moto evaluates actions but presents most resources as "*", so a statement scoped to ARNs never matches
there: the test widens each statement's Resource to "*" and keeps its actions. What it proves is that
the policy's actions are sufficient (zero AccessDenied) and that each one is needed (removing one
makes the findings that depend on it ERROR, naming the call, while the run completes).
moto also spells two actions its own way: CloudWatch under its endpoint prefix `monitoring:` (AWS's IAM
prefix is `cloudwatch:`), and a transaction as `dynamodb:TransactWriteItems` (AWS authorizes each item's
PutItem/UpdateItem instead); the moto view grants those spellings alongside the policy's own."""

import json
from pathlib import Path

import boto3
import pytest

from chalicelib.pipeline import run_audit
from chalicelib.settings import Settings
from chalicelib.state.table import create_table
from sandbox.moto_env import MotoAccount, moto_process, set_auth

pytestmark = pytest.mark.moto
HOME = "ap-northeast-1"
POLICY = json.loads((Path(__file__).resolve().parent.parent / ".chalice" / "policy-prod.json").read_text())


def moto_view(policy: dict, drop: str | None = None) -> dict:
    statements = []
    for st in policy["Statement"]:
        actions = [a for a in st["Action"] if a != drop]
        actions += [a.replace("cloudwatch:", "monitoring:") for a in actions if a.startswith("cloudwatch:")]
        if "dynamodb:PutItem" in actions and "dynamodb:Query" in actions:
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
        iam = acct.client("iam", "us-east-1")
        iam.create_user(UserName="ciswatch-auditor")
        key = iam.create_access_key(UserName="ciswatch-auditor")["AccessKey"]
        yield {"url": url, "iam": iam, "key": key, "topic": topic}


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
        settings = Settings(
            regions=(HOME,),
            endpoint_url=enforced["url"],
            table="ciswatch-prod-findings",
            topic_arn=enforced["topic"],
            state_region=HOME,
            max_attempts=2,
        )
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
    own_only = {**POLICY, "Statement": [st for st in POLICY["Statement"] if st["Sid"].startswith("Own")]}
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
