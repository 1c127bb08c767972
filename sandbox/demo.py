"""`make demo`: the origin story, live against a moto server on loopback.

An account with a multi-Region trail homed in Tokyo and no metric filters is audited (red), fixed in
the trail's home region, and audited again (green); the AWS managed aws/lambda key that a Lambda
deployment just created stays NOT_APPLICABLE throughout instead of paging anyone.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import time
from pathlib import Path

from moto.backends import get_backend

from chalicelib import catalog, runs
from chalicelib.checks.judge import judge
from chalicelib.model.findings import diff_findings
from chalicelib.model.request import AuditRequest, parse_message
from chalicelib.pipeline import run_audit
from chalicelib.report.table import render_table
from chalicelib.settings import Settings
from chalicelib.state.store import StateStore
from chalicelib.state.table import create_table
from ciswatch_cli.html_report import render_html
from ciswatch_cli.main import main as cli
from ciswatch_cli.state_cmd import history_row, render_history

from .moto_env import ACCOUNT, MotoAccount, moto_server, use_endpoint
from .poller import drain
from .scenarios import HOME, story_account

COLUMNS = shutil.get_terminal_size((160, 40)).columns  # the table shortens its reasons to fit
REPORT = Path("out") / "demo-report.html"


def banner(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}")


def fix_with_remediate(url: str) -> None:
    """The fix is ciswatch's own: the template it would deploy, then `ciswatch remediate --apply`."""
    template = io.StringIO()
    with contextlib.redirect_stdout(template):
        cli(
            ["remediate", "--endpoint-url", url, "--format", "cloudformation", "--notify-email", "security@example.com"]
        )
    lines = template.getvalue().splitlines()
    print(f"  $ ciswatch remediate --format cloudformation   ({len(lines)} lines; the head and the first filter:)")
    shown = [line for line in lines if line.startswith("#")][:8]
    first_filter = next(i for i, line in enumerate(lines) if "AWS::Logs::MetricFilter" in line)
    shown += ["  ..."] + lines[first_filter - 2 : first_filter + 9] + ["  ..."]
    for line in shown:
        print(f"  | {line}")
    print("\n  $ ciswatch remediate --apply --modify-existing --notify-email security@example.com   (answered y)")
    log = io.StringIO()
    with contextlib.redirect_stderr(log):
        result = io.StringIO()
        with contextlib.redirect_stdout(result):
            cli(
                [
                    "remediate",
                    "--endpoint-url",
                    url,
                    "--apply",
                    "--yes",
                    "--modify-existing",
                    "--notify-email",
                    "security@example.com",
                ]
            )
    steps = [
        line for line in log.getvalue().splitlines() if line.startswith(("applied:", "already", "skipped", "FAILED"))
    ]
    kinds: dict = {}
    for line in steps:
        kinds.setdefault(line.split(":")[0], []).append(line.split(":", 1)[1].strip())
    for what, items in kinds.items():
        print(
            f"  {what}: {len(items)} step(s): {', '.join(i.split(' [')[0] for i in items[:6])}{' ...' if len(items) > 6 else ''}"
        )
    for line in result.getvalue().splitlines():
        print(f"  {line}")


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


def show_digest(acct: MotoAccount, queue_url: str, topic_arn: str) -> int:
    """Print what subscribers received: the Slack payload from the SQS capture queue, the email body as SNS accepted it."""
    sqs = acct.client("sqs", HOME)
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    for m in got:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    if not got:
        print("  (no message: nothing changed, so nobody is notified)")
        return 0
    for m in got:
        envelope = json.loads(m["Body"])
        # The email subscriber's body: moto does not send mail, but keeps the message SNS accepted.
        sent = get_backend("sns")[ACCOUNT][HOME].topics[topic_arn].sent_notifications
        raw = next(json.loads(n[1]) for n in sent if n[0] == envelope["MessageId"])
        print(f"  Subject: {envelope['Subject']}")
        attrs = ", ".join(f"{k}={v['Value']}" for k, v in sorted(envelope.get("MessageAttributes", {}).items()))
        print(f"  Message attributes: {attrs}")
        print("  --- email body ---")
        for line in raw["email"].splitlines()[:40]:
            print(f"  | {line}")
        if len(raw["email"].splitlines()) > 40:
            print(f"  | ... ({len(raw['email'].splitlines()) - 40} more lines)")
        slack = json.loads(envelope["Message"])
        print("  --- Slack (AWS Chatbot custom notification, from the SQS subscriber) ---")
        print(f"  | title: {slack['content']['title']}")
        for line in slack["content"]["description"].splitlines()[:12]:
            print(f"  | {line}")
    return len(got)


def organization_story(acct: MotoAccount, settings: Settings, digest_queue: str) -> None:
    """This account becomes a management account with four members (one suspended, one monitored);
    the schedule's fan-out queues one request per ACTIVE account and the worker runs them."""
    members = acct.organization(4, suspended=1)
    monitored = acct.member(members[0])
    monitored.trail(region=HOME, log_group="CloudTrail/DefaultLogGroup")
    monitored.monitor_all(HOME, "CloudTrail/DefaultLogGroup", monitored.topic(HOME))
    monitored.key(HOME, rotation=True)
    requests = acct.request_queue(HOME, "ciswatch-audit-requests", visibility_timeout=900)
    org_settings = settings.with_(regions=(HOME,), queue_url=requests["url"], organization=True)
    print(
        f"  Organization: this account (management) and members {', '.join(members)};\n"
        f"  {members[0]} has the full chain, {members[-1]} is SUSPENDED, the others have nothing set up."
    )
    queued = runs.enqueue_organization(org_settings, ACCOUNT)
    print(
        f"  schedule: run {queued['run_id']}: {queued['queued']} requests queued, {queued['skipped']} account skipped"
    )
    sqs = acct.client("sqs", HOME)

    def worker(event: dict) -> dict:
        for record in event["Records"]:
            request = parse_message(record["body"])
            assert isinstance(request, AuditRequest)  # the run's deadline timer is held back 15 minutes
            runs.handle(org_settings, request, int(record["attributes"]["ApproximateReceiveCount"]), ACCOUNT)
        return {"batchItemFailures": []}

    done = drain(sqs, requests["url"], worker)
    print(f"  worker: {done.handled} requests handled (fed from the queue as Lambda's SQS event source would)")
    record = runs.run_record(org_settings, queued["run_id"])
    assert record is not None
    view = record.to_json()
    print(f"  GET /runs/{queued['run_id']} -> status {view['status']}, outcomes {view['outcomes']}")
    for outcome in view["accounts"]:
        counts = (outcome.get("summary") or {}).get("counts") or {}
        brief = ", ".join(f"{k} {counts[k]}" for k in ("PASS", "FAIL", "NOT_APPLICABLE") if counts.get(k))
        print(f"    {outcome['account']}  {outcome['state']:<8} {brief or outcome.get('reason', '')}")
    digest = view["digest"] or {}
    print(f"  the run's one digest: sent when its {digest.get('closed_by')} finished; what subscribers received:")
    assert settings.topic_arn is not None
    show_digest(acct, digest_queue, settings.topic_arn)


def main() -> int:
    benchmark = catalog.default_benchmark()
    started = time.monotonic()
    with moto_server(quiet=True) as url:
        use_endpoint(url)
        acct = MotoAccount(url)
        banner(f"ciswatch demo: the origin story (moto server on {url.split('//')[1]})")
        story_account(acct)
        print(
            "Seeded account 123456789012: multi-Region trail 'main' homed in ap-northeast-1, delivering to CloudWatch Logs\n"
            "(CloudTrail/DefaultLogGroup), no metric filters, alarms or topics. KMS: customer keys app-data (rotating),\n"
            "legacy-billing and reports-eu (not rotating), an RSA signing key, an HMAC key, an imported-material key, and the\n"
            "AWS managed key aws/lambda that a Lambda deployment just created (its rotation status reads false).\n"
            "Moto cannot create AWS managed keys: the demo makes aws/lambda by editing moto's backend state."
        )
        table = "ciswatch-findings"
        create_table(acct.client("dynamodb", HOME), table)
        digest_topic = acct.topic(HOME, name="ciswatch-digest", subscribe="email")
        queue = acct.sqs_subscriber(digest_topic, HOME)
        print(
            f"ciswatch's own state: table {table}, digest topic {digest_topic} (an email subscriber and an SQS capture queue)."
        )
        print(
            "(moto confirms email subscriptions at once; a real one stays PendingConfirmation, and alarms reach\n"
            "nobody, until its recipient follows the link in the email SNS sends.)"
        )
        settings = Settings(
            benchmark=benchmark, endpoint_url=url, table=table, topic_arn=digest_topic, state_region=HOME
        )

        banner("1. Day 1: the first audit (every region, one pass) - ciswatch audit --table ... --topic-arn ...")
        first = run_audit(settings)
        before = first["result"]
        print(render_table(before, colour=sys.stdout.isatty(), columns=COLUMNS), end="")
        banner("   The baseline digest (one message, not one per finding)")
        show_digest(acct, queue, digest_topic)

        banner("2. Day 2: nothing changed - the daily run stays quiet")
        second = run_audit(settings)
        print(f"  transitions recorded: {second['transitions']}")
        show_digest(acct, queue, digest_topic)

        banner(f"3. Fix it, once, in {HOME} (the trail's home region) - ciswatch remediate")
        fix_with_remediate(url)

        banner("4. Day 3: audit again")
        third = run_audit(settings)
        after = third["result"]
        print(render_table(after, colour=sys.stdout.isatty(), columns=COLUMNS), end="")
        banner("   The change digest")
        show_digest(acct, queue, digest_topic)

        banner(
            "5. Day 4: KMS changes are announced after two agreeing runs (the story's aws/lambda flipped within a day)"
        )
        fourth = run_audit(settings)
        print(f"  transitions recorded: {fourth['transitions']}")
        show_digest(acct, queue, digest_topic)

        banner("What changed between day 1 and day 4")
        changes = diff_findings(before.findings, fourth["result"].findings)
        changes.sort(
            key=lambda c: ([int(x) for x in (c["finding"].cis_id or "0").split(".")], c["finding"].region or "")
        )
        for change in changes:
            f = change["finding"]
            what = f.reason if f.is_per_resource else f"{f.cis_id} {f.control}"
            print(f"  {change['from'] or 'new':<14} -> {change['to'] or 'gone':<14} {what}")
        lambda_key = next(f for f in after.findings if f.is_per_resource and "aws/lambda" in f.reason)
        print(f"  unchanged NOT_APPLICABLE      {lambda_key.reason}")

        banner("History - ciswatch history --table ciswatch-findings")
        store = StateStore(acct.client("dynamodb", HOME), table, ACCOUNT)
        print(render_history(f"account {ACCOUNT}", 30, [history_row(r) for r in store.runs()]), end="")

        banner("The pattern judge: what a filter catches, not how it is spelled")
        pattern_showcase()

        banner("6. An Organization, audited through the request queue (the deployed service's path)")
        organization_story(acct, settings, queue)

        banner("7. The HTML report - ciswatch audit --table ... --format html --output out/demo-report.html")
        REPORT.parent.mkdir(exist_ok=True)
        trend = [history_row(r) for r in store.runs() if r.summary.get("benchmark") == benchmark]
        REPORT.write_text(render_html(fourth["result"], trend), encoding="utf-8")
        print(f"  wrote {REPORT} (one self-contained file: open it in a browser; `make report-screenshot` renders it)")
        print(f"\nDemo finished in {time.monotonic() - started:.1f} s; the moto server is stopped.")
    final = fourth["result"].summary
    return 0 if final["FAIL"] == 0 and final["ERROR"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
