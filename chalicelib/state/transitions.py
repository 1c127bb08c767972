"""Pure rules: how an observed status changes the stored state, and which changes are announced."""

from __future__ import annotations

from ..findings import ERROR, FAIL, NOT_APPLICABLE, PASS, WARNING

CLOSED = "CLOSED"  # the finding's resource no longer exists

NEW_FAILURE, REGRESSED, FIXED, COULD_NOT_CHECK, CHECK_RECOVERED = (
    "NEW_FAILURE",
    "REGRESSED",
    "FIXED",
    "COULD_NOT_CHECK",
    "CHECK_RECOVERED",
)
KIND_TEXT = {
    NEW_FAILURE: "new failure",
    REGRESSED: "regressed",
    FIXED: "fixed",
    COULD_NOT_CHECK: "could not check",
    CHECK_RECOVERED: "check recovered",
}


def step(stored: dict | None, observed: str, confirm_runs: int) -> tuple[dict, tuple | None]:
    """The next confirmation state and, when it changes, the transition (from, to).

    ``stored`` holds ``status`` (confirmed; None for a finding never confirmed), ``pending_status``
    and ``pending_count``. A change needs ``confirm_runs`` consecutive runs that agree.
    """
    current = (stored or {}).get("status")
    if observed == current:
        return {"status": current, "pending_status": None, "pending_count": 0}, None
    count = (stored or {}).get("pending_count", 0) + 1 if (stored or {}).get("pending_status") == observed else 1
    if count >= max(1, confirm_runs):
        return {"status": observed, "pending_status": None, "pending_count": 0}, (current, observed)
    return {"status": current, "pending_status": observed, "pending_count": count}, None


def announcement(from_status: str | None, to_status: str) -> str | None:
    """The kind of change users hear about, or None for a change that is only recorded."""
    if to_status == FAIL:
        if from_status == ERROR:
            return CHECK_RECOVERED
        if from_status in (PASS, WARNING):
            return REGRESSED
        return NEW_FAILURE  # new, or was NOT_APPLICABLE / CLOSED
    if to_status == ERROR:
        return COULD_NOT_CHECK
    if from_status == ERROR:
        return CHECK_RECOVERED if to_status != NOT_APPLICABLE else None
    if from_status == FAIL and to_status in (PASS, WARNING, CLOSED):
        return FIXED
    return None  # NOT_APPLICABLE changes and quiet improvements are recorded, never announced
