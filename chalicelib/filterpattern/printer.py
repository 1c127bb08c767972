"""Print a syntax tree back as a pattern; ``parse(to_pattern(tree))`` gives the same tree."""

from __future__ import annotations

from typing import Any

from .ast import (
    And,
    Check,
    Compare,
    DelimitedPattern,
    Field,
    JsonPattern,
    Num,
    Or,
    Regex,
    RegexPattern,
    Selector,
    Str,
    TermPattern,
)


def to_pattern(pattern: Any) -> str:
    if isinstance(pattern, JsonPattern):
        return "{ " + _expr(pattern.expr) + " }"
    if isinstance(pattern, TermPattern):
        return " ".join(t.mode + (_quote(t.text) if t.quoted else t.text) for t in pattern.terms)
    if isinstance(pattern, RegexPattern):
        return "%" + pattern.regex.body + "%"
    if isinstance(pattern, DelimitedPattern):
        return "[" + ", ".join(_field(f) for f in pattern.fields) + "]"
    raise TypeError(f"unknown pattern node {pattern!r}")


def _field(fld: Field) -> str:
    if not fld.conds:
        return str(fld.name)
    groups = [" && ".join(f"{fld.name} {c.op} {_value(c.value)}" for c in group) for group in fld.conds]
    return " || ".join(groups)


def _expr(node: Any, parent: type | None = None) -> str:
    if isinstance(node, Or):
        text = " || ".join(_expr(i, Or) for i in node.items)
        return f"({text})" if parent is And else text
    if isinstance(node, And):
        return " && ".join(_expr(i, And) for i in node.items)
    if isinstance(node, Compare):
        return f"{selector_text(node.selector)} {node.op} {_value(node.value)}"
    if isinstance(node, Check):
        return f"{selector_text(node.selector)} {node.kind}"
    raise TypeError(f"unknown expression node {node!r}")


def selector_text(sel: Selector) -> str:
    out = ["$"]
    for step in sel.steps:
        kind = step[0]
        if kind == "key":
            out.append("." + step[1])
        elif kind == "bkey":
            out.append(".['" + step[1] + "']")
        elif kind == "idx":
            out.append(f"[{step[1]}]")
        elif kind == "anykey":
            out.append(".*")
        else:
            out.append("[*]")
    return "".join(out)


def _value(value: Any) -> str:
    if isinstance(value, Str):
        return _quote(value.text) if value.quoted else value.text
    if isinstance(value, Num):
        return value.text
    if isinstance(value, Regex):
        return "%" + value.body + "%"
    raise TypeError(f"unknown value node {value!r}")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
