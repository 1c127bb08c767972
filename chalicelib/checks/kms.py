"""KMS key rotation: one finding per key, plus one control-level roll-up per account."""

from __future__ import annotations

from .. import catalog
from ..findings import ERROR, FAIL, NOT_APPLICABLE, PASS, WARNING, Finding, account_resource, rollup
from ..inventory.snapshot import error_text

MAX_PERIOD_DAYS = 365
NOT_ROTATABLE_STATES = {
    "Disabled": "the key is disabled: it cannot be used and rotation is paused until it is enabled",
    "PendingDeletion": "the key is pending deletion",
    "PendingReplicaDeletion": "the replica is pending deletion",
    "PendingImport": "the key is waiting for imported key material",
    "Unavailable": "the key's custom key store is disconnected",
    "Creating": "the key is being created; it is checked again on the next run",
    "Updating": "the key is being updated; it is checked again on the next run",
}


def check_kms(snapshot: dict, benchmark: str) -> list[Finding]:
    ctl = catalog.control("kms_key_rotation")
    if not ctl.in_benchmark(benchmark):
        return []
    account = snapshot["account"]
    findings = []
    region_errors = []
    for region in snapshot["regions"]:
        data = snapshot["kms"].get(region)
        if data is None:
            region_errors.append(f"{region}: not read")
            continue
        if data["error"]:
            region_errors.append(error_text(data["error"]))
            continue
        for key in data["keys"]:
            status, reason, remediation = _key_verdict(key)
            findings.append(
                Finding(
                    account=account,
                    control=ctl.id,
                    cis_id=ctl.cis_id(benchmark),
                    security_hub_id=ctl.security_hub,
                    status=status,
                    severity=ctl.severity(benchmark),
                    region=region,
                    resource=key["arn"] or key["key_id"],
                    reason=reason,
                    remediation=remediation,
                    evidence=_evidence(key),
                )
            )
    if snapshot.get("regions_error"):
        region_errors.insert(
            0,
            "could not list the enabled regions, only the default region was audited: "
            + error_text(snapshot["regions_error"]),
        )
    findings.append(_rollup(snapshot, ctl, benchmark, findings, region_errors))
    return findings


def _key_verdict(key):
    name = _key_name(key)
    if key["describe_error"]:
        err = key["describe_error"]
        if err["code"] in ("NotFoundException", "NotFound"):
            return NOT_APPLICABLE, f"key {name} was deleted while the audit ran", None
        return ERROR, f"could not describe key {name}: {error_text(err)}", None
    meta = key["metadata"]
    if meta.get("KeyManager") != "CUSTOMER":
        return (
            NOT_APPLICABLE,
            f"AWS managed key {name}: AWS rotates it every year and its rotation cannot be changed",
            None,
        )
    if meta.get("KeySpec") != "SYMMETRIC_DEFAULT":
        return (
            NOT_APPLICABLE,
            f"{meta.get('KeySpec')} key {name}: automatic rotation is only for symmetric encryption keys",
            None,
        )
    if meta.get("CustomKeyStoreId") or meta.get("Origin") in ("AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"):
        return NOT_APPLICABLE, f"key {name} is in a custom key store: automatic rotation is not supported", None
    if meta.get("Origin") == "EXTERNAL":
        return (
            NOT_APPLICABLE,
            f"key {name} has imported key material: it cannot rotate automatically (import new material and rotate on demand)",
            None,
        )
    state = meta.get("KeyState")
    if state != "Enabled":
        return NOT_APPLICABLE, f"key {name}: " + NOT_ROTATABLE_STATES.get(state, f"key state {state}"), None
    mrc = meta.get("MultiRegionConfiguration") or {}
    if mrc.get("MultiRegionKeyType") == "REPLICA" and key["rotation"] is None and not key["rotation_error"]:
        primary = (mrc.get("PrimaryKey") or {}).get("Arn", "its primary key")
        return (
            NOT_APPLICABLE,
            f"multi-Region replica {name}: rotation follows the primary {primary}, which has its own finding",
            None,
        )
    if key["rotation_error"]:
        return ERROR, f"could not read the rotation status of key {name}: {error_text(key['rotation_error'])}", None
    rotation = key["rotation"] or {}
    fix = f"aws kms enable-key-rotation --key-id {meta['KeyId']} --region {key['region']}"
    if mrc.get("MultiRegionKeyType") == "REPLICA":
        primary = mrc.get("PrimaryKey") or {}
        fix = f"aws kms enable-key-rotation --key-id {primary.get('Arn')} --region {primary.get('Region')}  # on the primary"
    if not rotation.get("KeyRotationEnabled"):
        return FAIL, f"customer managed key {name} does not rotate automatically", fix
    period = rotation.get("RotationPeriodInDays")
    if period and period > MAX_PERIOD_DAYS:
        return (
            WARNING,
            f"key {name} rotates only every {period} days (more than {MAX_PERIOD_DAYS})",
            fix + f" --rotation-period-in-days {MAX_PERIOD_DAYS}",
        )
    every = f" every {period} days" if period else ""
    return PASS, f"key {name} rotates automatically{every}", None


def _key_name(key) -> str:
    return f"{key['aliases'][0]} ({key['key_id']})" if key["aliases"] else key["key_id"]


def _evidence(key) -> dict:
    meta = key["metadata"] or {}
    ev = {k: meta[k] for k in ("KeyManager", "KeySpec", "Origin", "KeyState") if k in meta}
    if key["aliases"]:
        ev["aliases"] = key["aliases"]
    if key["rotation"]:
        ev["rotation"] = key["rotation"]
    return ev


def _rollup(snapshot, ctl, benchmark, key_findings, region_errors) -> Finding:
    statuses = [f.status for f in key_findings]
    counts = {s: statuses.count(s) for s in (PASS, FAIL, WARNING, ERROR, NOT_APPLICABLE)}
    in_scope = counts[PASS] + counts[FAIL] + counts[WARNING] + counts[ERROR]
    status = rollup(s for s in statuses if s != NOT_APPLICABLE)
    if region_errors and status != FAIL:
        status = ERROR
    if status is None:
        status = NOT_APPLICABLE
    parts = [f"{in_scope} customer managed key(s) that can rotate in {len(snapshot['regions'])} region(s)"]
    if counts[FAIL]:
        parts.append(f"{counts[FAIL]} do not rotate")
    if counts[WARNING]:
        parts.append(f"{counts[WARNING]} rotate less often than yearly")
    if counts[ERROR]:
        parts.append(f"{counts[ERROR]} could not be checked")
    if counts[NOT_APPLICABLE]:
        parts.append(f"{counts[NOT_APPLICABLE]} other key(s) not applicable")
    reason = "; ".join(parts)
    if region_errors:
        reason += "; could not list keys: " + "; ".join(region_errors)
    remediation = None
    if counts[FAIL]:
        remediation = (
            "enable rotation on each failing key: aws kms enable-key-rotation --key-id <key-id> --region <region>"
        )
    return Finding(
        account=snapshot["account"],
        control=ctl.id,
        cis_id=ctl.cis_id(benchmark),
        security_hub_id=ctl.security_hub,
        status=status,
        severity=ctl.severity(benchmark),
        region=None,
        resource=account_resource(snapshot.get("partition", "aws"), snapshot["account"]),
        reason=reason,
        remediation=remediation,
        evidence={"keys": counts, "region_errors": region_errors},
    )
