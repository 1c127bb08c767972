"""The Chalice app with chalice.test.Client against moto server: the schedule and POST /audits queue
requests, the worker (fed from the real queue by sandbox.poller) runs them; routes, 400s, pagination,
idempotency, logs, metrics."""

import io
import json
import logging
import time
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib.state.table import create_table
from sandbox.poller import drain

HOME = "ap-northeast-1"
TABLE = "ciswatch-dev-findings"
IDEMPOTENCY = "ciswatch-dev-idempotency"


@pytest.fixture
def deployed(account, monkeypatch):
    """The resources the dev stage expects, in moto, and an account to audit."""
    account.trail(region=HOME, log_group="CloudTrail/DefaultLogGroup")
    account.key(HOME, rotation=False, alias="alias/legacy")
    ddb = account.client("dynamodb", HOME)
    create_table(ddb, TABLE)
    ddb.create_table(
        TableName=IDEMPOTENCY,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    topic = account.topic(HOME, name="ciswatch-dev-digest", subscribe=None)
    queue = account.sqs_subscriber(topic, HOME)
    # A visibility timeout longer than any audit here: a message is never seen twice by accident.
    requests = account.request_queue(HOME, "ciswatch-dev-audit-requests", visibility_timeout=120)
    monkeypatch.setenv("CISWATCH_TOPIC_ARN", topic)
    monkeypatch.setenv("CISWATCH_REGIONS", HOME)
    monkeypatch.setenv("CISWATCH_QUEUE_URL", requests["url"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", HOME)
    import app as app_module

    with Client(app_module.app, stage_name="dev") as client:
        yield {"client": client, "account": account, "queue": queue, "requests": requests}


def work(deployed):
    """Let the worker take what is on the request queue, as Lambda's event source would."""
    client = deployed["client"]
    sqs = deployed["account"].client("sqs", HOME)
    return drain(sqs, deployed["requests"]["url"], lambda event: client.lambda_.invoke("audit_worker", event).payload)


def run_of(deployed, run_id):
    resp = deployed["client"].http.get(f"/runs/{run_id}")
    assert resp.status_code == 200, resp.body
    return json.loads(resp.body)


def audited(deployed, body=None, headers=None):
    """POST /audits, then the worker: the run as GET /runs/{run_id} shows it."""
    resp = post(deployed["client"], body if body is not None else {}, headers)
    assert resp.status_code == 202, resp.body
    work(deployed)
    return run_of(deployed, json.loads(resp.body)["run_id"])


def post(client, body=None, headers=None, raw=None):
    return client.http.post(
        "/audits",
        headers={"Content-Type": "application/json", **(headers or {})},
        body=raw if raw is not None else (json.dumps(body) if body is not None else ""),
    )


def test_scheduled_run_records_and_publishes(deployed, capsys):
    client = deployed["client"]
    import app as app_module

    # Powertools' own handler holds the stdout of import time: read the records through a handler of
    # this test's, formatted by Powertools' formatter when they are emitted (with that moment's keys).
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(app_module.logger.registered_formatter)
    app_module.logger._logger.addHandler(handler)
    event = client.events.generate_cw_event(
        source="aws.events",
        detail_type="Scheduled Event",
        detail={},
        resources=["arn:aws:events:ap-northeast-1:123456789012:rule/daily"],
    )
    queued = client.lambda_.invoke("daily_audit", event).payload
    assert queued["status"] == "queued" and run_of(deployed, queued["run_id"])["status"] == "queued"
    assert work(deployed).handled == 1
    run = run_of(deployed, queued["run_id"])
    assert run["status"] == "done" and run["trigger"] == "schedule" and run["regions"] == [HOME]
    (outcome,) = run["accounts"]
    summary = outcome["summary"]
    assert outcome["state"] == "AUDITED" and summary["baseline"] is True and summary["counts"]["FAIL"] == 17
    assert summary["published"] is True
    sqs = deployed["account"].client("sqs", HOME)
    assert len(sqs.receive_message(QueueUrl=deployed["queue"], MaxNumberOfMessages=10).get("Messages", [])) == 1
    app_module.logger._logger.removeHandler(handler)
    out = capsys.readouterr().out
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    finished = [r for r in records if r["message"] == "audit finished"]
    queued = [r for r in records if r["message"] == "audit queued"]
    assert queued[0]["correlation_id"] == run["run_id"] and queued[0]["function_name"] == "daily_audit"
    assert finished and finished[0]["correlation_id"] == run["run_id"] and finished[0]["counts"]["FAIL"] == 17
    assert finished[0]["function_name"] == "audit_worker"
    assert "evidence" not in json.dumps(finished[0])
    emf = [json.loads(line) for line in out.splitlines() if '"CloudWatchMetrics"' in line]
    names = {m["Name"] for blob in emf for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"FindingsFail", "Transitions", "ApiCalls", "AuditDuration", "NotificationFailures"} <= names
    assert any(blob.get("FindingsFail") == [17.0] for blob in emf)
    # The template's alarms watch exactly these metrics, with exactly these dimensions.
    run_blob = next(blob for blob in emf if "AuditSucceeded" in blob)
    assert run_blob["trigger"] == "schedule" and run_blob["service"] == "ciswatch"
    emitted_dims = set(run_blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0])
    resources = json.loads((Path(__file__).resolve().parent.parent / "resources.json").read_text())["Resources"]
    watched = [r["Properties"] for r in resources.values() if r.get("Type") == "AWS::CloudWatch::Alarm"]
    own = [a for a in watched if a["Namespace"] == "ciswatch"]
    assert {a["MetricName"] for a in own} == {"AuditSucceeded", "FindingsError", "NotificationFailures", "DeadLettered"}
    for a in (a for a in own if a["MetricName"] != "DeadLettered"):  # the dead-letter consumer's: below
        assert a["MetricName"] in names
        assert {d["Name"]: d["Value"] for d in a["Dimensions"]} == {k: run_blob[k] for k in emitted_dims}


def test_read_only_routes_warn_about_no_metrics(deployed, recwarn):
    assert deployed["client"].http.get("/runs").status_code == 200
    assert not [w for w in recwarn if "metrics" in str(w.message).lower()]


def test_post_audit_answers_202_at_once_and_the_worker_runs_it(deployed):
    resp = post(deployed["client"], {"regions": [HOME], "benchmark": "1.2.0"})
    assert resp.status_code == 202
    body = json.loads(resp.body)
    assert body["status"] == "queued" and body["link"] == f"/runs/{body['run_id']}"
    assert resp.headers["Location"] == body["link"]
    assert run_of(deployed, body["run_id"])["status"] == "queued"
    work(deployed)
    run = run_of(deployed, body["run_id"])
    assert run["status"] == "done" and run["benchmark"] == "1.2.0" and run["regions"] == [HOME]
    assert run["trigger"] == "api" and run["accounts"][0]["summary"]["baseline"] is True
    assert post(deployed["client"]).status_code == 202  # no body: the configured defaults


def test_a_region_that_is_not_enabled_fails_the_run_naming_it(deployed):
    run = audited(deployed, {"regions": ["xx-nowhere-1"]})
    assert run["status"] == "failed"
    assert run["accounts"][0]["reason"] == "region not enabled in account 123456789012: xx-nowhere-1"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("{not json", "body"),
        ("[1, 2]", "body"),
        ('{"benchmark": "9.9.9"}', "benchmark"),
        ('{"benchmark": 5}', "benchmark"),
        ('{"regions": "eu-west-1"}', "regions"),
        ('{"regions": []}', "regions"),
        ('{"regions": ["Tokyo"]}', "regions"),
        ('{"region": ["eu-west-1"]}', "region"),
        ("[" * 100_000 + "]" * 100_000, "body"),
        ('{"regions": ' + "[" * 5000 + "]" * 5000 + "}", "body"),
    ],
)
def test_bad_audit_requests_are_400_naming_the_field(deployed, raw, field):
    resp = post(deployed["client"], raw=raw)
    assert resp.status_code == 400, resp.body
    body = json.loads(resp.body)
    assert body["error"] == "BadRequest" and body["field"] == field and body["message"]
    assert work(deployed).invocations == 0  # nothing was queued


def test_findings_routes_and_filters(deployed):
    client = deployed["client"]
    audited(deployed)
    everything = json.loads(client.http.get("/findings").body)
    assert everything["count"] == everything["total"] == 15 + 1 + 1  # 15 controls, one key, the KMS roll-up
    assert "next_token" not in everything
    failing = json.loads(client.http.get("/findings?status=FAIL").body)
    assert failing["count"] == 17 and all(f["status"] == "FAIL" for f in failing["findings"])
    vpc = json.loads(client.http.get("/findings/vpc_changes").body)
    assert (
        vpc["count"] == 1
        and vpc["findings"][0]["cis_id"] == "4.14"
        and vpc["findings"][0]["evidence"]["broken_link"] == "filter"
    )
    kms = json.loads(client.http.get("/findings?control=kms_key_rotation&region=ap-northeast-1").body)
    assert kms["count"] == 1 and "alias/legacy" in kms["findings"][0]["reason"]
    runs = json.loads(client.http.get("/runs?days=7").body)
    assert runs["count"] == 1 and runs["runs"][0]["counts"]["FAIL"] == 17


def test_findings_are_paginated_with_tamper_evident_tokens(deployed):
    client = deployed["client"]
    audited(deployed)
    whole = json.loads(client.http.get("/findings?status=FAIL").body)["findings"]
    pages, token = [], None
    while True:
        query = "/findings?status=FAIL&limit=5" + (f"&next_token={token}" if token else "")
        page = json.loads(client.http.get(query).body)
        assert page["total"] == 17 and page["count"] == len(page["findings"]) <= 5
        pages.append(page["findings"])
        token = page.get("next_token")
        if token is None:
            break
    assert [len(p) for p in pages] == [5, 5, 5, 2]
    assert [f for p in pages for f in p] == whole  # every finding once, in the same order
    first = json.loads(client.http.get("/findings?status=FAIL&limit=5").body)
    token = first["next_token"]
    payload, mac = token.split(".")
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + mac
    for query, words in (
        (f"/findings?status=FAIL&limit=5&next_token={tampered}", "altered"),
        (f"/findings?status=PASS&limit=5&next_token={token}", "other filters"),
        ("/findings?next_token=garbage", "not a next_token"),
        ("/findings?limit=0", "limit"),
        ("/findings?limit=501", "limit"),
        ("/findings?limit=ten", "limit"),
    ):
        resp = client.http.get(query)
        body = json.loads(resp.body)
        assert resp.status_code == 400 and words in body["message"] + body["field"], (query, body)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/findings?status=BROKEN", "status"),
        ("/findings?control=nope", "control"),
        ("/findings?region=Tokyo", "region"),
        ("/findings?colour=red", "colour"),
        ("/findings/nope", "control"),
        ("/findings/vpc_changes?control=vpc_changes", "control"),
        ("/runs?days=abc", "days"),
        ("/runs?days=0", "days"),
        ("/runs?days=401", "days"),
        ("/runs?days=" + "9" * 5000, "days"),
        ("/runs?days=%EF%BC%91%EF%BC%92", "days"),  # full-width digits
        ("/findings?region=" + "x" * 5000, "region"),
        ("/findings?status=%E2%9C%93", "status"),
        ("/runs?since=1", "since"),
        ("/runs/not-a-run-id", "run_id"),
        ("/runs/20261201T060000Z-0123abcd?verbose=1", "verbose"),
    ],
)
def test_bad_queries_are_400_naming_the_field(deployed, path, field):
    resp = deployed["client"].http.get(path)
    assert resp.status_code == 400 and json.loads(resp.body)["field"] == field


def test_an_unknown_run_is_404(deployed):
    resp = deployed["client"].http.get("/runs/20261201T060000Z-0123abcd")
    assert resp.status_code == 404
    assert json.loads(resp.body) == {
        "error": "NotFound",
        "field": "run_id",
        "message": "no run 20261201T060000Z-0123abcd (runs are kept 400 days)",
    }


def test_a_deployment_without_a_queue_says_so(deployed, monkeypatch):
    monkeypatch.delenv("CISWATCH_QUEUE_URL")
    resp = post(deployed["client"], {})
    assert resp.status_code == 503
    assert json.loads(resp.body) == {
        "error": "NotConfigured",
        "message": "CISWATCH_QUEUE_URL is not set: this deployment has no request queue",
    }


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_that_is_not_json_is_415_in_this_apis_error_shape(deployed, content_type):
    resp = post(deployed["client"], raw='{"benchmark": "5.0.0"}', headers={"Content-Type": content_type})
    assert resp.status_code == 415
    assert json.loads(resp.body) == {
        "error": "UnsupportedMediaType",
        "field": "Content-Type",
        "message": f"send the body as application/json, not {content_type}",
    }


def test_runs_show_no_table_internals(deployed):
    audited(deployed)
    run = json.loads(deployed["client"].http.get("/runs").body)["runs"][0]
    assert not {"pk", "sk", "expires_at"} & set(run) and run["benchmark"] == "5.0.0"


def test_idempotency_key_returns_the_first_response(deployed):
    client = deployed["client"]
    first = post(client, {"regions": [HOME]}, headers={"Idempotency-Key": "abc-123"})
    second = post(client, {"regions": [HOME]}, headers={"Idempotency-Key": "abc-123"})
    assert first.status_code == second.status_code == 202
    assert json.loads(first.body)["run_id"] == json.loads(second.body)["run_id"]
    assert work(deployed).handled == 1  # one request was queued
    runs = json.loads(client.http.get("/runs").body)
    assert runs["count"] == 1
    conflict = post(client, {"regions": [HOME], "benchmark": "1.2.0"}, headers={"Idempotency-Key": "abc-123"})
    assert conflict.status_code == 409 and json.loads(conflict.body)["field"] == "Idempotency-Key"
    bad = post(client, {"benchmark": "0"}, headers={"Idempotency-Key": "other"})
    assert bad.status_code == 400


def test_the_idempotency_record_holds_the_request_not_the_audit(deployed):
    post(deployed["client"], {"regions": [HOME]}, headers={"Idempotency-Key": "size"})
    work(deployed)
    ddb = deployed["account"].client("dynamodb", HOME)
    (record,) = ddb.scan(TableName=IDEMPOTENCY)["Items"]
    assert len(json.dumps(record)) < 2000 and "findings" not in json.dumps(record)


def test_a_duplicate_delivery_changes_nothing_and_announces_nothing_twice(deployed):
    client = deployed["client"]
    body = json.loads(post(client, {}).body)
    sqs = deployed["account"].client("sqs", HOME)
    message = json.dumps(body["request"], sort_keys=True)
    sqs.send_message(QueueUrl=deployed["requests"]["url"], MessageBody=message)  # delivered twice
    assert work(deployed).handled == 2
    run = run_of(deployed, body["run_id"])
    assert run["status"] == "done" and run["accounts"][0]["attempts"] == 1
    digests = sqs.receive_message(QueueUrl=deployed["queue"], MaxNumberOfMessages=10).get("Messages", [])
    assert len(digests) == 1
    assert json.loads(client.http.get("/runs").body)["count"] == 1


def test_a_message_that_is_not_a_request_ends_in_the_dead_letter_queue(deployed):
    quick = deployed["account"].request_queue(HOME, "redrive-test", visibility_timeout=1)
    sqs = deployed["account"].client("sqs", HOME)
    sqs.send_message(QueueUrl=quick["url"], MessageBody='{"run_id": "x"}')
    client = deployed["client"]
    failed = []
    for _ in range(4):  # three receives, then SQS moves it
        failed += drain(sqs, quick["url"], lambda event: client.lambda_.invoke("audit_worker", event).payload).failed
        time.sleep(1.1)  # the queue's visibility timeout
    assert len(failed) == 3
    dead = sqs.receive_message(QueueUrl=quick["dlq"], VisibilityTimeout=0).get("Messages", [])
    assert [m["Body"] for m in dead] == ['{"run_id": "x"}']


def test_the_dead_letter_consumer_records_the_account_logs_the_message_and_counts_it(deployed, capsys, caplog):
    """A request the worker crashed on at every receive: its account's ERROR says so and the run is
    finished; a message that is no request is logged whole. Both are counted on the alarm's metric."""
    client = deployed["client"]
    body = json.loads(post(client, {}).body)
    sqs = deployed["account"].client("sqs", HOME)
    dlq = deployed["requests"]["dlq"]
    sqs.receive_message(QueueUrl=deployed["requests"]["url"])  # taken by a worker that then died...
    request = json.dumps(body["request"], sort_keys=True)
    sqs.send_message(QueueUrl=dlq, MessageBody=request)  # ...three times: SQS moved it
    sqs.send_message(QueueUrl=dlq, MessageBody="not a request")
    handled = drain(sqs, dlq, lambda e: client.lambda_.invoke("dead_letters", e).payload, batch_size=10)
    assert handled.handled == 2 and handled.failed == []
    run = run_of(deployed, body["run_id"])
    assert run["status"] == "failed" and run["pending"] == []
    (outcome,) = run["accounts"]
    assert outcome["state"] == "ERROR" and outcome["closed_by"] == "dead-letter"
    assert outcome["reason"].startswith("the worker failed on every one of")
    out = capsys.readouterr().out
    logged = {r.getMessage(): getattr(r, "body", None) for r in caplog.records if r.name == "ciswatch"}
    assert logged["dead letter: not an audit request"] == "not a request" and logged["dead letter"] == request
    emf = [json.loads(line) for line in out.splitlines() if '"CloudWatchMetrics"' in line]
    (blob,) = [b for b in emf if "DeadLettered" in b]
    assert blob["DeadLettered"] == [1.0, 1.0]
    resources = json.loads((Path(__file__).resolve().parent.parent / "resources.json").read_text())["Resources"]
    alarm = resources["RequestDeadLetterAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("ciswatch", "DeadLettered")
    dims = blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {k: blob[k] for k in dims}
    # A later real result replaces the dead letter's ERROR (a redrive), never the reverse.
    sqs.send_message(QueueUrl=deployed["requests"]["url"], MessageBody=request)
    work(deployed)
    (outcome,) = run_of(deployed, body["run_id"])["accounts"]
    assert outcome["state"] == "AUDITED" and "closed_by" not in outcome
    sqs.send_message(QueueUrl=dlq, MessageBody=request)
    drain(sqs, dlq, lambda e: client.lambda_.invoke("dead_letters", e).payload)
    assert run_of(deployed, body["run_id"])["accounts"][0]["state"] == "AUDITED"


def test_unexpected_errors_are_500_with_a_request_id_and_no_internals(deployed):
    deployed["account"].client("dynamodb", HOME).delete_table(TableName=TABLE)
    resp = deployed["client"].http.get("/findings")
    assert resp.status_code == 500
    body = json.loads(resp.body)
    assert set(body) == {"error", "message", "request_id"} and body["request_id"]
    assert "ResourceNotFound" not in resp.body.decode() and "Traceback" not in resp.body.decode()


def test_a_worker_that_cannot_write_its_outcome_leaves_the_message_for_sqs(deployed):
    post(deployed["client"], {})
    deployed["account"].client("dynamodb", HOME).delete_table(TableName=TABLE)
    assert len(work(deployed).failed) == 1


def test_suppressions_through_the_api(deployed):
    from datetime import date, timedelta

    client = deployed["client"]
    expires = (date.today() + timedelta(days=30)).isoformat()
    body = {"control": "4.14", "reason": "VPCs are managed by the network team's own alarms", "owner": "netops"}
    resp = client.http.post(
        "/suppressions", headers={"Content-Type": "application/json"}, body=json.dumps({**body, "expires": expires})
    )
    assert resp.status_code == 201, resp.body
    made = json.loads(resp.body)
    assert made["control"] == "vpc_changes" and made["created_by"] and len(made["id"]) == 12
    listed = json.loads(client.http.get("/suppressions").body)
    assert listed["count"] == 1 and listed["suppressions"][0]["active"] is True
    audited(deployed)
    vpc = json.loads(client.http.get("/findings/vpc_changes").body)["findings"][0]
    assert vpc["status"] == "FAIL" and vpc["suppressed"]["owner"] == "netops"
    for bad, field in (
        ({**body, "expires": "2020-01-01"}, "expires"),
        ({**body, "expires": expires, "colour": "red"}, "colour"),
        ({**body, "control": "9.99", "expires": expires}, "control"),
        ({"control": "4.14", "expires": expires, "owner": "x"}, "reason"),
    ):
        resp = client.http.post("/suppressions", headers={"Content-Type": "application/json"}, body=json.dumps(bad))
        assert resp.status_code == 400 and json.loads(resp.body)["field"] == field, resp.body
    assert client.http.delete(f"/suppressions/{made['id']}").status_code == 200
    assert client.http.delete(f"/suppressions/{made['id']}").status_code == 404
    assert client.http.delete("/suppressions/not-an-id").status_code == 400
    assert json.loads(client.http.get("/suppressions").body)["count"] == 0
    assert json.loads(client.http.get("/suppressions?all=true").body)["count"] == 1
