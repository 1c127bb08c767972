"""`make demo`: the origin story, live against a moto server on loopback.

An account with a multi-Region trail homed in Tokyo and no metric filters is audited (red), fixed in
the trail's home region, and audited again (green); the AWS managed aws/lambda key that a Lambda
deployment just created stays NOT_APPLICABLE throughout instead of paging anyone.
"""

from __future__ import annotations

import sys
import time

from chalicelib import catalog
from chalicelib.checks.judge import judge
from chalicelib.findings import diff_findings
from chalicelib.pipeline import audit
from chalicelib.report.table import render_table
from chalicelib.settings import Settings

from .moto_env import MotoAccount, moto_server, use_endpoint

HOME = "ap-northeast-1"


def banner(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}")


def seed_story_account(acct: MotoAccount) -> dict:
    trail = acct.trail(name="main", region=HOME, log_group="CloudTrail/DefaultLogGroup")
    keys = {
        "app-data": acct.key(HOME, rotation=True, alias="alias/app-data"),
        "legacy-billing": acct.key(HOME, rotation=False, alias="alias/legacy-billing"),
        "reports-eu": acct.key("eu-west-1", rotation=False, alias="alias/reports-eu"),
        "signing": acct.key(HOME, spec="RSA_2048", alias="alias/signing"),
        "webhook-hmac": acct.key(HOME, spec="HMAC_256", alias="alias/webhook-hmac"),
        "imported": acct.key(HOME, origin="EXTERNAL", alias="alias/byok"),
        "aws/lambda": acct.aws_managed_key(HOME, "lambda", rotation_reads=False),
    }
    return {"trail": trail, "keys": keys}


def apply_fix(acct: MotoAccount, seeded: dict, benchmark: str) -> list[str]:
    """Until `ciswatch remediate` exists, the demo applies the documented fix through the API."""
    log_group = seeded["trail"]["log_group"]
    topic = acct.topic(HOME, name="cis-alarms", subscribe="email")
    done = [f"created SNS topic {topic} with a confirmed email subscriber"]
    acct.monitor_all(HOME, log_group, topic, benchmark=benchmark)
    done.append(
        f"added {len(catalog.monitoring_controls(benchmark))} metric filters on {log_group} and one alarm per filter -> {topic}"
    )
    for name in ("legacy-billing", "reports-eu"):
        region = HOME if name == "legacy-billing" else "eu-west-1"
        acct.client("kms", region).enable_key_rotation(KeyId=seeded["keys"][name])
        done.append(f"enabled rotation on customer key alias/{name} ({region})")
    return done


def pattern_showcase() -> None:
    rows = [
        (
            "unauthorized_api_calls",
            "1.2.0",
            catalog.published_patterns("unauthorized_api_calls", "1.2.0")[0]["pattern"],
            "CIS 1.2.0 / Security Hub text",
        ),
        (
            "unauthorized_api_calls",
            "1.4.0",
            catalog.published_patterns("unauthorized_api_calls", "1.4.0")[0]["pattern"],
            "CIS 1.3-1.5 text (OR-ed exclusions)",
        ),
        (
            "security_group_changes",
            "5.0.0",
            catalog.published_patterns("security_group_changes", "4.0.1")[0]["pattern"],
            "CIS 4.0.1 text under 5.0.0",
        ),
        (
            "root_account_usage",
            "5.0.0",
            "{ ($.userIdentity.type = Root) && ($.userIdentity.invokedBy NOT EXISTS) && ($.eventType != AwsServiceEvent) }",
            "parenthesised, unquoted rewrite",
        ),
        (
            "kms_cmk_disable_or_deletion",
            "5.0.0",
            '{ $.eventSource = kms.amazonaws.com && ($.eventName = "DisableKey*" || $.eventName = ScheduleKeyDeletion) }',
            "prefix wildcard",
        ),
        ("vpc_changes", "5.0.0", "{ $.eventName == CreateVpc }", "typo"),
    ]
    for control, benchmark, pattern, label in rows:
        v = judge(control, pattern, benchmark)
        detail = (
            ("misses " + ", ".join(v.missed))
            if v.missed
            else (
                f"also fires on {len(v.wrongly_matched)} unrelated event(s)" if v.wrongly_matched else (v.error or "")
            )
        )
        print(
            f"  {control:<28} CIS {benchmark:<6} {label:<36} {v.verdict:<9} {'strict' if v.strict else 'not strict':<10} {detail}"
        )


def main() -> int:
    benchmark = catalog.default_benchmark()
    started = time.monotonic()
    with moto_server() as url:
        use_endpoint(url)
        acct = MotoAccount(url)
        banner(f"ciswatch demo: the origin story (moto server on {url.split('//')[1]})")
        seeded = seed_story_account(acct)
        print(
            "Seeded account 123456789012: multi-Region trail 'main' homed in ap-northeast-1, delivering to CloudWatch Logs\n"
            "(CloudTrail/DefaultLogGroup), no metric filters, alarms or topics. KMS: customer keys app-data (rotating),\n"
            "legacy-billing and reports-eu (not rotating), an RSA signing key, an HMAC key, an imported-material key, and the\n"
            "AWS managed key aws/lambda that a Lambda deployment just created (its rotation status reads false).\n"
            "Moto cannot create AWS managed keys: the demo makes aws/lambda by editing moto's backend state."
        )
        settings = Settings(benchmark=benchmark, endpoint_url=url)

        banner("1. First audit: every region, one pass")
        before = audit(settings)
        print(render_table(before, colour=sys.stdout.isatty()), end="")

        banner(f"2. Fix, once, in {HOME} (the trail's home region)")
        for line in apply_fix(acct, seeded, benchmark):
            print(f"  {line}")

        banner("3. Audit again")
        after = audit(settings)
        print(render_table(after, colour=sys.stdout.isatty()), end="")

        banner("What changed")
        changes = diff_findings(before.findings, after.findings)
        changes.sort(
            key=lambda c: ([int(x) for x in (c["finding"].cis_id or "0").split(".")], c["finding"].region or "")
        )
        for change in changes:
            f = change["finding"]
            what = f.reason if f.control == "kms_key_rotation" and f.region else f"{f.cis_id} {f.control}"
            print(f"  {change['from'] or 'new':<14} -> {change['to'] or 'gone':<14} {what}")
        lambda_key = next(f for f in after.findings if f.control == "kms_key_rotation" and "aws/lambda" in f.reason)
        print(f"  unchanged NOT_APPLICABLE      {lambda_key.reason}")

        banner("The pattern judge: what a filter catches, not how it is spelled")
        pattern_showcase()
        print(f"\nDemo finished in {time.monotonic() - started:.1f} s; the moto server is stopped.")
    return 0 if after.summary["FAIL"] == 0 and after.summary["ERROR"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
