"""The CLI as a newcomer meets it: findings from the table, any control id, --version, an idempotent
setup-table, errors that say what to do, a table that fits the terminal, digests in benchmark order."""

import json
import os

import pytest

from chalicelib import catalog
from chalicelib.notify.digest import build_digest
from chalicelib.pipeline import judge_snapshot
from chalicelib.report.table import ROW_PREFIX, render_table
from chalicelib.state.items import TransitionItem
from ciswatch_cli.main import main
from sandbox import serve

from .state_env import HOME, TABLE

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("given", "control"),
    [
        ("iam_policy_changes", "iam_policy_changes"),
        ("4.4", "iam_policy_changes"),
        ("CloudWatch.4", "iam_policy_changes"),
        ("cloudwatch.4", "iam_policy_changes"),
        ("3.6", "kms_key_rotation"),
        ("KMS.4", "kms_key_rotation"),
    ],
)
def test_a_control_is_found_by_any_id_a_report_shows(given, control):
    assert catalog.find_control(given, "5.0.0").id == control


def test_a_cis_number_is_read_in_the_selected_benchmark():
    assert catalog.find_control("3.4", "1.2.0").id == "iam_policy_changes"
    with pytest.raises(catalog.CatalogError):
        catalog.find_control("9.9", "5.0.0")


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("ciswatch ")


def test_findings_lists_the_table_as_the_api_does(env, capsys):
    from chalicelib.pipeline import run_audit

    env["account"].key(HOME, rotation=False, alias="alias/legacy")
    run_audit(env["settings"])
    base = [
        "findings",
        "--table",
        TABLE,
        "--region",
        HOME,
        "--endpoint-url",
        env["settings"].endpoint_url,
        "--format",
        "json",
    ]
    assert main(base) == 0
    everything = json.loads(capsys.readouterr().out)
    assert everything["count"] == 15 + 2 + 1  # controls, two keys, the roll-up
    assert main([*base, "--status", "FAIL"]) == 0
    failing = json.loads(capsys.readouterr().out)["findings"]
    assert [f["control"] for f in failing] == ["kms_key_rotation", "kms_key_rotation"]
    assert main([*base, "--control", "CloudWatch.14"]) == 0
    assert [f["control"] for f in json.loads(capsys.readouterr().out)["findings"]] == ["vpc_changes"]
    assert main([*base, "--control", "4.14", "--severity", "MEDIUM"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 0
    cis = [f["cis_id"] for f in everything["findings"]]
    assert cis.index("4.2") < cis.index("4.10"), "benchmark order"
    assert main([*base, "--control", "nope"]) == 2 and "unknown control" in capsys.readouterr().err


def test_setup_table_twice_is_fine(moto_url, account, capsys):
    argv = ["setup-table", "t", "--endpoint-url", moto_url, "--region", HOME]
    assert main(argv) == 0 and "created" in capsys.readouterr().out
    assert main(argv) == 0 and "exists" in capsys.readouterr().out


def test_a_missing_region_says_how_to_give_one(moto_url, capsys, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert main(["history", "--table", "t", "--account", ACCOUNT, "--endpoint-url", moto_url]) == 2
    err = capsys.readouterr().err
    assert "--region" in err and "AWS_DEFAULT_REGION" in err and err.count("\n") == 1


def _story_result():
    import gzip
    from pathlib import Path

    from chalicelib.model import AccountSnapshot

    with gzip.open(Path(__file__).parent / "data" / "golden" / "before-model.jsonl.gz", "rt") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["kind"] == "audit" and len(rec["snapshot"]["kms"]) >= 2:
                return judge_snapshot(AccountSnapshot.from_json(rec["snapshot"]), "5.0.0")
    raise AssertionError("a multi-region audit in the corpus")


@pytest.mark.parametrize("columns", [80, 120, 200])
def test_the_table_fits_the_terminal_by_shortening_the_reason_only(columns):
    text = render_table(_story_result(), columns=columns)
    rows = [line for line in text.splitlines() if line[:6].strip() in {c.cis_id("5.0.0") for c in catalog.controls()}]
    assert rows and all(len(line) <= max(columns, ROW_PREFIX + 40) for line in rows)
    assert "(the counts are findings:" in text


def test_digests_list_controls_in_benchmark_order():
    items = [
        TransitionItem.from_item(
            {
                "sk": f"t{i}",
                "kind": "REGRESSED",
                "control": c,
                "cis_id": cis,
                "to_status": "FAIL",
                "from_status": "PASS",
            }
        )
        for i, (c, cis) in enumerate(
            [("vpc_changes", "4.14"), ("console_signin_without_mfa", "4.2"), ("nacl_changes", "4.11")]
        )
    ]
    email = json.loads(build_digest(ACCOUNT, "5.0.0", items, "run")["Message"])["email"]
    assert email.index("4.2 console") < email.index("4.11 nacl") < email.index("4.14 vpc")


@pytest.mark.moto
def test_the_sandbox_serves_the_demo_account_and_says_how_to_use_it(capsys):
    saved = dict(os.environ)  # serve points this process's AWS_ENDPOINT_URL at its own server
    try:
        assert serve.main(["--seconds", "0"]) == 0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out = capsys.readouterr().out
    assert "http://127.0.0.1:" in out and "export AWS_ENDPOINT_URL=" in out and "ciswatch audit" in out
