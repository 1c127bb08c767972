"""``--format html``: one self-contained file (no network fetch: inline CSS, inline SVG, a CSP that
forbids any) with the summary, every control with its chain and fix, the KMS keys, and, when the
run was recorded in a table, the trend of the last 90 runs. CLI only: the Lambda does not render it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from chalicelib.catalog import cis_order
from chalicelib.model import Finding, Status
from chalicelib.pipeline import AuditResult

TREND_RUNS = 90
COLOURS = {
    "PASS": "#1a7f37",
    "FAIL": "#cf222e",
    "WARNING": "#9a6700",
    "ERROR": "#8250df",
    "NOT_APPLICABLE": "#57606a",
}
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1f2328}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}.meta{color:#57606a}
.cards{display:flex;gap:10px;flex-wrap:wrap;margin:16px 0}.card{border:1px solid #d0d7de;border-radius:6px;
padding:10px 14px;min-width:90px}.card b{display:block;font-size:22px}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #d0d7de;padding:6px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa}
.st{font-weight:600;white-space:nowrap}.fix code,.chain code{font-size:12px;word-break:break-all}
.sup{color:#57606a;font-style:italic}svg text{font-size:11px;fill:#57606a}
"""


def _status(status: str) -> str:
    colour = COLOURS.get(status, "#1f2328")
    label = "N/A" if status == "NOT_APPLICABLE" else status
    return f'<span class="st" style="color:{colour}">{escape(label)}</span>'


def _chain(f: Finding) -> str:
    ev = f.evidence
    links = []
    for key, label in (("trail", "trail"), ("filter", "filter"), ("alarm", "alarm"), ("topic", "topic")):
        value = ev.get(key)
        if isinstance(value, str) and value:
            links.append(f"{label} <code>{escape(value)}</code>")
    broken = ev.get("broken_link")
    text = " &rarr; ".join(links)
    if isinstance(broken, str) and broken:
        text += f' <span class="st" style="color:{COLOURS["FAIL"]}">broken at: {escape(broken)}</span>'
    return text


def _suppressed(f: Finding) -> str:
    if not f.suppressed:
        return ""
    s = f.suppressed
    return (
        f'<div class="sup">suppressed until {escape(str(s.get("expires")))} by {escape(str(s.get("owner")))}: '
        f"{escape(str(s.get('reason')))}</div>"
    )


def trend_svg(runs: Sequence[Mapping[str, Any]], width: int = 720, height: int = 180) -> str:
    """FAIL and PASS per run as two polylines (oldest left), with the axis' maximum."""
    points = list(runs)[-TREND_RUNS:]
    if not points:
        return ""
    top = max(1, *(max(int(r.get("FAIL", 0)), int(r.get("PASS", 0))) for r in points))
    pad, inner_w, inner_h = 30, width - 40, height - 40
    step = inner_w / max(1, len(points) - 1)

    def line(key: str) -> str:
        xy = [
            f"{pad + i * step:.1f},{10 + inner_h - inner_h * int(r.get(key, 0)) / top:.1f}"
            for i, r in enumerate(points)
        ]
        return (
            f'<polyline fill="none" stroke="{COLOURS[key]}" stroke-width="2" points="{" ".join(xy)}">'
            f"<title>{key}</title></polyline>"
        )

    first, last = escape(str(points[0].get("started_at", ""))[:10]), escape(str(points[-1].get("started_at", ""))[:10])
    return (
        f'<svg role="img" aria-label="trend of the last {len(points)} runs" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="{pad}" y1="{10 + inner_h}" x2="{pad + inner_w}" y2="{10 + inner_h}" stroke="#d0d7de"/>'
        f'<text x="2" y="16">{top}</text><text x="2" y="{10 + inner_h}">0</text>'
        f'<text x="{pad}" y="{height - 6}">{first}</text><text x="{pad + inner_w - 70}" y="{height - 6}">{last}</text>'
        f"{line('FAIL')}{line('PASS')}</svg>"
        f'<div class="meta"><span style="color:{COLOURS["FAIL"]}">&#9632; FAIL</span> '
        f'<span style="color:{COLOURS["PASS"]}">&#9632; PASS</span> over {len(points)} run(s)</div>'
    )


def render_html(result: AuditResult, runs: Sequence[Mapping[str, Any]] | None = None) -> str:
    s = result.summary
    controls = sorted((f for f in result.findings if not f.is_per_resource), key=lambda f: cis_order(f.cis_id))
    keys = sorted((f for f in result.findings if f.is_per_resource), key=lambda f: (f.region or "", f.resource))
    suppressed = sum(1 for f in result.findings if f.suppressed)
    cards = [
        ("PASS", s["PASS"]),
        ("FAIL", s["FAIL"]),
        ("WARNING", s["WARNING"]),
        ("ERROR", s["ERROR"]),
        ("NOT_APPLICABLE", s["NOT_APPLICABLE"]),
    ]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>ciswatch report - {escape(result.account)} - CIS {escape(result.benchmark)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>ciswatch audit of account {escape(result.account)}</h1>",
        f'<div class="meta">CIS AWS Foundations Benchmark {escape(result.benchmark)} &middot; '
        f"{len(result.regions)} region(s) &middot; {result.api_calls} API calls &middot; "
        f"collected {escape(str(result.started_at or ''))}</div>",
        '<section id="summary"><h2>Summary</h2><div class="cards">',
        *(
            f'<div class="card" data-status="{k}"><b style="color:{COLOURS[k]}">{v}</b>'
            f"{'N/A' if k == 'NOT_APPLICABLE' else k}</div>"
            for k, v in cards
        ),
        f'<div class="card"><b>{s["FAIL_HIGH"]}</b>FAIL high</div>',
        f'<div class="card"><b>{suppressed}</b>suppressed</div>',
        "</div></section>",
    ]
    if runs:
        parts += ['<section id="trend"><h2>Trend</h2>', trend_svg(runs), "</section>"]
    parts += [
        '<section id="controls"><h2>Controls</h2><table><thead><tr><th>CIS</th><th>Control</th><th>Status</th>'
        "<th>Why</th><th>Chain</th><th>Fix</th></tr></thead><tbody>",
    ]
    for f in controls:
        fix = f"<code>{escape(f.remediation)}</code>" if f.remediation and f.status != Status.PASS else ""
        parts.append(
            f'<tr data-control="{escape(f.control)}"><td>{escape(f.cis_id or "-")}</td><td>{escape(f.control)}</td>'
            f"<td>{_status(str(f.status))}</td><td>{escape(f.reason)}{_suppressed(f)}</td>"
            f'<td class="chain">{_chain(f)}</td><td class="fix">{fix}</td></tr>'
        )
    parts.append("</tbody></table></section>")
    parts += [
        f'<section id="keys"><h2>KMS keys ({len(keys)})</h2><table><thead><tr><th>Region</th><th>Key</th>'
        "<th>Status</th><th>Why</th><th>Fix</th></tr></thead><tbody>",
    ]
    for f in keys:
        fix = f"<code>{escape(f.remediation)}</code>" if f.remediation else ""
        parts.append(
            f"<tr><td>{escape(f.region or '-')}</td><td><code>{escape(f.resource)}</code></td>"
            f"<td>{_status(str(f.status))}</td><td>{escape(f.reason)}{_suppressed(f)}</td>"
            f'<td class="fix">{fix}</td></tr>'
        )
    parts += [
        "</tbody></table></section>",
        # Proof for a browser test that the page loaded and its script ran (CSP allows inline only).
        "<script>document.documentElement.setAttribute('data-rendered', 'ok');</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
