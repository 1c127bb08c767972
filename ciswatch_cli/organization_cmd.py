"""``ciswatch audit --organization``: every account of the Organization, in-process, with a thread pool.

The same path as the deployed fan-out without the queue: list the accounts (Organizations), assume the
member role in each (the account of the credentials is audited with them directly), audit, and record
per account when --table is given. An account that cannot be read still appears, with ERROR findings
naming why; one that is not ACTIVE appears as skipped with its state.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import organization
from chalicelib.clients import ClientFactory
from chalicelib.inventory.aws import AwsReader
from chalicelib.inventory.collect import collect_snapshot
from chalicelib.model.findings import summarize
from chalicelib.model.request import AuditRequest
from chalicelib.pipeline import judge_snapshot, run_audit
from chalicelib.runs import CLOSED_BY_LAST, new_request, organization_accounts, publish_run_digest
from chalicelib.settings import Settings
from chalicelib.state.ledger import AccountOutcome, Outcome, RunRecord

from .errors import EXIT_ERROR, EXIT_FAIL, EXIT_OK, UsageError
from .options import usage_from, write_output

STATUSES = ("PASS", "FAIL", "WARNING", "ERROR", "NOT_APPLICABLE")


def audit_organization(args: argparse.Namespace, settings: Settings) -> int:
    factory = ClientFactory(settings)
    try:
        own = str(factory.client("sts").get_caller_identity()["Account"])
        orgs = factory.client("organizations")
        org_id = str(orgs.describe_organization()["Organization"]["Id"])
        accounts = organization_accounts(settings)
        partition = factory.session.get_partition_for_region(factory.default_region)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise UsageError(
            f"listing the Organization's accounts failed ({error.get('Code')}: {error.get('Message')}); "
            "run from the management account or a delegated administrator"
        ) from None
    except BotoCoreError as exc:
        raise usage_from(exc) from None
    sts = factory.client("sts")

    # One run for the whole Organization: the trail owners' chains are read once, each account records
    # under this run id with no topic, and the run's one digest is sent at the end (as the service does).
    head = new_request(settings, own, "api")
    per_account = settings.with_(topic_arn=None)

    def one(account: organization.MemberAccount) -> dict[str, Any]:
        return _audit_account(per_account, account, own, partition, sts, head.run_id)

    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        reports = list(pool.map(one, accounts))
    totals = {s: sum(r["summary"].get(s, 0) for r in reports) for s in STATUSES}
    body = {
        "organization": org_id,
        "accounts": reports,
        "summary": {
            "accounts": len(reports),
            "audited": sum(1 for r in reports if r["outcome"] == "AUDITED"),
            "errors": sum(1 for r in reports if r["outcome"] == "ERROR"),
            "skipped": sum(1 for r in reports if r["outcome"] == "SKIPPED"),
            **totals,
        },
    }
    if settings.table and settings.topic_arn:
        body["digest"] = _send_run_digest(settings, head, reports)
    if args.format == "json":
        text = json.dumps(body, indent=2, default=str) + "\n"
    else:
        text = render_organization(body)
    write_output(text, args.output)
    if totals["FAIL"]:
        return EXIT_FAIL
    if totals["ERROR"]:
        return EXIT_ERROR
    return EXIT_OK


def _audit_account(
    settings: Settings, account: organization.MemberAccount, own: str, partition: str, sts: Any, run_id: str
) -> dict[str, Any]:
    if account.state != organization.AUDITABLE_STATE:
        return _report(account, "SKIPPED", [], f"the account is {account.state}: not audited", settings)
    try:
        reader = None
        if account.id != own:
            session = organization.member_session(
                sts, account.id, settings.member_role, partition, settings.external_id
            )
            reader = AwsReader(settings, session=session)
        snapshot = collect_snapshot(settings, reader=reader)
        snapshot = organization.with_trail_owners(settings, snapshot, run_id, own, sts, partition)
        result = judge_snapshot(snapshot, settings.benchmark)
    except organization.CannotAssume as exc:
        findings = organization.unaudited_findings(account.id, partition, settings.benchmark, str(exc))
        return _report(account, "ERROR", [f.to_dict() for f in findings], str(exc), settings, findings)
    except Exception as exc:  # noqa: BLE001 - one account's failure is its ERROR, never the others'
        reason = f"{exc.__class__.__name__}: {exc}"
        findings = organization.unaudited_findings(account.id, partition, settings.benchmark, reason)
        return _report(account, "ERROR", [f.to_dict() for f in findings], reason, settings, findings)
    report = {"outcome": "AUDITED", "name": account.name, **result.to_json()}
    if settings.table:
        run = run_audit(settings, result=result, run_id=run_id)
        report["run"] = {k: run.get(k) for k in ("run_id", "baseline", "transitions", "notification")}
    return report


def _send_run_digest(settings: Settings, head: AuditRequest, reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's one digest, from each account's outbox, with the same publisher as the service's."""
    outcomes = tuple(
        AccountOutcome(r["account"], Outcome(r["outcome"]), reason=r.get("reason") or None) for r in reports
    )
    record = RunRecord(head, outcomes, tuple(r["account"] for r in reports))
    result = publish_run_digest(settings, record, CLOSED_BY_LAST)
    return {k: v for k, v in result.items() if k in ("published", "message_id", "transitions", "error")}


def _report(
    account: organization.MemberAccount,
    outcome: str,
    findings: list[dict[str, Any]],
    reason: str,
    settings: Settings,
    typed: list[Any] | None = None,
) -> dict[str, Any]:
    summary = summarize(typed or [])
    return {
        "outcome": outcome,
        "account": account.id,
        "name": account.name,
        "reason": reason,
        "benchmark": settings.benchmark,
        "summary": {s: summary[s] for s in STATUSES},
        "findings": findings,
    }


def render_organization(body: dict[str, Any]) -> str:
    lines = [f"Organization {body['organization']}", ""]
    header = f"{'Account':<13} {'Outcome':<9} " + " ".join(f"{s[:4]:>5}" for s in STATUSES) + "  Note"
    lines.append(header)
    for r in sorted(body["accounts"], key=lambda r: r["account"]):
        counts = " ".join(f"{r['summary'].get(s, 0):>5}" for s in STATUSES)
        note = r.get("reason") or r.get("name") or ""
        lines.append(f"{r['account']:<13} {r['outcome']:<9} {counts}  {note}")
    s = body["summary"]
    lines += [
        "",
        f"{s['accounts']} accounts: {s['audited']} audited, {s['errors']} could not be audited, "
        f"{s['skipped']} skipped; findings PASS {s['PASS']}, FAIL {s['FAIL']}, WARNING {s['WARNING']}, "
        f"ERROR {s['ERROR']}, NOT_APPLICABLE {s['NOT_APPLICABLE']}",
    ]
    return "\n".join(lines) + "\n"
