"""The artifact users deploy: `chalice package` output, its template, and its zip run as Lambda would."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chalicelib.model import Topic, TopicAttributes, TopicKey
from chalicelib.model.rules import TopicKeyVerdict, alarm_request_context, topic_key_verdict
from chalicelib.state import table as table_def
from deploy import policies

ROOT = Path(__file__).resolve().parent.parent
HOME = "ap-northeast-1"
# What the Lambda Python runtime provides besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")


@pytest.fixture(scope="session")
def packaged(tmp_path_factory):
    out = tmp_path_factory.mktemp("package")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "CISWATCH_REQUEST_QUEUE": "ciswatch-prod-audit-requests"}
    chalice = Path(sys.executable).parent / "chalice"
    proc = subprocess.run(
        [str(chalice), "package", "--stage", "prod", "--merge-template", "resources.json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_resources_table_matches_the_code_definition():
    resources = json.loads((ROOT / "resources.json").read_text())["Resources"]
    props = resources["FindingsTable"]["Properties"]
    assert props["KeySchema"] == table_def.KEY_SCHEMA
    assert props["AttributeDefinitions"] == table_def.ATTRIBUTE_DEFINITIONS
    assert props["GlobalSecondaryIndexes"] == table_def.GLOBAL_SECONDARY_INDEXES
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": table_def.TTL_ATTRIBUTE, "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}


def test_the_policy_files_and_the_template_roles_are_rendered_from_one_source():
    expected = policies.rendered_files()
    on_disk = {p: p.read_text() for p in (ROOT / ".chalice").glob("policy-*.json")}
    assert on_disk == expected, "run: python -m deploy.policies"
    resources = (ROOT / "resources.json").read_text()
    assert policies.rendered_resources(resources) == resources, "run: python -m deploy.policies"
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage in policies.STAGES:
        functions = config["stages"][stage]["lambda_functions"]
        assert set(functions) == set(policies.ROLES)
        for function, settings in functions.items():
            assert settings["iam_policy_file"] == policies.policy_file(function, stage).name


def test_the_member_role_holds_exactly_the_audit_reads_and_trusts_only_the_worker_in_the_organization():
    template = json.loads(policies.MEMBER_TEMPLATE.read_text())
    assert template == policies.member_role_template(), "run: python -m deploy.policies"
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(policies.MEMBER_TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    role = template["Resources"]["AuditRole"]["Properties"]
    granted = {a for st in role["Policies"][0]["PolicyDocument"]["Statement"] for a in st["Action"]}
    assert granted == {a for st in policies.AUDIT_READS for a in st["Action"]}
    assert all(st["Effect"] == "Allow" for st in role["Policies"][0]["PolicyDocument"]["Statement"])
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Ref": "AuditorRoleArn"}}
    with_id, without_id = trust["Condition"]["Fn::If"][1:]
    assert with_id["StringEquals"]["aws:PrincipalOrgID"] == without_id["StringEquals"]["aws:PrincipalOrgID"]
    assert with_id["StringEquals"]["sts:ExternalId"] == {"Ref": "ExternalId"}
    worker = {a for st in policies.statements("audit_worker") for a in st["Action"]}
    assert granted <= worker and "sts:AssumeRole" in worker


def test_no_policy_names_a_partition_and_only_listings_use_a_bare_star():
    texts = [p.read_text() for p in (ROOT / ".chalice").glob("policy-*.json")] + [
        (ROOT / "resources.json").read_text(),
        policies.MEMBER_TEMPLATE.read_text(),
    ]
    assert not [t for t in texts if "arn:aws:" in t]
    for function in policies.ROLES:
        for st in policies.document(function, "prod")["Statement"]:
            if st["Resource"] == "*":
                assert st["Sid"] in ("AuditListingsWithoutResourceLevelPermissions", "ListOrganizationAccounts"), st


def test_each_role_holds_only_its_functions_rights():
    def actions(function):
        return {a for st in policies.statements(function) for a in st["Action"]}

    reads = {a for st in policies.AUDIT_READS for a in st["Action"]}
    for function in ("daily_audit", "api_handler"):
        held = actions(function)
        assert not held & reads and not held & {"sns:Publish", "dynamodb:BatchWriteItem", "kms:Decrypt"}
        writes = [
            st
            for st in policies.statements(function)
            if "dynamodb:PutItem" in st["Action"] and "findings" in str(st["Resource"])
        ]
        assert writes and all(st["Condition"] in (policies.LEDGER_ONLY, policies.SUPPRESSIONS_ONLY) for st in writes)
    assert reads <= actions("audit_worker")
    api_table = [st for st in policies.statements("api_handler") if "ciswatch-{stage}-findings" in str(st["Resource"])]
    assert {a for st in api_table for a in st["Action"]} == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    }
    unconditional_writes = [
        st
        for st in api_table
        if {"dynamodb:PutItem", "dynamodb:UpdateItem"} & set(st["Action"]) and "Condition" not in st
    ]
    assert unconditional_writes == []


def test_packaged_template_passes_cfn_lint_and_pins_the_runtime(packaged):
    template = packaged / "sam.json"
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(template)], capture_output=True, text=True, timeout=300
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    resources = json.loads(template.read_text())["Resources"]
    for fn in ("DailyAudit", "APIHandler", "AuditWorker"):
        props = resources[fn]["Properties"]
        assert props["Runtime"] == "python3.12"
        assert props["Environment"]["Variables"]["CISWATCH_TABLE"] == {"Ref": "FindingsTable"}
        assert props["Role"] == {"Fn::GetAtt": [f"{fn.replace('APIHandler', 'ApiHandler')}Role", "Arn"]}
    for fn in ("DailyAudit", "APIHandler"):
        variables = resources[fn]["Properties"]["Environment"]["Variables"]
        assert variables["CISWATCH_QUEUE_URL"] == {"Ref": "RequestQueue"} and "CISWATCH_TOPIC_ARN" not in variables
    worker = resources["AuditWorker"]["Properties"]
    assert worker["Environment"]["Variables"]["CISWATCH_TOPIC_ARN"] == {"Ref": "DigestTopic"}
    source = worker["Events"]["AuditWorkerSqsEventSource"]["Properties"]
    queue = resources["RequestQueue"]["Properties"]
    assert source["Queue"] == {
        "Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:"
        + queue["QueueName"]["Fn::Sub"].replace("${Stage}", "prod")
    }
    # The queue exists before its event source: the worker's environment names it (a Ref is a dependency).
    assert worker["Environment"]["Variables"]["CISWATCH_QUEUE_URL"] == {"Ref": "RequestQueue"}
    assert source["BatchSize"] == 1 and source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "WorkerConcurrency"}}
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["RequestDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 3,
    }
    worker_statements = resources["AuditWorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    conditional = {st["Fn::If"][0]: st["Fn::If"][1]["Sid"] for st in worker_statements if "Fn::If" in st}
    assert conditional == {
        "OrganizationMode": "AssumeMemberAuditRole",
        "SecurityHubImport": "ImportToSecurityHub",
        "UseExistingDigestKey": "ExistingDigestTopicKey",
    }
    assert worker["Environment"]["Variables"]["CISWATCH_SECURITY_HUB"] == {"Ref": "SecurityHubImport"}
    assert worker["Environment"]["Variables"]["CISWATCH_RATE_LIMIT"] == {"Ref": "ReadRateLimit"}
    # The worker puts a run's deadline timer back on the request queue until it is due.
    assert worker["Environment"]["Variables"]["CISWATCH_QUEUE_URL"] == {"Ref": "RequestQueue"}
    schedule_env = resources["DailyAudit"]["Properties"]["Environment"]["Variables"]
    assert schedule_env["CISWATCH_RUN_DEADLINE_MINUTES"] == {"Ref": "RunDeadlineMinutes"}
    assert schedule_env["CISWATCH_DIGEST_PER_ACCOUNT"] == {"Ref": "DigestPerAccount"}
    # Requests the worker failed on every attempt: the dead-letter consumer, on the DLQ, with its own role.
    dead = resources["DeadLetters"]["Properties"]
    (dead_source,) = [e["Properties"] for e in dead["Events"].values() if e["Type"] == "SQS"]
    dlq = resources["RequestDeadLetterQueue"]["Properties"]["QueueName"]["Fn::Sub"].replace("${Stage}", "prod")
    assert dead_source["Queue"] == {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:" + dlq}
    assert dead_source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert dead["Role"] == {"Fn::GetAtt": ["DeadLettersRole", "Arn"]}
    # The digest topic's key: created, or one the DigestKeyArn parameter names (never a key per stack forced).
    assert resources["DigestKey"]["Condition"] == "CreateDigestKey"
    assert resources["DigestTopic"]["Properties"]["KmsMasterKeyId"] == {
        "Fn::If": ["CreateDigestKey", {"Ref": "DigestKey"}, {"Ref": "DigestKeyArn"}]
    }
    throttles = {(m["ResourcePath"], m["HttpMethod"]): m for m in resources["RestAPI"]["Properties"]["MethodSettings"]}
    assert throttles[("/~1audits", "POST")]["ThrottlingRateLimit"] == {"Ref": "AuditRequestRateLimit"}
    assert throttles[("/*", "*")]["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    assert resources["DailyAudit"]["Properties"]["Events"]["DailyAuditEvent"]["Properties"]["Schedule"] == "rate(1 day)"
    assert {
        "FindingsTable",
        "IdempotencyTable",
        "DigestTopic",
        "DigestKey",
        "DigestKeyAlias",
        "DigestEmailSubscription",
    } <= set(resources)
    assert (
        resources["DigestKey"]["Properties"]["EnableKeyRotation"] is True
    )  # ciswatch's own key must not fail ciswatch
    alarms = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == {
        "AuditErrorsAlarm",
        "NoSuccessfulRunAlarm",
        "ChecksCouldNotRunAlarm",
        "DigestNotDeliveredAlarm",
        "FailedRunsAlarm",
        "RequestDeadLetterAlarm",
    }
    for name, a in alarms.items():
        assert a["ActionsEnabled"] is True and len(a["AlarmDescription"]) > 60, name
        assert a["AlarmActions"] == [
            {"Fn::If": ["AlarmsToDigestTopic", {"Ref": "DigestTopic"}, {"Ref": "AlarmTopicArn"}]}
        ]
    heartbeat = alarms["NoSuccessfulRunAlarm"]
    assert (
        heartbeat["TreatMissingData"] == "breaching"
        and heartbeat["Period"] * heartbeat["EvaluationPeriods"] == 26 * 3600
    )
    destination = resources["DailyAuditInvokeConfig"]["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["FailedRunsQueue", "Arn"]}
    assert alarms["AuditErrorsAlarm"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "AuditWorker"}}]
    for fn in ("DailyAudit", "APIHandler", "AuditWorker"):
        group = resources[f"{fn}LogGroup"]["Properties"]
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"} and group["LogGroupName"] == {
            "Fn::Sub": f"/aws/lambda/${{{fn}}}"
        }


def test_ciswatchs_own_alarms_can_reach_its_digest_topic_by_its_own_rules():
    """The watcher's alarms notify the encrypted digest topic: its key must pass ciswatch's own topic rules."""
    resources = json.loads((ROOT / "resources.json").read_text())["Resources"]
    account = "123456789012"

    def resolve(value):
        if value == {"Ref": "AWS::AccountId"}:
            return account
        if isinstance(value, dict) and "Fn::Sub" in value:
            return value["Fn::Sub"].replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", account)
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    policy = json.dumps(resolve(resources["DigestKey"]["Properties"]["KeyPolicy"]))
    arn = f"arn:aws:kms:ap-northeast-1:{account}:key/digest"
    topic = Topic(
        f"arn:aws:sns:ap-northeast-1:{account}:ciswatch-prod-digest",
        "ap-northeast-1",
        account,
        TopicAttributes(kms_master_key_id=arn),
        kms_key=TopicKey(arn, arn=arn, key_manager="CUSTOMER", policy=policy, key_state="Enabled"),
    )
    alarm = f"arn:aws:cloudwatch:ap-northeast-1:{account}:alarm:ciswatch-prod-audit-errors"
    assert topic_key_verdict(topic, alarm_request_context(account, alarm))[0] is TopicKeyVerdict.USABLE


def test_deployment_zip_leaves_boto3_to_the_runtime(packaged):
    names = zipfile.ZipFile(packaged / "deployment.zip").namelist()
    assert "app.py" in names and "chalicelib/catalog/data/canonical_events.json" in names
    assert not [n for n in names if n.startswith(("boto3/", "botocore/", "ciswatch_cli/", "tests/", "moto/"))]


def _runtime_python(env: dict, cwd: Path) -> str:
    """Python 3.12 (the runtime resources.json pins) when one really runs there, else this interpreter."""
    candidate = shutil.which("python3.12")
    if candidate:
        probe = subprocess.run(
            [candidate, "-S", "-c", "import sys; assert sys.version_info[:2] == (3, 12)"],
            env=env,
            cwd=cwd,
            capture_output=True,
            timeout=60,
        )
        if probe.returncode == 0:
            return candidate
    return sys.executable


SMOKE = """
import json, sys
import app

class Context:
    function_name = "ciswatch-prod-daily_audit"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:ap-northeast-1:123456789012:function:ciswatch-prod-daily_audit"
    aws_request_id = "smoke-test-1"
    log_group_name = "/aws/lambda/ciswatch-prod-daily_audit"
    log_stream_name = "smoke"
    def get_remaining_time_in_millis(self):
        return 600000

event = {"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
         "time": "2026-11-27T06:00:00Z", "region": "ap-northeast-1", "resources": ["arn:aws:events:ap-northeast-1:123456789012:rule/daily"], "detail": {}}
queued = app.daily_audit(event, Context())
# What Lambda's SQS event source would hand the worker: the message the schedule queued.
import boto3
sqs = boto3.client("sqs")
url = sqs.get_queue_url(QueueName="smoke-requests")["QueueUrl"]
(m,) = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
record = {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
          "attributes": m["Attributes"], "messageAttributes": {}, "eventSource": "aws:sqs",
          "eventSourceARN": "arn:aws:sqs:ap-northeast-1:123456789012:smoke-requests", "awsRegion": "ap-northeast-1"}
answer = app.audit_worker({"Records": [record]}, Context())
third_party = sorted({m.split(".")[0] for m in sys.modules} & {"moto", "chalice_cli", "pytest", "flask", "ciswatch_cli", "sandbox", "deploy"})
print("RESULT " + json.dumps({"queued": queued, "answer": answer, "unexpected_modules": third_party}))
"""


def test_packaged_zip_runs_the_schedule_and_the_worker_with_only_the_lambda_runtime(
    packaged, account, moto_url, tmp_path
):
    account.trail(region=HOME, log_group="CloudTrail/DefaultLogGroup")
    account.key(HOME, rotation=False)
    from chalicelib.state.table import create_table

    create_table(account.client("dynamodb", HOME), "smoke-findings")
    topic = account.topic(HOME, name="smoke-digest", subscribe=None)
    queue = account.sqs_subscriber(topic, HOME)
    requests = account.request_queue(HOME, "smoke-requests")

    code = tmp_path / "task"
    zipfile.ZipFile(packaged / "deployment.zip").extractall(code)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    site = next(p for p in map(Path, sys.path) if p.name == "site-packages" and (p / "boto3").exists())
    for name in RUNTIME_PACKAGES:
        src = site / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, runtime / name)
    (code / "smoke.py").write_text(SMOKE)
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": f"{code}{os.pathsep}{runtime}",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": HOME,
        "AWS_REGION": HOME,
        "CISWATCH_TABLE": "smoke-findings",
        "CISWATCH_TOPIC_ARN": topic,
        "CISWATCH_REGIONS": HOME,
        "CISWATCH_QUEUE_URL": requests["url"],
        "POWERTOOLS_SERVICE_NAME": "ciswatch",
        "AWS_LAMBDA_FUNCTION_NAME": "ciswatch-prod-daily_audit",
    }
    # -S: no site-packages at all; the zip and the runtime's boto3 are the only code besides the standard library.
    interpreter = _runtime_python(env, code)
    proc = subprocess.run(
        [interpreter, "-S", str(code / "smoke.py")], cwd=code, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    body = json.loads(line[len("RESULT ") :])
    assert body["unexpected_modules"] == []
    assert body["queued"]["status"] == "queued" and body["answer"] == {"batchItemFailures": []}
    from chalicelib.state.ledger import Ledger

    record = Ledger(account.client("dynamodb", HOME), "smoke-findings").run(body["queued"]["run_id"])
    (outcome,) = record.outcomes
    assert str(outcome.state) == "AUDITED", outcome
    assert outcome.summary["baseline"] is True and outcome.summary["published"] is True
    assert outcome.summary["counts"]["FAIL"] == 17
    items = account.client("dynamodb", HOME).scan(TableName="smoke-findings", Select="COUNT")["Count"]
    assert items >= 17
    assert account.client("sqs", HOME).receive_message(QueueUrl=queue).get("Messages")
