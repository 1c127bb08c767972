"""The state layer's errors (a leaf module)."""

from __future__ import annotations

from ..model.errors import CiswatchError


class StateError(CiswatchError):
    """The findings table could not be read or written as the run needs."""
