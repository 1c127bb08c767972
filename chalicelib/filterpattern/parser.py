"""Parser for CloudWatch Logs filter patterns (JSON, term, regex and space-delimited flavours).

Hand-written recursive descent; every rejection raises ``FilterPatternError`` with an offset.
The behaviour follows the project's grammar notes; decisions on undocumented points are listed in
``docs/decisions.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .ast import (
    And,
    Check,
    Compare,
    DelimitedPattern,
    Expr,
    Field,
    FieldCond,
    JsonPattern,
    Num,
    Or,
    Parsed,
    Regex,
    RegexPattern,
    Selector,
    Str,
    Term,
    TermPattern,
)
from .errors import FilterPatternError
from .regex import check_regex

MAX_PATTERN_LENGTH = 1024
# Deeper nesting is refused with a clear error rather than exhausting the interpreter's stack (the
# parser, the compiler and the printer recurse once per level). Real patterns nest two or three deep.
MAX_NESTING = 100
MAX_REGEX_PER_PATTERN = 2
MAX_WILDCARD_SELECTORS = 3

WHITESPACE = " \t\n\r"
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
# Characters AWS examples show in bare values, and a few more it is unknown whether AWS accepts.
BARE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._*-")
BARE_UNCERTAIN_CHARS = frozenset(":/@+")
TERM_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
NUMBER_RE = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z")
KEYWORDS = ("IS", "NOT", "TRUE", "FALSE", "NULL", "EXISTS")


def parse(source: str) -> Parsed:
    """Parse a filter pattern. Raises ``FilterPatternError`` for anything CloudWatch would reject."""
    if not isinstance(source, str):
        raise FilterPatternError("the pattern must be a string", 0)
    if len(source) > MAX_PATTERN_LENGTH:
        raise FilterPatternError(
            f"the pattern is {len(source)} characters; CloudWatch Logs allows at most {MAX_PATTERN_LENGTH}",
            MAX_PATTERN_LENGTH,
        )
    stripped = source.strip(WHITESPACE)
    if stripped[:1] in ("{", "["):
        _reject_outer_whitespace(source, stripped)
        structured: _JsonParser | _DelimitedParser = (
            _JsonParser(source) if stripped[0] == "{" else _DelimitedParser(source)
        )
        return Parsed(structured.parse_pattern(), source, tuple(structured.warnings))
    if len(stripped) >= 2 and stripped[0] == "%" and stripped.endswith("%") and _is_single_regex(stripped):
        _reject_outer_whitespace(source, stripped)
        body = stripped[1:-1]
        check_regex(body, 1)
        return Parsed(RegexPattern(Regex(body)), source, ())
    if stripped == '" "':
        return Parsed(TermPattern(()), source, ())  # AWS documents a quoted single space as "match everything"
    terms = _TermParser(source)
    return Parsed(terms.parse_pattern(), source, tuple(terms.warnings))


def _is_single_regex(text: str) -> bool:
    return text.count("%") == 2


def _reject_outer_whitespace(source: str, stripped: str) -> None:
    leading = source[:1] in tuple(WHITESPACE)
    # Trailing whitespace after an unclosed pattern is reported as the missing bracket instead.
    trailing = source != source.rstrip(WHITESPACE) and stripped[-1:] in ("}", "]", "%")
    if leading or trailing:
        offset = 0 if leading else len(source.rstrip(WHITESPACE))
        raise FilterPatternError(
            "whitespace outside the pattern's braces or brackets is rejected by CloudWatch Logs", offset
        )


class _Scanner:
    def __init__(self, source: str):
        self.src = source
        self.pos = 0
        self.warnings: list[str] = []

    def error(self, message: str, offset: int | None = None) -> FilterPatternError:
        return FilterPatternError(message, self.pos if offset is None else offset)

    def peek(self, n: int = 1) -> str:
        return self.src[self.pos : self.pos + n]

    def skip_ws(self) -> None:
        while self.pos < len(self.src) and self.src[self.pos] in WHITESPACE:
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.src)

    def expect(self, text: str, what: str) -> None:
        if not self.src.startswith(text, self.pos):
            found = self.peek() or "the end of the pattern"
            raise self.error(f"expected {what} but found {found!r}")
        self.pos += len(text)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def quoted(self) -> str:
        """A double-quoted string at pos; ``\\"`` and ``\\\\`` are unescaped, other backslashes kept."""
        start = self.pos
        self.pos += 1
        out = []
        while True:
            if self.at_end():
                raise self.error("unterminated quoted value", start)
            ch = self.src[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.src) and self.src[self.pos + 1] in '"\\':
                out.append(self.src[self.pos + 1])
                self.pos += 2
                self.warn("backslash escapes inside quoted values are not documented by AWS")
                continue
            if ch == '"':
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1

    def regex(self) -> Regex:
        start = self.pos
        end = self.src.find("%", start + 1)
        if end < 0:
            raise self.error("unterminated regular expression: a closing '%' is missing", start)
        body = self.src[start + 1 : end]
        check_regex(body, start + 1)
        self.pos = end + 1
        return Regex(body)

    def bare_word(self, what: str) -> str:
        start = self.pos
        while self.pos < len(self.src):
            ch = self.src[self.pos]
            if ch in BARE_CHARS:
                self.pos += 1
            elif ch in BARE_UNCERTAIN_CHARS:
                self.warn(
                    f"unquoted value containing {ch!r}: AWS documents only letters, digits, '.', '_', '-' and '*'"
                )
                self.pos += 1
            else:
                break
        if self.pos == start:
            found = self.peek() or "the end of the pattern"
            raise self.error(f"expected {what} but found {found!r}")
        return self.src[start : self.pos]

    def value(self, what: str = "a value") -> Str | Num | Regex:
        ch = self.peek()
        if ch == '"':
            text = self.quoted()
            _warn_middle_star(self, text)
            return Str(text, quoted=True)
        if ch == "%":
            return self.regex()
        word = self.bare_word(what)
        if NUMBER_RE.match(word):
            return Num(word)
        _warn_middle_star(self, word)
        return Str(word, quoted=False)


def _warn_middle_star(scanner: _Scanner, text: str) -> None:
    if "*" in text[1:-1]:
        scanner.warn("a '*' in the middle of a value is compared literally (AWS documents wildcards only at the ends)")


class _JsonParser(_Scanner):
    def __init__(self, source: str):
        super().__init__(source)
        self.depth = 0
        self.regex_count = 0
        self.wildcard_selectors = 0

    def parse_pattern(self) -> JsonPattern:
        self.expect("{", "'{'")
        self.skip_ws()
        if self.peek() == "}":
            raise self.error("an empty JSON pattern '{}' is not valid")
        expr = self.or_expr()
        self.skip_ws()
        if self.at_end():
            raise self.error("the JSON pattern is not closed: '}' is missing")
        if self.peek() != "}":
            raise self.error(f"expected '&&', '||' or '}}' but found {self.peek()!r}")
        self.pos += 1
        if not self.at_end():
            raise self.error("unexpected text after the closing '}'")
        return JsonPattern(expr)

    def or_expr(self) -> Expr:
        return self._joined("||", self.and_expr, Or)

    def and_expr(self) -> Expr:
        return self._joined("&&", self.primary, And)

    def _joined(self, operator: str, operand: Callable[[], Expr], kind: type[And] | type[Or]) -> Expr:
        items = [operand()]
        while True:
            self.skip_ws()
            if self.peek(2) != operator:
                break
            self.pos += 2
            self.skip_ws()
            items.append(operand())
        return _flatten(kind, items)

    def primary(self) -> Expr:
        self.skip_ws()
        ch = self.peek()
        if ch == "(":
            start = self.pos
            self.pos += 1
            self.skip_ws()
            if self.peek() == ")":
                raise self.error("empty parentheses")
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self.error(f"parentheses nested more than {MAX_NESTING} deep", start)
            expr = self.or_expr()
            self.depth -= 1
            self.skip_ws()
            if self.peek() != ")":
                if self.at_end() or self.peek() == "}":
                    raise self.error("unbalanced parenthesis: this '(' is never closed", start)
                raise self.error(f"expected '&&', '||' or ')' but found {self.peek()!r}")
            self.pos += 1
            return expr
        if ch == "$":
            return self.condition()
        if ch == "!":
            raise self.error("there is no negation operator '!'; use '!=' or NOT EXISTS on a selector")
        if ch == ")":
            raise self.error("unbalanced parenthesis: ')' without '('")
        found = ch or "the end of the pattern"
        raise self.error(f"expected a selector starting with '$' or '(' but found {found!r}")

    def selector(self) -> Selector:
        start = self.pos
        self.pos += 1  # '$'
        steps: list[tuple[Any, ...]] = []
        while True:
            ch = self.peek()
            if ch == ".":
                self.pos += 1
                nxt = self.peek()
                if nxt == "*":
                    self.pos += 1
                    steps.append(("anykey",))
                elif nxt == "[":
                    steps.append(("bkey", self.bracket_key()))
                else:
                    name_start = self.pos
                    while self.pos < len(self.src) and self.src[self.pos] in NAME_CHARS:
                        self.pos += 1
                    if self.pos == name_start:
                        raise self.error("expected a member name after '.' in the selector")
                    steps.append(("key", self.src[name_start : self.pos]))
            elif ch == "[":
                self.pos += 1
                if self.peek() == "*":
                    self.pos += 1
                    steps.append(("anyidx",))
                else:
                    digits_start = self.pos
                    while self.peek().isdigit() and self.peek().isascii():
                        self.pos += 1
                    if self.pos == digits_start:
                        raise self.error("expected an array index or '*' inside '[ ]'")
                    steps.append(("idx", int(self.src[digits_start : self.pos])))
                self.expect("]", "']'")
            else:
                break
        if not steps:
            raise self.error("a selector needs at least one step after '$', such as $.eventName", start)
        sel = Selector(tuple(steps))
        wildcards = sel.wildcard_count
        if wildcards > 1:
            raise self.error("a selector may contain at most one wildcard ('.*' or '[*]')", start)
        if wildcards:
            self.wildcard_selectors += 1
            if self.wildcard_selectors > MAX_WILDCARD_SELECTORS:
                raise self.error(f"a pattern may contain at most {MAX_WILDCARD_SELECTORS} wildcard selectors", start)
            self.warn("wildcard selectors with '!=', IS NULL or NOT EXISTS rest on undocumented behaviour")
        return sel

    def bracket_key(self) -> str:
        start = self.pos
        self.pos += 1  # '['
        if self.peek() != "'":
            raise self.error("a bracketed member name must be quoted with single quotes: .['name']", start)
        end = self.src.find("'", self.pos + 1)
        if end < 0:
            raise self.error("unterminated bracketed member name", start)
        name = self.src[self.pos + 1 : end]
        if not name:
            raise self.error("empty bracketed member name", start)
        self.pos = end + 1
        self.expect("]", "']' after the bracketed member name")
        return name

    def keyword(self) -> tuple[str, int]:
        start = self.pos
        while self.pos < len(self.src) and self.src[self.pos].isascii() and self.src[self.pos].isalpha():
            self.pos += 1
        word = self.src[start : self.pos]
        if word and word != word.upper() and word.upper() in KEYWORDS:
            self.warn("lower-case keywords (is null, not exists, ...) are not documented; AWS shows them upper case")
        return word.upper(), start

    def condition(self) -> Expr:
        sel_start = self.pos
        sel = self.selector()
        had_ws = self.peek() in tuple(WHITESPACE)
        self.skip_ws()
        op_start = self.pos
        two = self.peek(2)
        if two == "==":
            raise self.error("'==' is not an operator in filter patterns; use '='")
        if two in ("!=", "<=", ">="):
            op = two
            self.pos += 2
        elif self.peek() in ("=", "<", ">"):
            op = self.peek()
            self.pos += 1
        elif self.peek() == "!":
            raise self.error("'!' must be followed by '=' ('!=')")
        elif self.peek()[:1].isalpha():
            if not had_ws:
                raise self.error("expected whitespace between the selector and the keyword")
            word, kw_start = self.keyword()
            if word == "IS":
                self.require_ws()
                word2, w2_start = self.keyword()
                if word2 == "NOT":
                    raise self.error("'IS NOT' is not supported by CloudWatch Logs", kw_start)
                if word2 not in ("TRUE", "FALSE", "NULL"):
                    raise self.error("expected TRUE, FALSE or NULL after IS", w2_start)
                return Check(sel, "IS " + word2)
            if word == "NOT":
                self.require_ws()
                word2, w2_start = self.keyword()
                if word2 != "EXISTS":
                    raise self.error("expected EXISTS after NOT", w2_start)
                return Check(sel, "NOT EXISTS")
            if word == "EXISTS":
                raise self.error("'EXISTS' is not supported; use $.field = \"*\" to test that a field exists", kw_start)
            raise self.error(f"expected an operator or IS/NOT EXISTS after the selector but found {word!r}", kw_start)
        else:
            found = self.peek() or "the end of the pattern"
            raise self.error(f"expected an operator after the selector but found {found!r}", op_start)
        self.skip_ws()
        value_start = self.pos
        value = self.value()
        if isinstance(value, Regex):
            self.regex_count += 1
            if self.regex_count > MAX_REGEX_PER_PATTERN:
                raise self.error(
                    f"a pattern may contain at most {MAX_REGEX_PER_PATTERN} regular expressions", value_start
                )
            if op not in ("=", "!="):
                raise self.error("a regular expression can only be used with '=' or '!='", value_start)
            if op == "!=":
                self.warn("'!=' with a regular expression is not documented by AWS (aws-cdk emits it)")
        if op in ("<", "<=", ">", ">=") and not isinstance(value, Num):
            raise self.error(f"'{op}' needs a number, not {_describe(value)}", value_start)
        del sel_start
        return Compare(sel, op, value)

    def require_ws(self) -> None:
        if self.peek() not in tuple(WHITESPACE) or self.at_end():
            raise self.error("expected whitespace between keywords")
        self.skip_ws()


def _describe(value: Any) -> str:
    if isinstance(value, Str):
        return f"the string {value.text!r}" if value.quoted else f"the word {value.text!r}"
    return "a regular expression"


def _flatten(kind: type[And] | type[Or], items: list[Expr]) -> Expr:
    if len(items) == 1:
        return items[0]
    flat: list[Expr] = []
    for item in items:
        if isinstance(item, kind):
            flat.extend(item.items)
        else:
            flat.append(item)
    return kind(tuple(flat))


class _TermParser(_Scanner):
    def parse_pattern(self) -> TermPattern:
        terms = []
        while True:
            self.skip_ws()
            if self.at_end():
                break
            mode = ""
            if self.peek() in ("?", "-"):
                mode = self.peek()
                self.pos += 1
            start = self.pos
            if self.peek() == '"':
                text = self.quoted()
                terms.append(Term(text, True, mode))
            else:
                while self.pos < len(self.src) and self.src[self.pos] not in WHITESPACE:
                    ch = self.src[self.pos]
                    if ch not in TERM_CHARS:
                        raise self.error(
                            f"invalid character {ch!r} in term: terms with characters other than letters, "
                            "digits and '_' must be double-quoted"
                        )
                    self.pos += 1
                if self.pos == start:
                    raise self.error(f"expected a term after {mode!r}")
                terms.append(Term(self.src[start : self.pos], False, mode))
            if not self.at_end() and self.peek() not in tuple(WHITESPACE):
                raise self.error("terms must be separated by whitespace")
        if any(t.mode == "?" for t in terms) and any(t.mode != "?" for t in terms):
            self.warn("'?' terms are ignored when the pattern also has plain or '-' terms")
        return TermPattern(tuple(terms))


class _DelimitedParser(_Scanner):
    def __init__(self, source: str):
        super().__init__(source)
        self.regex_count = 0

    def parse_pattern(self) -> DelimitedPattern:
        self.expect("[", "'['")
        fields = []
        names = set()
        while True:
            self.skip_ws()
            fld = self.field()
            if fld.name != "...":
                if fld.name in names:
                    raise self.error(f"the column name {fld.name!r} is used twice")
                names.add(fld.name)
            fields.append(fld)
            self.skip_ws()
            if self.peek() == ",":
                self.pos += 1
                continue
            if self.peek() == "]":
                self.pos += 1
                break
            found = self.peek() or "the end of the pattern"
            raise self.error(f"expected ',' or ']' but found {found!r}")
        if not self.at_end():
            raise self.error("unexpected text after the closing ']'")
        return DelimitedPattern(tuple(fields))

    def field(self) -> Field:
        if self.src.startswith("...", self.pos):
            self.pos += 3
            return Field("...")
        name = self.identifier()
        self.skip_ws()
        if self.peek() in (",", "]") or self.at_end():
            return Field(name)
        groups = [[self.field_cond(name, first=True)]]
        while True:
            self.skip_ws()
            two = self.peek(2)
            if two == "&&":
                self.pos += 2
                groups[-1].append(self.field_cond(name))
            elif two == "||":
                self.pos += 2
                groups.append([self.field_cond(name)])
            else:
                break
        return Field(name, tuple(tuple(g) for g in groups))

    def identifier(self) -> str:
        start = self.pos
        while self.pos < len(self.src) and (self.src[self.pos] in NAME_CHARS and self.src[self.pos] != "-"):
            self.pos += 1
        if self.pos == start:
            found = self.peek() or "the end of the pattern"
            raise self.error(f"expected a column name or '...' but found {found!r}")
        return self.src[start : self.pos]

    def field_cond(self, name: str, first: bool = False) -> FieldCond:
        self.skip_ws()
        if not first:
            at = self.pos
            other = self.identifier()
            if other != name:
                raise self.error(f"a condition in column {name!r} must test {name!r}, not {other!r}", at)
            self.skip_ws()
        two = self.peek(2)
        if two == "==":
            raise self.error("'==' is not an operator in filter patterns; use '='")
        if two in ("!=", "<=", ">="):
            op = two
            self.pos += 2
        elif self.peek() in ("=", "<", ">"):
            op = self.peek()
            self.pos += 1
        else:
            found = self.peek() or "the end of the pattern"
            raise self.error(f"expected an operator after column {name!r} but found {found!r}")
        self.skip_ws()
        at = self.pos
        value = self.value()
        if isinstance(value, Regex):
            self.regex_count += 1
            if self.regex_count > MAX_REGEX_PER_PATTERN:
                raise self.error(f"a pattern may contain at most {MAX_REGEX_PER_PATTERN} regular expressions", at)
            if op not in ("=", "!="):
                raise self.error("a regular expression can only be used with '=' or '!='", at)
        if op in ("<", "<=", ">", ">=") and not isinstance(value, Num):
            raise self.error(f"'{op}' needs a number, not {_describe(value)}", at)
        return FieldCond(op, value)
