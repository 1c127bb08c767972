"""AWS's filter-pattern regex dialect: a whitelist of characters, no groups.

Matching simulates the NFA, so no input can make it backtrack (Python's ``re`` could, on
``.*.*.*...x``). The states are the bits of one integer (bit-parallel "shift-and", with optional and
looping states closed over by one addition): each character of the message costs a handful of
integer operations whatever the size of the expression, so `%[^#]{1000}#%` costs as little per
character as `%a%`. A branch with an anchor inside it falls back to a position-set simulation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from .errors import FilterPatternError

CharTest = Callable[[str], bool]
Pred = str | CharTest  # a literal character, or a test over one character
State = tuple[str, Pred | None, bool, bool]  # (kind, pred, skippable, loops)
Nfa = tuple[State, ...]

LITERAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_#=@/;,-:")
OPERATOR_CHARS = frozenset("^$?[]{}|\\*+.")
CLASS_ESCAPES: dict[str, CharTest] = {
    "d": lambda c: "0" <= c <= "9",
    "D": lambda c: not ("0" <= c <= "9"),
    "s": lambda c: c in " \t\n\r\f\v",
    "S": lambda c: c not in " \t\n\r\f\v",
    "w": lambda c: c.isascii() and (c.isalnum() or c == "_"),
    "W": lambda c: not (c.isascii() and (c.isalnum() or c == "_")),
}
MAX_REPEAT = 1000
MAX_STATES = 1024


@dataclass(frozen=True)
class _Item:
    kind: str  # "char" (consumes one char), "bol", "eol"
    pred: Pred | None = None
    lo: int = 1
    hi: int | None = 1  # None = unbounded
    src: str = ""  # the atom as written: equal atoms repeated side by side can merge


def check_regex(body: str, offset: int) -> None:
    """Raise ``FilterPatternError`` if AWS would reject the expression (or it is too large for us)."""
    _compile_branches(body, offset)


def compile_regex(body: str) -> CharTest:
    """A predicate ``text -> bool`` that searches for the expression anywhere in ``text``."""
    return _cached(body)


@lru_cache(maxsize=512)
def _cached(body: str) -> CharTest:
    branches = _compile_branches(body, 0)
    literal = _as_literal(branches)
    if literal is not None:
        return lambda text: literal in text
    searches = [_branch_search(b) for b in branches]
    return lambda text: any(search(text) for search in searches)


def _branch_search(branch: list[_Item]) -> CharTest:
    program = _BitProgram.of(branch)
    if program is not None:
        return program.search
    nfa = _expand(branch)
    return lambda text: _search(nfa, text)


class _BitProgram:
    """One branch as bit masks: bit ``s`` is "the next atom to match is atom ``s``"; bit ``n`` is a match."""

    __slots__ = ("preds", "n", "loops", "skips", "anchored_start", "anchored_end", "_masks")

    def __init__(self, preds: list[Pred], loops: int, skips: int, anchored_start: bool, anchored_end: bool):
        self.preds = tuple(preds)
        self.n = len(preds)
        self.loops = loops
        self.skips = skips
        self.anchored_start = anchored_start
        self.anchored_end = anchored_end
        self._masks: dict[str, int] = {}

    @classmethod
    def of(cls, branch: list[_Item]) -> _BitProgram | None:
        """The program, or None when an anchor stands anywhere but first (``^``) or last (``$``)."""
        items = list(branch)
        anchored_start = bool(items) and items[0].kind == "bol"
        anchored_end = bool(items) and items[-1].kind == "eol"
        core = items[1 if anchored_start else 0 : len(items) - 1 if anchored_end else len(items)]
        if any(it.kind != "char" for it in core):
            return None
        preds: list[Pred] = []
        loops = skips = 0
        for item in core:
            assert item.pred is not None
            for _ in range(item.lo):
                preds.append(item.pred)
            if item.hi is None:
                bit = 1 << len(preds)
                loops |= bit
                skips |= bit
                preds.append(item.pred)
            else:
                for _ in range(item.hi - item.lo):
                    skips |= 1 << len(preds)
                    preds.append(item.pred)
        return cls(preds, loops, skips, anchored_start, anchored_end)

    def _mask(self, ch: str) -> int:
        mask = self._masks.get(ch)
        if mask is None:
            mask = 0
            for s, pred in enumerate(self.preds):
                if pred == ch if isinstance(pred, str) else pred(ch):
                    mask |= 1 << s
            if len(self._masks) < 4096:
                self._masks[ch] = mask
        return mask

    def _closure(self, active: int) -> int:
        # A skippable state that is active also activates the states after it, through the end of
        # its run of skippable states and one past it: adding the active bits to the run's mask
        # carries them up the run, and the XOR with the mask reads off the bits that changed.
        skipping = active & self.skips
        return active | ((self.skips + skipping) ^ self.skips) if skipping else active

    def search(self, text: str) -> bool:
        final = 1 << self.n
        restart = 0 if self.anchored_start else 1
        not_loops = ~self.loops
        active = self._closure(1)
        if active & final and not self.anchored_end:
            return True
        for ch in text:
            hit = active & self._mask(ch)
            active = ((hit & not_loops) << 1) | (hit & self.loops) | restart
            if active:
                active = self._closure(active)
            elif self.anchored_start:
                return False
            if active & final and not self.anchored_end:
                return True
        return bool(active & final)


def _as_literal(branches: list[list[_Item]]) -> str | None:
    if len(branches) != 1:
        return None
    out: list[str] = []
    for item in branches[0]:
        if item.kind != "char" or item.lo != 1 or item.hi != 1 or not isinstance(item.pred, str):
            return None
        out.append(item.pred)
    return "".join(out)


def _merge_repeats(branch: list[_Item]) -> list[_Item]:
    """`x*x*`, `x+x*`, ... are `x{lo,}`: one looping state instead of many (same matches, far less work)."""
    out: list[_Item] = []
    for item in branch:
        prev = out[-1] if out else None
        if (
            prev
            and item.kind == "char"
            and prev.kind == "char"
            and item.src
            and item.src == prev.src
            and item.hi is None
            and prev.hi is None
        ):
            out[-1] = _Item("char", prev.pred, prev.lo + item.lo, None, prev.src)
        else:
            out.append(item)
    return out


def _compile_branches(body: str, offset: int) -> list[list[_Item]]:
    parser = _RegexParser(body, offset)
    branches = [_merge_repeats(b) for b in parser.parse()]
    states = sum(_state_count(b) for b in branches)
    if states > MAX_STATES:
        raise FilterPatternError(
            f"the regular expression expands to {states} states; ciswatch evaluates at most {MAX_STATES}", offset
        )
    return branches


def _state_count(branch: list[_Item]) -> int:
    return sum((it.hi if it.hi is not None else it.lo + 1) for it in branch if it.kind == "char")


class _RegexParser:
    def __init__(self, body: str, offset: int):
        self.body = body
        self.base = offset
        self.pos = 0

    def error(self, message: str, at: int | None = None) -> FilterPatternError:
        return FilterPatternError(message, self.base + (self.pos if at is None else at))

    def parse(self) -> list[list[_Item]]:
        if not self.body:
            raise self.error("empty regular expression")
        branches: list[list[_Item]] = [[]]
        while self.pos < len(self.body):
            ch = self.body[self.pos]
            if ch == "|":
                self.pos += 1
                branches.append([])
                continue
            if ch in "*+?":
                raise self.error(f"nothing to repeat before {ch!r}")
            if ch == "{":
                raise self.error("'{' must follow something to repeat, as in a{2} or a{1,3}")
            if ch in "()":
                raise self.error(
                    "parentheses are not supported in filter-pattern regular expressions; use \\x28 / \\x29"
                )
            start = self.pos
            item = self.atom()
            item = _Item(item.kind, item.pred, item.lo, item.hi, self.body[start : self.pos])
            item = self.quantifier(item)
            branches[-1].append(item)
        for branch in branches:
            if not branch:
                raise self.error("empty alternative in the regular expression")
        return branches

    def atom(self) -> _Item:
        ch = self.body[self.pos]
        if ch == "^":
            self.pos += 1
            return _Item("bol")
        if ch == "$":
            self.pos += 1
            return _Item("eol")
        if ch == ".":
            self.pos += 1
            return _Item("char", lambda c: c != "\n")
        if ch == "[":
            return _Item("char", self.char_class())
        if ch == "\\":
            return _Item("char", self.escape())
        if ch == "]" or ch == "}":
            raise self.error(f"unbalanced {ch!r}")
        if ch in LITERAL_CHARS:
            self.pos += 1
            return _Item("char", ch)
        raise self.error(f"the character {ch!r} is not allowed in a filter-pattern regular expression")

    def escape(self) -> Pred:
        start = self.pos
        if self.pos + 1 >= len(self.body):
            raise self.error("a regular expression cannot end with '\\'")
        nxt = self.body[self.pos + 1]
        self.pos += 2
        if nxt in CLASS_ESCAPES:
            return CLASS_ESCAPES[nxt]
        if nxt == "x":
            digits = self.body[self.pos : self.pos + 2]
            if len(digits) != 2 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise self.error("\\x needs two hexadecimal digits", start)
            self.pos += 2
            return chr(int(digits, 16))
        if nxt in OPERATOR_CHARS or nxt in LITERAL_CHARS and not nxt.isalnum():
            return nxt
        raise self.error(
            f"unsupported escape '\\{nxt}' (allowed: \\d \\D \\s \\S \\w \\W \\xhh and escaped operators)", start
        )

    def char_class(self) -> CharTest:
        start = self.pos
        self.pos += 1
        negate = False
        if self.pos < len(self.body) and self.body[self.pos] == "^":
            negate = True
            self.pos += 1
        singles: set[str] = set()
        preds: list[CharTest] = []
        ranges: list[tuple[str, str]] = []
        first = True
        while True:
            if self.pos >= len(self.body):
                raise self.error("unterminated character class '['", start)
            ch = self.body[self.pos]
            if ch == "]" and not first:
                self.pos += 1
                break
            first = False
            lo = self.class_char()
            if not isinstance(lo, str):
                preds.append(lo)
                continue
            if self.body.startswith("-", self.pos) and self.pos + 1 < len(self.body) and self.body[self.pos + 1] != "]":
                self.pos += 1
                hi = self.class_char()
                if not isinstance(hi, str) or hi < lo:
                    raise self.error("invalid range in character class", start)
                ranges.append((lo, hi))
            else:
                singles.add(lo)

        chars, spans, tests = frozenset(singles), tuple(ranges), tuple(preds)

        def pred(c: str) -> bool:
            hit = c in chars or any(a <= c <= b for a, b in spans) or any(p(c) for p in tests)
            return hit != negate

        return pred

    def class_char(self) -> Pred:
        ch = self.body[self.pos]
        if ch == "\\":
            return self.escape()
        if ch == "]":
            raise self.error("empty character class")
        if ch in LITERAL_CHARS or ch in OPERATOR_CHARS:
            self.pos += 1
            return ch
        raise self.error(f"the character {ch!r} is not allowed in a filter-pattern regular expression")

    def quantifier(self, item: _Item) -> _Item:
        if self.pos >= len(self.body):
            return item
        ch = self.body[self.pos]
        if ch not in "*+?{":
            return item
        if item.kind != "char":
            raise self.error("an anchor cannot be repeated")
        at = self.pos
        if ch == "*":
            lo, hi = 0, None
            self.pos += 1
        elif ch == "+":
            lo, hi = 1, None
            self.pos += 1
        elif ch == "?":
            lo, hi = 0, 1
            self.pos += 1
        else:
            close = self.body.find("}", self.pos)
            if close < 0:
                raise self.error("unterminated repetition '{'", at)
            spec = self.body[self.pos + 1 : close]
            parts = spec.split(",")
            if len(parts) > 2 or not parts[0].isdigit() or not parts[0].isascii():
                raise self.error("invalid repetition; use {n}, {n,} or {n,m}", at)
            lo = int(parts[0])
            if len(parts) == 1:
                hi = lo
            elif parts[1] == "":
                hi = None
            elif parts[1].isdigit() and parts[1].isascii():
                hi = int(parts[1])
            else:
                raise self.error("invalid repetition; use {n}, {n,} or {n,m}", at)
            if lo > MAX_REPEAT or (hi is not None and (hi > MAX_REPEAT or hi < lo)):
                raise self.error(f"invalid repetition bounds (at most {MAX_REPEAT})", at)
            self.pos = close + 1
        if self.pos < len(self.body) and self.body[self.pos] in "*+?{":
            if self.body[self.pos] == "?":
                self.pos += 1  # lazy: same yes/no answer as greedy
            else:
                raise self.error("multiple repetition operators in a row")
        return _Item("char", item.pred, lo, hi, item.src)


# --- NFA ------------------------------------------------------------------------------------
# A state is ("c", pred, next, loop) consuming one char, or ("bol"/"eol", next) zero-width.
# "optional" char states may also be skipped; "loop" states consume repeatedly or are skipped.


def _expand(branch: list[_Item]) -> Nfa:
    states: list[State] = []
    for item in branch:
        if item.kind != "char":
            states.append((item.kind, None, False, False))
            continue
        for _ in range(item.lo):
            states.append(("c", item.pred, False, False))
        if item.hi is None:
            states.append(("c", item.pred, True, True))  # skippable, loops
        else:
            for _ in range(item.hi - item.lo):
                states.append(("c", item.pred, True, False))  # skippable once
    return tuple(states)


def _closure(nfa: Nfa, seeds: Iterable[int], pos: int, length: int) -> set[int]:
    out: set[int] = set()
    stack = list(seeds)
    final = len(nfa)
    while stack:
        s = stack.pop()
        if s in out:
            continue
        out.add(s)
        if s == final:
            continue
        kind, _pred, skippable, _loop = nfa[s]
        if kind == "bol":
            if pos == 0:
                stack.append(s + 1)
        elif kind == "eol":
            if pos == length:
                stack.append(s + 1)
        elif skippable:
            stack.append(s + 1)
    return out


def _search(nfa: Nfa, text: str) -> bool:
    final = len(nfa)
    length = len(text)
    current = _closure(nfa, (0,), 0, length)
    if final in current:
        return True
    for i, ch in enumerate(text):
        nxt: set[int] = set()
        for s in current:
            if s == final:
                continue
            kind, pred, _skippable, loop = nfa[s]
            if kind != "c":
                continue
            if pred(ch) if callable(pred) else pred == ch:
                nxt.add(s if loop else s + 1)
        nxt.add(0)  # unanchored search: a match may start at any position
        current = _closure(nfa, nxt, i + 1, length)
        if final in current:
            return True
    return False
