"""One frozen Settings object, read from the environment (the Lambda) or built by the CLI."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 6 and low <= int(text) <= high):
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
    return int(text)


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    return tuple(dict.fromkeys(r.strip() for r in raw.split(",") if r.strip()))


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = str(env.get(name, "")).strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be true or false, not {env.get(name)!r}")


class NotConfigured(Exception):
    """The deployment lacks a setting that a request needs (the message names it)."""


@dataclass(frozen=True)
class Settings:
    benchmark: str | None = None  # None: the catalogue's default
    regions: tuple[str, ...] = ()  # empty: every enabled region
    endpoint_url: str | None = None
    profile: str | None = None
    region_workers: int = 8
    key_workers: int = 16
    max_attempts: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    table: str | None = None  # DynamoDB table for findings state; None: read-only audit
    topic_arn: str | None = None  # SNS topic for change digests; None: record without notifying
    queue_url: str | None = None  # SQS queue of audit requests (the deployed service); None: no queue
    page_token_key: str | None = None  # signs GET /findings next tokens; None: derived from the table name
    security_hub: bool = False  # import each run's findings into Security Hub (ASFF, BatchImportFindings)
    organization: bool = False  # the schedule audits every ACTIVE account of the Organization
    member_role: str = "ciswatch-audit"  # the role assumed in each member account
    external_id: str | None = None  # the member role's sts:ExternalId, when its trust asks for one
    include_accounts: tuple[str, ...] = ()  # empty: every account
    exclude_accounts: tuple[str, ...] = ()
    include_ous: tuple[str, ...] = ()  # OU (or root) ids: their accounts at any depth
    exclude_ous: tuple[str, ...] = ()
    state_region: str | None = None  # the table's region (default: the session's)
    retention_days: int = 400
    confirm_runs: int = 1
    confirm_runs_kms: int = 2
    rate_limit: int = 50  # requests per second per (account, region, operation); 0: no limit
    run_deadline_minutes: int = 240  # a run of many accounts is closed (its digest sent) by then at the latest
    digest_per_account: bool = False  # Organization runs: each account its own digest instead of one for the run

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        base = cls(
            benchmark=env.get("CISWATCH_BENCHMARK") or None,
            regions=_list(env, "CISWATCH_REGIONS"),
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            table=env.get("CISWATCH_TABLE") or None,
            topic_arn=env.get("CISWATCH_TOPIC_ARN") or None,
            queue_url=env.get("CISWATCH_QUEUE_URL") or None,
            page_token_key=env.get("CISWATCH_PAGE_TOKEN_KEY") or None,
            security_hub=_flag(env, "CISWATCH_SECURITY_HUB"),
            organization=_flag(env, "CISWATCH_ORGANIZATION"),
            member_role=env.get("CISWATCH_MEMBER_ROLE") or "ciswatch-audit",
            external_id=env.get("CISWATCH_EXTERNAL_ID") or None,
            include_accounts=_list(env, "CISWATCH_INCLUDE_ACCOUNTS"),
            exclude_accounts=_list(env, "CISWATCH_EXCLUDE_ACCOUNTS"),
            include_ous=_list(env, "CISWATCH_INCLUDE_OUS"),
            exclude_ous=_list(env, "CISWATCH_EXCLUDE_OUS"),
            state_region=env.get("CISWATCH_STATE_REGION") or None,
            digest_per_account=_flag(env, "CISWATCH_DIGEST_PER_ACCOUNT"),
        )
        numbers: dict[str, Any] = {
            name: _int(env, variable, getattr(base, name), low, high)
            for name, (variable, low, high) in INTEGER_VARIABLES.items()
        }
        return replace(base, **numbers)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


# The whole-number settings: the environment variable of each and its sensible range (the defaults
# are the fields'). A value outside the range is a configuration error, said at once.
INTEGER_VARIABLES = {
    "region_workers": ("CISWATCH_REGION_WORKERS", 1, 64),
    "key_workers": ("CISWATCH_KEY_WORKERS", 1, 128),
    "max_attempts": ("CISWATCH_MAX_ATTEMPTS", 1, 20),
    "retention_days": ("CISWATCH_RETENTION_DAYS", 1, 3650),
    "confirm_runs": ("CISWATCH_CONFIRM_RUNS", 1, 30),
    "confirm_runs_kms": ("CISWATCH_CONFIRM_RUNS_KMS", 1, 30),
    "rate_limit": ("CISWATCH_RATE_LIMIT", 0, 1000),
    "run_deadline_minutes": ("CISWATCH_RUN_DEADLINE_MINUTES", 15, 1440),
}
# How far back history and GET /runs look at most (run summaries expire with the retention anyway).
MAX_HISTORY_DAYS = 400
