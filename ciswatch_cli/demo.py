"""`make demo`: ciswatch on the embedded default."""

from __future__ import annotations

import sys

from chalicelib import catalog
from chalicelib.checks.judge import judge

SHOWCASE = [
    ("unauthorized_api_calls", "1.2.0", "the CIS 1.2.0 / Security Hub text"),
    ("unauthorized_api_calls", "1.4.0", "the CIS 1.3-1.5 text (OR-ed exclusions)"),
    ("security_group_changes", "5.0.0", "the CIS 4.0.1 text judged under 5.0.0"),
]
REWRITES = [
    (
        "root_account_usage",
        "{ ($.userIdentity.type = Root) && ($.userIdentity.invokedBy NOT EXISTS) && ($.eventType != AwsServiceEvent) }",
        "parenthesised, unquoted rewrite",
    ),
    (
        "console_signin_without_mfa",
        '{ $.eventName = ConsoleLogin && $.additionalEventData.MFAUsed != "Yes" || $.eventName = X }',
        "precedence slip",
    ),
    (
        "kms_cmk_disable_or_deletion",
        '{ $.eventSource = kms.amazonaws.com && ($.eventName = "DisableKey*" || $.eventName = ScheduleKeyDeletion) }',
        "prefix wildcard",
    ),
    ("vpc_changes", "{ $.eventName == CreateVpc }", "typo"),
]


def pattern_showcase(out=sys.stdout) -> None:
    print("== The pattern judge: what a metric filter catches, not how it is spelled", file=out)
    rows = []
    for control, benchmark, label in SHOWCASE:
        pattern = catalog.published_patterns(control, "4.0.1" if label.startswith("the CIS 4.0.1") else benchmark)[0][
            "pattern"
        ]
        rows.append((control, benchmark, label, judge(control, pattern, benchmark)))
    for control, pattern, label in REWRITES:
        rows.append((control, "5.0.0", label, judge(control, pattern, "5.0.0")))
    for control, benchmark, label, v in rows:
        detail = ""
        if v.missed:
            detail = "misses " + ", ".join(v.missed)
        elif v.wrongly_matched:
            detail = f"fires on {len(v.wrongly_matched)} unrelated event(s)"
        elif v.error:
            detail = f"{v.error} (offset {v.error_offset})"
        strict = "strict" if v.strict else "not strict"
        print(f"  {control:<28} CIS {benchmark:<6} {label:<42} {v.verdict:<9} {strict:<10} {detail}", file=out)


def main() -> int:
    pattern_showcase()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
