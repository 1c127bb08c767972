"""The chain rules against moto server, for every state moto can represent (composite alarms it cannot:
those are tested on built snapshots in test_chain_rules.py). And answers that cannot be read."""

import json

import pytest
from botocore.awsrequest import AWSResponse

from chalicelib import catalog
from chalicelib.checks.judge import recommended_pattern
from chalicelib.inventory.aws import AwsReader
from chalicelib.pipeline import audit
from chalicelib.settings import Settings
from sandbox.scenarios import HOME, LG

ACCOUNT = "123456789012"


def run(moto_url, on_client=None, regions=(HOME,)):
    settings = Settings(benchmark="5.0.0", regions=regions, endpoint_url=moto_url, max_attempts=2)
    return audit(settings, reader=AwsReader(settings, on_client=on_client))


def finding(result, control):
    return next(f for f in result.findings if f.control == control and not f.is_per_resource)


def vpc_chain(account, transformation=None, **alarm):
    """A trail, every other control monitored, and vpc_changes with the given metric and alarm settings."""
    account.trail(region=HOME, log_group=LG)
    topic = account.topic(HOME)
    account.monitor_all(HOME, LG, topic, skip=("vpc_changes",))
    account.client("logs", HOME).put_metric_filter(
        logGroupName=LG,
        filterName="vpc",
        filterPattern=recommended_pattern("vpc_changes", "5.0.0"),
        metricTransformations=[
            {"metricName": "Vpc", "metricNamespace": "CIS", "metricValue": "1", **(transformation or {})}
        ],
    )
    account.client("cloudwatch", HOME).put_metric_alarm(
        AlarmName="vpc",
        MetricName="Vpc",
        Namespace="CIS",
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[topic],
        **alarm,
    )
    return topic


@pytest.mark.parametrize(
    ("transformation", "alarm", "words"),
    [
        ({"dimensions": {"Source": "$.eventSource"}}, {}, "dimensions none but filter vpc publishes"),
        ({}, {"Dimensions": [{"Name": "Source", "Value": "ec2.amazonaws.com"}]}, "never receives a datapoint"),
        ({}, {"Unit": "Count"}, "in unit Count but filter vpc publishes it without a unit"),
        ({}, {"TreatMissingData": "breaching"}, "treats missing data as breaching"),
    ],
)
def test_an_alarm_that_never_changes_state_on_an_event_fails_at_the_alarm(
    moto_url, account, transformation, alarm, words
):
    vpc_chain(account, transformation, **alarm)
    f = finding(run(moto_url), "vpc_changes")
    assert f.status == "FAIL" and f.evidence["broken_link"] == "alarm" and words in f.reason, f.reason


def test_dimensions_the_alarm_asks_for_exactly_pass(moto_url, account):
    vpc_chain(
        account,
        {"dimensions": {"Source": "$.eventSource"}, "unit": "Count"},
        Dimensions=[{"Name": "Source", "Value": "ec2.amazonaws.com"}],
        Unit="Count",
    )
    assert finding(run(moto_url), "vpc_changes").status == "PASS"


def test_a_disabled_topic_key_fails(moto_url, account):
    kms = account.client("kms", HOME)
    key = kms.create_key(
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                        "Resource": "*",
                    },
                ],
            }
        )
    )["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key)
    account.trail(region=HOME, log_group=LG)
    account.monitor_all(HOME, LG, account.topic(HOME, kms_key=key))
    assert finding(run(moto_url), "vpc_changes").status == "PASS"
    kms.disable_key(KeyId=key)
    f = finding(run(moto_url), "vpc_changes")
    assert f.status == "FAIL" and "Disabled" in f.reason and f.evidence["problem"] == "topic_key_unusable"


def test_a_topic_policy_that_denies_cloudwatch_fails(moto_url, account):
    topic = vpc_chain(account)
    account.client("sns", HOME).set_topic_attributes(
        TopicArn=topic,
        AttributeName="Policy",
        AttributeValue=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "NoAlarms",
                        "Effect": "Deny",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Action": "sns:Publish",
                        "Resource": topic,
                    }
                ],
            }
        ),
    )
    f = finding(run(moto_url), "vpc_changes")
    assert f.status == "FAIL" and f.evidence["problem"] == "topic_policy_denies" and "NoAlarms" in f.reason


@pytest.mark.parametrize(
    ("policy", "scope", "status"),
    [
        ({"severity": ["HIGH"]}, None, "FAIL"),
        ({"NewStateValue": ["ALARM"]}, "MessageBody", "PASS"),
        ({"NewStateValue": ["OK"]}, "MessageBody", "FAIL"),
    ],
)
def test_a_subscriber_whose_filter_policy_drops_alarm_messages_does_not_count(moto_url, account, policy, scope, status):
    topic = vpc_chain(account)
    sns = account.client("sns", HOME)
    sub = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"][0]["SubscriptionArn"]
    if scope:
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicyScope", AttributeValue=scope)
    sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue=json.dumps(policy)
    )
    f = finding(run(moto_url), "vpc_changes")
    assert f.status == status, f.reason
    if status == "FAIL":
        assert f.evidence["broken_link"] == "subscriber" and f.evidence["subscriptions_filtered_out"] == [sub]


def test_a_catch_all_filter_is_credited_to_no_other_control(moto_url, account):
    account.trail(region=HOME, log_group=LG)
    topic = account.topic(HOME)
    cis13 = next(
        p["pattern"]
        for p in catalog.all_published_patterns("unauthorized_api_calls")
        if "||" in p["pattern"] and "HeadBucket" in p["pattern"] and "1.3.0" in p["versions"]
    )
    account.monitor("unauthorized_api_calls", HOME, LG, topic, pattern=cis13)
    result = run(moto_url)
    assert finding(result, "unauthorized_api_calls").status == "WARNING"
    others = [
        f
        for f in result.findings
        if f.control != "unauthorized_api_calls" and not f.is_per_resource and f.control != "kms_key_rotation"
    ]
    assert len(others) == 14 and all(f.status == "FAIL" and "catch-all" in f.reason for f in others)


def test_the_finding_names_the_stopped_trail_whose_chain_works(moto_url, account):
    account.trail(name="main", region=HOME, log_group=LG)  # logging, but nothing on its log group
    account.trail(name="audit", region=HOME, log_group="audit-logs", logging_on=False)
    account.monitor_all(HOME, "audit-logs", account.topic(HOME))
    f = finding(run(moto_url), "vpc_changes")
    assert f.status == "FAIL" and f.reason == "trail audit is not logging"


# --- answers that cannot be read are ERROR for what needs them ------------------------------------------------


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **kwargs):
        yield self.body


def garbage(service_to_break, operation):
    """A before-send hook: the operation answers 200 with a proxy's HTML page instead of the service's body."""

    def hook(client, service, region):
        if service != service_to_break:
            return

        def answer(request, **kwargs):
            if request.headers.get("X-Amz-Target", b"").decode().endswith(operation) or f"Action={operation}" in (
                request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
            ):
                return AWSResponse(
                    request.url,
                    200,
                    {"Content-Type": "text/html"},
                    _Raw(b"<html><body>\n<h1>Gateway</h1>\n</body></html>"),
                )
            return None

        client.meta.events.register("before-send", answer)

    return hook


@pytest.mark.parametrize(
    ("service", "operation", "control", "status"),
    [
        ("kms", "ListKeys", "kms_key_rotation", "ERROR"),
        ("sns", "GetTopicAttributes", "vpc_changes", "ERROR"),
        ("cloudwatch", "DescribeAlarms", "vpc_changes", "ERROR"),
        ("logs", "DescribeMetricFilters", "vpc_changes", "ERROR"),
        ("cloudtrail", "DescribeTrails", "vpc_changes", "ERROR"),
    ],
)
def test_an_unreadable_answer_is_an_error_naming_the_call(moto_url, account, service, operation, control, status):
    account.trail(region=HOME, log_group=LG)
    account.monitor_all(HOME, LG, account.topic(HOME))
    account.key(HOME, rotation=True)
    f = finding(run(moto_url, on_client=garbage(service, operation)), control)
    assert f.status == status, f.reason
    assert (
        f"{operation}" in f.reason and "MalformedResponse" in f.reason and "\n" not in f.reason and "<" not in f.reason
    )


def test_an_unreadable_region_list_audits_the_default_region_and_says_so(moto_url, account):
    account.key(HOME, rotation=True)
    result = run(moto_url, on_client=garbage("ec2", "DescribeRegions"), regions=())
    rollup = finding(result, "kms_key_rotation")
    assert rollup.status == "ERROR" and "DescribeRegions" in rollup.reason and "MalformedResponse" in rollup.reason
