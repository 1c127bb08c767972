"""``ciswatch remediate``: from an audit, the plan that turns this account green; render it or apply it."""

from __future__ import annotations

import argparse
import json
import sys

from botocore.exceptions import BotoCoreError

from chalicelib.clients import ClientFactory
from chalicelib.inventory.errors import InventoryAbort
from chalicelib.pipeline import AuditResult, audit
from chalicelib.remediation.apply import apply_plan
from chalicelib.remediation.plan import Plan, make_plan
from chalicelib.remediation.steps import CreateTopic, Subscribe
from chalicelib.remediation.template import to_cloudformation

from .audit_cmd import judge_snapshot_file
from .errors import EXIT_ERROR, EXIT_FAIL, EXIT_OK, UsageError
from .options import parse_regions, resolve_benchmark_arg, settings_from_args, usage_from, write_output
from .preflight import check_regions_enabled


def run(args: argparse.Namespace) -> int:
    """Exit codes: 0 the plan was printed, or applied and the account audits green; 1 applied, and FAILs
    remain; 2 usage, or the apply was refused (declined, no terminal to ask on, a plan that cannot turn
    anything green); 3 a step failed."""
    if (args.yes or args.modify_existing) and not args.apply:
        raise UsageError("--yes and --modify-existing go with --apply")
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
        return EXIT_OK
    print(render(plan, "text"), end="", file=sys.stderr)
    refusal = apply_refusal(plan)
    if refusal:
        raise UsageError(refusal)
    confirm(plan, args)
    outcome = apply_plan(
        plan,
        ClientFactory(settings_from_args(args)),
        include_changes=args.modify_existing,
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


def apply_refusal(plan: Plan) -> str | None:
    """Why applying this plan would be wrong, before anything is created."""
    topics = [s for s in plan.steps if isinstance(s, CreateTopic)]
    subscribed = {s.topic_arn.rsplit(":", 1)[-1] for s in plan.steps if isinstance(s, Subscribe)}
    lonely = [t for t in topics if t.topic_name not in subscribed]
    if lonely:
        return (
            f"the plan creates topic {lonely[0].topic_name} with no subscriber, so no alarm would reach anyone: "
            "pass --notify-email ADDRESS (or subscribe someone to an existing topic) and run again"
        )
    return None


def confirm(plan: Plan, args: argparse.Namespace) -> None:
    """Ask on a terminal; --yes answers for scripts; without either, refuse."""
    creates, changes = len(plan.creates), len(plan.changes)
    if not plan.steps or args.yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("--apply asks before it changes the account: run it on a terminal, or add --yes")
    also = f" and change {changes} existing resource(s)" if changes and args.modify_existing else ""
    skipped = (
        f" ({changes} change(s) to existing resources are skipped without --modify-existing)"
        if changes and not args.modify_existing
        else ""
    )
    sys.stderr.write(f"Create {creates} resource(s){also} in account {plan.account}?{skipped} [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise UsageError("not applied: the plan was declined")


def _audit(args: argparse.Namespace, benchmark: str, regions: tuple[str, ...]) -> AuditResult:
    settings = settings_from_args(args, benchmark=benchmark, regions=regions)
    check_regions_enabled(settings)
    try:
        return audit(settings)
    except InventoryAbort as exc:
        raise UsageError(str(exc)) from None
    except BotoCoreError as exc:
        raise usage_from(exc) from None


def render(plan: Plan, fmt: str) -> str:
    if fmt == "cloudformation":
        return to_cloudformation(plan)
    if fmt == "json":
        return json.dumps(plan.to_dict(), indent=2) + "\n"
    lines = [f"ciswatch remediation plan - account {plan.account} - CIS {plan.benchmark} - {plan.style} patterns"]
    if not plan.steps:
        lines.append("Nothing to do: no failure ciswatch can fix.")
    if plan.changes:
        lines += ["", "Changes to existing resources (applied only with --apply --modify-existing):"]
        lines += [f"  [{s.region}] {s.why}\n      {s.command()}" for s in plan.changes]
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


def _apply_text(outcome: dict[str, list[str]], after: AuditResult) -> str:
    lines = [
        f"applied {len(outcome['applied'])}, already in place {len(outcome['unchanged'])}, "
        f"changes skipped (no --modify-existing) {len(outcome['skipped'])}, failed {len(outcome['failed'])}"
    ]
    lines += [f"  failed: {f}" for f in outcome["failed"]]
    s = after.summary
    lines.append(
        f"audit after applying: PASS {s['PASS']}, FAIL {s['FAIL']}, WARNING {s['WARNING']}, ERROR {s['ERROR']}, N/A {s['NOT_APPLICABLE']}"
    )
    return "\n".join(lines) + "\n"
