"""The inventory's AWS reads: clients from the one factory, a call counter, and errors as data.

Every AWS read goes through ``AwsReader.call``/``paginate``, which turn a failure into an ``ApiError``
record instead of an exception, so one denied or unreachable region never aborts the audit.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..clients import ClientFactory, OnClient
from ..model import ApiError
from ..model.errors import one_line
from ..settings import Settings

MESSAGE_LIMIT = 500
MALFORMED = "MalformedResponse"
# What a well-formed answer of each read always carries. A 200 with a body that is not the service's
# (a proxy's HTML page, a truncated document) parses into an empty dict for JSON services: without
# this check, "no keys" or "no alarms" would be read from a broken answer.
REQUIRED_KEYS = {
    "GetCallerIdentity": "Account",
    "DescribeRegions": "Regions",
    "DescribeTrails": "trailList",
    "ListTrails": "Trails",
    "GetTrailStatus": "IsLogging",
    "DescribeMetricFilters": "metricFilters",
    "DescribeAlarms": "MetricAlarms",
    "GetTopicAttributes": "Attributes",
    "ListSubscriptionsByTopic": "Subscriptions",
    "GetSubscriptionAttributes": "Attributes",
    "ListKeys": "Keys",
    "ListAliases": "Aliases",
    "DescribeKey": "KeyMetadata",
    "GetKeyPolicy": "Policy",
    "GetKeyRotationStatus": "KeyRotationEnabled",
}


class MalformedResponse(Exception):
    """An answer that is not what the service sends: its body could not be read as the operation's output."""


def api_error(
    service: str, operation: str, region: str | None, exc: Exception, resource: str | None = None
) -> ApiError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code") or "ClientError"
        message = err.get("Message") or str(exc)
    elif isinstance(exc, BotoCoreError):
        code = type(exc).__name__
        message = str(exc)
    else:  # the answer could not be parsed (botocore raises plain exceptions on some bodies)
        code = MALFORMED
        message = f"the response could not be read ({type(exc).__name__}: {exc})"
    return ApiError(service, operation, region, resource, code, one_line(message, MESSAGE_LIMIT))


def _require(operation: str, response: Any) -> None:
    key = REQUIRED_KEYS.get(operation)
    if not isinstance(response, dict) or (key is not None and key not in response):
        raise MalformedResponse(f"{operation} answered without {key or 'a body'}")


class CallCounter:
    """Counts HTTP requests (retries included) per operation, from botocore's before-send event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_operation: Counter[str] = Counter()

    def __call__(self, request: Any = None, **kwargs: Any) -> None:
        name = kwargs.get("event_name", "")  # before-send.<service>.<Operation>
        parts = name.split(".")
        key = f"{parts[1]}:{parts[2]}" if len(parts) >= 3 else name
        with self._lock:
            self.by_operation[key] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.by_operation.values())


class RateLimit:
    """At most ``per_second`` requests per (region, operation) of one account's reader, retries included:
    a member account shares its API quotas (KMS's are per account and region) with its own workloads, so
    the audit takes a small, steady share of them instead of bursting to throttling."""

    def __init__(
        self, per_second: int, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ):
        self.interval = 1.0 / per_second
        self._clock, self._sleep = clock, sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, request: Any = None, region: str = "", **kwargs: Any) -> None:
        key = f"{region}:{kwargs.get('event_name', '')}"  # before-send.<service>.<Operation>
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(key, now))
            self._next[key] = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


class TimeBudget:
    """The reads stop at a deadline (a worker's share of its Lambda timeout): every read after it is an
    ApiError naming the budget, so the run records a partial ERROR instead of being killed mid-write."""

    CODE = "TimeBudgetExhausted"

    def __init__(self, deadline: float, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.deadline, self.seconds, self._clock = deadline, seconds, clock

    @classmethod
    def of(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> TimeBudget:
        return cls(clock() + seconds, seconds, clock)

    def spent(self) -> bool:
        return self._clock() >= self.deadline

    def error(self, service: str, operation: str, region: str | None, resource: str | None) -> ApiError:
        message = f"not read: the audit's time budget ({self.seconds:.0f} s) ran out before this call"
        return ApiError(service, operation, region, resource, self.CODE, message)


class AwsReader:
    def __init__(
        self,
        settings: Settings,
        on_client: OnClient | None = None,
        session: Any = None,
        budget: TimeBudget | None = None,
    ):
        self.settings = settings
        self.counter = CallCounter()
        self.budget = budget
        self._rate = RateLimit(settings.rate_limit) if settings.rate_limit else None
        self._extra_hook = on_client
        self.clients = ClientFactory(
            settings,
            session=session,
            on_client=self._register,
            pool_size=max(settings.key_workers, settings.region_workers) + 4,
        )

    def _register(self, client: Any, service: str, region: str) -> None:
        client.meta.events.register("before-send", self.counter)
        if self._rate is not None:
            client.meta.events.register("before-send", functools.partial(self._rate, region=region))
        if self._extra_hook:
            self._extra_hook(client, service, region)

    @property
    def default_region(self) -> str:
        return self.clients.default_region

    def client(self, service: str, region: str) -> Any:
        return self.clients.client(service, region)

    def call(
        self,
        service: str,
        region: str,
        operation: str,
        resource: str | None = None,
        parse: Callable[[Any], Any] | None = None,
        **params: Any,
    ) -> tuple[Any, ApiError | None]:
        """(response, None) or (None, ApiError). ``parse`` turns the response into records; an answer
        it cannot read is an ApiError too (MalformedResponse), never an exception."""
        if self.budget is not None and self.budget.spent():
            return None, self.budget.error(service, operation, region, resource)
        client = self.client(service, region)
        try:
            response = getattr(client, _snake(operation))(**params)
            _require(operation, response)
            return (parse(response) if parse else response), None
        except Exception as exc:  # noqa: BLE001 - every failure of a read is data: ERROR for what needs it
            return None, api_error(service, operation, region, exc, resource)

    def paginate(
        self,
        service: str,
        region: str,
        operation: str,
        key: str,
        resource: str | None = None,
        parse: Callable[[Any], Any] | None = None,
        **params: Any,
    ) -> tuple[list[Any] | None, ApiError | None]:
        """(all items under ``key`` across pages, each through ``parse``, None) or (None, ApiError)."""
        found, err = self.paginate_lists(service, region, operation, {key: parse}, resource, **params)
        return (None, err) if found is None else (found[key], None)

    def paginate_lists(
        self,
        service: str,
        region: str,
        operation: str,
        lists: Mapping[str, Callable[[Any], Any] | None],
        resource: str | None = None,
        **params: Any,
    ) -> tuple[dict[str, list[Any]] | None, ApiError | None]:
        """Several lists of one paginated answer (DescribeAlarms: metric and composite alarms), each parsed."""
        if self.budget is not None and self.budget.spent():
            return None, self.budget.error(service, operation, region, resource)
        client = self.client(service, region)
        found: dict[str, list[Any]] = {key: [] for key in lists}
        try:
            for page in client.get_paginator(_snake(operation)).paginate(**params):
                _require(operation, page)
                for key, parse in lists.items():
                    items = page.get(key, [])
                    if not isinstance(items, list):
                        raise MalformedResponse(f"{operation} answered {key} that is not a list")
                    found[key].extend(parse(i) if parse else i for i in items)
        except Exception as exc:  # noqa: BLE001 - as in call()
            return None, api_error(service, operation, region, exc, resource)
        return found, None


def _snake(operation: str) -> str:
    out = []
    for i, ch in enumerate(operation):
        if (
            ch.isupper()
            and i
            and (not operation[i - 1].isupper() or (i + 1 < len(operation) and operation[i + 1].islower()))
        ):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
