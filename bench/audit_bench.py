"""The audit on a large account: 17 regions x 200 customer keys (every 3rd without rotation) and the
full monitoring setup in one region, against moto server in its own process on loopback."""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chalicelib.model import AccountSnapshot
from chalicelib.model.rules import rotation_status_worth_reading
from sandbox.moto_env import moto_process

REGIONS = (
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)
KEYS_PER_REGION = 200
HOME = "ap-northeast-1"


def seed(url: str) -> None:
    from sandbox.moto_env import MotoAccount

    acct = MotoAccount(url)
    for r in REGIONS:  # clients are created in one thread; boto3 sessions are not thread-safe
        acct.client("kms", r)
    trail = acct.trail(region=HOME, log_group="CloudTrail/DefaultLogGroup")
    acct.monitor_all(HOME, trail["log_group"], acct.topic(HOME))

    def region_keys(region):
        for i in range(KEYS_PER_REGION):
            acct.key(region, rotation=(i % 3 != 2))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(region_keys, REGIONS))


def lower_bound(snapshot: AccountSnapshot) -> dict:
    """The fewest calls that read what the checks need, computed from the account's contents."""
    parts = {"sts:GetCallerIdentity": 1, "cloudtrail:DescribeTrails": 1}
    own = [
        t
        for t in snapshot.trails.items
        if t.is_multi_region and t.owner_account == snapshot.account and t.log_group_arn
    ]
    parts["cloudtrail:GetTrailStatus+GetEventSelectors"] = 2 * len(own)
    parts["logs:DescribeMetricFilters"] = sum(
        max(1, math.ceil(len(g.filters or ()) / 50)) for g in snapshot.log_groups.values()
    )
    parts["cloudwatch:DescribeAlarms"] = sum(
        max(1, math.ceil(len(a.items or ()) / 100)) for a in snapshot.alarms.values()
    )
    parts["sns:GetTopicAttributes+ListSubscriptionsByTopic"] = 2 * len(snapshot.topics)
    parts["sns:GetSubscriptionAttributes"] = sum(len(t.confirmed_subscriptions) for t in snapshot.topics.values())
    keys = [k for r in snapshot.kms.values() for k in (r.keys or ())]
    parts["kms:ListKeys"] = sum(max(1, math.ceil(len(r.keys or ()) / 1000)) for r in snapshot.kms.values())
    parts["kms:ListAliases"] = len(snapshot.kms)  # one page per region names the keys in the report
    parts["kms:DescribeKey"] = len(keys)
    parts["kms:GetKeyRotationStatus"] = sum(
        1 for k in keys if k.metadata and rotation_status_worth_reading(k.metadata, snapshot.regions)
    )
    parts["total"] = sum(parts.values())
    return parts


def bench_state(url: str, settings, result) -> dict:
    """DynamoDB cost of recording one run (baseline, then an unchanged day), as DynamoDB reports it."""
    import boto3

    from chalicelib.pipeline import run_audit
    from chalicelib.state.table import create_table

    ddb = boto3.client("dynamodb", region_name=HOME, endpoint_url=url)
    create_table(ddb, "bench-findings")
    out = {}
    for label in ("baseline_run", "unchanged_run"):
        start = time.perf_counter()
        summary = run_audit(settings.with_(table="bench-findings", state_region=HOME), result=result, dynamodb=ddb)
        out[label] = {
            **summary["state_usage"],
            "findings": len(result.findings),
            "record_s": round(time.perf_counter() - start, 2),
        }
    return out


def bench_audit(runs: int = 3) -> dict:

    saved = dict(os.environ)
    try:
        return _bench_audit(runs)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _bench_audit(runs: int) -> dict:
    from chalicelib.pipeline import audit
    from chalicelib.settings import Settings

    with moto_process() as url:
        os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=HOME)
        t0 = time.perf_counter()
        seed(url)
        seed_s = time.perf_counter() - t0
        settings = Settings(regions=REGIONS, endpoint_url=url)
        walls, results = [], []
        for _ in range(runs):
            start = time.perf_counter()
            results.append(audit(settings))
            walls.append(time.perf_counter() - start)
        # The same audit without pacing (CISWATCH_RATE_LIMIT=0): what the 50 requests/s per region and
        # operation cost in wall time against moto.
        start = time.perf_counter()
        audit(settings.with_(rate_limit=0))
        unpaced = time.perf_counter() - start
        last = results[-1]
        bound = lower_bound(last.snapshot)
        state = bench_state(url, settings, last)
        wall = statistics.median(walls)
        return {
            "account": f"{len(REGIONS)} regions x {KEYS_PER_REGION} customer keys, monitoring in {HOME}",
            "seed_s": round(seed_s, 1),
            "runs": runs,
            "wall_s_median": round(wall, 2),
            "wall_s_all": [round(w, 2) for w in walls],
            "wall_s_unpaced": round(unpaced, 2),
            "api_calls": last.api_calls,
            "api_calls_lower_bound": bound["total"],
            "api_calls_ratio": round(last.api_calls / bound["total"], 3),
            "requests_per_s": round(last.api_calls / wall),
            "summary": {k: v for k, v in last.summary.items() if v},
            "lower_bound_parts": bound,
            "calls_by_operation": last.snapshot.api_calls_by_operation,
            "state": state,
        }


if __name__ == "__main__":
    import json

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(json.dumps(bench_audit(), indent=2))
