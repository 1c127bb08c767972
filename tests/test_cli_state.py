"""`ciswatch setup-table`, `audit --table --topic-arn` and `history` through the CLI against moto."""

import json

from ciswatch_cli.main import main

HOME = "ap-northeast-1"


def test_setup_table_audit_with_state_and_history(moto_url, account, capsys):
    account.trail(region=HOME, log_group="CloudTrail/DefaultLogGroup")
    topic = account.topic(HOME, name="digest", subscribe="sqs")
    base = ["--endpoint-url", moto_url, "--region", HOME]
    assert main(["setup-table", "tbl", *base]) == 0
    assert "OutboxIndex" in capsys.readouterr().out
    argv = [
        "audit",
        "--endpoint-url",
        moto_url,
        "--regions",
        HOME,
        "--table",
        "tbl",
        "--topic-arn",
        topic,
        "--format",
        "json",
    ]
    assert main(argv) == 1
    out = capsys.readouterr()
    body = json.loads(out.out)
    assert body["run"]["baseline"] is True and body["run"]["notification"]["published"] is True
    assert "baseline recorded; digest published" in out.err
    assert main(argv) == 1
    second = capsys.readouterr()
    assert "0 transition(s) recorded; nothing to announce" in second.err
    assert main(["history", "--table", "tbl", *base]) == 0
    history = capsys.readouterr().out
    assert "2 run(s)" in history and "FAIL trend" in history and "baseline" in history
    assert main(["history", "--table", "tbl", "--format", "json", "--account", "123456789012", *base]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [r["baseline"] for r in runs] == [True, False] and runs[0]["FAIL"] == 15


def test_state_usage_errors(moto_url, account, capsys):
    assert main(["audit", "--topic-arn", "arn:aws:sns:ap-northeast-1:123456789012:x"]) == 2
    assert "--topic-arn needs --table" in capsys.readouterr().err
    assert main(["history", "--endpoint-url", moto_url, "--region", HOME]) == 2
    assert "needs --table" in capsys.readouterr().err
    assert main(["history", "--table", "missing", "--endpoint-url", moto_url, "--region", HOME]) == 2
    assert "cannot read table missing" in capsys.readouterr().err
    assert main(["audit", "--endpoint-url", moto_url, "--regions", HOME, "--table", "missing"]) == 2
    out, err = capsys.readouterr()
    assert "ciswatch audit - account" in out, "the audit is printed all the same"
    assert "table missing does not exist" in err and "ciswatch setup-table missing" in err and err.count("\n") == 1
