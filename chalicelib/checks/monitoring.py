"""CIS monitoring controls: is the chain trail -> log group -> filter -> alarm -> topic -> subscriber complete?

One finding per control per account. Every chain the snapshot allows is walked to its first broken
link; the best chain decides the status:
PASS (complete, filter covers) > WARNING (complete but overbroad or unverifiable) > ERROR (a call
failed where a chain might have been complete) > NOT_APPLICABLE (monitoring lives in another
account) > FAIL (the deepest chain, with its first broken link and the fix).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import catalog
from ..catalog import Control
from ..model import AccountSnapshot, Alarm, ApiError, Arn, Finding, LogGroup, MetricFilter, Problem, Status, Trail
from ..model.arn import account_of, is_sns_topic
from ..model.commands import (
    alarm_command,
    all_management_events_command,
    cli,
    enable_alarm_actions_command,
    filter_command,
    start_logging_command,
)
from ..model.conventions import DEFAULT_NAMESPACE, resource_name
from ..model.rules import TopicKeyVerdict, topic_key_verdict
from ..model.snapshot import MetricTransformation, RegionAlarms, Topic
from .common import new_finding
from .judge import COVERS, MISSES, OVERBROAD, Verdict, judge, must_match_names, recommended_pattern
from .selectors import selector_gap

LINKS = ("trail", "filter", "alarm", "action", "topic", "subscriber", "complete")
PREFERENCE = {Status.PASS: 0, Status.WARNING: 1, Status.ERROR: 2, Status.NOT_APPLICABLE: 3, Status.FAIL: 4}
Evidence = dict[str, Any]


@dataclass
class Chain:
    link: str  # the first broken link, or "complete"
    status: Status
    reason: str
    remediation: str | None = None
    region: str | None = None
    evidence: Evidence = field(default_factory=dict)

    @property
    def depth(self) -> int:
        return LINKS.index(self.link)


def check_monitoring(snapshot: AccountSnapshot, benchmark: str) -> list[Finding]:
    return [_finding(snapshot, ctl, benchmark) for ctl in catalog.monitoring_controls(benchmark)]


def _finding(snapshot: AccountSnapshot, ctl: Control, benchmark: str) -> Finding:
    chains = list(_chains(snapshot, ctl, benchmark))
    best = min(chains, key=lambda c: (PREFERENCE[c.status], -c.depth))
    evidence = dict(best.evidence)
    evidence["broken_link"] = None if best.link == "complete" else best.link
    evidence["chains_evaluated"] = len(chains)
    if best.status is Status.ERROR:
        deepest_fail = max((c for c in chains if c.status is Status.FAIL), key=lambda c: c.depth, default=None)
        if deepest_fail:
            evidence["best_failing_chain"] = {"link": deepest_fail.link, "reason": deepest_fail.reason}
    return new_finding(
        snapshot,
        ctl,
        benchmark,
        best.status,
        best.reason,
        region=best.region,
        remediation=best.remediation,
        evidence=evidence,
    )


# --- chain walking -----------------------------------------------------------------------------


def _chains(snapshot: AccountSnapshot, ctl: Control, benchmark: str) -> Iterator[Chain]:
    trails = snapshot.trails
    if trails.error:
        yield Chain(
            "trail",
            Status.ERROR,
            f"could not list trails: {trails.error.text()}",
            region=trails.region,
            evidence={"error": trails.error.to_json(), "problem": Problem.TRAILS_UNREADABLE},
        )
        return
    multi = [t for t in trails.items if t.is_multi_region]
    if not multi:
        single = ", ".join(f"{t.name} ({t.home_region})" for t in trails.items)
        reason = "no multi-Region CloudTrail trail" + (f"; single-Region trails only: {single}" if single else "")
        yield Chain(
            "trail",
            Status.FAIL,
            reason,
            _fix_trail(),
            evidence={"trails": [t.arn for t in trails.items], "problem": Problem.NO_MULTI_REGION_TRAIL},
        )
        return
    for trail in multi:
        yield from _trail_chains(snapshot, trail, ctl, benchmark)


def _trail_chains(snapshot: AccountSnapshot, trail: Trail, ctl: Control, benchmark: str) -> Iterator[Chain]:
    name, home = trail.name, trail.home_region
    ev: Evidence = {"trail": trail.arn, "trail_home_region": home}
    if trail.owner_account != snapshot.account:
        yield Chain(
            "trail",
            Status.NOT_APPLICABLE,
            f"monitored through organization trail {name} owned by account {trail.owner_account}: "
            f"its log group, filters and alarms live there; audit that account",
            region=home,
            evidence={**ev, "problem": Problem.TRAIL_IN_OTHER_ACCOUNT},
        )
        return
    if not trail.log_group_arn:
        yield Chain(
            "trail",
            Status.FAIL,
            f"trail {name} does not deliver to CloudWatch Logs",
            _fix_trail_logs(name, home),
            home,
            {**ev, "problem": Problem.TRAIL_WITHOUT_CLOUDWATCH_LOGS},
        )
        return
    lg_arn = trail.log_group_arn
    ev["log_group"] = lg_arn
    group = snapshot.log_groups.get(lg_arn)
    if group is None:
        owner = account_of(lg_arn) or "?"
        yield Chain(
            "trail",
            Status.NOT_APPLICABLE,
            f"trail {name} delivers to log group {lg_arn} in account {owner}: audit that account",
            region=home,
            evidence={**ev, "problem": Problem.LOG_GROUP_IN_OTHER_ACCOUNT},
        )
        return
    broken = _trail_problem(trail, ctl)
    if broken:
        status, reason, fix, problem = broken
        yield Chain("trail", status, reason, fix, home, {**ev, "problem": problem})
        return
    yield from _filter_chains(snapshot, group, ctl, benchmark, ev)


def _trail_problem(trail: Trail, ctl: Control) -> tuple[Status, str, str | None, Problem] | None:
    name, home = trail.name, trail.home_region
    if trail.status_error:
        return (
            Status.ERROR,
            f"could not read the status of trail {name}: {trail.status_error.text()}",
            None,
            Problem.TRAIL_STATUS_UNREADABLE,
        )
    if not trail.is_logging:
        return (
            Status.FAIL,
            f"trail {name} is not logging",
            start_logging_command(str(name), home),
            Problem.TRAIL_NOT_LOGGING,
        )
    if trail.selectors_error:
        return (
            Status.ERROR,
            f"could not read the event selectors of trail {name}: {trail.selectors_error.text()}",
            None,
            Problem.SELECTORS_UNREADABLE,
        )
    gap = selector_gap(trail.selectors or {}, ctl.event_sources)
    if gap:
        fix = all_management_events_command(str(name), home)
        return Status.FAIL, f"trail {name} {gap}", fix, Problem.SELECTORS_INCOMPLETE
    return None


def _filter_chains(
    snapshot: AccountSnapshot, group: LogGroup, ctl: Control, benchmark: str, ev: Evidence
) -> Iterator[Chain]:
    region = group.region
    if group.error or group.filters is None:
        yield Chain(
            "filter",
            Status.ERROR,
            f"could not list the metric filters of log group {group.name}: {_call(group.error)}",
            None,
            region,
            {**ev, "problem": Problem.FILTERS_UNREADABLE},
        )
        return
    judged = []
    candidates: list[tuple[MetricFilter, Verdict, MetricTransformation]] = []
    for f in group.filters:
        verdict = judge(ctl.id, f.pattern or "", benchmark)
        judged.append(
            {"filter": f.name, "verdict": verdict.verdict, "strict": verdict.strict, "missed": list(verdict.missed)}
        )
        if verdict.verdict in (COVERS, OVERBROAD):
            for m in f.transformations:
                candidates.append((f, verdict, m))
    # A filter that catches none of the control's events belongs to another control: leave it out of the evidence.
    every_event = list(must_match_names(ctl.id, benchmark))
    ev = {**ev, "filters_judged": [j for j in judged if j["verdict"] != MISSES or j["missed"] != every_event]}
    if not candidates:
        yield Chain(
            "filter",
            Status.FAIL,
            _no_filter_reason(group, judged, ctl, every_event),
            _fix_filter(ctl, benchmark, group),
            region,
            {**ev, "problem": Problem.NO_COVERING_FILTER, "log_group_name": group.name},
        )
        return
    for f, verdict, metric in candidates:
        fev = {
            **ev,
            "filter": f.name,
            "pattern": f.pattern,
            "verdict": verdict.verdict,
            "strict": verdict.strict,
            "metric": metric.label,
            "metric_name": metric.metric_name,
            "metric_namespace": metric.metric_namespace,
        }
        yield from _alarm_chains(snapshot, group, f, verdict, metric, ctl, fev)


def _no_filter_reason(group: LogGroup, judged: list[dict[str, Any]], ctl: Control, every_event: list[str]) -> str:
    relevant = [j for j in judged if j["verdict"] == MISSES and j["missed"] != every_event]
    invalid = [j for j in judged if j["verdict"] == "invalid"]
    base = f"log group {group.name} ({group.region}) has no metric filter that catches {ctl.title.lower()}"
    if relevant:
        j = relevant[0]
        return f"{base}: filter {j['filter']} misses {', '.join(j['missed'])}"
    if invalid:
        return f"{base}: filter {invalid[0]['filter']} has an invalid pattern"
    return base


def _alarm_chains(
    snapshot: AccountSnapshot,
    group: LogGroup,
    f: MetricFilter,
    verdict: Verdict,
    metric: MetricTransformation,
    ctl: Control,
    ev: Evidence,
) -> Iterator[Chain]:
    region = group.region
    alarms = snapshot.alarms.get(region) or RegionAlarms(items=())
    if alarms.error or alarms.items is None:
        yield Chain(
            "alarm",
            Status.ERROR,
            f"could not list the alarms of {region}: {_call(alarms.error)}",
            None,
            region,
            {**ev, "problem": Problem.ALARMS_UNREADABLE},
        )
        return
    name, ns = metric.metric_name, metric.metric_namespace
    watching = [a for a in alarms.items if (name, ns) in a.watched_metrics()]
    if not watching:
        same_name = [a.name for a in alarms.items if any(n == name for n, _ in a.watched_metrics())]
        reason = f"no alarm on metric {ns}/{name} of filter {f.name}"
        if same_name:
            reason += f" (alarm {same_name[0]} watches a metric named {name} in another namespace)"
        yield Chain(
            "alarm",
            Status.FAIL,
            reason,
            _fix_alarm(ctl, region, str(name), str(ns)),
            region,
            {**ev, "problem": Problem.NO_ALARM},
        )
        return
    for alarm in watching:
        aev = {**ev, "alarm": alarm.arn or alarm.name}
        broken = _alarm_problem(alarm, metric)
        if broken:
            reason, fix, problem = broken
            yield Chain("alarm", Status.FAIL, reason, fix, region, {**aev, "problem": problem})
            continue
        topics = [a for a in alarm.alarm_actions or () if is_sns_topic(a)]
        if not topics:
            fix = f"add an SNS topic with a confirmed subscriber to the AlarmActions of alarm {alarm.name} ({region})"
            yield Chain(
                "action",
                Status.FAIL,
                f"alarm {alarm.name} has no SNS topic in its alarm actions",
                fix,
                region,
                {**aev, "problem": Problem.NO_SNS_ACTION},
            )
            continue
        for topic_arn in topics:
            yield _topic_chain(snapshot, topic_arn, alarm, verdict, f, {**aev, "topic": topic_arn}, region)


def _alarm_problem(alarm: Alarm, metric: MetricTransformation) -> tuple[str, str | None, Problem] | None:
    """Why one event on the metric would not make this alarm notify, or None."""
    name = alarm.name
    if alarm.actions_enabled is False:
        return (
            f"alarm {name} has its actions disabled",
            enable_alarm_actions_command(name),
            Problem.ALARM_ACTIONS_DISABLED,
        )
    if alarm.metrics:
        return None  # metric math: the threshold logic is the user's; the metric is watched
    not_sensible = Problem.ALARM_NOT_SENSIBLE
    stat = alarm.statistic
    if stat not in ("Sum", "SampleCount"):
        return (
            f"alarm {name} uses statistic {stat or alarm.extended_statistic}; CIS expects Sum (or SampleCount) so that one event counts",
            None,
            not_sensible,
        )
    if alarm.dimensions:
        if {d.name for d in alarm.dimensions} != set(metric.dimensions or {}):
            return f"alarm {name} watches dimensions the filter never emits", None, not_sensible
    try:
        value = float(metric.metric_value or "1")
    except ValueError:
        value = 1.0
    threshold = float(alarm.threshold or 0)
    op = alarm.comparison_operator
    reachable = (op == "GreaterThanOrEqualToThreshold" and threshold <= value) or (
        op == "GreaterThanThreshold" and threshold < value
    )
    if not reachable:
        return (
            f"alarm {name} ({op} {threshold:g}) does not fire on a single event (metric value {value:g})",
            None,
            not_sensible,
        )
    needed = alarm.datapoints_to_alarm or alarm.evaluation_periods or 1
    if needed > 1:
        return f"alarm {name} needs {needed} breaching periods; one event never fires it", None, not_sensible
    return None


def _topic_chain(
    snapshot: AccountSnapshot,
    topic_arn: str,
    alarm: Alarm,
    verdict: Verdict,
    f: MetricFilter,
    ev: Evidence,
    region: str,
) -> Chain:
    topic = snapshot.topics.get(topic_arn)
    parsed = Arn.parse(topic_arn)
    topic_region, topic_account, topic_name = parsed.region, parsed.account, parsed.resource
    cross = topic_account != snapshot.account
    if topic is None:
        return Chain(
            "topic",
            Status.ERROR,
            f"topic {topic_arn} was not read",
            None,
            region,
            {**ev, "problem": Problem.TOPIC_UNREADABLE},
        )
    if topic.attributes_error:
        err = topic.attributes_error
        if err.not_found:
            fix = f"create topic {topic_name} in {topic_region} with a confirmed subscriber, or point alarm {alarm.name} to an existing one"
            return Chain(
                "topic",
                Status.FAIL,
                f"alarm {alarm.name} notifies topic {topic_arn}, which does not exist",
                fix,
                region,
                {**ev, "problem": Problem.TOPIC_MISSING},
            )
        if cross:
            return _complete(
                Status.WARNING,
                f"alarm {alarm.name} notifies topic {topic_arn} in account {topic_account}, which this account cannot read ({err.code}): its subscribers are unverified",
                region,
                ev,
            )
        return Chain(
            "topic",
            Status.ERROR,
            f"could not read topic {topic_arn}: {err.text()}",
            None,
            region,
            {**ev, "problem": Problem.TOPIC_UNREADABLE},
        )
    key_chain = _topic_key_chain(topic, ev, region)
    if key_chain:
        return key_chain
    if topic.subscriptions_error:
        err = topic.subscriptions_error
        if cross:
            return _complete(
                Status.WARNING,
                f"topic {topic_arn} belongs to account {topic_account}; its subscriptions cannot be listed ({err.code}): subscribers unverified",
                region,
                ev,
            )
        return Chain(
            "subscriber",
            Status.ERROR,
            f"could not list the subscriptions of {topic_arn}: {err.text()}",
            None,
            region,
            {**ev, "problem": Problem.SUBSCRIPTIONS_UNREADABLE},
        )
    subs = topic.subscriptions or ()
    confirmed = topic.confirmed_subscriptions
    ev = {
        **ev,
        "subscriptions_confirmed": len(confirmed),
        "subscriptions_pending": len(subs) - len(confirmed),
        "protocols": sorted({s.protocol for s in confirmed if s.protocol}),
    }
    if not confirmed:
        pending = f" ({len(subs)} pending confirmation)" if subs else ""
        fix = (
            cli(
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
            Status.FAIL,
            f"topic {topic_arn} has no confirmed subscription{pending}",
            fix,
            region,
            {**ev, "problem": Problem.NO_CONFIRMED_SUBSCRIPTION},
        )
    caveats = _caveats(topic_region, region, f, verdict)
    summary = f"trail {str(ev['trail']).split('/')[-1]} -> filter {f.name} -> alarm {alarm.name} -> topic {topic_name} ({len(confirmed)} confirmed)"
    if caveats:
        return _complete(Status.WARNING, f"{summary}; but " + "; ".join(caveats), region, {**ev, "caveats": caveats})
    if not verdict.strict:
        ev = {
            **ev,
            "note": "the pattern is not a published CIS string: exact-string checkers such as Security Hub will disagree",
        }
    return _complete(Status.PASS, summary, region, ev)


def _caveats(topic_region: str, region: str, f: MetricFilter, verdict: Verdict) -> list[str]:
    """Why a complete chain is only a WARNING."""
    notes = []
    if topic_region != region:
        notes.append(f"topic is in {topic_region}, alarm in {region}")
    if f.field_selection_criteria:
        notes.append(f"filter {f.name} is restricted by fieldSelectionCriteria, so it may not see every event")
    if f.apply_on_transformed_logs:
        notes.append(f"filter {f.name} runs on transformed logs, which may differ from the CloudTrail record")
    if verdict.verdict == OVERBROAD:
        notes.append(
            f"filter {f.name} is overbroad: it also fires on {len(verdict.wrongly_matched)} unrelated canonical event(s)"
        )
    return notes


def _complete(status: Status, reason: str, region: str, ev: Evidence) -> Chain:
    return Chain("complete", status, reason, None, region, ev)


def _topic_key_chain(topic: Topic, ev: Evidence, region: str) -> Chain | None:
    """The topic link broken by its encryption key, or None when CloudWatch can use the key."""
    verdict = topic_key_verdict(topic)
    if verdict in (TopicKeyVerdict.UNENCRYPTED, TopicKeyVerdict.USABLE):
        return None
    key_id = topic.kms_master_key_id
    key = topic.kms_key
    if verdict is TopicKeyVerdict.UNREADABLE:
        err = key.error if key else None
        reason = f"could not read the key {key_id} that encrypts topic {topic.arn}: {err.text() if err else 'not read'}"
        return Chain("topic", Status.ERROR, reason, None, region, {**ev, "problem": Problem.TOPIC_KEY_UNREADABLE})
    if verdict is TopicKeyVerdict.AWS_MANAGED:
        reason = f"topic {topic.arn} is encrypted with the AWS managed key alias/aws/sns: CloudWatch alarms cannot publish to it"
    else:
        reason = f"topic {topic.arn} is encrypted with key {(key.arn if key else None) or key_id}, whose policy does not let cloudwatch.amazonaws.com use it: alarms cannot publish"
    fix = (
        f"encrypt topic {topic.arn} with a customer managed key whose policy allows cloudwatch.amazonaws.com "
        "kms:GenerateDataKey* and kms:Decrypt (or remove its encryption)"
    )
    return Chain("topic", Status.FAIL, reason, fix, region, {**ev, "problem": Problem.TOPIC_KEY_UNUSABLE})


# --- remediation text ---------------------------------------------------------------------------


def _call(err: ApiError | None) -> str:
    return err.text() if err else "not read"


def _fix_trail() -> str:
    return (
        "create a multi-Region trail that records all management events and delivers to CloudWatch Logs: "
        "aws cloudtrail create-trail --name ciswatch-trail --s3-bucket-name <bucket> --is-multi-region-trail "
        "--cloud-watch-logs-log-group-arn <log-group-arn> --cloud-watch-logs-role-arn <role-arn> "
        "&& aws cloudtrail start-logging --name ciswatch-trail"
    )


def _fix_trail_logs(name: str | None, home: str | None) -> str:
    return cli(
        "aws cloudtrail update-trail",
        name=name,
        cloud_watch_logs_log_group_arn="<log-group-arn>",
        cloud_watch_logs_role_arn="<role-arn>",
        region=home,
    )


def _fix_filter(ctl: Control, benchmark: str, group: LogGroup) -> str:
    pattern = recommended_pattern(ctl.id, benchmark)
    return (
        filter_command(group.region, group.name, resource_name(ctl.id), pattern, ctl.metric, DEFAULT_NAMESPACE)
        + " && "
        + _fix_alarm(ctl, group.region, ctl.metric, DEFAULT_NAMESPACE)
    )


def _fix_alarm(ctl: Control, region: str, name: str, ns: str) -> str:
    return alarm_command(region, resource_name(ctl.id), name, ns, "<sns-topic-arn>")


__all__ = ["check_monitoring", "selector_gap"]
