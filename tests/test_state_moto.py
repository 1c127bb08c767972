"""Findings history and change digests against moto server: baseline, quiet reruns, regressions, fixes,
the KMS confirmation window, SNS outages, racing runs, DynamoDB throttling."""

import json
import threading

import boto3
from botocore.awsrequest import AWSResponse
from moto.backends import get_backend

from chalicelib.pipeline import audit, run_audit

from .state_env import HOME, TABLE, Raw, messages, published, store


def test_first_run_is_one_baseline_digest(env):
    env["account"].key(HOME, rotation=False, alias="alias/legacy")
    summary = run_audit(env["settings"])
    assert summary["baseline"] is True and summary["notification"]["published"]
    msgs = messages(env)
    assert len(msgs) == 1
    slack = json.loads(msgs[0]["Message"])
    assert slack["version"] == "1.0" and slack["source"] == "custom" and "Baseline" in slack["content"]["description"]
    attrs = msgs[0]["MessageAttributes"]
    assert (
        attrs["severity"]["Value"] == "MEDIUM"
        and attrs["status"]["Value"] == "FAIL"
        and attrs["account"]["Value"] == "123456789012"
    )
    email = published(env)[0]["email"]
    assert "BASELINE" in email and "alias/legacy" in email and "aws kms enable-key-rotation" in email and HOME in email
    assert len(msgs[0]["Subject"]) < 100


def test_unchanged_rerun_publishes_nothing(env):
    run_audit(env["settings"])
    messages(env)
    second = run_audit(env["settings"])
    assert second["transitions"] == 0 and second["notification"]["published"] is False
    assert messages(env) == []


def test_a_quiet_day_writes_the_run_summary_and_its_observation_only(env):
    run_audit(env["settings"])
    before = {i.sk: i for i in store(env).current().values()}
    quiet = run_audit(env["settings"])
    usage = quiet["state_usage"]
    assert quiet["transitions"] == 0 and usage["unchanged"] == len(before)
    assert usage["items_written"] == 3  # the META observation, the run summary and the account's latest
    after = store(env).current()
    assert {sk: (i.rev, i.last_seen) for sk, i in after.items()} == {
        sk: (i.rev, i.last_seen) for sk, i in before.items()
    }
    # Readers still see when each finding was last seen: the quiet run's observation.
    observation = store(env).observation()
    assert observation is not None and observation.run_id == quiet["run_id"]
    views = [i.view(observation) for i in after.values()]
    assert {v["last_seen"] for v in views} == {observation.at}


def test_a_change_is_still_written_on_a_quiet_day(env):
    run_audit(env["settings"])
    env["account"].client("kms", HOME).disable_key_rotation(KeyId=env["key"])
    run_audit(env["settings"])  # KMS changes need two agreeing runs: the pending count is written
    pending = [i for i in store(env).current().values() if i.confirmation.pending_status]
    assert pending and pending[0].rev == 2
    third = run_audit(env["settings"])
    changes = third["transitions_list"]  # the key and the KMS roll-up
    assert {(t["control"], t["kind"]) for t in changes} == {("kms_key_rotation", "REGRESSED")} and len(changes) == 2


def test_findings_stored_under_the_old_account_name_move_without_a_word(env):
    run_audit(env["settings"])
    messages(env)
    ddb = env["account"].client("dynamodb", HOME)
    key = {"pk": {"S": "ACCOUNT#123456789012"}, "sk": {"S": "FINDING#vpc_changes#AWS::::Account:123456789012"}}
    item = ddb.get_item(TableName=TABLE, Key=key)["Item"]
    # As an earlier version stored it: the invalid ARN arn:aws:::<id> as the resource and in the key.
    legacy = {
        **item,
        "sk": {"S": "FINDING#vpc_changes#arn:aws:::123456789012"},
        "resource": {"S": "arn:aws:::123456789012"},
    }
    ddb.put_item(TableName=TABLE, Item=legacy)
    ddb.delete_item(TableName=TABLE, Key=key)
    run = run_audit(env["settings"])
    assert run["transitions"] == 0 and messages(env) == []
    current = store(env).current()
    moved = current["FINDING#vpc_changes#AWS::::Account:123456789012"]
    assert "FINDING#vpc_changes#arn:aws:::123456789012" not in current
    assert moved.first_seen == item["first_seen"]["S"] and moved.status == item["status"]["S"]


def test_regression_and_fix_are_announced_once_each(env):
    run_audit(env["settings"])
    messages(env)
    cw = env["account"].client("cloudwatch", HOME)
    cw.disable_alarm_actions(AlarmNames=["cis-root_account_usage"])
    regressed = run_audit(env["settings"])
    assert [(t["control"], t["from_status"], t["to_status"], t["kind"]) for t in regressed["transitions_list"]] == [
        ("root_account_usage", "PASS", "FAIL", "REGRESSED")
    ]
    [msg] = messages(env)
    email = published(env)[-1]["email"]
    assert "REGRESSED [HIGH]: 4.3 root_account_usage in ap-northeast-1" in email
    assert "actions disabled" in email and "enable-alarm-actions" in email
    assert "regressed" in json.loads(msg["Message"])["content"]["description"]
    assert msg["MessageAttributes"]["severity"]["Value"] == "HIGH"
    cw.enable_alarm_actions(AlarmNames=["cis-root_account_usage"])
    fixed = run_audit(env["settings"])
    assert [t["kind"] for t in fixed["transitions_list"]] == ["FIXED"]
    [msg] = messages(env)
    assert (
        msg["MessageAttributes"]["severity"]["Value"] == "INFO"
        and msg["MessageAttributes"]["status"]["Value"] == "PASS"
    )
    assert "FIXED: 4.3 root_account_usage" in published(env)[-1]["email"]


def test_kms_flip_that_reverts_within_the_window_sends_nothing(env):
    run_audit(env["settings"])
    messages(env)
    kms = env["account"].client("kms", HOME)
    kms.disable_key_rotation(KeyId=env["key"])
    first = run_audit(env["settings"])  # FAIL seen once: the KMS window needs two runs
    kms.enable_key_rotation(KeyId=env["key"])
    second = run_audit(env["settings"])
    assert first["transitions"] == 0 and second["transitions"] == 0 and messages(env) == []
    kms.disable_key_rotation(KeyId=env["key"])
    run_audit(env["settings"])
    confirmed = run_audit(env["settings"])
    kinds = {(t["control"], t["kind"]) for t in confirmed["transitions_list"]}
    assert ("kms_key_rotation", "REGRESSED") in kinds and len(messages(env)) == 1


def test_new_aws_managed_key_never_pages(env):
    run_audit(env["settings"])
    messages(env)
    env["account"].aws_managed_key(HOME, "lambda", rotation_reads=False)
    for _ in range(3):
        run_audit(env["settings"])
    assert messages(env) == []
    items = [
        i for i in store(env).current().values() if "aws" in (i.reason or "") and "AWS managed" in (i.reason or "")
    ]
    assert items and items[0].status == "NOT_APPLICABLE"


def _failing_sns(env, failures: int):
    client = boto3.client("sns", region_name=HOME, endpoint_url=env["settings"].endpoint_url)
    state = {"left": failures}

    def fail(**kwargs):
        if state["left"]:
            state["left"] -= 1
            body = b"<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>denied</Message></Error></ErrorResponse>"
            return AWSResponse("http://x", 403, {}, Raw(body))
        return None

    client.meta.events.register("before-send.sns.Publish", fail)
    return client


def test_sns_failure_then_recovery_delivers_once(env):
    run_audit(env["settings"])
    messages(env)
    env["account"].client("cloudwatch", HOME).disable_alarm_actions(AlarmNames=["cis-vpc_changes"])
    failed = run_audit(env["settings"], sns=_failing_sns(env, failures=10))
    assert failed["transitions"] == 1 and failed["notification"]["published"] is False
    assert "AuthorizationError" in failed["notification"]["error"] and failed["notification_failures"] == 1
    assert messages(env) == []
    recovered = run_audit(env["settings"])
    assert (
        recovered["transitions"] == 0
        and recovered["notification"]["published"]
        and recovered["notification"]["transitions"] == 1
    )
    [msg] = messages(env)
    assert "vpc_changes" in json.loads(msg["Message"])["content"]["description"]
    assert run_audit(env["settings"])["notification"]["published"] is False and messages(env) == []


def test_two_concurrent_runs_record_and_announce_each_transition_once(env):
    run_audit(env["settings"])
    messages(env)
    cw = env["account"].client("cloudwatch", HOME)
    cw.disable_alarm_actions(AlarmNames=["cis-vpc_changes", "cis-nacl_changes", "cis-iam_policy_changes"])
    result = audit(env["settings"])
    barrier = threading.Barrier(2)
    first_done = threading.Event()
    outcomes = []

    # Both runs read the state at once; the second one's writes wait until the first has written. moto
    # checks a transaction's conditions without isolation from a concurrent one (its documented gap),
    # so truly simultaneous transactions cannot be shown here; a stale reader meeting fresh writes can:
    # its conditional writes fail, it reads again, and records nothing twice.
    def go(second):
        ddb = boto3.client("dynamodb", region_name=HOME, endpoint_url=env["settings"].endpoint_url)
        sns = boto3.client("sns", region_name=HOME, endpoint_url=env["settings"].endpoint_url)
        if second:
            for operation in ("TransactWriteItems", "PutItem", "BatchWriteItem"):
                ddb.meta.events.register(f"before-send.dynamodb.{operation}", lambda **kw: first_done.wait(60) and None)
        barrier.wait()
        try:
            outcomes.append(run_audit(env["settings"], result=result, dynamodb=ddb, sns=sns))
        finally:
            if not second:
                first_done.set()

    threads = [threading.Thread(target=go, args=(second,)) for second in (False, True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(o["transitions"] for o in outcomes) == 3
    transitions = [t for t in store(env).transitions() if t.kind == "REGRESSED"]
    assert sorted(t.control for t in transitions) == ["iam_policy_changes", "nacl_changes", "vpc_changes"]
    announced = [json.loads(m["Message"])["content"]["description"] for m in messages(env)]
    for name in ("4.4 iam_policy_changes", "4.11 nacl_changes", "4.14 vpc_changes"):
        assert sum(d.count(f"`{name}`") for d in announced) == 1, name


def test_dynamodb_throttling_is_retried(env):
    ddb = boto3.client("dynamodb", region_name=HOME, endpoint_url=env["settings"].endpoint_url)
    state = {"left": 2}

    def throttle(request, **kwargs):
        if state["left"]:
            state["left"] -= 1
            body = json.dumps(
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "message": "slow down",
                }
            ).encode()
            return AWSResponse(request.url, 400, {}, Raw(body))
        return None

    ddb.meta.events.register("before-send.dynamodb", throttle)
    summary = run_audit(env["settings"], dynamodb=ddb)
    assert state["left"] == 0 and summary["baseline"] is True and len(messages(env)) == 1


def test_unprocessed_batch_items_are_written_on_retry(env):
    ddb = boto3.client("dynamodb", region_name=HOME, endpoint_url=env["settings"].endpoint_url)
    state = {"left": 1}

    def drop(params, **kwargs):
        # Pretend DynamoDB processed nothing on the first call: the same items come back as unprocessed.
        params["_ciswatch_unprocessed"] = state["left"] > 0

    def mark(parsed, model, **kwargs):
        if state["left"]:
            state["left"] -= 1
            parsed["UnprocessedItems"] = {TABLE: last["items"]}

    last = {}

    def remember(params, **kwargs):
        last["items"] = params["RequestItems"][TABLE][:3]

    ddb.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", remember)
    ddb.meta.events.register("after-call.dynamodb.BatchWriteItem", mark)
    summary = run_audit(env["settings"], dynamodb=ddb)
    assert summary["state_usage"]["unprocessed_retries"] == 1
    assert (
        len(store(env).current())
        == summary["counts"]["PASS"] + summary["counts"]["NOT_APPLICABLE"] + summary["counts"]["FAIL"]
    )


def test_vanished_key_is_closed_with_a_transition_but_not_when_its_region_errors(env, moto_url):
    extra = env["account"].key(HOME, rotation=False, alias="alias/temp")
    run_audit(env["settings"])
    del get_backend("kms")["123456789012"][HOME].keys[extra]
    assert run_audit(env["settings"])["transitions"] == 0  # KMS changes need two agreeing runs
    summary = run_audit(env["settings"])
    closed = [t for t in summary["transitions_list"] if t["to_status"] == "CLOSED"]
    assert len(closed) == 1 and closed[0]["kind"] == "FIXED" and extra in closed[0]["resource"]
    # A region whose keys could not be listed closes nothing.
    gone = env["account"].key(HOME, rotation=True)
    run_audit(env["settings"])
    run_audit(env["settings"])
    del get_backend("kms")["123456789012"][HOME].keys[gone]

    from chalicelib.inventory.aws import AwsReader

    def deny(client, service, region):
        if service == "kms":
            client.meta.events.register(
                "before-send.kms.ListKeys",
                lambda request, **kw: AWSResponse(
                    request.url, 400, {}, Raw(b'{"__type":"AccessDeniedException","message":"no"}')
                ),
            )

    settings = env["settings"]
    runs = [run_audit(settings, reader=AwsReader(settings, on_client=deny)) for _ in range(3)]
    changes = [t for r in runs for t in r["transitions_list"]]
    assert not [t for t in changes if t["to_status"] == "CLOSED"]
    assert ("kms_key_rotation", "COULD_NOT_CHECK") in {(t["control"], t["kind"]) for t in changes}


def test_runs_are_kept_for_the_trend(env):
    for _ in range(3):
        run_audit(env["settings"])
    runs = store(env).runs()
    assert len(runs) == 3 and all(r.expires_at and r.expires_at > 0 for r in runs)
    assert runs[0].summary["counts"]["PASS"] >= 16
