"""Suppressions end to end: add -> audit (exit 0, digest quiet) -> expire (one digest line) -> remove;
the file form; staleness; and the pure rules (matching, roll-ups, validation)."""

import json
from datetime import date, timedelta

import pytest

from chalicelib.model import Finding, Scope, Severity, Status
from chalicelib.model.suppression import (
    Suppression,
    SuppressionError,
    apply,
    from_document,
    new_suppression,
)
from chalicelib.state.suppressions import SuppressionStore
from ciswatch_cli.main import main

from .state_env import HOME, TABLE, messages

TODAY = date(2026, 12, 1)


def finding(
    control="vpc_changes", status=Status.FAIL, region=None, resource="AWS::::Account:123456789012", scope=Scope.CONTROL
):
    return Finding(
        account="123456789012",
        control=control,
        cis_id="4.14",
        security_hub_id=None,
        status=status,
        severity=Severity.HIGH,
        region=region,
        resource=resource,
        reason="broken",
        scope=scope,
    )


def suppression(**kw):
    base = dict(id="a" * 12, control="vpc_changes", reason="accepted", owner="team", expires=TODAY)
    return Suppression(**{**base, **kw})


@pytest.mark.parametrize(
    ("rule", "target", "hit"),
    [
        ({}, finding(), True),
        ({"control": "nacl_changes"}, finding(), False),
        ({"region": "eu-west-1"}, finding(region="eu-west-1"), True),
        ({"region": "eu-west-1"}, finding(region="us-east-1"), False),
        ({"resource": "arn:aws:kms:*:*:key/*"}, finding(resource="arn:aws:kms:eu-west-1:1:key/k"), True),
        ({"resource": "arn:aws:kms:*:*:key/k?"}, finding(resource="arn:aws:kms:eu-west-1:1:key/k1"), True),
        ({"resource": "arn:aws:kms:*:*:key/k?"}, finding(resource="arn:aws:kms:eu-west-1:1:key/k12"), False),
        ({"expires": TODAY - timedelta(days=1)}, finding(), False),  # expired: holds no longer
    ],
)
def test_what_a_suppression_matches(rule, target, hit):
    (out,), matched = apply([target], [suppression(**rule)], TODAY)
    assert (out.suppressed is not None) is hit and (matched == {"a" * 12}) is hit
    assert out.status is target.status  # the real status stays


def test_a_roll_up_is_suppressed_when_every_failing_resource_is():
    keys = [
        finding("kms_key_rotation", resource=f"arn:aws:kms:eu-west-1:1:key/k{i}", scope=Scope.RESOURCE)
        for i in range(2)
    ]
    rollup = finding("kms_key_rotation")
    out, _ = apply([*keys, rollup], [suppression(control="kms_key_rotation", resource="arn:aws:kms:*:*:key/k0")], TODAY)
    assert out[2].suppressed is None  # k1 still fails
    out, _ = apply([*keys, rollup], [suppression(control="kms_key_rotation", resource="arn:aws:kms:*:*:key/*")], TODAY)
    assert out[2].suppressed and "every failing resource is suppressed (2)" in out[2].suppressed["reason"]
    assert not out[2].counts_as_failing and out[2].status is Status.FAIL


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reason": " "}, "reason"),
        ({"owner": ""}, "owner"),
        ({"expires": "next week"}, "expires"),
        ({"expires": "2026-11-30"}, "expires"),
        ({"expires": "2029-12-01"}, "expires"),
    ],
)
def test_a_suppression_must_say_why_who_and_until_when(kwargs, field):
    args = {"control": "vpc_changes", "reason": "r", "owner": "o", "expires": "2027-01-01", "today": TODAY, **kwargs}
    with pytest.raises(SuppressionError, match=f"^{field}:"):
        new_suppression(**args)


def test_a_suppression_that_matches_nothing_for_30_days_is_stale():
    made = suppression(created_at="2026-10-01T00:00:00Z", expires=TODAY + timedelta(days=90))
    assert made.stale(TODAY) and not made.stale(date(2026, 10, 20))
    assert not suppression(last_matched="2026-11-20", expires=TODAY).stale(TODAY)


def test_the_file_form_names_the_bad_entry():
    doc = {"Suppressions": [{"Control": "4.14", "Reason": "r", "Owner": "o", "Expires": "2027-01-01", "Region": "*"}]}
    (one,) = from_document(doc, lambda c: "vpc_changes" if c == "4.14" else c, TODAY)
    assert one.control == "vpc_changes" and one.region is None and one.source == "file"
    with pytest.raises(SuppressionError, match=r"Suppressions\[0\]\.Colour: unknown field"):
        from_document({"Suppressions": [{"Colour": "red"}]}, str, TODAY)


def test_add_audit_quiet_expire_announce_remove(env, capsys, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", HOME)
    url = env["settings"].endpoint_url
    env["account"].client("cloudwatch", HOME).disable_alarm_actions(AlarmNames=["cis-vpc_changes"])
    audit = ["audit", "--regions", HOME, "--endpoint-url", url, "--table", TABLE, "--topic-arn", env["topic"]]
    assert main(audit) == 1  # vpc_changes fails
    messages(env)  # the baseline digest
    capsys.readouterr()

    table = ["--table", TABLE, "--endpoint-url", url, "--region", HOME]
    expires = (date.today() + timedelta(days=30)).isoformat()
    add = ["suppress", "add", "--control", "CloudWatch.14", "--reason", "alarm muted during the migration"]
    assert main([*add, "--owner", "platform-team", "--expires", expires, *table]) == 0
    made = capsys.readouterr().out
    assert made.startswith("added suppression ") and "vpc_changes everywhere" in made

    assert main([*audit, "--format", "json"]) == 0  # accepted: the exit code says green
    report = json.loads(capsys.readouterr().out)
    (vpc,) = [f for f in report["findings"] if f["control"] == "vpc_changes"]
    assert vpc["status"] == "FAIL" and vpc["suppressed"]["owner"] == "platform-team"
    assert messages(env) == []  # the digest stays quiet

    store = SuppressionStore(env["account"].client("dynamodb", HOME), TABLE, "123456789012")
    (kept,) = store.list()
    assert kept.last_matched == date.today().isoformat() and kept.created_by
    # It expires (written as if yesterday were its last day): one digest line, and the audit is red again.
    expired = Suppression(**{**kept.to_json(), "expires": date.today() - timedelta(days=1)} | {"id": "b" * 12})
    store.remove(kept.id, "test")
    store.add(expired)
    assert main(audit) == 1
    (digest,) = messages(env)
    body = json.loads(digest["Message"])
    assert "suppression expired" in json.dumps(body)
    capsys.readouterr()

    assert main(["suppress", "remove", "b" * 12, *table]) == 0
    assert capsys.readouterr().out == f"removed suppression {'b' * 12}\n"
    assert main(["suppress", "list", "--format", "json", *table]) == 0
    assert json.loads(capsys.readouterr().out)["suppressions"] == []
    assert main(["suppress", "list", "--all", "--format", "json", *table]) == 0
    assert len(json.loads(capsys.readouterr().out)["suppressions"]) == 2
    assert main(["suppress", "remove", "b" * 12, *table]) == 2  # already removed: said, not ignored


def test_a_file_of_suppressions_applies_without_a_table(env, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_DEFAULT_REGION", HOME)
    env["account"].client("cloudwatch", HOME).disable_alarm_actions(AlarmNames=["cis-vpc_changes"])
    path = tmp_path / "suppressions.json"
    entry = {
        "Control": "vpc_changes",
        "Reason": "r",
        "Owner": "o",
        "Expires": (date.today() + timedelta(days=5)).isoformat(),
    }
    path.write_text(json.dumps({"Suppressions": [entry]}))
    url = env["settings"].endpoint_url
    assert (
        main(["audit", "--regions", HOME, "--endpoint-url", url, "--suppressions", str(path), "--format", "junit"]) == 0
    )
    assert "suppressed until" in capsys.readouterr().out
    path.write_text("{broken")
    assert main(["audit", "--regions", HOME, "--endpoint-url", url, "--suppressions", str(path)]) == 2
