"""``ciswatch``: the command-line entry point and its one table of commands.

Each command's arguments are declared here; its code lives in its own module, imported when the
command runs (a deliberate lazy import: ``ciswatch pattern ...`` starts without loading boto3).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.model.conventions import DEFAULT_NAMESPACE

from .errors import EXIT_OK, EXIT_USAGE, UsageError
from .options import add_aws_options, add_benchmark_option


def _pattern_test(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", metavar="PATTERN")
    p.add_argument("files", metavar="EVENTS_FILE", nargs="+")
    p.add_argument("--json", action="store_true", help='print {"results": [...]}')


def _pattern_check(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", metavar="PATTERN")
    p.add_argument("--control", required=True, metavar="ID")
    add_benchmark_option(p)
    p.add_argument("--json", action="store_true")


def _controls(p: argparse.ArgumentParser) -> None:
    add_benchmark_option(p)
    p.add_argument("--json", action="store_true")


def _audit(p: argparse.ArgumentParser) -> None:
    add_aws_options(p, regions=True)
    add_benchmark_option(p)
    p.add_argument(
        "--format",
        default="table",
        metavar="FORMAT[,FORMAT...]",
        help="table, json, csv, junit (one test case per control), asff (Security Hub), ocsf, html; several with --output-dir",
    )
    p.add_argument("--output-dir", metavar="DIR", help="write each format to its own file in DIR")
    p.add_argument(
        "--security-hub",
        action="store_true",
        help="also import the findings into Security Hub (the credentials' account and region)",
    )
    p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--no-color", action="store_true", help="no ANSI colours in the table")
    p.add_argument(
        "--suppressions", metavar="FILE", help="accepted deviations from a JSON or YAML file (as well as the table's)"
    )
    p.add_argument("--table", metavar="NAME", help="DynamoDB table: record findings and transitions (see setup-table)")
    p.add_argument("--topic-arn", metavar="ARN", help="SNS topic for change digests (needs --table)")
    org = p.add_argument_group("Organization")
    org.add_argument(
        "--organization", action="store_true", help="audit every ACTIVE account (from the management account)"
    )
    org.add_argument("--role", metavar="NAME", help="the member accounts' audit role (default ciswatch-audit)")
    org.add_argument("--external-id", metavar="ID", help="the member role's sts:ExternalId, if it asks for one")
    org.add_argument("--workers", type=int, default=8, metavar="N", help="accounts audited at once (default 8)")
    snap = p.add_mutually_exclusive_group()
    snap.add_argument("--save-snapshot", metavar="FILE", help="also write the raw inventory to FILE")
    snap.add_argument("--snapshot", metavar="FILE", help="judge a saved inventory offline (no AWS calls)")


def _setup_table(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    add_aws_options(p, table_region=True)


def _history(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", metavar="NAME", default=os.environ.get("CISWATCH_TABLE"), help="default: $CISWATCH_TABLE")
    p.add_argument("--account", metavar="ID", help="default: the account of the credentials")
    p.add_argument(
        "--organization", action="store_true", help="the trend of the Organization's runs, not one account's"
    )
    p.add_argument("--days", type=int, default=30, metavar="N")
    p.add_argument("--format", choices=("table", "json"), default="table")
    add_aws_options(p, table_region=True)


def _findings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", metavar="NAME", default=os.environ.get("CISWATCH_TABLE"), help="default: $CISWATCH_TABLE")
    p.add_argument("--account", metavar="ID", help="default: the account of the credentials")
    p.add_argument("--status", metavar="STATUS", help="PASS, FAIL, WARNING, ERROR, NOT_APPLICABLE or CLOSED")
    p.add_argument("--control", metavar="ID", help="any id a report shows: iam_policy_changes, 4.4, CloudWatch.4")
    p.add_argument("--in-region", metavar="REGION", help="only findings of this region")
    p.add_argument("--severity", choices=("HIGH", "MEDIUM"))
    add_benchmark_option(p)
    p.add_argument("--format", choices=("table", "json"), default="table")
    add_aws_options(p, table_region=True)


def _remediate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("text", "cloudformation", "json"), default="text")
    p.add_argument("--output", metavar="FILE", help="write the plan or template to FILE")
    p.add_argument(
        "--style",
        choices=("strict", "complete"),
        default="strict",
        help="strict: the string CIS published for the version (Security Hub's); complete: every event any version lists",
    )
    p.add_argument(
        "--namespace", default=DEFAULT_NAMESPACE, help=f"metric namespace for new filters (default {DEFAULT_NAMESPACE})"
    )
    p.add_argument(
        "--apply",
        action="store_true",
        help="apply the plan through the AWS API, after showing it and asking (creations only, unless --modify-existing)",
    )
    p.add_argument("--yes", action="store_true", help="with --apply: do not ask (needed without a terminal)")
    p.add_argument(
        "--modify-existing", action="store_true", help="with --apply: also change resources that exist (shown first)"
    )
    p.add_argument(
        "--notify-email", metavar="ADDRESS", help="subscribe ADDRESS where an alarm topic lacks a confirmed subscriber"
    )
    add_aws_options(p, regions=True)
    add_benchmark_option(p)
    p.add_argument("--snapshot", metavar="FILE", help="plan from a saved inventory (no AWS calls; not with --apply)")


def _suppress_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", metavar="NAME", default=os.environ.get("CISWATCH_TABLE"), help="default: $CISWATCH_TABLE")
    p.add_argument("--account", metavar="ID", help="default: the account of the credentials")
    add_aws_options(p, table_region=True)


def _suppress_add(p: argparse.ArgumentParser) -> None:
    p.add_argument("--control", required=True, metavar="ID", help="iam_policy_changes, 4.4 or CloudWatch.4")
    p.add_argument("--in-region", metavar="REGION", help="only findings of this region")
    p.add_argument("--resource", metavar="PATTERN", help="only this resource (an ARN, or a glob with * and ?)")
    p.add_argument("--reason", required=True, help="why the deviation is accepted")
    p.add_argument("--owner", required=True, help="who answers for it")
    p.add_argument("--expires", required=True, metavar="YYYY-MM-DD", help="the last day it holds (at most two years)")
    add_benchmark_option(p)
    _suppress_common(p)


def _suppress_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true", help="also the removed ones")
    p.add_argument("--format", choices=("table", "json"), default="table")
    _suppress_common(p)


def _suppress_remove(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", metavar="ID")
    _suppress_common(p)


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    runner: str  # "module:function" in this package, imported when the command runs
    parent: str | None = None


COMMANDS = (
    Command("test", "evaluate a pattern against log events", _pattern_test, "pattern_cmd:run_test", "pattern"),
    Command(
        "check",
        "judge a pattern against a control's canonical events",
        _pattern_check,
        "pattern_cmd:run_check",
        "pattern",
    ),
    Command("controls", "list the controls of a CIS version", _controls, "pattern_cmd:run_controls"),
    Command("audit", "audit the account's CIS monitoring controls and KMS key rotation", _audit, "audit_cmd:run"),
    Command(
        "setup-table",
        "create the DynamoDB table that keeps findings and their history",
        _setup_table,
        "state_cmd:run_setup_table",
    ),
    Command("history", "runs over time: counts by status and a trend", _history, "state_cmd:run_history"),
    Command("findings", "the current findings kept in the table", _findings, "state_cmd:run_findings"),
    Command("remediate", "produce (or apply) exactly what turns this account green", _remediate, "remediate_cmd:run"),
    Command(
        "add",
        "accept a deviation: a control (region, resource) with a reason, owner and expiry",
        _suppress_add,
        "suppress_cmd:run",
        "suppress",
    ),
    Command(
        "list",
        "the account's suppressions (expired and stale ones marked)",
        _suppress_list,
        "suppress_cmd:run",
        "suppress",
    ),
    Command("remove", "end a suppression (who and when are kept)", _suppress_remove, "suppress_cmd:run", "suppress"),
)
GROUPS = {
    "pattern": "test or judge a CloudWatch Logs filter pattern",
    "suppress": "deviations accepted on purpose, with a reason, an owner and an expiry",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ciswatch",
        description="Audit the CIS AWS Foundations monitoring controls and KMS key rotation.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups = {}
    for command in COMMANDS:
        if command.parent and command.parent not in groups:
            group = sub.add_parser(command.parent, help=GROUPS[command.parent])
            groups[command.parent] = group.add_subparsers(
                dest=f"{command.parent}_command", required=True, metavar="SUBCOMMAND"
            )
        where = groups[command.parent] if command.parent else sub
        p = where.add_parser(command.name, help=command.help)
        command.arguments(p)
        p.set_defaults(runner=command.runner)
    return parser


class _Version(argparse.Action):
    """--version, computed only when asked: importlib.metadata costs ~20 ms at every start otherwise."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version and exit")

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: object, values: object, option_string: object = None
    ) -> None:
        from importlib import metadata  # deliberate: only --version needs it

        try:
            version = metadata.version("ciswatch")
        except metadata.PackageNotFoundError:
            version = "(not installed)"
        sys.stdout.write(f"{parser.prog} {version}\n")
        parser.exit()


def _runner(spec: str) -> Callable[[argparse.Namespace], int]:
    module, function = spec.split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), function)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _runner(args.runner)(args)
    except UsageError as exc:
        print(f"ciswatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
