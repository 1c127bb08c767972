"""Pure checks: AccountSnapshot -> findings. No I/O."""

from __future__ import annotations

from .. import catalog
from ..model import AccountSnapshot, Finding
from .kms import check_kms
from .monitoring import check_monitoring


def run_checks(snapshot: AccountSnapshot, benchmark: str | None = None) -> list[Finding]:
    benchmark = catalog.resolve_benchmark(benchmark)
    return check_monitoring(snapshot, benchmark) + check_kms(snapshot, benchmark)
