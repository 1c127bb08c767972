"""CIS monitoring controls: is the chain trail -> log group -> filter -> alarm -> topic -> subscriber complete?

One finding per control per account. Every chain the snapshot allows is walked to its first broken
link; the best chain decides the status:
PASS (complete, filter covers) > WARNING (complete but overbroad or unverifiable) > ERROR (a call
failed where a chain might have been complete) > NOT_APPLICABLE (monitoring lives in another
account) > FAIL (the deepest chain, with its first broken link and the fix).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from ..model.policy import Decision
from ..model.rules import (
    TopicKeyVerdict,
    alarm_request_context,
    subscription_reach,
    topic_key_verdict,
    topic_policy_verdict,
)
from ..model.snapshot import CompositeAlarm, MetricTransformation, RegionAlarms, Topic
from ..model.sns_filter import Reach, alarm_message
from .common import new_finding
from .judge import (
    COVERS,
    MISSES,
    OVERBROAD,
    Verdict,
    dimension_values,
    is_catch_all,
    judge,
    must_match_names,
    published_for,
    recommended_pattern,
)
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
    after_break: int | None = None  # links still broken past the first one (None: not walked, all of them)

    @property
    def depth(self) -> int:
        return LINKS.index(self.link)

    @property
    def breaks(self) -> int:
        """How many links would need fixing: the first broken one, and those past it."""
        if self.link == "complete":
            return 0
        past = len(LINKS) - 1 - self.depth - 1 if self.after_break is None else self.after_break
        return 1 + past


def _rank(chain: Chain) -> tuple[int, int, int]:
    # The best chain: by status, then (for a FAIL) the fewest links left to fix, then the deepest.
    return PREFERENCE[chain.status], chain.breaks if chain.status is Status.FAIL else 0, -chain.depth


def check_monitoring(snapshot: AccountSnapshot, benchmark: str) -> list[Finding]:
    return [_finding(snapshot, ctl, benchmark) for ctl in catalog.monitoring_controls(benchmark)]


def _finding(snapshot: AccountSnapshot, ctl: Control, benchmark: str) -> Finding:
    chains = list(_chains(snapshot, ctl, benchmark))
    best = min(chains, key=_rank)
    evidence = dict(best.evidence)
    evidence["broken_link"] = None if best.link == "complete" else best.link
    evidence["chains_evaluated"] = len(chains)
    if best.status is Status.ERROR:
        deepest_fail = min((c for c in chains if c.status is Status.FAIL), key=_rank, default=None)
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
        yield from _owners_chains(snapshot, trail, ctl, benchmark, ev)
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
        # Walk the rest as if the trail were fixed: a trail whose log group, filter, alarm and topic
        # all work is one fix away, and its own problem is what the finding must name.
        rest = list(_filter_chains(snapshot, group, ctl, benchmark, ev))
        after = min((c.breaks for c in rest if c.status is not Status.ERROR), default=None)
        yield Chain("trail", status, reason, fix, home, {**ev, "problem": problem}, after_break=after)
        return
    yield from _filter_chains(snapshot, group, ctl, benchmark, ev)


def _owners_chains(
    snapshot: AccountSnapshot, trail: Trail, ctl: Control, benchmark: str, ev: Evidence
) -> Iterator[Chain]:
    """An organization trail of another account: the owner's chain decides (its log group, filters,
    alarms and topics are the member's monitoring) when the run read the owner; otherwise say why not."""
    owner = trail.owner_account or ""
    owning = snapshot.trail_owners.get(owner)
    owned = next((t for t in owning.trails.items if t.arn == trail.arn), None) if owning else None
    if owning is None or owned is None:
        unread = snapshot.trail_owner_errors.get(owner)
        status, why = (
            (Status.ERROR, f", which could not be read: {unread}")
            if unread is not None
            else (Status.NOT_APPLICABLE, ": its log group, filters and alarms live there; audit that account")
        )
        yield Chain(
            "trail",
            status,
            f"monitored through organization trail {trail.name} owned by account {owner}{why}",
            region=trail.home_region,
            evidence={**ev, "problem": Problem.TRAIL_IN_OTHER_ACCOUNT},
        )
        return
    where = f"judged in account {owner}, which owns organization trail {trail.name}: "
    for chain in _trail_chains(owning, owned, ctl, benchmark):
        fix = chain.remediation and f"in account {owner} (the trail's owner): {chain.remediation}"
        evidence = {**chain.evidence, "judged_in_account": owner}
        yield replace(chain, reason=where + chain.reason, remediation=fix, evidence=evidence)


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
    catch_alls = []
    candidates: list[tuple[MetricFilter, Verdict, MetricTransformation]] = []
    for f in group.filters:
        pattern = f.pattern or ""
        verdict = judge(ctl.id, pattern, benchmark)
        entry = {"filter": f.name, "verdict": verdict.verdict, "strict": verdict.strict, "missed": list(verdict.missed)}
        if (
            verdict.verdict == OVERBROAD
            and is_catch_all(ctl.id, pattern, benchmark)
            and not published_for(ctl.id, pattern)
        ):
            # Its alarm sits in ALARM on unrelated events: it would notify nobody of this control's.
            entry["catch_all"] = True
            catch_alls.append(f.name)
        elif verdict.verdict in (COVERS, OVERBROAD):
            for m in f.transformations:
                candidates.append((f, verdict, m))
        judged.append(entry)
    ev = {**ev, "filters_judged": judged}
    if not candidates:
        every_event = list(must_match_names(ctl.id, benchmark))
        yield Chain(
            "filter",
            Status.FAIL,
            _no_filter_reason(group, judged, ctl, every_event, catch_alls),
            _fix_filter(ctl, benchmark, group),
            region,
            {**ev, "problem": Problem.NO_COVERING_FILTER, "log_group_name": group.name}
            | ({"catch_all_filters": catch_alls} if catch_alls else {}),
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
        yield from _alarm_chains(snapshot, group, f, verdict, metric, ctl, benchmark, fev)


def _no_filter_reason(
    group: LogGroup, judged: list[dict[str, Any]], ctl: Control, every_event: list[str], catch_alls: list[Any]
) -> str:
    relevant = [j for j in judged if j["verdict"] == MISSES and j["missed"] != every_event]
    invalid = [j for j in judged if j["verdict"] == "invalid"]
    base = f"log group {group.name} ({group.region}) has no metric filter that catches {ctl.title.lower()}"
    if relevant:  # the control's own filter, one fix away, comes before a catch-all that is not its own
        j = relevant[0]
        return f"{base}: filter {j['filter']} misses {', '.join(j['missed'])}"
    if catch_alls:
        return (
            f"{base}: filter {catch_alls[0]} matches almost every event (a catch-all), so its alarm stays in "
            "ALARM and would not notify anyone of this control's events"
        )
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
    benchmark: str,
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
        broken = _metric_identity_problem(alarm, metric, f, ctl, benchmark) or _alarm_problem(alarm, metric)
        if broken:
            reason, fix, problem = broken
            yield Chain("alarm", Status.FAIL, reason, fix, region, {**aev, "problem": problem})
            continue
        caveats = _alarm_caveats(alarm, metric)
        topics = _sns_actions(alarm) if alarm.actions_enabled is not False else []
        via = None
        if not topics:
            via = _forwarding_composite(alarm, alarms.composites)
            if via is not None:
                topics = _sns_actions(via)
                caveats.append(
                    f"alarm {alarm.name} notifies through composite alarm {via.name} (exact-string checkers will disagree)"
                )
                aev = {**aev, "composite_alarm": via.arn or via.name}
        if not topics and alarm.actions_enabled is False:
            yield Chain(
                "alarm",
                Status.FAIL,
                f"alarm {alarm.name} has its actions disabled",
                enable_alarm_actions_command(alarm.name),
                region,
                {**aev, "problem": Problem.ALARM_ACTIONS_DISABLED},
            )
            continue
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
        notifier = via or alarm
        for topic_arn in topics:
            yield _topic_chain(
                snapshot, topic_arn, alarm, notifier, verdict, f, {**aev, "topic": topic_arn}, region, caveats
            )


def _sns_actions(alarm: Alarm | CompositeAlarm) -> list[str]:
    return [a for a in alarm.alarm_actions or () if is_sns_topic(a)]


_ALARM_REFERENCE = re.compile(r"ALARM\(\s*\"?([^\")]+?)\"?\s*\)")


def _forwarding_composite(alarm: Alarm, composites: Sequence[CompositeAlarm]) -> CompositeAlarm | None:
    """A composite alarm whose rule changes state whenever this alarm does, and that notifies a topic.

    Only a rule that ORs alarm states qualifies: with AND or NOT, this alarm's ALARM may change nothing."""
    names = {alarm.name, alarm.arn}
    for c in composites:
        rule = c.rule or ""
        if c.actions_enabled is False or not _sns_actions(c) or re.search(r"\b(AND|NOT)\b", rule):
            continue
        if names & set(_ALARM_REFERENCE.findall(rule)):
            return c
    return None


def _metric_identity_problem(
    alarm: Alarm, metric: MetricTransformation, f: MetricFilter, ctl: Control, benchmark: str
) -> tuple[str, str | None, Problem] | None:
    """Why the alarm's metric is not the one the filter publishes: the dimensions or the unit differ."""
    asked = next(
        (w for w in alarm.watched() if (w.name, w.namespace) == (metric.metric_name, metric.metric_namespace)), None
    )
    if asked is None:
        return None
    problem = Problem.ALARM_NOT_SENSIBLE
    published = dict(metric.dimensions or {})
    label = f"{metric.metric_namespace}/{metric.metric_name}"
    if set(asked.dimensions) != set(published):
        return (
            f"alarm {alarm.name} asks for {label} with dimensions {_dims(asked.dimensions)} but filter {f.name} "
            f"publishes it with dimensions {_dims(published)}: CloudWatch treats them as different metrics, so "
            "the alarm never receives a datapoint",
            None,
            problem,
        )
    if published:
        values = dimension_values(ctl.id, f.pattern or "", benchmark, published)
        wanted = tuple(sorted(asked.dimensions.items()))
        elsewhere = None if values is None else sorted(v for v in values if v != wanted)
        if elsewhere:
            other = ", ".join(f"{k}={v}" for k, v in elsewhere[0])
            return (
                f"alarm {alarm.name} watches only {_dims(asked.dimensions)} of {label}; this control's events also "
                f"publish to other dimension values (for example {other}), which no alarm sees",
                None,
                problem,
            )
    if asked.unit and asked.unit != (metric.unit or "None"):
        return (
            f"alarm {alarm.name} asks for {label} in unit {asked.unit} but filter {f.name} publishes it "
            f"{'in ' + metric.unit if metric.unit else 'without a unit'}: the alarm never receives a datapoint",
            None,
            problem,
        )
    return None


def _dims(dims: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(dims.items())) + "}" if dims else "none"


# What one event makes each statistic of the period, given the metric value the filter publishes.
def _statistic_value(statistic: str, metric: MetricTransformation, value: float) -> float | None:
    if statistic in ("Sum", "Maximum"):
        return value
    if statistic == "SampleCount":
        return 1.0
    if statistic in ("Minimum", "Average"):
        # Without a default value only matching events publish, so one event is the whole period; a
        # default value publishes for every other log event too and pulls Minimum and Average down.
        return value if metric.default_value is None else None
    return None


def _alarm_problem(alarm: Alarm, metric: MetricTransformation) -> tuple[str, str | None, Problem] | None:
    """Why one event on the metric would not make this alarm change state (and so notify), or None."""
    name = alarm.name
    if alarm.metrics:
        return None  # metric math: the threshold logic is the user's; the metric is watched
    not_sensible = Problem.ALARM_NOT_SENSIBLE
    if alarm.treat_missing_data == "breaching":
        return (
            f"alarm {name} treats missing data as breaching: it sits in ALARM while no event arrives, so the "
            "next event changes nothing and notifies nobody",
            None,
            not_sensible,
        )
    try:
        value = float(metric.metric_value or "1")
    except ValueError:
        value = 1.0
    stat = alarm.statistic or alarm.extended_statistic or ""
    one_event = _statistic_value(stat, metric, value) if alarm.statistic else value
    if one_event is None:
        default = f" with defaultValue {metric.default_value:g}" if metric.default_value is not None else ""
        return (
            f"alarm {name} uses statistic {stat}{default}; one event does not make it reach the threshold "
            "(CIS expects Sum or SampleCount)",
            None,
            not_sensible,
        )
    threshold = float(alarm.threshold or 0)
    op = alarm.comparison_operator
    reachable = (op == "GreaterThanOrEqualToThreshold" and threshold <= one_event) or (
        op == "GreaterThanThreshold" and threshold < one_event
    )
    if not reachable:
        return (
            f"alarm {name} ({stat} {op} {threshold:g}) does not fire on a single event (metric value {value:g})",
            None,
            not_sensible,
        )
    needed = alarm.datapoints_to_alarm or alarm.evaluation_periods or 1
    if needed > 1:
        return f"alarm {name} needs {needed} breaching periods; one event never fires it", None, not_sensible
    return None


def _alarm_caveats(alarm: Alarm, metric: MetricTransformation) -> list[str]:
    """Why an alarm that can fire is only good enough for a WARNING."""
    if alarm.extended_statistic and not alarm.statistic:
        return [
            f"alarm {alarm.name} uses percentile {alarm.extended_statistic}: one event reaches it only when it is "
            "the period's only datapoint"
        ]
    return []


def _topic_chain(
    snapshot: AccountSnapshot,
    topic_arn: str,
    alarm: Alarm,
    notifier: Alarm | CompositeAlarm,
    verdict: Verdict,
    f: MetricFilter,
    ev: Evidence,
    region: str,
    upstream_caveats: list[str],
) -> Chain:
    """The links from the topic the alarm (or the composite alarm that forwards it) notifies."""
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
    context = alarm_request_context(snapshot.account, notifier.arn)
    caveats = list(upstream_caveats)
    key_chain = _topic_key_chain(topic, ev, region, context, caveats)
    if key_chain:
        return key_chain
    access = topic_policy_verdict(topic, context)
    if access.decision is Decision.DENY:
        return Chain(
            "topic",
            Status.FAIL,
            f"the access policy of topic {topic_arn} denies sns:Publish to cloudwatch.amazonaws.com ({access.why}): "
            f"alarm {notifier.name} cannot publish",
            f"remove or narrow the Deny in the access policy of topic {topic_arn}, or point alarm {notifier.name} "
            "to a topic CloudWatch may publish to",
            region,
            {**ev, "problem": Problem.TOPIC_POLICY_DENIES},
        )
    if access.decision is Decision.UNKNOWN:
        caveats.append(f"the access policy of topic {topic_name} may deny CloudWatch ({access.why})")
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
    message = alarm_message(notifier.name, notifier.arn, snapshot.account, alarm.metric_name, alarm.namespace)
    reach = {s.arn: subscription_reach(s, message) for s in topic.confirmed_subscriptions}
    filtered_out = [s for s in topic.confirmed_subscriptions if reach[s.arn] is Reach.NO_MATCH]
    confirmed = [s for s in topic.confirmed_subscriptions if reach[s.arn] is not Reach.NO_MATCH]
    ev = {
        **ev,
        "subscriptions_confirmed": len(confirmed),
        "subscriptions_pending": len(subs) - len(topic.confirmed_subscriptions),
        "protocols": sorted({s.protocol for s in confirmed if s.protocol}),
    }
    if filtered_out:
        ev["subscriptions_filtered_out"] = [s.arn for s in filtered_out]
    unsure = [s for s in confirmed if reach[s.arn] is Reach.UNKNOWN]
    if confirmed and len(unsure) == len(confirmed):
        caveats.append(
            f"the filter policy of every confirmed subscription of topic {topic_name} depends on what ciswatch "
            "cannot know of an alarm message"
        )
    if not confirmed:
        pending = f" ({len(subs)} pending confirmation)" if subs else ""
        if filtered_out:
            pending = (
                f": the filter policy of {len(filtered_out)} confirmed subscription(s) never matches an alarm "
                "notification (alarm messages carry no message attributes)"
            )
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
    caveats = _caveats(topic_region, region, f, verdict) + caveats
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


def _topic_key_chain(
    topic: Topic, ev: Evidence, region: str, context: Mapping[str, str], caveats: list[str]
) -> Chain | None:
    """The topic link broken by its encryption key, or None when CloudWatch can use the key."""
    verdict, why = topic_key_verdict(topic, context)
    if verdict in (TopicKeyVerdict.UNENCRYPTED, TopicKeyVerdict.USABLE):
        return None
    key_id = topic.kms_master_key_id
    key = topic.kms_key
    key_name = (key.arn if key else None) or key_id
    if verdict is TopicKeyVerdict.UNVERIFIABLE:
        caveats.append(f"the policy of key {key_name} that encrypts topic {Arn.parse(topic.arn).resource}: {why}")
        return None
    if verdict is TopicKeyVerdict.UNREADABLE:
        reason = f"could not read the key {key_id} that encrypts topic {topic.arn}: {why}"
        return Chain("topic", Status.ERROR, reason, None, region, {**ev, "problem": Problem.TOPIC_KEY_UNREADABLE})
    if verdict is TopicKeyVerdict.AWS_MANAGED:
        reason = f"topic {topic.arn} is encrypted with the AWS managed key alias/aws/sns: CloudWatch alarms cannot publish to it"
    elif verdict is TopicKeyVerdict.NOT_ENABLED:
        reason = f"topic {topic.arn} is encrypted with key {key_name}, and {why}: alarms cannot publish"
    else:
        reason = f"topic {topic.arn} is encrypted with key {key_name}, whose policy does not let cloudwatch.amazonaws.com use it: alarms cannot publish"
        if why and not why.startswith("no statement"):
            reason += f" ({why})"
    fix = (
        f"encrypt topic {topic.arn} with a customer managed key whose policy allows cloudwatch.amazonaws.com "
        "kms:GenerateDataKey* and kms:Decrypt (or remove its encryption)"
    )
    if verdict is TopicKeyVerdict.NOT_ENABLED:
        fix = f"enable key {key_name} (aws kms enable-key / cancel-key-deletion), or " + fix
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
