"""An audit request: what a producer (the schedule, POST /audits) puts on the queue and the worker runs.

The message is the whole contract between producer and worker, so it is parsed here, strictly: a
message that is not one of these is refused with the field named, never guessed at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ModelError
from .rules import is_region_name

TRIGGERS = ("schedule", "api")
RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
BENCHMARK_RE = re.compile(r"^\d+\.\d+\.\d+$")
FIELDS = ("run_id", "account", "regions", "benchmark", "trigger", "requested_at")
MAX_MESSAGE_BYTES = 16_384  # far above any real request; a bigger body is not ours


class MalformedRequest(ModelError):
    """A queue message that is not an audit request; names the field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class AuditRequest:
    run_id: str
    account: str
    regions: tuple[str, ...]  # empty: every enabled region
    benchmark: str
    trigger: str
    requested_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "account": self.account,
            "regions": list(self.regions),
            "benchmark": self.benchmark,
            "trigger": self.trigger,
            "requested_at": self.requested_at,
        }

    def to_message(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def from_message(cls, body: str) -> AuditRequest:
        if len(body.encode("utf-8", "replace")) > MAX_MESSAGE_BYTES:
            raise MalformedRequest("body", f"larger than {MAX_MESSAGE_BYTES} bytes")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise MalformedRequest("body", f"not JSON ({exc.__class__.__name__})") from None
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: Any) -> AuditRequest:
        if not isinstance(data, Mapping):
            raise MalformedRequest("body", "not a JSON object")
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise MalformedRequest(unknown[0], "unknown field")
        missing = [f for f in FIELDS if f not in data]
        if missing:
            raise MalformedRequest(missing[0], "missing")
        regions = data["regions"]
        if not isinstance(regions, list) or not all(isinstance(r, str) and is_region_name(r) for r in regions):
            raise MalformedRequest("regions", "must be a list of region names")
        checks = (
            ("run_id", RUN_ID_RE, "a run id such as 20261201T060000Z-0123abcd"),
            ("account", ACCOUNT_RE, "12 digits"),
            ("benchmark", BENCHMARK_RE, "a version such as 5.0.0"),
        )
        for name, pattern, expected in checks:
            value = data[name]
            if not isinstance(value, str) or not pattern.match(value):
                raise MalformedRequest(name, f"must be {expected}")
        if data["trigger"] not in TRIGGERS:
            raise MalformedRequest("trigger", f"must be one of {', '.join(TRIGGERS)}")
        if not isinstance(data["requested_at"], str) or not data["requested_at"]:
            raise MalformedRequest("requested_at", "must be a timestamp")
        return cls(
            run_id=data["run_id"],
            account=data["account"],
            regions=tuple(dict.fromkeys(regions)),
            benchmark=data["benchmark"],
            trigger=data["trigger"],
            requested_at=data["requested_at"],
        )
