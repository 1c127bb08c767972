"""What the Lambda's entry points do: validate input, run the pipeline, read the state table.

app.py only wires these to Chalice; everything here is testable without Chalice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from . import catalog
from .clients import aws_client
from .inventory.regions import enabled_regions
from .model import Status
from .model.rules import is_region_name
from .pipeline import run_audit
from .settings import MAX_HISTORY_DAYS, Settings
from .state.store import StateStore
from .state.transitions import CLOSED

STATUSES = tuple(str(s) for s in Status)
FINDING_FILTERS = ("status", "control", "region", "severity")
RUN_FILTERS = ("days",)


class BadRequest(Exception):
    """Invalid input: answered with 400 and a JSON error naming the field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error": "BadRequest", "field": self.field, "message": self.message}


class NotConfigured(Exception):
    """The deployment lacks a setting the request needs."""


@lru_cache(maxsize=4)
def caller_account(endpoint_url: str | None, profile: str | None) -> str:
    """The Lambda's own account (one STS call per cold start)."""
    identity = aws_client("sts", Settings(endpoint_url=endpoint_url, profile=profile)).get_caller_identity()
    return str(identity["Account"])


def parse_audit_request(body: Any, settings: Settings) -> Settings:
    """POST /audits body -> the run's settings. Raises BadRequest naming the field."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest("body", "the body must be a JSON object")
    unknown = sorted(set(body) - {"regions", "benchmark"})
    if unknown:
        raise BadRequest(unknown[0], f"unknown field {unknown[0]!r}; allowed: regions, benchmark")
    changes: dict[str, Any] = {}
    if "benchmark" in body:
        if not isinstance(body["benchmark"], str):
            raise BadRequest("benchmark", 'benchmark must be a string such as "5.0.0"')
        try:
            changes["benchmark"] = catalog.resolve_benchmark(body["benchmark"])
        except catalog.CatalogError as exc:
            raise BadRequest("benchmark", str(exc)) from None
    if "regions" in body:
        regions = body["regions"]
        if not isinstance(regions, list) or not regions or not all(isinstance(r, str) for r in regions):
            raise BadRequest("regions", "regions must be a non-empty list of region names")
        bad = [r for r in regions if not is_region_name(r)]
        if bad:
            raise BadRequest("regions", f"not a region name: {bad[0]!r}")
        disabled = sorted(set(regions) - enabled_regions(settings))
        if disabled:
            raise BadRequest("regions", f"region not enabled in this account: {disabled[0]}")
        changes["regions"] = tuple(dict.fromkeys(regions))
    return settings.with_(**changes)


def audit_now(settings: Settings, run_id: str | None = None) -> dict[str, Any]:
    """Run the whole job; the run summary plus the findings, JSON-ready."""
    run = run_audit(settings, run_id=run_id)
    result = run.pop("result")
    return {"run": _jsonable_run(run), **result.to_json()}


def _jsonable_run(run: dict[str, Any]) -> dict[str, Any]:
    jsonable: dict[str, Any] = json.loads(
        json.dumps({k: v for k, v in run.items() if k != "transitions_list"}, default=str)
    )
    return jsonable


def _store(settings: Settings) -> StateStore:
    if not settings.table:
        raise NotConfigured("CISWATCH_TABLE is not set")
    account = caller_account(settings.endpoint_url, settings.profile)
    return StateStore(aws_client("dynamodb", settings, settings.state_region), settings.table, account)


def _check_params(params: dict[str, str] | None, allowed: tuple[str, ...]) -> dict[str, str]:
    params = params or {}
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise BadRequest(unknown[0], f"unknown query parameter {unknown[0]!r}; allowed: {', '.join(allowed)}")
    return params


def list_findings(settings: Settings, params: dict[str, str] | None, control: str | None = None) -> dict[str, Any]:
    filters = finding_filters(params, control, settings.benchmark)
    return filter_findings(_store(settings), filters)


def finding_filters(params: dict[str, str] | None, control: str | None, benchmark: str | None) -> dict[str, str]:
    """The filters of GET /findings (and `ciswatch findings`), checked; raises BadRequest naming the field."""
    filters = dict(_check_params(params, FINDING_FILTERS))
    status, region, severity = filters.get("status"), filters.get("region"), filters.get("severity")
    if status is not None and status not in (*STATUSES, CLOSED):
        raise BadRequest("status", f"unknown status {status!r}; one of {', '.join(STATUSES)}, {CLOSED}")
    if severity is not None and severity not in ("HIGH", "MEDIUM"):
        raise BadRequest("severity", f"unknown severity {severity!r}; one of HIGH, MEDIUM")
    if region is not None and not is_region_name(region):
        raise BadRequest("region", f"not a region name: {region!r}")
    control = control or filters.get("control")
    if control is not None:
        try:
            filters["control"] = catalog.find_control(control, benchmark).id
        except catalog.CatalogError as exc:
            raise BadRequest("control", str(exc)) from None
    return filters


def filter_findings(store: StateStore, filters: dict[str, str]) -> dict[str, Any]:
    """The stored findings that pass checked filters, in benchmark order."""
    items = [i.view() for i in store.current().values()]
    items = [i for i in items if all(i.get(key) == value for key, value in filters.items())]
    items.sort(key=lambda i: (catalog.cis_order(i["cis_id"]), i["control"] or "", i["resource"] or ""))
    return {"count": len(items), "findings": items}


def list_runs(settings: Settings, params: dict[str, str] | None) -> dict[str, Any]:
    params = _check_params(params, RUN_FILTERS)
    days = str(params.get("days", "30"))
    if not (days.isascii() and days.isdigit() and len(days) <= 4 and 1 <= int(days) <= MAX_HISTORY_DAYS):
        raise BadRequest("days", f"days must be a whole number from 1 to {MAX_HISTORY_DAYS}")
    since = (datetime.now(UTC) - timedelta(days=int(days))).strftime("%Y-%m-%dT%H:%M:%S")
    runs = [dict(r.summary) for r in _store(settings).runs(since)]
    return {"count": len(runs), "runs": runs}
