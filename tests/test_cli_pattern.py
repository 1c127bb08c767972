"""The exact `ciswatch pattern` / `ciswatch controls` contract."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from ciswatch_cli.main import main

ROOT_EVENT = {"eventName": "ListBuckets", "userIdentity": {"type": "Root"}, "eventType": "AwsApiCall"}
SERVICE_EVENT = {"eventName": "Decrypt", "userIdentity": {"type": "Root", "invokedBy": "s3.amazonaws.com"}}
ROOT_PATTERN = (
    '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }'
)


@pytest.fixture
def lines_file(tmp_path):
    path = tmp_path / "events.log"
    path.write_text(json.dumps(ROOT_EVENT) + "\n" + "plain text Root line\n" + json.dumps(SERVICE_EVENT) + "\n")
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_pattern_test_prints_one_line_per_event(capsys, lines_file):
    code, out, err = run(capsys, "pattern", "test", ROOT_PATTERN, lines_file)
    assert (code, out, err) == (0, "match\nno match\nno match\n", "")


def test_pattern_test_json_keeps_input_order_across_files(capsys, lines_file, tmp_path):
    array = tmp_path / "events.json"
    array.write_text(json.dumps([SERVICE_EVENT, ROOT_EVENT, "Root as text"]))
    code, out, _ = run(capsys, "pattern", "test", "--json", ROOT_PATTERN, lines_file, str(array))
    assert code == 0
    assert json.loads(out) == {"results": [True, False, False, False, True, False]}


def test_pattern_test_term_pattern_reads_plain_lines(capsys, lines_file):
    code, out, _ = run(capsys, "pattern", "test", "--json", '"plain text"', lines_file)
    assert json.loads(out) == {"results": [False, True, False]}


def test_invalid_pattern_exits_2_with_one_line_naming_the_offset(capsys, lines_file):
    code, out, err = run(capsys, "pattern", "test", "{ $.a == 1 }", lines_file)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "offset 6" in err and "==" in err


def test_unreadable_file_exits_2(capsys, tmp_path):
    code, out, err = run(capsys, "pattern", "test", "{ $.a = 1 }", str(tmp_path / "missing.log"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "missing.log" in err


def test_check_json_contract_for_covers(capsys):
    code, out, _ = run(capsys, "pattern", "check", "--control", "root_account_usage", "--json", ROOT_PATTERN)
    assert code == 0
    assert json.loads(out) == {
        "control": "root_account_usage",
        "benchmark": "5.0.0",
        "verdict": "covers",
        "strict": True,
        "missed": [],
        "wrongly_matched": [],
        "error": None,
    }


def test_check_misses_exits_1_and_names_the_events(capsys):
    pattern = "{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) }"
    code, out, _ = run(
        capsys, "pattern", "check", "--control", "cloudtrail_config_changes", "--benchmark", "1.2.0", "--json", pattern
    )
    body = json.loads(out)
    assert code == 1 and body["verdict"] == "misses" and body["benchmark"] == "1.2.0"
    assert body["missed"] == ["DeleteTrail", "StartLogging", "StopLogging"] and body["strict"] is False


def test_check_invalid_pattern_is_a_verdict_not_a_usage_error(capsys):
    code, out, _ = run(capsys, "pattern", "check", "--control", "vpc_changes", "--json", "{ $.eventName = }")
    body = json.loads(out)
    assert code == 1 and body["verdict"] == "invalid" and body["error"]


def test_check_human_output_explains(capsys):
    code, out, _ = run(
        capsys,
        "pattern",
        "check",
        "--control",
        "unauthorized_api_calls",
        "--benchmark",
        "1.4.0",
        '{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") || '
        '($.sourceIPAddress!="delivery.logs.amazonaws.com") || ($.eventName!="HeadBucket") }',
    )
    assert code == 1
    assert "verdict:  overbroad" in out and "strict:   yes" in out and "wrongly matches" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["pattern", "check", "--control", "nope", "{ $.a = 1 }"],
        ["pattern", "check", "--control", "vpc_changes", "--benchmark", "9.9", "{ $.a = 1 }"],
        ["controls", "--benchmark", "0.1"],
    ],
)
def test_usage_errors_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.startswith("ciswatch: ")


def test_missing_control_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["pattern", "check", "{ $.a = 1 }"])
    assert info.value.code == 2


def test_controls_table_and_json(capsys):
    code, out, _ = run(capsys, "controls", "--benchmark", "1.2.0")
    assert code == 0 and "3.1 " in out and "CloudWatch.2" in out and "2.8 " in out and "organizations" not in out
    code, out, _ = run(capsys, "controls", "--json")
    body = json.loads(out)
    assert body["benchmark"] == "5.0.0" and len(body["controls"]) == 16
    assert body["controls"][0]["cis_id"] == "3.6" and body["controls"][0]["control"] == "kms_key_rotation"


def test_installed_console_script_runs():
    exe = shutil.which("ciswatch", path=os.path.dirname(sys.executable))
    assert exe, "the project is installed into the venv, so the ciswatch script exists"
    proc = subprocess.run(
        [exe, "pattern", "check", "--control", "vpc_changes", "--json", "{ $.eventName = CreateVpc }"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and json.loads(proc.stdout)["verdict"] == "misses"


@pytest.mark.parametrize(
    "pattern",
    [
        '{ $.a = "12" }',
        '{ $.a = "12.0" }',
        '{ $.b = "1e999" }',
        '{ $.c = "12.0" }',
        '{ $.c = "12" }',
        "%1e999%",
        "%Infinity%",
        "%12.0%",
    ],
)
def test_pattern_test_answers_the_same_whatever_the_file_layout(capsys, tmp_path, pattern):
    text = '{"a": 12, "b": 1e999, "c": 12.0}'
    array, lines = tmp_path / "events.json", tmp_path / "events.jsonl"
    array.write_text(f"[{text}]")
    lines.write_text(text + "\n")
    assert run(capsys, "pattern", "test", pattern, str(array)) == run(capsys, "pattern", "test", pattern, str(lines))
