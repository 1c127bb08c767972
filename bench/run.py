"""`make bench`: the project's speed figures. Prints medians; asserts nothing."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib import catalog  # noqa: E402
from chalicelib.filterpattern import LogEvent, compile_pattern  # noqa: E402

EVENT_NAMES = [
    "CreateTrail",
    "StopLogging",
    "PutBucketPolicy",
    "ConsoleLogin",
    "DescribeInstances",
    "RunInstances",
    "AuthorizeSecurityGroupIngress",
    "CreateRoute",
    "CreateVpc",
    "DisableKey",
    "Decrypt",
    "GetObject",
    "AttachRolePolicy",
    "ListBuckets",
    "AssumeRole",
    "CreateAccount",
    "PutConfigurationRecorder",
]


def canonical_like_events(count: int, seed: int = 7) -> list[LogEvent]:
    rng = random.Random(seed)
    corpus = [e.event for c in catalog.controls() for e in catalog.canonical_events(c.id, "5.0.0")]
    events = []
    for i in range(count):
        record = dict(rng.choice(corpus))
        if i % 3:
            record["eventName"] = rng.choice(EVENT_NAMES)
        events.append(LogEvent.from_object(record))
    return events


def bench_patterns(repeats: int = 5) -> dict:
    patterns = [catalog.published_patterns(c.id, "5.0.0")[-1]["pattern"] for c in catalog.monitoring_controls("5.0.0")]
    compiled = [compile_pattern(p) for p in patterns]
    events = canonical_like_events(10_000)
    rates, matches = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        matches = sum(1 for p in compiled for e in events if p.matches(e))
        rates.append(len(compiled) * len(events) / (time.perf_counter() - start))
    return {
        "patterns": len(compiled),
        "events": len(events),
        "matches": matches,
        "evaluations_per_s_median": round(statistics.median(rates)),
    }


def bench_cli_start(runs: int = 7) -> dict:
    exe = Path(sys.executable).parent / "ciswatch"
    argv = [str(exe), "pattern", "check", "--control", "vpc_changes", "{ $.eventName = CreateVpc }"]
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    times = times[1:]  # the first run warms the page cache
    return {
        "command": "ciswatch pattern check",
        "runs": runs,
        "wall_s_median": round(statistics.median(times), 3),
        "wall_s_min": round(min(times), 3),
        "wall_s_max": round(max(times), 3),
    }


def bench_cold_start(runs: int = 7) -> dict:
    """Time to import app.py (the Lambda's init phase) in a fresh interpreter."""
    code = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"
    times = []
    for _ in range(runs + 1):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        times.append(float(out.strip().splitlines()[-1]))
    times = times[1:]
    return {
        "import_app_s_median": round(statistics.median(times), 3),
        "min": round(min(times), 3),
        "max": round(max(times), 3),
    }


def bench_package() -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
        subprocess.run(
            [
                str(Path(sys.executable).parent / "chalice"),
                "package",
                "--stage",
                "prod",
                "--merge-template",
                "resources.json",
                out,
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        size = (Path(out) / "deployment.zip").stat().st_size
    return {"deployment_zip_bytes": size, "deployment_zip_mib": round(size / 2**20, 2)}


def main() -> int:
    from bench.worst_patterns import bench_worst_patterns

    results = {
        "pattern_evaluation": bench_patterns(),
        "worst_patterns": bench_worst_patterns(),
        "cli_start": bench_cli_start(),
        "cold_start": bench_cold_start(),
        "package": bench_package(),
    }
    extra = os.environ.get("CISWATCH_BENCH_SKIP_AUDIT") != "1"
    if extra:
        try:
            from bench.audit_bench import bench_audit
        except ImportError:
            bench_audit = None
        if bench_audit:
            results["audit"] = bench_audit()
            from bench.org_bench import bench_organization

            # CISWATCH_BENCH_ACCOUNTS=1000 for the Organization of a thousand (about half an hour
            # against one moto server on two cores); 100 by default.
            accounts = int(os.environ.get("CISWATCH_BENCH_ACCOUNTS", "100"))
            results["organization"] = bench_organization(accounts=accounts)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
