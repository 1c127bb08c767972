"""The CLI's exit codes and its one error type (a leaf module)."""

from __future__ import annotations

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input from the user: one line on stderr, exit 2."""
