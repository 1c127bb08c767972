"""Runs of another scope never change the daily state: another benchmark records nothing; a run of fewer
regions confirms, closes and announces only what it observed. Nothing really changed: no digest."""

import pytest

from chalicelib.pipeline import run_audit
from chalicelib.state.scope import ALL_REGIONS, RunScope, judge_scope
from ciswatch_cli.main import main

from .state_env import HOME, TABLE, messages, store


@pytest.mark.parametrize(
    ("meta", "scope", "recorded", "partial"),
    [
        (None, RunScope("5.0.0", (HOME,), False), True, False),
        ({"scope_benchmark": "5.0.0", "scope_regions": ALL_REGIONS}, RunScope("5.0.0", (HOME,), True), True, False),
        ({"scope_benchmark": "5.0.0", "scope_regions": ALL_REGIONS}, RunScope("5.0.0", (HOME,), False), True, True),
        ({"scope_benchmark": "5.0.0", "scope_regions": ALL_REGIONS}, RunScope("1.2.0", (HOME,), True), False, False),
        (
            {"scope_benchmark": "5.0.0", "scope_regions": [HOME]},
            RunScope("5.0.0", (HOME, "eu-west-1"), False),
            True,
            False,
        ),
        (
            {"scope_benchmark": "5.0.0", "scope_regions": [HOME, "eu-west-1"]},
            RunScope("5.0.0", (HOME,), False),
            True,
            True,
        ),
        ({"baseline_run": "old"}, RunScope("1.2.0", (HOME,), True), True, False),  # a table from before scopes
    ],
)
def test_what_a_run_may_change(meta, scope, recorded, partial):
    verdict = judge_scope(meta, scope)
    assert (verdict.recorded, verdict.partial) == (recorded, partial)


def test_another_benchmark_on_demand_changes_nothing_and_the_daily_run_stays_quiet(env):
    daily = env["settings"].with_(benchmark="5.0.0")
    run_audit(daily)
    messages(env)
    other = run_audit(env["settings"].with_(benchmark="1.2.0"))  # CIS 1.2.0 has no organizations_changes
    assert other["scope"]["recorded"] is False and other["transitions"] == 0 and other["notification"] is None
    after = run_audit(daily)
    assert after["transitions"] == 0 and messages(env) == []
    assert "organizations_changes" in {i.control for i in store(env).current().values() if i.status == "PASS"}


def test_one_region_audits_between_full_runs_announce_nothing(env, moto_url):
    env["account"].key("eu-west-1", rotation=False, alias="alias/reports-eu")
    full = env["settings"].with_(regions=())  # every enabled region
    first = run_audit(full)
    assert first["scope"]["all_regions"] is True
    messages(env)
    for _ in range(2):
        partial = run_audit(env["settings"].with_(regions=(HOME,)))
        assert partial["scope"]["partial"] is True and partial["transitions"] == 0
    assert messages(env) == []
    again = run_audit(full)
    assert again["transitions"] == 0 and messages(env) == []
    rollup = store(env).current()["FINDING#kms_key_rotation#AWS::::Account:123456789012"]
    assert rollup.status == "FAIL"


def test_a_partial_run_still_records_what_it_observed(env):
    full = env["settings"].with_(regions=())
    run_audit(full)
    messages(env)
    env["account"].key(HOME, rotation=False, alias="alias/new-in-tokyo")
    run_audit(env["settings"].with_(regions=(HOME,)))  # KMS changes are confirmed by two agreeing runs
    partial = run_audit(env["settings"].with_(regions=(HOME,)))
    kinds = {(t["control"], t["kind"]) for t in partial["transitions_list"]}
    assert ("kms_key_rotation", "NEW_FAILURE") in kinds  # the new key, in the region it read
    assert len(partial["transitions_list"]) == 1  # and not the account-wide roll-up


def test_history_shows_each_runs_benchmark_and_regions(env, capsys):
    run_audit(env["settings"])
    run_audit(env["settings"].with_(benchmark="1.2.0"))
    code = main(["history", "--table", TABLE, "--region", HOME, "--endpoint-url", env["settings"].endpoint_url])
    out = capsys.readouterr().out
    assert code == 0 and "5.0.0" in out and "1.2.0" in out and "not recorded (another benchmark)" in out and HOME in out
