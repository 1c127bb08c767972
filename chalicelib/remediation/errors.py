"""The remediation package's errors (a leaf module)."""

from __future__ import annotations

from ..model.errors import CiswatchError


class RemediationError(CiswatchError):
    """Base of the remediation package's errors."""


class Refused(RemediationError):
    """A step that would change something ciswatch must not touch (an AWS managed key, say)."""
