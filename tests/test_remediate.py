"""`ciswatch remediate`: for each broken link and for the empty account, plan -> apply -> audit again.

The affected controls PASS afterwards, nothing new FAILs (KMS included), a second apply changes
nothing, and the CloudFormation rendering passes cfn-lint with a covering pattern for every control."""

import io
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import catalog
from chalicelib.checks import run_checks
from chalicelib.checks.judge import judge
from chalicelib.clients import ClientFactory
from chalicelib.model import AccountSnapshot
from chalicelib.pipeline import audit
from chalicelib.remediation.apply import apply_plan
from chalicelib.remediation.plan import make_plan, pattern_for
from chalicelib.settings import Settings
from ciswatch_cli.main import main
from sandbox.scenarios import HOME, SCENARIOS, actions_disabled, empty, no_filters, topic_aws_managed_key

EMAIL = "security@example.com"


def settings(moto_url, benchmark="5.0.0"):
    return Settings(benchmark=benchmark, regions=(HOME, "eu-west-1"), endpoint_url=moto_url)


def plan_and_apply(moto_url, benchmark="5.0.0", style="strict"):
    before = audit(settings(moto_url, benchmark))
    plan = make_plan(before.snapshot, before.findings, benchmark, style=style, notify_email=EMAIL, home_region=HOME)
    outcome = apply_plan(plan, ClientFactory(settings(moto_url)), include_changes=True, log=lambda line: None)
    after = audit(settings(moto_url, benchmark))
    return before, plan, outcome, after


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_plan_apply_audit_turns_green_and_a_second_apply_is_a_no_op(account, moto_url, scenario):
    scenario(account)
    before, plan, outcome, after = plan_and_apply(moto_url)
    assert outcome["failed"] == []
    assert [f for f in before.findings if f.status == "FAIL"], "the scenario starts broken"
    assert not [(f.control, f.resource, f.reason) for f in after.findings if f.status == "FAIL"]
    assert not [f for f in after.findings if f.status == "ERROR"]
    assert plan.unresolved == [], "the plan's own simulation predicted green"
    for f in before.findings:
        if f.status == "FAIL":
            same = [g for g in after.findings if g.finding_id == f.finding_id]
            assert same and same[0].status == "PASS", (f.control, same[0].status if same else None)
    again = make_plan(after.snapshot, after.findings, "5.0.0", notify_email=EMAIL, home_region=HOME)
    assert again.steps == []
    second = apply_plan(plan, ClientFactory(settings(moto_url)), include_changes=True, log=lambda line: None)
    assert second["applied"] == [] and second["failed"] == []


def test_changes_need_yes(account, moto_url):
    actions_disabled(account)
    account.key(HOME, rotation=False)
    before = audit(settings(moto_url))
    plan = make_plan(before.snapshot, before.findings, "5.0.0", home_region=HOME)
    assert {s.kind for s in plan.changes} == {"enable_alarm_actions", "enable_key_rotation"}
    outcome = apply_plan(plan, ClientFactory(settings(moto_url)), include_changes=False, log=lambda line: None)
    assert len(outcome["skipped"]) == 2 and outcome["applied"] == []
    assert {f.control for f in audit(settings(moto_url)).findings if f.status == "FAIL"} == {
        "vpc_changes",
        "kms_key_rotation",
    }


def test_errors_are_not_fixed_blindly(account, moto_url):
    no_filters(account)
    before = audit(settings(moto_url))
    snapshot = before.snapshot.to_json()
    group = next(iter(snapshot["log_groups"].values()))
    group["filters"], group["error"] = (
        None,
        {
            "service": "logs",
            "operation": "DescribeMetricFilters",
            "region": HOME,
            "resource": None,
            "code": "AccessDeniedException",
            "message": "denied",
        },
    )
    broken = AccountSnapshot.from_json(snapshot)
    plan = make_plan(broken, run_checks(broken, "5.0.0"), "5.0.0", home_region=HOME)
    assert plan.steps == [] and any("could not be checked" in n and "DescribeMetricFilters" in n for n in plan.notes)


def _lint(path: Path):
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("style", ["strict", "complete"])
def test_cloudformation_for_the_empty_account_lints_and_covers(account, moto_url, tmp_path, capsys, style):
    empty(account)
    out = tmp_path / "remediation.yaml"
    code = main(
        [
            "remediate",
            "--endpoint-url",
            moto_url,
            "--regions",
            HOME,
            "--format",
            "cloudformation",
            "--style",
            style,
            "--output",
            str(out),
        ]
    )
    assert code == 0  # a dry run that prints a plan is not an error
    _lint(out)
    import yaml

    template = yaml.safe_load(out.read_text())
    filters = {
        r["Properties"]["FilterName"]: r["Properties"]["FilterPattern"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Logs::MetricFilter"
    }
    assert len(filters) == 15
    for ctl in catalog.monitoring_controls("5.0.0"):
        verdict = judge(ctl.id, filters[f"ciswatch-{ctl.id}"], "5.0.0")
        assert verdict.verdict == "covers", ctl.id
        if style == "strict":
            assert verdict.strict, ctl.id
    types = {r["Type"] for r in template["Resources"].values()}
    assert {
        "AWS::CloudTrail::Trail",
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
        "AWS::Logs::LogGroup",
        "AWS::IAM::Role",
        "AWS::SNS::Topic",
        "AWS::KMS::Key",
        "AWS::SNS::Subscription",
        "AWS::CloudWatch::Alarm",
    } <= types
    assert "AWS::Lambda::Function" not in types
    key = next(r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    text = out.read_text()
    assert "aws kms enable-key-rotation" in text  # the existing key's change is listed, not templated


def test_cloudformation_for_a_partly_broken_account_lints(account, moto_url, tmp_path):
    topic_aws_managed_key(account)
    out = tmp_path / "remediation.yaml"
    assert (
        main(
            [
                "remediate",
                "--endpoint-url",
                moto_url,
                "--regions",
                HOME,
                "--format",
                "cloudformation",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    _lint(out)
    import yaml

    template = yaml.safe_load(out.read_text())
    assert not [
        r for r in template["Resources"].values() if r["Type"] == "AWS::Logs::MetricFilter"
    ]  # the filters exist already
    alarms = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) == 15 and all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)


@pytest.mark.parametrize("benchmark", catalog.benchmarks())
@pytest.mark.parametrize("style", ["strict", "complete"])
def test_every_generated_pattern_covers_under_every_version(benchmark, style):
    for ctl in catalog.monitoring_controls(benchmark):
        pattern, note = pattern_for(ctl.id, benchmark, style)
        verdict = judge(ctl.id, pattern, benchmark)
        assert verdict.verdict == "covers", (benchmark, ctl.id, style)
        if style == "strict":
            assert verdict.strict or note, (benchmark, ctl.id)


def test_the_broken_cis_text_is_corrected_with_a_reason():
    pattern, note = pattern_for("unauthorized_api_calls", "1.4.0", "strict")
    assert judge("unauthorized_api_calls", pattern, "1.4.0").verdict == "covers" and "corrected" in note


def test_cli_usage_errors(capsys):
    assert main(["remediate", "--yes"]) == 2
    assert main(["remediate", "--modify-existing"]) == 2
    assert main(["remediate", "--apply", "--snapshot", "x.json"]) == 2
    assert main(["remediate", "--notify-email", "nobody"]) == 2


def test_apply_without_a_terminal_or_yes_refuses_in_one_line(account, moto_url, capsys, monkeypatch):
    empty(account)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code = main(["remediate", "--endpoint-url", moto_url, "--regions", HOME, "--apply", "--notify-email", EMAIL])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines()[-1].startswith("ciswatch: --apply asks before it changes")
    assert account.client("sns", HOME).list_topics()["Topics"] == [], "nothing was created"


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize(("answer", "code"), [("y\n", 1), ("n\n", 2), ("\n", 2)])
def test_apply_asks_on_a_terminal(account, moto_url, capsys, monkeypatch, answer, code):
    empty(account)
    monkeypatch.setattr("sys.stdin", _Terminal(answer))
    got = main(["remediate", "--endpoint-url", moto_url, "--regions", HOME, "--apply", "--notify-email", EMAIL])
    err = capsys.readouterr().err
    assert "[y/N]" in err and got == code
    created = account.client("sns", HOME).list_topics()["Topics"]
    assert bool(created) is (answer.strip() == "y")


def test_a_plan_with_a_topic_nobody_subscribes_to_is_refused_before_anything_is_created(account, moto_url, capsys):
    empty(account)
    code = main(["remediate", "--endpoint-url", moto_url, "--regions", HOME, "--apply", "--yes"])
    err = capsys.readouterr().err
    assert code == 2 and "no subscriber" in err.strip().splitlines()[-1] and "--notify-email" in err
    assert account.client("sns", HOME).list_topics()["Topics"] == []


def test_a_dry_run_that_prints_a_plan_is_not_an_error(account, moto_url, capsys):
    empty(account)
    assert main(["remediate", "--endpoint-url", moto_url, "--regions", HOME]) == 0
    assert "To create" in capsys.readouterr().out
