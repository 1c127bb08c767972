"""Filter-pattern grammar: what CloudWatch Logs accepts, rejects and matches (docs/reference/filter_grammar.md)."""

import json

import pytest

from chalicelib.filterpattern import FilterPatternError, LogEvent, compile_pattern, parse, to_pattern

EVENT = {
    "eventName": "UpdateTrail",
    "errorCode": "AccessDenied",
    "someInt": 123,
    "someFloat": 12.34,
    "someFloat2": 12.0,
    "someString": "111.111.111.111",
    "flag": True,
    "off": False,
    "nothing": None,
    "obj": {"a": 1},
    "arr": ["value", "other"],
    "users": [1, 2, 3],
    "coords": [[1, 2], [3, 4]],
    "cluster.name": "prod",
    "list": [{"id": "a"}, {"id": "b"}],
    "additionalEventData": {"MFAUsed": "YES"},
    "q": 'say "hi"',
    "empty": "",
}


def _message(obj):
    # Keep the original number spelling (12.0) the way a log line would carry it.
    return json.dumps(obj).replace('"someFloat2": 12.0', '"someFloat2": 12.0')


JSON_CASES = [
    # equality, bare and quoted, case-sensitive
    ('{ $.eventName = "UpdateTrail" }', True),
    ("{ $.eventName = UpdateTrail }", True),
    ("{$.eventName=UpdateTrail}", True),
    ("{ $.eventName = updatetrail }", False),
    ('{ $.eventName != "UpdateTrail" }', False),
    ('{ $.eventName != "CreateTrail" }', True),
    # wildcards at the ends only; a middle '*' is literal
    ('{ $.eventName = "Update*" }', True),
    ('{ $.eventName = "*Trail" }', True),
    ('{ $.eventName = "*dateTr*" }', True),
    ('{ $.eventName = "Up*ail" }', False),
    ("{ $.someString != 111*111 }", True),
    ('{ $.eventName = "*" }', True),
    ("{ $.eventName = * }", True),
    ('{ $.empty = "*" }', True),
    ('{ $.empty = "" }', True),
    # a number is never equal to a string: numeric != matches a string field (G23), = and < never do
    ("{ $.eventName != 123 }", True),
    ("{ $.eventName = 123 }", False),
    ("{ $.eventName > 123 }", False),
    ("{ $.someString != 111 }", True),
    # a missing field never compares, not even with !=; only NOT EXISTS is true
    ('{ $.missing = "*" }', False),
    ('{ $.missing != "x" }', False),
    ("{ $.missing NOT EXISTS }", True),
    ("{ $.eventName NOT EXISTS }", False),
    ("{ $.missing.deeper NOT EXISTS }", True),
    # null
    ("{ $.nothing IS NULL }", True),
    ("{ $.missing IS NULL }", False),
    ("{ $.eventName IS NULL }", False),
    ("{ $.nothing NOT EXISTS }", False),
    ('{ $.nothing = "x" }', False),
    ('{ $.nothing != "x" }', False),
    # booleans
    ("{ $.flag IS TRUE }", True),
    ("{ $.flag IS FALSE }", False),
    ("{ $.off IS FALSE }", True),
    ("{ $.eventName IS TRUE }", False),
    ('{ $.flag = "true" }', False),
    ('{ $.flag != "x" }', False),
    # objects and arrays never compare
    ("{ $.obj = 1 }", False),
    ("{ $.obj != 1 }", False),
    ("{ $.users = 1 }", False),
    ("{ $.users != 1 }", False),
    ('{ $.obj = "*" }', False),
    ("{ $.obj > 0 }", False),
    # numbers: bare literals compare numerically, quoted values with the number's text
    ("{ $.someInt = 123 }", True),
    ("{ $.someInt = 123.0 }", True),
    ("{ $.someInt = 1.23e2 }", True),
    ("{ $.someInt = +123 }", True),
    ("{ $.someFloat2 = 12 }", True),
    ('{ $.someInt = "123" }', True),
    ('{ $.someInt != "123.0" }', True),
    ('{ $.someFloat2 != "12" }', True),
    ("{ $.someInt = 12* }", True),
    ("{ $.someFloat = *.34 }", True),
    ('{ $.someFloat = "12.*" }', True),
    ('{ $.someInt = "*123" }', True),
    ("{ $.someInt > 100 }", True),
    ("{ $.someInt < 100 }", False),
    ("{ $.someInt >= 123 }", True),
    ("{ $.someInt <= 122 }", False),
    ("{ $.someInt != 124 }", True),
    ("{ $.someFloat > 12.3 }", True),
    ("{ $.someString > 123 }", False),
    ("{ $.someString = 123 }", False),
    # array indexes and paths
    ('{ $.arr[0] = "value" }', True),
    ('{ $.arr[5] = "value" }', False),
    ('{ $.eventName[0] = "U" }', False),
    ("{ $.coords[1][0] = 3 }", True),
    ("{ $.list[1].id = b }", True),
    # wildcard selectors: any selected value
    ('{ $.arr[*] = "other" }', True),
    ('{ $.arr[*] = "nope" }', False),
    ("{ $.arr[*] = %val.{2}% }", True),
    ("{ $.* = %111\\.111\\.111\\.1[0-9]{1,2}% }", True),
    ('{ $.list[*].id = "b" }', True),
    ('{ $.obj.* = "*" }', True),
    ("{ $.missing[*] NOT EXISTS }", True),
    # bracketed member names
    ("{ $.['cluster.name'] = \"prod\" }", True),
    ("{ $.['cluster.name'] = prod* }", True),
    # regular expressions search, anchors anchor
    ("{ $.eventName = %Trail% }", True),
    ("{ $.eventName = %^Trail% }", False),
    ("{ $.eventName = %^Update% }", True),
    ("{ $.eventName = %Trail$% }", True),
    ("{ $.eventName != %Trail% }", False),
    ("{ $.eventName != %Bucket% }", True),
    ("{ $.eventName = %^PutRolePolicy$|^UpdateTrail$% }", True),
    ("{ $.eventName = %[A-Z]pdate% }", True),
    ("{ $.eventName = %[^U]pdate% }", False),
    ("{ $.someString = %\\d+\\.\\d+% }", True),
    ("{ $.someInt = %^12% }", True),
    ("{ $.eventName = %U.?p+d*ate{1}T[a-z]{2,3}il% }", True),
    ("{ $.eventName = %\\x55pdate% }", True),
    ("{ $.obj = %a% }", False),
    # precedence: && binds tighter than ||
    ("{ $.eventName = X || $.eventName = UpdateTrail && $.errorCode = Nope }", False),
    ("{ $.eventName = UpdateTrail || $.eventName = X && $.errorCode = Nope }", True),
    ("{ ($.eventName = X || $.eventName = UpdateTrail) && $.errorCode = AccessDenied }", True),
    ("{ (($.eventName = X) || (($.eventName = UpdateTrail))) && ($.errorCode = Nope) }", False),
    # case-sensitive values: CloudTrail's example root sign-in says YES
    ('{ $.additionalEventData.MFAUsed != "Yes" }', True),
    # whitespace inside the braces, including newlines and tabs
    ("{\n  $.eventName =\n\tUpdateTrail\n}", True),
    ('{ $.q = "say \\"hi\\"" }', True),
    # keywords in lower case are accepted (with a warning)
    ("{ $.missing not exists }", True),
]


@pytest.mark.parametrize(("pattern", "expected"), JSON_CASES)
def test_json_patterns(pattern, expected):
    event = LogEvent(_message(EVENT))
    assert compile_pattern(pattern).matches(event) is expected


def test_json_pattern_never_matches_non_json_message():
    assert not compile_pattern("{ $.a = * }").matches(LogEvent("a plain text line"))
    assert not compile_pattern("{ $.a = * }").matches(LogEvent('["not", "an", "object"]'))


def test_number_text_is_kept_as_written():
    event = LogEvent('{"v": 12.0, "w": 1e2}')
    assert compile_pattern('{ $.v = "12.0" }').matches(event)
    assert not compile_pattern('{ $.v = "12" }').matches(event)
    assert compile_pattern("{ $.w = 100 }").matches(event)


MESSAGE = "ERROR Exiting with ERRORCODE: -1 in MainThread"

TEXT_CASES = [
    ("ERROR", True),
    ("ERROR MainThread", True),
    ("ERROR Deadlock", False),
    ("?Deadlock ?MainThread", True),
    ("?Deadlock ?Nope", False),
    ("ERROR -MainThread", False),
    ("ERROR -Deadlock", True),
    ("-ERROR", False),
    ("-Deadlock", True),
    ('"ERRORCODE: -1"', True),
    ('"errorcode: -1"', False),
    ("error", False),
    ("ERROR ?Nope", True),  # '?' terms are ignored next to plain terms
    ("", True),
    ('" "', True),
    ("%ERROR\\s+Exiting%", True),
    ("%^ERROR%", True),
    ("%^Exiting%", False),
    ("%Thread$%", True),
]


@pytest.mark.parametrize(("pattern", "expected"), TEXT_CASES)
def test_term_and_regex_patterns(pattern, expected):
    assert compile_pattern(pattern).matches(LogEvent(MESSAGE)) is expected


def test_quoted_space_matches_even_a_message_without_spaces():
    assert compile_pattern('" "').matches(LogEvent("x"))


def test_term_pattern_reads_a_json_event_as_text():
    event = LogEvent.from_object({"eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Failure"}})
    assert compile_pattern("Failure").matches(event)
    assert compile_pattern('"ConsoleLogin"').matches(event)


APACHE = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534'

DELIMITED_CASES = [
    ("[ip, user, username, timestamp, request, status_code, bytes]", True),
    ("[ip, user, username, timestamp, request, status_code = 200, bytes]", True),
    ("[ip, user, username, timestamp, request, status_code = 404, bytes]", False),
    ("[..., status_code = 2*, bytes > 1000]", True),
    ("[..., status_code = 2*, bytes > 2000]", False),
    ("[ip, ...]", True),
    ("[ip, user]", False),
    ('[ip, user, username, timestamp, request = "GET *", ...]', True),
    ("[..., status_code = 404 || status_code = 200, bytes]", True),
    ("[..., status_code != 200, bytes]", False),
    ("[ip = 127.0.0.*, ..., bytes >= 1534 && bytes < 1535]", True),
    ("[ip, user = -, ...]", True),
    ("[..., timestamp = %^10/Oct%, ...]", True),
    ("[ip, user != 5, ...]", True),  # G23: text is never equal to a number
    ("[ip, user = 5, ...]", False),
    ("[..., ..., bytes = 1534]", True),
    ("[..., ..., bytes = nomatch]", False),
]


@pytest.mark.parametrize(("pattern", "expected"), DELIMITED_CASES)
def test_space_delimited_patterns(pattern, expected):
    assert compile_pattern(pattern).matches(LogEvent(APACHE)) is expected


INVALID = [
    ('{ $.a == "x" }', 6),
    ("{ $.a IS NOT NULL }", 6),
    ("{ $.a EXISTS }", 6),
    ('{ $.a > "123" }', 8),
    ("{ $.a > abc }", 8),
    ("{ $.a >= %x% }", 9),
    (" { $.a = 1 }", 0),
    ("{ $.a = 1 } ", 11),
    ("\n{ $.a = 1 }", 0),
    ("{ $.a = 1 ", 10),
    ("{ ($.a = 1 }", 2),
    ("{ $.a = 1) }", 9),
    ("{ }", 2),
    ("{}", 1),
    ('{ $.a = "x }', 8),
    ("{ $.a = %abc }", 8),
    ("{ $.a = %a(b)% }", 10),
    ("{ $.a = %a!% }", 10),
    ("{ $.a = %% }", 9),
    ("{ $.a = %a**% }", 11),
    ("{ $.a = %*a% }", 9),
    ("{ $.a = %a{x}% }", 10),
    ("{ $.a = %a\\q% }", 10),
    ("{ $.a = %[a% }", 9),
    ("{ $.a = %x% || $.b = %y% || $.c = %z% }", 34),
    ("{ $.a[*].b.* = 1 }", 2),
    ("{ $.a.* = 1 || $.b.* = 1 || $.c.* = 1 || $.d.* = 1 }", 41),
    ("{ $.a = }", 8),
    ("{ $ = 1 }", 2),
    ("{ $. = 1 }", 4),
    ("{ $.a }", 6),
    ("{ a = 1 }", 2),
    ("{ !($.a = 1) }", 2),
    ("{ $.a = 1 } extra", 11),
    ("{ $.a = 1 && }", 13),
    ("{ $.a = 1 || || $.b = 2 }", 13),
    ("{ $.a[x] = 1 }", 6),
    ("{ $.['k] = 1 }", 4),
    ("{ $.['k'] = 1 && $.['']= 2 }", 19),
    ("{ $.a IS MAYBE }", 9),
    ("{ $.a NOT THERE }", 10),
    ("{ $.a ISTRUE }", 6),
    ("{ $.a = 1 $.b = 2 }", 10),
    ("{ $.a ! 1 }", 6),
    ("[a, b", 5),
    ("[a, a]", 5),
    ("[a = ]", 5),
    ("[a = 1 && b = 2]", 10),
    (" [a]", 0),
    ("ERROR:", 5),
    ('"unterminated', 0),
    ("%abc", 0),
    ("?", 1),
    ("%a(b)%", 2),
    ("x" * 1025, 1024),
]


@pytest.mark.parametrize(("pattern", "offset"), INVALID)
def test_invalid_patterns_raise_one_error_type_with_offset(pattern, offset):
    with pytest.raises(FilterPatternError) as info:
        parse(pattern)
    assert info.value.offset == offset, info.value.message
    assert info.value.message


def test_length_limit_is_inclusive():
    pattern = "{ $.a = " + '"' + "x" * (1024 - 12) + '"' + " }"
    assert len(pattern) == 1024
    parse(pattern)


@pytest.mark.parametrize(
    ("pattern", "warning"),
    [
        ("{ $.a not exists }", "lower-case"),
        ('{ $.a = "Ev*ent" }', "middle"),
        ("{ $.a = arn:aws }", "unquoted value"),
        ("{ $.a[*] != 1 }", "wildcard selectors"),
        ("{ $.a != %x% }", "regular expression"),
        ("ERROR ?x", "ignored"),
    ],
)
def test_undocumented_behaviour_is_flagged(pattern, warning):
    assert any(warning in w for w in parse(pattern).warnings)


@pytest.mark.parametrize("pattern", [p for p, _ in JSON_CASES + TEXT_CASES + DELIMITED_CASES])
def test_printed_tree_reparses_to_the_same_tree(pattern):
    tree = parse(pattern).pattern
    assert parse(to_pattern(tree)).pattern == tree


def test_and_or_groups_flatten_so_equivalent_groupings_give_one_tree():
    assert parse("{ ($.a = 1 && $.b = 2) && $.c = 3 }").pattern == parse("{ $.a = 1 && ($.b = 2 && $.c = 3) }").pattern
    assert parse("{ (($.a = 1)) }").pattern == parse("{ $.a = 1 }").pattern
