"""``ciswatch remediate``: from an audit, the plan that turns this account green; render it or apply it."""

from __future__ import annotations

import json
import sys

from .audit_cmd import (
    endpoint_of,
    judge_snapshot_file,
    parse_regions,
    resolve_benchmark_arg,
    settings_from_args,
    write_output,
)
from .main import EXIT_ERROR, EXIT_FAIL, EXIT_OK, UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("remediate", help="produce (or apply) exactly what turns this account green")
    p.add_argument("--format", choices=("text", "cloudformation", "json"), default="text")
    p.add_argument("--output", metavar="FILE", help="write the plan or template to FILE")
    p.add_argument(
        "--style",
        choices=("strict", "complete"),
        default="strict",
        help="strict: the string CIS published for the version (Security Hub's); complete: every event any version lists",
    )
    p.add_argument(
        "--namespace", default="CISBenchmark", help="metric namespace for new filters (default CISBenchmark)"
    )
    p.add_argument(
        "--apply", action="store_true", help="apply the plan through the AWS API (creations; changes need --yes)"
    )
    p.add_argument("--yes", action="store_true", help="with --apply: also change existing resources")
    p.add_argument(
        "--notify-email", metavar="ADDRESS", help="subscribe ADDRESS where an alarm topic lacks a confirmed subscriber"
    )
    p.add_argument("--endpoint-url", metavar="URL")
    p.add_argument("--profile", metavar="NAME")
    p.add_argument("--regions", metavar="r1,r2|all")
    p.add_argument("--benchmark", metavar="VERSION")
    p.add_argument("--snapshot", metavar="FILE", help="plan from a saved inventory (no AWS calls; not with --apply)")


def run(args) -> int:
    from chalicelib.remediation.plan import make_plan

    if args.yes and not args.apply:
        raise UsageError("--yes goes with --apply")
    if args.apply and args.snapshot:
        raise UsageError("--apply works on the live account, not on a saved --snapshot")
    if args.notify_email and "@" not in args.notify_email:
        raise UsageError(f"--notify-email: not an email address: {args.notify_email!r}")
    benchmark = resolve_benchmark_arg(args.benchmark)
    regions = parse_regions(args.regions)
    result = judge_snapshot_file(args.snapshot, benchmark) if args.snapshot else _audit(args, benchmark, regions)
    plan = make_plan(
        result.snapshot,
        result.findings,
        benchmark,
        style=args.style,
        namespace=args.namespace,
        notify_email=args.notify_email,
        home_region=(regions[0] if regions else None),
    )
    if not args.apply:
        write_output(render(plan, args.format), args.output)
        return EXIT_FAIL if plan.steps else EXIT_OK
    from .remediate_apply import apply_plan

    session = _session(args)
    print(render(plan, "text"), end="", file=sys.stderr)
    outcome = apply_plan(
        plan,
        session,
        endpoint_url=endpoint_of(args),
        include_changes=args.yes,
        log=lambda line: print(line, file=sys.stderr),
    )
    # Audit again: the proof is the next audit, not the plan.
    after = _audit(args, benchmark, regions)
    summary = {
        "applied": outcome["applied"],
        "unchanged": outcome["unchanged"],
        "skipped_changes": outcome["skipped"],
        "failed": outcome["failed"],
        "after": after.summary,
    }
    write_output(
        json.dumps(summary, indent=2) + "\n" if args.format == "json" else _apply_text(outcome, after), args.output
    )
    if outcome["failed"]:
        return EXIT_ERROR
    return EXIT_FAIL if after.summary["FAIL"] else EXIT_OK


def _session(args):
    import boto3

    return boto3.Session(profile_name=args.profile)


def _audit(args, benchmark, regions):
    from botocore.exceptions import BotoCoreError

    from chalicelib.inventory.collect import InventoryAbort
    from chalicelib.pipeline import audit

    try:
        return audit(settings_from_args(args, benchmark, regions))
    except (InventoryAbort, BotoCoreError) as exc:
        raise UsageError(str(exc)) from None


def render(plan, fmt: str) -> str:
    from chalicelib.remediation.render import step_command, to_cloudformation

    if fmt == "cloudformation":
        return to_cloudformation(plan)
    if fmt == "json":
        return json.dumps(plan.to_dict(), indent=2) + "\n"
    lines = [f"ciswatch remediation plan - account {plan.account} - CIS {plan.benchmark} - {plan.style} patterns"]
    if not plan.steps:
        lines.append("Nothing to do: no failure ciswatch can fix.")
    if plan.changes:
        lines += ["", "Changes to existing resources (applied only with --apply --yes):"]
        lines += [f"  [{s.region}] {s.why}\n      {step_command(s)}" for s in plan.changes]
    if plan.creates:
        where = f" in {plan.home_region}" if plan.home_region else ""
        lines += ["", f"To create{where} (--apply, or --format cloudformation for a template):"]
        lines += [f"  [{s.region}] {s.kind} {s.id}: {s.why}" for s in plan.creates]
    if plan.notes:
        lines += ["", "Notes:"] + [f"  {n}" for n in plan.notes]
    left = plan.unresolved
    lines += [
        "",
        f"After this plan: {len(left)} failing finding(s) left"
        + (": " + "; ".join(f"{f.cis_id} {f.control}" for f in left) if left else ""),
    ]
    return "\n".join(lines) + "\n"


def _apply_text(outcome, after) -> str:
    lines = [
        f"applied {len(outcome['applied'])}, already in place {len(outcome['unchanged'])}, "
        f"changes skipped (no --yes) {len(outcome['skipped'])}, failed {len(outcome['failed'])}"
    ]
    lines += [f"  failed: {f}" for f in outcome["failed"]]
    s = after.summary
    lines.append(
        f"audit after applying: PASS {s['PASS']}, FAIL {s['FAIL']}, WARNING {s['WARNING']}, ERROR {s['ERROR']}, N/A {s['NOT_APPLICABLE']}"
    )
    return "\n".join(lines) + "\n"
