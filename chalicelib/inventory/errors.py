"""The inventory's errors (a leaf module)."""

from __future__ import annotations

from ..model.errors import CiswatchError


class InventoryError(CiswatchError):
    """Base of the inventory's errors."""


class InventoryAbort(InventoryError):
    """The audit cannot run at all (no credentials, identity unknown)."""
