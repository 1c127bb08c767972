"""The CIS catalogue and the pattern judge, driven by the published patterns and their labelled rewrites."""

import json
import re
from pathlib import Path

import pytest

from chalicelib import catalog
from chalicelib.checks.judge import judge

DATA = json.loads((Path(__file__).parent / "data" / "cis_reference_patterns.json").read_text())
VARIANTS = [
    (c["control"], kind, v["name"], v["pattern"], v["expect_verdict"])
    for c in DATA["controls"]
    for kind in ("reference_variants", "equivalent_variants", "broken_variants")
    for v in c[kind]
]


@pytest.mark.parametrize(("control", "kind", "name", "pattern", "expected"), VARIANTS, ids=[v[2] for v in VARIANTS])
def test_reference_rewrites_get_their_labelled_verdict(control, kind, name, pattern, expected):
    assert judge(control, pattern, "1.4.0").verdict == expected


PUBLISHED = [
    (b, c.id, p["pattern"])
    for b in catalog.benchmarks()
    for c in catalog.monitoring_controls(b)
    for p in catalog.published_patterns(c.id, b)
]


@pytest.mark.parametrize(("benchmark", "control", "pattern"), PUBLISHED)
def test_every_published_pattern_is_strict_and_covers_except_the_broken_cis_text(benchmark, control, pattern):
    verdict = judge(control, pattern, benchmark)
    assert verdict.strict
    broken = (
        control == "unauthorized_api_calls"
        and benchmark in ("1.3.0", "1.4.0", "1.5.0", "2.0.0", "3.0.0")
        and ('!="HeadBucket") }' in pattern or "!=HeadBucket) }" in pattern)
        and "&&" not in pattern
    )
    assert verdict.verdict == ("overbroad" if broken else "covers"), verdict


def test_the_cis_1_3_unauthorized_text_is_overbroad_not_missing():
    pattern = catalog.published_patterns("unauthorized_api_calls", "1.4.0")[0]["pattern"]
    verdict = judge("unauthorized_api_calls", pattern, "1.4.0")
    assert verdict.verdict == "overbroad" and verdict.missed == () and len(verdict.wrongly_matched) >= 5


def test_every_event_name_in_a_published_pattern_has_a_must_match_event():
    for benchmark in catalog.benchmarks():
        for ctl in catalog.monitoring_controls(benchmark):
            caught = {e.event_name for e in catalog.canonical_events(ctl.id, benchmark) if e.expect == "match"}
            for p in catalog.published_patterns(ctl.id, benchmark):
                names = set(re.findall(r'\$\.eventName\s*=\s*"?([A-Za-z]+)', p["pattern"]))
                assert names <= caught, (benchmark, ctl.id, names - caught)


SG6 = catalog.published_patterns("security_group_changes", "4.0.1")[0]["pattern"]


def test_cis_5_requires_modify_security_group_rules():
    assert judge("security_group_changes", SG6, "4.0.1").verdict == "covers"
    v5 = judge("security_group_changes", SG6, "5.0.0")
    assert v5.verdict == "misses" and v5.missed == ("ModifySecurityGroupRules",)
    assert not v5.strict


def test_strict_ignores_whitespace_outside_quotes_only():
    compact = '{($.eventName="ConsoleLogin")&&($.additionalEventData.MFAUsed!="Yes")}'
    assert judge("console_signin_without_mfa", compact, "1.2.0").strict
    unquoted = "{ ($.eventName = ConsoleLogin) && ($.additionalEventData.MFAUsed != Yes) }"
    assert not judge("console_signin_without_mfa", unquoted, "1.2.0").strict
    spaced = '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failedauthentication") }'
    assert not judge("console_auth_failures", spaced, "1.2.0").strict


def test_long_mfa_form_is_strict_from_1_4_only():
    long_form = catalog.published_patterns("console_signin_without_mfa", "1.4.0")[1]["pattern"]
    assert judge("console_signin_without_mfa", long_form, "1.4.0").strict
    assert not judge("console_signin_without_mfa", long_form, "1.2.0").strict


def test_misses_names_the_missing_events_and_overbroad_names_the_wrong_ones():
    verdict = judge("cloudtrail_config_changes", "{ $.eventName = StopLogging }", "5.0.0")
    assert verdict.verdict == "misses"
    assert set(verdict.missed) == {"CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging"}
    broad = judge("vpc_changes", '{ $.eventName = "*Vpc*" }', "5.0.0")
    assert broad.verdict == "overbroad" and broad.wrongly_matched


def test_a_pattern_that_both_misses_and_overmatches_is_misses():
    verdict = judge("iam_policy_changes", '{ $.eventName = "Get*" || $.eventName = PutRolePolicy }', "5.0.0")
    assert verdict.verdict == "misses" and verdict.wrongly_matched


def test_invalid_pattern_verdict_carries_the_error():
    verdict = judge("vpc_changes", "{ $.eventName == CreateVpc }", "5.0.0")
    assert verdict.verdict == "invalid" and "==" in verdict.error and verdict.error_offset == 14


@pytest.mark.parametrize(
    "pattern",
    [
        "ConsoleLogin",  # a term pattern matches the text anywhere: not a structural monitor
        "{ $.eventName = ConsoleLogin }",
        '{ $.eventName = ConsoleLogin && $.additionalEventData.MFAUsed = "Yes" }',
        '{ $.eventName = ConsoleLogin || $.additionalEventData.MFAUsed != "Yes" }',
    ],
)
def test_sloppy_mfa_monitors_are_not_accepted(pattern):
    assert judge("console_signin_without_mfa", pattern, "5.0.0").verdict != "covers"


def test_catalog_ids_per_version():
    unauthorized = catalog.control("unauthorized_api_calls")
    assert unauthorized.cis_id("1.2.0") == "3.1" and unauthorized.cis_id("5.0.0") == "4.1"
    assert unauthorized.cis_id("6.0.0") == "5.1" and unauthorized.security_hub == "CloudWatch.2"
    assert unauthorized.severity("1.2.0") == "HIGH" and unauthorized.severity("5.0.0") == "MEDIUM"
    orgs = catalog.control("organizations_changes")
    assert orgs.cis_id("1.2.0") is None and orgs.cis_id("1.3.0") == "4.15" and orgs.security_hub is None
    kms = catalog.control("kms_key_rotation")
    assert [kms.cis_id(v) for v in ("1.2.0", "1.4.0", "3.0.0", "7.0.0")] == ["2.8", "3.8", "3.6", "4.6"]
    assert kms.security_hub == "KMS.4" and kms.severity("5.0.0") == "MEDIUM"
    assert len(catalog.monitoring_controls("1.2.0")) == 14 and len(catalog.monitoring_controls("5.0.0")) == 15
    assert len(catalog.controls()) == 16
    assert {c.security_hub for c in catalog.controls()} >= {f"CloudWatch.{i}" for i in range(1, 15)}


@pytest.mark.parametrize(
    ("given", "resolved"), [("5.0.0", "5.0.0"), ("v1.2.0", "1.2.0"), ("4.0", "4.0.1"), (None, "5.0.0")]
)
def test_benchmark_versions_resolve(given, resolved):
    assert catalog.resolve_benchmark(given) == resolved


@pytest.mark.parametrize("bad", ["9.9.9", "", "latest"])
def test_unknown_benchmark_is_an_error(bad):
    with pytest.raises(catalog.CatalogError):
        catalog.resolve_benchmark(bad)


def test_unknown_control_is_an_error():
    with pytest.raises(catalog.CatalogError):
        judge("no_such_control", "{ $.a = 1 }", "5.0.0")
    with pytest.raises(catalog.CatalogError):
        judge("organizations_changes", "{ $.a = 1 }", "1.2.0")
