"""boto3 clients for the inventory: one per (service, region), retries, timeouts, and a call counter.

Every AWS read goes through ``AwsReader.call``/``paginate``, which turn a failure into an ``ApiError``
record instead of an exception, so one denied or unreachable region never aborts the audit.
"""

from __future__ import annotations

import threading
from collections import Counter

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError


def api_error(service: str, operation: str, region: str | None, exc: Exception, resource: str | None = None) -> dict:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code") or "ClientError"
        message = err.get("Message") or str(exc)
    else:
        code = type(exc).__name__
        message = str(exc)
    return {
        "service": service,
        "operation": operation,
        "region": region,
        "resource": resource,
        "code": code,
        "message": message[:500],
    }


class CallCounter:
    """Counts HTTP requests (retries included) per operation, from botocore's before-send event."""

    def __init__(self):
        self._lock = threading.Lock()
        self.by_operation: Counter = Counter()

    def __call__(self, request=None, **kwargs):
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
    def __init__(self, settings, on_client=None, session=None):
        self.settings = settings
        self._session = session or boto3.Session(profile_name=settings.profile)
        self._clients: dict = {}
        self._lock = threading.Lock()
        self.counter = CallCounter()
        self._on_client = on_client
        self._config = Config(
            retries={"mode": "standard", "max_attempts": settings.max_attempts},
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_pool_connections=max(settings.key_workers, settings.region_workers) + 4,
        )

    @property
    def default_region(self) -> str:
        return self._session.region_name or "us-east-1"

    def client(self, service: str, region: str):
        key = (service, region)
        with self._lock:  # sessions are not thread-safe; clients are
            client = self._clients.get(key)
            if client is None:
                kwargs = {"region_name": region, "config": self._config}
                if self.settings.endpoint_url:
                    kwargs["endpoint_url"] = self.settings.endpoint_url
                client = self._session.client(service, **kwargs)
                client.meta.events.register("before-send", self.counter)
                if self._on_client:
                    self._on_client(client, service, region)
                self._clients[key] = client
        return client

    def call(self, service: str, region: str, operation: str, resource: str | None = None, **params):
        """(response, None) or (None, ApiError dict)."""
        client = self.client(service, region)
        try:
            return getattr(client, _snake(operation))(**params), None
        except (ClientError, BotoCoreError) as exc:
            return None, api_error(service, operation, region, exc, resource)

    def paginate(self, service: str, region: str, operation: str, key: str, resource: str | None = None, **params):
        """(all items under ``key`` across pages, None) or (None, ApiError dict)."""
        client = self.client(service, region)
        items = []
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
