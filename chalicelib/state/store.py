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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ..findings import FAIL, Finding
from .table import OUTBOX_INDEX, TTL_ATTRIBUTE
from .transitions import CLOSED, announcement, step

BASELINE = "BASELINE"
EVIDENCE_LIMIT = 4000
MAX_ATTEMPTS = 6
_ser, _de = TypeSerializer(), TypeDeserializer()


def now_iso(clock=None) -> str:
    return (clock or (lambda: datetime.now(UTC)))().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_item(data: dict) -> dict:
    return {k: _ser.serialize(v) for k, v in data.items() if v is not None}


def from_item(item: dict) -> dict:
    out = {k: _de.deserialize(v) for k, v in item.items()}
    for k, v in out.items():
        if hasattr(v, "as_integer_ratio") and not isinstance(v, int | float):  # Decimal
            out[k] = int(v) if v == int(v) else float(v)
    return out


def finding_sk(f: Finding) -> str:
    return f"FINDING#{f.control}#{f.resource}"


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
    estimated_write_units: int = 0  # from item sizes: what on-demand DynamoDB would bill (1 unit per KB)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, response: dict, written: int = 0, read: int = 0) -> None:
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

    def to_dict(self) -> dict:
        return {
            "read_units": round(self.read_units, 1),
            "write_units": round(self.write_units, 1),
            "items_written": self.items_written,
            "items_read": self.items_read,
            "calls": self.calls,
            "conflicts": self.conflicts,
            "unprocessed_retries": self.unprocessed_retries,
            "estimated_write_units": self.estimated_write_units,
        }

    def estimate(self, items) -> None:
        units = sum(-(-_item_size(i) // 1024) for i in items)
        with self._lock:
            self.estimated_write_units += units


@dataclass
class RecordResult:
    baseline: bool
    transitions: list
    usage: Usage


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
        dynamodb,
        table: str,
        account: str,
        retention_days: int = 400,
        confirm_runs: int = 1,
        confirm_runs_kms: int = 2,
        workers: int = 8,
        clock=None,
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
        self._seq = 0
        self._seq_lock = threading.Lock()

    # --- low-level helpers ---------------------------------------------------------------------

    def _expires(self) -> int:
        return int((self.clock() + self.retention).timestamp())

    def _query(self, written=0, **kwargs) -> list[dict]:
        items, start = [], None
        while True:
            if start:
                kwargs["ExclusiveStartKey"] = start
            resp = self.db.query(TableName=self.table, ReturnConsumedCapacity="TOTAL", **kwargs)
            self.usage.add(resp, read=len(resp.get("Items", [])))
            items.extend(from_item(i) for i in resp.get("Items", []))
            start = resp.get("LastEvaluatedKey")
            if not start:
                return items

    def _get(self, sk: str) -> dict | None:
        resp = self.db.get_item(
            TableName=self.table,
            Key=to_item({"pk": self.pk, "sk": sk}),
            ConsistentRead=True,
            ReturnConsumedCapacity="TOTAL",
        )
        self.usage.add(resp, read=1)
        return from_item(resp["Item"]) if "Item" in resp else None

    def _batch_put(self, items: list[dict]) -> None:
        """BatchWriteItem in chunks of 25; UnprocessedItems are retried with backoff."""
        for i in range(0, len(items), 25):
            self.usage.estimate(items[i : i + 25])
            pending = [{"PutRequest": {"Item": to_item(it)}} for it in items[i : i + 25]]
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
                        raise RuntimeError(
                            f"DynamoDB left {len(pending)} items unprocessed after {MAX_ATTEMPTS} retries"
                        )
                    time.sleep(min(2.0, 0.05 * 2**attempt) * random.random())

    def _next_seq(self) -> int:
        with self._seq_lock:
            self._seq += 1
            return self._seq

    # --- recording a run -----------------------------------------------------------------------

    def current(self) -> dict[str, dict]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :f)",
            ExpressionAttributeValues=to_item({":pk": self.pk, ":f": "FINDING#"}),
            ConsistentRead=True,
        )
        return {i["sk"]: i for i in items}

    def record(self, findings: list[Finding], run_id: str, closable=lambda item: True) -> RecordResult:
        """Store this run's findings; return the transitions it recorded (each exactly once)."""
        at = now_iso(self.clock)
        baseline = self._claim_baseline(run_id, at)
        stored = self.current()
        observed = {finding_sk(f): f for f in findings}
        if baseline is not None:
            return self._record_baseline(observed, stored, run_id, at, announce=baseline)
        jobs = [(sk, f, stored.get(sk)) for sk, f in observed.items()]
        jobs += [
            (sk, None, item)
            for sk, item in stored.items()
            if sk not in observed and item.get("status") not in (None, CLOSED) and closable(item)
        ]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            results = list(pool.map(lambda job: self._record_one(*job, run_id=run_id, at=at), jobs))
        transitions = [t for t in results if t]
        transitions.sort(key=lambda t: t["sk"])
        return RecordResult(False, transitions, self.usage)

    def _claim_baseline(self, run_id: str, at: str) -> bool | None:
        """None: the account has history. True: this run is the baseline. False: another run's is."""
        if self._get("META") is not None:
            return None
        try:
            resp = self.db.put_item(
                TableName=self.table,
                Item=to_item(
                    {"pk": self.pk, "sk": "META", "account": self.account, "baseline_run": run_id, "first_run_at": at}
                ),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnConsumedCapacity="TOTAL",
            )
            self.usage.add(resp, written=1)
            return True
        except ClientError as exc:
            if _conditional_failure(exc):
                self.usage.conflicts += 1
                return False
            raise

    def _finding_item(
        self, f: Finding, run_id: str, at: str, state: dict, first_seen: str, last_changed: str, rev: int
    ) -> dict:
        evidence = json.dumps(f.evidence, sort_keys=True, default=str)
        if len(evidence) > EVIDENCE_LIMIT:
            evidence = evidence[: EVIDENCE_LIMIT - 20] + "...(truncated)"
        return {
            "pk": self.pk,
            "sk": finding_sk(f),
            "account": self.account,
            "control": f.control,
            "resource": f.resource,
            "region": f.region,
            "cis_id": f.cis_id,
            "security_hub_id": f.security_hub_id,
            "severity": f.severity,
            "status": state["status"],
            "observed_status": f.status,
            "pending_status": state["pending_status"],
            "pending_count": state["pending_count"],
            "reason": f.reason,
            "remediation": f.remediation,
            "evidence": evidence,
            "first_seen": first_seen,
            "last_seen": at,
            "last_changed": last_changed,
            "run_id": run_id,
            "rev": rev,
        }

    def _record_baseline(self, observed, stored, run_id, at, announce: bool) -> RecordResult:
        new = [
            self._finding_item(
                f, run_id, at, {"status": f.status, "pending_status": None, "pending_count": 0}, at, at, 1
            )
            for sk, f in observed.items()
            if sk not in stored
        ]
        self._batch_put(new)
        if announce:
            failing = [f for f in observed.values() if f.status == FAIL]
            counts = {}
            for f in observed.values():
                counts[f.status] = counts.get(f.status, 0) + 1
            item = {
                "pk": self.pk,
                "sk": f"TRANSITION#{at}#{run_id}#baseline",
                "kind": BASELINE,
                "run_id": run_id,
                "at": at,
                "account": self.account,
                "counts": json.dumps(counts, sort_keys=True),
                "failing": json.dumps([_brief(f) for f in failing][:500]),
                "failing_total": len(failing),
                "outbox": self.pk,
                TTL_ATTRIBUTE: self._expires(),
            }
            self._batch_put([item])
            return RecordResult(True, [item], self.usage)
        return RecordResult(True, [], self.usage)

    def _record_one(self, sk: str, f: Finding | None, item: dict | None, run_id: str, at: str):
        for _ in range(MAX_ATTEMPTS):
            try:
                return self._try_record(sk, f, item, run_id, at)
            except ClientError as exc:
                if not _conditional_failure(exc):
                    raise
                self.usage.conflicts += 1
                item = self._get(sk)  # another run changed it: decide again from what it wrote
        raise RuntimeError(f"finding {sk} kept changing under concurrent runs")

    def _confirm_runs(self, control: str) -> int:
        return self.confirm_runs_kms if control == "kms_key_rotation" else self.confirm_runs

    def _try_record(self, sk: str, f: Finding | None, item: dict | None, run_id: str, at: str):
        control = f.control if f else item["control"]
        observed = f.status if f else CLOSED
        state, change = step(item, observed, self._confirm_runs(control))
        rev = (item or {}).get("rev", 0)
        condition = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if item is None
            else {"ConditionExpression": "rev = :rev", "ExpressionAttributeValues": to_item({":rev": rev})}
        )
        first_seen = (item or {}).get("first_seen", at)
        last_changed = at if change else (item or {}).get("last_changed", at)
        if f is not None:
            new_item = self._finding_item(f, run_id, at, state, first_seen, last_changed, rev + 1)
        else:
            new_item = {
                **item,
                **state,
                "observed_status": CLOSED,
                "last_seen": at,
                "last_changed": last_changed,
                "run_id": run_id,
                "rev": rev + 1,
                "reason": "the resource no longer exists",
            }
        put = {"TableName": self.table, "Item": to_item(new_item), **condition}
        self.usage.estimate([new_item])
        if not change:
            resp = self.db.put_item(ReturnConsumedCapacity="TOTAL", **put)
            self.usage.add(resp, written=1)
            return None
        transition = self._transition_item(new_item, f, change, run_id, at)
        self.usage.estimate([transition, new_item])  # transactions cost twice
        resp = self.db.transact_write_items(
            TransactItems=[
                {"Put": put},
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_item(transition),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ],
            ReturnConsumedCapacity="TOTAL",
        )
        self.usage.add(resp, written=2)
        return transition

    def _transition_item(self, finding_item: dict, f: Finding | None, change, run_id: str, at: str) -> dict:
        before, after = change
        kind = announcement(before, after)
        item = {
            "pk": self.pk,
            "sk": f"TRANSITION#{at}#{run_id}#{self._next_seq():05d}",
            "finding": finding_item["sk"],
            "account": self.account,
            "control": finding_item["control"],
            "resource": finding_item["resource"],
            "region": finding_item.get("region"),
            "cis_id": finding_item.get("cis_id"),
            "severity": finding_item.get("severity"),
            "from_status": before,
            "to_status": after,
            "kind": kind,
            "reason": finding_item.get("reason"),
            "remediation": finding_item.get("remediation"),
            "run_id": run_id,
            "at": at,
            TTL_ATTRIBUTE: self._expires(),
        }
        if kind:
            item["outbox"] = self.pk
        return item

    # --- the outbox -----------------------------------------------------------------------------

    def claim_outbox(self, run_id: str, lease_seconds: int = 300) -> list[dict]:
        """Transitions waiting to be announced that this run now owns (none that another run holds)."""
        waiting = self._query(
            IndexName=OUTBOX_INDEX,
            KeyConditionExpression="outbox = :pk",
            ExpressionAttributeValues=to_item({":pk": self.pk}),
        )
        now = self.clock()
        claimed = []
        for item in waiting:
            try:
                resp = self.db.update_item(
                    TableName=self.table,
                    Key=to_item({"pk": item["pk"], "sk": item["sk"]}),
                    UpdateExpression="SET claim = :run, claim_until = :until",
                    ConditionExpression="attribute_exists(outbox) AND (attribute_not_exists(claim) OR claim_until < :now)",
                    ExpressionAttributeValues=to_item(
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
        claimed.sort(key=lambda i: i["sk"])
        return claimed

    def mark_notified(self, items: list[dict], run_id: str, message_id: str) -> None:
        self._settle(
            items,
            run_id,
            "REMOVE outbox, claim, claim_until SET notified_at = :at, message_id = :mid",
            {":at": now_iso(self.clock), ":mid": message_id},
        )

    def release(self, items: list[dict], run_id: str) -> None:
        self._settle(items, run_id, "REMOVE claim, claim_until", {})

    def _settle(self, items, run_id, update, values) -> None:
        for item in items:
            try:
                resp = self.db.update_item(
                    TableName=self.table,
                    Key=to_item({"pk": item["pk"], "sk": item["sk"]}),
                    UpdateExpression=update,
                    ConditionExpression="claim = :run",
                    ExpressionAttributeValues=to_item({":run": run_id, **values}),
                    ReturnConsumedCapacity="TOTAL",
                )
                self.usage.add(resp, written=1)
            except ClientError as exc:
                if not _conditional_failure(exc):
                    raise
                self.usage.conflicts += 1  # the lease ran out and another run took it over

    # --- runs -----------------------------------------------------------------------------------

    def put_run(self, summary: dict) -> None:
        item = {
            "pk": self.pk,
            "sk": f"RUN#{summary['started_at']}#{summary['run_id']}",
            **summary,
            TTL_ATTRIBUTE: self._expires(),
        }
        resp = self.db.put_item(TableName=self.table, Item=to_item(_jsonable(item)), ReturnConsumedCapacity="TOTAL")
        self.usage.add(resp, written=1)

    def runs(self, since_iso: str | None = None) -> list[dict]:
        start = f"RUN#{since_iso}" if since_iso else "RUN#"
        items = self._query(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues=to_item({":pk": self.pk, ":a": start, ":b": "RUN#~"}),
        )
        return items

    def transitions(self) -> list[dict]:
        return self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :t)",
            ExpressionAttributeValues=to_item({":pk": self.pk, ":t": "TRANSITION#"}),
        )


def _item_size(item: dict) -> int:
    """DynamoDB's item size: attribute names plus values, approximated by their JSON text."""
    return sum(len(k) + len(json.dumps(v, default=str)) for k, v in item.items())


def _brief(f: Finding) -> dict:
    return {
        "control": f.control,
        "cis_id": f.cis_id,
        "severity": f.severity,
        "region": f.region,
        "resource": f.resource,
        "reason": f.reason,
        "remediation": f.remediation,
    }


def _jsonable(item: dict) -> dict:
    """Floats become strings or ints: DynamoDB numbers must not be binary floats."""
    out = {}
    for k, v in item.items():
        if isinstance(v, float):
            out[k] = str(v)
        elif isinstance(v, dict):
            out[k] = json.dumps(v, sort_keys=True)
        else:
            out[k] = v
    return out
