"""The request ledger: what was asked (queued), and what became of it per account.

Producers write the request before they enqueue it, so `GET /runs/{run_id}` knows a run from the moment
its id is returned. The worker writes one outcome per account with conditional puts (no transactions):
a duplicate delivery finds a finished outcome and stops; a redelivery after a crash finds RUNNING and
takes the audit over. Items expire with the findings' history retention.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from ..model.request import AuditRequest, MalformedRequest
from .errors import StateError
from .items import query_partition, to_wire
from .table import TTL_ATTRIBUTE

LEDGER_PREFIX = "LEDGER#"
REQUEST_SK = "REQUEST"
OUTCOME_PREFIX = "ACCOUNT#"


class Outcome(StrEnum):
    RUNNING = "RUNNING"
    AUDITED = "AUDITED"
    ERROR = "ERROR"
    SKIPPED = "SKIPPED"  # not auditable (an Organization account that is not ACTIVE), with its state


FINISHED = (Outcome.AUDITED, Outcome.ERROR, Outcome.SKIPPED)


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class AccountOutcome:
    account: str
    state: Outcome
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 1
    reason: str | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"account": self.account, "state": str(self.state), "attempts": self.attempts}
        for name in ("started_at", "finished_at", "reason"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.summary:
            out["summary"] = dict(self.summary)
        return out


@dataclass(frozen=True)
class RunRecord:
    """A run as `GET /runs/{run_id}` shows it."""

    request: AuditRequest
    outcomes: tuple[AccountOutcome, ...]
    expected: tuple[str, ...] = ()  # the accounts the run covers (one, or an Organization's)

    @property
    def pending(self) -> tuple[str, ...]:
        """Accounts without a finished outcome yet (queued, running, or lost)."""
        finished = {o.account for o in self.outcomes if o.state in FINISHED}
        return tuple(a for a in (self.expected or (self.request.account,)) if a not in finished)

    @property
    def status(self) -> RunStatus:
        if not self.outcomes:
            return RunStatus.QUEUED
        if self.pending:
            return RunStatus.RUNNING
        if any(o.state is Outcome.ERROR for o in self.outcomes):
            return RunStatus.FAILED
        return RunStatus.DONE

    def to_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[str(o.state)] = counts.get(str(o.state), 0) + 1
        return {
            **self.request.to_json(),
            "status": str(self.status),
            "expected": len(self.expected or (self.request.account,)),
            "outcomes": counts,
            "pending": list(self.pending),
            "accounts": [o.to_json() for o in self.outcomes],
        }


def _failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class Ledger:
    def __init__(
        self, dynamodb: Any, table: str, retention_days: int = 400, clock: Callable[[], datetime] | None = None
    ):
        self.db = dynamodb
        self.table = table
        self.retention = timedelta(days=retention_days)
        self.clock = clock or (lambda: datetime.now(UTC))

    def _now(self) -> str:
        return self.clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _expires(self) -> int:
        return int((self.clock() + self.retention).timestamp())

    @staticmethod
    def _pk(run_id: str) -> str:
        return f"{LEDGER_PREFIX}{run_id}"

    def add_request(self, request: AuditRequest, accounts: tuple[str, ...] = ()) -> None:
        """Before the message is sent: a run id is known to the ledger as soon as anyone can see it.
        ``accounts``: every account the run covers, when it is more than the request's own."""
        item = {
            "pk": self._pk(request.run_id),
            "sk": REQUEST_SK,
            "request": request.to_message(),
            "accounts": list(accounts) or None,
            TTL_ATTRIBUTE: self._expires(),
        }
        try:
            self.db.put_item(TableName=self.table, Item=to_wire(item), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if _failed(exc):
                raise StateError(f"run {request.run_id} is already in the ledger") from None
            raise

    def skip(self, request: AuditRequest, reason: str) -> AccountOutcome:
        """An account the run covers but cannot audit (not ACTIVE): its outcome, with the reason."""
        begun = AccountOutcome(request.account, Outcome.SKIPPED, started_at=self._now(), attempts=0)
        return self.finish(request, begun, Outcome.SKIPPED, reason=reason)

    def begin(self, request: AuditRequest, attempt: int) -> AccountOutcome | None:
        """Claim the account's audit. Returns None when the run already finished for it (a duplicate)."""
        started_at = self._now()
        item = {
            "pk": self._pk(request.run_id),
            "sk": f"{OUTCOME_PREFIX}{request.account}",
            "state": str(Outcome.RUNNING),
            "started_at": started_at,
            "attempts": attempt,
            TTL_ATTRIBUTE: self._expires(),
        }
        try:
            self.db.put_item(
                TableName=self.table,
                Item=to_wire(item),
                ConditionExpression="attribute_not_exists(pk) OR #s = :running",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=to_wire({":running": str(Outcome.RUNNING)}),
            )
        except ClientError as exc:
            if _failed(exc):
                return None
            raise
        return AccountOutcome(request.account, Outcome.RUNNING, started_at=started_at, attempts=attempt)

    def finish(
        self,
        request: AuditRequest,
        begun: AccountOutcome,
        state: Outcome,
        reason: str | None = None,
        summary: Mapping[str, Any] | None = None,
    ) -> AccountOutcome:
        """Record the account's outcome; an outcome already AUDITED is never replaced."""
        outcome = AccountOutcome(
            request.account,
            state,
            started_at=begun.started_at,
            finished_at=self._now(),
            attempts=begun.attempts,
            reason=reason,
            summary=dict(summary or {}),
        )
        item: dict[str, Any] = {
            "pk": self._pk(request.run_id),
            "sk": f"{OUTCOME_PREFIX}{request.account}",
            "state": str(state),
            "started_at": outcome.started_at,
            "finished_at": outcome.finished_at,
            "attempts": outcome.attempts,
            "reason": reason,
            "summary": outcome.summary or None,
            TTL_ATTRIBUTE: self._expires(),
        }
        try:
            self.db.put_item(
                TableName=self.table,
                Item=to_wire(item),
                ConditionExpression="attribute_not_exists(pk) OR #s <> :audited",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=to_wire({":audited": str(Outcome.AUDITED)}),
            )
        except ClientError as exc:
            if not _failed(exc):
                raise
        return outcome

    def run(self, run_id: str) -> RunRecord | None:
        """The run's request and outcomes; None when the ledger does not know the run id."""
        items = query_partition(self.db, self.table, self._pk(run_id))
        head = next((i for i in items if i.get("sk") == REQUEST_SK), None)
        if head is None:
            return None
        try:
            request = AuditRequest.from_message(str(head.get("request", "")))
        except MalformedRequest as exc:
            raise StateError(f"the ledger's request item of run {run_id} cannot be read: {exc}") from None
        outcomes = tuple(_outcome(i) for i in items if str(i.get("sk", "")).startswith(OUTCOME_PREFIX))
        expected = head.get("accounts")
        accounts = tuple(str(a) for a in expected) if isinstance(expected, list) else ()
        return RunRecord(request, tuple(sorted(outcomes, key=lambda o: o.account)), accounts)


def _outcome(item: Mapping[str, Any]) -> AccountOutcome:
    raw_state = item.get("state")
    state = Outcome(raw_state) if raw_state in {str(o) for o in Outcome} else Outcome.ERROR
    summary = item.get("summary")
    attempts = item.get("attempts")
    return AccountOutcome(
        account=str(item["sk"])[len(OUTCOME_PREFIX) :],
        state=state,
        started_at=item.get("started_at"),
        finished_at=item.get("finished_at"),
        attempts=attempts if isinstance(attempts, int) else 1,
        reason=item.get("reason") if raw_state == state else f"unreadable outcome state {raw_state!r}",
        summary=summary if isinstance(summary, dict) else {},
    )
