"""Pagination for list routes: a page of a sorted list, and opaque, tamper-evident next tokens.

A token carries the sort key of the last item shown and a digest of the filters it was issued for,
signed with HMAC-SHA256. An edited, truncated or foreign token, or one reused with other filters, is
refused (400) instead of silently showing the wrong page. The token grants nothing (every page is
readable by a caller of the route anyway), so a key derived from the deployment is enough; set
CISWATCH_PAGE_TOKEN_KEY to make tokens unforgeable as well.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
TOKEN_VERSION = 1
MAX_TOKEN_CHARS = 2048


class BadToken(ValueError):
    """A next token this deployment did not issue for these filters."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _digest(filters: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(dict(filters), sort_keys=True).encode()).hexdigest()[:16]


class Signer:
    def __init__(self, key: str):
        self._key = key.encode("utf-8")

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()[:16])

    def token(self, after: Any, filters: Mapping[str, str]) -> str:
        body = json.dumps({"v": TOKEN_VERSION, "f": _digest(filters), "a": after}, separators=(",", ":"))
        payload = _b64(body.encode("utf-8"))
        return f"{payload}.{self._mac(payload)}"

    def position(self, token: str, filters: Mapping[str, str]) -> Any:
        """The sort key a token resumes after. Raises BadToken saying what is wrong."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            raise BadToken("not a next_token issued by this API")
        payload, mac = token.split(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise BadToken("the next_token was altered or issued by another deployment")
        try:
            data = json.loads(_unb64(payload))
        except (ValueError, UnicodeDecodeError):
            raise BadToken("not a next_token issued by this API") from None
        if not isinstance(data, dict) or data.get("v") != TOKEN_VERSION:
            raise BadToken("the next_token is from another version of this API; start again without it")
        if data.get("f") != _digest(filters):
            raise BadToken("the next_token was issued for other filters; repeat the same filters or start again")
        return data.get("a")


def page(items: Sequence[T], key: Callable[[T], Any], after: Any, limit: int) -> tuple[list[T], Any]:
    """Items sorted by ``key`` that come after ``after`` (None: from the start), at most ``limit``;
    and the key to resume after, or None when this was the last page."""
    start = 0
    if after is not None:
        start = next((i for i, item in enumerate(items) if key(item) > after), len(items))
    chosen = list(items[start : start + limit])
    more = start + limit < len(items)
    return chosen, (key(chosen[-1]) if more and chosen else None)
