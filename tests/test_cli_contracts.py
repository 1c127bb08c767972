"""The CLI's contract at its edges: bad input is exit 2 and one line on stderr, never a traceback."""

import copy
import gzip
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.state.table import create_table
from ciswatch_cli.main import main

HOME = "ap-northeast-1"
GOLDEN = Path(__file__).parent / "data" / "golden" / "before-model.jsonl.gz"


def one_line_usage_error(capsys, argv) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.startswith("ciswatch: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://127.0.0.1:5000", "http://", "127.0.0.1:5000", "http://127.0.0.1:port", "http://a b"]
)
def test_a_malformed_endpoint_url_is_a_usage_error(capsys, url):
    assert "--endpoint-url" in one_line_usage_error(capsys, ["audit", "--endpoint-url", url, "--regions", HOME])


def test_a_malformed_aws_endpoint_url_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "localhost:4566")
    assert "AWS_ENDPOINT_URL" in one_line_usage_error(capsys, ["history", "--table", "t", "--account", "1"])


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CISWATCH_KEY_WORKERS", "abc"),
        ("CISWATCH_KEY_WORKERS", "0"),
        ("CISWATCH_REGION_WORKERS", "100000"),
        ("CISWATCH_MAX_ATTEMPTS", "-1"),
        ("CISWATCH_RETENTION_DAYS", "99999999999999"),
        ("CISWATCH_CONFIRM_RUNS", "1.5"),
        ("CISWATCH_CONFIRM_RUNS_KMS", "２"),
    ],
)
def test_absurd_settings_are_a_usage_error(capsys, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    assert variable in one_line_usage_error(capsys, ["audit", "--regions", HOME])


@pytest.mark.parametrize("days", ["0", "401", "99999999"])
def test_history_days_out_of_range_is_a_usage_error(capsys, days):
    assert "--days" in one_line_usage_error(capsys, ["history", "--table", "t", "--account", "1", "--days", days])


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sns:ap-northeast-1",
        "arn:aws:sqs:ap-northeast-1:123456789012:q",
        "digest",
        "arn:aws:sns::123456789012:t",
    ],
)
def test_a_topic_arn_that_is_not_an_sns_topic_is_refused_before_anything_is_recorded(capsys, moto_url, account, arn):
    ddb = account.client("dynamodb", HOME)
    create_table(ddb, "t")
    err = one_line_usage_error(
        capsys, ["audit", "--endpoint-url", moto_url, "--regions", HOME, "--table", "t", "--topic-arn", arn]
    )
    assert "--topic-arn" in err and ddb.scan(TableName="t")["Count"] == 0


def test_a_region_the_account_has_not_enabled_is_a_usage_error(capsys, moto_url, account):
    err = one_line_usage_error(capsys, ["audit", "--endpoint-url", moto_url, "--regions", f"{HOME},xx-nowhere-9"])
    assert "xx-nowhere-9" in err and HOME not in err.split(":", 2)[-1]


def test_duplicate_regions_are_read_once(capsys, moto_url, account, tmp_path):
    out = tmp_path / "r.json"
    code = main(
        ["audit", "--endpoint-url", moto_url, "--regions", f"{HOME},{HOME}", "--format", "json", "--output", str(out)]
    )
    assert code in (0, 1) and json.loads(out.read_text())["regions"] == [HOME]


# --- every malformed --snapshot is a usage error that names the field -------------------------------------


def _saved_snapshot() -> dict:
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["kind"] == "audit" and rec["snapshot"]["topics"] and rec["snapshot"]["kms"]:
                return rec["snapshot"]
    raise AssertionError("the corpus has a snapshot with topics and keys")


SNAPSHOT = _saved_snapshot()


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


PATHS = [p for p in _paths(SNAPSHOT) if p]
ODD_VALUES = [None, 0, -1, 1.5, True, "", "x", [], {}, [1], {"a": 1}, "arn:aws:sns", "9" * 50]


def _mutate(doc, path, value, delete):
    node = doc
    for step in path[:-1]:
        node = node[step]
    if delete and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = value


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(ODD_VALUES), st.booleans()), min_size=1, max_size=3))
def test_any_damaged_snapshot_is_judged_or_refused_in_one_line(tmp_path_factory, mutations):
    doc = copy.deepcopy(SNAPSHOT)
    for path, value, delete in mutations:
        try:
            _mutate(doc, path, value, delete)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed the parent
    path = tmp_path_factory.mktemp("snap") / "snap.json"
    path.write_text(json.dumps(doc))
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["audit", "--snapshot", str(path), "--format", "json"])
    assert code in (0, 1, 2, 3)
    if code == 2:
        text = err.getvalue()
        assert text.startswith("ciswatch: ") and text.count("\n") == 1 and "Traceback" not in text


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["trails"]["items"][0].update(arn=5), "trails.items[0].arn"),
        (lambda d: d.pop("account"), "account"),
        (lambda d: d["trails"].update(items="x"), "trails.items"),
        (lambda d: d.update(schema=2), "schema"),
    ],
)
def test_a_malformed_snapshot_names_the_field(capsys, tmp_path, mutate, field):
    doc = copy.deepcopy(SNAPSHOT)
    mutate(doc)
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(doc))
    assert field in one_line_usage_error(capsys, ["audit", "--snapshot", str(path)])
