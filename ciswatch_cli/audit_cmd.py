"""``ciswatch audit``: read an account once, judge it, print the result."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.inventory.errors import InventoryAbort
from chalicelib.model import AccountSnapshot, SnapshotError
from chalicelib.pipeline import AuditResult, audit, judge_snapshot, run_audit
from chalicelib.report.table import render_table

from .errors import EXIT_ERROR, EXIT_FAIL, EXIT_OK, UsageError
from .options import (
    parse_regions,
    resolve_benchmark_arg,
    settings_from_args,
    usage_from,
    write_output,
)
from .organization_cmd import audit_organization
from .preflight import check_regions_enabled, check_topic_arn


def load_snapshot(path: str) -> AccountSnapshot:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read snapshot {path}: {exc}") from None
    try:
        return AccountSnapshot.from_json(data)
    except SnapshotError as exc:
        raise UsageError(f"{path} is not a usable ciswatch snapshot: {exc}") from None


def save_snapshot(snapshot: AccountSnapshot, path: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(snapshot.to_json(), fh, indent=1, sort_keys=True)
    except OSError as exc:
        raise UsageError(f"cannot write snapshot {path}: {exc.strerror}") from None


def judge_snapshot_file(path: str, benchmark: str) -> AuditResult:
    return judge_snapshot(load_snapshot(path), benchmark)


def run(args: argparse.Namespace) -> int:
    benchmark = resolve_benchmark_arg(args.benchmark)
    regions = parse_regions(args.regions)
    check_topic_arn(args.topic_arn)
    if args.topic_arn and not args.table:
        raise UsageError("--topic-arn needs --table: digests announce the transitions recorded there")
    if args.table and args.snapshot:
        raise UsageError("--table records live audits only; --snapshot judges offline")
    if args.organization:
        if args.snapshot or args.save_snapshot:
            raise UsageError("--organization audits live accounts: it takes neither --snapshot nor --save-snapshot")
        if not 1 <= args.workers <= 64:
            raise UsageError("--workers must be from 1 to 64")
        settings = settings_from_args(
            args, benchmark=benchmark, regions=regions, table=args.table, topic_arn=args.topic_arn
        )
        settings = settings.with_(
            organization=True,
            member_role=args.role or settings.member_role,
            external_id=args.external_id or settings.external_id,
        )
        return audit_organization(args, settings)
    if args.role or args.external_id:
        raise UsageError("--role and --external-id go with --organization")
    recorded = None
    if args.snapshot:
        result = judge_snapshot_file(args.snapshot, benchmark)
    else:
        result, recorded = _live_audit(args, benchmark, regions)
        if args.save_snapshot:
            save_snapshot(result.snapshot, args.save_snapshot)
    _emit(result, args, recorded)
    return exit_code(result)


def exit_code(result: AuditResult) -> int:
    summary = result.summary
    if summary["FAIL"]:
        return EXIT_FAIL
    if summary["ERROR"]:
        return EXIT_ERROR
    return EXIT_OK


def _live_audit(
    args: argparse.Namespace, benchmark: str, regions: tuple[str, ...]
) -> tuple[AuditResult, dict[str, Any] | None]:
    settings = settings_from_args(
        args, benchmark=benchmark, regions=regions, table=args.table, topic_arn=args.topic_arn
    )
    check_regions_enabled(settings)
    try:
        result = audit(settings, progress=_progress())
    except InventoryAbort as exc:
        raise UsageError(str(exc)) from None
    except BotoCoreError as exc:  # e.g. a profile that does not exist
        raise usage_from(exc) from None
    finally:
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
    if not settings.table:
        return result, None
    try:
        recorded = run_audit(settings, result=result)
    except ClientError as exc:
        _emit(result, args)  # the audit is printed all the same: only recording it failed
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise UsageError(
                f"table {settings.table} does not exist, so the audit above was not recorded: "
                f"create it with `ciswatch setup-table {settings.table}`"
            ) from None
        raise UsageError(f"recording the run in table {settings.table} failed: {exc}") from None
    except BotoCoreError as exc:
        _emit(result, args)
        raise usage_from(exc) from None
    recorded.pop("result")
    return result, recorded


def _progress() -> Any:
    if not sys.stderr.isatty():
        return None
    state = {"regions": 0, "kms": 0, "monitoring": False}

    def show(stage: str, value: Any) -> None:
        if stage == "regions":
            state["regions"] = value
        elif stage == "kms":
            state["kms"] += 1
        elif stage == "monitoring":
            state["monitoring"] = True
        chain = "done" if state["monitoring"] else "reading"
        sys.stderr.write(f"\rinventory: monitoring chain {chain}, KMS {state['kms']}/{state['regions']} regions")
        sys.stderr.flush()

    return show


def _run_line(run: dict[str, Any]) -> str:
    note = run.get("notification") or {}
    if run["baseline"]:
        what = "baseline recorded"
    else:
        what = f"{run['transitions']} transition(s) recorded"
    if note.get("published"):
        what += f"; digest published ({note['transitions']} change(s), message {note['message_id']})"
    elif note.get("error"):
        what += f"; digest NOT published, kept for the next run: {note['error']}"
    elif note:
        what += "; nothing to announce"
    return f"run {run['run_id']}: {what}"


def _emit(result: AuditResult, args: argparse.Namespace, run: dict[str, Any] | None = None) -> None:
    if run:
        print(_run_line(run), file=sys.stderr)
    if args.format == "json":
        body = result.to_json()
        if run:
            body["run"] = {k: run.get(k) for k in ("run_id", "baseline", "transitions", "notification", "state_usage")}
        text = json.dumps(body, indent=2, default=str) + "\n"
    else:
        terminal = not args.output and sys.stdout.isatty()
        colour = not args.no_color and terminal and "NO_COLOR" not in os.environ
        text = render_table(result, colour=colour, columns=shutil.get_terminal_size().columns if terminal else None)
    write_output(text, args.output)
