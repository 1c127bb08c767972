"""Audit requests end to end: producers put them in the ledger and on the queue; the worker runs them.

Every audit of the deployed service goes this way (the schedule and POST /audits produce, the SQS
worker consumes); the CLI audits in-process with the same pipeline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import catalog, organization
from .clients import ClientFactory, aws_client
from .inventory.aws import AwsReader
from .inventory.regions import enabled_regions
from .model.errors import one_line
from .model.request import AuditRequest
from .pipeline import new_run_id, run_audit
from .settings import NotConfigured, Settings
from .state.ledger import AccountOutcome, Ledger, Outcome, RunRecord

log = logging.getLogger("ciswatch.runs")


def ledger(settings: Settings) -> Ledger:
    if not settings.table:
        raise NotConfigured("CISWATCH_TABLE is not set")
    return Ledger(aws_client("dynamodb", settings, settings.state_region), settings.table, settings.retention_days)


def new_request(settings: Settings, account: str, trigger: str, run_id: str | None = None) -> AuditRequest:
    return AuditRequest(
        run_id=run_id or new_run_id(),
        account=account,
        regions=tuple(settings.regions),
        benchmark=catalog.resolve_benchmark(settings.benchmark),
        trigger=trigger,
        requested_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )


def enqueue(settings: Settings, request: AuditRequest) -> None:
    """The ledger first, then the queue: a run id handed out is always known to GET /runs/{run_id}."""
    if not settings.queue_url:
        raise NotConfigured("CISWATCH_QUEUE_URL is not set: this deployment has no request queue")
    ledger(settings).add_request(request)
    aws_client("sqs", settings, _queue_region(settings.queue_url)).send_message(
        QueueUrl=settings.queue_url, MessageBody=request.to_message()
    )


def enqueue_organization(settings: Settings, own_account: str, trigger: str = "schedule") -> dict[str, Any]:
    """One run for the whole Organization: one request per ACTIVE selected account (SendMessageBatch,
    10 a call); accounts that are not ACTIVE get a SKIPPED outcome naming their state."""
    if not settings.queue_url:
        raise NotConfigured("CISWATCH_QUEUE_URL is not set: this deployment has no request queue")
    accounts = organization_accounts(settings)
    head = new_request(settings, own_account, trigger)
    book = ledger(settings)
    book.add_request(head, tuple(a.id for a in accounts))
    requests, skipped = [], 0
    for account in accounts:
        request = replace(head, account=account.id)
        if account.state != organization.AUDITABLE_STATE:
            book.skip(request, f"the account is {account.state} in the Organization: not audited")
            skipped += 1
        else:
            requests.append(request)
    sqs = aws_client("sqs", settings, _queue_region(settings.queue_url))
    for start in range(0, len(requests), 10):
        batch = requests[start : start + 10]
        entries = [{"Id": str(i), "MessageBody": r.to_message()} for i, r in enumerate(batch)]
        failed = sqs.send_message_batch(QueueUrl=settings.queue_url, Entries=entries).get("Failed", [])
        for entry in failed:
            request = batch[int(entry["Id"])]
            try:
                sqs.send_message(QueueUrl=settings.queue_url, MessageBody=request.to_message())
            except (ClientError, BotoCoreError) as exc:
                begun = AccountOutcome(request.account, Outcome.RUNNING, attempts=0)
                book.finish(request, begun, Outcome.ERROR, reason=f"could not be queued: {one_line(str(exc))}")
    return {
        "run_id": head.run_id,
        "status": "queued",
        "accounts": len(accounts),
        "queued": len(requests),
        "skipped": skipped,
    }


def organization_accounts(settings: Settings) -> list[organization.MemberAccount]:
    """The accounts an Organization run covers, after the include/exclude settings."""
    orgs = aws_client("organizations", settings)
    selection = organization.Selection(
        frozenset(settings.include_accounts),
        frozenset(settings.exclude_accounts),
        frozenset(settings.include_ous),
        frozenset(settings.exclude_ous),
    )
    included = organization.accounts_under(orgs, settings.include_ous) if settings.include_ous else None
    excluded = organization.accounts_under(orgs, settings.exclude_ous) if settings.exclude_ous else None
    return organization.select(organization.list_accounts(orgs), selection, included, excluded)


def _queue_region(url: str) -> str | None:
    """https://sqs.<region>.amazonaws.com/<account>/<name> -> region; other endpoints -> the session's."""
    host = url.split("://", 1)[-1].split("/", 1)[0]
    parts = host.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "sqs" else None


def run_record(settings: Settings, run_id: str) -> RunRecord | None:
    return ledger(settings).run(run_id)


@dataclass(frozen=True)
class Handled:
    """What the worker did with one request (for its log and metrics)."""

    request: AuditRequest
    outcome: AccountOutcome | None  # None: a duplicate delivery of a finished request
    run: dict[str, Any] | None = None  # the run summary when the audit ran


def handle(settings: Settings, request: AuditRequest, attempt: int, own_account: str, sts: Any = None) -> Handled:
    """Run one request. Every expected failure becomes the account's ERROR outcome with its cause;
    only a ledger that cannot be written escapes (SQS then redelivers, and the DLQ keeps the message)."""
    book = ledger(settings)
    begun = book.begin(request, attempt)
    if begun is None:
        log.info("run %s for account %s already finished: duplicate delivery ignored", request.run_id, request.account)
        return Handled(request, None)
    try:
        run = _audit(settings, request, own_account, sts)
    except _RequestRefused as exc:
        return Handled(request, book.finish(request, begun, Outcome.ERROR, reason=str(exc)))
    except Exception as exc:  # noqa: BLE001 - the outcome names it; SQS must not retry a deterministic failure
        log.exception("run %s failed", request.run_id)
        reason = f"{exc.__class__.__name__}: {one_line(str(exc))}"
        return Handled(request, book.finish(request, begun, Outcome.ERROR, reason=reason))
    outcome = book.finish(request, begun, Outcome.AUDITED, summary=_outcome_summary(run))
    return Handled(request, outcome, run)


class _RequestRefused(Exception):
    """The request cannot be run as asked (said in the outcome, not retried)."""


def _audit(settings: Settings, request: AuditRequest, own_account: str, sts: Any = None) -> dict[str, Any]:
    try:
        benchmark = catalog.resolve_benchmark(request.benchmark)
    except catalog.CatalogError as exc:
        raise _RequestRefused(str(exc)) from None
    run_settings = settings.with_(benchmark=benchmark, regions=request.regions)
    reader = None
    if request.account != own_account:
        if not settings.organization:
            raise _RequestRefused(
                f"account {request.account} is not this function's account ({own_account}) and "
                "Organization mode is off (CISWATCH_ORGANIZATION)"
            )
        base = ClientFactory(settings)
        try:
            session = organization.member_session(
                sts or base.client("sts"),
                request.account,
                settings.member_role,
                base.session.get_partition_for_region(base.default_region),
                settings.external_id,
            )
        except organization.CannotAssume as exc:
            raise _RequestRefused(str(exc)) from None
        reader = AwsReader(run_settings, session=session)
        # Security Hub takes a finding only from the account it is about; the member role holds reads only.
        run_settings = run_settings.with_(security_hub=False)
    if request.regions:
        try:
            enabled = enabled_regions(run_settings, reader)
        except (ClientError, BotoCoreError) as exc:
            raise _RequestRefused(f"ec2:DescribeRegions failed: {one_line(str(exc))}") from None
        disabled = sorted(set(request.regions) - enabled)
        if disabled:
            raise _RequestRefused(f"region not enabled in account {request.account}: {', '.join(disabled)}")
    run = run_audit(run_settings, reader=reader, run_id=request.run_id)
    run.pop("result", None)
    run["trigger"] = request.trigger
    return run


def _outcome_summary(run: dict[str, Any]) -> dict[str, Any]:
    """What the ledger keeps of a run: counts and whether it announced anything (numbers as DynamoDB takes them)."""
    counts = run.get("counts") or {}
    note = run.get("notification") or {}
    return {
        "counts": {k: int(v) for k, v in counts.items()},
        "transitions": int(run.get("transitions", 0)),
        "baseline": bool(run.get("baseline")),
        "published": bool(note.get("published")),
        "api_calls": int(run.get("api_calls", 0)),
        "duration_s": str(run.get("duration_s", 0)),
        "regions": int(run.get("regions", 0)),
    }
