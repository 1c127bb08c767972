"""One SNS digest per run: plain text for email, AWS Chatbot custom-notification JSON for Slack.

Pure: transitions in, the publish arguments out. The message always fits SNS's size limit: past the
budget, the rest is summarised by count, never dropped silently and never a failed publish.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..catalog import cis_order
from ..model import Status
from ..state.items import Baseline, TransitionItem, scope_of
from ..state.transitions import (
    CHECK_RECOVERED,
    COULD_NOT_CHECK,
    FIXED,
    KIND_TEXT,
    NEW_FAILURE,
    REGRESSED,
    SUPPRESSION_ENDED,
)

SNS_LIMIT = 262_144
SAFETY = 6_000  # envelope, attributes and JSON escaping headroom
SLACK_DESCRIPTION_LIMIT = 3_500
ORDER = (NEW_FAILURE, REGRESSED, SUPPRESSION_ENDED, COULD_NOT_CHECK, CHECK_RECOVERED, FIXED)
EMOJI = {
    SUPPRESSION_ENDED: ":hourglass:",
    NEW_FAILURE: ":red_circle:",
    REGRESSED: ":red_circle:",
    COULD_NOT_CHECK: ":warning:",
    CHECK_RECOVERED: ":large_blue_circle:",
    FIXED: ":white_check_mark:",
}


def _name(t: TransitionItem) -> str:
    if t.is_per_resource:
        return f"{t.control} {t.resource}"
    return f"{t.cis_id or ''} {t.control}".strip()


def _counts_line(changes: list[TransitionItem]) -> str:
    parts = []
    for kind in ORDER:
        n = sum(1 for t in changes if t.kind == kind)
        if n:
            parts.append(f"{n} {KIND_TEXT[kind]}")
    return ", ".join(parts)


def _email_block(t: TransitionItem) -> str:
    assert t.kind is not None
    sev = f" [{t.severity}]" if t.to_status == Status.FAIL and t.severity else ""
    where = f" in {t.region}" if t.region else ""
    lines = [f"{KIND_TEXT[t.kind].upper()}{sev}: {_name(t)}{where} ({t.from_status or 'new'} -> {t.to_status})"]
    if t.reason:
        lines.append(f"  why: {t.reason}")
    if t.kind == SUPPRESSION_ENDED:
        lines[0] = f"{KIND_TEXT[t.kind].upper()}{sev}: {_name(t)}{where} (still {t.to_status})"
    if t.remediation and t.to_status == Status.FAIL:
        lines.append(f"  fix: {t.remediation}")
    return "\n".join(lines)


def _brief_name(f: Mapping[str, Any]) -> str:
    if scope_of(f) == "resource":
        return f"{f.get('control')} {f.get('resource')}"
    return f"{f.get('cis_id')} {f.get('control')}"


def _baseline_blocks(b: Baseline) -> list[str]:
    summary = ", ".join(f"{k} {v}" for k, v in sorted(b.counts.items()))
    blocks = [f"BASELINE: first audit of this account ({summary}). From now on you hear only about changes."]
    for f in b.failing:
        where = f" in {f['region']}" if f.get("region") else ""
        name = _brief_name(f)
        block = f"FAILING [{f.get('severity')}]: {name}{where}\n  why: {f.get('reason')}"
        if f.get("remediation"):
            block += f"\n  fix: {f['remediation']}"
        blocks.append(block)
    hidden = b.failing_total - len(b.failing)
    if hidden > 0:
        blocks.append(f"... and {hidden} more failing findings (see the findings table)")
    return blocks


def build_digest(
    account: str,
    benchmark: str,
    items: list[TransitionItem],
    run_id: str,
    table: str | None = None,
    limit: int = SNS_LIMIT,
    scope: str | None = None,
) -> dict[str, Any] | None:
    """The `sns.publish` arguments for these outbox items, or None when there is nothing to announce."""
    baselines = [i.baseline for i in items if i.baseline is not None]
    changes = sorted(
        (i for i in items if i.kind in ORDER and i.baseline is None),
        key=lambda t: (ORDER.index(str(t.kind)), cis_order(t.cis_id), t.resource or ""),
    )
    if not baselines and not changes:
        return None
    counts = _counts_line(changes)
    failing_total = sum(b.failing_total for b in baselines)
    headline = counts or (f"baseline, {failing_total} failing" if baselines else "")
    if baselines and counts:
        headline = f"baseline and {counts}"
    subject = _subject(f"ciswatch {account}: {headline}")
    slack = _chatbot(account, benchmark, headline, baselines, changes, run_id)
    if scope:
        slack["metadata"]["additionalContext"]["scope"] = scope
    slack_text = json.dumps(slack)
    read = f" ({scope})" if scope else ""
    header = (
        f"ciswatch - account {account} - CIS AWS Foundations Benchmark {benchmark} - run {run_id}{read}\n{headline}\n"
    )
    on_table = f" --table {table}" if table else ""
    footer = (
        f"\nEvery current finding: ciswatch findings{on_table} --account {account}\n"
        f"The runs over time: ciswatch history{on_table} --account {account}\n"
    )
    blocks = [b for base in baselines for b in _baseline_blocks(base)] + [_email_block(t) for t in changes]
    budget = limit - SAFETY - 2 * len(json.dumps(slack_text)) - len(header) - len(footer)
    body, used = [], 0
    for i, block in enumerate(blocks):
        cost = len(json.dumps(block)) + 2
        if used + cost > budget:
            body.append(
                f"... and {len(blocks) - i} more entries, summarised above; every change is kept in the findings table."
            )
            break
        body.append(block)
        used += cost
    email = header + "\n" + "\n\n".join(body) + "\n" + footer
    message = json.dumps({"default": slack_text, "https": slack_text, "email": email})
    attributes = _attributes(account, baselines, changes)
    return {"Subject": subject, "Message": message, "MessageStructure": "json", "MessageAttributes": attributes}


def _subject(text: str) -> str:
    text = " ".join(text.split())  # no line breaks or control characters
    return text if len(text) < 100 else text[:96] + "..."


def _severity(baselines: list[Baseline], changes: list[TransitionItem]) -> str:
    sevs = {t.severity for t in changes if t.to_status == Status.FAIL}
    if any(b.failing_total for b in baselines):
        sevs |= {f.get("severity") for b in baselines for f in b.failing}
    for s in ("HIGH", "MEDIUM"):
        if s in sevs:
            return s
    if any(t.to_status == Status.ERROR for t in changes):
        return "LOW"
    return "INFO"


def _attributes(account: str, baselines: list[Baseline], changes: list[TransitionItem]) -> dict[str, Any]:
    if any(t.to_status == Status.FAIL for t in changes) or any(b.failing_total for b in baselines):
        status = "FAIL"
    elif any(t.to_status == Status.ERROR for t in changes):
        status = "ERROR"
    else:
        status = "PASS"
    return {
        "severity": {"DataType": "String", "StringValue": _severity(baselines, changes)},
        "status": {"DataType": "String", "StringValue": status},
        "account": {"DataType": "String", "StringValue": account},
    }


def _chatbot(
    account: str, benchmark: str, headline: str, baselines: list[Baseline], changes: list[TransitionItem], run_id: str
) -> dict[str, Any]:
    lines = []
    for b in baselines:
        lines.append("*Baseline*: " + ", ".join(f"{k} {v}" for k, v in sorted(b.counts.items())))
        for f in b.failing:
            lines.append(
                f":red_circle: *{f.get('cis_id')}* `{f['control']}` {f.get('region') or ''}: {f.get('reason')}"
            )
    for t in changes:
        kind = str(t.kind)
        lines.append(f"{EMOJI[kind]} *{KIND_TEXT[kind]}* `{_name(t)}` {t.region or ''}: {t.reason or ''}")
    description, shown = "", 0
    for line in lines:
        if len(description) + len(line) + 1 > SLACK_DESCRIPTION_LIMIT:
            break
        description += line + "\n"
        shown += 1
    if shown < len(lines):
        description += f"_...and {len(lines) - shown} more: see the email digest or `ciswatch history`_"
    next_steps = [t.remediation for t in changes if t.remediation and t.to_status == Status.FAIL][:3]
    return {
        "version": "1.0",
        "source": "custom",
        "id": run_id,
        "content": {
            "textType": "client-markdown",
            "title": f"ciswatch {account}: {headline}",
            "description": description.strip(),
            "nextSteps": next_steps,
            "keywords": ["ciswatch", f"CIS {benchmark}", account],
        },
        "metadata": {
            "threadId": f"ciswatch-{account}",
            "summary": headline,
            "eventType": "ciswatch.digest",
            "relatedResources": sorted({t.resource for t in changes if t.resource})[:20],
            "additionalContext": {"account": account, "benchmark": benchmark, "run_id": run_id},
        },
    }
