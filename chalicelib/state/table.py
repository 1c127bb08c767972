"""The table's definition: the one source of truth for `ciswatch setup-table` and resources.json.

Items (pk = "ACCOUNT#<account id>"):
  sk = "META"                                    the account's first run (baseline marker)
  sk = "FINDING#<control>#<resource>"            current state of one finding
  sk = "RUN#<started_at>#<run id>"               one run's summary (the trend), with a TTL
  sk = "TRANSITION#<at>#<run id>#<n>"            one status change, with a TTL; while it is waiting to
                                                 be announced it carries `outbox` = pk, which puts it in
                                                 the sparse index OutboxIndex (outbox, sk)

The accounts list (pk = "ACCOUNTS"):
  sk = "ACCOUNT#<account id>"                    the account's latest run summary (GET /accounts)

The request ledger (pk = "LEDGER#<run id>", see ``ledger.py``), with a TTL:
  sk = "REQUEST"                                 the audit request as it was queued
  sk = "ACCOUNT#<account id>"                    the outcome for one account: RUNNING, AUDITED or ERROR
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OUTBOX_INDEX = "OutboxIndex"
ACCOUNTS_PK = "ACCOUNTS"
ORGANIZATION_PK = "ORGANIZATION"  # the trend of runs of many accounts: one item per closed run
TTL_ATTRIBUTE = "expires_at"

KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
    {"AttributeName": "outbox", "AttributeType": "S"},
]
GLOBAL_SECONDARY_INDEXES = [
    {
        "IndexName": OUTBOX_INDEX,
        "KeySchema": [{"AttributeName": "outbox", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }
]


def table_matches(table: Mapping[str, Any]) -> bool:
    """An existing table has the keys and the outbox index ciswatch needs."""
    indexes = {i.get("IndexName") for i in table.get("GlobalSecondaryIndexes") or []}
    return table.get("KeySchema") == KEY_SCHEMA and OUTBOX_INDEX in indexes


def create_table(dynamodb: Any, name: str, wait: bool = True) -> dict[str, Any]:
    """Create the table (on-demand) and turn on TTL. `dynamodb` is a boto3 DynamoDB client."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=ATTRIBUTE_DEFINITIONS,
        GlobalSecondaryIndexes=GLOBAL_SECONDARY_INDEXES,
        BillingMode="PAY_PER_REQUEST",
        # No SSESpecification: DynamoDB encrypts every table at rest (AWS owned key). Asking for KMS
        # encryption here would make moto create a *customer* key that then fails the rotation check.
    )
    if wait:
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )
    table: dict[str, Any] = dynamodb.describe_table(TableName=name)["Table"]
    return table
