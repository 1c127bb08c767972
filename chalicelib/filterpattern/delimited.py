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

        text_matches: bool = op == "!="  # text is never equal to a number (G23)

        def number_test(text: str) -> bool:
            try:
                return bool(compare(float(text), number))
            except ValueError:
                return text_matches

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
        return _columns_match(tests, split_columns(event.message))

    return match


def _columns_match(tests: list[FieldTest], cols: list[str]) -> bool:
    """Whether the fields match the columns, ``...`` taking any number of them (including none).

    Dynamic programming from the last field back, one row of column positions at a time: time and
    memory are linear in the number of columns for each field, whatever the message.
    """
    n = len(cols)
    # after[ci]: the fields after the current one match cols[ci:]
    after = [False] * n + [True]
    for test in reversed(tests):
        row = [False] * (n + 1)
        if test is None:
            row[n] = after[n]
            for ci in range(n - 1, -1, -1):  # "..." here: skip no column, or one and try again
                row[ci] = after[ci] or row[ci + 1]
        else:
            for ci in range(n):
                row[ci] = after[ci + 1] and test(cols[ci])
        after = row
    return after[0]
