"""Checks on hand-made snapshots: the states moto cannot create, and the selector/policy rules as tables."""

import json

import pytest

from chalicelib.checks import run_checks as run_model_checks
from chalicelib.checks.selectors import selector_gap
from chalicelib.model import AccountSnapshot, Topic, TopicAttributes, TopicKey
from chalicelib.model.rules import TopicKeyVerdict, topic_key_verdict

from .builders import snapshot_document


def run_checks(snapshot, benchmark):
    """The checks on a snapshot written as its JSON document (the shape a saved --snapshot has)."""
    return run_model_checks(AccountSnapshot.from_json(snapshot), benchmark)


ACCOUNT = "111122223333"
HOME = "ap-northeast-1"
LG_ARN = f"arn:aws:logs:{HOME}:{ACCOUNT}:log-group:trail-logs:*"
TOPIC = f"arn:aws:sns:{HOME}:{ACCOUNT}:alarms"
KEY = f"arn:aws:kms:{HOME}:{ACCOUNT}:key/k"
ROOT = '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }'


def trail(**over):
    t = {
        "arn": f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/main",
        "name": "main",
        "home_region": HOME,
        "owner_account": ACCOUNT,
        "is_multi_region": True,
        "is_organization_trail": False,
        "log_group_arn": LG_ARN,
        "cloudwatch_logs_role_arn": None,
        "status": {"IsLogging": True},
        "status_error": None,
        "selectors": {
            "EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}],
            "AdvancedEventSelectors": [],
        },
        "selectors_error": None,
    }
    t.update(over)
    return t


def snapshot(trails=None, topic=None, kms=None, topic_arn=TOPIC):
    return snapshot_document(
        ACCOUNT,
        HOME,
        [trail()] if trails is None else trails,
        log_groups={
            LG_ARN: {
                "arn": LG_ARN,
                "region": HOME,
                "account": ACCOUNT,
                "name": "trail-logs",
                "error": None,
                "filters": [
                    {
                        "filterName": "root",
                        "filterPattern": ROOT,
                        "metricTransformations": [{"metricName": "Root", "metricNamespace": "CIS", "metricValue": "1"}],
                    }
                ],
            }
        },
        alarms={
            HOME: {
                "error": None,
                "items": [
                    {
                        "AlarmName": "root",
                        "MetricName": "Root",
                        "Namespace": "CIS",
                        "Statistic": "Sum",
                        "Threshold": 1.0,
                        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                        "EvaluationPeriods": 1,
                        "ActionsEnabled": True,
                        "AlarmActions": [topic_arn],
                    }
                ],
            }
        },
        topics={
            topic_arn: topic
            or {
                "arn": topic_arn,
                "region": HOME,
                "account": ACCOUNT,
                "attributes": {},
                "attributes_error": None,
                "subscriptions": [{"SubscriptionArn": topic_arn + ":abc", "Protocol": "email"}],
                "subscriptions_error": None,
                "kms_key": None,
            }
        },
        kms=kms,
    )


def root_finding(snap, benchmark="5.0.0"):
    return next(f for f in run_checks(snap, benchmark) if f.control == "root_account_usage")


def test_baseline_snapshot_passes():
    assert root_finding(snapshot()).status == "PASS"


def test_organization_trail_owned_elsewhere_is_not_applicable_not_fail():
    other = trail(
        arn="arn:aws:cloudtrail:us-east-1:999999999999:trail/org",
        name="org",
        owner_account="999999999999",
        is_organization_trail=True,
    )
    f = root_finding(snapshot(trails=[other]))
    assert f.status == "NOT_APPLICABLE" and "999999999999" in f.reason


OWNER = "999999999999"


def owned_by(owner, document):
    """The same account state, as the organization trail's owner holds it (every ARN in its account)."""
    return json.loads(json.dumps(document).replace(ACCOUNT, owner))


def member_of(owner_document):
    org_trail = trail(
        arn=f"arn:aws:cloudtrail:{HOME}:{OWNER}:trail/main",
        owner_account=OWNER,
        is_organization_trail=True,
        log_group_arn=LG_ARN.replace(ACCOUNT, OWNER),
    )
    member = snapshot(trails=[org_trail])
    member["log_groups"], member["alarms"], member["topics"] = {}, {}, {}
    return member | {"trail_owners": {OWNER: owner_document}}


def test_a_member_of_an_organization_trail_is_judged_on_the_owners_chain():
    f = root_finding(member_of(owned_by(OWNER, snapshot())))
    assert f.status == "PASS" and f.account == ACCOUNT
    assert f.reason.startswith(f"judged in account {OWNER}, which owns organization trail main: ")
    assert f.evidence["judged_in_account"] == OWNER
    broken = owned_by(OWNER, snapshot())
    broken["log_groups"][LG_ARN.replace(ACCOUNT, OWNER)]["filters"] = []
    f = root_finding(member_of(broken))
    assert f.status == "FAIL" and f.reason.startswith(f"judged in account {OWNER}") and OWNER in (f.remediation or "")
    # The owner's snapshot read back from JSON (a saved --snapshot keeps it).
    again = AccountSnapshot.from_json(AccountSnapshot.from_json(member_of(broken)).to_json())
    assert OWNER in again.trail_owners


def test_an_owner_that_does_not_hold_the_trail_leaves_it_not_applicable():
    other_trails = owned_by(OWNER, snapshot(trails=[]))
    f = root_finding(member_of(other_trails))
    assert f.status == "NOT_APPLICABLE" and "audit that account" in f.reason


def test_local_complete_chain_beats_an_organization_trail():
    other = trail(arn="arn:aws:cloudtrail:us-east-1:999999999999:trail/org", name="org", owner_account="999999999999")
    assert root_finding(snapshot(trails=[other, trail()])).status == "PASS"


def test_log_group_in_another_account_is_not_applicable():
    lg = "arn:aws:logs:ap-northeast-1:999999999999:log-group:central:*"
    f = root_finding(snapshot(trails=[trail(log_group_arn=lg)]))
    assert f.status == "NOT_APPLICABLE" and "999999999999" in f.reason


def test_cross_account_topic_that_cannot_be_read_is_a_warning():
    foreign = "arn:aws:sns:ap-northeast-1:999999999999:central-alarms"
    err = {
        "service": "sns",
        "operation": "ListSubscriptionsByTopic",
        "region": HOME,
        "resource": foreign,
        "code": "AuthorizationError",
        "message": "denied",
    }
    topic = {
        "arn": foreign,
        "region": HOME,
        "account": "999999999999",
        "attributes": {},
        "attributes_error": None,
        "subscriptions": None,
        "subscriptions_error": err,
        "kms_key": None,
    }
    f = root_finding(snapshot(topic=topic, topic_arn=foreign))
    assert f.status == "WARNING" and "999999999999" in f.reason and "unverified" in f.reason


def test_describe_trails_error_is_an_error_for_every_control():
    snap = snapshot()
    snap["trails"]["error"] = {
        "service": "cloudtrail",
        "operation": "DescribeTrails",
        "region": HOME,
        "resource": None,
        "code": "AccessDenied",
        "message": "no",
    }
    findings = [f for f in run_checks(snap, "5.0.0") if f.control != "kms_key_rotation"]
    assert {f.status for f in findings} == {"ERROR"} and all("cloudtrail:DescribeTrails" in f.reason for f in findings)


def test_error_on_one_trail_outranks_a_failure_on_another():
    broken = trail(arn=f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/b", name="b", status={"IsLogging": False})
    unknown = trail(
        status=None,
        status_error={
            "service": "cloudtrail",
            "operation": "GetTrailStatus",
            "region": HOME,
            "resource": "x",
            "code": "Throttling",
            "message": "slow",
        },
    )
    f = root_finding(snapshot(trails=[broken, unknown]))
    assert f.status == "ERROR" and "GetTrailStatus" in f.reason and f.evidence["best_failing_chain"]["link"] == "trail"


def test_filter_restricted_by_field_selection_is_a_warning():
    snap = snapshot()
    snap["log_groups"][LG_ARN]["filters"][0]["fieldSelectionCriteria"] = '@aws.region = "ap-northeast-1"'
    f = root_finding(snap)
    assert f.status == "WARNING" and "fieldSelectionCriteria" in f.reason


def test_alarm_needing_two_datapoints_never_fires_on_one_event():
    snap = snapshot()
    snap["alarms"][HOME]["items"][0].update(EvaluationPeriods=3, DatapointsToAlarm=2)
    f = root_finding(snap)
    assert f.status == "FAIL" and "2 breaching periods" in f.reason


def test_alarm_threshold_above_one_event():
    snap = snapshot()
    snap["alarms"][HOME]["items"][0].update(Threshold=5.0)
    assert root_finding(snap).status == "FAIL"


SELECTOR_CASES = [
    ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}]}, ["*"], None),
    (
        {"EventSelectors": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]},
        ["iam.amazonaws.com"],
        "WriteOnly",
    ),
    ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False}]}, ["*"], "no management events"),
    (
        {
            "EventSelectors": [
                {
                    "ReadWriteType": "All",
                    "IncludeManagementEvents": True,
                    "ExcludeManagementEventSources": ["rdsdata.amazonaws.com"],
                }
            ]
        },
        ["iam.amazonaws.com"],
        None,
    ),
    (
        {
            "EventSelectors": [
                {
                    "ReadWriteType": "All",
                    "IncludeManagementEvents": True,
                    "ExcludeManagementEventSources": ["rdsdata.amazonaws.com"],
                }
            ]
        },
        ["*"],
        "rdsdata",
    ),
    (
        {"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]},
        ["*"],
        None,
    ),
    (
        {
            "AdvancedEventSelectors": [
                {
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Management"]},
                        {"Field": "readOnly", "Equals": ["true"]},
                    ]
                }
            ]
        },
        ["*"],
        "readOnly",
    ),
    (
        {
            "AdvancedEventSelectors": [
                {
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Management"]},
                        {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]},
                    ]
                }
            ]
        },
        ["kms.amazonaws.com"],
        "kms.amazonaws.com",
    ),
    (
        {
            "AdvancedEventSelectors": [
                {
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Management"]},
                        {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]},
                    ]
                }
            ]
        },
        ["ec2.amazonaws.com"],
        None,
    ),
    (
        {
            "AdvancedEventSelectors": [
                {
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Data"]},
                        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                    ]
                }
            ]
        },
        ["*"],
        "no management events",
    ),
    ({"EventSelectors": [], "AdvancedEventSelectors": []}, ["*"], "no event selectors"),
]


@pytest.mark.parametrize(("selectors", "sources", "expected"), SELECTOR_CASES)
def test_selector_gap(selectors, sources, expected):
    gap = selector_gap(selectors, sources)
    assert (gap is None) if expected is None else (expected in gap)


POLICIES = [
    (
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                }
            ]
        },
        True,
    ),
    (
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": ["cloudwatch.amazonaws.com"]},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ]
        },
        True,
    ),
    (
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                }
            ]
        },
        False,
    ),
    (
        {
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "kms:*", "Resource": "*"}
            ]
        },
        False,
    ),
    (
        {
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ]
        },
        False,
    ),
    ("not json", False),
]


@pytest.mark.parametrize(("policy", "allowed"), POLICIES)
def test_key_policy_allows_cloudwatch(policy, allowed):
    text = policy if isinstance(policy, str) else json.dumps(policy)
    key = TopicKey(KEY, arn=KEY, key_manager="CUSTOMER", policy=text, key_state="Enabled")
    topic = Topic(TOPIC, HOME, ACCOUNT, TopicAttributes(kms_master_key_id=KEY), kms_key=key)
    assert (topic_key_verdict(topic)[0] is TopicKeyVerdict.USABLE) is allowed


def key(key_id="k1", rotation=None, rotation_error=None, **meta):
    m = {
        "KeyId": key_id,
        "KeyManager": "CUSTOMER",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "Origin": "AWS_KMS",
        "KeyState": "Enabled",
    }
    m.update(meta)
    return {
        "arn": f"arn:aws:kms:{HOME}:{ACCOUNT}:key/{key_id}",
        "key_id": key_id,
        "region": HOME,
        "aliases": [],
        "metadata": m,
        "describe_error": None,
        "rotation": rotation,
        "rotation_error": rotation_error,
    }


def kms_findings(keys):
    return {
        f.resource.rsplit("/", 1)[-1]: f
        for f in run_checks(snapshot(kms=keys), "5.0.0")
        if f.control == "kms_key_rotation" and f.region
    }


def test_custom_key_store_and_replicas():
    found = kms_findings(
        [
            key("cks", CustomKeyStoreId="cks-1234", Origin="AWS_CLOUDHSM"),
            key("xks", Origin="EXTERNAL_KEY_STORE"),
            key(
                "replica",
                MultiRegionConfiguration={
                    "MultiRegionKeyType": "REPLICA",
                    "PrimaryKey": {"Arn": "arn:aws:kms:us-east-1:1:key/mrk-1", "Region": "us-east-1"},
                },
            ),
            key(
                "replica-checked",
                rotation={"KeyRotationEnabled": False},
                MultiRegionConfiguration={
                    "MultiRegionKeyType": "REPLICA",
                    "PrimaryKey": {"Arn": "arn:aws:kms:sa-east-1:1:key/mrk-2", "Region": "sa-east-1"},
                },
            ),
        ]
    )
    assert found["cks"].status == found["xks"].status == "NOT_APPLICABLE"
    assert found["replica"].status == "NOT_APPLICABLE" and "primary" in found["replica"].reason
    assert found["replica-checked"].status == "FAIL" and "sa-east-1" in found["replica-checked"].remediation


def test_rotation_status_error_is_an_error_for_that_key_only():
    err = {
        "service": "kms",
        "operation": "GetKeyRotationStatus",
        "region": HOME,
        "resource": "k",
        "code": "AccessDeniedException",
        "message": "no",
    }
    found = kms_findings(
        [
            key("bad", rotation_error=err),
            key("good", rotation={"KeyRotationEnabled": True, "RotationPeriodInDays": 365}),
        ]
    )
    assert found["bad"].status == "ERROR" and "GetKeyRotationStatus" in found["bad"].reason
    assert found["good"].status == "PASS" and "365 days" in found["good"].reason


def test_monitoring_uses_the_selected_benchmark_ids():
    f = root_finding(snapshot(), "1.2.0")
    assert f.cis_id == "3.3" and f.security_hub_id == "CloudWatch.1" and f.severity == "HIGH"
