"""The finding vocabulary: statuses, severities, problem codes, scopes, and the Finding record."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    WARNING = "WARNING"
    ERROR = "ERROR"
    NOT_APPLICABLE = "NOT_APPLICABLE"


class Severity(StrEnum):
    HIGH = "HIGH"  # CIS Level 1
    MEDIUM = "MEDIUM"  # CIS Level 2


class Scope(StrEnum):
    CONTROL = "control"  # one finding for the control in the account (a chain, a roll-up)
    RESOURCE = "resource"  # one finding per resource (a KMS key)


class Problem(StrEnum):
    """Why a finding is not PASS, as data: the remediation planner dispatches on it."""

    TRAILS_UNREADABLE = "trails_unreadable"
    NO_MULTI_REGION_TRAIL = "no_multi_region_trail"
    TRAIL_IN_OTHER_ACCOUNT = "trail_in_other_account"
    TRAIL_WITHOUT_CLOUDWATCH_LOGS = "trail_without_cloudwatch_logs"
    LOG_GROUP_IN_OTHER_ACCOUNT = "log_group_in_other_account"
    TRAIL_STATUS_UNREADABLE = "trail_status_unreadable"
    TRAIL_NOT_LOGGING = "trail_not_logging"
    SELECTORS_UNREADABLE = "selectors_unreadable"
    SELECTORS_INCOMPLETE = "selectors_incomplete"
    FILTERS_UNREADABLE = "filters_unreadable"
    NO_COVERING_FILTER = "no_covering_filter"
    ALARMS_UNREADABLE = "alarms_unreadable"
    NO_ALARM = "no_alarm"
    ALARM_ACTIONS_DISABLED = "alarm_actions_disabled"
    ALARM_NOT_SENSIBLE = "alarm_not_sensible"
    NO_SNS_ACTION = "no_sns_action"
    TOPIC_UNREADABLE = "topic_unreadable"
    TOPIC_MISSING = "topic_missing"
    TOPIC_KEY_UNREADABLE = "topic_key_unreadable"
    TOPIC_KEY_UNUSABLE = "topic_key_unusable"
    TOPIC_POLICY_DENIES = "topic_policy_denies"
    SUBSCRIPTIONS_UNREADABLE = "subscriptions_unreadable"
    NO_CONFIRMED_SUBSCRIPTION = "no_confirmed_subscription"
    KEY_ROTATION_DISABLED = "key_rotation_disabled"
    KEY_ROTATION_PERIOD_TOO_LONG = "key_rotation_period_too_long"


_PROBLEMS: dict[Any, Problem] = {p.value: p for p in Problem}

# Worst first: what a control-level roll-up of several resources reports.
ROLLUP_ORDER = (Status.FAIL, Status.ERROR, Status.WARNING, Status.PASS, Status.NOT_APPLICABLE)


@dataclass(frozen=True, slots=True)
class Finding:
    account: str
    control: str
    cis_id: str | None
    security_hub_id: str | None
    status: Status
    severity: Severity
    region: str | None
    resource: str
    reason: str
    remediation: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    scope: Scope = Scope.CONTROL
    # An accepted deviation: {"id", "reason", "owner", "expires"}. The status stays the real one.
    suppressed: Mapping[str, str] | None = None

    @property
    def counts_as_failing(self) -> bool:
        """FAIL or ERROR that nobody accepted: what exit codes, digests' failing lists and Security Hub count."""
        return self.status in (Status.FAIL, Status.ERROR) and self.suppressed is None

    @property
    def finding_id(self) -> str:
        """Stable across runs and status changes: account, control and resource."""
        return f"{self.account}/{self.control}/{self.resource}"

    @property
    def problem(self) -> Problem | None:
        return _PROBLEMS.get(self.evidence.get("problem"))

    @property
    def is_per_resource(self) -> bool:
        return self.scope is Scope.RESOURCE

    def to_dict(self) -> dict[str, Any]:
        """The JSON report's shape of a finding (no account: the report names it once)."""
        return {
            "control": self.control,
            "cis_id": self.cis_id,
            "security_hub_id": self.security_hub_id,
            "status": str(self.status),
            "severity": str(self.severity),
            "region": self.region,
            "resource": self.resource,
            "reason": self.reason,
            "remediation": self.remediation,
            "evidence": dict(self.evidence),
            "scope": str(self.scope),
            **({"suppressed": dict(self.suppressed)} if self.suppressed else {}),
        }


def account_resource(partition: str, account: str) -> str:
    """The resource name of an account-level finding: the account as Security Hub names it
    (``AWS::::Account:<id>``; every partition spells it so). Earlier versions wrote the invalid ARN
    ``arn:<partition>:::<id>``; stored findings named so are renamed on the next run
    (see ``migrated_resource``)."""
    del partition  # the account's name is the same in every partition
    return f"AWS::::Account:{account}"


_LEGACY_ACCOUNT = re.compile(r"^arn:[a-z-]+:::(\d{12})$")


def migrated_resource(resource: str) -> str | None:
    """The current name of a resource stored under an old one (None: the name is current)."""
    legacy = _LEGACY_ACCOUNT.match(resource)
    return f"AWS::::Account:{legacy.group(1)}" if legacy else None


def rollup(statuses: Iterable[Status]) -> Status | None:
    present = set(statuses)
    for status in ROLLUP_ORDER:
        if status in present:
            return status
    return None


def summarize(findings: Iterable[Finding]) -> dict[str, int]:
    summary = {str(s): 0 for s in Status}
    summary["FAIL_HIGH"] = 0
    summary["FAIL_MEDIUM"] = 0
    for f in findings:
        summary[f.status] += 1
        if f.status is Status.FAIL:
            summary["FAIL_HIGH" if f.severity is Severity.HIGH else "FAIL_MEDIUM"] += 1
    return summary


def diff_findings(before: Iterable[Finding], after: Iterable[Finding]) -> list[dict[str, Any]]:
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
