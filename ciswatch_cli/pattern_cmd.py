"""``ciswatch pattern test|check`` and ``ciswatch controls``."""

from __future__ import annotations

import json
import sys

from chalicelib import catalog
from chalicelib.checks.judge import COVERS, explain, judge
from chalicelib.filterpattern import FilterPatternError, LogEvent, compile_pattern, parse_json_message, to_message

from .errors import EXIT_FAIL, EXIT_OK, UsageError
from .options import resolve_benchmark_arg


def read_events(path: str) -> list[LogEvent]:
    """A file of events: one JSON array, or one event per line (JSON object lines are JSON events)."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read events file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if text.lstrip().startswith("["):
        value = parse_json_message(text)
        if isinstance(value, list):
            return [_event_from_value(v) for v in value]
    events = []
    for line in text.splitlines():
        if line == "":
            continue
        value = parse_json_message(line)
        events.append(LogEvent(line, value if isinstance(value, dict) else _NOT_JSON))
    return events


_NOT_JSON = object()


def _event_from_value(value) -> LogEvent:
    if isinstance(value, str):
        parsed = parse_json_message(value)
        return LogEvent(value, parsed if isinstance(parsed, dict) else _NOT_JSON)
    if isinstance(value, dict):
        return LogEvent(to_message(value), value)  # numbers keep the text they had in the file
    return LogEvent(to_message(value), _NOT_JSON)


def run_test(args) -> int:
    try:
        compiled = compile_pattern(args.pattern)
    except FilterPatternError as exc:
        raise UsageError(f"invalid pattern: {exc.message} at offset {exc.offset}") from None
    events = [e for path in args.files for e in read_events(path)]
    results = [compiled.matches(e) for e in events]
    if args.json:
        print(json.dumps({"results": results}))
    else:
        sys.stdout.write("".join("match\n" if r else "no match\n" for r in results))
    return EXIT_OK


def run_check(args) -> int:
    benchmark = resolve_benchmark_arg(args.benchmark)
    try:
        verdict = judge(catalog.find_control(args.control, benchmark).id, args.pattern, benchmark)
    except catalog.CatalogError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(verdict.to_dict()))
    else:
        print("\n".join(describe_verdict(verdict) + ["  " + line for line in explain(verdict)]))
    return EXIT_OK if verdict.verdict == COVERS else EXIT_FAIL


def describe_verdict(verdict) -> list[str]:
    ctl = catalog.control(verdict.control)
    ids = f"CIS {verdict.benchmark} {ctl.cis_id(verdict.benchmark)}"
    if ctl.security_hub:
        ids += f", Security Hub {ctl.security_hub}"
    lines = [f"control:  {ctl.id} ({ids}): {ctl.title}"]
    if verdict.verdict == "covers":
        lines.append("verdict:  covers - catches every event the control is about, and nothing absurd")
    elif verdict.verdict == "misses":
        lines.append("verdict:  misses - does not catch " + ", ".join(verdict.missed))
    elif verdict.verdict == "overbroad":
        lines.append(
            f"verdict:  overbroad - also fires on {len(verdict.wrongly_matched)} event(s) the control is not about"
        )
    else:
        lines.append(f"verdict:  invalid - {verdict.error} at offset {verdict.error_offset}")
    if verdict.strict:
        lines.append(f"strict:   yes - one of the strings CIS {verdict.benchmark} published")
    else:
        lines.append(
            f"strict:   no - not a string CIS {verdict.benchmark} published; exact-string checkers "
            "(Security Hub, insightwatch) will fail it"
        )
    lines.extend(f"warning:  {w}" for w in verdict.warnings)
    return lines


def run_controls(args) -> int:
    benchmark = resolve_benchmark_arg(args.benchmark)
    rows = [
        {
            "control": c.id,
            "cis_id": c.cis_id(benchmark),
            "security_hub_id": c.security_hub,
            "level": c.level.get(benchmark),
            "severity": c.severity(benchmark),
            "title": c.title,
        }
        for c in catalog.controls()
        if c.in_benchmark(benchmark)
    ]
    rows.sort(key=lambda r: [int(x) for x in r["cis_id"].split(".")])
    if args.json:
        print(json.dumps({"benchmark": benchmark, "controls": rows}, indent=2))
        return EXIT_OK
    print(f"CIS AWS Foundations Benchmark {benchmark}")
    header = ("CIS", "Control", "Security Hub", "Level", "Severity", "Title")
    table = [header] + [
        (r["cis_id"], r["control"], r["security_hub_id"] or "-", f"L{r['level']}", r["severity"], r["title"])
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return EXIT_OK
