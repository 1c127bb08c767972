"""The request ledger: what was asked (queued), and what became of it per account.

Producers write the request before they enqueue it, so `GET /runs/{run_id}` knows a run from the moment
its id is returned. The worker writes one outcome per account with conditional puts (no transactions):
a duplicate delivery finds a finished outcome and stops; a redelivery after a crash finds RUNNING and
takes the audit over. Items expire with the findings' history retention.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from ..model.request import AuditRequest, MalformedRequest
from .errors import StateError
from .items import RunItem, from_wire, query_partition, to_wire
from .table import ORGANIZATION_PK, TTL_ATTRIBUTE

LEDGER_PREFIX = "LEDGER#"
REQUEST_SK = "REQUEST"
COUNT_SK = "COUNT"  # expected and finished accounts: a small item, so counting costs one write unit
DIGEST_SK = "DIGEST"  # the run's one digest: claimed once, then what became of it
OUTCOME_PREFIX = "ACCOUNT#"
# Outcomes written for an account rather than by its audit; a real result may still replace them.
BY_DEADLINE = "deadline"  # the run's deadline passed without the account's result
BY_DEAD_LETTER = "dead-letter"  # the request failed on every attempt and reached the dead-letter queue
CLOSERS = (BY_DEADLINE, BY_DEAD_LETTER)


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
    closed_by: str | None = None  # one of CLOSERS: written for the account, not by its audit
    closes_run: bool = field(default=False, compare=False)  # this outcome was the run's last to finish

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"account": self.account, "state": str(self.state), "attempts": self.attempts}
        for name in ("started_at", "finished_at", "reason", "closed_by"):
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
    deadline: str | None = None  # when the run is closed with whatever it has (runs of many accounts)
    digest: Mapping[str, Any] | None = None  # the run's one digest, once claimed

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
            "deadline": self.deadline,
            "digest": dict(self.digest) if self.digest is not None else None,
            "accounts": [o.to_json() for o in self.outcomes],
        }

    def outcome(self, account: str) -> AccountOutcome | None:
        return next((o for o in self.outcomes if o.account == account), None)


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

    def add_request(self, request: AuditRequest, accounts: tuple[str, ...] = (), deadline: str | None = None) -> None:
        """Before the message is sent: a run id is known to the ledger as soon as anyone can see it.
        ``accounts``: every account the run covers, when it is more than the request's own."""
        item = {
            "pk": self._pk(request.run_id),
            "sk": REQUEST_SK,
            "request": request.to_message(),
            "accounts": list(accounts) or None,
            "deadline": deadline,
            TTL_ATTRIBUTE: self._expires(),
        }
        try:
            self.db.put_item(TableName=self.table, Item=to_wire(item), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if _failed(exc):
                raise StateError(f"run {request.run_id} is already in the ledger") from None
            raise
        count = {
            "pk": self._pk(request.run_id),
            "sk": COUNT_SK,
            "expected": len(accounts) or 1,
            "finished": 0,
            TTL_ATTRIBUTE: self._expires(),
        }
        self.db.put_item(TableName=self.table, Item=to_wire(count))

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
                # A message that comes after the deadline or the dead-letter queue closed the account (a
                # redrive) may still audit it.
                ConditionExpression="attribute_not_exists(pk) OR #s = :running OR attribute_exists(closed_by)",
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
        """Record the account's outcome; an outcome already AUDITED is never replaced. The returned
        outcome ``closes_run`` when it was the last of the run's accounts to finish."""
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
            old = self.db.put_item(
                TableName=self.table,
                Item=to_wire(item),
                ConditionExpression="attribute_not_exists(pk) OR #s <> :audited",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=to_wire({":audited": str(Outcome.AUDITED)}),
                ReturnValues="ALL_OLD",
            ).get("Attributes")
        except ClientError as exc:
            if not _failed(exc):
                raise
            return outcome
        was = from_wire(old).get("state") if old else None
        if was in {str(o) for o in FINISHED}:
            return outcome  # a result replacing the deadline's ERROR: the account was counted then
        return replace(outcome, closes_run=self._count_finished(request.run_id))

    def _count_finished(self, run_id: str) -> bool:
        """One more account finished (an atomic add); True when that was the last one."""
        new = self.db.update_item(
            TableName=self.table,
            Key=to_wire({"pk": self._pk(run_id), "sk": COUNT_SK}),
            UpdateExpression="ADD finished :one",
            ExpressionAttributeValues=to_wire({":one": 1}),
            ReturnValues="ALL_NEW",
        ).get("Attributes")
        counted = from_wire(new or {})
        expected, finished = counted.get("expected"), counted.get("finished")
        return isinstance(expected, int) and isinstance(finished, int) and finished == expected

    def close_pending(self, record: RunRecord, reason: str) -> list[AccountOutcome]:
        """At the deadline: every account still without a finished outcome gets an ERROR naming why (a
        finished outcome is never replaced; a later real result may replace this one)."""
        closed = []
        for account in record.pending:
            begun = record.outcome(account)
            why = reason if begun else f"{reason}; its request was never started"
            outcome = self.close_unfinished(replace(record.request, account=account), why, BY_DEADLINE, begun)
            if outcome is not None:
                closed.append(outcome)
        return closed

    def close_unfinished(
        self, request: AuditRequest, reason: str, closed_by: str, begun: AccountOutcome | None = None
    ) -> AccountOutcome | None:
        """An account's ERROR written for it, not by its audit (the deadline, the dead-letter queue): only
        where no outcome finished; a later real result may still replace it. None: it had finished."""
        item: dict[str, Any] = {
            "pk": self._pk(request.run_id),
            "sk": f"{OUTCOME_PREFIX}{request.account}",
            "state": str(Outcome.ERROR),
            "started_at": begun.started_at if begun else None,
            "finished_at": self._now(),
            "attempts": begun.attempts if begun else 0,
            "reason": reason,
            "closed_by": closed_by,
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
                return None  # it finished meanwhile
            raise
        return replace(_outcome(from_wire(to_wire(item))), closes_run=self._count_finished(request.run_id))

    def claim_digest(self, run_id: str, closed_by: str) -> bool:
        """The right to send the run's one digest: True for exactly one caller."""
        item = {"pk": self._pk(run_id), "sk": DIGEST_SK, "closed_by": closed_by, "claimed_at": self._now()}
        try:
            self.db.put_item(
                TableName=self.table,
                Item=to_wire(item | {TTL_ATTRIBUTE: self._expires()}),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _failed(exc):
                return False
            raise
        return True

    def settle_digest(self, run_id: str, result: Mapping[str, Any]) -> None:
        """What became of the run's digest (published, its message id, or the error)."""
        self.db.update_item(
            TableName=self.table,
            Key=to_wire({"pk": self._pk(run_id), "sk": DIGEST_SK}),
            UpdateExpression="SET #r = :r",
            ExpressionAttributeNames={"#r": "result"},
            ExpressionAttributeValues=to_wire({":r": dict(result)}),
        )

    def record_trend(self, record: RunRecord, closed_by: str, published: bool) -> None:
        """The closed run as one point of the Organization's trend: its accounts' outcomes and the
        finding counts of the accounts it audited, added up (what the run's digest said)."""
        states: dict[str, int] = {}
        totals: dict[str, int] = {}
        transitions = 0
        for o in record.outcomes:
            state = "PENDING" if o.closed_by else str(o.state)
            states[state] = states.get(state, 0) + 1
            if o.state is Outcome.AUDITED and not o.closed_by:
                counts = o.summary.get("counts")
                for status, n in counts.items() if isinstance(counts, Mapping) else ():
                    totals[status] = totals.get(status, 0) + int(n)
                transitions += int(o.summary.get("transitions") or 0)
        missing = len(record.pending)
        if missing:
            states["PENDING"] = states.get("PENDING", 0) + missing
        summary = {
            "run_id": record.request.run_id,
            "started_at": record.request.requested_at,
            "benchmark": record.request.benchmark,
            "closed_by": closed_by,
            "accounts": states,
            "counts": totals,
            "transitions": transitions,
            "published": published,
        }
        item = RunItem(summary, self._expires()).to_item(ORGANIZATION_PK)
        self.db.put_item(TableName=self.table, Item=to_wire(item))

    def trend(self, since_iso: str | None = None) -> list[RunItem]:
        """The Organization's closed runs, oldest first (GET /runs?organization=true, history --organization)."""
        start = f"RUN#{since_iso}" if since_iso else "RUN#"
        items, key = [], None
        while True:
            kwargs: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
                "ExpressionAttributeValues": to_wire({":pk": ORGANIZATION_PK, ":a": start, ":b": "RUN#~"}),
            }
            if key:
                kwargs["ExclusiveStartKey"] = key
            page = self.db.query(**kwargs)
            items += [RunItem.from_item(from_wire(i)) for i in page.get("Items", [])]
            key = page.get("LastEvaluatedKey")
            if not key:
                return items

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
        digest = next((i for i in items if i.get("sk") == DIGEST_SK), None)
        deadline = head.get("deadline")
        return RunRecord(
            request,
            tuple(sorted(outcomes, key=lambda o: o.account)),
            accounts,
            deadline=deadline if isinstance(deadline, str) else None,
            digest={k: v for k, v in digest.items() if k not in ("pk", "sk", TTL_ATTRIBUTE)} if digest else None,
        )


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
        closed_by=item["closed_by"] if item.get("closed_by") in CLOSERS else None,
    )
