"""What the Lambda's entry points do: validate input, run the pipeline, read the state table.

app.py only wires these to Chalice; everything here is testable without Chalice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from . import catalog, pages, runs
from .clients import aws_client
from .model import Status
from .model.request import ACCOUNT_RE, RUN_ID_RE
from .model.rules import is_region_name
from .model.suppression import ID_RE as SUPPRESSION_ID_RE
from .model.suppression import SuppressionError, new_suppression
from .settings import MAX_HISTORY_DAYS, NotConfigured, Settings
from .state.errors import StateError
from .state.store import StateStore
from .state.suppressions import SuppressionStore
from .state.transitions import CLOSED

STATUSES = tuple(str(s) for s in Status)
FINDING_FILTERS = ("status", "control", "region", "severity", "account")
PAGE_PARAMS = ("limit", "next_token")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500  # 500 findings with their evidence stay far below Lambda's 6 MB response limit
RUN_FILTERS = ("days", "account", "organization")


class BadRequest(Exception):
    """Invalid input: answered with 400 and a JSON error naming the field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error": "BadRequest", "field": self.field, "message": self.message}


class NotFound(Exception):
    """A resource the route names does not exist: answered with 404."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error": "NotFound", "field": self.field, "message": self.message}


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
        # Whether each region is enabled is the worker's to check: reading the account is its role's
        # right, not the API's (the run then fails naming the region).
        changes["regions"] = tuple(dict.fromkeys(regions))
    return settings.with_(**changes)


def jsonable_run(run: dict[str, Any]) -> dict[str, Any]:
    """A run summary without the in-memory result and transition list, JSON-ready."""
    jsonable: dict[str, Any] = json.loads(
        json.dumps({k: v for k, v in run.items() if k not in ("transitions_list", "result")}, default=str)
    )
    return jsonable


def _store(settings: Settings, account: str | None = None) -> StateStore:
    """The state of ``account`` (default: this function's own account)."""
    if not settings.table:
        raise NotConfigured("CISWATCH_TABLE is not set")
    account = account or caller_account(settings.endpoint_url, settings.profile)
    return StateStore(aws_client("dynamodb", settings, settings.state_region), settings.table, account)


def _account_param(params: dict[str, str]) -> str | None:
    account = params.pop("account", None)
    if account is not None and not ACCOUNT_RE.match(account):
        raise BadRequest("account", "an account id is 12 digits")
    return account


def _check_params(params: dict[str, str] | None, allowed: tuple[str, ...]) -> dict[str, str]:
    params = params or {}
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise BadRequest(unknown[0], f"unknown query parameter {unknown[0]!r}; allowed: {', '.join(allowed)}")
    return params


def list_findings(settings: Settings, params: dict[str, str] | None, control: str | None = None) -> dict[str, Any]:
    """GET /findings: one page of the filtered findings, and a token for the next page."""
    params = dict(params or {})
    paging = {k: params.pop(k) for k in PAGE_PARAMS if k in params}
    account = _account_param(params)
    filters = finding_filters(params, control, settings.benchmark)
    limit = _page_size(paging.get("limit"))
    found = filter_findings(_store(settings, account), filters)["findings"]
    signer = pages.Signer(settings.page_token_key or f"ciswatch:{settings.table}")
    bound = {**filters, "account": account or ""}  # a token is valid for the filters and account it was issued for
    after = None
    if "next_token" in paging:
        try:
            after = signer.position(paging["next_token"], bound)
        except pages.BadToken as exc:
            raise BadRequest("next_token", str(exc)) from None
    try:
        page, last = pages.page(found, _sort_key, after, limit)
    except TypeError:
        raise BadRequest("next_token", "not a next_token issued by this version of the API") from None
    body: dict[str, Any] = {"count": len(page), "total": len(found), "findings": page}
    if last is not None:
        body["next_token"] = signer.token(last, bound)
    return body


def _page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= MAX_PAGE_SIZE):
        raise BadRequest("limit", f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


def _sort_key(view: dict[str, Any]) -> list[Any]:
    """Benchmark order, then control, resource and region: a total order, so pages never overlap."""
    return [
        list(catalog.cis_order(view["cis_id"])),
        view["control"] or "",
        view["resource"] or "",
        view["region"] or "",
    ]


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
    observation = store.observation()
    items = [i.view(observation) for i in store.current().values()]
    items = [i for i in items if all(i.get(key) == value for key, value in filters.items())]
    items.sort(key=_sort_key)
    return {"count": len(items), "findings": items}


def list_runs(settings: Settings, params: dict[str, str] | None) -> dict[str, Any]:
    params = dict(_check_params(params, RUN_FILTERS))
    account = _account_param(params)
    days = str(params.get("days", "30"))
    if not (days.isascii() and days.isdigit() and len(days) <= 4 and 1 <= int(days) <= MAX_HISTORY_DAYS):
        raise BadRequest("days", f"days must be a whole number from 1 to {MAX_HISTORY_DAYS}")
    since = (datetime.now(UTC) - timedelta(days=int(days))).strftime("%Y-%m-%dT%H:%M:%S")
    scope = params.get("organization", "false")
    if scope not in ("true", "false"):
        raise BadRequest("organization", "organization must be true or false")
    if scope == "true":
        if account:
            raise BadRequest("organization", "organization=true is the whole Organization's trend: no account")
        trend = [dict(r.summary) for r in runs.ledger(settings).trend(since)]
        return {"count": len(trend), "runs": trend}
    found = [dict(r.summary) for r in _store(settings, account).runs(since)]
    return {"count": len(found), "runs": found}


def run_status(settings: Settings, run_id: str) -> dict[str, Any]:
    """GET /runs/{run_id}: the request and its outcome per account."""
    if not RUN_ID_RE.match(run_id or ""):
        raise BadRequest("run_id", "not a run id (such as 20261201T060000Z-0123abcd)")
    record = runs.run_record(settings, run_id)
    if record is None:
        raise NotFound("run_id", f"no run {run_id} (runs are kept {settings.retention_days} days)")
    return record.to_json()


def list_accounts(settings: Settings, params: dict[str, str] | None) -> dict[str, Any]:
    """GET /accounts: each account's latest complete run (counts, when, benchmark, regions)."""
    if params:
        raise BadRequest(sorted(params)[0], "this route takes no query parameters")
    entries = [dict(r.summary) for r in _store(settings).accounts()]
    entries.sort(key=lambda e: str(e.get("account", "")))
    totals: dict[str, int] = {}
    for e in entries:
        for status, n in (e.get("counts") or {}).items():
            if status in STATUSES and isinstance(n, int):
                totals[status] = totals.get(status, 0) + n
    return {"count": len(entries), "accounts": entries, "totals": totals}


def _suppressions(settings: Settings) -> SuppressionStore:
    if not settings.table:
        raise NotConfigured("CISWATCH_TABLE is not set")
    account = caller_account(settings.endpoint_url, settings.profile)
    return SuppressionStore(aws_client("dynamodb", settings, settings.state_region), settings.table, account)


def list_suppressions(settings: Settings, params: dict[str, str] | None) -> dict[str, Any]:
    """GET /suppressions: the account's suppressions, expired and stale ones marked; ``all=true`` adds removed ones."""
    params = _check_params(params, ("all",))
    if params.get("all") not in (None, "true", "false"):
        raise BadRequest("all", "all is true or false")
    today = datetime.now(UTC).date()
    items = _suppressions(settings).list(include_removed=params.get("all") == "true")
    out = [{**s.to_json(), "active": s.active(today), "stale": s.stale(today)} for s in items]
    return {"count": len(out), "suppressions": out}


def add_suppression(settings: Settings, body: Any, who: str | None) -> dict[str, Any]:
    """POST /suppressions: {"control", "region"?, "resource"?, "reason", "owner", "expires"}."""
    if not isinstance(body, dict):
        raise BadRequest("body", "the body must be a JSON object")
    allowed = {"control", "region", "resource", "reason", "owner", "expires"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(unknown[0], f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
    for name in ("control", "reason", "owner", "expires"):
        if not isinstance(body.get(name), str):
            raise BadRequest(name, f"{name} is required (a string)")
    for name in ("region", "resource"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise BadRequest(name, f"{name} must be a string")
    if body.get("region") is not None and not is_region_name(body["region"]):
        raise BadRequest("region", f"not a region name: {body['region']!r}")
    try:
        control = catalog.find_control(body["control"], settings.benchmark).id
    except catalog.CatalogError as exc:
        raise BadRequest("control", str(exc)) from None
    now = datetime.now(UTC)
    try:
        made = new_suppression(
            control,
            body["reason"],
            body["owner"],
            body["expires"],
            now.date(),
            region=body.get("region"),
            resource=body.get("resource"),
            created_by=who or "unknown",
            created_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    except SuppressionError as exc:
        field, _, message = str(exc).partition(": ")
        raise BadRequest(field, message or str(exc)) from None
    _suppressions(settings).add(made)
    return made.to_json()


def remove_suppression(settings: Settings, suppression_id: str, who: str | None) -> dict[str, Any]:
    """DELETE /suppressions/{id}: ends it; who and when are kept."""
    if not SUPPRESSION_ID_RE.match(suppression_id or ""):
        raise BadRequest("id", "a suppression id is 12 hexadecimal characters")
    try:
        _suppressions(settings).remove(suppression_id, who)
    except StateError:
        raise NotFound("id", f"no active suppression {suppression_id}") from None
    return {"id": suppression_id, "removed": True, "removed_by": who or "unknown"}
