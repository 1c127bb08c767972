"""Findings state in DynamoDB.

Transitions are decided by conditional writes on each finding's revision, so runs racing over one
account record each transition once; a transition is written in the same transaction as the
finding it changes. Announceable transitions wait in a sparse index (the outbox) until SNS has
accepted a digest that contains them; a run claims them first, so two runs never send the same one.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..model import Finding, Status
from ..model.conventions import KMS_ROTATION_CONTROL as KMS_CONTROL
from ..model.findings import migrated_resource
from .errors import StateError
from .items import (
    Baseline,
    Confirmation,
    FindingItem,
    Item,
    Observation,
    RunItem,
    TransitionItem,
    finding_sk,
    from_wire,
    to_wire,
)
from .scope import RunScope, ScopeVerdict, judge_scope
from .table import ACCOUNTS_PK, OUTBOX_INDEX, TTL_ATTRIBUTE
from .transitions import CLOSED, SILENT, SUPPRESSION_ENDED, Change, announcement, step

BASELINE = "BASELINE"
MAX_ATTEMPTS = 6
# A baseline still being written by another run is waited out this long; after it, that run is
# taken to have died and this run records as usual.
BASELINE_LEASE = timedelta(minutes=15)
Clock = Callable[[], datetime]


def now_iso(clock: Clock | None = None) -> str:
    return (clock or (lambda: datetime.now(UTC)))().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Usage:
    """What the run cost in DynamoDB, as DynamoDB reports it."""

    read_units: float = 0.0
    write_units: float = 0.0
    items_written: int = 0
    items_read: int = 0
    calls: int = 0
    conflicts: int = 0
    unprocessed_retries: int = 0
    unchanged: int = 0  # findings seen unchanged, therefore not written
    estimated_write_units: int = 0  # from item sizes: what on-demand DynamoDB would bill (1 unit per KB)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, response: Mapping[str, Any], written: int = 0, read: int = 0) -> None:
        consumed = response.get("ConsumedCapacity")
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        with self._lock:
            self.calls += 1
            self.items_written += written
            self.items_read += read
            for c in entries:
                self.read_units += float(c.get("ReadCapacityUnits", 0) or 0)
                self.write_units += float(c.get("WriteCapacityUnits", 0) or 0)
                if "ReadCapacityUnits" not in c and "WriteCapacityUnits" not in c:
                    # Some responses only give the total; attribute it to the kind of call.
                    if written:
                        self.write_units += float(c.get("CapacityUnits", 0) or 0)
                    else:
                        self.read_units += float(c.get("CapacityUnits", 0) or 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "read_units": round(self.read_units, 1),
            "write_units": round(self.write_units, 1),
            "items_written": self.items_written,
            "items_read": self.items_read,
            "calls": self.calls,
            "conflicts": self.conflicts,
            "unprocessed_retries": self.unprocessed_retries,
            "unchanged": self.unchanged,
            "estimated_write_units": self.estimated_write_units,
        }

    def note_unchanged(self) -> None:
        with self._lock:
            self.unchanged += 1

    def estimate(self, items: Iterable[Item]) -> None:
        units = sum(-(-_item_size(i) // 1024) for i in items)
        with self._lock:
            self.estimated_write_units += units


@dataclass
class RecordResult:
    baseline: bool
    transitions: list[TransitionItem]
    usage: Usage
    scope: ScopeVerdict = field(default_factory=lambda: ScopeVerdict(True, False))


def _conditional_failure(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = exc.response.get("CancellationReasons") or []
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons) or "ConditionalCheckFailed" in str(exc)
    return False


class StateStore:
    def __init__(
        self,
        dynamodb: Any,
        table: str,
        account: str,
        retention_days: int = 400,
        confirm_runs: int = 1,
        confirm_runs_kms: int = 2,
        workers: int = 8,
        clock: Clock | None = None,
    ):
        self.db = dynamodb
        self.table = table
        self.account = account
        self.pk = f"ACCOUNT#{account}"
        self.retention = timedelta(days=retention_days)
        self.confirm_runs = confirm_runs
        self.confirm_runs_kms = confirm_runs_kms
        self.workers = workers
        self.clock = clock or (lambda: datetime.now(UTC))
        self.usage = Usage()
        self.defects: list[str] = []  # stored items that could not be read as written: reported, then repaired
        self._seq = 0
        self._seq_lock = threading.Lock()

    # --- low-level helpers ---------------------------------------------------------------------

    def _expires(self) -> int:
        return int((self.clock() + self.retention).timestamp())

    def _query(self, **kwargs: Any) -> list[Item]:
        items: list[Item] = []
        start = None
        while True:
            if start:
                kwargs["ExclusiveStartKey"] = start
            resp = self.db.query(TableName=self.table, ReturnConsumedCapacity="TOTAL", **kwargs)
            self.usage.add(resp, read=len(resp.get("Items", [])))
            items.extend(from_wire(i) for i in resp.get("Items", []))
            start = resp.get("LastEvaluatedKey")
            if not start:
                return items

    def _get(self, sk: str) -> Item | None:
        resp = self.db.get_item(
            TableName=self.table,
            Key=to_wire({"pk": self.pk, "sk": sk}),
            ConsistentRead=True,
            ReturnConsumedCapacity="TOTAL",
        )
        self.usage.add(resp, read=1)
        return from_wire(resp["Item"]) if "Item" in resp else None

    def _batch_put(self, items: list[Item]) -> None:
        """BatchWriteItem in chunks of 25; UnprocessedItems are retried with backoff."""
        for i in range(0, len(items), 25):
            self.usage.estimate(items[i : i + 25])
            pending = [{"PutRequest": {"Item": to_wire(it)}} for it in items[i : i + 25]]
            attempt = 0
            while pending:
                resp = self.db.batch_write_item(RequestItems={self.table: pending}, ReturnConsumedCapacity="TOTAL")
                left = resp.get("UnprocessedItems", {}).get(self.table, [])
                self.usage.add(resp, written=len(pending) - len(left))
                pending = left
                if pending:
                    self.usage.unprocessed_retries += 1
                    attempt += 1
                    if attempt > MAX_ATTEMPTS:
                        raise StateError(f"DynamoDB left {len(pending)} items unprocessed after {MAX_ATTEMPTS} retries")
                    time.sleep(min(2.0, 0.05 * 2**attempt) * random.random())

    def _next_seq(self) -> int:
        with self._seq_lock:
            self._seq += 1
            return self._seq

    # --- recording a run -----------------------------------------------------------------------

    def current(self) -> dict[str, FindingItem]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :f)",
            ExpressionAttributeValues=to_wire({":pk": self.pk, ":f": "FINDING#"}),
            ConsistentRead=True,
        )
        found = [FindingItem.from_item(i) for i in items]
        for f in found:
            self.defects.extend(f"{f.sk}: {d}" for d in f.defects)
        return {f.sk: f for f in found}

    def _migrated(self, stored: dict[str, FindingItem]) -> dict[str, FindingItem]:
        """Findings stored under an old resource name are moved to the current one, with their state and
        history unchanged and nothing announced: a copy under the new key, then the old item deleted."""
        out = dict(stored)
        for sk, item in stored.items():
            new_resource = migrated_resource(item.resource)
            if new_resource is None:
                continue
            moved = replace(item, resource=new_resource)
            if moved.sk not in out:
                self._put_if_absent({**moved.to_item(), "rev": moved.rev})  # else another run moved it: it stands
                out[moved.sk] = replace(moved, stored_rev=moved.rev)
            resp = self.db.delete_item(
                TableName=self.table, Key=to_wire({"pk": self.pk, "sk": sk}), ReturnConsumedCapacity="TOTAL"
            )
            self.usage.add(resp, written=1)
            del out[sk]
        return out

    def record(
        self,
        findings: list[Finding],
        run_id: str,
        closable: Callable[[FindingItem], bool] = lambda item: True,
        scope: RunScope | None = None,
    ) -> RecordResult:
        """Store this run's findings; return the transitions it recorded (each exactly once).

        ``scope``: what the run read. A run of another benchmark than the state's records nothing; a
        partial run records only the findings of the regions it read (see ``state/scope.py``)."""
        at = now_iso(self.clock)
        meta = self._get("META")
        verdict = judge_scope(meta, scope) if scope else ScopeVerdict(True, False)
        if not verdict.recorded:
            return RecordResult(False, [], self.usage, verdict)
        if verdict.partial:
            findings = [f for f in findings if f.is_per_resource]
            observed_regions = set(scope.regions) if scope else set()
            everywhere = closable
            closable = lambda item: item.is_per_resource and item.region in observed_regions and everywhere(item)  # noqa: E731
        if meta is not None and scope is not None and "scope_benchmark" not in meta and not verdict.partial:
            self._adopt_scope(scope)  # a table from before scopes were kept takes its first full run's
        baseline = self._claim_baseline(run_id, at, meta, scope)
        stored = self._migrated(self.current())
        observed = {finding_sk(f.control, f.resource): f for f in findings}
        if baseline is not None:
            result = self._record_baseline(observed, stored, run_id, at, announce=baseline)
            result.scope = verdict
            return result
        jobs: list[tuple[str, Finding | None, FindingItem | None]] = [
            (sk, f, stored.get(sk)) for sk, f in observed.items()
        ]
        jobs += [
            (sk, None, item)
            for sk, item in stored.items()
            if sk not in observed and item.status not in (None, CLOSED) and closable(item)
        ]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            results = list(pool.map(lambda job: self._record_one(job[0], job[1], job[2], run_id, at), jobs))
        transitions = sorted((t for t in results if t), key=lambda t: t.sk)
        if not verdict.partial:
            unseen = {
                item.region or ""
                for sk, item in stored.items()
                if sk not in observed and item.status not in (None, CLOSED) and not closable(item)
            }
            self._observed(run_id, at, sorted(unseen))
        return RecordResult(False, transitions, self.usage, verdict)

    def _observed(self, run_id: str, at: str, unobserved_regions: list[str]) -> None:
        """One write for everything a complete run saw unchanged (the findings themselves are not rewritten)."""
        try:
            resp = self.db.update_item(
                TableName=self.table,
                Key=to_wire({"pk": self.pk, "sk": "META"}),
                UpdateExpression="SET observed_at = :at, observed_run = :run, unobserved_regions = :u",
                ConditionExpression="attribute_not_exists(observed_at) OR observed_at < :at",
                ExpressionAttributeValues=to_wire({":at": at, ":run": run_id, ":u": unobserved_regions}),
                ReturnConsumedCapacity="TOTAL",
            )
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise
            return  # a later run already recorded a later observation
        self.usage.add(resp, written=1)

    def observation(self) -> Observation | None:
        """What the last complete run saw (None before the first one)."""
        return Observation.from_meta(self._get("META"))

    def _adopt_scope(self, scope: RunScope) -> None:
        try:
            resp = self.db.update_item(
                TableName=self.table,
                Key=to_wire({"pk": self.pk, "sk": "META"}),
                UpdateExpression="SET scope_benchmark = :b, scope_regions = :r",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(scope_benchmark)",
                ExpressionAttributeValues=to_wire({":b": scope.benchmark, ":r": scope.meta_regions()}),
                ReturnConsumedCapacity="TOTAL",
            )
            self.usage.add(resp, written=1)
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise

    def _claim_baseline(self, run_id: str, at: str, meta: Item | None, scope: RunScope | None) -> bool | None:
        """None: the account has history. True: this run is the baseline. False: another run's is
        (claimed a moment ago, or still being written): this run records quietly, announcing nothing."""
        if meta is not None:
            return None if self._baseline_settled(meta) else False
        item: Item = {"pk": self.pk, "sk": "META", "account": self.account, "baseline_run": run_id, "first_run_at": at}
        if scope is not None:
            item.update(scope_benchmark=scope.benchmark, scope_regions=scope.meta_regions())
        return self._put_if_absent(item)

    def _put_if_absent(self, item: Item) -> bool:
        """Write the item unless its key exists; False (a counted conflict) when another run wrote it first."""
        try:
            resp = self.db.put_item(
                TableName=self.table,
                Item=to_wire(item),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnConsumedCapacity="TOTAL",
            )
        except ClientError as exc:
            if _conditional_failure(exc):
                self.usage.conflicts += 1
                return False
            raise
        self.usage.add(resp, written=1)
        return True

    def _baseline_settled(self, meta: Item) -> bool:
        if meta.get("baseline_complete") or "baseline_run" not in meta:
            return True
        try:
            started = datetime.strptime(str(meta.get("first_run_at")), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        except ValueError:
            self.defects.append(f"META has an unreadable first_run_at {meta.get('first_run_at')!r}; taken as settled")
            return True
        return self.clock() - started > BASELINE_LEASE

    def _complete_baseline(self, run_id: str) -> None:
        try:
            resp = self.db.update_item(
                TableName=self.table,
                Key=to_wire({"pk": self.pk, "sk": "META"}),
                UpdateExpression="SET baseline_complete = :yes",
                ConditionExpression="baseline_run = :run",
                ExpressionAttributeValues=to_wire({":yes": True, ":run": run_id}),
                ReturnConsumedCapacity="TOTAL",
            )
            self.usage.add(resp, written=1)
        except ClientError as exc:
            if not _conditional_failure(exc):
                raise

    def _record_baseline(
        self,
        observed: dict[str, Finding],
        stored: dict[str, FindingItem],
        run_id: str,
        at: str,
        announce: bool,
    ) -> RecordResult:
        new = [
            FindingItem.of(f, Confirmation(f.status), run_id, at, at, at, 1).to_item()
            for sk, f in observed.items()
            if sk not in stored
        ]
        self._batch_put(new)
        if not announce:
            return RecordResult(True, [], self.usage)
        failing = [f for f in observed.values() if f.status is Status.FAIL and not f.suppressed]
        counts: dict[str, int] = {}
        for f in observed.values():
            counts[f.status] = counts.get(f.status, 0) + 1
        transition = TransitionItem(
            pk=self.pk,
            sk=f"TRANSITION#{at}#{run_id}#baseline",
            account=self.account,
            kind=BASELINE,
            run_id=run_id,
            at=at,
            expires_at=self._expires(),
            announce=True,
            baseline=Baseline(counts, [_brief(f) for f in failing][:500], len(failing)),
        )
        self._batch_put([transition.to_item()])
        self._complete_baseline(run_id)
        return RecordResult(True, [transition], self.usage)

    def _record_one(
        self, sk: str, f: Finding | None, item: FindingItem | None, run_id: str, at: str
    ) -> TransitionItem | None:
        for _ in range(MAX_ATTEMPTS):
            try:
                return self._try_record(f, item, run_id, at)
            except ClientError as exc:
                if not _conditional_failure(exc):
                    raise
                self.usage.conflicts += 1
                fresh = self._get(sk)  # another run changed it: decide again from what it wrote
                item = FindingItem.from_item(fresh) if fresh else None
        raise StateError(f"finding {sk} kept changing under concurrent runs")

    def _confirm_runs(self, control: str) -> int:
        return self.confirm_runs_kms if control == KMS_CONTROL else self.confirm_runs

    def _try_record(self, f: Finding | None, item: FindingItem | None, run_id: str, at: str) -> TransitionItem | None:
        if f is None and item is None:
            raise StateError("nothing to record")
        control = f.control if f else item.control  # type: ignore[union-attr]
        observed = f.status if f else CLOSED
        confirmation, change = step(item.confirmation if item else None, observed, self._confirm_runs(control))
        rev = item.rev if item else 0
        condition: dict[str, Any]
        if item is None:
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        elif item.stored_rev is None:  # a damaged item without a revision: replace it while it still has none
            condition = {"ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(rev)"}
        else:  # compare with the revision exactly as stored, even a damaged one, so the write repairs it
            condition = {
                "ConditionExpression": "rev = :rev",
                "ExpressionAttributeValues": to_wire({":rev": item.stored_rev}),
            }
        first_seen = item.first_seen if item else at
        last_changed = at if change or item is None else item.last_changed
        if f is not None:
            new_item = FindingItem.of(f, confirmation, run_id, at, first_seen, last_changed, rev + 1)
        else:
            assert item is not None
            new_item = replace(
                item,
                confirmation=confirmation,
                observed_status=CLOSED,
                last_seen=at,
                last_changed=last_changed,
                run_id=run_id,
                rev=rev + 1,
                reason="the resource no longer exists",
            )
        kind_override: str | None = None
        if f is not None and change is not None and f.suppressed:
            kind_override = SILENT  # recorded, not announced: someone accepted this deviation
        elif f is not None and change is None and item is not None and item.suppressed and not f.suppressed:
            if confirmation.status in (Status.FAIL, Status.ERROR):
                change, kind_override = (confirmation.status, confirmation.status), SUPPRESSION_ENDED
        if not change and item is not None and new_item.unchanged_since(item):
            self.usage.note_unchanged()
            return None  # nothing to write: the run's observation (META) says it was seen
        data = new_item.to_item()
        put = {"TableName": self.table, "Item": to_wire(data), **condition}
        self.usage.estimate([data])
        if not change:
            resp = self.db.put_item(ReturnConsumedCapacity="TOTAL", **put)
            self.usage.add(resp, written=1)
            return None
        transition = self._transition(new_item, change, run_id, at, kind_override)
        self.usage.estimate([transition.to_item(), data])  # transactions cost twice
        resp = self.db.transact_write_items(
            TransactItems=[
                {"Put": put},
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_wire(transition.to_item()),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ],
            ReturnConsumedCapacity="TOTAL",
        )
        self.usage.add(resp, written=2)
        return transition

    def _transition(
        self, item: FindingItem, change: Change, run_id: str, at: str, kind_override: str | None = None
    ) -> TransitionItem:
        before, after = change
        kind = None if kind_override == SILENT else kind_override or announcement(before, after)
        return TransitionItem(
            pk=self.pk,
            sk=f"TRANSITION#{at}#{run_id}#{self._next_seq():05d}",
            account=self.account,
            kind=kind,
            run_id=run_id,
            at=at,
            expires_at=self._expires(),
            announce=kind is not None,
            finding=item.sk,
            control=item.control,
            resource=item.resource,
            region=item.region,
            cis_id=item.cis_id,
            severity=item.severity,
            from_status=before,
            to_status=after,
            reason=item.reason,
            remediation=item.remediation,
            scope=item.scope,
        )

    # --- the outbox -----------------------------------------------------------------------------

    def outbox_waiting(self) -> int:
        """How many of the account's changes wait to be announced (a count, no items read back)."""
        total, start = 0, None
        while True:
            kwargs: dict[str, Any] = {
                "IndexName": OUTBOX_INDEX,
                "KeyConditionExpression": "outbox = :pk",
                "ExpressionAttributeValues": to_wire({":pk": self.pk}),
                "Select": "COUNT",
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            resp = self.db.query(TableName=self.table, ReturnConsumedCapacity="TOTAL", **kwargs)
            self.usage.add(resp)
            total += int(resp.get("Count", 0))
            start = resp.get("LastEvaluatedKey")
            if not start:
                return total

    def claim_outbox(self, run_id: str, lease_seconds: int = 300) -> list[TransitionItem]:
        """Transitions waiting to be announced that this run now owns (none that another run holds)."""
        waiting = [
            TransitionItem.from_item(i)
            for i in self._query(
                IndexName=OUTBOX_INDEX,
                KeyConditionExpression="outbox = :pk",
                ExpressionAttributeValues=to_wire({":pk": self.pk}),
            )
        ]
        now = self.clock()
        claimed = []
        for item in waiting:
            try:
                resp = self.db.update_item(
                    TableName=self.table,
                    Key=to_wire({"pk": item.pk, "sk": item.sk}),
                    UpdateExpression="SET claim = :run, claim_until = :until",
                    ConditionExpression="attribute_exists(outbox) AND (attribute_not_exists(claim) OR claim_until < :now)",
                    ExpressionAttributeValues=to_wire(
                        {
                            ":run": run_id,
                            ":until": int((now + timedelta(seconds=lease_seconds)).timestamp()),
                            ":now": int(now.timestamp()),
                        }
                    ),
                    ReturnConsumedCapacity="TOTAL",
                )
                self.usage.add(resp, written=1)
                claimed.append(item)
            except ClientError as exc:
                if not _conditional_failure(exc):
                    raise
                self.usage.conflicts += 1
        claimed.sort(key=lambda i: i.sk)
        return claimed

    def mark_notified(self, items: list[TransitionItem], run_id: str, message_id: str) -> None:
        self._settle(
            items,
            run_id,
            "REMOVE outbox, claim, claim_until SET notified_at = :at, message_id = :mid",
            {":at": now_iso(self.clock), ":mid": message_id},
        )

    def release(self, items: list[TransitionItem], run_id: str) -> None:
        self._settle(items, run_id, "REMOVE claim, claim_until", {})

    def _settle(self, items: list[TransitionItem], run_id: str, update: str, values: dict[str, Any]) -> None:
        for item in items:
            try:
                resp = self.db.update_item(
                    TableName=self.table,
                    Key=to_wire({"pk": item.pk, "sk": item.sk}),
                    UpdateExpression=update,
                    ConditionExpression="claim = :run",
                    ExpressionAttributeValues=to_wire({":run": run_id, **values}),
                    ReturnConsumedCapacity="TOTAL",
                )
                self.usage.add(resp, written=1)
            except ClientError as exc:
                if not _conditional_failure(exc):
                    raise
                self.usage.conflicts += 1  # the lease ran out and another run took it over

    # --- runs -----------------------------------------------------------------------------------

    def put_run(self, summary: Mapping[str, Any], latest: bool = False) -> None:
        """The run's summary (the trend); with ``latest`` (a complete run of the table's benchmark), also
        the account's entry in the accounts list."""
        items = [RunItem(summary, self._expires()).to_item(self.pk)]
        if latest:
            entry = {**RunItem(summary).to_item(ACCOUNTS_PK), "sk": f"ACCOUNT#{self.account}", "account": self.account}
            entry.pop(TTL_ATTRIBUTE, None)  # an account stays listed until it is audited again
            items.append(entry)
        self._batch_put(items)

    def accounts(self) -> list[RunItem]:
        """The latest run summary of every account this table holds (GET /accounts)."""
        items = self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=to_wire({":pk": ACCOUNTS_PK}),
        )
        return [RunItem.from_item(i) for i in items]

    def runs(self, since_iso: str | None = None) -> list[RunItem]:
        start = f"RUN#{since_iso}" if since_iso else "RUN#"
        items = self._query(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues=to_wire({":pk": self.pk, ":a": start, ":b": "RUN#~"}),
        )
        return [RunItem.from_item(i) for i in items]

    def transitions(self) -> list[TransitionItem]:
        return [
            TransitionItem.from_item(i)
            for i in self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :t)",
                ExpressionAttributeValues=to_wire({":pk": self.pk, ":t": "TRANSITION#"}),
            )
        ]


def _item_size(item: Mapping[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values, approximated by their JSON text."""
    return sum(len(k) + len(json.dumps(v, default=str)) for k, v in item.items())


def _brief(f: Finding) -> dict[str, Any]:
    return {
        "control": f.control,
        "cis_id": f.cis_id,
        "severity": f.severity,
        "region": f.region,
        "resource": f.resource,
        "reason": f.reason,
        "remediation": f.remediation,
        "scope": f.scope,
    }
