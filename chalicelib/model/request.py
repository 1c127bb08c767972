"""An audit request: what a producer (the schedule, POST /audits) puts on the queue and the worker runs.

The message is the whole contract between producer and worker, so it is parsed here, strictly: a
message that is not one of these is refused with the field named, never guessed at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import ModelError
from .rules import is_region_name

TRIGGERS = ("schedule", "api")
# Who announces the request's changes: the account's own digest, or the run's one digest (an
# Organization run: sent by whichever worker finishes the run's last account, or at its deadline).
DIGEST_SCOPES = ("account", "run")
RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
BENCHMARK_RE = re.compile(r"^\d+\.\d+\.\d+$")
FIELDS = ("run_id", "account", "regions", "benchmark", "trigger", "requested_at")
OPTIONAL_FIELDS = {"digest_scope": "account"}  # absent in messages queued before the field existed
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
    digest_scope: str = "account"

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "account": self.account,
            "regions": list(self.regions),
            "benchmark": self.benchmark,
            "trigger": self.trigger,
            "requested_at": self.requested_at,
            "digest_scope": self.digest_scope,
        }

    def to_message(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def from_message(cls, body: str) -> AuditRequest:
        parsed = parse_message(body)
        if not isinstance(parsed, AuditRequest):
            raise MalformedRequest("deadline_of", "a run's deadline, not an audit request")
        return parsed

    @classmethod
    def from_json(cls, data: Any) -> AuditRequest:
        if not isinstance(data, Mapping):
            raise MalformedRequest("body", "not a JSON object")
        unknown = sorted(set(data) - set(FIELDS) - set(OPTIONAL_FIELDS))
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
        digest_scope = data.get("digest_scope", OPTIONAL_FIELDS["digest_scope"])
        if digest_scope not in DIGEST_SCOPES:
            raise MalformedRequest("digest_scope", f"must be one of {', '.join(DIGEST_SCOPES)}")
        return cls(
            run_id=data["run_id"],
            account=data["account"],
            regions=tuple(dict.fromkeys(regions)),
            benchmark=data["benchmark"],
            trigger=data["trigger"],
            requested_at=data["requested_at"],
            digest_scope=digest_scope,
        )


@dataclass(frozen=True, slots=True)
class RunDeadline:
    """A timer on the request queue (a delayed message): when it comes due, the run is closed with what
    it has, naming the accounts that never finished. Until then it puts itself back on the queue."""

    run_id: str
    due: str  # UTC, ISO 8601 with a Z

    def to_message(self) -> str:
        return json.dumps({"deadline_of": self.run_id, "due": self.due}, sort_keys=True)

    def due_at(self) -> datetime:
        return datetime.strptime(self.due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def parse_message(body: str) -> AuditRequest | RunDeadline:
    """A request-queue message: an audit request, or a run's deadline timer."""
    if len(body.encode("utf-8", "replace")) > MAX_MESSAGE_BYTES:
        raise MalformedRequest("body", f"larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise MalformedRequest("body", f"not JSON ({exc.__class__.__name__})") from None
    if isinstance(data, Mapping) and "deadline_of" in data:
        if set(data) != {"deadline_of", "due"}:
            raise MalformedRequest("deadline_of", "a deadline has exactly deadline_of and due")
        run_id, due = data["deadline_of"], data["due"]
        if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id):
            raise MalformedRequest("deadline_of", "must be a run id")
        deadline = RunDeadline(run_id, due if isinstance(due, str) else "")
        try:
            deadline.due_at()
        except ValueError:
            raise MalformedRequest("due", "must be a UTC time such as 2026-12-01T10:00:00Z") from None
        return deadline
    return AuditRequest.from_json(data)
