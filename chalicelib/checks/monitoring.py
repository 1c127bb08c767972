"""CIS monitoring controls: is the chain trail -> log group -> filter -> alarm -> topic -> subscriber complete?

One finding per control per account. Every chain the snapshot allows is walked to its first broken
link; the best chain decides the status:
PASS (complete, filter covers) > WARNING (complete but overbroad or unverifiable) > ERROR (a call
failed where a chain might have been complete) > NOT_APPLICABLE (monitoring lives in another
account) > FAIL (the deepest chain, with its first broken link and the fix).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from .. import catalog
from ..findings import ERROR, FAIL, NOT_APPLICABLE, PASS, WARNING, Finding, account_resource
from ..inventory.snapshot import alarm_metrics, error_text
from .judge import COVERS, OVERBROAD, judge

LINKS = ("trail", "filter", "alarm", "action", "topic", "subscriber", "complete")
PREFERENCE = {PASS: 0, WARNING: 1, ERROR: 2, NOT_APPLICABLE: 3, FAIL: 4}
DEFAULT_NAMESPACE = "CISBenchmark"


@dataclass
class Chain:
    link: str  # the first broken link, or "complete"
    status: str
    reason: str
    remediation: str | None = None
    region: str | None = None
    evidence: dict = field(default_factory=dict)

    @property
    def depth(self) -> int:
        return LINKS.index(self.link)


def check_monitoring(snapshot: dict, benchmark: str) -> list[Finding]:
    return [_finding(snapshot, ctl, benchmark) for ctl in catalog.monitoring_controls(benchmark)]


def _finding(snapshot, ctl, benchmark) -> Finding:
    chains = list(_chains(snapshot, ctl, benchmark))
    best = min(chains, key=lambda c: (PREFERENCE[c.status], -c.depth))
    evidence = dict(best.evidence)
    evidence["broken_link"] = None if best.link == "complete" else best.link
    evidence["chains_evaluated"] = len(chains)
    if best.status == ERROR:
        deepest_fail = max((c for c in chains if c.status == FAIL), key=lambda c: c.depth, default=None)
        if deepest_fail:
            evidence["best_failing_chain"] = {"link": deepest_fail.link, "reason": deepest_fail.reason}
    return Finding(
        account=snapshot["account"],
        control=ctl.id,
        cis_id=ctl.cis_id(benchmark),
        security_hub_id=ctl.security_hub,
        status=best.status,
        severity=ctl.severity(benchmark),
        region=best.region,
        resource=account_resource(snapshot.get("partition", "aws"), snapshot["account"]),
        reason=best.reason,
        remediation=best.remediation,
        evidence=evidence,
    )


# --- chain walking -----------------------------------------------------------------------------


def _chains(snapshot, ctl, benchmark):
    trails = snapshot["trails"]
    if trails.get("error"):
        err = trails["error"]
        yield Chain(
            "trail",
            ERROR,
            f"could not list trails: {_call(err)}",
            region=trails.get("region"),
            evidence={"error": err, "problem": "trails_unreadable"},
        )
        return
    items = trails.get("items") or []
    multi = [t for t in items if t["is_multi_region"]]
    if not multi:
        single = ", ".join(f"{t['name']} ({t['home_region']})" for t in items)
        reason = "no multi-Region CloudTrail trail" + (f"; single-Region trails only: {single}" if single else "")
        yield Chain(
            "trail",
            FAIL,
            reason,
            _fix_trail(),
            evidence={"trails": [t["arn"] for t in items], "problem": "no_multi_region_trail"},
        )
        return
    for trail in multi:
        yield from _trail_chains(snapshot, trail, ctl, benchmark)


def _trail_chains(snapshot, trail, ctl, benchmark):
    account = snapshot["account"]
    name, home = trail["name"], trail["home_region"]
    ev = {"trail": trail["arn"], "trail_home_region": home}
    if trail["owner_account"] != account:
        yield Chain(
            "trail",
            NOT_APPLICABLE,
            f"monitored through organization trail {name} owned by account {trail['owner_account']}: "
            f"its log group, filters and alarms live there; audit that account",
            region=home,
            evidence={**ev, "problem": "trail_in_other_account"},
        )
        return
    if not trail["log_group_arn"]:
        yield Chain(
            "trail",
            FAIL,
            f"trail {name} does not deliver to CloudWatch Logs",
            _fix_trail_logs(name, home),
            home,
            {**ev, "problem": "trail_without_cloudwatch_logs"},
        )
        return
    lg_arn = trail["log_group_arn"]
    ev["log_group"] = lg_arn
    group = snapshot["log_groups"].get(lg_arn)
    if group is None:
        owner = lg_arn.split(":")[4] if lg_arn.count(":") >= 5 else "?"
        yield Chain(
            "trail",
            NOT_APPLICABLE,
            f"trail {name} delivers to log group {lg_arn} in account {owner}: audit that account",
            region=home,
            evidence={**ev, "problem": "log_group_in_other_account"},
        )
        return
    problem = _trail_problem(trail, ctl)
    if problem:
        yield Chain("trail", problem[0], problem[1], problem[2], home, {**ev, "problem": problem[3]})
        return
    yield from _filter_chains(snapshot, group, ctl, benchmark, ev)


def _trail_problem(trail, ctl):
    name, home = trail["name"], trail["home_region"]
    if trail["status_error"]:
        return (
            ERROR,
            f"could not read the status of trail {name}: {_call(trail['status_error'])}",
            None,
            "trail_status_unreadable",
        )
    if not (trail["status"] or {}).get("IsLogging"):
        return (
            FAIL,
            f"trail {name} is not logging",
            _cmd("aws cloudtrail start-logging", name=name, region=home),
            "trail_not_logging",
        )
    if trail["selectors_error"]:
        return (
            ERROR,
            f"could not read the event selectors of trail {name}: {_call(trail['selectors_error'])}",
            None,
            "selectors_unreadable",
        )
    gap = selector_gap(trail["selectors"] or {}, ctl.event_sources)
    if gap:
        fix = _cmd(
            "aws cloudtrail put-event-selectors",
            trail_name=name,
            event_selectors='[{"ReadWriteType":"All","IncludeManagementEvents":true}]',
            region=home,
        )
        return FAIL, f"trail {name} {gap}", fix, "selectors_incomplete"
    return None


def selector_gap(selectors: dict, sources) -> str | None:
    """Why the selectors miss management events (read and write) from ``sources``; None if they don't."""
    basic = selectors.get("EventSelectors") or []
    advanced = selectors.get("AdvancedEventSelectors") or []
    reasons = []
    for s in basic:
        if not s.get("IncludeManagementEvents"):
            continue
        if s.get("ReadWriteType", "All") != "All":
            reasons.append(f"records only {s.get('ReadWriteType')} management events (CIS requires All)")
            continue
        excluded = _excluded(sources, s.get("ExcludeManagementEventSources") or [])
        if excluded:
            reasons.append(f"excludes management events from {', '.join(excluded)}, which this control watches")
            continue
        return None
    for s in advanced:
        fields = {f.get("Field"): f for f in s.get("FieldSelectors", [])}
        category = fields.get("eventCategory") or {}
        if "Management" not in (category.get("Equals") or []):
            continue
        read_only = fields.get("readOnly")
        if read_only and set(read_only.get("Equals") or []) != {"true", "false"}:
            reasons.append(
                f"advanced selector {s.get('Name') or ''!r} restricts readOnly (CIS requires read and write)"
            )
            continue
        source = fields.get("eventSource")
        if source:
            other_ops = set(source) - {"Field", "Equals", "NotEquals"}
            if other_ops:
                reasons.append(
                    f"advanced selector filters eventSource with {', '.join(sorted(other_ops))}; ciswatch cannot confirm it keeps this control's events"
                )
                continue
            if "Equals" in source and ("*" in sources or not set(sources) <= set(source["Equals"])):
                reasons.append("advanced selector records management events from some event sources only")
                continue
            excluded = _excluded(sources, source.get("NotEquals") or [])
            if excluded:
                reasons.append(f"excludes management events from {', '.join(excluded)}, which this control watches")
                continue
        return None
    if not basic and not advanced:
        return "has no event selectors: it records no management events"
    return reasons[0] if reasons else "records no management events"


def _excluded(sources, excluded) -> list:
    if "*" in sources:
        return sorted(excluded)
    return sorted(set(excluded) & set(sources))


def _filter_chains(snapshot, group, ctl, benchmark, ev):
    region = group["region"]
    lg = group["name"]
    if group["error"]:
        yield Chain(
            "filter",
            ERROR,
            f"could not list the metric filters of log group {lg}: {_call(group['error'])}",
            None,
            region,
            {**ev, "problem": "filters_unreadable"},
        )
        return
    judged = []
    candidates = []
    for f in group["filters"]:
        verdict = judge(ctl.id, f.get("filterPattern", ""), benchmark)
        judged.append(
            {
                "filter": f.get("filterName"),
                "verdict": verdict.verdict,
                "strict": verdict.strict,
                "missed": list(verdict.missed),
            }
        )
        if verdict.verdict in (COVERS, OVERBROAD):
            for m in f.get("metricTransformations") or []:
                candidates.append((f, verdict, m))
    ev = {
        **ev,
        "filters_judged": [j for j in judged if j["verdict"] != "misses" or j["missed"] != _all_missed(ctl, benchmark)],
    }
    if not candidates:
        yield Chain(
            "filter",
            FAIL,
            _no_filter_reason(group, judged, ctl, benchmark),
            _fix_filter(ctl, benchmark, group),
            region,
            {**ev, "problem": "no_covering_filter", "log_group_name": group["name"]},
        )
        return
    for f, verdict, metric in candidates:
        fev = {
            **ev,
            "filter": f.get("filterName"),
            "pattern": f.get("filterPattern"),
            "verdict": verdict.verdict,
            "strict": verdict.strict,
            "metric": f"{metric.get('metricNamespace')}/{metric.get('metricName')}",
            "metric_name": metric.get("metricName"),
            "metric_namespace": metric.get("metricNamespace"),
        }
        yield from _alarm_chains(snapshot, group, f, verdict, metric, ctl, benchmark, fev)


def _all_missed(ctl, benchmark):
    # A filter that catches none of the control's events belongs to another control: leave it out of the evidence.
    from .judge import _events

    names = []
    for e, _ in _events(ctl.id, benchmark):
        if e.expect == "match" and e.event_name not in names:
            names.append(e.event_name)
    return names


def _no_filter_reason(group, judged, ctl, benchmark) -> str:
    relevant = [j for j in judged if j["verdict"] == "misses" and j["missed"] != _all_missed(ctl, benchmark)]
    invalid = [j for j in judged if j["verdict"] == "invalid"]
    base = f"log group {group['name']} ({group['region']}) has no metric filter that catches {ctl.title.lower()}"
    if relevant:
        j = relevant[0]
        return f"{base}: filter {j['filter']} misses {', '.join(j['missed'])}"
    if invalid:
        return f"{base}: filter {invalid[0]['filter']} has an invalid pattern"
    return base


def _alarm_chains(snapshot, group, f, verdict, metric, ctl, benchmark, ev):
    region = group["region"]
    alarms = snapshot["alarms"].get(region) or {"items": [], "error": None}
    if alarms["error"]:
        yield Chain(
            "alarm",
            ERROR,
            f"could not list the alarms of {region}: {_call(alarms['error'])}",
            None,
            region,
            {**ev, "problem": "alarms_unreadable"},
        )
        return
    name, ns = metric.get("metricName"), metric.get("metricNamespace")
    watching = [a for a in alarms["items"] or [] if (name, ns) in _metrics(a)]
    if not watching:
        same_name = [a["AlarmName"] for a in alarms["items"] or [] if any(n == name for n, _ in _metrics(a))]
        reason = f"no alarm on metric {ns}/{name} of filter {f.get('filterName')}"
        if same_name:
            reason += f" (alarm {same_name[0]} watches a metric named {name} in another namespace)"
        yield Chain("alarm", FAIL, reason, _fix_alarm(ctl, region, name, ns), region, {**ev, "problem": "no_alarm"})
        return
    for alarm in watching:
        aev = {**ev, "alarm": alarm.get("AlarmArn") or alarm.get("AlarmName")}
        problem = _alarm_problem(alarm, metric)
        if problem:
            code = "alarm_actions_disabled" if "actions disabled" in problem[0] else "alarm_not_sensible"
            yield Chain("alarm", FAIL, problem[0], problem[1], region, {**aev, "problem": code})
            continue
        topics = [a for a in alarm.get("AlarmActions") or [] if a.split(":")[2:3] == ["sns"]]
        if not topics:
            fix = f"add an SNS topic with a confirmed subscriber to the AlarmActions of alarm {alarm['AlarmName']} ({region})"
            yield Chain(
                "action",
                FAIL,
                f"alarm {alarm['AlarmName']} has no SNS topic in its alarm actions",
                fix,
                region,
                {**aev, "problem": "no_sns_action"},
            )
            continue
        for topic_arn in topics:
            yield _topic_chain(snapshot, topic_arn, alarm, verdict, f, {**aev, "topic": topic_arn}, region)


def _metrics(alarm):
    return alarm_metrics(alarm)


def _alarm_problem(alarm, metric):
    name, region_fix = alarm["AlarmName"], None
    if not alarm.get("ActionsEnabled", True):
        return (
            f"alarm {name} has its actions disabled",
            f"aws cloudwatch enable-alarm-actions --alarm-names {shlex.quote(name)}",
        )
    if alarm.get("Metrics"):
        return None  # metric math: the threshold logic is the user's; the metric is watched
    stat = alarm.get("Statistic")
    if stat not in ("Sum", "SampleCount"):
        return (
            f"alarm {name} uses statistic {stat or alarm.get('ExtendedStatistic')}; CIS expects Sum (or SampleCount) so that one event counts",
            region_fix,
        )
    if alarm.get("Dimensions"):
        dims = metric.get("dimensions") or {}
        if {d["Name"] for d in alarm["Dimensions"]} != set(dims):
            return f"alarm {name} watches dimensions the filter never emits", region_fix
    try:
        value = float(metric.get("metricValue", "1"))
    except ValueError:
        value = 1.0
    threshold = float(alarm.get("Threshold", 0))
    op = alarm.get("ComparisonOperator")
    reachable = (op == "GreaterThanOrEqualToThreshold" and threshold <= value) or (
        op == "GreaterThanThreshold" and threshold < value
    )
    if not reachable:
        return f"alarm {name} ({op} {threshold:g}) does not fire on a single event (metric value {value:g})", region_fix
    needed = alarm.get("DatapointsToAlarm") or alarm.get("EvaluationPeriods") or 1
    if needed > 1:
        return f"alarm {name} needs {needed} breaching periods; one event never fires it", region_fix
    return None


def _topic_chain(snapshot, topic_arn, alarm, verdict, f, ev, region) -> Chain:
    account = snapshot["account"]
    topic = snapshot["topics"].get(topic_arn)
    parts = topic_arn.split(":")
    topic_region, topic_account = parts[3], parts[4]
    cross = topic_account != account
    if topic is None:
        return Chain(
            "topic", ERROR, f"topic {topic_arn} was not read", None, region, {**ev, "problem": "topic_unreadable"}
        )
    if topic["attributes_error"]:
        err = topic["attributes_error"]
        if err["code"] in ("NotFound", "NotFoundException"):
            fix = f"create topic {parts[5]} in {topic_region} with a confirmed subscriber, or point alarm {alarm['AlarmName']} to an existing one"
            return Chain(
                "topic",
                FAIL,
                f"alarm {alarm['AlarmName']} notifies topic {topic_arn}, which does not exist",
                fix,
                region,
                {**ev, "problem": "topic_missing"},
            )
        if cross:
            return _complete(
                WARNING,
                f"alarm {alarm['AlarmName']} notifies topic {topic_arn} in account {topic_account}, which this account cannot read ({err['code']}): its subscribers are unverified",
                region,
                ev,
            )
        return Chain(
            "topic",
            ERROR,
            f"could not read topic {topic_arn}: {_call(err)}",
            None,
            region,
            {**ev, "problem": "topic_unreadable"},
        )
    key_problem = _topic_key_problem(topic)
    if key_problem:
        status, reason = key_problem
        fix = (
            None
            if status == ERROR
            else (
                f"encrypt topic {topic_arn} with a customer managed key whose policy allows cloudwatch.amazonaws.com "
                "kms:GenerateDataKey* and kms:Decrypt (or remove its encryption)"
            )
        )
        code = "topic_key_unreadable" if status == ERROR else "topic_key_unusable"
        return Chain("topic", status, reason, fix, region, {**ev, "problem": code})
    if topic["subscriptions_error"]:
        err = topic["subscriptions_error"]
        if cross:
            return _complete(
                WARNING,
                f"topic {topic_arn} belongs to account {topic_account}; its subscriptions cannot be listed ({err['code']}): subscribers unverified",
                region,
                ev,
            )
        return Chain(
            "subscriber",
            ERROR,
            f"could not list the subscriptions of {topic_arn}: {_call(err)}",
            None,
            region,
            {**ev, "problem": "subscriptions_unreadable"},
        )
    subs = topic["subscriptions"] or []
    confirmed = [s for s in subs if (s.get("SubscriptionArn") or "").startswith("arn:")]
    ev = {
        **ev,
        "subscriptions_confirmed": len(confirmed),
        "subscriptions_pending": len(subs) - len(confirmed),
        "protocols": sorted({s.get("Protocol") for s in confirmed if s.get("Protocol")}),
    }
    if not confirmed:
        pending = f" ({len(subs)} pending confirmation)" if subs else ""
        fix = (
            _cmd(
                "aws sns subscribe",
                topic_arn=topic_arn,
                protocol="email",
                notification_endpoint="security@example.com",
                region=topic_region,
            )
            + "  # then confirm from the inbox"
        )
        return Chain(
            "subscriber",
            FAIL,
            f"topic {topic_arn} has no confirmed subscription{pending}",
            fix,
            region,
            {**ev, "problem": "no_confirmed_subscription"},
        )
    notes = []
    if topic_region != region:
        notes.append(f"topic is in {topic_region}, alarm in {region}")
    if f.get("fieldSelectionCriteria"):
        notes.append(
            f"filter {f.get('filterName')} is restricted by fieldSelectionCriteria, so it may not see every event"
        )
    if f.get("applyOnTransformedLogs"):
        notes.append(
            f"filter {f.get('filterName')} runs on transformed logs, which may differ from the CloudTrail record"
        )
    if verdict.verdict == OVERBROAD:
        notes.append(
            f"filter {f.get('filterName')} is overbroad: it also fires on {len(verdict.wrongly_matched)} unrelated canonical event(s)"
        )
    summary = f"trail {ev['trail'].split('/')[-1]} -> filter {f.get('filterName')} -> alarm {alarm['AlarmName']} -> topic {parts[5]} ({len(confirmed)} confirmed)"
    if notes:
        return _complete(WARNING, f"{summary}; but " + "; ".join(notes), region, ev)
    if not verdict.strict:
        ev = {
            **ev,
            "note": "the pattern is not a published CIS string: exact-string checkers such as Security Hub will disagree",
        }
    return _complete(PASS, summary, region, ev)


def _complete(status, reason, region, ev) -> Chain:
    return Chain("complete", status, reason, None, region, ev)


def _topic_key_problem(topic):
    key_id = (topic["attributes"] or {}).get("KmsMasterKeyId")
    if not key_id:
        return None
    key = topic.get("kms_key")
    if key_id == "alias/aws/sns" or (key and key.get("key_manager") == "AWS"):
        return (
            FAIL,
            f"topic {topic['arn']} is encrypted with the AWS managed key alias/aws/sns: CloudWatch alarms cannot publish to it",
        )
    if key is None or key.get("error"):
        err = (key or {}).get("error")
        return (
            ERROR,
            f"could not read the key {key_id} that encrypts topic {topic['arn']}: {_call(err) if err else 'not read'}",
        )
    if not key_policy_allows_cloudwatch(key.get("policy")):
        return (
            FAIL,
            f"topic {topic['arn']} is encrypted with key {key.get('arn') or key_id}, whose policy does not let cloudwatch.amazonaws.com use it: alarms cannot publish",
        )
    return None


def key_policy_allows_cloudwatch(policy_text) -> bool:
    try:
        policy = json.loads(policy_text) if isinstance(policy_text, str) else (policy_text or {})
    except ValueError:
        return False
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = set()
    for st in statements:
        if st.get("Effect") != "Allow" or not _principal_includes_cloudwatch(st.get("Principal")):
            continue
        actions = st.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        for a in actions:
            a = a.lower()
            if a in ("kms:*", "*"):
                allowed.update(("decrypt", "generatedatakey"))
            elif a.startswith("kms:generatedatakey"):
                allowed.add("generatedatakey")
            elif a == "kms:decrypt":
                allowed.add("decrypt")
    return {"decrypt", "generatedatakey"} <= allowed


def _principal_includes_cloudwatch(principal) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    services = principal.get("Service") or []
    services = [services] if isinstance(services, str) else services
    aws = principal.get("AWS")
    return "cloudwatch.amazonaws.com" in services or aws == "*" or aws == ["*"]


# --- remediation text ---------------------------------------------------------------------------


def _call(err) -> str:
    return error_text(err)


def _cmd(base: str, **options) -> str:
    parts = [base]
    for key, value in options.items():
        parts.append(f"--{key.replace('_', '-')} {shlex.quote(str(value))}")
    return " ".join(parts)


def _fix_trail() -> str:
    return (
        "create a multi-Region trail that records all management events and delivers to CloudWatch Logs: "
        "aws cloudtrail create-trail --name ciswatch-trail --s3-bucket-name <bucket> --is-multi-region-trail "
        "--cloud-watch-logs-log-group-arn <log-group-arn> --cloud-watch-logs-role-arn <role-arn> "
        "&& aws cloudtrail start-logging --name ciswatch-trail"
    )


def _fix_trail_logs(name, home) -> str:
    return _cmd(
        "aws cloudtrail update-trail",
        name=name,
        cloud_watch_logs_log_group_arn="<log-group-arn>",
        cloud_watch_logs_role_arn="<role-arn>",
        region=home,
    )


def metric_name(ctl) -> str:
    return ctl.metric_name or ctl.id


# The alarm CIS asks for: one event in five minutes fires it; quiet periods are not alarms.
ALARM_SETTINGS = {
    "Statistic": "Sum",
    "Period": 300,
    "EvaluationPeriods": 1,
    "Threshold": 1,
    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    "TreatMissingData": "notBreaching",
}


def filter_command(region, log_group, filter_name, pattern, metric, namespace) -> str:
    return _cmd(
        "aws logs put-metric-filter",
        region=region,
        log_group_name=log_group,
        filter_name=filter_name,
        filter_pattern=pattern,
        metric_transformations=f"metricName={metric},metricNamespace={namespace},metricValue=1",
    )


def alarm_command(region, alarm_name, metric, namespace, topic_arn) -> str:
    settings = {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in ALARM_SETTINGS.items()}
    return _cmd(
        "aws cloudwatch put-metric-alarm",
        region=region,
        alarm_name=alarm_name,
        metric_name=metric,
        namespace=namespace,
        **settings,
        alarm_actions=topic_arn,
    )


def _fix_filter(ctl, benchmark, group) -> str:
    name = f"ciswatch-{ctl.id}"
    pattern = catalog.recommended_pattern(ctl.id, benchmark)
    return (
        filter_command(group["region"], group["name"], name, pattern, metric_name(ctl), DEFAULT_NAMESPACE)
        + " && "
        + _fix_alarm(ctl, group["region"], metric_name(ctl), DEFAULT_NAMESPACE)
    )


def _fix_alarm(ctl, region, name, ns) -> str:
    return alarm_command(region, f"ciswatch-{ctl.id}", name, ns, "<sns-topic-arn>")
