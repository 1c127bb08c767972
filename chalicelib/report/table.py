"""The audit as a terminal table, in the spirit of insightwatch's summary (counts first, then rows)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..catalog import cis_order
from ..model import Finding, Status
from ..model.conventions import KMS_ROTATION_CONTROL as KMS_CONTROL

if TYPE_CHECKING:  # the renderer reads an AuditResult; the pipeline imports the renderers' callers, not them
    from ..pipeline import AuditResult

PASS, FAIL, WARNING, ERROR, NOT_APPLICABLE = (
    Status.PASS,
    Status.FAIL,
    Status.WARNING,
    Status.ERROR,
    Status.NOT_APPLICABLE,
)

COLOURS = {PASS: "32", FAIL: "31", WARNING: "33", ERROR: "35", NOT_APPLICABLE: "90"}
LABELS = {PASS: "PASS", FAIL: "FAIL", WARNING: "WARN", ERROR: "ERROR", NOT_APPLICABLE: "N/A"}


def _paint(text: str, status: Status, colour: bool) -> str:
    return f"\033[{COLOURS[status]}m{text}\033[0m" if colour else text


ROW_PREFIX = 6 + 29 + 7 + 9 + 16  # the columns before the reason


def render_table(result: AuditResult, colour: bool = False, columns: int | None = None) -> str:
    """``columns``: the terminal's width; the reason column is shortened to fit it (None: never)."""
    width = max(40, columns - ROW_PREFIX) if columns else None
    s = result.summary
    lines = [
        f"ciswatch audit - account {result.account} - CIS AWS Foundations Benchmark {result.benchmark}",
        f"{len(result.regions)} region(s), {result.api_calls} API calls, {result.duration_s:.1f} s",
        "",
        "  ".join(
            [
                _paint(f"PASS {s[PASS]}", PASS, colour),
                _paint(f"FAIL high {s['FAIL_HIGH']}", FAIL, colour),
                _paint(f"FAIL medium {s['FAIL_MEDIUM']}", FAIL, colour),
                _paint(f"WARNING {s[WARNING]}", WARNING, colour),
                _paint(f"ERROR {s[ERROR]}", ERROR, colour),
                _paint(f"N/A {s[NOT_APPLICABLE]}", NOT_APPLICABLE, colour),
            ]
        ),
    ]
    per_key = sum(1 for f in result.findings if f.is_per_resource)
    lines += [
        f"(the counts are findings: {len(result.findings) - per_key} for controls, {per_key} for single KMS keys)",
        "",
    ]
    control_rows = [f for f in result.findings if not f.is_per_resource]
    control_rows.sort(key=lambda f: cis_order(f.cis_id))
    lines.append(f"{'CIS':<6}{'Control':<29}{'Status':<7}{'Severity':<9}{'Region':<16}Reason")
    for f in control_rows:
        status = _paint(f"{LABELS[f.status]:<7}", f.status, colour)
        sev = f.severity if f.status in (FAIL, WARNING) else ""
        text = _with_suppression(f)
        reason = text if width is None or len(text) <= width else text[: width - 3] + "..."
        lines.append(f"{f.cis_id or '-':<6}{f.control:<29}{status}{sev:<9}{(f.region or '-'):<16}{reason}")
    keys = [f for f in result.findings if f.is_per_resource]
    bad = [f for f in keys if f.status in (FAIL, WARNING, ERROR)]
    if bad:
        lines += ["", f"KMS keys needing attention ({len(bad)} of {len(keys)} keys):"]
        for f in sorted(bad, key=lambda f: (f.region or "", f.resource)):
            lines.append(
                f"  {_paint(LABELS[f.status], f.status, colour):<6} {f.region or '-':<15} {_with_suppression(f)}"
            )
            if f.remediation:
                lines.append(f"         fix: {f.remediation}")
    na_keys = [f for f in keys if f.status == NOT_APPLICABLE]
    if na_keys:
        lines += ["", f"KMS keys not in scope ({len(na_keys)}):"]
        for f in sorted(na_keys, key=lambda f: (f.region or "", f.resource)):
            lines.append(f"  N/A    {f.region or '-':<15} {f.reason}")
    lines += _fix_lines(control_rows)
    errors = [f for f in result.findings if f.status == ERROR]
    if errors:
        lines += ["", "Could not check:"]
        for f in errors:
            lines.append(f"  {f.control} {f.resource if f.region else ''}: {f.reason}")
    return "\n".join(lines) + "\n"


def _fix_lines(rows: list[Finding]) -> list[str]:
    """Fixes, grouped: many controls broken at the same link in one region share one explanation."""
    fixes = [f for f in rows if f.status == FAIL and f.remediation and f.control != KMS_CONTROL]
    if not fixes:
        return []
    lines = ["", "How to fix:"]
    groups: dict[tuple[str | None, str | None], list[Finding]] = {}
    for f in fixes:
        groups.setdefault((f.evidence.get("broken_link"), f.region), []).append(f)
    for (link, region), group in groups.items():
        where = f" in {region}" if region else ""
        if len(group) > 2:
            ids = ", ".join(f.cis_id or "-" for f in group)
            lines.append(f"  {len(group)} controls ({ids}) break at the {link}{where}; for example {group[0].cis_id}:")
            lines.append(f"    {group[0].remediation}")
            lines.append("    (every control's command is in the JSON report: ciswatch audit --format json)")
        else:
            for f in group:
                lines.append(f"  {f.cis_id} {f.control}{where}: {f.remediation}")
    return lines


def _with_suppression(f: Finding) -> str:
    if not f.suppressed:
        return f.reason
    s = f.suppressed
    return f"[suppressed until {s.get('expires')} by {s.get('owner')}: {s.get('reason')}] {f.reason}"
