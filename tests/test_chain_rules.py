"""The chain credits only what would really notify someone: table-driven tests on built snapshots.

An alarm notifies on a state change: metric identity (name, namespace, dimensions, unit), statistics by
reachability, composite alarms, topics that can deliver (key state, key and topic policies) and
subscribers that can receive (filter policies), catch-all filters, and reasons that name the right trail.
"""

import json

import pytest

from chalicelib import catalog
from chalicelib.checks import run_checks
from chalicelib.checks.judge import CATCH_ALL_SHARE, recommended_pattern, unrelated_share
from chalicelib.model import AccountSnapshot

from .builders import snapshot_document

ACCOUNT = "111122223333"
HOME = "ap-northeast-1"
LG_ARN = f"arn:aws:logs:{HOME}:{ACCOUNT}:log-group:trail-logs:*"
TOPIC = f"arn:aws:sns:{HOME}:{ACCOUNT}:alarms"
KEY_ARN = f"arn:aws:kms:{HOME}:{ACCOUNT}:key/k-1"
CIS13_UNAUTHORIZED = next(
    p["pattern"]
    for p in catalog.all_published_patterns("unauthorized_api_calls")
    if "1.3.0" in p["versions"] and unrelated_share("unauthorized_api_calls", p["pattern"], "5.0.0") > 0.5
)


def trail(name="main", logging=True, log_group=LG_ARN, **over):
    t = {
        "arn": f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/{name}",
        "name": name,
        "home_region": HOME,
        "owner_account": ACCOUNT,
        "is_multi_region": True,
        "is_organization_trail": False,
        "log_group_arn": log_group,
        "status": {"IsLogging": logging},
        "status_error": None,
        "selectors": {"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}]},
        "selectors_error": None,
    }
    t.update(over)
    return t


def metric_filter(control, pattern=None, name=None, **transformation):
    return {
        "filterName": name or f"f-{control}",
        "filterPattern": pattern or recommended_pattern(control, "5.0.0"),
        "metricTransformations": [
            {"metricName": control, "metricNamespace": "CIS", "metricValue": "1", **transformation}
        ],
    }


def alarm(control, name=None, topic=TOPIC, **over):
    a = {
        "AlarmName": name or f"a-{control}",
        "AlarmArn": f"arn:aws:cloudwatch:{HOME}:{ACCOUNT}:alarm:{name or 'a-' + control}",
        "MetricName": control,
        "Namespace": "CIS",
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "ActionsEnabled": True,
        "AlarmActions": [topic] if topic else [],
    }
    a.update(over)
    return {k: v for k, v in a.items() if v is not None}


def topic(attributes=None, subscriptions=None, kms_key=None):
    return {
        "arn": TOPIC,
        "region": HOME,
        "account": ACCOUNT,
        "attributes": attributes or {},
        "attributes_error": None,
        "subscriptions": subscriptions
        if subscriptions is not None
        else [{"SubscriptionArn": TOPIC + ":sub-1", "Protocol": "email"}],
        "subscriptions_error": None,
        "kms_key": kms_key,
    }


def snapshot(filters, alarms, topic_record=None, trails=None, composites=None, groups=None):
    region_alarms = {"items": alarms, "error": None}
    if composites:
        region_alarms["composites"] = composites
    log_groups = groups or {
        LG_ARN: {
            "arn": LG_ARN,
            "region": HOME,
            "account": ACCOUNT,
            "name": "trail-logs",
            "filters": filters,
            "error": None,
        }
    }
    return snapshot_document(
        ACCOUNT, HOME, trails or [trail()], log_groups, {HOME: region_alarms}, {TOPIC: topic_record or topic()}
    )


def finding(snap, control="vpc_changes"):
    return next(f for f in run_checks(AccountSnapshot.from_json(snap), "5.0.0") if f.control == control)


def one(control="vpc_changes", filter_over=None, alarm_over=None, **kwargs):
    return snapshot([metric_filter(control, **(filter_over or {}))], [alarm(control, **(alarm_over or {}))], **kwargs)


def test_the_baseline_chain_passes():
    assert finding(one()).status == "PASS"


# --- a metric is namespace + name + dimensions + unit ---------------------------------------------------


@pytest.mark.parametrize(
    ("filter_dims", "alarm_dims", "status", "words"),
    [
        (None, None, "PASS", None),
        ({"EventName": "$.eventName"}, None, "FAIL", "dimensions none but filter"),
        (None, [{"Name": "EventName", "Value": "CreateVpc"}], "FAIL", "with dimensions {EventName=CreateVpc}"),
        ({"EventName": "$.eventName"}, [{"Name": "Source", "Value": "x"}], "FAIL", "never receives a datapoint"),
        # the same name, but the control's events publish several values: the alarm sees only one of them
        ({"EventName": "$.eventName"}, [{"Name": "EventName", "Value": "CreateVpc"}], "FAIL", "other dimension values"),
        # every vpc event comes from ec2.amazonaws.com: the alarm on that value sees them all
        ({"Source": "$.eventSource"}, [{"Name": "Source", "Value": "ec2.amazonaws.com"}], "PASS", None),
        (
            {"Source": "$.eventSource"},
            [{"Name": "Source", "Value": "s3.amazonaws.com"}],
            "FAIL",
            "other dimension values",
        ),
    ],
)
def test_dimensions_must_be_the_same_set_of_names_and_values(filter_dims, alarm_dims, status, words):
    snap = one(
        filter_over={"dimensions": filter_dims} if filter_dims else None,
        alarm_over={"Dimensions": alarm_dims} if alarm_dims else None,
    )
    f = finding(snap)
    assert f.status == status, f.reason
    if words:
        assert words in f.reason and f.evidence["broken_link"] == "alarm"


@pytest.mark.parametrize(
    ("filter_unit", "alarm_unit", "status"),
    [
        (None, None, "PASS"),
        (None, "Count", "FAIL"),
        ("Count", "Count", "PASS"),
        ("Count", None, "PASS"),
        ("Count", "Seconds", "FAIL"),
        (None, "None", "PASS"),
    ],
)
def test_units_must_agree(filter_unit, alarm_unit, status):
    snap = one(
        filter_over={"unit": filter_unit} if filter_unit else None,
        alarm_over={"Unit": alarm_unit} if alarm_unit else None,
    )
    f = finding(snap)
    assert f.status == status, f.reason
    if status == "FAIL":
        assert "unit" in f.reason and "never receives a datapoint" in f.reason


# --- one event must fire it, judged by reachability -------------------------------------------------------


@pytest.mark.parametrize(
    ("alarm_over", "filter_over", "status"),
    [
        ({"Statistic": "Sum"}, {}, "PASS"),
        ({"Statistic": "SampleCount"}, {}, "PASS"),
        ({"Statistic": "Maximum"}, {}, "PASS"),
        ({"Statistic": "Minimum"}, {}, "PASS"),
        ({"Statistic": "Average"}, {}, "PASS"),
        ({"Statistic": "Minimum"}, {"defaultValue": 0.0}, "FAIL"),
        ({"Statistic": "Average"}, {"defaultValue": 0.0}, "FAIL"),
        ({"Statistic": "Sum"}, {"defaultValue": 0.0}, "PASS"),
        ({"Statistic": "Maximum", "Threshold": 5.0}, {}, "FAIL"),
        ({"Statistic": "Maximum", "Threshold": 5.0}, {"metricValue": "5"}, "PASS"),
        ({"Statistic": "SampleCount", "Threshold": 2.0}, {"metricValue": "5"}, "FAIL"),
        ({"Statistic": None, "ExtendedStatistic": "p99"}, {}, "WARNING"),
        ({"ComparisonOperator": "GreaterThanThreshold", "Threshold": 0.0}, {}, "PASS"),
        ({"ComparisonOperator": "GreaterThanThreshold", "Threshold": 1.0}, {}, "FAIL"),
        ({"ComparisonOperator": "LessThanThreshold"}, {}, "FAIL"),
        ({"EvaluationPeriods": 3, "DatapointsToAlarm": 2}, {}, "FAIL"),
        ({"EvaluationPeriods": 3, "DatapointsToAlarm": 1}, {}, "PASS"),
        ({"TreatMissingData": "breaching"}, {}, "FAIL"),
        ({"TreatMissingData": "notBreaching"}, {}, "PASS"),
        ({"TreatMissingData": "missing"}, {}, "PASS"),
    ],
)
def test_statistics_by_reachability(alarm_over, filter_over, status):
    f = finding(one(filter_over=filter_over, alarm_over=alarm_over))
    assert f.status == status, f.reason
    if status == "FAIL":
        assert f.evidence["problem"] == "alarm_not_sensible"
    if status == "WARNING":
        assert "percentile" in f.reason


# --- composite alarms -------------------------------------------------------------------------------------


def composite(rule, actions=(TOPIC,), enabled=True, name="all-cis"):
    return {
        "AlarmName": name,
        "AlarmArn": f"arn:aws:cloudwatch:{HOME}:{ACCOUNT}:alarm:{name}",
        "AlarmRule": rule,
        "ActionsEnabled": enabled,
        "AlarmActions": list(actions),
    }


@pytest.mark.parametrize(
    ("rule", "enabled", "status"),
    [
        ('ALARM("a-vpc_changes")', True, "WARNING"),
        ("ALARM(a-nacl_changes) OR ALARM(a-vpc_changes)", True, "WARNING"),
        (f'ALARM("arn:aws:cloudwatch:{HOME}:{ACCOUNT}:alarm:a-vpc_changes")', True, "WARNING"),
        ('ALARM("a-vpc_changes") AND ALARM("a-nacl_changes")', True, "FAIL"),
        ('ALARM("a-vpc_changes") AND NOT ALARM("maintenance")', True, "FAIL"),
        ('ALARM("a-vpc_changes")', False, "FAIL"),
        ('ALARM("another")', True, "FAIL"),
    ],
)
def test_an_alarm_without_actions_counts_through_a_composite_that_forwards_it(rule, enabled, status):
    snap = one(alarm_over={"ActionsEnabled": False}, composites=[composite(rule, enabled=enabled)])
    f = finding(snap)
    assert f.status == status, f.reason
    if status == "WARNING":
        assert "composite alarm all-cis" in f.reason and f.evidence["composite_alarm"].endswith(":all-cis")
    else:
        assert f.evidence["problem"] == "alarm_actions_disabled"


def test_an_alarm_with_no_actions_at_all_counts_through_a_composite():
    snap = one(alarm_over={"AlarmActions": []}, composites=[composite('ALARM("a-vpc_changes")')])
    assert finding(snap).status == "WARNING"


# --- the topic must be able to deliver ---------------------------------------------------------------------


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


CLOUDWATCH_USES_KEY = {
    "Effect": "Allow",
    "Principal": {"Service": "cloudwatch.amazonaws.com"},
    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
    "Resource": "*",
}


def encrypted(key_policy, state="Enabled"):
    key = {"id": KEY_ARN, "arn": KEY_ARN, "key_manager": "CUSTOMER", "policy": key_policy, "error": None}
    if state is not None:
        key["key_state"] = state
    return topic(attributes={"KmsMasterKeyId": KEY_ARN}, kms_key=key)


@pytest.mark.parametrize(
    ("state", "status"),
    [("Enabled", "PASS"), (None, "PASS"), ("Disabled", "FAIL"), ("PendingDeletion", "FAIL"), ("PendingImport", "FAIL")],
)
def test_the_topic_key_must_be_enabled(state, status):
    f = finding(one(topic_record=encrypted(policy(CLOUDWATCH_USES_KEY), state)))
    assert f.status == status, f.reason
    if status == "FAIL":
        assert state in f.reason and f.evidence["problem"] == "topic_key_unusable"


@pytest.mark.parametrize(
    ("statements", "status", "words"),
    [
        ([CLOUDWATCH_USES_KEY], "PASS", None),
        ([], "FAIL", "does not let cloudwatch.amazonaws.com use it"),
        (
            [
                CLOUDWATCH_USES_KEY,
                {"Sid": "NoDecrypt", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"},
            ],
            "FAIL",
            "NoDecrypt denies kms:Decrypt",
        ),
        (
            [{**CLOUDWATCH_USES_KEY, "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}],
            "PASS",
            None,
        ),
        (
            [
                {
                    **CLOUDWATCH_USES_KEY,
                    "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{HOME}:{ACCOUNT}:alarm:*"}},
                }
            ],
            "PASS",
            None,
        ),
        (
            [{**CLOUDWATCH_USES_KEY, "Condition": {"StringEquals": {"aws:SourceAccount": "999999999999"}}}],
            "FAIL",
            "does not let",
        ),
        (
            [
                {
                    **CLOUDWATCH_USES_KEY,
                    "Condition": {"StringEquals": {"kms:ViaService": "sns.ap-northeast-1.amazonaws.com"}},
                }
            ],
            "WARNING",
            "only under a condition",
        ),
        (
            [
                CLOUDWATCH_USES_KEY,
                {
                    "Sid": "OnlyFromVpc",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "kms:*",
                    "Resource": "*",
                    "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}},
                },
            ],
            "WARNING",
            "OnlyFromVpc denies",
        ),
    ],
)
def test_the_key_policy_with_its_denies_and_conditions(statements, status, words):
    f = finding(one(topic_record=encrypted(policy(*statements))))
    assert f.status == status, f.reason
    if words:
        assert words in f.reason


@pytest.mark.parametrize(
    ("statements", "status"),
    [
        ([], "PASS"),
        (
            [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "SNS:Publish",
                    "Resource": TOPIC,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": ACCOUNT}},
                }
            ],
            "PASS",
        ),
        (
            [
                {
                    "Sid": "NoAlarms",
                    "Effect": "Deny",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": TOPIC,
                }
            ],
            "FAIL",
        ),
        ([{"Sid": "NoOne", "Effect": "Deny", "Principal": "*", "Action": "sns:*", "Resource": TOPIC}], "FAIL"),
        (
            [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sns:Publish",
                    "Resource": TOPIC,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
            "WARNING",
        ),
        ([{"Effect": "Deny", "Principal": "*", "Action": "sns:Subscribe", "Resource": TOPIC}], "PASS"),
    ],
)
def test_the_topic_access_policy_must_not_deny_cloudwatch(statements, status):
    f = finding(one(topic_record=topic(attributes={"Policy": policy(*statements)} if statements else {})))
    assert f.status == status, f.reason
    if status == "FAIL":
        assert f.evidence["problem"] == "topic_policy_denies" and "denies sns:Publish" in f.reason


# --- a subscriber must be able to receive ------------------------------------------------------------------


def subscribed(filter_policy=None, scope=None):
    sub = {"SubscriptionArn": TOPIC + ":sub-1", "Protocol": "email"}
    if filter_policy is not None:
        sub["FilterPolicy"] = json.dumps(filter_policy)
    if scope:
        sub["FilterPolicyScope"] = scope
    return topic(subscriptions=[sub])


@pytest.mark.parametrize(
    ("filter_policy", "scope", "status"),
    [
        (None, None, "PASS"),
        ({"severity": ["HIGH"]}, None, "FAIL"),
        ({"severity": ["HIGH"]}, "MessageAttributes", "FAIL"),
        ({"severity": [{"exists": False}]}, None, "PASS"),
        ({"severity": [{"anything-but": "LOW"}]}, None, "FAIL"),
        ({"NewStateValue": ["ALARM"]}, "MessageBody", "PASS"),
        ({"NewStateValue": ["OK"]}, "MessageBody", "FAIL"),
        ({"AlarmName": [{"prefix": "a-"}]}, "MessageBody", "PASS"),
        ({"AlarmName": [{"prefix": "prod-"}]}, "MessageBody", "FAIL"),
        ({"Trigger": {"Namespace": ["CIS"]}}, "MessageBody", "PASS"),
        ({"Trigger": {"Namespace": ["AWS/EC2"]}}, "MessageBody", "FAIL"),
        ({"NewStateReason": [{"prefix": "Threshold"}]}, "MessageBody", "WARNING"),
        ({"$or": [{"NewStateValue": ["OK"]}, {"AWSAccountId": [ACCOUNT]}]}, "MessageBody", "PASS"),
    ],
)
def test_a_subscription_counts_only_if_its_filter_policy_can_pass_an_alarm_notification(filter_policy, scope, status):
    f = finding(one(topic_record=subscribed(filter_policy, scope)))
    assert f.status == status, f.reason
    if status == "FAIL":
        assert "never matches an alarm notification" in f.reason and f.evidence["subscriptions_filtered_out"]


# --- catch-all filters are credited to no other control ------------------------------------------------------


def test_the_catch_all_threshold_sits_in_a_wide_gap():
    shares = [
        unrelated_share(c.id, p["pattern"], "5.0.0")
        for c in catalog.monitoring_controls("5.0.0")
        for p in catalog.all_published_patterns(c.id)
    ]
    assert max(s for s in shares if s < CATCH_ALL_SHARE) < 0.1 and min(s for s in shares if s >= CATCH_ALL_SHARE) > 0.9


@pytest.mark.parametrize("control", [c.id for c in catalog.monitoring_controls("5.0.0")])
def test_a_catch_all_filter_is_credited_only_to_the_control_it_was_published_for(control):
    snap = snapshot(
        [metric_filter("unauthorized_api_calls", CIS13_UNAUTHORIZED, name="cis-1.3-unauthorized")],
        [alarm("unauthorized_api_calls")],
    )
    f = finding(snap, control)
    if control == "unauthorized_api_calls":
        assert f.status == "WARNING" and "overbroad" in f.reason
        return
    assert f.status == "FAIL" and f.evidence["problem"] == "no_covering_filter"
    assert "cis-1.3-unauthorized matches almost every event" in f.reason
    judged = {j["filter"]: j for j in f.evidence["filters_judged"]}
    assert judged["cis-1.3-unauthorized"]["catch_all"] is True


def test_a_catch_all_beside_a_broken_own_chain_leaves_the_own_chain_to_fix():
    own = metric_filter(
        "iam_policy_changes", "{ ($.eventName = DeleteGroupPolicy) || ($.eventName = DeleteRolePolicy) }"
    )
    snap = snapshot(
        [metric_filter("unauthorized_api_calls", "{ $.eventName = * }", name="everything"), own],
        [alarm("unauthorized_api_calls", name="a-everything"), alarm("iam_policy_changes")],
    )
    f = finding(snap, "iam_policy_changes")
    assert f.status == "FAIL" and "misses" in f.reason and "f-iam_policy_changes" in f.reason
    assert f.evidence["catch_all_filters"] == ["everything"]
    # and not even the unauthorized control is credited with a catch-all nobody published
    assert finding(snap, "unauthorized_api_calls").status == "FAIL"


def test_a_catch_all_is_not_credited_even_where_the_own_topic_has_no_subscriber():
    snap = snapshot(
        [metric_filter("unauthorized_api_calls", CIS13_UNAUTHORIZED, name="cis13"), metric_filter("vpc_changes")],
        [alarm("unauthorized_api_calls"), alarm("vpc_changes", topic=TOPIC)],
        topic_record=topic(subscriptions=[]),
    )
    f = finding(snap, "vpc_changes")
    assert f.status == "FAIL" and f.evidence["broken_link"] == "subscriber"


# --- reasons name the right things --------------------------------------------------------------------------


def test_a_stopped_trail_with_a_working_chain_is_the_fix_named():
    other_lg = f"arn:aws:logs:{HOME}:{ACCOUNT}:log-group:other:*"
    groups = {
        LG_ARN: {"arn": LG_ARN, "region": HOME, "account": ACCOUNT, "name": "trail-logs", "filters": [], "error": None},
        other_lg: {
            "arn": other_lg,
            "region": HOME,
            "account": ACCOUNT,
            "name": "other",
            "filters": [metric_filter("vpc_changes")],
            "error": None,
        },
    }
    trails = [trail("main"), trail("audit", logging=False, log_group=other_lg)]
    f = finding(snapshot([], [alarm("vpc_changes")], trails=trails, groups=groups))
    assert (
        f.status == "FAIL"
        and f.reason == "trail audit is not logging"
        and "start-logging --name audit" in f.remediation
    )


def test_a_stopped_trail_without_a_chain_does_not_hide_the_main_trails_missing_filter():
    trails = [trail("main"), trail("audit", logging=False, log_group=None)]
    f = finding(snapshot([], [], trails=trails))
    assert f.status == "FAIL" and f.evidence["broken_link"] == "filter"


def test_every_judged_filter_is_in_the_evidence_with_its_verdict():
    snap = snapshot([metric_filter("vpc_changes"), metric_filter("nacl_changes")], [alarm("vpc_changes")])
    judged = {j["filter"]: j["verdict"] for j in finding(snap).evidence["filters_judged"]}
    assert judged == {"f-vpc_changes": "covers", "f-nacl_changes": "misses"}


@pytest.mark.parametrize(
    "action", ["arn:aws:sns:ap-northeast-1", "arn:aws:sns", "not-an-arn", "arn:aws:sns:ap-northeast-1:111122223333"]
)
def test_a_truncated_sns_arn_in_the_alarm_actions_is_a_fail_not_a_crash(action):
    f = finding(one(alarm_over={"AlarmActions": [action]}))
    assert f.status == "FAIL" and f.evidence["problem"] == "no_sns_action"
