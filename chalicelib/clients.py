"""The one boto3 client factory: a session, an endpoint, retries and timeouts from Settings, clients cached."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from .settings import Settings

OnClient = Callable[[Any, str, str], None]


class ClientFactory:
    """Clients per (service, region), thread-safe. ``on_client`` sees each new client (hooks, counters)."""

    def __init__(self, settings: Settings, session: Any = None, on_client: OnClient | None = None, pool_size: int = 10):
        self.settings = settings
        self._session = session
        self._on_client = on_client
        self._pool_size = pool_size
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()
        self._config: Any = None

    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = boto3.Session(profile_name=self.settings.profile)
        return self._session

    @property
    def default_region(self) -> str:
        return self.session.region_name or "us-east-1"

    def _botocore_config(self) -> Any:
        if self._config is None:
            s = self.settings
            self._config = Config(
                retries={"mode": "standard", "max_attempts": s.max_attempts},
                connect_timeout=s.connect_timeout,
                read_timeout=s.read_timeout,
                max_pool_connections=self._pool_size,
            )
        return self._config

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        with self._lock:  # sessions are not thread-safe; clients are
            client = self._clients.get(key)
            if client is None:
                kwargs: dict[str, Any] = {"config": self._botocore_config()}
                if region:
                    kwargs["region_name"] = region
                if self.settings.endpoint_url:
                    kwargs["endpoint_url"] = self.settings.endpoint_url
                client = self.session.client(service, **kwargs)
                if self._on_client:
                    self._on_client(client, service, region or self.default_region)
                self._clients[key] = client
        return client


def aws_client(service: str, settings: Settings, region: str | None = None) -> Any:
    """One client, for callers that need just one (the state table, the digest topic, the CLI)."""
    return ClientFactory(settings).client(service, region)
