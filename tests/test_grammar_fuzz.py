"""Property tests: no input escapes as anything but FilterPatternError; printing round-trips."""

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.filterpattern import FilterPatternError, LogEvent, compile_pattern, parse, to_pattern
from chalicelib.filterpattern.ast import And, Check, Compare, JsonPattern, Num, Or, Regex, Selector, Str

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Fragments that steer random text toward the interesting corners of the grammar.
FRAGMENTS = st.sampled_from(
    [
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "$",
        ".",
        "$.a",
        "$.b[0]",
        "[*]",
        ".*",
        ".['k.k']",
        "=",
        "!=",
        "==",
        "<",
        ">=",
        "&&",
        "||",
        " ",
        "\n",
        '"',
        '"x"',
        "*",
        "%",
        "%a.b%",
        "\\",
        "IS",
        "NOT",
        "EXISTS",
        "TRUE",
        "NULL",
        "12",
        "-1e3",
        "?",
        "-",
        ",",
        "...",
        "x",
        "é",
        "\x00",
        "'",
    ]
)
ASSEMBLED = st.lists(FRAGMENTS, max_size=30).map("".join)


def _parse_or_error(text):
    try:
        return parse(text)
    except FilterPatternError as exc:
        assert isinstance(exc.offset, int) and 0 <= exc.offset <= max(len(text), 1024)
        return None


@FUZZ
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_filter_pattern_error(text):
    _parse_or_error(text)


@FUZZ
@given(ASSEMBLED)
def test_grammar_shaped_text_parses_or_raises_filter_pattern_error(text):
    parsed = _parse_or_error(text)
    if parsed is not None:
        assert parse(to_pattern(parsed.pattern)).pattern == parsed.pattern


NAMES = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=6)
STEPS = st.one_of(
    NAMES.map(lambda n: ("key", n)),
    st.integers(0, 3).map(lambda i: ("idx", i)),
    st.text(alphabet=string.ascii_letters + ".: ", min_size=1, max_size=5).map(lambda n: ("bkey", n)),
)
WILD = st.sampled_from([("anykey",), ("anyidx",)])
SELECTORS = st.builds(
    lambda first, rest, wild: Selector((first, *rest, *wild)),
    NAMES.map(lambda n: ("key", n)),
    st.lists(STEPS, max_size=2),
    st.lists(WILD, max_size=1),
)
STRINGS = st.one_of(
    st.builds(Str, st.text(max_size=8), st.just(True)),
    st.builds(
        Str,
        st.text(alphabet=string.ascii_letters + "._-", min_size=1, max_size=6).filter(
            lambda t: not any(c.isdigit() for c in t[:1]) and not t.lstrip("+-").replace(".", "").isdigit()
        ),
        st.just(False),
    ),
)
NUMBERS = st.integers(-1000, 1000).map(lambda i: Num(str(i)))
REGEXES = st.sampled_from(["a", "^Put", "Trail$", "[A-Z]+x", "\\d{2}", "a|b", "x.?y*"]).map(Regex)
CONDITIONS = st.one_of(
    st.builds(Compare, SELECTORS, st.sampled_from(["=", "!="]), st.one_of(STRINGS, NUMBERS, REGEXES)),
    st.builds(Compare, SELECTORS, st.sampled_from(["<", "<=", ">", ">="]), NUMBERS),
    st.builds(Check, SELECTORS, st.sampled_from(["IS TRUE", "IS FALSE", "IS NULL", "NOT EXISTS"])),
)


def _flat(kind, items):
    out = []
    for i in items:
        out.extend(i.items if isinstance(i, kind) else [i])
    return kind(tuple(out))


EXPRS = st.recursive(
    CONDITIONS,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: _flat(And, xs)),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: _flat(Or, xs)),
    ),
    max_leaves=6,
)


def _quota_ok(tree):
    text = to_pattern(tree)
    return len(text) <= 1024 and text.count("[*]") + text.count(".*") <= 3 and text.count("%") <= 4


@FUZZ
@given(EXPRS.map(JsonPattern).filter(_quota_ok))
def test_printing_any_tree_and_reparsing_gives_the_same_tree(tree):
    assert parse(to_pattern(tree)).pattern == tree


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)),
    max_leaves=8,
)


@FUZZ
@given(EXPRS.map(JsonPattern).filter(_quota_ok), st.dictionaries(NAMES, JSON_VALUES, max_size=5))
def test_evaluating_any_pattern_on_any_event_gives_a_bool(tree, event):
    compiled = compile_pattern(to_pattern(tree))
    assert compiled.matches(LogEvent(json.dumps(event))) in (True, False)


@FUZZ
@given(ASSEMBLED, st.text(max_size=300))
def test_evaluating_any_valid_pattern_on_any_message_gives_a_bool(pattern, message):
    try:
        compiled = compile_pattern(pattern)
    except FilterPatternError:
        return
    assert compiled.matches(LogEvent(message)) in (True, False)


def test_regex_matching_is_linear_not_exponential():
    # Backtracking engines take exponential time on this; a position-set NFA takes n*m steps.
    body = "a?" * 30 + "a" * 30
    pattern = "{ $.m = %" + body + "% }"
    assert compile_pattern(pattern).matches(LogEvent(json.dumps({"m": "a" * 30})))
    nested = "{ $.m = %" + ".*" * 200 + "x% }"
    assert not compile_pattern(nested).matches(LogEvent(json.dumps({"m": "y" * 2000})))
