"""``ciswatch audit``: read an account once, judge it, print the result."""

from __future__ import annotations

import json
import os
import re
import sys

from .main import EXIT_ERROR, EXIT_FAIL, EXIT_OK, UsageError

REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def add_audit_parser(sub) -> None:
    p = sub.add_parser("audit", help="audit the account's CIS monitoring controls and KMS key rotation")
    p.add_argument("--endpoint-url", metavar="URL", help="AWS endpoint (moto, LocalStack); default AWS_ENDPOINT_URL")
    p.add_argument("--profile", metavar="NAME", help="AWS profile from the shared config")
    p.add_argument("--regions", metavar="r1,r2|all", help="regions to audit (default: every enabled region)")
    p.add_argument("--benchmark", metavar="VERSION", help="CIS version (default 5.0.0)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--no-color", action="store_true", help="no ANSI colours in the table")
    p.add_argument("--table", metavar="NAME", help="DynamoDB table: record findings and transitions (see setup-table)")
    p.add_argument("--topic-arn", metavar="ARN", help="SNS topic for change digests (needs --table)")
    snap = p.add_mutually_exclusive_group()
    snap.add_argument("--save-snapshot", metavar="FILE", help="also write the raw inventory to FILE")
    snap.add_argument("--snapshot", metavar="FILE", help="judge a saved inventory offline (no AWS calls)")


def parse_regions(text: str | None) -> tuple[str, ...]:
    if not text or text.strip() == "all":
        return ()
    regions = tuple(r.strip() for r in text.split(",") if r.strip())
    bad = [r for r in regions if not REGION_RE.match(r)]
    if bad or not regions:
        raise UsageError(f"--regions: not a region name: {', '.join(bad) or text!r}")
    return regions


def resolve_benchmark_arg(value: str | None) -> str:
    from chalicelib import catalog

    try:
        return catalog.resolve_benchmark(value)
    except catalog.CatalogError as exc:
        raise UsageError(str(exc)) from None


def judge_snapshot_file(path: str, benchmark: str):
    from chalicelib.inventory.snapshot import SnapshotError, load_snapshot
    from chalicelib.pipeline import judge_snapshot

    try:
        return judge_snapshot(load_snapshot(path), benchmark)
    except SnapshotError as exc:
        raise UsageError(str(exc)) from None


def endpoint_of(args) -> str | None:
    return args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None


def settings_from_args(args, benchmark: str, regions: tuple, **extra):
    from chalicelib.settings import Settings

    return Settings.from_env().with_(
        benchmark=benchmark, regions=regions, endpoint_url=endpoint_of(args), profile=args.profile, **extra
    )


def write_output(text: str, path: str | None) -> None:
    if not path:
        sys.stdout.write(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


def run(args) -> int:
    from chalicelib.inventory.snapshot import save_snapshot

    benchmark = resolve_benchmark_arg(args.benchmark)
    regions = parse_regions(args.regions)
    if args.topic_arn and not args.table:
        raise UsageError("--topic-arn needs --table: digests announce the transitions recorded there")
    if args.table and args.snapshot:
        raise UsageError("--table records live audits only; --snapshot judges offline")
    run = None
    if args.snapshot:
        result = judge_snapshot_file(args.snapshot, benchmark)
    else:
        result, run = _live_audit(args, benchmark, regions)
        if args.save_snapshot:
            try:
                save_snapshot(result.snapshot, args.save_snapshot)
            except OSError as exc:
                raise UsageError(f"cannot write snapshot {args.save_snapshot}: {exc.strerror}") from None
    _emit(result, args, run)
    return exit_code(result)


def exit_code(result) -> int:
    summary = result.summary
    if summary["FAIL"]:
        return EXIT_FAIL
    if summary["ERROR"]:
        return EXIT_ERROR
    return EXIT_OK


def _live_audit(args, benchmark, regions):
    from chalicelib.inventory.collect import InventoryAbort
    from chalicelib.pipeline import run_audit

    settings = settings_from_args(args, benchmark, regions, table=args.table, topic_arn=args.topic_arn)
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            run = run_audit(settings, progress=_progress())
        except BotoCoreError as exc:  # e.g. a profile that does not exist
            raise UsageError(str(exc)) from None
        except ClientError as exc:  # the state table is missing or not ours to write
            raise UsageError(f"recording the run failed: {exc}") from None
        result = run.pop("result")
        return result, (run if settings.table else None)
    except InventoryAbort as exc:
        raise UsageError(str(exc)) from None
    finally:
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")


def _progress():
    if not sys.stderr.isatty():
        return None
    state = {"regions": 0, "kms": 0, "monitoring": False}

    def show(stage, value):
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


def _run_line(run) -> str:
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


def _emit(result, args, run=None) -> None:
    if run:
        print(_run_line(run), file=sys.stderr)
    if args.format == "json":
        body = result.to_json()
        if run:
            body["run"] = {k: run.get(k) for k in ("run_id", "baseline", "transitions", "notification", "state_usage")}
        text = json.dumps(body, indent=2, default=str) + "\n"
    else:
        from chalicelib.report.table import render_table

        colour = not args.no_color and not args.output and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        text = render_table(result, colour=colour)
    write_output(text, args.output)
