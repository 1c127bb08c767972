"""Pure rules: how an observed status changes the stored state, and which changes are announced."""

from __future__ import annotations

from ..model import Status
from .items import Confirmation

ERROR, FAIL, NOT_APPLICABLE, PASS, WARNING = (
    Status.ERROR,
    Status.FAIL,
    Status.NOT_APPLICABLE,
    Status.PASS,
    Status.WARNING,
)

CLOSED = "CLOSED"  # the finding's resource no longer exists

NEW_FAILURE, REGRESSED, FIXED, COULD_NOT_CHECK, CHECK_RECOVERED = (
    "NEW_FAILURE",
    "REGRESSED",
    "FIXED",
    "COULD_NOT_CHECK",
    "CHECK_RECOVERED",
)
SUPPRESSION_ENDED = "SUPPRESSION_ENDED"  # an accepted deviation's suppression expired or was removed: failing again
SILENT = "SILENT"  # not a kind: a change recorded without an announcement (a suppressed finding)
KIND_TEXT = {
    SUPPRESSION_ENDED: "suppression expired",
    NEW_FAILURE: "new failure",
    REGRESSED: "regressed",
    FIXED: "fixed",
    COULD_NOT_CHECK: "could not check",
    CHECK_RECOVERED: "check recovered",
}


Change = tuple[str | None, str]


def step(stored: Confirmation | None, observed: str, confirm_runs: int) -> tuple[Confirmation, Change | None]:
    """The next confirmation state and, when it changes, the transition (from, to).

    ``stored.status`` is the confirmed status (None for a finding never confirmed); a change needs
    ``confirm_runs`` consecutive runs that agree.
    """
    stored = stored or Confirmation()
    current = stored.status
    if observed == current:
        return Confirmation(current, None, 0), None
    count = stored.pending_count + 1 if stored.pending_status == observed else 1
    if count >= max(1, confirm_runs):
        return Confirmation(observed, None, 0), (current, observed)
    return Confirmation(current, observed, count), None


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
