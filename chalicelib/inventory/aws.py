"""The inventory's AWS reads: clients from the one factory, a call counter, and errors as data.

Every AWS read goes through ``AwsReader.call``/``paginate``, which turn a failure into an ``ApiError``
record instead of an exception, so one denied or unreachable region never aborts the audit.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..clients import ClientFactory, OnClient
from ..model import ApiError
from ..settings import Settings

MESSAGE_LIMIT = 500


def api_error(
    service: str, operation: str, region: str | None, exc: Exception, resource: str | None = None
) -> ApiError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code") or "ClientError"
        message = err.get("Message") or str(exc)
    else:
        code = type(exc).__name__
        message = str(exc)
    return ApiError(service, operation, region, resource, code, message[:MESSAGE_LIMIT])


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


class AwsReader:
    def __init__(self, settings: Settings, on_client: OnClient | None = None, session: Any = None):
        self.settings = settings
        self.counter = CallCounter()
        self._extra_hook = on_client
        self.clients = ClientFactory(
            settings,
            session=session,
            on_client=self._register,
            pool_size=max(settings.key_workers, settings.region_workers) + 4,
        )

    def _register(self, client: Any, service: str, region: str) -> None:
        client.meta.events.register("before-send", self.counter)
        if self._extra_hook:
            self._extra_hook(client, service, region)

    @property
    def default_region(self) -> str:
        return self.clients.default_region

    def client(self, service: str, region: str) -> Any:
        return self.clients.client(service, region)

    def call(
        self, service: str, region: str, operation: str, resource: str | None = None, **params: Any
    ) -> tuple[Any, ApiError | None]:
        """(response, None) or (None, ApiError)."""
        client = self.client(service, region)
        try:
            return getattr(client, _snake(operation))(**params), None
        except (ClientError, BotoCoreError) as exc:
            return None, api_error(service, operation, region, exc, resource)

    def paginate(
        self, service: str, region: str, operation: str, key: str, resource: str | None = None, **params: Any
    ) -> tuple[list[Any] | None, ApiError | None]:
        """(all items under ``key`` across pages, None) or (None, ApiError)."""
        client = self.client(service, region)
        items: list[Any] = []
        try:
            for page in client.get_paginator(_snake(operation)).paginate(**params):
                items.extend(page.get(key, []))
        except (ClientError, BotoCoreError) as exc:
            return None, api_error(service, operation, region, exc, resource)
        return items, None


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
