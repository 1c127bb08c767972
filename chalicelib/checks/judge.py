"""Judge a metric-filter pattern by what it matches: does it catch the control's events, and only those?"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .. import catalog
from ..catalog import CanonicalEvent, CatalogError
from ..filterpattern import FilterPatternError, LogEvent, compile_pattern

COVERS, MISSES, OVERBROAD, INVALID = "covers", "misses", "overbroad", "invalid"


@dataclass(frozen=True)
class Verdict:
    control: str
    benchmark: str
    pattern: str
    verdict: str
    strict: bool
    missed: tuple[str, ...] = ()  # event names of must-match events the pattern does not catch
    missed_events: tuple[str, ...] = ()  # their canonical event ids
    wrongly_matched: tuple[str, ...] = ()  # canonical ids of must-not-match events it catches
    error: str | None = None
    error_offset: int | None = None
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "benchmark": self.benchmark,
            "verdict": self.verdict,
            "strict": self.strict,
            "missed": list(self.missed),
            "wrongly_matched": list(self.wrongly_matched),
            "error": self.error,
        }


@lru_cache(maxsize=64)
def _events(control_id: str, benchmark: str) -> tuple[tuple[CanonicalEvent, LogEvent], ...]:
    return tuple((e, LogEvent.from_object(e.event)) for e in catalog.canonical_events(control_id, benchmark))


@lru_cache(maxsize=64)
def must_match_names(control_id: str, benchmark: str) -> tuple[str, ...]:
    """The event names a covering pattern must catch, in catalogue order."""
    names: list[str] = []
    for e, _ in _events(control_id, benchmark):
        if e.expect == "match" and e.event_name not in names:
            names.append(e.event_name)
    return tuple(names)


@lru_cache(maxsize=4096)
def judge(control_id: str, pattern: str, benchmark: str | None = None) -> Verdict:
    """Rate ``pattern`` for ``control_id`` under a CIS version. Raises ``CatalogError`` for unknown ids."""
    benchmark = catalog.resolve_benchmark(benchmark)
    ctl = catalog.control(control_id)
    if ctl.kind != catalog.MONITORING:
        raise CatalogError(f"{control_id!r} is not a metric-filter control")
    if not ctl.in_benchmark(benchmark):
        raise CatalogError(f"CIS {benchmark} has no {control_id!r} control")
    strict = catalog.is_published(control_id, pattern, benchmark)
    try:
        compiled = compile_pattern(pattern)
    except FilterPatternError as exc:
        return Verdict(control_id, benchmark, pattern, INVALID, strict, error=exc.message, error_offset=exc.offset)
    missed_events: list[str] = []
    missed_names: list[str] = []
    wrong: list[str] = []
    for event, log_event in _events(control_id, benchmark):
        hit = compiled.matches(log_event)
        if event.expect == "match" and not hit:
            missed_events.append(event.id)
            if event.event_name not in missed_names:
                missed_names.append(event.event_name)
        elif event.expect == "no_match" and hit:
            wrong.append(event.id)
    verdict = MISSES if missed_events else OVERBROAD if wrong else COVERS
    return Verdict(
        control_id,
        benchmark,
        pattern,
        verdict,
        strict,
        tuple(missed_names),
        tuple(missed_events),
        tuple(wrong),
        warnings=compiled.warnings,
    )


def explain(verdict: Verdict) -> list[str]:
    """Human-readable lines: why the events were missed or wrongly matched."""
    by_id = {e.id: e for e, _ in _events(verdict.control, verdict.benchmark)}
    lines = []
    for eid in verdict.missed_events:
        lines.append(f"misses {by_id[eid].event_name}: {by_id[eid].why}")
    for eid in verdict.wrongly_matched:
        lines.append(f"wrongly matches {by_id[eid].event_name} ({eid}): {by_id[eid].why}")
    return lines


def recommended_pattern(control_id: str, benchmark: str) -> str:
    """The pattern to deploy: the first published string of this version that judges ``covers``,
    else the first published string of any version that does (the 1.3-1.5 unauthorized text does not)."""
    candidates = list(catalog.published_patterns(control_id, benchmark))
    candidates += [p for p in catalog.all_published_patterns(control_id) if p not in candidates]
    for p in candidates:
        if judge(control_id, p["pattern"], benchmark).verdict == COVERS:
            return str(p["pattern"])
    raise CatalogError(f"no published pattern covers {control_id} under CIS {benchmark}")


# --- what a filter matches beyond its control ------------------------------------------------------

# A filter that matches at least this share of the canonical events unrelated to a control is a
# catch-all for it: its alarm would sit in ALARM and tell nobody about the control's next event.
CATCH_ALL_SHARE = 0.5


@lru_cache(maxsize=8)
def _every_event(benchmark: str) -> tuple[tuple[str, CanonicalEvent, LogEvent], ...]:
    return tuple(
        (c.id, e, log_event)
        for c in catalog.monitoring_controls(benchmark)
        for e, log_event in _events(c.id, benchmark)
    )


@lru_cache(maxsize=4096)
def unrelated_share(control_id: str, pattern: str, benchmark: str) -> float:
    """The share of canonical events, other than the control's must-match ones, that the pattern matches."""
    try:
        compiled = compile_pattern(pattern)
    except FilterPatternError:
        return 0.0
    unrelated = [le for owner, e, le in _every_event(benchmark) if not (owner == control_id and e.expect == "match")]
    return sum(1 for le in unrelated if compiled.matches(le)) / len(unrelated) if unrelated else 0.0


def is_catch_all(control_id: str, pattern: str, benchmark: str) -> bool:
    return unrelated_share(control_id, pattern, benchmark) >= CATCH_ALL_SHARE


def published_for(control_id: str, pattern: str) -> bool:
    """The pattern is a string CIS published for this control, in any version."""
    normal = catalog.normalize_pattern(pattern)
    return any(catalog.normalize_pattern(p["pattern"]) == normal for p in catalog.all_published_patterns(control_id))


def dimension_values(
    control_id: str, pattern: str, benchmark: str, dimensions: Mapping[str, str]
) -> set[tuple[tuple[str, str], ...]] | None:
    """The dimension values the filter publishes for the control's must-match events it catches.

    ``dimensions`` maps a dimension name to the field that fills it (``$.eventSource``). None when a
    field is not a plain ``$.a.b`` path (the values cannot be worked out)."""
    paths = {}
    for name, field_spec in dimensions.items():
        if not isinstance(field_spec, str) or not _PLAIN_PATH.match(field_spec):
            return None
        paths[name] = field_spec[2:].split(".")
    try:
        compiled = compile_pattern(pattern)
    except FilterPatternError:
        return set()
    values = set()
    for event, log_event in _events(control_id, benchmark):
        if event.expect != "match" or not compiled.matches(log_event):
            continue
        row = []
        for name, path in sorted(paths.items()):
            node: Any = event.event
            for step in path:
                node = node.get(step) if isinstance(node, dict) else None
            row.append((name, "" if node is None else str(node)))
        values.add(tuple(row))
    return values


_PLAIN_PATH = re.compile(r"^\$(\.[A-Za-z0-9_-]+)+$")
