"""Suppressions kept in the findings table, per account (pk ``SUPPRESSIONS#<account>``).

Each item records who made it and when; removing one records who and when too, and keeps the item
(with a TTL) as the trail of what was accepted. The API's role may write these keys and no others
of the findings table besides the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..model.suppression import Suppression
from .errors import StateError
from .items import query_partition, to_wire
from .table import TTL_ATTRIBUTE

PREFIX = "SUPPRESSIONS#"


def _failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class SuppressionStore:
    def __init__(
        self, dynamodb: Any, table: str, account: str, clock: Callable[[], datetime] | None = None, keep_days: int = 400
    ):
        self.db = dynamodb
        self.table = table
        self.account = account
        self.pk = f"{PREFIX}{account}"
        self.clock = clock or (lambda: datetime.now(UTC))
        self.keep = timedelta(days=keep_days)

    def add(self, s: Suppression) -> Suppression:
        item = {
            "pk": self.pk,
            "sk": f"SUPPRESSION#{s.id}",
            **{k: v for k, v in s.to_json().items() if k not in ("id", "source")},
            "id": s.id,
        }
        self.db.put_item(TableName=self.table, Item=to_wire(item), ConditionExpression="attribute_not_exists(pk)")
        return s

    def list(self, include_removed: bool = False) -> list[Suppression]:
        items = query_partition(self.db, self.table, self.pk)
        out = []
        for i in items:
            if i.get("removed_at") and not include_removed:
                continue
            try:
                out.append(_suppression(i))
            except (KeyError, ValueError):
                continue  # an item that is not a suppression is never applied
        return sorted(out, key=lambda s: s.id)

    def remove(self, suppression_id: str, by: str | None) -> None:
        try:
            self.db.update_item(
                TableName=self.table,
                Key=to_wire({"pk": self.pk, "sk": f"SUPPRESSION#{suppression_id}"}),
                UpdateExpression="SET removed_at = :at, removed_by = :by, #ttl = :ttl",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(removed_at)",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=to_wire(
                    {
                        ":at": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
                        ":by": by or "unknown",
                        ":ttl": int((self.clock() + self.keep).timestamp()),
                    }
                ),
            )
        except ClientError as exc:
            if _failed(exc):
                raise StateError(f"no suppression {suppression_id} in account {self.account}") from None
            raise

    def mark_matched(self, ids: Iterable[str], today: date) -> None:
        """Note the day each matched (one write per suppression per day, so staleness can be told)."""
        day = today.isoformat()
        for suppression_id in sorted(ids):
            try:
                self.db.update_item(
                    TableName=self.table,
                    Key=to_wire({"pk": self.pk, "sk": f"SUPPRESSION#{suppression_id}"}),
                    UpdateExpression="SET last_matched = :d",
                    ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(last_matched) OR last_matched < :d)",
                    ExpressionAttributeValues=to_wire({":d": day}),
                )
            except ClientError as exc:
                if not _failed(exc):
                    raise


def _suppression(item: dict[str, Any]) -> Suppression:
    return Suppression(
        id=str(item["id"]),
        control=str(item["control"]),
        reason=str(item["reason"]),
        owner=str(item["owner"]),
        expires=date.fromisoformat(str(item["expires"])),
        region=item.get("region"),
        resource=item.get("resource"),
        created_by=item.get("created_by"),
        created_at=item.get("created_at"),
        last_matched=item.get("last_matched"),
        source="table",
    )
