"""``ciswatch setup-table`` and ``ciswatch history``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import service
from chalicelib.clients import aws_client
from chalicelib.settings import MAX_HISTORY_DAYS
from chalicelib.state.items import RunItem
from chalicelib.state.ledger import Ledger
from chalicelib.state.store import StateStore
from chalicelib.state.table import create_table, table_matches

from .errors import EXIT_OK, UsageError
from .options import settings_from_args, usage_from

SPARK = "▁▂▃▄▅▆▇█"


def _client(args: argparse.Namespace, service: str) -> Any:
    return aws_client(service, settings_from_args(args), args.region)


def run_setup_table(args: argparse.Namespace) -> int:
    """Idempotent: an existing table of the right shape is reported as it is."""
    try:
        dynamodb = _client(args, "dynamodb")
        try:
            table = create_table(dynamodb, args.name)
        except ClientError as exc:
            if exc.response["Error"].get("Code") != "ResourceInUseException":
                raise
            table = dynamodb.describe_table(TableName=args.name)["Table"]
            if not table_matches(table):
                raise UsageError(
                    f"table {args.name} exists but is not a ciswatch table (keys or OutboxIndex differ)"
                ) from None
            print(f"exists: {table['TableArn']} (nothing to do)")
            return EXIT_OK
    except ClientError as exc:
        raise UsageError(f"cannot create table {args.name}: {exc.response['Error'].get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise usage_from(exc) from None
    print(f"created {table['TableArn']} (on-demand, TTL on expires_at, index OutboxIndex)")
    return EXIT_OK


def run_findings(args: argparse.Namespace) -> int:
    """The current findings from the table, filtered as GET /findings filters them."""
    if not args.table:
        raise UsageError("findings needs --table NAME (or CISWATCH_TABLE)")
    settings = settings_from_args(args, table=args.table, state_region=args.region)
    params = {k: v for k, v in (("status", args.status), ("region", args.in_region), ("severity", args.severity)) if v}
    try:
        account = args.account or _client(args, "sts").get_caller_identity()["Account"]
        store = StateStore(_client(args, "dynamodb"), args.table, account)
        filters = service.finding_filters(params, args.control, settings.benchmark)
        found = service.filter_findings(store, filters)
    except service.BadRequest as exc:
        raise UsageError(f"--{exc.field.replace('region', 'in-region')}: {exc.message}") from None
    except ClientError as exc:
        raise UsageError(f"cannot read table {args.table}: {exc.response['Error'].get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise usage_from(exc) from None
    if args.format == "json":
        print(json.dumps({"account": account, **found}, indent=2, default=str))
        return EXIT_OK
    rows = found["findings"]
    print(f"ciswatch findings - account {account} - table {args.table} - {len(rows)} finding(s)")
    for f in rows:
        where = f.get("region") or "-"
        print(
            f"  {f.get('status') or '?':<15}{(f.get('cis_id') or '-'):<6}{f.get('control'):<29}{where:<16}{f.get('reason')}"
        )
    return EXIT_OK


def run_history(args: argparse.Namespace) -> int:
    if not args.table:
        raise UsageError("history needs --table NAME (or CISWATCH_TABLE)")
    if not 1 <= args.days <= MAX_HISTORY_DAYS:
        raise UsageError(f"--days must be from 1 to {MAX_HISTORY_DAYS}")
    if args.organization and args.account:
        raise UsageError("--organization is the whole Organization's trend: leave out --account")
    try:
        since = (datetime.now(UTC) - timedelta(days=args.days)).strftime("%Y-%m-%dT%H:%M:%S")
        if args.organization:
            account = "Organization"
            runs = Ledger(_client(args, "dynamodb"), args.table).trend(since)
        else:
            account = args.account or _client(args, "sts").get_caller_identity()["Account"]
            runs = StateStore(_client(args, "dynamodb"), args.table, account).runs(since)
    except ClientError as exc:
        raise UsageError(f"cannot read table {args.table}: {exc.response['Error'].get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise usage_from(exc) from None
    rows = [history_row(r) for r in runs]
    if args.format == "json":
        print(json.dumps({"account": account, "days": args.days, "runs": rows}, indent=2))
        return EXIT_OK
    who = "the Organization (runs of many accounts)" if args.organization else f"account {account}"
    sys.stdout.write(render_history(who, args.days, rows))
    return EXIT_OK


def history_row(run: RunItem) -> dict[str, Any]:
    r = run.summary
    counts = r.get("counts") if isinstance(r.get("counts"), dict) else {}
    scope = r.get("scope") if isinstance(r.get("scope"), dict) else {}
    return {
        "run_id": r.get("run_id"),
        "started_at": str(r.get("started_at") or "?"),
        "benchmark": r.get("benchmark"),
        "regions": "all" if scope.get("all_regions") else ",".join(scope.get("regions") or []) or "?",
        "recorded": scope.get("recorded", True),
        "partial": bool(scope.get("partial")),
        **{key: _count(counts.get(key)) for key in ("PASS", "FAIL", "FAIL_HIGH", "WARNING", "ERROR", "NOT_APPLICABLE")},
        "transitions": _count(r.get("transitions")),
        "baseline": bool(r.get("baseline")),
        "published": bool(r.get("published")),
        "api_calls": r.get("api_calls"),
        **({"accounts": r["accounts"]} if isinstance(r.get("accounts"), dict) else {}),
    }


def _count(value: Any) -> int:
    """A stored count, or 0 when the run item holds something else (a damaged item must not stop history)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def sparkline(values: Sequence[int]) -> str:
    if not values:
        return ""
    top = max(values) or 1
    return "".join(SPARK[round(v / top * (len(SPARK) - 1))] for v in values)


def render_history(who: str, days: int, rows: list[dict[str, Any]]) -> str:
    """``who``: "account <id>", or the Organization (whose rows also say how many accounts were audited)."""
    lines = [f"ciswatch history - {who} - last {days} day(s), {len(rows)} run(s)", ""]
    if not rows:
        return "\n".join(lines + ["no runs recorded in this period"]) + "\n"
    lines.append(
        f"{'started':<21}{'CIS':<7}{'regions':<16}{'PASS':>6}{'FAIL':>6}{'high':>6}{'WARN':>6}{'ERROR':>6}{'N/A':>6}"
        f"{'changes':>9}  digest"
    )
    for r in rows:
        digest = "baseline" if r["baseline"] else ("sent" if r["published"] else "-")
        if not r["recorded"]:
            digest = "not recorded (another benchmark)"
        elif r["partial"]:
            digest += " (partial: only these regions)"
        regions = r["regions"] if len(r["regions"]) <= 15 else r["regions"][:12] + "..."
        lines.append(
            f"{r['started_at'][:19] + 'Z':<21}{str(r['benchmark'] or '?'):<7}{regions:<16}{r['PASS']:>6}{r['FAIL']:>6}"
            f"{r['FAIL_HIGH']:>6}{r['WARNING']:>6}{r['ERROR']:>6}{r['NOT_APPLICABLE']:>6}{r['transitions']:>9}  {digest}"
        )
        if "accounts" in r:
            states = ", ".join(f"{n} {state}" for state, n in sorted(r["accounts"].items()))
            lines.append(f"{'':<21}accounts: {states}")
    fails = [r["FAIL"] for r in rows]
    lines += ["", f"FAIL trend  {sparkline(fails)}  ({fails[0]} -> {fails[-1]})"]
    lines.append(f"PASS trend  {sparkline([r['PASS'] for r in rows])}  ({rows[0]['PASS']} -> {rows[-1]['PASS']})")
    return "\n".join(lines) + "\n"
