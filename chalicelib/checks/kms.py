"""KMS key rotation: one finding per key, plus one control-level roll-up per account."""

from __future__ import annotations

from typing import Any

from .. import catalog
from ..catalog import Control
from ..model import AccountSnapshot, Finding, KmsKey, Problem, Status
from ..model.conventions import KMS_ROTATION_CONTROL as KMS_CONTROL
from ..model.conventions import MAX_ROTATION_PERIOD_DAYS
from ..model.findings import rollup
from ..model.rules import NotRotatable, why_not_rotatable
from .common import new_finding

NOT_ROTATABLE_STATES = {
    "Disabled": "the key is disabled: it cannot be used and rotation is paused until it is enabled",
    "PendingDeletion": "the key is pending deletion",
    "PendingReplicaDeletion": "the replica is pending deletion",
    "PendingImport": "the key is waiting for imported key material",
    "Unavailable": "the key's custom key store is disconnected",
    "Creating": "the key is being created; it is checked again on the next run",
    "Updating": "the key is being updated; it is checked again on the next run",
}
Verdict = tuple[Status, str, str | None, Problem | None]


def check_kms(snapshot: AccountSnapshot, benchmark: str) -> list[Finding]:
    ctl = catalog.control(KMS_CONTROL)
    if not ctl.in_benchmark(benchmark):
        return []
    findings = []
    region_errors = []
    blocked = []
    for region in snapshot.regions:
        data = snapshot.kms.get(region)
        if data is None:
            region_errors.append(f"{region}: not read")
            continue
        if data.error and data.error.blocked_by_scp:
            blocked.append(data.error.text())
            continue
        if data.error or data.keys is None:
            region_errors.append(data.error.text() if data.error else f"{region}: not read")
            continue
        for key in data.keys:
            status, reason, remediation, problem = _key_verdict(key)
            evidence = _evidence(key)
            if problem:
                evidence["problem"] = problem
            findings.append(
                new_finding(
                    snapshot,
                    ctl,
                    benchmark,
                    status,
                    reason,
                    region=region,
                    resource=key.arn or key.key_id,
                    remediation=remediation,
                    evidence=evidence,
                )
            )
    if snapshot.regions_error:
        region_errors.insert(
            0,
            "could not list the enabled regions, only the default region was audited: " + snapshot.regions_error.text(),
        )
    findings.append(_rollup(snapshot, ctl, benchmark, findings, region_errors, blocked))
    return findings


def _not_applicable(reason: str) -> Verdict:
    return Status.NOT_APPLICABLE, reason, None, None


def _key_verdict(key: KmsKey) -> Verdict:
    name = key.display_name
    if key.describe_error:
        err = key.describe_error
        if err.not_found:
            return _not_applicable(f"key {name} was deleted while the audit ran")
        return Status.ERROR, f"could not describe key {name}: {err.text()}", None, None
    meta = key.metadata
    if meta is None:
        return Status.ERROR, f"could not describe key {name}: not read", None, None
    why_not = why_not_rotatable(meta)
    if why_not is NotRotatable.AWS_MANAGED:
        return _not_applicable(f"AWS managed key {name}: AWS rotates it every year and its rotation cannot be changed")
    if why_not is NotRotatable.NOT_SYMMETRIC:
        return _not_applicable(f"{meta.key_spec} key {name}: automatic rotation is only for symmetric encryption keys")
    if why_not is NotRotatable.CUSTOM_KEY_STORE:
        return _not_applicable(f"key {name} is in a custom key store: automatic rotation is not supported")
    if why_not is NotRotatable.IMPORTED:
        return _not_applicable(
            f"key {name} has imported key material: it cannot rotate automatically (import new material and rotate on demand)"
        )
    if why_not is NotRotatable.NOT_ENABLED:
        state = meta.key_state
        return _not_applicable(f"key {name}: " + NOT_ROTATABLE_STATES.get(str(state), f"key state {state}"))
    replica = meta.multi_region_key_type == "REPLICA"
    if replica and key.rotation is None and not key.rotation_error:
        primary = meta.primary_key.get("Arn", "its primary key")
        return _not_applicable(
            f"multi-Region replica {name}: rotation follows the primary {primary}, which has its own finding"
        )
    if key.rotation_error and key.rotation_error.blocked_by_scp:
        return _not_applicable(f"key {name}: blocked by a service control policy: {key.rotation_error.text()}")
    if key.rotation_error:
        return (
            Status.ERROR,
            f"could not read the rotation status of key {name}: {key.rotation_error.text()}",
            None,
            None,
        )
    fix = f"aws kms enable-key-rotation --key-id {meta.key_id} --region {key.region}"
    if replica:
        primary_key = meta.primary_key
        fix = f"aws kms enable-key-rotation --key-id {primary_key.get('Arn')} --region {primary_key.get('Region')}  # on the primary"
    rotation = key.rotation
    if rotation is None or not rotation.enabled:
        return (
            Status.FAIL,
            f"customer managed key {name} does not rotate automatically",
            fix,
            Problem.KEY_ROTATION_DISABLED,
        )
    period = rotation.period_days
    if period and period > MAX_ROTATION_PERIOD_DAYS:
        return (
            Status.WARNING,
            f"key {name} rotates only every {period} days (more than {MAX_ROTATION_PERIOD_DAYS})",
            fix + f" --rotation-period-in-days {MAX_ROTATION_PERIOD_DAYS}",
            Problem.KEY_ROTATION_PERIOD_TOO_LONG,
        )
    every = f" every {period} days" if period else ""
    return Status.PASS, f"key {name} rotates automatically{every}", None, None


def _evidence(key: KmsKey) -> dict[str, Any]:
    meta = key.metadata
    ev: dict[str, Any] = {}
    if meta is not None:
        for label, value in (
            ("KeyManager", meta.key_manager),
            ("KeySpec", meta.key_spec),
            ("Origin", meta.origin),
            ("KeyState", meta.key_state),
        ):
            if value is not None:
                ev[label] = value
    if key.aliases:
        ev["aliases"] = list(key.aliases)
    if key.rotation:
        ev["rotation"] = key.rotation.to_json()
    return ev


def _rollup(
    snapshot: AccountSnapshot,
    ctl: Control,
    benchmark: str,
    key_findings: list[Finding],
    region_errors: list[str],
    blocked: list[str] | None = None,
) -> Finding:
    statuses = [f.status for f in key_findings]
    counts = {str(s): statuses.count(s) for s in Status}
    in_scope = counts[Status.PASS] + counts[Status.FAIL] + counts[Status.WARNING] + counts[Status.ERROR]
    status = rollup(s for s in statuses if s is not Status.NOT_APPLICABLE)
    if region_errors and status is not Status.FAIL:
        status = Status.ERROR
    if status is None:
        status = Status.NOT_APPLICABLE
    parts = [f"{in_scope} customer managed key(s) that can rotate in {len(snapshot.regions)} region(s)"]
    if counts[Status.FAIL]:
        parts.append(f"{counts[Status.FAIL]} do not rotate")
    if counts[Status.WARNING]:
        parts.append(f"{counts[Status.WARNING]} rotate less often than yearly")
    if counts[Status.ERROR]:
        parts.append(f"{counts[Status.ERROR]} could not be checked")
    if counts[Status.NOT_APPLICABLE]:
        parts.append(f"{counts[Status.NOT_APPLICABLE]} other key(s) not applicable")
    reason = "; ".join(parts)
    if region_errors:
        reason += "; could not list keys: " + "; ".join(region_errors)
    if blocked:
        reason += "; not applicable where a service control policy blocks KMS: " + "; ".join(blocked)
    remediation = None
    if counts[Status.FAIL]:
        remediation = (
            "enable rotation on each failing key: aws kms enable-key-rotation --key-id <key-id> --region <region>"
        )
    return new_finding(
        snapshot,
        ctl,
        benchmark,
        status,
        reason,
        remediation=remediation,
        evidence={"keys": counts, "region_errors": region_errors, **({"blocked_by_scp": blocked} if blocked else {})},
    )
