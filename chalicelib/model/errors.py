"""The model's errors: a leaf module, so every layer can raise and catch them without import cycles."""

from __future__ import annotations

import re


class CiswatchError(Exception):
    """The base of every error ciswatch raises on purpose (each package's ``errors`` module derives from it)."""


class ModelError(CiswatchError, ValueError):
    """Data that does not fit ciswatch's model."""


class ArnError(ModelError):
    """A string that is not an ARN."""


class SnapshotError(ModelError):
    """A snapshot document that cannot be read; ``field`` names the offending place (``trails.items[0].arn``)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


def one_line(text: str, limit: int = 500) -> str:
    """An error message as one line: upstream HTML pages and stack traces are folded, tags dropped."""
    if "<" in text and ">" in text:
        text = re.sub(r"<[^>]*>", " ", text)
    return " ".join(text.split())[:limit]
