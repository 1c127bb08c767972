"""Deliver the outbox: claim, publish one digest, mark notified (or release for the next run)."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from ..model.errors import one_line
from ..state.items import TransitionItem
from ..state.ledger import FINISHED, Outcome, RunRecord
from ..state.store import StateStore
from .digest import RunAccount, build_digest, build_run_digest

log = logging.getLogger("ciswatch.notify")


def deliver_outbox(
    store: StateStore, sns: Any, topic_arn: str, benchmark: str, run_id: str, scope: str | None = None
) -> dict[str, Any]:
    """At most one publish per run. A failed publish leaves the transitions for the next run."""
    claimed = store.claim_outbox(run_id)
    if not claimed:
        return {"published": False, "transitions": 0, "message_id": None, "error": None}
    digest = build_digest(store.account, benchmark, claimed, run_id, table=store.table, scope=scope)
    if digest is None:  # only claims on items that need no message: settle them quietly
        store.mark_notified(claimed, run_id, "none")
        return {"published": False, "transitions": 0, "message_id": None, "error": None}
    try:
        message_id = sns.publish(TopicArn=topic_arn, **digest)["MessageId"]
    except Exception as exc:  # noqa: BLE001 - an unreadable answer too: the digest waits for the next run
        store.release(claimed, run_id)
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
        log.warning(
            "publishing the digest to %s failed (%s); %d transition(s) wait for the next run",
            topic_arn,
            code,
            len(claimed),
        )
        return {
            "published": False,
            "transitions": len(claimed),
            "message_id": None,
            "error": one_line(f"sns:Publish failed: {code}: {exc}"),
        }
    store.mark_notified(claimed, run_id, message_id)
    return {
        "published": True,
        "transitions": len(claimed),
        "message_id": message_id,
        "error": None,
        "subject": digest["Subject"],
    }


def deliver_run_digest(
    dynamodb: Any,
    sns: Any,
    table: str,
    topic_arn: str,
    record: RunRecord,
    closed_by: str,
    retention_days: int = 400,
) -> dict[str, Any]:
    """The one digest of a run of many accounts: each account's waiting changes (its outbox) claimed
    for the run, one publish, then each settled; a failed publish releases them all for the next run."""
    run_id = record.request.run_id
    stores: dict[str, StateStore] = {}
    accounts: list[RunAccount] = []
    outcomes = {o.account: o for o in record.outcomes}
    for account in record.expected or (record.request.account,):
        outcome = outcomes.get(account)
        finished = outcome is not None and outcome.state in FINISHED and outcome.closed_by is None
        state = str(outcome.state) if outcome is not None and finished else "PENDING"
        items: list[TransitionItem] = []
        # An audited account that said nothing waits in its outbox is not read (a quiet day reads none).
        nothing_waits = outcome is not None and outcome.summary.get("outbox_waiting") == 0
        if outcome is not None and outcome.state in (Outcome.AUDITED, Outcome.ERROR) and not nothing_waits:
            stores[account] = StateStore(dynamodb, table, account, retention_days=retention_days)
            items = stores[account].claim_outbox(run_id)
        accounts.append(RunAccount(account, state, outcome.reason if outcome else None, tuple(items)))
    claimed = {a.account: list(a.items) for a in accounts if a.items}
    digest = build_run_digest(
        record.request.account, record.request.benchmark, run_id, accounts, table=table, closed_by=closed_by
    )
    counts = {s: sum(1 for a in accounts if a.state == s) for s in ("AUDITED", "ERROR", "SKIPPED", "PENDING")}
    changes = sum(len(v) for v in claimed.values())
    if digest is None:
        for account, items in claimed.items():
            stores[account].mark_notified(items, run_id, "none")
        return {"published": False, "accounts": counts, "transitions": changes, "message_id": None, "error": None}
    try:
        message_id = sns.publish(TopicArn=topic_arn, **digest)["MessageId"]
    except Exception as exc:  # noqa: BLE001 - as for one account: the changes wait for the next run's digest
        for account, items in claimed.items():
            stores[account].release(items, run_id)
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
        log.warning("publishing the run digest of %s failed (%s)", run_id, code)
        error = one_line(f"sns:Publish failed: {code}: {exc}")
        return {"published": False, "accounts": counts, "transitions": changes, "message_id": None, "error": error}
    for account, items in claimed.items():
        stores[account].mark_notified(items, run_id, message_id)
    return {
        "published": True,
        "accounts": counts,
        "transitions": changes,
        "message_id": message_id,
        "error": None,
        "subject": digest["Subject"],
    }
