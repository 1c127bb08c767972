"""CIS knowledge as data: controls, their ids per benchmark version, published patterns, canonical events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..model.findings import Severity
from .errors import CatalogError as CatalogError

_DATA = Path(__file__).parent / "data"
SEVERITY_BY_LEVEL = {1: Severity.HIGH, 2: Severity.MEDIUM}
MONITORING, KMS = "monitoring", "kms"


@dataclass(frozen=True)
class Control:
    id: str
    kind: str  # MONITORING | KMS
    title: str
    security_hub: str | None
    cis: dict[str, str]  # benchmark version -> CIS id
    level: dict[str, int]  # benchmark version -> CIS profile level (1 or 2)
    event_sources: list[str]  # CloudTrail eventSource values the control watches; ["*"] = every source
    metric_name: str | None  # the metric name ciswatch suggests for the control's filter

    def cis_id(self, benchmark: str) -> str | None:
        return self.cis.get(benchmark)

    def severity(self, benchmark: str) -> Severity:
        return SEVERITY_BY_LEVEL[self.level.get(benchmark, 1)]

    @property
    def metric(self) -> str:
        """The metric name of the filter ciswatch creates for the control."""
        return self.metric_name or self.id

    def in_benchmark(self, benchmark: str) -> bool:
        return benchmark in self.cis


@dataclass(frozen=True)
class CanonicalEvent:
    id: str
    control: str
    expect: str  # "match" | "no_match"
    tier: str
    why: str
    event: dict[str, Any]
    from_benchmark: str | None = None

    @property
    def event_name(self) -> str:
        return str(self.event.get("eventName", "?"))


def _load(name: str) -> Any:
    with open(_DATA / name, encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=1)
def _controls_doc() -> dict[str, Any]:
    doc: dict[str, Any] = _load("controls.json")
    return doc


def benchmarks() -> tuple[str, ...]:
    return tuple(str(b) for b in _controls_doc()["benchmarks"])


def default_benchmark() -> str:
    return str(_controls_doc()["default_benchmark"])


def resolve_benchmark(version: str | None) -> str:
    """The benchmark version as the catalogue spells it ("v5.0.0", "5.0" and "5.0.0" are accepted)."""
    if version is None:
        return default_benchmark()
    text = str(version).strip().lstrip("vV")
    known = benchmarks()
    if text in known:
        return text
    padded = [v for v in known if v.startswith(text + ".") or v == text + ".0"]
    if len(padded) == 1:
        return padded[0]
    raise CatalogError(f"unknown CIS benchmark version {version!r}; known: {', '.join(known)}")


@lru_cache(maxsize=1)
def controls() -> tuple[Control, ...]:
    return tuple(Control(**c) for c in _controls_doc()["controls"])


def control(control_id: str) -> Control:
    for c in controls():
        if c.id == control_id:
            return c
    known = ", ".join(c.id for c in controls())
    raise CatalogError(f"unknown control {control_id!r}; known: {known}")


def cis_order(cis_id: str | None) -> tuple[int, ...]:
    """4.2 before 4.10: CIS numbers sort as numbers (a missing or odd one last)."""
    try:
        return tuple(int(part) for part in (cis_id or "").split("."))
    except ValueError:
        return (9999,)


def find_control(text: str, benchmark: str | None = None) -> Control:
    """A control by any id a report shows: ``iam_policy_changes``, its CIS number in the benchmark
    (``4.4``), or its Security Hub id (``CloudWatch.4``, any case)."""
    wanted = str(text).strip()
    version = resolve_benchmark(benchmark)
    for c in controls():
        if (
            wanted == c.id
            or wanted == c.cis_id(version)
            or (c.security_hub and wanted.lower() == c.security_hub.lower())
        ):
            return c
    known = ", ".join(c.id for c in controls())
    raise CatalogError(
        f"unknown control {text!r}: give its id ({known}), its CIS {version} number, or its Security Hub id"
    )


def monitoring_controls(benchmark: str) -> tuple[Control, ...]:
    return tuple(c for c in controls() if c.kind == MONITORING and c.in_benchmark(benchmark))


@lru_cache(maxsize=1)
def _published() -> tuple[dict[str, Any], ...]:
    return tuple(_load("published_patterns.json")["patterns"])


def published_patterns(control_id: str, benchmark: str) -> tuple[dict[str, Any], ...]:
    """The patterns CIS (and Security Hub) printed for this control in this version, in catalogue order."""
    return tuple(p for p in _published() if p["control"] == control_id and benchmark in p["versions"])


def normalize_pattern(pattern: str) -> str:
    """Remove whitespace outside double-quoted values (how exact-string checkers compare patterns)."""
    out = []
    quoted = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if quoted and ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        if quoted or ch not in " \t\n\r":
            out.append(ch)
        i += 1
    return "".join(out)


def is_published(control_id: str, pattern: str, benchmark: str) -> bool:
    normal = normalize_pattern(pattern)
    return any(normalize_pattern(p["pattern"]) == normal for p in published_patterns(control_id, benchmark))


@lru_cache(maxsize=1)
def _events() -> tuple[CanonicalEvent, ...]:
    return tuple(CanonicalEvent(**e) for e in _load("canonical_events.json")["events"])


def canonical_events(control_id: str, benchmark: str) -> tuple[CanonicalEvent, ...]:
    """The control's canonical events that apply under this benchmark version."""
    order = benchmarks()
    at = order.index(benchmark)
    return tuple(
        e
        for e in _events()
        if e.control == control_id and (e.from_benchmark is None or order.index(e.from_benchmark) <= at)
    )


def all_published_patterns(control_id: str) -> tuple[dict[str, Any], ...]:
    """Every published string for the control, of any version, in catalogue order."""
    return tuple(p for p in _published() if p["control"] == control_id)
