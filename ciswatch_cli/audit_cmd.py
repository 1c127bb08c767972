"""``ciswatch audit``: read an account once, judge it, print the result."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.clients import ClientFactory, aws_client
from chalicelib.inventory.errors import InventoryAbort
from chalicelib.model import AccountSnapshot, SnapshotError
from chalicelib.model.suppression import Suppression
from chalicelib.pipeline import (
    AuditResult,
    apply_suppressions,
    audit,
    import_to_security_hub,
    judge_snapshot,
    run_audit,
)
from chalicelib.report.table import render_table
from chalicelib.state.store import StateStore

from . import formats
from .errors import EXIT_ERROR, EXIT_FAIL, EXIT_OK, UsageError
from .html_report import render_html
from .options import (
    parse_regions,
    resolve_benchmark_arg,
    settings_from_args,
    usage_from,
    write_output,
)
from .organization_cmd import audit_organization
from .preflight import check_regions_enabled, check_topic_arn
from .state_cmd import history_row
from .suppress_cmd import load_file


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
    if args.security_hub and args.snapshot:
        raise UsageError("--security-hub imports live audits only; --snapshot judges offline")
    wanted = parse_formats(args.format)
    if len(wanted) > 1 and not args.output_dir:
        raise UsageError("several formats need --output-dir DIR (one file each)")
    if args.output and args.output_dir:
        raise UsageError("--output writes one file; --output-dir writes one per format: choose one")
    if args.organization:
        if args.format not in ("table", "json") or args.security_hub or args.output_dir:
            raise UsageError("--organization writes a table or json (no csv, junit, asff or --security-hub yet)")
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
    accepted = load_file(args.suppressions, benchmark) if args.suppressions else []
    if args.snapshot:
        result, _ = apply_suppressions(judge_snapshot_file(args.snapshot, benchmark), accepted)
    else:
        result, recorded = _live_audit(args, benchmark, regions, accepted)
        if args.save_snapshot:
            save_snapshot(result.snapshot, args.save_snapshot)
    _emit(result, args, recorded)
    return exit_code(result)


def exit_code(result: AuditResult) -> int:
    """FAIL (1) or ERROR (3) only for findings nobody accepted: suppressed ones do not count."""
    failing = [f for f in result.findings if f.counts_as_failing]
    if any(f.status == "FAIL" for f in failing):
        return EXIT_FAIL
    if failing:
        return EXIT_ERROR
    return EXIT_OK


def _live_audit(
    args: argparse.Namespace, benchmark: str, regions: tuple[str, ...], accepted: list[Suppression]
) -> tuple[AuditResult, dict[str, Any] | None]:
    settings = settings_from_args(
        args,
        benchmark=benchmark,
        regions=regions,
        table=args.table,
        topic_arn=args.topic_arn,
        security_hub=args.security_hub,
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
        result, _ = apply_suppressions(result, accepted)
        if settings.security_hub:
            print(_security_hub_line(import_to_security_hub(settings, result, "cli", [])), file=sys.stderr)
        return result, None
    try:
        recorded = run_audit(settings, result=result, suppressions=accepted)
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
    result = recorded.pop("result")  # with the table's suppressions marked
    if "html" in parse_formats(args.format):
        try:
            store = StateStore(aws_client("dynamodb", settings, settings.state_region), settings.table, result.account)
            recorded["trend"] = [history_row(r) for r in store.runs() if r.summary.get("benchmark") == result.benchmark]
        except (ClientError, BotoCoreError) as exc:
            print(f"the trend could not be read from {settings.table}: {exc}", file=sys.stderr)
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


def _security_hub_line(outcome: dict[str, Any]) -> str:
    line = f"Security Hub ({outcome.get('region')}): {outcome['imported']} finding(s) imported"
    if outcome.get("archived"):
        line += f", {outcome['archived']} archived"
    if outcome["failed"]:
        line += f"; {outcome['failed']} NOT imported: " + "; ".join(outcome["failures"] or [outcome["error"] or ""])
    elif outcome["error"]:
        line += f"; {outcome['error']}"
    return line


FORMATS = ("table", "json", "csv", "junit", "asff", "ocsf", "html")
FILE_NAMES = {
    "table": "report.txt",
    "json": "report.json",
    "csv": "findings.csv",
    "junit": "junit.xml",
    "asff": "asff.json",
    "ocsf": "ocsf.json",
    "html": "report.html",
}


def parse_formats(text: str) -> list[str]:
    """``table,json,html`` -> the formats, checked (one run, several files, as Prowler allows)."""
    wanted = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in wanted if f not in FORMATS]
    if bad or not wanted:
        raise UsageError(f"--format: {', '.join(bad) or text!r} is not one of {', '.join(FORMATS)}")
    return list(dict.fromkeys(wanted))


def _render(fmt: str, result: AuditResult, args: argparse.Namespace, run: dict[str, Any] | None, to_file: bool) -> str:
    if fmt == "csv":
        return formats.render_csv(result)
    if fmt == "junit":
        return formats.render_junit(result)
    if fmt == "asff":
        return formats.render_asff(result, _import_region(args))
    if fmt == "ocsf":
        # Deliberate lazy import: pydantic's models load only for this format (and only it needs them).
        try:
            from .ocsf_report import render_ocsf
        except ImportError as exc:
            raise UsageError(f"--format ocsf needs py-ocsf-models: pip install 'ciswatch[reports]' ({exc})") from None
        return render_ocsf(result, _import_region(args))
    if fmt == "html":
        return render_html(result, run.get("trend") if run else None)
    if fmt == "json":
        body = result.to_json()
        if run:
            body["run"] = {k: run.get(k) for k in ("run_id", "baseline", "transitions", "notification", "state_usage")}
        return json.dumps(body, indent=2, default=str) + "\n"
    terminal = not to_file and sys.stdout.isatty()
    colour = not args.no_color and terminal and "NO_COLOR" not in os.environ
    return render_table(result, colour=colour, columns=shutil.get_terminal_size().columns if terminal else None)


def _emit(result: AuditResult, args: argparse.Namespace, run: dict[str, Any] | None = None) -> None:
    if run:
        print(_run_line(run), file=sys.stderr)
        if run.get("security_hub"):
            print(_security_hub_line(run["security_hub"]), file=sys.stderr)
    wanted = parse_formats(args.format)
    if not args.output_dir:
        (fmt,) = wanted  # checked in run(): several formats need --output-dir
        write_output(_render(fmt, result, args, run, to_file=bool(args.output)), args.output)
        return
    out = Path(args.output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--output-dir: {exc}") from None
    for fmt in wanted:
        path = out / FILE_NAMES[fmt]
        write_output(_render(fmt, result, args, run, to_file=True), str(path))
        print(f"wrote {path}", file=sys.stderr)


def _import_region(args: argparse.Namespace) -> str:
    """The region ASFF names (Security Hub's, where an import would go): the session's."""
    try:
        return str(ClientFactory(settings_from_args(args)).default_region)
    except BotoCoreError:
        return "us-east-1"
