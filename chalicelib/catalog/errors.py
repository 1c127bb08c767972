"""The catalogue's errors (a leaf module)."""

from __future__ import annotations

from ..model.errors import CiswatchError


class CatalogError(CiswatchError, ValueError):
    """An unknown control id or benchmark version."""
