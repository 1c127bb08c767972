"""Deliver the outbox: claim, publish one digest, mark notified (or release for the next run)."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from ..model.errors import one_line
from ..state.store import StateStore
from .digest import build_digest

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
