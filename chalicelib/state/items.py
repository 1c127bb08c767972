"""The table's items as typed records: nested JSON decoded once, here, on the way in and out.

The attribute names are the table's (see ``table.py``); items written by earlier versions read the
same. Conversion to DynamoDB's wire format lives here too (``to_wire``/``from_wire``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from ..model import Finding, Scope, Status
from ..model.conventions import KMS_ROTATION_CONTROL
from .table import TTL_ATTRIBUTE

EVIDENCE_LIMIT = 4000
KNOWN_STATUSES = frozenset({*(str(s) for s in Status), "CLOSED"})
_ser, _de = TypeSerializer(), TypeDeserializer()
Item = dict[str, Any]


def to_wire(data: Mapping[str, Any]) -> dict[str, Any]:
    """A plain item -> DynamoDB's typed JSON (None attributes are left out)."""
    return {k: _ser.serialize(v) for k, v in data.items() if v is not None}


def query_partition(dynamodb: Any, table: str, pk: str) -> list[Item]:
    """Every item of one partition, page after page (strongly consistent)."""
    items: list[Item] = []
    start = None
    while True:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_wire({":pk": pk}),
            "ConsistentRead": True,
        }
        if start:
            kwargs["ExclusiveStartKey"] = start
        resp = dynamodb.query(**kwargs)
        items.extend(from_wire(i) for i in resp.get("Items", []))
        start = resp.get("LastEvaluatedKey")
        if not start:
            return items


def from_wire(item: Mapping[str, Any]) -> Item:
    return {k: _plain(_de.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    """DynamoDB's numbers as Python's (whole ones as int), in maps and lists too."""
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _bounded_evidence(evidence: dict[str, Any]) -> str:
    """The evidence as JSON text of at most EVIDENCE_LIMIT characters that is still a JSON object:
    the largest values give way first, each replaced by a note of its size (the run's JSON report
    keeps them whole). Deterministic, so an unchanged finding stores the same text every run."""
    text = _json_text(evidence)
    if len(text) <= EVIDENCE_LIMIT:
        return text
    bounded = dict(evidence)
    for key in sorted(bounded, key=lambda k: (-len(_json_text(bounded[k])), k)):
        bounded[key] = f"(omitted here: {len(_json_text(evidence[key]))} characters)"
        text = _json_text(bounded)
        if len(text) <= EVIDENCE_LIMIT:
            return text
    return _json_text({"omitted": f"{len(_json_text(evidence))} characters of evidence"})


def _decoded(value: Any, default: Any) -> Any:
    """A JSON attribute as stored (text) -> the value, of the default's type; anything else -> the default."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return default
    return value if isinstance(value, type(default)) else default


def _whole(value: Any) -> int | None:
    """A stored count or revision as an int; None when it is not a whole number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def scope_of(item: Mapping[str, Any]) -> Scope:
    """The stored scope; items written before it was stored follow the rule of their time (a KMS key)."""
    scope = item.get("scope")
    if scope in ("control", "resource"):
        return Scope(scope)
    legacy_per_resource = item.get("control") == KMS_ROTATION_CONTROL and item.get("region") is not None
    return Scope.RESOURCE if legacy_per_resource else Scope.CONTROL


def finding_sk(control: str, resource: str) -> str:
    return f"FINDING#{control}#{resource}"


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A finding's confirmed status and the change waiting for confirmation (see ``transitions.step``)."""

    status: str | None = None
    pending_status: str | None = None
    pending_count: int = 0


@dataclass(frozen=True, slots=True)
class FindingItem:
    """The current state of one finding (sk ``FINDING#<control>#<resource>``)."""

    account: str
    control: str
    resource: str
    region: str | None
    cis_id: str | None
    security_hub_id: str | None
    severity: str | None
    confirmation: Confirmation
    observed_status: str | None
    reason: str | None
    remediation: str | None
    evidence: Mapping[str, Any]
    first_seen: str
    last_seen: str
    last_changed: str
    run_id: str
    rev: int
    scope: Scope
    stored_rev: Any = None  # the revision exactly as stored (the conditional write compares with it)
    defects: tuple[str, ...] = ()  # what could not be read as written (reported; the next write repairs it)
    suppressed: Mapping[str, str] | None = None  # the accepted deviation that held at the last run

    @property
    def sk(self) -> str:
        return finding_sk(self.control, self.resource)

    @property
    def status(self) -> str | None:
        return self.confirmation.status

    @property
    def is_per_resource(self) -> bool:
        return self.scope is Scope.RESOURCE

    @classmethod
    def of(
        cls,
        f: Finding,
        confirmation: Confirmation,
        run_id: str,
        at: str,
        first_seen: str,
        last_changed: str,
        rev: int,
    ) -> FindingItem:
        return cls(
            account=f.account,
            control=f.control,
            resource=f.resource,
            region=f.region,
            cis_id=f.cis_id,
            security_hub_id=f.security_hub_id,
            severity=str(f.severity),
            confirmation=confirmation,
            observed_status=str(f.status),
            reason=f.reason,
            remediation=f.remediation,
            evidence=f.evidence,
            first_seen=first_seen,
            last_seen=at,
            last_changed=last_changed,
            run_id=run_id,
            rev=rev,
            scope=f.scope,
            suppressed=dict(f.suppressed) if f.suppressed else None,
            stored_rev=rev,
        )

    def to_item(self) -> Item:
        evidence = _bounded_evidence(dict(self.evidence))
        return {
            "pk": f"ACCOUNT#{self.account}",
            "sk": self.sk,
            "account": self.account,
            "control": self.control,
            "resource": self.resource,
            "region": self.region,
            "cis_id": self.cis_id,
            "security_hub_id": self.security_hub_id,
            "severity": self.severity,
            "status": self.confirmation.status,
            "observed_status": self.observed_status,
            "pending_status": self.confirmation.pending_status,
            "pending_count": self.confirmation.pending_count,
            "reason": self.reason,
            "remediation": self.remediation,
            "evidence": evidence,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "last_changed": self.last_changed,
            "run_id": self.run_id,
            "rev": self.rev,
            "scope": str(self.scope),
            "suppressed": _json_text(dict(self.suppressed)) if self.suppressed else None,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> FindingItem:
        """Never raises: what cannot be read is named in ``defects`` and replaced by what is known."""
        defects = []
        sk = str(item.get("sk") or "")
        _, _, rest = sk.partition("FINDING#")
        sk_control, _, sk_resource = rest.partition("#")
        control, resource = item.get("control"), item.get("resource")
        if not isinstance(control, str) or not control:
            defects.append(f"control is {control!r}; taken from the key")
            control = sk_control
        if not isinstance(resource, str) or not resource:
            defects.append(f"resource is {resource!r}; taken from the key")
            resource = sk_resource
        raw_rev = item.get("rev")
        rev = _whole(raw_rev)
        if rev is None:
            defects.append(f"rev is {raw_rev!r}, not a whole number")
        pending_count = _whole(item.get("pending_count", 0))
        if pending_count is None:
            defects.append(f"pending_count is {item.get('pending_count')!r}, not a whole number; the window restarts")
        status, pending = item.get("status"), item.get("pending_status")
        if status is not None and status not in KNOWN_STATUSES:
            defects.append(f"status is {status!r}; taken as unknown")
            status = None
        if pending is not None and pending not in KNOWN_STATUSES:
            defects.append(f"pending_status is {pending!r}; ignored")
            pending = None
        evidence = item.get("evidence")
        decoded = _decoded(evidence, {})
        if evidence is not None and not decoded and evidence not in ("{}", {}):
            if not (isinstance(evidence, str) and evidence.endswith("...(truncated)")):
                defects.append("evidence is not a JSON object")
        return cls(
            account=str(item.get("account") or ""),
            control=control,
            resource=resource,
            region=_text(item.get("region")),
            cis_id=_text(item.get("cis_id")),
            security_hub_id=_text(item.get("security_hub_id")),
            severity=_text(item.get("severity")),
            confirmation=Confirmation(status, pending, pending_count or 0),
            observed_status=_text(item.get("observed_status")),
            reason=_text(item.get("reason")),
            remediation=_text(item.get("remediation")),
            evidence=decoded,
            first_seen=str(item.get("first_seen") or ""),
            last_seen=str(item.get("last_seen") or ""),
            last_changed=str(item.get("last_changed") or ""),
            run_id=str(item.get("run_id") or ""),
            rev=rev or 0,
            scope=scope_of(item),
            stored_rev=raw_rev,
            defects=tuple(defects),
            suppressed=_decoded(item.get("suppressed"), {}) or None,
        )

    def unchanged_since(self, stored: FindingItem) -> bool:
        """Nothing a reader sees differs from the stored item but when it was last seen (a quiet day's
        finding: not written again; the run records that it looked, see ``Observation``)."""
        if stored.defects:
            return False  # the write repairs it
        volatile = ("last_seen", "run_id", "rev")
        mine, theirs = self.to_item(), stored.to_item()
        return all(mine[k] == theirs[k] for k in mine if k not in volatile)

    def view(self, observation: Observation | None = None) -> dict[str, Any]:
        """What the API and the CLI show of a finding (``last_seen`` includes quiet runs that saw it)."""
        last_seen = self.last_seen
        if observation is not None and observation.saw(self) and observation.at > last_seen:
            last_seen = observation.at
        return {
            "control": self.control,
            "cis_id": self.cis_id,
            "security_hub_id": self.security_hub_id,
            "status": self.status or self.observed_status,
            "observed_status": self.observed_status,
            "severity": self.severity,
            "region": self.region,
            "resource": self.resource,
            "reason": self.reason,
            "remediation": self.remediation,
            "first_seen": self.first_seen,
            "last_seen": last_seen,
            "last_changed": self.last_changed,
            "evidence": dict(self.evidence),
            **({"suppressed": dict(self.suppressed)} if self.suppressed else {}),
        }


@dataclass(frozen=True, slots=True)
class Observation:
    """What the last complete run looked at (kept on META): every open finding, except per-resource
    ones in regions it could not read. Unchanged findings are not rewritten; their last sighting is this."""

    at: str
    run_id: str
    unobserved_regions: frozenset[str] = frozenset()

    def saw(self, item: FindingItem) -> bool:
        if item.status in (None, "CLOSED"):
            return False
        return not (item.is_per_resource and (item.region or "") in self.unobserved_regions)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any] | None) -> Observation | None:
        if not meta or not isinstance(meta.get("observed_at"), str) or not isinstance(meta.get("observed_run"), str):
            return None
        regions = meta.get("unobserved_regions")
        if not isinstance(regions, list | set | tuple):
            regions = []
        return cls(meta["observed_at"], meta["observed_run"], frozenset(str(r) for r in regions))


@dataclass(frozen=True, slots=True)
class Baseline:
    """What a baseline transition carries: the first run's counts and its failing findings."""

    counts: Mapping[str, int]
    failing: list[dict[str, Any]]
    failing_total: int


@dataclass(frozen=True, slots=True)
class TransitionItem:
    """One status change (sk ``TRANSITION#<at>#<run id>#<n>``), or a run's baseline; ``announce``: in the outbox."""

    pk: str
    sk: str
    account: str
    kind: str | None
    run_id: str
    at: str
    expires_at: int | None = None
    announce: bool = False
    finding: str | None = None
    control: str | None = None
    resource: str | None = None
    region: str | None = None
    cis_id: str | None = None
    severity: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    reason: str | None = None
    remediation: str | None = None
    scope: Scope = Scope.CONTROL
    baseline: Baseline | None = None

    def to_item(self) -> Item:
        item: Item = {"pk": self.pk, "sk": self.sk}
        if self.baseline is not None:
            item.update(
                kind=self.kind,
                run_id=self.run_id,
                at=self.at,
                account=self.account,
                counts=json.dumps(dict(self.baseline.counts), sort_keys=True),
                failing=json.dumps(self.baseline.failing),
                failing_total=self.baseline.failing_total,
            )
        else:
            item.update(
                finding=self.finding,
                account=self.account,
                control=self.control,
                resource=self.resource,
                region=self.region,
                cis_id=self.cis_id,
                severity=self.severity,
                from_status=self.from_status,
                to_status=self.to_status,
                kind=self.kind,
                reason=self.reason,
                remediation=self.remediation,
                run_id=self.run_id,
                at=self.at,
                scope=str(self.scope),
            )
        item[TTL_ATTRIBUTE] = self.expires_at
        if self.announce:
            item["outbox"] = self.pk
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> TransitionItem:
        baseline = None
        if "counts" in item or "failing" in item:
            failing = _decoded(item.get("failing"), [])
            baseline = Baseline(
                counts=_decoded(item.get("counts"), {}),
                failing=[f for f in failing if isinstance(f, dict)] if isinstance(failing, list) else [],
                failing_total=_whole(item.get("failing_total")) or 0,
            )
        expires = item.get(TTL_ATTRIBUTE)
        return cls(
            pk=str(item.get("pk") or ""),
            sk=str(item.get("sk") or ""),
            account=str(item.get("account") or ""),
            kind=_text(item.get("kind")),
            run_id=str(item.get("run_id") or ""),
            at=str(item.get("at") or ""),
            expires_at=_whole(expires),
            announce="outbox" in item,
            finding=_text(item.get("finding")),
            control=_text(item.get("control")),
            resource=_text(item.get("resource")),
            region=_text(item.get("region")),
            cis_id=_text(item.get("cis_id")),
            severity=_text(item.get("severity")),
            from_status=_text(item.get("from_status")),
            to_status=_text(item.get("to_status")),
            reason=_text(item.get("reason")),
            remediation=_text(item.get("remediation")),
            scope=scope_of(item),
            baseline=baseline,
        )

    @property
    def is_per_resource(self) -> bool:
        return self.scope is Scope.RESOURCE

    def brief(self) -> dict[str, Any]:
        """The run summary's line for this transition."""
        return {
            "control": self.control,
            "resource": self.resource,
            "region": self.region,
            "from_status": self.from_status,
            "to_status": self.to_status,
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True)
class RunItem:
    """One run's summary (sk ``RUN#<started_at>#<run id>``): the trend."""

    summary: Mapping[str, Any]
    expires_at: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    DECODED = ("counts", "state_usage", "scope", "accounts")

    def to_item(self, pk: str) -> Item:
        item: Item = {"pk": pk, "sk": f"RUN#{self.summary['started_at']}#{self.summary['run_id']}"}
        for k, v in self.summary.items():
            if isinstance(v, float):
                item[k] = str(v)  # DynamoDB numbers must not be binary floats
            elif isinstance(v, dict):
                item[k] = json.dumps(v, sort_keys=True)
            else:
                item[k] = v
        item[TTL_ATTRIBUTE] = self.expires_at
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RunItem:
        summary = {k: v for k, v in item.items() if k not in ("pk", "sk", TTL_ATTRIBUTE)}
        for key in cls.DECODED:
            if key in summary:
                summary[key] = _decoded(summary[key], {})
        return cls(summary, _whole(item.get(TTL_ATTRIBUTE)))
