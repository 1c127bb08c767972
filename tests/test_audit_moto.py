"""The audit end to end against moto server: each link of the chain breaking on its own, KMS key types
and states, faults, and the documented peer mistakes we must not make (docs/reference/peers.md)."""

import json

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError

from chalicelib.inventory.aws import AwsReader
from chalicelib.pipeline import audit
from chalicelib.settings import Settings
from ciswatch_cli.main import main
from sandbox import scenarios

HOME = "ap-northeast-1"
REGIONS = (HOME, "eu-west-1", "us-east-1")
LG = "CloudTrail/DefaultLogGroup"
MONITORING = 15


def run(moto_url, regions=REGIONS, benchmark="5.0.0", on_client=None, max_attempts=3):
    settings = Settings(benchmark=benchmark, regions=regions, endpoint_url=moto_url, max_attempts=max_attempts)
    return audit(settings, reader=AwsReader(settings, on_client=on_client))


def finding(result, control, resource_part=None):
    matches = [
        f for f in result.findings if f.control == control and (resource_part is None or resource_part in f.resource)
    ]
    if resource_part is None and control == "kms_key_rotation":
        matches = [f for f in matches if f.region is None]
    assert len(matches) == 1, [f.resource for f in matches]
    return matches[0]


def monitoring(result):
    return [f for f in result.findings if f.control != "kms_key_rotation"]


@pytest.fixture
def complete(account):
    return scenarios.complete(account)


# --- the trail ------------------------------------------------------------------------------


def test_complete_account_passes_every_monitoring_control(moto_url, complete):
    result = run(moto_url)
    assert [f.status for f in monitoring(result)] == ["PASS"] * MONITORING
    f = finding(result, "iam_policy_changes")
    assert f.region == HOME and f.cis_id == "4.4" and f.security_hub_id == "CloudWatch.4"
    assert f.evidence["trail"] == complete["trail"]["arn"] and f.evidence["subscriptions_confirmed"] == 1


def test_no_trail_fails_every_control_with_one_reason(moto_url, account):
    result = run(moto_url)
    fails = monitoring(result)
    assert len(fails) == MONITORING and {f.status for f in fails} == {"FAIL"}
    assert {f.reason for f in fails} == {"no multi-Region CloudTrail trail"}
    assert all("create-trail" in f.remediation and "--is-multi-region-trail" in f.remediation for f in fails)


def test_single_region_trail_fails_naming_it(moto_url, account):
    account.trail(name="local", region=HOME, multi_region=False)
    result = run(moto_url)
    f = finding(result, "vpc_changes")
    assert f.status == "FAIL" and "single-Region trails only: local (ap-northeast-1)" in f.reason


def test_trail_not_logging(moto_url, account):
    account.trail(region=HOME, log_group=LG, logging_on=False)
    account.monitor_all(HOME, LG, account.topic(HOME))
    f = finding(run(moto_url), "root_account_usage")
    assert f.status == "FAIL" and "not logging" in f.reason
    assert f.remediation.startswith("aws cloudtrail start-logging") and HOME in f.remediation


def test_trail_without_cloudwatch_logs(moto_url, account):
    account.trail(region=HOME, log_group=None)
    f = finding(run(moto_url), "root_account_usage")
    assert f.status == "FAIL" and "does not deliver to CloudWatch Logs" in f.reason


@pytest.mark.parametrize("selectors", ["WriteOnly", "ReadOnly", "advanced-write-only"])
def test_selectors_that_drop_reads_or_writes_fail(moto_url, account, selectors):
    account.trail(region=HOME, log_group=LG, selectors=selectors)
    account.monitor_all(HOME, LG, account.topic(HOME))
    f = finding(run(moto_url), "iam_policy_changes")
    assert f.status == "FAIL" and f.evidence["broken_link"] == "trail"
    assert "put-event-selectors" in f.remediation


def test_advanced_selectors_for_all_management_events_pass(moto_url, account):
    # steampipe-mod-aws-compliance#971: advanced selectors fail every monitoring control there.
    account.trail(region=HOME, log_group=LG, selectors="advanced")
    account.monitor_all(HOME, LG, account.topic(HOME))
    assert {f.status for f in monitoring(run(moto_url))} == {"PASS"}


def test_excluded_kms_events_break_only_the_controls_that_need_them(moto_url, account):
    selectors = {
        "EventSelectors": [
            {
                "ReadWriteType": "All",
                "IncludeManagementEvents": True,
                "ExcludeManagementEventSources": ["kms.amazonaws.com"],
            }
        ]
    }
    account.trail(region=HOME, log_group=LG, selectors=selectors)
    account.monitor_all(HOME, LG, account.topic(HOME))
    result = run(moto_url)
    for control in ("kms_cmk_disable_or_deletion", "unauthorized_api_calls", "root_account_usage"):
        f = finding(result, control)
        assert f.status == "FAIL" and "kms.amazonaws.com" in f.reason, control
    assert finding(result, "iam_policy_changes").status == "PASS"


def test_trail_with_no_event_selectors_records_nothing(moto_url, account):
    account.trail(region=HOME, log_group=LG, selectors=None)
    account.monitor_all(HOME, LG, account.topic(HOME))
    f = finding(run(moto_url), "iam_policy_changes")
    assert f.status == "FAIL" and "no event selectors" in f.reason


# --- filters ----------------------------------------------------------------------------------


def test_filters_on_another_log_group_do_not_count(moto_url, account):
    # Prowler and cloudsploit accept filters found on any log group of the right name or region.
    account.trail(region=HOME, log_group=LG)
    account.log_group("Application/Logs", HOME)
    account.monitor_all(HOME, "Application/Logs", account.topic(HOME))
    f = finding(run(moto_url), "iam_policy_changes")
    assert f.status == "FAIL" and f.evidence["broken_link"] == "filter" and LG in f.reason


def test_same_named_log_group_in_another_region_does_not_count(moto_url, account):
    # Prowler matches the trail's log group by name only, ignoring its region.
    account.trail(region=HOME, log_group=LG)
    account.log_group(LG, "eu-west-1")
    account.monitor_all("eu-west-1", LG, account.topic("eu-west-1"))
    f = finding(run(moto_url), "vpc_changes")
    assert f.status == "FAIL" and f.region == HOME


def test_pattern_missing_one_event_fails_naming_it(moto_url, account):
    account.trail(region=HOME, log_group=LG)
    topic = account.topic(HOME)
    account.monitor_all(HOME, LG, topic, skip=("cloudtrail_config_changes",))
    account.monitor(
        "cloudtrail_config_changes",
        HOME,
        LG,
        topic,
        pattern="{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || ($.eventName = StartLogging) }",
    )
    f = finding(run(moto_url), "cloudtrail_config_changes")
    assert f.status == "FAIL" and "misses StopLogging" in f.reason
    assert "put-metric-filter" in f.remediation and "StopLogging" in f.remediation


@pytest.mark.parametrize(
    ("control", "pattern"),
    [
        (
            "cloudtrail_config_changes",
            '{\n  $.eventName = "StopLogging" ||\n  $.eventName = "CreateTrail" || $.eventName = DeleteTrail ||\n  $.eventName = UpdateTrail || $.eventName = StartLogging\n}',
        ),
        (
            "root_account_usage",
            "{ ($.userIdentity.type = Root) && ($.userIdentity.invokedBy NOT EXISTS) && ($.eventType != AwsServiceEvent) }",
        ),
        (
            "kms_cmk_disable_or_deletion",
            '{ ($.eventName = "ScheduleKeyDeletion" || $.eventName = "DisableKey") && $.eventSource = "kms.amazonaws.com" }',
        ),
        # Prowler rejects the CIS route-table remediation text (no eventSource) and the 18-name Organizations text.
        (
            "route_table_changes",
            "{ ($.eventName = CreateRoute) || ($.eventName = CreateRouteTable) || ($.eventName = ReplaceRoute) || ($.eventName = ReplaceRouteTableAssociation) || ($.eventName = DeleteRouteTable) || ($.eventName = DeleteRoute) || ($.eventName = DisassociateRouteTable) || ($.eventName = ModifySecurityGroupRules) }",
        ),
    ],
)
def test_equivalent_rewrites_pass(moto_url, account, control, pattern):
    account.trail(region=HOME, log_group=LG)
    topic = account.topic(HOME)
    account.monitor_all(HOME, LG, topic, skip=(control,))
    account.monitor(control, HOME, LG, topic, pattern=pattern)
    f = finding(run(moto_url), control)
    assert f.status == "PASS" and f.evidence["verdict"] == "covers"


def test_overbroad_but_complete_chain_is_a_warning(moto_url, account):
    account.trail(region=HOME, log_group=LG)
    topic = account.topic(HOME)
    account.monitor_all(HOME, LG, topic, benchmark="1.4.0", skip=("unauthorized_api_calls",))
    cis_1_4_text = '{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") || ($.sourceIPAddress!="delivery.logs.amazonaws.com") || ($.eventName!="HeadBucket") }'
    account.monitor("unauthorized_api_calls", HOME, LG, topic, pattern=cis_1_4_text)
    f = finding(run(moto_url, benchmark="1.4.0"), "unauthorized_api_calls")
    assert f.status == "WARNING" and "overbroad" in f.reason and f.evidence["strict"] is True


# --- alarms and actions -----------------------------------------------------------------------


def test_filter_without_alarm(moto_url, account):
    account.trail(region=HOME, log_group=LG)
    topic = account.topic(HOME)
    account.monitor_all(HOME, LG, topic, skip=("nacl_changes",))
    account.monitor("nacl_changes", HOME, LG, topic, alarm=False)
    f = finding(run(moto_url), "nacl_changes")
    assert f.status == "FAIL" and "no alarm on metric CISBenchmark/NetworkACLChanges" in f.reason
    assert "put-metric-alarm" in f.remediation


def test_alarm_on_another_namespace_does_not_count(moto_url, account):
    # Prowler and insightwatch compare only the metric name.
    account.trail(region=HOME, log_group=LG)
    topic = account.topic(HOME)
    account.monitor_all(HOME, LG, topic, skip=("nacl_changes",))
    account.monitor("nacl_changes", HOME, LG, topic, alarm_namespace="LogMetrics")
    f = finding(run(moto_url), "nacl_changes")
    assert f.status == "FAIL" and "another namespace" in f.reason


def test_alarm_in_another_region_does_not_count(moto_url, account):
    account.trail(region=HOME, log_group=LG)
    topic = account.topic(HOME)
    account.monitor_all(HOME, LG, topic, skip=("vpc_changes",))
    account.monitor("vpc_changes", HOME, LG, topic, alarm=False)
    account.log_group(LG, "eu-west-1")
    account.monitor("vpc_changes", "eu-west-1", LG, account.topic("eu-west-1"))
    assert finding(run(moto_url), "vpc_changes").status == "FAIL"


def test_alarm_with_actions_disabled(moto_url, account):
    account.trail(region=HOME, log_group=LG)
    topic = account.topic(HOME)
    account.monitor_all(HOME, LG, topic, skip=("vpc_changes",))
    account.monitor("vpc_changes", HOME, LG, topic, actions_enabled=False)
    f = finding(run(moto_url), "vpc_changes")
    assert f.status == "FAIL" and "actions disabled" in f.reason and "enable-alarm-actions" in f.remediation


def test_alarm_statistic_is_judged_by_reachability(moto_url, account):
    account.trail(region=HOME, log_group=LG)
    topic = account.topic(HOME)
    account.monitor_all(HOME, LG, topic, skip=("vpc_changes", "nacl_changes"))
    # Average: without a default value only matching events publish, so one event is the period's average.
    account.monitor("vpc_changes", HOME, LG, topic, statistic="Average")
    # Minimum with a default value: every other log event publishes 0, so the minimum never reaches 1.
    account.monitor("nacl_changes", HOME, LG, topic, statistic="Minimum", default_value=0)
    result = run(moto_url)
    assert finding(result, "vpc_changes").status == "PASS"
    f = finding(result, "nacl_changes")
    assert (
        f.status == "FAIL"
        and "Minimum with defaultValue 0" in f.reason
        and f.evidence["problem"] == "alarm_not_sensible"
    )


def test_alarm_without_sns_action(moto_url, account):
    account.trail(region=HOME, log_group=LG)
    account.monitor_all(HOME, LG, None)
    f = finding(run(moto_url), "vpc_changes")
    assert f.status == "FAIL" and f.evidence["broken_link"] == "action"


# --- topics and subscribers -------------------------------------------------------------------


def test_deleted_topic(moto_url, complete, account):
    account.client("sns", HOME).delete_topic(TopicArn=complete["topic"])
    f = finding(run(moto_url), "vpc_changes")
    assert f.status == "FAIL" and "does not exist" in f.reason


def test_topic_encrypted_with_the_aws_managed_key_cannot_receive_alarms(moto_url, account):
    account.trail(region=HOME, log_group=LG)
    account.monitor_all(HOME, LG, account.topic(HOME, kms_key="alias/aws/sns"))
    f = finding(run(moto_url), "vpc_changes")
    assert f.status == "FAIL" and "alias/aws/sns" in f.reason and "customer managed key" in f.remediation


def _key_with_policy(account, allow_cloudwatch):
    statements = [
        {
            "Sid": "root",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if allow_cloudwatch:
        statements.append(
            {
                "Sid": "cw",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            }
        )
    kms = account.client("kms", HOME)
    key_id = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))["KeyMetadata"][
        "KeyId"
    ]
    kms.enable_key_rotation(KeyId=key_id)
    return key_id


@pytest.mark.parametrize(("allow", "status"), [(False, "FAIL"), (True, "PASS")])
def test_topic_encrypted_with_a_customer_key(moto_url, account, allow, status):
    account.trail(region=HOME, log_group=LG)
    account.monitor_all(HOME, LG, account.topic(HOME, kms_key=_key_with_policy(account, allow)))
    f = finding(run(moto_url), "vpc_changes")
    assert f.status == status, f.reason
    if status == "FAIL":
        assert "cloudwatch.amazonaws.com" in f.reason


def _pending_subscriptions(client, service, region):
    # moto confirms email subscriptions at once; AWS lists "PendingConfirmation" until the recipient confirms.
    def rewrite(parsed, **kwargs):
        for sub in parsed.get("Subscriptions", []):
            sub["SubscriptionArn"] = "PendingConfirmation"

    client.meta.events.register("after-call.sns.ListSubscriptionsByTopic", rewrite)


def test_topic_with_only_a_pending_subscription(moto_url, complete):
    # Steampipe and insightwatch count pending subscriptions as subscribers.
    f = finding(run(moto_url, on_client=_pending_subscriptions), "vpc_changes")
    assert f.status == "FAIL" and "no confirmed subscription (1 pending confirmation)" in f.reason
    assert "aws sns subscribe" in f.remediation


def test_topic_without_subscriptions(moto_url, account):
    account.trail(region=HOME, log_group=LG)
    account.monitor_all(HOME, LG, account.topic(HOME, subscribe=None))
    f = finding(run(moto_url), "vpc_changes")
    assert f.status == "FAIL" and f.evidence["broken_link"] == "subscriber"


def test_two_trails_one_complete_passes(moto_url, account):
    account.trail(name="broken", region="us-east-1", log_group="Other/Logs", logging_on=False)
    account.trail(name="main", region=HOME, log_group=LG)
    account.monitor_all(HOME, LG, account.topic(HOME))
    result = run(moto_url)
    assert {f.status for f in monitoring(result)} == {"PASS"}
    assert finding(result, "vpc_changes").evidence["trail"].endswith("trail/main")


def test_one_finding_per_control_not_per_region(moto_url, account):
    # insightwatch listed every region as failing although one home-region setup covers the account.
    account.trail(region=HOME, log_group=LG)
    result = run(moto_url)
    assert len(monitoring(result)) == MONITORING
    assert {f.region for f in monitoring(result)} == {HOME}


# --- KMS ----------------------------------------------------------------------------------------


def test_kms_key_types_and_states(moto_url, account):
    rotating = account.key(HOME, rotation=True, alias="alias/rotating")
    stale = account.key(HOME, rotation=False, alias="alias/stale")
    asym = account.key(HOME, spec="RSA_2048")
    hmac = account.key(HOME, spec="HMAC_256")
    imported = account.key(HOME, origin="EXTERNAL")
    disabled = account.key(HOME)
    account.client("kms", HOME).disable_key(KeyId=disabled)
    pending = account.key(HOME)
    account.client("kms", HOME).schedule_key_deletion(KeyId=pending, PendingWindowInDays=7)
    awaiting = account.key(HOME, origin="EXTERNAL")
    account.set_key_state(HOME, awaiting, "PendingImport")
    lambda_key = account.aws_managed_key(HOME, "lambda", rotation_reads=False)
    result = run(moto_url)
    expected = {
        rotating: "PASS",
        stale: "FAIL",
        asym: "NOT_APPLICABLE",
        hmac: "NOT_APPLICABLE",
        imported: "NOT_APPLICABLE",
        disabled: "NOT_APPLICABLE",
        pending: "NOT_APPLICABLE",
        awaiting: "NOT_APPLICABLE",
        lambda_key: "NOT_APPLICABLE",
    }
    for key_id, status in expected.items():
        assert finding(result, "kms_key_rotation", key_id).status == status, key_id
    assert "AWS managed" in finding(result, "kms_key_rotation", lambda_key).reason
    assert f"--key-id {stale} --region {HOME}" in finding(result, "kms_key_rotation", stale).remediation
    control = finding(result, "kms_key_rotation")
    assert control.status == "FAIL" and control.evidence["keys"]["FAIL"] == 1 and control.cis_id == "3.6"
    # GetKeyRotationStatus is called only where rotation can apply: the two enabled symmetric customer keys.
    assert result.snapshot.api_calls_by_operation["kms:GetKeyRotationStatus"] == 2


def _long_rotation_period(client, service, region):
    # moto returns only KeyRotationEnabled; AWS also returns RotationPeriodInDays.
    def add_period(parsed, **kwargs):
        if parsed.get("KeyRotationEnabled"):
            parsed["RotationPeriodInDays"] = 730

    client.meta.events.register("after-call.kms.GetKeyRotationStatus", add_period)


def test_rotation_period_over_a_year_is_a_warning(moto_url, account):
    key = account.key(HOME, rotation=True, period=730)
    result = run(moto_url, on_client=_long_rotation_period)
    f = finding(result, "kms_key_rotation", key)
    assert f.status == "WARNING" and "730 days" in f.reason and "--rotation-period-in-days 365" in f.remediation


def test_aws_managed_key_reading_false_never_fails(moto_url, account):
    account.aws_managed_key(HOME, "lambda", rotation_reads=False)
    account.key(HOME, rotation=True)
    result = run(moto_url)
    assert finding(result, "kms_key_rotation").status == "PASS"
    assert "kms:GetKeyRotationStatus" in result.snapshot.api_calls_by_operation
    assert result.snapshot.api_calls_by_operation["kms:GetKeyRotationStatus"] == 1


def test_no_keys_at_all_is_not_applicable(moto_url, account):
    assert finding(run(moto_url), "kms_key_rotation").status == "NOT_APPLICABLE"


# --- faults -----------------------------------------------------------------------------------


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **kwargs):
        yield self._body


def _kms_error(region_to_break, code, status=400, times=None):
    """A before-send hook that answers KMS requests in one region with an AWS error."""
    state = {"left": times}

    def hook(client, service, region):
        if service != "kms" or region != region_to_break:
            return

        def answer(request, **kwargs):
            if state["left"] is not None:
                if state["left"] == 0:
                    return None
                state["left"] -= 1
            body = json.dumps({"__type": code, "message": f"injected {code}"}).encode()
            return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(body))

        client.meta.events.register("before-send", answer)

    return hook


def test_access_denied_in_one_region_is_an_error_not_a_failure(moto_url, account):
    account.key(HOME, rotation=True)
    account.key("eu-west-1", rotation=True)
    result = run(moto_url, on_client=_kms_error("eu-west-1", "AccessDeniedException"))
    control = finding(result, "kms_key_rotation")
    assert control.status == "ERROR"
    assert "kms:ListKeys in eu-west-1 failed: AccessDeniedException" in control.reason
    assert [f.status for f in result.findings if f.control == "kms_key_rotation" and f.region] == ["PASS"]


def test_throttling_that_succeeds_on_retry(moto_url, account):
    key = account.key("eu-west-1", rotation=True)
    result = run(moto_url, on_client=_kms_error("eu-west-1", "ThrottlingException", times=2), max_attempts=4)
    assert finding(result, "kms_key_rotation", key).status == "PASS"
    assert finding(result, "kms_key_rotation").status == "PASS"
    assert result.snapshot.api_calls_by_operation["kms:ListKeys"] == 3 + 2  # 3 regions, 2 throttled retries


def test_a_region_that_times_out_is_an_error_and_the_audit_completes(moto_url, complete, account):
    account.key(HOME, rotation=True)

    def hook(client, service, region):
        if region == "us-east-1" and service == "kms":

            def timeout(request, **kwargs):
                raise ConnectTimeoutError(endpoint_url=request.url)

            client.meta.events.register("before-send", timeout)

    result = run(moto_url, on_client=hook)
    control = finding(result, "kms_key_rotation")
    assert control.status == "ERROR" and "us-east-1" in control.reason and "ConnectTimeoutError" in control.reason
    assert {f.status for f in monitoring(result)} == {"PASS"}


def test_denied_metric_filters_make_the_chain_an_error(moto_url, complete):
    def hook(client, service, region):
        if service == "logs":

            def deny(request, **kwargs):
                body = json.dumps(
                    {"__type": "AccessDeniedException", "message": "no logs:DescribeMetricFilters"}
                ).encode()
                return AWSResponse(request.url, 400, {}, _Raw(body))

            client.meta.events.register("before-send", deny)

    f = finding(run(moto_url, on_client=hook), "vpc_changes")
    assert f.status == "ERROR" and f.evidence["broken_link"] == "filter"
    assert "logs:DescribeMetricFilters in ap-northeast-1" in f.reason and "AccessDeniedException" in f.reason


# --- the CLI contract -----------------------------------------------------------------------


def test_cli_json_contract_and_exit_code(moto_url, account, capsys, tmp_path):
    account.trail(region=HOME, log_group=LG)
    account.key(HOME, rotation=False)
    snap = tmp_path / "snap.json"
    code = main(
        [
            "audit",
            "--endpoint-url",
            moto_url,
            "--regions",
            ",".join(REGIONS),
            "--format",
            "json",
            "--save-snapshot",
            str(snap),
        ]
    )
    body = json.loads(capsys.readouterr().out)
    assert code == 1
    assert set(body) >= {
        "account",
        "benchmark",
        "started_at",
        "duration_s",
        "api_calls",
        "regions",
        "summary",
        "findings",
    }
    assert body["account"] == "123456789012" and body["benchmark"] == "5.0.0" and body["regions"] == list(REGIONS)
    assert body["summary"]["FAIL"] == MONITORING + 2 and body["api_calls"] > 0
    keys = {
        "control",
        "cis_id",
        "security_hub_id",
        "status",
        "severity",
        "region",
        "resource",
        "reason",
        "remediation",
        "evidence",
        "scope",  # added with the typed model: "control" (one per account) or "resource" (one per KMS key)
    }
    assert all(set(f) == keys for f in body["findings"])
    # The saved snapshot judges the same offline, with no AWS calls at all.
    code = main(["audit", "--snapshot", str(snap), "--format", "json", "--benchmark", "1.2.0"])
    offline = json.loads(capsys.readouterr().out)
    assert code == 1 and offline["benchmark"] == "1.2.0" and len(offline["findings"]) == 14 + 2


def test_cli_exit_codes_for_clean_and_errored_accounts(moto_url, complete, account, capsys, tmp_path):
    assert main(["audit", "--endpoint-url", moto_url, "--regions", HOME, "--format", "json"]) == 0
    snap = json.loads(capsys.readouterr().out) and tmp_path / "snap.json"
    assert main(["audit", "--endpoint-url", moto_url, "--regions", HOME, "--save-snapshot", str(snap)]) == 0
    capsys.readouterr()
    # The same account, but the trails could not be listed: ERRORs and no FAIL is exit 3.
    data = json.loads(snap.read_text())
    data["trails"]["error"] = {
        "service": "cloudtrail",
        "operation": "DescribeTrails",
        "region": HOME,
        "resource": None,
        "code": "AccessDeniedException",
        "message": "denied",
    }
    snap.write_text(json.dumps(data))
    assert main(["audit", "--snapshot", str(snap), "--format", "json"]) == 3
    body = json.loads(capsys.readouterr().out)
    assert body["summary"]["ERROR"] == MONITORING and body["summary"]["FAIL"] == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "--regions", "not a region"],
        ["audit", "--benchmark", "0.9"],
        ["audit", "--snapshot", "/nonexistent/snap.json"],
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ciswatch: ") and err.count("\n") == 1


def test_cli_without_credentials_exits_2(moto_url, monkeypatch, capsys, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["audit", "--endpoint-url", moto_url, "--regions", HOME]) == 2
    err = capsys.readouterr().err
    assert "cannot identify the account" in err and err.count("\n") == 1
