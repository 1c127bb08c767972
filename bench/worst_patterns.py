"""The worst pattern shapes per input size: what judging one filter against every canonical event costs.

Run on its own (`python bench/worst_patterns.py [--cap SECONDS]`) or from `make bench`. A shape whose
smaller size already took longer than the cap is not tried at the larger sizes (reported as skipped);
an exception is reported by its class (the engine before the typed model ran out of stack on nesting).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib import catalog  # noqa: E402
from chalicelib.filterpattern import LogEvent, compile_pattern  # noqa: E402


def canonical_events() -> list[LogEvent]:
    return [
        LogEvent.from_object(e.event)
        for c in catalog.controls()
        if c.kind == "monitoring"
        for e in catalog.canonical_events(c.id, "5.0.0")
    ]


def nested(depth: int) -> str:
    return "{ " + "(" * depth + "$.eventName = CreateVpc" + ")" * depth + " }"


SHAPES = [
    ("bounded class repeat %[^#]{N}#%", lambda n: "%[^#]{" + str(n) + "}#%", (100, 300, 1000), "events"),
    ("optional run %.?...x% (N atoms)", lambda n: "%" + ".?" * n + "x%", (100, 300), "events"),
    ("nested parentheses (N levels)", nested, (50, 100, 198), "events"),
    ("[..., ..., x = nomatch] on an N-column line", lambda n: "[..., ..., x = nomatch]", (1_000, 10_000), "line"),
]


def _time(pattern: str, events: list[LogEvent], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        compiled = compile_pattern(pattern)
        for e in events:
            compiled.matches(e)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_worst_patterns(cap_s: float = 20.0, repeats: int = 3) -> dict:
    events = canonical_events()
    out: dict = {"canonical_events": len(events), "shapes": {}}
    for label, make, sizes, kind in SHAPES:
        rows = {}
        slow = False
        for n in sizes:
            if slow:
                rows[str(n)] = "skipped (the smaller size exceeded the cap)"
                continue
            subject = [LogEvent(" ".join(["w"] * n))] if kind == "line" else events
            try:
                seconds = _time(make(n), subject, repeats)
                rows[str(n)] = f"{seconds * 1000:.1f} ms"
                slow = seconds > cap_s
            except Exception as exc:  # noqa: BLE001 - reported, not hidden
                rows[str(n)] = f"raised {type(exc).__name__}"
        out["shapes"][label] = rows
    return out


if __name__ == "__main__":
    cap = float(sys.argv[sys.argv.index("--cap") + 1]) if "--cap" in sys.argv else 20.0
    print(json.dumps(bench_worst_patterns(cap), indent=2))
