"""Security Hub import: ASFF findings sent with BatchImportFindings, 100 a call.

Throttling is retried by botocore (standard mode); findings Security Hub refuses are counted and the
first reasons kept. Nothing here raises: a failed import is a note on the run, never a lost audit.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..model.errors import one_line

BATCH = 100
KEPT_FAILURES = 5


def import_findings(securityhub: Any, findings: list[dict[str, Any]]) -> dict[str, Any]:
    imported, failed = 0, 0
    reasons: list[str] = []
    error = None
    for start in range(0, len(findings), BATCH):
        batch = findings[start : start + BATCH]
        try:
            resp = securityhub.batch_import_findings(Findings=batch)
        except (ClientError, BotoCoreError) as exc:
            failed += len(batch)
            error = f"securityhub:BatchImportFindings failed: {one_line(str(exc))}"
            continue
        imported += int(resp.get("SuccessCount", 0))
        failed += int(resp.get("FailedCount", 0))
        for f in resp.get("FailedFindings", [])[: KEPT_FAILURES - len(reasons)]:
            reasons.append(f"{f.get('Id')}: {f.get('ErrorCode')}: {f.get('ErrorMessage')}")
    return {"imported": imported, "failed": failed, "failures": reasons, "error": error}
