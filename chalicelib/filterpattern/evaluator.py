"""Evaluate a parsed filter pattern against log events, the way CloudWatch Logs does.

A pattern is compiled once into nested closures; each event's JSON is parsed once (numbers keep
their original text, because a quoted value is compared with the text of a JSON number).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from .ast import (
    And,
    Check,
    Compare,
    DelimitedPattern,
    JsonPattern,
    Num,
    Or,
    Parsed,
    Regex,
    RegexPattern,
    Str,
    TermPattern,
)
from .delimited import compile_delimited
from .parser import parse
from .predicates import NUMERIC_OPS, text_glob
from .regex import compile_regex

MISSING = object()
EventMatch = Callable[["LogEvent"], bool]
RootMatch = Callable[[Any], bool]
ValueTest = Callable[[Any], bool]
Steps = tuple[tuple[str, Any], ...]


class JsonNumber(float):
    """A JSON number that remembers how it was written (``12.0`` is not ``12`` as text)."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> JsonNumber:
        self = super().__new__(cls, text)
        self.text = text
        return self


def _parse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_message(message: str) -> Any:
    """The JSON value of a message, or ``MISSING`` when the message is not JSON."""
    try:
        return json.loads(message, parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=_parse_constant)
    except (ValueError, RecursionError):
        return MISSING


def to_message(value: Any) -> str:
    """Compact JSON text of a parsed value, every number written as it was read (``12.0`` stays ``12.0``,
    ``1e999`` stays ``1e999``): the message CloudWatch would hold for that event."""
    try:
        return _compact(value)
    except RecursionError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _compact(value: Any) -> str:
    if type(value) is JsonNumber:
        return value.text
    if isinstance(value, dict):
        return (
            "{" + ",".join(json.dumps(str(k), ensure_ascii=False) + ":" + _compact(v) for k, v in value.items()) + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(_compact(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


class LogEvent:
    """One log event: its raw message, and its JSON value parsed on first use."""

    __slots__ = ("message", "_json")

    def __init__(self, message: str, parsed: Any = None):
        self.message = message
        self._json = parsed

    @classmethod
    def from_object(cls, obj: Any) -> LogEvent:
        """An event for a JSON object, serialised compactly as CloudWatch would store it."""
        message = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
        return cls(message, parse_json_message(message))

    @property
    def json(self) -> Any:
        if self._json is None:
            self._json = parse_json_message(self.message)
        return self._json


class CompiledPattern:
    def __init__(self, parsed: Parsed):
        self.parsed = parsed
        self._match = _compile_pattern(parsed.pattern)

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.parsed.warnings

    def matches(self, event: LogEvent) -> bool:
        return self._match(event)


def compile_pattern(source: str) -> CompiledPattern:
    return CompiledPattern(parse(source))


def _compile_pattern(pattern: Any) -> EventMatch:
    if isinstance(pattern, JsonPattern):
        expr = _compile_expr(pattern.expr)

        def match_json(event: LogEvent) -> bool:
            root = event.json
            # Only a JSON object is a JSON log event; arrays and scalars never match a JSON pattern.
            return type(root) is dict and expr(root)

        return match_json
    if isinstance(pattern, TermPattern):
        return _compile_terms(pattern)
    if isinstance(pattern, RegexPattern):
        search: Callable[[str], bool] = compile_regex(pattern.regex.body)
        return lambda event: search(event.message)
    if isinstance(pattern, DelimitedPattern):
        return compile_delimited(pattern)
    raise TypeError(f"unknown pattern node {pattern!r}")


# --- terms ---------------------------------------------------------------------------------


def _compile_terms(pattern: TermPattern) -> EventMatch:
    required = [t.text for t in pattern.terms if t.mode == ""]
    excluded = [t.text for t in pattern.terms if t.mode == "-"]
    optional = [t.text for t in pattern.terms if t.mode == "?"]
    if not pattern.terms:
        return lambda event: True
    if required or excluded:
        # AWS: "?" terms are ignored as soon as a plain or "-" term is present.
        def match_terms(event: LogEvent) -> bool:
            msg = event.message
            return all(t in msg for t in required) and not any(t in msg for t in excluded)

        return match_terms
    return lambda event: any(t in event.message for t in optional)


# --- JSON expressions ------------------------------------------------------------------------


def _compile_expr(node: Any) -> RootMatch:
    if isinstance(node, Or):
        return _compile_or(node)
    if isinstance(node, And):
        parts = tuple(_compile_expr(i) for i in node.items)

        def match_and(root: Any) -> bool:
            for part in parts:
                if not part(root):
                    return False
            return True

        return match_and
    if isinstance(node, Compare):
        return _compile_compare(node)
    if isinstance(node, Check):
        return _compile_check(node)
    raise TypeError(f"unknown expression node {node!r}")


def _is_plain_equality(node: Any) -> bool:
    return (
        isinstance(node, Compare)
        and node.op == "="
        and isinstance(node.value, Str)
        and "*" not in node.value.text
        and node.selector.is_simple
    )


def _compile_or(node: Or) -> RootMatch:
    # `$.a = X || $.a = Y || ...` becomes one lookup and a set membership test.
    groups: dict[Steps, set[str]] = defaultdict(set)
    rest = []
    for item in node.items:
        if isinstance(item, Compare) and isinstance(item.value, Str) and _is_plain_equality(item):
            groups[item.selector.steps].add(item.value.text)
        else:
            rest.append(item)
    compiled = [_compile_membership(steps, frozenset(texts)) for steps, texts in groups.items()]
    compiled.extend(_compile_expr(i) for i in rest)
    parts = tuple(compiled)

    def match_or(root: Any) -> bool:
        for part in parts:
            if part(root):
                return True
        return False

    return match_or


def _compile_membership(steps: Steps, texts: frozenset[str]) -> RootMatch:
    get = _compile_getter(steps)

    def member(root: Any) -> bool:
        value = get(root)
        t = type(value)
        if t is str:
            return value in texts
        if t is JsonNumber:
            return value.text in texts
        return False

    return member


def _compile_getter(steps: Steps) -> Callable[[Any], Any]:
    """For a selector without wildcards: root -> value or MISSING."""
    path = tuple(steps)

    def get(root: Any) -> Any:
        node = root
        for step in path:
            kind = step[0]
            if kind == "idx":
                if type(node) is not list or step[1] >= len(node):
                    return MISSING
                node = node[step[1]]
            else:
                if type(node) is not dict:
                    return MISSING
                node = node.get(step[1], MISSING)
                if node is MISSING:
                    return MISSING
        return node

    return get


def _compile_multi_getter(steps: Steps) -> Callable[[Any], list[Any]]:
    """For any selector: root -> list of selected values (empty when nothing is selected)."""
    path = tuple(steps)

    def get_all(root: Any) -> list[Any]:
        nodes = [root]
        for step in path:
            kind = step[0]
            nxt: list[Any] = []
            for node in nodes:
                if kind == "idx":
                    if type(node) is list and step[1] < len(node):
                        nxt.append(node[step[1]])
                elif kind == "anyidx":
                    if type(node) is list:
                        nxt.extend(node)
                elif kind == "anykey":
                    if type(node) is dict:
                        nxt.extend(node.values())
                elif type(node) is dict and step[1] in node:
                    nxt.append(node[step[1]])
            nodes = nxt
            if not nodes:
                break
        return nodes

    return get_all


def _on_text(match: Callable[[str], bool], positive: bool) -> ValueTest:
    """A predicate over a JSON string, or a JSON number's text; anything else never compares."""

    def test(v: Any) -> bool:
        t = type(v)
        if t is str:
            return match(v) == positive
        if t is JsonNumber:
            return match(v.text) == positive
        return False

    return test


def _value_test(op: str, value: Any) -> ValueTest:
    """A predicate over one selected JSON value; objects, arrays, null and booleans never compare."""
    if isinstance(value, Num):
        compare, number = NUMERIC_OPS[op], value.value
        if op == "!=":
            # A string is never equal to a number: `!=` matches it (recorded on CloudWatch Logs; G23).
            return lambda v: type(v) is str or (type(v) is JsonNumber and compare(v, number))
        return lambda v: type(v) is JsonNumber and compare(v, number)
    match = compile_regex(value.body) if isinstance(value, Regex) else text_glob(value.text)
    return _on_text(match, op == "=")


def _compile_compare(node: Compare) -> RootMatch:
    test = _value_test(node.op, node.value)
    if node.selector.is_simple:
        get = _compile_getter(node.selector.steps)

        def compare_one(root: Any) -> bool:
            value = get(root)
            return value is not MISSING and test(value)

        return compare_one
    get_all = _compile_multi_getter(node.selector.steps)

    def compare_any(root: Any) -> bool:
        for value in get_all(root):
            if test(value):
                return True
        return False

    return compare_any


def _compile_check(node: Check) -> RootMatch:
    kind = node.kind
    test: ValueTest
    if kind == "IS TRUE":
        test = lambda v: v is True  # noqa: E731
    elif kind == "IS FALSE":
        test = lambda v: v is False  # noqa: E731
    elif kind == "IS NULL":
        test = lambda v: v is None  # noqa: E731
    else:
        get_all = _compile_multi_getter(node.selector.steps)
        return lambda root: not get_all(root)
    get_all = _compile_multi_getter(node.selector.steps)

    def check(root: Any) -> bool:
        for value in get_all(root):
            if test(value):
                return True
        return False

    return check
