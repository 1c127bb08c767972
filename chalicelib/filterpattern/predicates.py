"""Small predicates shared by the JSON and the space-delimited evaluators (a leaf module)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

TextTest = Callable[[str], bool]

NUMERIC_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def text_glob(pattern: str) -> TextTest:
    """``*`` at either end of a value is a wildcard; anywhere else it is a literal character."""
    if pattern == "*" or pattern == "**":
        return lambda text: True
    lead = pattern.startswith("*")
    trail = len(pattern) > 1 and pattern.endswith("*")
    core = pattern[1 if lead else 0 : len(pattern) - 1 if trail else len(pattern)]
    if lead and trail:
        return lambda text: core in text
    if lead:
        return lambda text: text.endswith(core)
    if trail:
        return lambda text: text.startswith(core)
    return lambda text: text == core
