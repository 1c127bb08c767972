"""What every check shares: findings built from the control's catalogue entry, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..catalog import Control
from ..model import AccountSnapshot, Finding, Scope, Status
from ..model.findings import account_resource


def new_finding(
    snapshot: AccountSnapshot,
    ctl: Control,
    benchmark: str,
    status: Status,
    reason: str,
    *,
    region: str | None = None,
    resource: str | None = None,
    remediation: str | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> Finding:
    """A finding of ``ctl`` under ``benchmark``: the account itself unless a ``resource`` is named."""
    return Finding(
        account=snapshot.account,
        control=ctl.id,
        cis_id=ctl.cis_id(benchmark),
        security_hub_id=ctl.security_hub,
        status=status,
        severity=ctl.severity(benchmark),
        region=region,
        resource=resource or account_resource(snapshot.partition, snapshot.account),
        reason=reason,
        remediation=remediation,
        evidence=dict(evidence or {}),
        scope=Scope.RESOURCE if resource else Scope.CONTROL,
    )
