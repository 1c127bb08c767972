"""An Organization of simulated accounts audited through the real queue (moto): accounts per hour,
API calls per account, DynamoDB items per account on a baseline and on a quiet day, and the cost model
per 1,000 account-days. The worker's logic (runs.handle) is driven by pollers as Lambda's SQS event
source would (moto's mapping needs docker); each poller is one concurrent worker."""

from __future__ import annotations

import os
import statistics
import threading
import time
from typing import Any

import boto3

from chalicelib import runs
from chalicelib.model.request import RunDeadline, parse_message
from chalicelib.settings import Settings
from chalicelib.state.ledger import Ledger
from chalicelib.state.store import StateStore
from chalicelib.state.table import create_table
from sandbox.moto_env import MotoAccount, moto_process
from sandbox.poller import drain

HOME = "ap-northeast-1"
MANAGEMENT = "123456789012"
# us-east-1 prices, as the README states them with their sources (AWS pricing pages)
LAMBDA_GB_S = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1_000_000
SQS_REQUEST = 0.40 / 1_000_000
DYNAMODB_WRU = 0.625 / 1_000_000
WORKER_GB = 0.5


def _worker(settings: Settings, url: str) -> None:
    sqs = boto3.client("sqs", region_name=HOME, endpoint_url=settings.endpoint_url)

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        for record in event["Records"]:
            request = parse_message(record["body"])
            if isinstance(request, RunDeadline):  # held back 15 minutes: not seen while the bench runs
                runs.handle_deadline(settings, request)
                continue
            attempt = int(record["attributes"].get("ApproximateReceiveCount", 1))
            runs.handle(settings, request, attempt, MANAGEMENT)
        return {"batchItemFailures": []}

    drain(sqs, url, invoke)


def _run(settings: Settings, url: str, workers: int) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    queued = runs.enqueue_organization(settings, MANAGEMENT)
    threads = [threading.Thread(target=_worker, args=(settings, url)) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return queued, time.perf_counter() - start


def session_cost(repeats: int = 10) -> dict[str, float]:
    """CPU per member account to build the audit's five clients: a fresh boto3 session against one that
    shares the process's parsed service models (organization.credentials_session)."""
    from chalicelib.organization import credentials_session

    def clients(session: Any) -> None:
        for service in ("sts", "cloudtrail", "logs", "cloudwatch", "sns", "kms"):
            session.client(service, region_name=HOME)

    def fresh() -> None:
        clients(boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", aws_session_token="c"))

    def shared() -> None:
        clients(credentials_session("a", "b", "c"))

    out = {}
    for name, build in (("fresh_session", fresh), ("shared_models", shared)):
        build()
        start = time.process_time()
        for _ in range(repeats):
            build()
        out[name] = round((time.process_time() - start) / repeats * 1000, 1)
    return out


def bench_organization(accounts: int = 100, workers: int = 8) -> dict[str, Any]:
    saved = dict(os.environ)
    try:
        with moto_process() as url:
            os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=HOME)
            os.environ.pop("AWS_SESSION_TOKEN", None)
            management = MotoAccount(url)
            t0 = time.perf_counter()
            members = management.organization(accounts - 1, suspended=1)
            for member_id in members[: max(1, len(members) // 10)]:
                member = management.member(member_id)
                member.trail(region=HOME, log_group="CloudTrail/DefaultLogGroup")
                member.monitor_all(HOME, "CloudTrail/DefaultLogGroup", member.topic(HOME))
                member.key(HOME, rotation=True)
            ddb = management.client("dynamodb", HOME)
            create_table(ddb, "bench-org")
            topic = management.topic(HOME, name="bench-digest", subscribe=None)
            queue = management.request_queue(HOME, "bench-requests", visibility_timeout=900)
            seed_s = time.perf_counter() - t0
            settings = Settings(
                regions=(HOME,),
                endpoint_url=url,
                table="bench-org",
                topic_arn=topic,
                state_region=HOME,
                queue_url=queue["url"],
                organization=True,
            )
            days = {}
            for label in ("baseline_day", "quiet_day"):
                queued, wall = _run(settings, queue["url"], workers)
                record = Ledger(ddb, "bench-org").run(queued["run_id"])
                assert record is not None
                audited = [o for o in record.outcomes if str(o.state) == "AUDITED"]
                written = 0
                for o in audited:
                    (run,) = [
                        r
                        for r in StateStore(ddb, "bench-org", o.account).runs()
                        if r.summary["run_id"] == queued["run_id"]
                    ]
                    # The summary's usage is taken before the summary is written: the run item and the
                    # account's latest entry (a complete run) come on top.
                    written += int((run.summary.get("state_usage") or {}).get("items_written", 0)) + 2
                calls = [int(o.summary.get("api_calls", 0)) for o in audited]
                durations = [float(o.summary.get("duration_s", 0)) for o in audited]
                # The request, the count, the digest and the trend point; then a claim and an outcome
                # per audited account (one put each, the count an update), one outcome per skipped one.
                ledger_items = 4 + 3 * len(audited) + 2 * (len(record.outcomes) - len(audited))
                digest = record.digest or {}
                result = digest.get("result") or {}
                # The run's digest claims and settles each announced change (two writes each).
                written += 2 * int(result.get("transitions") or 0)
                days[label] = {
                    "accounts": len(record.expected),
                    "outcomes": {str(k): v for k, v in record.to_json()["outcomes"].items()},
                    "pending": len(record.pending),
                    "wall_s": round(wall, 1),
                    "accounts_per_hour": round(len(record.outcomes) / wall * 3600),
                    "api_calls_per_account_mean": round(statistics.mean(calls), 1),
                    "api_calls_per_account_max": max(calls),
                    "audit_s_per_account_median": round(statistics.median(durations), 3),
                    "state_items_per_account": round(written / len(audited), 2),
                    "ledger_items_per_account": round(ledger_items / len(record.outcomes), 2),
                    "digests_published": 1 if result.get("published") else 0,
                    "digest_closed_by": digest.get("closed_by"),
                }
            quiet = days["quiet_day"]
            gb_s = quiet["audit_s_per_account_median"] * WORKER_GB * 1000
            # SendMessageBatch of 10, one receive and one delete each; per run, the deadline timer's sends,
            # receives and deletes (every 15 minutes until the 4-hour deadline at most).
            sqs_requests = 1000 * (0.1 + 1 + 1) + 3 * 16
            writes = 1000 * (quiet["state_items_per_account"] + quiet["ledger_items_per_account"])
            cost = {
                "lambda_gb_s": round(gb_s, 1),
                "lambda_requests": 1000,
                "sqs_requests": int(sqs_requests),
                "dynamodb_writes": int(writes),
                "sts_assume_role_calls": 1000,
                "usd": round(
                    gb_s * LAMBDA_GB_S + 1000 * LAMBDA_REQUEST + sqs_requests * SQS_REQUEST + writes * DYNAMODB_WRU, 4
                ),
                "note": "per 1,000 account-days on a quiet day; audit time measured against moto, not AWS",
            }
            return {
                "organization": f"{accounts} accounts (1 suspended, 10% with the full chain), 1 region, {workers} workers",
                "accounts_per_minute_quiet_day": round(days["quiet_day"]["accounts_per_hour"] / 60, 1),
                "session_per_account_cpu_ms": session_cost(),
                "seed_s": round(seed_s, 1),
                **days,
                "cost_per_1000_account_days": cost,
            }
    finally:
        os.environ.clear()
        os.environ.update(saved)
