"""Does a trail's event selection record the management events (read and write) a control watches?"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..model.conventions import ALL_MANAGEMENT_EVENTS


def selector_gap(selectors: Mapping[str, Any], sources: Iterable[str]) -> str | None:
    """Why the selectors miss management events (read and write) from ``sources``; None if they don't."""
    sources = list(sources)
    basic = selectors.get("EventSelectors") or []
    advanced = selectors.get("AdvancedEventSelectors") or []
    reasons = []
    for s in basic:
        if not s.get("IncludeManagementEvents"):
            continue
        if s.get("ReadWriteType", "All") != "All":
            reasons.append(f"records only {s.get('ReadWriteType')} management events (CIS requires All)")
            continue
        excluded = _excluded(sources, s.get("ExcludeManagementEventSources") or [])
        if excluded:
            reasons.append(f"excludes management events from {', '.join(excluded)}, which this control watches")
            continue
        return None
    for s in advanced:
        fields = {f.get("Field"): f for f in s.get("FieldSelectors", [])}
        category = fields.get("eventCategory") or {}
        if "Management" not in (category.get("Equals") or []):
            continue
        read_only = fields.get("readOnly")
        if read_only and set(read_only.get("Equals") or []) != {"true", "false"}:
            reasons.append(
                f"advanced selector {s.get('Name') or ''!r} restricts readOnly (CIS requires read and write)"
            )
            continue
        source = fields.get("eventSource")
        if source:
            other_ops = set(source) - {"Field", "Equals", "NotEquals"}
            if other_ops:
                reasons.append(
                    f"advanced selector filters eventSource with {', '.join(sorted(other_ops))}; ciswatch cannot confirm it keeps this control's events"
                )
                continue
            if "Equals" in source and ("*" in sources or not set(sources) <= set(source["Equals"])):
                reasons.append("advanced selector records management events from some event sources only")
                continue
            excluded = _excluded(sources, source.get("NotEquals") or [])
            if excluded:
                reasons.append(f"excludes management events from {', '.join(excluded)}, which this control watches")
                continue
        return None
    if not basic and not advanced:
        return "has no event selectors: it records no management events"
    return reasons[0] if reasons else "records no management events"


def _excluded(sources: list[str], excluded: Iterable[str]) -> list[str]:
    if "*" in sources:
        return sorted(excluded)
    return sorted(set(excluded) & set(sources))


def management_selectors(current: Mapping[str, Any]) -> dict[str, Any]:
    """The trail's selectors with all management events (read and write) recorded; data selectors kept."""
    advanced = current.get("AdvancedEventSelectors") or []
    if advanced:
        kept = [s for s in advanced if "Management" not in _category(s)]
        return {
            "AdvancedEventSelectors": [
                {"Name": "Management events", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
                *kept,
            ]
        }
    basic = current.get("EventSelectors") or []
    data = [{**s, "IncludeManagementEvents": False} for s in basic if s.get("DataResources")]
    return {"EventSelectors": [*(dict(s) for s in ALL_MANAGEMENT_EVENTS), *data]}


def _category(selector: Mapping[str, Any]) -> list[str]:
    fields = {f.get("Field"): f for f in selector.get("FieldSelectors", [])}
    return list((fields.get("eventCategory") or {}).get("Equals") or [])
