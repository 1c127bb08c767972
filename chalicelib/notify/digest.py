"""One SNS digest per run: plain text for email, AWS Chatbot custom-notification JSON for Slack.

Pure: transitions in, the publish arguments out. The message always fits SNS's size limit: past the
budget, the rest is summarised by count, never dropped silently and never a failed publish.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
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


def _split(items: list[TransitionItem]) -> tuple[list[Baseline], list[TransitionItem]]:
    """The baselines, and the announceable changes in digest order."""
    baselines = [i.baseline for i in items if i.baseline is not None]
    changes = sorted(
        (i for i in items if i.kind in ORDER and i.baseline is None),
        key=lambda t: (ORDER.index(str(t.kind)), cis_order(t.cis_id), t.resource or ""),
    )
    return baselines, changes


def _headline(baselines: list[Baseline], changes: list[TransitionItem]) -> str:
    counts = _counts_line(changes)
    failing_total = sum(b.failing_total for b in baselines)
    headline = counts or (f"baseline, {failing_total} failing" if baselines else "")
    if baselines and counts:
        headline = f"baseline and {counts}"
    return headline


def _fit(blocks: list[str], budget: int) -> list[str]:
    """The blocks that fit the budget; past it, one line counting the rest (nothing dropped silently)."""
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
    return body


def _footer(table: str | None, account: str) -> str:
    on_table = f" --table {table}" if table else ""
    return (
        f"\nEvery current finding: ciswatch findings{on_table} --account {account}\n"
        f"The runs over time: ciswatch history{on_table} --account {account}\n"
    )


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
    baselines, changes = _split(items)
    if not baselines and not changes:
        return None
    headline = _headline(baselines, changes)
    subject = _subject(f"ciswatch {account}: {headline}")
    slack = _chatbot(account, benchmark, headline, baselines, changes, run_id)
    if scope:
        slack["metadata"]["additionalContext"]["scope"] = scope
    slack_text = json.dumps(slack)
    read = f" ({scope})" if scope else ""
    header = (
        f"ciswatch - account {account} - CIS AWS Foundations Benchmark {benchmark} - run {run_id}{read}\n{headline}\n"
    )
    footer = _footer(table, account)
    blocks = [b for base in baselines for b in _baseline_blocks(base)] + [_email_block(t) for t in changes]
    budget = limit - SAFETY - 2 * len(json.dumps(slack_text)) - len(header) - len(footer)
    email = header + "\n" + "\n\n".join(_fit(blocks, budget)) + "\n" + footer
    message = json.dumps({"default": slack_text, "https": slack_text, "email": email})
    attributes = _attributes(account, baselines, changes)
    return {"Subject": subject, "Message": message, "MessageStructure": "json", "MessageAttributes": attributes}


@dataclass(frozen=True)
class RunAccount:
    """One account of a run of many, as its digest tells it: the ledger's outcome and the changes waiting
    in the account's outbox. ``state`` is the ledger's (AUDITED, ERROR, SKIPPED) or PENDING."""

    account: str
    state: str
    reason: str | None = None
    items: tuple[TransitionItem, ...] = ()


NOT_AUDITED_TEXT = {"ERROR": "could not be audited", "SKIPPED": "skipped", "PENDING": "did not finish"}


def build_run_digest(
    management_account: str,
    benchmark: str,
    run_id: str,
    accounts: list[RunAccount],
    table: str | None = None,
    limit: int = SNS_LIMIT,
    closed_by: str = "last account",
) -> dict[str, Any] | None:
    """The one digest of a run of many accounts (an Organization's): the ledger's counts, the accounts
    not audited with why, then each account's changes. None when nothing changed and every account was
    audited (a quiet day says nothing, as for one account)."""
    states = {s: sum(1 for a in accounts if a.state == s) for s in ("AUDITED", "ERROR", "SKIPPED", "PENDING")}
    split = {a.account: _split(list(a.items)) for a in accounts}
    changed = [a for a in accounts if split[a.account][0] or split[a.account][1]]
    trouble = [a for a in accounts if a.state in ("ERROR", "PENDING")]
    if not changed and not trouble:
        return None
    all_changes = [t for a in changed for t in split[a.account][1]]
    all_baselines = [b for a in changed for b in split[a.account][0]]
    parts = [f"{states['AUDITED']} of {len(accounts)} accounts audited"]
    parts += [f"{states[s]} {NOT_AUDITED_TEXT[s]}" for s in ("ERROR", "PENDING", "SKIPPED") if states[s]]
    ledger_line = ", ".join(parts)
    change_line = _counts_line(all_changes)
    if all_baselines:
        change_line = ", ".join(filter(None, [f"{len(all_baselines)} baseline(s)", change_line]))
    headline = f"{change_line} in {len(changed)} account(s)" if changed else "no changes"
    subject = _subject(
        f"ciswatch Organization {management_account}: {headline}" + (f"; {len(trouble)} not audited" if trouble else "")
    )
    closing = "at its deadline" if closed_by == "deadline" else "when its last account finished"
    header = (
        f"ciswatch - Organization (management account {management_account}) - CIS AWS Foundations Benchmark "
        f"{benchmark} - run {run_id}, sent {closing}\n{ledger_line}\n{headline}\n"
    )
    blocks = []
    not_audited = [a for a in accounts if a.state != "AUDITED"]
    if not_audited:
        lines = [f"NOT AUDITED ({len(not_audited)})"]
        lines += [f"  {a.account} {a.state}: {a.reason or NOT_AUDITED_TEXT[a.state]}" for a in not_audited]
        blocks.append("\n".join(lines))
    for a in changed:
        baselines, changes = split[a.account]
        blocks.append(f"== account {a.account}: {_headline(baselines, changes)}")
        blocks += [b for base in baselines for b in _baseline_blocks(base)] + [_email_block(t) for t in changes]
    slack = _run_chatbot(management_account, benchmark, run_id, ledger_line, headline, changed, split, not_audited)
    slack_text = json.dumps(slack)
    on_table = f" --table {table}" if table else ""
    footer = (
        f"\nThe run's accounts and outcomes: GET /runs/{run_id}\n"
        f"One account's findings: ciswatch findings{on_table} --account <account id>\n"
    )
    budget = limit - SAFETY - 2 * len(json.dumps(slack_text)) - len(header) - len(footer)
    email = header + "\n" + "\n\n".join(_fit(blocks, budget)) + "\n" + footer
    message = json.dumps({"default": slack_text, "https": slack_text, "email": email})
    attributes = _attributes(management_account, all_baselines, all_changes)
    if trouble and attributes["status"]["StringValue"] == "PASS":
        attributes["status"]["StringValue"] = "ERROR"
    attributes["scope"] = {"DataType": "String", "StringValue": "organization"}
    return {"Subject": subject, "Message": message, "MessageStructure": "json", "MessageAttributes": attributes}


def _slack_description(head: str, lines: list[str], more_at: str) -> str:
    """As many lines as Chatbot shows, then how many more there are and where to read them."""
    description, shown = head, 0
    for line in lines:
        if len(description) + len(line) + 1 > SLACK_DESCRIPTION_LIMIT:
            break
        description += line + "\n"
        shown += 1
    if shown < len(lines):
        description += f"_...and {len(lines) - shown} more: see the email digest or {more_at}_"
    return description


def _run_chatbot(
    management_account: str,
    benchmark: str,
    run_id: str,
    ledger_line: str,
    headline: str,
    changed: list[RunAccount],
    split: Mapping[str, tuple[list[Baseline], list[TransitionItem]]],
    not_audited: list[RunAccount],
) -> dict[str, Any]:
    lines = [f":warning: `{a.account}` {a.state}: {a.reason or ''}" for a in not_audited]
    lines += [f"*{a.account}*: {_headline(*split[a.account])}" for a in changed]
    description = _slack_description(f"{ledger_line}\n", lines, f"GET /runs/{run_id}")
    return {
        "version": "1.0",
        "source": "custom",
        "id": run_id,
        "content": {
            "textType": "client-markdown",
            "title": f"ciswatch Organization {management_account}: {headline}",
            "description": description.strip(),
            "keywords": ["ciswatch", f"CIS {benchmark}", "organization"],
        },
        "metadata": {
            "threadId": f"ciswatch-organization-{management_account}",
            "summary": headline,
            "eventType": "ciswatch.digest",
            "additionalContext": {"management_account": management_account, "benchmark": benchmark, "run_id": run_id},
        },
    }


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
    description = _slack_description("", lines, "`ciswatch history`")
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
