"""run_audit(): inventory -> checks (-> state -> notify, in later stages). The CLI and the Lambda share it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import catalog
from .checks import run_checks
from .findings import Finding, summarize


@dataclass
class AuditResult:
    account: str
    benchmark: str
    started_at: str
    duration_s: float
    api_calls: int
    regions: list
    findings: list[Finding]
    snapshot: dict

    @property
    def summary(self) -> dict:
        return summarize(self.findings)

    def to_json(self) -> dict:
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


def judge_snapshot(snapshot: dict, benchmark: str | None = None, duration_s: float | None = None) -> AuditResult:
    """Checks only: re-runnable offline on a saved snapshot."""
    benchmark = catalog.resolve_benchmark(benchmark)
    findings = run_checks(snapshot, benchmark)
    return AuditResult(
        account=snapshot["account"],
        benchmark=benchmark,
        started_at=snapshot.get("collected_at"),
        duration_s=snapshot.get("duration_s", 0.0) if duration_s is None else duration_s,
        api_calls=snapshot.get("api_calls", 0),
        regions=list(snapshot["regions"]),
        findings=findings,
        snapshot=snapshot,
    )


def audit(settings, reader=None, progress=None) -> AuditResult:
    """Read the account once and judge it."""
    from .inventory.collect import collect_snapshot

    started = time.monotonic()
    benchmark = catalog.resolve_benchmark(settings.benchmark)
    snapshot = collect_snapshot(settings, reader=reader, progress=progress)
    return judge_snapshot(snapshot, benchmark, duration_s=round(time.monotonic() - started, 3))
