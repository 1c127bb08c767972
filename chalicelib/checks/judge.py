"""Judge a metric-filter pattern by what it matches: does it catch the control's events, and only those?"""

from __future__ import annotations

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
