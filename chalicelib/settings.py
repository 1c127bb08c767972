"""One frozen Settings object, read from the environment (the Lambda) or built by the CLI."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace


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
    extra: dict = field(default_factory=dict)

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
        )

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)
