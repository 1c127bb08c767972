"""Space-delimited patterns (``[ip, user, ..., status=404]``) applied to a raw message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from .ast import DelimitedPattern, Field, Num, Regex
from .predicates import NUMERIC_OPS, text_glob
from .regex import compile_regex

TextTest = Callable[[str], bool]
FieldTest = TextTest | None


class Event(Protocol):
    message: str


def split_columns(message: str) -> list[str]:
    """Split on spaces; "quoted" and [bracketed] runs are one column, without their delimiters."""
    columns = []
    i, n = 0, len(message)
    while i < n:
        ch = message[i]
        if ch == " ":
            i += 1
            continue
        if ch in '"[':
            close = '"' if ch == '"' else "]"
            end = message.find(close, i + 1)
            if end >= 0:
                columns.append(message[i + 1 : end])
                i = end + 1
                continue
        end = message.find(" ", i)
        end = n if end < 0 else end
        columns.append(message[i:end])
        i = end
    return columns


def _cond_test(cond: Any) -> TextTest:
    value, op = cond.value, cond.op
    if isinstance(value, Num):
        compare, number = NUMERIC_OPS[op], value.value

        def number_test(text: str) -> bool:
            try:
                return bool(compare(float(text), number))
            except ValueError:
                return False

        return number_test
    match: TextTest = compile_regex(value.body) if isinstance(value, Regex) else text_glob(value.text)
    positive = op == "="
    return lambda text: match(text) == positive


def _field_test(fld: Field) -> TextTest:
    if not fld.conds:
        return lambda text: True
    groups = [[_cond_test(c) for c in group] for group in fld.conds]
    return lambda text: any(all(t(text) for t in group) for group in groups)


def compile_delimited(pattern: DelimitedPattern) -> Callable[[Event], bool]:
    fields = pattern.fields
    tests: list[FieldTest] = [None if f.name == "..." else _field_test(f) for f in fields]

    def match(event: Event) -> bool:
        cols = split_columns(event.message)
        return _match_from(tests, 0, cols, 0, {})

    return match


def _match_from(tests: list[FieldTest], fi: int, cols: list[str], ci: int, memo: dict[tuple[int, int], bool]) -> bool:
    key = (fi, ci)
    if key in memo:
        return memo[key]
    if fi == len(tests):
        result = ci == len(cols)
    elif tests[fi] is None:  # "..." takes any number of columns, including none
        result = any(_match_from(tests, fi + 1, cols, k, memo) for k in range(ci, len(cols) + 1))
    else:
        test = tests[fi]
        result = (
            ci < len(cols) and test is not None and test(cols[ci]) and _match_from(tests, fi + 1, cols, ci + 1, memo)
        )
    memo[key] = result
    return result
