"""Suppressions: deviations accepted on purpose, with a reason, an owner and an expiry (pure).

A suppression names a control (its id), optionally a region and a resource (exact, or a glob with
``*`` and ``?``). A suppressed finding keeps its real status and carries ``suppressed``; it does not
count toward exit codes, the digest's failing list or Security Hub FAILED. It ends on its expiry
date (inclusive: a suppression that expires on 2027-03-31 still holds that day).
"""

from __future__ import annotations

import fnmatch
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from .errors import ModelError
from .findings import Finding

STALE_AFTER = timedelta(days=30)
MAX_EXPIRY = timedelta(days=366 * 2)  # an acceptance is reviewed at least every two years
ID_RE = re.compile(r"^[0-9a-f]{12}$")


class SuppressionError(ModelError):
    """A suppression that cannot be kept as given; the message names the field."""


@dataclass(frozen=True, slots=True)
class Suppression:
    id: str
    control: str  # the control's id (callers resolve CIS numbers and Security Hub ids first)
    reason: str
    owner: str
    expires: date
    region: str | None = None
    resource: str | None = None  # exact, or a glob
    created_by: str | None = None
    created_at: str | None = None
    last_matched: str | None = None  # the last run that matched it (ISO date)
    source: str = "table"  # table | file

    def active(self, today: date) -> bool:
        return today <= self.expires

    def matches(self, f: Finding) -> bool:
        if f.control != self.control:
            return False
        if self.region is not None and (f.region or "") != self.region:
            return False
        if self.resource is not None and not fnmatch.fnmatchcase(f.resource, self.resource):
            return False
        return True

    def stale(self, today: date) -> bool:
        """Matched nothing for 30 days (or never, 30 days after it was made)."""
        seen = self.last_matched or (self.created_at or "")[:10]
        try:
            return today - date.fromisoformat(seen) > STALE_AFTER
        except ValueError:
            return False

    def note(self) -> dict[str, str]:
        return {"id": self.id, "reason": self.reason, "owner": self.owner, "expires": self.expires.isoformat()}

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "control": self.control,
            "region": self.region,
            "resource": self.resource,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat(),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "last_matched": self.last_matched,
            "source": self.source,
        }


def new_suppression(
    control: str,
    reason: str,
    owner: str,
    expires: str,
    today: date,
    region: str | None = None,
    resource: str | None = None,
    created_by: str | None = None,
    created_at: str | None = None,
    source: str = "table",
) -> Suppression:
    """Checked input -> a suppression. Raises SuppressionError naming the field."""
    for name, value, limit in (("reason", reason, 500), ("owner", owner, 200)):
        if not isinstance(value, str) or not value.strip():
            raise SuppressionError(
                f"{name}: say {'why the deviation is accepted' if name == 'reason' else 'who owns it'}"
            )
        if len(value) > limit:
            raise SuppressionError(f"{name}: at most {limit} characters")
    try:
        until = date.fromisoformat(str(expires))
    except ValueError:
        raise SuppressionError(f"expires: a date such as 2027-03-31, not {expires!r}") from None
    if until < today:
        raise SuppressionError(f"expires: {until} is in the past")
    if until - today > MAX_EXPIRY:
        raise SuppressionError(f"expires: at most {MAX_EXPIRY.days} days ahead (accepted deviations are reviewed)")
    if resource is not None and (not resource or len(resource) > 2048):
        raise SuppressionError("resource: an ARN, or a glob such as arn:aws:kms:*:*:key/*")
    return Suppression(
        id=uuid.uuid4().hex[:12],
        control=control,
        reason=reason.strip(),
        owner=owner.strip(),
        expires=until,
        region=region,
        resource=resource,
        created_by=created_by,
        created_at=created_at,
        source=source,
    )


def apply(
    findings: Iterable[Finding], suppressions: Iterable[Suppression], today: date
) -> tuple[list[Finding], set[str]]:
    """The findings with ``suppressed`` set where an active suppression matches (the first, by id);
    and the ids of the suppressions that matched something."""
    live = sorted((s for s in suppressions if s.active(today)), key=lambda s: s.id)
    matched: set[str] = set()
    out = []
    for f in findings:
        hit = next((s for s in live if s.matches(f)), None)
        if hit is not None:
            matched.add(hit.id)
            f = replace(f, suppressed=hit.note())
        out.append(f)
    return _roll_ups_follow_their_resources(out), matched


def _roll_ups_follow_their_resources(findings: list[Finding]) -> list[Finding]:
    """A control-level roll-up (KMS rotation) that fails only because of per-resource findings that
    are all suppressed is suppressed with them: accepting every failing key accepts the roll-up."""
    out = []
    for f in findings:
        if not f.is_per_resource and f.suppressed is None and f.status in ("FAIL", "ERROR"):
            failing = [r for r in findings if r.is_per_resource and r.control == f.control and r.status == f.status]
            if failing and all(r.suppressed for r in failing):
                first = failing[0].suppressed or {}
                note = dict(first)
                note["reason"] = f"every failing resource is suppressed ({len(failing)}): {first.get('reason')}"
                f = replace(f, suppressed=note)
        out.append(f)
    return out


def from_document(doc: Any, resolve_control: Any, today: date) -> list[Suppression]:
    """A suppressions file (JSON or YAML, already parsed):
    ``{"Suppressions": [{"Control", "Region"?, "Resource"?, "Reason", "Owner", "Expires"}]}``.
    Raises SuppressionError naming the entry and the field."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("Suppressions"), list):
        raise SuppressionError('the file must hold {"Suppressions": [ ... ]}')
    out = []
    for i, entry in enumerate(doc["Suppressions"]):
        where = f"Suppressions[{i}]"
        if not isinstance(entry, Mapping):
            raise SuppressionError(f"{where}: an object with Control, Reason, Owner, Expires")
        unknown = sorted(set(entry) - {"Control", "Region", "Resource", "Reason", "Owner", "Expires"})
        if unknown:
            raise SuppressionError(f"{where}.{unknown[0]}: unknown field")
        try:
            control = resolve_control(str(entry.get("Control", "")))
            region = entry.get("Region")
            made = new_suppression(
                control,
                entry.get("Reason", ""),
                entry.get("Owner", ""),
                str(entry.get("Expires", "")),
                today,
                region=None if region in (None, "*") else str(region),
                resource=None if entry.get("Resource") in (None, "*") else str(entry["Resource"]),
                source="file",
            )
        except (SuppressionError, ValueError) as exc:
            raise SuppressionError(f"{where}: {exc}") from None
        out.append(replace(made, id=f"file-{i:03d}"))
    return out


def parse_file_text(text: str, yaml_load: Any = None) -> Any:
    """JSON, or YAML when a loader is given and the text is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        if yaml_load is None:
            raise SuppressionError("the file is not JSON (install PyYAML for YAML files)") from None
        try:
            return yaml_load(text)
        except Exception as exc:  # noqa: BLE001 - any YAML error is the file's
            raise SuppressionError(f"the file is neither JSON nor YAML: {exc}") from None
