"""The Chalice app with chalice.test.Client against moto server: schedule, routes, 400s, idempotency, logs, metrics."""

import json
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib.state.table import create_table

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
    monkeypatch.setenv("CISWATCH_TOPIC_ARN", topic)
    monkeypatch.setenv("CISWATCH_REGIONS", HOME)
    monkeypatch.setenv("AWS_DEFAULT_REGION", HOME)
    import app as app_module

    with Client(app_module.app, stage_name="dev") as client:
        yield {"client": client, "account": account, "queue": queue}


def post(client, body=None, headers=None, raw=None):
    return client.http.post(
        "/audits",
        headers={"Content-Type": "application/json", **(headers or {})},
        body=raw if raw is not None else (json.dumps(body) if body is not None else ""),
    )


def test_scheduled_run_records_and_publishes(deployed, capsys, caplog):
    client = deployed["client"]
    event = client.events.generate_cw_event(
        source="aws.events",
        detail_type="Scheduled Event",
        detail={},
        resources=["arn:aws:events:ap-northeast-1:123456789012:rule/daily"],
    )
    run = client.lambda_.invoke("daily_audit", event).payload
    assert run["baseline"] is True and run["counts"]["FAIL"] == 17 and run["notification"]["published"] is True
    sqs = deployed["account"].client("sqs", HOME)
    assert len(sqs.receive_message(QueueUrl=deployed["queue"], MaxNumberOfMessages=10).get("Messages", [])) == 1
    import app as app_module

    # Powertools' handler keeps the stdout of import time: read the records, formatted by Powertools itself.
    formatter = app_module.logger.registered_formatter
    finished = [
        json.loads(formatter.format(r))
        for r in caplog.records
        if r.name == "ciswatch" and r.getMessage() == "audit finished"
    ]
    out = capsys.readouterr().out
    assert finished and finished[0]["correlation_id"] == run["run_id"] and finished[0]["counts"]["FAIL"] == 17
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
    assert {a["MetricName"] for a in own} == {"AuditSucceeded", "FindingsError", "NotificationFailures"}
    for a in own:
        assert a["MetricName"] in names
        assert {d["Name"]: d["Value"] for d in a["Dimensions"]} == {k: run_blob[k] for k in emitted_dims}


def test_read_only_routes_warn_about_no_metrics(deployed, recwarn):
    assert deployed["client"].http.get("/runs").status_code == 200
    assert not [w for w in recwarn if "metrics" in str(w.message).lower()]


def test_post_audit_returns_summary_and_findings(deployed):
    resp = post(deployed["client"], {"regions": [HOME], "benchmark": "1.2.0"})
    assert resp.status_code == 200
    body = json.loads(resp.body)
    assert body["benchmark"] == "1.2.0" and body["regions"] == [HOME] and body["run"]["baseline"] is True
    assert len([f for f in body["findings"] if f["control"] != "kms_key_rotation"]) == 14
    assert post(deployed["client"]).status_code == 200  # no body: the configured defaults


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
        ('{"regions": ["xx-nowhere-1"]}', "regions"),
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


def test_findings_routes_and_filters(deployed):
    client = deployed["client"]
    assert post(client, {}).status_code == 200
    everything = json.loads(client.http.get("/findings").body)
    assert everything["count"] == 15 + 1 + 1  # 15 controls, one key, the KMS roll-up
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
    ],
)
def test_bad_queries_are_400_naming_the_field(deployed, path, field):
    resp = deployed["client"].http.get(path)
    assert resp.status_code == 400 and json.loads(resp.body)["field"] == field


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
    assert post(deployed["client"], {}).status_code == 200
    run = json.loads(deployed["client"].http.get("/runs").body)["runs"][0]
    assert not {"pk", "sk", "expires_at"} & set(run) and run["benchmark"] == "5.0.0"


def test_idempotency_key_returns_the_first_response(deployed):
    client = deployed["client"]
    first = post(client, {"regions": [HOME]}, headers={"Idempotency-Key": "abc-123"})
    second = post(client, {"regions": [HOME]}, headers={"Idempotency-Key": "abc-123"})
    assert first.status_code == second.status_code == 200
    assert json.loads(first.body)["run"]["run_id"] == json.loads(second.body)["run"]["run_id"]
    runs = json.loads(client.http.get("/runs").body)
    assert runs["count"] == 1
    conflict = post(client, {"regions": [HOME], "benchmark": "1.2.0"}, headers={"Idempotency-Key": "abc-123"})
    assert conflict.status_code == 409 and json.loads(conflict.body)["field"] == "Idempotency-Key"
    bad = post(client, {"benchmark": "0"}, headers={"Idempotency-Key": "other"})
    assert bad.status_code == 400


def test_unexpected_errors_are_500_with_a_request_id_and_no_internals(deployed):
    deployed["account"].client("dynamodb", HOME).delete_table(TableName=TABLE)
    resp = deployed["client"].http.get("/findings")
    assert resp.status_code == 500
    body = json.loads(resp.body)
    assert set(body) == {"error", "message", "request_id"} and body["request_id"]
    assert "ResourceNotFound" not in resp.body.decode() and "Traceback" not in resp.body.decode()
