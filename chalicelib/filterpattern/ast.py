"""Filter-pattern syntax tree.

Nodes are frozen dataclasses so that two parses of the same pattern compare equal; the printer in
``printer.py`` turns any tree back into a pattern that parses to the same tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Selector steps: ("key", name) for .name, ("bkey", name) for .['name'], ("idx", n) for [n],
# ("anykey",) for .*, ("anyidx",) for [*].
Step = tuple[Any, ...]


@dataclass(frozen=True)
class Selector:
    steps: tuple[Step, ...]

    @property
    def wildcard_count(self) -> int:
        return sum(1 for s in self.steps if s[0] in ("anykey", "anyidx"))

    @property
    def is_simple(self) -> bool:
        return self.wildcard_count == 0


@dataclass(frozen=True)
class Str:
    """A string value, bare or quoted. ``*`` at either end is a wildcard."""

    text: str
    quoted: bool = True


@dataclass(frozen=True)
class Num:
    """A bare numeric literal, kept as written."""

    text: str

    @property
    def value(self) -> float:
        return float(self.text)


@dataclass(frozen=True)
class Regex:
    body: str


Value = Str | Num | Regex


@dataclass(frozen=True)
class Compare:
    selector: Selector
    op: str  # = != < <= > >=
    value: Value


@dataclass(frozen=True)
class Check:
    selector: Selector
    kind: str  # "IS TRUE" | "IS FALSE" | "IS NULL" | "NOT EXISTS"


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


Expr = Compare | Check | And | Or


@dataclass(frozen=True)
class JsonPattern:
    expr: Expr


@dataclass(frozen=True)
class Term:
    text: str
    quoted: bool = False
    mode: str = ""  # "" required, "?" optional, "-" excluded


@dataclass(frozen=True)
class TermPattern:
    """Terms matched against the raw message. No terms at all matches every event."""

    terms: tuple[Term, ...]


@dataclass(frozen=True)
class RegexPattern:
    regex: Regex


@dataclass(frozen=True)
class FieldCond:
    op: str
    value: Value


@dataclass(frozen=True)
class Field:
    """One column of a space-delimited pattern. ``conds`` is an OR of ANDs of conditions."""

    name: str  # an identifier, or "..." for any number of columns
    conds: tuple[tuple[FieldCond, ...], ...] = ()


@dataclass(frozen=True)
class DelimitedPattern:
    fields: tuple[Field, ...]


Pattern = JsonPattern | TermPattern | RegexPattern | DelimitedPattern


@dataclass(frozen=True)
class Parsed:
    """A parsed pattern plus the warnings about behaviour AWS does not document."""

    pattern: Pattern
    source: str
    warnings: tuple[str, ...] = field(default=())
