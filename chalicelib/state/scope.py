"""A run's scope, and what it may change in the state (pure).

The state of an account belongs to one benchmark and one region scope: those of the run that made its
baseline (kept in the META item). A run of another benchmark changes nothing there (its findings are
answered, its summary kept, marked); a run that read fewer regions is partial: it confirms, closes and
announces only what it observed (the keys of the regions it read), never the account-wide KMS roll-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ALL_REGIONS = "all"


@dataclass(frozen=True)
class RunScope:
    benchmark: str
    regions: tuple[str, ...]
    all_regions: bool  # the inventory read every region the account has enabled

    def meta_regions(self) -> Any:
        return ALL_REGIONS if self.all_regions else sorted(self.regions)

    def describe(self) -> str:
        where = "every enabled region" if self.all_regions else ", ".join(self.regions)
        return f"CIS {self.benchmark}, {where}"


@dataclass(frozen=True)
class ScopeVerdict:
    recorded: bool  # the run's findings change the state
    partial: bool  # only what the run observed: per-region findings of the regions it read
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"recorded": self.recorded, "partial": self.partial, "note": self.note}


def judge_scope(meta: Mapping[str, Any] | None, scope: RunScope) -> ScopeVerdict:
    """What a run may change, given the state's META item (None: no state yet, this run makes it)."""
    if meta is None:
        return ScopeVerdict(True, False)
    benchmark = meta.get("scope_benchmark")
    if benchmark is not None and benchmark != scope.benchmark:
        return ScopeVerdict(
            False,
            False,
            f"the state of this table follows CIS {benchmark}; a CIS {scope.benchmark} run changes none of it",
        )
    regions = meta.get("scope_regions", ALL_REGIONS)
    if regions == ALL_REGIONS:
        covers = scope.all_regions
    else:
        covers = isinstance(regions, list | tuple) and set(regions) <= set(scope.regions)
    if covers:
        return ScopeVerdict(True, False)
    return ScopeVerdict(
        True,
        True,
        f"read {', '.join(scope.regions)} only: findings elsewhere and the account-wide KMS roll-up are left as they are",
    )
