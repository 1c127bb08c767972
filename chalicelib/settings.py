"""One frozen Settings object, read from the environment (the Lambda) or built by the CLI."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace


def _int(env, name, default):
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {raw!r}") from None


def _list(env, name):
    raw = env.get(name, "")
    return tuple(r.strip() for r in raw.split(",") if r.strip())


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
    state_region: str | None = None  # the table's region (default: the session's)
    retention_days: int = 400
    confirm_runs: int = 1
    confirm_runs_kms: int = 2

    @classmethod
    def from_env(cls, env=None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            benchmark=env.get("CISWATCH_BENCHMARK") or None,
            regions=_list(env, "CISWATCH_REGIONS"),
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            region_workers=_int(env, "CISWATCH_REGION_WORKERS", 8),
            key_workers=_int(env, "CISWATCH_KEY_WORKERS", 16),
            max_attempts=_int(env, "CISWATCH_MAX_ATTEMPTS", 5),
            table=env.get("CISWATCH_TABLE") or None,
            topic_arn=env.get("CISWATCH_TOPIC_ARN") or None,
            state_region=env.get("CISWATCH_STATE_REGION") or None,
            retention_days=_int(env, "CISWATCH_RETENTION_DAYS", 400),
            confirm_runs=_int(env, "CISWATCH_CONFIRM_RUNS", 1),
            confirm_runs_kms=_int(env, "CISWATCH_CONFIRM_RUNS_KMS", 2),
        )

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)
