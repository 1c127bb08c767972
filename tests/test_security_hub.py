"""Security Hub import against moto's Security Hub: one ASFF finding per ciswatch finding, updated in
place across runs (fixed -> PASSED/RESOLVED, gone -> ARCHIVED), and a failed import is a run note."""

import json

from botocore.awsrequest import AWSResponse
from moto.backends import get_backend

from chalicelib.pipeline import import_to_security_hub, run_audit
from ciswatch_cli.main import main

from .state_env import HOME, Raw


def hub_findings(account):
    hub = account.client("securityhub", HOME)
    out, token = [], None
    while True:
        page = hub.get_findings(MaxResults=100, **({"NextToken": token} if token else {}))
        out += page["Findings"]
        token = page.get("NextToken")
        if not token:
            return {f["Id"]: f for f in out}


def test_findings_are_imported_updated_and_archived(env, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", HOME)
    account = env["account"]
    account.client("securityhub", HOME).enable_security_hub()
    legacy = account.key(HOME, rotation=False, alias="alias/legacy")
    settings = env["settings"].with_(security_hub=True)
    first = run_audit(settings)
    assert first["security_hub"]["imported"] == len(first["result"].findings) and first["security_hub"]["failed"] == 0
    found = hub_findings(account)
    assert len(found) == len(first["result"].findings)
    (key,) = [f for f in found.values() if any(r["Id"].endswith(legacy) for r in f["Resources"])]
    assert key["Compliance"]["Status"] == "FAILED" and key["Workflow"]["Status"] == "NEW"
    assert key["Resources"][0]["Type"] == "AwsKmsKey" and key["ProductArn"].endswith(":product/123456789012/default")

    account.client("kms", HOME).enable_key_rotation(KeyId=legacy)
    run_audit(settings)
    fixed = hub_findings(account)[key["Id"]]
    assert fixed["Compliance"]["Status"] == "PASSED" and fixed["Workflow"]["Status"] == "RESOLVED"
    assert len(hub_findings(account)) == len(found)  # updated in place, nothing duplicated

    del get_backend("kms")["123456789012"][HOME].keys[legacy]
    run_audit(settings)  # KMS changes need two agreeing runs before the key is closed
    closing = run_audit(settings)
    assert closing["security_hub"]["archived"] == 1
    assert hub_findings(account)[key["Id"]]["RecordState"] == "ARCHIVED"


def test_a_failed_import_is_a_note_and_the_run_completes(env, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", HOME)
    account = env["account"]
    hub = account.client("securityhub", HOME)
    hub.meta.events.register(
        "before-send.securityhub.BatchImportFindings",
        lambda request, **kw: AWSResponse(
            request.url, 403, {}, Raw(b'{"__type":"AccessDeniedException","Message":"not subscribed"}')
        ),
    )
    settings = env["settings"].with_(max_attempts=1)
    run = run_audit(settings)
    note = import_to_security_hub(settings, run["result"], run["run_id"], [], securityhub=hub)
    assert note["imported"] == 0 and note["failed"] == len(run["result"].findings)
    assert "BatchImportFindings failed" in note["error"] and "AccessDenied" in note["error"]


def test_the_cli_imports_and_writes_asff(env, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("AWS_DEFAULT_REGION", HOME)
    account = env["account"]
    account.client("securityhub", HOME).enable_security_hub()
    url = env["settings"].endpoint_url
    code = main(["audit", "--regions", HOME, "--security-hub", "--endpoint-url", url, "--format", "json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code in (0, 1)
    assert f"Security Hub ({HOME}): {len(report['findings'])} finding(s) imported" in captured.err
    out = tmp_path / "asff.json"
    main(["audit", "--regions", HOME, "--endpoint-url", url, "--format", "asff", "--output", str(out)])
    findings = json.loads(out.read_text())["Findings"]
    assert len(findings) == len(report["findings"]) and {f["Id"] for f in findings} == set(hub_findings(account))
