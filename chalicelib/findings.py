"""Finding, statuses, severities."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

PASS, FAIL, WARNING, ERROR, NOT_APPLICABLE = "PASS", "FAIL", "WARNING", "ERROR", "NOT_APPLICABLE"
STATUSES = (PASS, FAIL, WARNING, ERROR, NOT_APPLICABLE)
# Worst first: what a control-level roll-up of several resources reports.
ROLLUP_ORDER = (FAIL, ERROR, WARNING, PASS, NOT_APPLICABLE)


@dataclass(frozen=True)
class Finding:
    account: str
    control: str
    cis_id: str | None
    security_hub_id: str | None
    status: str
    severity: str
    region: str | None
    resource: str
    reason: str
    remediation: str | None = None
    evidence: dict = field(default_factory=dict)

    @property
    def finding_id(self) -> str:
        """Stable across runs and status changes: account, control and resource."""
        return f"{self.account}/{self.control}/{self.resource}"

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("account")
        return data


def account_resource(partition: str, account: str) -> str:
    return f"arn:{partition}:::{account}"


def rollup(statuses) -> str | None:
    present = set(statuses)
    for status in ROLLUP_ORDER:
        if status in present:
            return status
    return None


def summarize(findings) -> dict:
    summary = {s: 0 for s in STATUSES}
    summary["FAIL_HIGH"] = 0
    summary["FAIL_MEDIUM"] = 0
    for f in findings:
        summary[f.status] += 1
        if f.status == FAIL:
            summary["FAIL_HIGH" if f.severity == "HIGH" else "FAIL_MEDIUM"] += 1
    return summary


def diff_findings(before, after) -> list[dict]:
    """Status changes between two runs, by stable finding id (a finding that appears or vanishes counts)."""
    old = {f.finding_id: f for f in before}
    new = {f.finding_id: f for f in after}
    changes = []
    for fid in sorted(old.keys() | new.keys()):
        a, b = old.get(fid), new.get(fid)
        before_status = a.status if a else None
        after_status = b.status if b else None
        if before_status != after_status:
            changes.append({"finding": b or a, "from": before_status, "to": after_status})
    return changes
