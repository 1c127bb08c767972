"""Stored state is input too: a damaged item is reported and repaired, never the end of the daily run.
And two first runs at once send one baseline digest, nothing else."""

import json
import threading

import pytest

from chalicelib.pipeline import audit, run_audit
from chalicelib.state.items import FindingItem, TransitionItem, to_wire
from ciswatch_cli.main import main

from .state_env import HOME, TABLE, messages, store

ACCOUNT = "123456789012"


def ddb(env):
    return env["account"].client("dynamodb", HOME)


def finding_key(control):
    resource = f"AWS::::Account:{ACCOUNT}"
    return {"pk": f"ACCOUNT#{ACCOUNT}", "sk": f"FINDING#{control}#{resource}"}


def damage(env, control, **attributes):
    """Overwrite attributes of a stored finding with values no ciswatch ever writes."""
    names = {f"#a{i}": k for i, k in enumerate(attributes)}
    values = {f":v{i}": v for i, v in enumerate(attributes.values())}
    sets = ", ".join(f"#a{i} = :v{i}" for i in range(len(attributes)))
    ddb(env).update_item(
        TableName=TABLE,
        Key=to_wire(finding_key(control)),
        UpdateExpression=f"SET {sets}",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=to_wire(values),
    )


def remove(env, control, attribute):
    ddb(env).update_item(TableName=TABLE, Key=to_wire(finding_key(control)), UpdateExpression=f"REMOVE {attribute}")


def regress_vpc(env):
    env["account"].client("cloudwatch", HOME).disable_alarm_actions(AlarmNames=["cis-vpc_changes"])


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda env: damage(env, "vpc_changes", rev="seven"), id="non-numeric rev"),
        pytest.param(lambda env: damage(env, "vpc_changes", pending_count="two"), id="string pending_count"),
        pytest.param(lambda env: remove(env, "vpc_changes", "control"), id="missing control"),
        pytest.param(lambda env: remove(env, "vpc_changes", "rev"), id="missing rev"),
        pytest.param(lambda env: damage(env, "vpc_changes", evidence="{not json"), id="evidence not JSON"),
        pytest.param(lambda env: damage(env, "vpc_changes", status="MAYBE"), id="unknown status"),
    ],
)
def test_a_damaged_finding_is_reported_repaired_and_its_change_still_announced(env, corrupt):
    run_audit(env["settings"])
    messages(env)
    corrupt(env)
    regress_vpc(env)
    run = run_audit(env["settings"])
    assert run["state_defects"], "the damaged item is reported in the run summary"
    assert any("vpc_changes" in d for d in run["state_defects"])
    kinds = {(t["control"], t["kind"]) for t in run["transitions_list"]}
    assert ("vpc_changes", "REGRESSED") in kinds or ("vpc_changes", "NEW_FAILURE") in kinds
    assert any("vpc_changes" in json.loads(m["Message"])["content"]["description"] for m in messages(env))
    repaired = store(env).current()[f"FINDING#vpc_changes#AWS::::Account:{ACCOUNT}"]
    assert repaired.defects == () and repaired.status == "FAIL" and isinstance(repaired.stored_rev, int)
    again = run_audit(env["settings"])
    assert "state_defects" not in again and again["transitions"] == 0 and messages(env) == []


def test_an_outbox_item_without_to_status_does_not_stop_the_digest(env):
    run_audit(env["settings"])
    messages(env)
    ddb(env).put_item(
        TableName=TABLE,
        Item=to_wire(
            {
                "pk": f"ACCOUNT#{ACCOUNT}",
                "sk": "TRANSITION#2026-01-01T00:00:00.000000Z#old#00001",
                "kind": "REGRESSED",
                "control": "nacl_changes",
                "outbox": f"ACCOUNT#{ACCOUNT}",
            }
        ),
    )
    regress_vpc(env)
    run = run_audit(env["settings"])
    assert run["notification"]["published"], run["notification"]
    descriptions = [json.loads(m["Message"])["content"]["description"] for m in messages(env)]
    assert any("vpc_changes" in d for d in descriptions)
    assert not [t for t in store(env).transitions() if t.announce], "nothing is left waiting in the outbox"


def test_a_run_summary_with_damaged_counts_leaves_history_and_the_api_working(env, capsys):
    run_audit(env["settings"])
    items = ddb(env).query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :r)",
        ExpressionAttributeValues=to_wire({":pk": f"ACCOUNT#{ACCOUNT}", ":r": "RUN#"}),
    )["Items"]
    ddb(env).update_item(
        TableName=TABLE,
        Key={"pk": items[0]["pk"], "sk": items[0]["sk"]},
        UpdateExpression="SET #c = :bad, #t = :t, started_at = :s",
        ExpressionAttributeNames={"#c": "counts", "#t": "transitions"},
        ExpressionAttributeValues=to_wire({":bad": "{oops", ":t": "many", ":s": 5}),
    )
    run_audit(env["settings"])
    code = main(["history", "--table", TABLE, "--region", HOME, "--endpoint-url", env["settings"].endpoint_url])
    out = capsys.readouterr().out
    assert code == 0 and "2 run(s)" in out


def test_damaged_items_are_read_without_raising():
    odd = FindingItem.from_item(
        {"sk": "FINDING#vpc_changes#arn:aws:::1", "rev": {"x": 1}, "pending_count": [1], "status": 3}
    )
    assert odd.control == "vpc_changes" and odd.rev == 0 and odd.confirmation.status is None and len(odd.defects) == 5
    t = TransitionItem.from_item({"sk": "x", "kind": 5, "failing_total": "lots", "counts": "[1,2]", "expires_at": "x"})
    assert t.kind == "5" and t.baseline is not None and t.baseline.failing_total == 0 and t.baseline.counts == {}


def test_two_first_runs_at_once_send_one_baseline_and_no_new_failure(env):
    result = audit(env["settings"])
    barrier = threading.Barrier(2)
    runs = []

    def go():
        barrier.wait()
        runs.append(run_audit(env["settings"], result=result))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Both record as baseline when they overlap; a run that starts after the other finished is an
    # ordinary (quiet) run. Either way: one baseline digest, no "new failure".
    assert True in [r["baseline"] for r in runs] and sum(r["transitions"] for r in runs) == 1
    published = [json.loads(m["Message"])["content"]["description"] for m in messages(env)]
    assert len(published) == 1 and "Baseline" in published[0]
    assert not any("new failure" in d for d in published)
    assert run_audit(env["settings"])["transitions"] == 0 and messages(env) == []
