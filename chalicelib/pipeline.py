"""run_audit(): inventory -> checks -> state -> notify. The CLI and the Lambda share it."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError

from . import catalog
from .checks import run_checks
from .clients import ClientFactory, aws_client
from .inventory.aws import AwsReader
from .inventory.collect import Progress, collect_snapshot
from .model import AccountSnapshot, Arn, Finding, Status, suppression
from .model.findings import summarize
from .model.suppression import Suppression
from .notify.publisher import deliver_outbox
from .notify.securityhub import import_findings
from .report import asff
from .settings import Settings
from .state.items import FindingItem
from .state.scope import RunScope
from .state.store import StateStore
from .state.suppressions import SuppressionStore

log = logging.getLogger("ciswatch.pipeline")
MAX_RUN_NOTES = 20


@dataclass
class AuditResult:
    account: str
    benchmark: str
    started_at: str | None
    duration_s: float
    api_calls: int
    regions: list[str]
    findings: list[Finding]
    snapshot: AccountSnapshot

    @property
    def summary(self) -> dict[str, int]:
        return summarize(self.findings)

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of `ciswatch audit --format json` (keep it stable)."""
        summary = self.summary
        return {
            "account": self.account,
            "benchmark": self.benchmark,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "api_calls": self.api_calls,
            "regions": self.regions,
            "summary": {s: summary[s] for s in ("PASS", "FAIL", "WARNING", "ERROR", "NOT_APPLICABLE")},
            "fail_by_severity": {"HIGH": summary["FAIL_HIGH"], "MEDIUM": summary["FAIL_MEDIUM"]},
            "findings": [f.to_dict() for f in self.findings],
        }


def judge_snapshot(
    snapshot: AccountSnapshot, benchmark: str | None = None, duration_s: float | None = None
) -> AuditResult:
    """Checks only: re-runnable offline on a saved snapshot."""
    benchmark = catalog.resolve_benchmark(benchmark)
    findings = run_checks(snapshot, benchmark)
    return AuditResult(
        account=snapshot.account,
        benchmark=benchmark,
        started_at=snapshot.collected_at,
        duration_s=(snapshot.duration_s or 0.0) if duration_s is None else duration_s,
        api_calls=snapshot.api_calls or 0,
        regions=list(snapshot.regions),
        findings=findings,
        snapshot=snapshot,
    )


def audit(settings: Settings, reader: AwsReader | None = None, progress: Progress | None = None) -> AuditResult:
    """Read the account once and judge it."""
    started = time.monotonic()
    benchmark = catalog.resolve_benchmark(settings.benchmark)
    snapshot = collect_snapshot(settings, reader=reader, progress=progress)
    return judge_snapshot(snapshot, benchmark, duration_s=round(time.monotonic() - started, 3))


def import_to_security_hub(
    settings: Settings, result: AuditResult, run_id: str, gone: list[dict[str, Any]], securityhub: Any = None
) -> dict[str, Any]:
    """The run's findings into Security Hub (the account's default product, in the session's region);
    findings whose resource is gone are archived. A failure is the run's note, never its end."""
    factory = ClientFactory(settings)
    region = factory.default_region
    ctx = asff.ImportContext.now(result.account, region, result.snapshot.partition, result.benchmark)
    findings = asff.to_asff(result.findings, ctx) + asff.archived(gone, ctx)
    try:
        client = securityhub or factory.client("securityhub", region)
    except BotoCoreError as exc:
        return {"imported": 0, "failed": len(findings), "failures": [], "error": str(exc)}
    outcome = import_findings(client, findings)
    if outcome["error"] or outcome["failed"]:
        log.warning("Security Hub import of run %s incomplete: %s", run_id, outcome)
    return {**outcome, "region": region, "product_arn": ctx.product_arn, "archived": len(gone)}


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


def run_scope(result: AuditResult) -> RunScope:
    """What the run read: its benchmark and regions, and whether those were every enabled region."""
    snapshot = result.snapshot
    every = snapshot.regions_source == "DescribeRegions" and snapshot.regions_error is None
    return RunScope(result.benchmark, tuple(result.regions), every)


def closable_filter(snapshot: AccountSnapshot) -> Callable[[FindingItem], bool]:
    """A stored finding absent from this run is closed only if this run could have seen it."""
    readable = snapshot.readable_kms_regions()

    def closable(item: FindingItem) -> bool:
        if not item.is_per_resource:
            return True
        return item.region in readable

    return closable


def apply_suppressions(
    result: AuditResult, extra: list[Suppression] | None = None, store: SuppressionStore | None = None
) -> tuple[AuditResult, set[str]]:
    """The result with accepted deviations marked: the table's suppressions and any given (a file's);
    the table's that matched are noted (one write a day each), so a stale one can be told."""
    today = datetime.now(UTC).date()
    known = list(extra or []) + (store.list() if store is not None else [])
    if not known:
        return result, set()
    findings, matched = suppression.apply(result.findings, known, today)
    if store is not None:
        store.mark_matched({m for m in matched if not m.startswith("file-")}, today)
    return replace(result, findings=findings), matched


def run_audit(
    settings: Settings,
    reader: AwsReader | None = None,
    progress: Progress | None = None,
    dynamodb: Any = None,
    sns: Any = None,
    result: AuditResult | None = None,
    run_id: str | None = None,
    suppressions: list[Suppression] | None = None,
) -> dict[str, Any]:
    """The whole job: audit, then (with a table) record transitions and (with a topic) announce them.
    Returns the run summary; a failed publish is counted, logged and retried by the next run."""
    run_id = run_id or new_run_id()
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # sorts runs started in one second
    result = result or audit(settings, reader=reader, progress=progress)
    suppressions_store = None
    if settings.table:
        dynamodb = dynamodb or aws_client("dynamodb", settings, settings.state_region)  # one client for the run
        suppressions_store = SuppressionStore(dynamodb, settings.table, result.account)
    result, matched = apply_suppressions(result, suppressions, suppressions_store)
    summary: dict[str, Any] = {
        "run_id": run_id,
        "account": result.account,
        "benchmark": result.benchmark,
        "started_at": started_at,
        "duration_s": result.duration_s,
        "api_calls": result.api_calls,
        "regions": len(result.regions),
        "counts": result.summary,
        "suppressed": len([f for f in result.findings if f.suppressed]),
        "errors": [f.reason for f in result.findings if f.status is Status.ERROR][:MAX_RUN_NOTES],
        "transitions": 0,
        "baseline": False,
        "notification": None,
    }
    if not settings.table:
        if settings.security_hub:
            summary["security_hub"] = import_to_security_hub(settings, result, run_id, [])
        return {**summary, "result": result}
    store = StateStore(
        dynamodb or aws_client("dynamodb", settings, settings.state_region),
        settings.table,
        result.account,
        retention_days=settings.retention_days,
        confirm_runs=settings.confirm_runs,
        confirm_runs_kms=settings.confirm_runs_kms,
    )
    scope = run_scope(result)
    recorded = store.record(result.findings, run_id, closable_filter(result.snapshot), scope)
    summary["scope"] = {
        "benchmark": scope.benchmark,
        "regions": list(scope.regions),
        "all_regions": scope.all_regions,
        **recorded.scope.to_json(),
    }
    summary["baseline"] = recorded.baseline
    summary["transitions"] = len(recorded.transitions)
    summary["transitions_list"] = [t.brief() for t in recorded.transitions]
    if settings.topic_arn and recorded.scope.recorded:
        topic_region = Arn.parse(settings.topic_arn).region
        summary["notification"] = deliver_outbox(
            store,
            sns or aws_client("sns", settings, topic_region),
            settings.topic_arn,
            result.benchmark,
            run_id,
            scope.describe(),
        )
    elif not settings.topic_arn:
        # Announced later by someone else (a run of many accounts closes with one digest): say whether
        # anything waits, so that the closer reads only the outboxes that hold something.
        summary["outbox_waiting"] = store.outbox_waiting()
    summary["notification_failures"] = 1 if summary["notification"] and summary["notification"].get("error") else 0
    if settings.security_hub:
        gone = [t.brief() | {"account": result.account} for t in recorded.transitions if t.to_status == "CLOSED"]
        summary["security_hub"] = import_to_security_hub(settings, result, run_id, gone)
    if store.defects:
        log.warning(
            "%d stored item(s) could not be read as written and were repaired: %s",
            len(store.defects),
            store.defects[:5],
        )
        summary["state_defects"] = store.defects[:MAX_RUN_NOTES]
    summary["state_usage"] = store.usage.to_dict()
    store.put_run(
        {k: v for k, v in summary.items() if k not in ("transitions_list", "notification")}
        | {"published": bool(summary["notification"] and summary["notification"].get("published"))},
        latest=recorded.scope.recorded and not recorded.scope.partial,
    )
    summary["state_usage"] = store.usage.to_dict()
    return {**summary, "result": result}
