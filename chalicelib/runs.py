"""Audit requests end to end: producers put them in the ledger and on the queue; the worker runs them.

Every audit of the deployed service goes this way (the schedule and POST /audits produce, the SQS
worker consumes); the CLI audits in-process with the same pipeline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import catalog, organization
from .clients import ClientFactory, aws_client
from .inventory.aws import AwsReader, TimeBudget
from .inventory.collect import collect_snapshot
from .inventory.regions import enabled_regions
from .model import Arn
from .model.errors import one_line
from .model.request import AuditRequest, RunDeadline
from .notify.publisher import deliver_run_digest
from .pipeline import judge_snapshot, new_run_id, run_audit
from .settings import NotConfigured, Settings
from .state.ledger import BY_DEAD_LETTER, BY_DEADLINE, AccountOutcome, Ledger, Outcome, RunRecord

# SQS holds a message back at most 15 minutes: a run's deadline timer puts itself back until it is due.
MAX_DELAY_SECONDS = 900
CLOSED_BY_LAST = "last account"

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
    head = replace(
        new_request(settings, own_account, trigger), digest_scope="account" if settings.digest_per_account else "run"
    )
    due = (_utcnow() + timedelta(minutes=settings.run_deadline_minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    book = ledger(settings)
    book.add_request(head, tuple(a.id for a in accounts), deadline=due)
    sqs = aws_client("sqs", settings, _queue_region(settings.queue_url))
    # The timer first: a run whose requests are all queued has its deadline whatever happens next.
    _send_deadline(settings, sqs, RunDeadline(head.run_id, due))
    requests, skipped, closing = [], 0, False
    for account in accounts:
        request = replace(head, account=account.id)
        if account.state != organization.AUDITABLE_STATE:
            closing |= book.skip(request, f"the account is {account.state} in the Organization: not audited").closes_run
            skipped += 1
        else:
            requests.append(request)
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
                reason = f"could not be queued: {one_line(str(exc))}"
                closing |= book.finish(request, begun, Outcome.ERROR, reason=reason).closes_run
    if closing:  # no account left to audit (all skipped or unqueued)
        close_run(settings, head.run_id, CLOSED_BY_LAST)
    return {
        "run_id": head.run_id,
        "status": "queued",
        "accounts": len(accounts),
        "queued": len(requests),
        "skipped": skipped,
        "deadline": due,
    }


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _send_deadline(settings: Settings, sqs: Any, deadline: RunDeadline, now: datetime | None = None) -> None:
    wait = (deadline.due_at() - (now or _utcnow())).total_seconds()
    delay = max(0, min(MAX_DELAY_SECONDS, int(wait) + 1))
    sqs.send_message(QueueUrl=settings.queue_url, MessageBody=deadline.to_message(), DelaySeconds=delay)


def handle_deadline(
    settings: Settings, deadline: RunDeadline, now: datetime | None = None
) -> tuple[str, dict[str, Any] | None]:
    """A run's deadline timer came back: not due yet -> back on the queue; due -> close the run (the
    accounts that never finished get an ERROR naming the deadline, and the run's digest goes out).
    Returns what happened, and what the run's digest did when this closed the run."""
    now = now or _utcnow()
    record = ledger(settings).run(deadline.run_id)
    if record is None or record.digest is not None:
        return "closed", None
    if now < deadline.due_at():
        _send_deadline(settings, aws_client("sqs", settings, _queue_region(settings.queue_url or "")), deadline, now)
        return "waiting", None
    return "closed at the deadline", close_run(settings, deadline.run_id, BY_DEADLINE)


def handle_dead_letter(settings: Settings, message: AuditRequest | RunDeadline, receives: int) -> str:
    """A message SQS gave up on (the worker crashed or timed out on every receive). A request: the
    account's ERROR says so, and counts as finished (a real result from a later redrive may replace it),
    so a run is not held until its deadline by one account. A deadline timer: the run is closed now."""
    if isinstance(message, RunDeadline):
        close_run(settings, message.run_id, BY_DEADLINE)
        return "run closed"
    reason = (
        f"the worker failed on every one of {receives} attempts (it crashed or timed out: see its log for run "
        f"{message.run_id}); the request is kept in the worker's log and was removed from the dead-letter queue"
    )
    outcome = ledger(settings).close_unfinished(message, reason, BY_DEAD_LETTER)
    if outcome is None:
        return "already finished"
    if outcome.closes_run:
        close_run(settings, message.run_id, CLOSED_BY_LAST)
    return "recorded as ERROR"


def close_run(settings: Settings, run_id: str, closed_by: str) -> dict[str, Any] | None:
    """Close a run of many accounts: at the deadline, every unfinished account becomes an ERROR naming it;
    then the run's one digest is claimed (exactly one caller wins) and published, and the run becomes a
    point of the Organization's trend. With per-account digests the accounts' outboxes are empty by then,
    so the run's digest names only the accounts not audited, if any. Returns what the digest did, or None
    when another caller closed the run (or it is one account's)."""
    book = ledger(settings)
    record = book.run(run_id)
    if record is None or not record.expected:  # one account's run: its own digest told it all
        return None
    if closed_by == BY_DEADLINE and record.pending:
        reason = (
            f"did not finish by the run's deadline ({record.deadline}): its worker timed out or failed on "
            "every attempt (then its message is in the request queue's dead-letter queue), or it is still queued"
        )
        book.close_pending(record, reason)
        record = book.run(run_id) or record
    if not book.claim_digest(run_id, closed_by):
        return None
    result = publish_run_digest(settings, record, closed_by)
    book.settle_digest(run_id, {k: v for k, v in result.items() if k != "subject"} | {"closed_by": closed_by})
    book.record_trend(record, closed_by, bool(result.get("published")))
    return result


def publish_run_digest(settings: Settings, record: RunRecord, closed_by: str) -> dict[str, Any]:
    """The run's one digest to the settings' topic (the service's close and the CLI's Organization run)."""
    if settings.table is None or not settings.topic_arn:
        return {"published": False, "error": None, "reason": "no digest topic configured"}
    return deliver_run_digest(
        dynamodb=aws_client("dynamodb", settings, settings.state_region),
        sns=aws_client("sns", settings, Arn.parse(settings.topic_arn).region),
        table=settings.table,
        topic_arn=settings.topic_arn,
        record=record,
        closed_by=closed_by,
        retention_days=settings.retention_days,
    )


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
    run_digest: dict[str, Any] | None = None  # what the run's one digest did, when this request closed the run


def handle(
    settings: Settings,
    request: AuditRequest,
    attempt: int,
    own_account: str,
    sts: Any = None,
    budget: TimeBudget | None = None,
) -> Handled:
    """Run one request. Every expected failure becomes the account's ERROR outcome with its cause;
    only a ledger that cannot be written escapes (SQS then redelivers, and the DLQ keeps the message).
    The worker that finishes a run's last account sends the run's digest."""
    book = ledger(settings)
    begun = book.begin(request, attempt)
    if begun is None:
        log.info("run %s for account %s already finished: duplicate delivery ignored", request.run_id, request.account)
        return Handled(request, None)
    run = None
    try:
        run = _audit(settings, request, own_account, sts, budget)
    except _RequestRefused as exc:
        outcome = book.finish(request, begun, Outcome.ERROR, reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - the outcome names it; SQS must not retry a deterministic failure
        log.exception("run %s failed", request.run_id)
        reason = f"{exc.__class__.__name__}: {one_line(str(exc))}"
        outcome = book.finish(request, begun, Outcome.ERROR, reason=reason)
    else:
        partial = None
        if budget is not None and budget.spent():
            partial = f"partial: the reads stopped when the time budget ({budget.seconds:.0f} s) ran out; what was not read is ERROR"
        outcome = book.finish(request, begun, Outcome.AUDITED, reason=partial, summary=_outcome_summary(run))
    closed = close_run(settings, request.run_id, CLOSED_BY_LAST) if outcome.closes_run else None
    return Handled(request, outcome, run, closed)


class _RequestRefused(Exception):
    """The request cannot be run as asked (said in the outcome, not retried)."""


def _audit(
    settings: Settings, request: AuditRequest, own_account: str, sts: Any = None, budget: TimeBudget | None = None
) -> dict[str, Any]:
    try:
        benchmark = catalog.resolve_benchmark(request.benchmark)
    except catalog.CatalogError as exc:
        raise _RequestRefused(str(exc)) from None
    run_settings = settings.with_(benchmark=benchmark, regions=request.regions)
    if request.digest_scope == "run":  # the account's changes wait in its outbox for the run's one digest
        run_settings = run_settings.with_(topic_arn=None)
    reader = AwsReader(run_settings, budget=budget)
    base = ClientFactory(settings)
    partition = base.session.get_partition_for_region(base.default_region)
    sts = sts or base.client("sts")
    if request.account != own_account:
        if not settings.organization:
            raise _RequestRefused(
                f"account {request.account} is not this function's account ({own_account}) and "
                "Organization mode is off (CISWATCH_ORGANIZATION)"
            )
        try:
            session = organization.member_session(
                sts, request.account, settings.member_role, partition, settings.external_id
            )
        except organization.CannotAssume as exc:
            raise _RequestRefused(str(exc)) from None
        reader = AwsReader(run_settings, session=session, budget=budget)
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
    result = None
    if settings.organization:  # a member of an organization trail is judged on its owner's chain
        snapshot = collect_snapshot(run_settings, reader=reader)
        snapshot = organization.with_trail_owners(
            run_settings, snapshot, request.run_id, own_account, sts, partition, budget
        )
        result = judge_snapshot(snapshot, benchmark)
    run = run_audit(run_settings, reader=reader, run_id=request.run_id, result=result)
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
        **({"outbox_waiting": int(run["outbox_waiting"])} if "outbox_waiting" in run else {}),
    }
