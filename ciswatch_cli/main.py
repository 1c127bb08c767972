"""``ciswatch``: the command-line entry point. Heavy imports happen inside the commands that need them."""

from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input from the user: one line on stderr, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ciswatch",
        description="Audit the CIS AWS Foundations monitoring controls and KMS key rotation.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    pattern = sub.add_parser("pattern", help="test or judge a CloudWatch Logs filter pattern")
    psub = pattern.add_subparsers(dest="pattern_command", required=True, metavar="SUBCOMMAND")
    ptest = psub.add_parser("test", help="evaluate a pattern against log events")
    ptest.add_argument("pattern", metavar="PATTERN")
    ptest.add_argument("files", metavar="EVENTS_FILE", nargs="+")
    ptest.add_argument("--json", action="store_true", help='print {"results": [...]}')
    pcheck = psub.add_parser("check", help="judge a pattern against a control's canonical events")
    pcheck.add_argument("pattern", metavar="PATTERN")
    pcheck.add_argument("--control", required=True, metavar="ID")
    pcheck.add_argument("--benchmark", metavar="VERSION")
    pcheck.add_argument("--json", action="store_true")

    ctl = sub.add_parser("controls", help="list the controls of a CIS version")
    ctl.add_argument("--benchmark", metavar="VERSION")
    ctl.add_argument("--json", action="store_true")

    from .audit_cmd import add_audit_parser
    from .remediate_cmd import add_parser as add_remediate_parser
    from .state_cmd import add_parsers

    add_audit_parser(sub)
    add_parsers(sub)
    add_remediate_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "pattern":
            from . import pattern_cmd

            return pattern_cmd.run(args)
        if args.command == "controls":
            from . import pattern_cmd

            return pattern_cmd.run_controls(args)
        if args.command == "audit":
            from . import audit_cmd

            return audit_cmd.run(args)
        if args.command == "setup-table":
            from . import state_cmd

            return state_cmd.run_setup_table(args)
        if args.command == "remediate":
            from . import remediate_cmd

            return remediate_cmd.run(args)
        if args.command == "history":
            from . import state_cmd

            return state_cmd.run_history(args)
    except UsageError as exc:
        print(f"ciswatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    parser.error(f"unknown command {args.command!r}")
    return EXIT_USAGE
