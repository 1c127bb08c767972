"""The remediation plan: from an audit, the minimal change that turns this account green.

Pure. The planner fixes one broken link at a time: it adds a step, applies the step's effect to the
snapshot (``Step.simulate``), and re-runs the real checks, until no failure it can fix is left. So
the plan is ordered (trail before filters, topic before alarms) and checked by the same code that
audits: ``Plan.after`` holds the findings the account will have once the plan is applied.

``FIXES`` maps each problem code a check can report to the fixer that plans its step;
``NOT_REMEDIABLE`` lists the codes no step can fix. A test keeps the two covering every ``Problem``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import catalog
from ..checks import run_checks
from ..checks.judge import recommended_pattern
from ..checks.selectors import management_selectors
from ..model import AccountSnapshot, Arn, Finding, Problem, Status
from ..model import conventions as cv
from ..model.rules import topic_delivers
from .steps import (
    ConnectTrailLogs,
    Context,
    CreateTopic,
    CreateTopicKey,
    CreateTrail,
    EnableAlarmActions,
    EnableKeyRotation,
    PutEventSelectors,
    PutMetricAlarm,
    PutMetricFilter,
    StartLogging,
    Step,
    Subscribe,
    required_actions,
)

MAX_ROUNDS = 12
# The complete style's route-table pattern: every route-table event any CIS version lists.
COMPLETE_ROUTE_TABLE_EVENTS = (
    "CreateRoute",
    "CreateRouteTable",
    "ReplaceRoute",
    "ReplaceRouteTableAssociation",
    "DeleteRouteTable",
    "DeleteRoute",
    "DisassociateRouteTable",
)


@dataclass
class Plan:
    account: str
    partition: str
    benchmark: str
    style: str
    namespace: str
    home_region: str | None
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    after: list[Finding] = field(default_factory=list)
    notify_email: str | None = None

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.change]

    @property
    def creates(self) -> list[Step]:
        return [s for s in self.steps if not s.change]

    @property
    def unresolved(self) -> list[Finding]:
        return [f for f in self.after if f.status is Status.FAIL]

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "benchmark": self.benchmark,
            "style": self.style,
            "namespace": self.namespace,
            "home_region": self.home_region,
            "steps": [s.to_dict() for s in self.steps],
            "notes": self.notes,
            "unresolved_after_plan": [
                {"control": f.control, "resource": f.resource, "reason": f.reason} for f in self.unresolved
            ],
            "iam_actions": required_actions(self.steps),
        }


def pattern_for(control: str, benchmark: str, style: str) -> tuple[str, str | None]:
    """The pattern to deploy and, when it is not the version's published string, why."""
    if style == "complete":
        pattern = recommended_pattern(control, "7.0.0")
        if control == "route_table_changes":
            pattern = (
                "{ ($.eventSource = ec2.amazonaws.com) && ("
                + " || ".join(f"($.eventName = {n})" for n in COMPLETE_ROUTE_TABLE_EVENTS)
                + ") }"
            )
        return pattern, "complete style: catches every event any CIS version lists for this control"
    pattern = recommended_pattern(control, benchmark)
    if catalog.is_published(control, pattern, benchmark):
        return pattern, None
    published = catalog.published_patterns(control, benchmark)
    return pattern, (
        f"CIS {benchmark} published {len(published)} string(s) for this control and none catches exactly its events "
        "(the CIS 1.3-1.5 text OR-s its exclusions and matches almost every event); this is the corrected form"
    )


def make_plan(
    snapshot: AccountSnapshot,
    findings: list[Finding],
    benchmark: str,
    style: str = "strict",
    namespace: str = cv.DEFAULT_NAMESPACE,
    notify_email: str | None = None,
    home_region: str | None = None,
) -> Plan:
    plan = Plan(snapshot.account, snapshot.partition, benchmark, style, namespace, None, notify_email=notify_email)
    planner = Planner(
        plan, snapshot, benchmark, home_region or (snapshot.regions[0] if snapshot.regions else "us-east-1")
    )
    for f in findings:
        if f.status is Status.ERROR:
            plan.notes.append(f"not planned, could not be checked: {f.cis_id} {f.control}: {f.reason}")
    for f in findings:  # keys first: they need no other step
        if f.control == cv.KMS_ROTATION_CONTROL and f.status in (Status.FAIL, Status.WARNING):
            planner.fix(f)
    current = findings
    for _ in range(MAX_ROUNDS):
        before = len(plan.steps)
        for f in current:
            if f.status is Status.FAIL and f.control != cv.KMS_ROTATION_CONTROL:
                planner.fix(f)
        if len(plan.steps) == before:
            break
        current = run_checks(planner.state, benchmark)
    plan.after = run_checks(planner.state, benchmark)
    for f in plan.after:
        if f.status is Status.WARNING and f.control != cv.KMS_ROTATION_CONTROL:
            caveats = f.evidence.get("caveats") or [f.reason]
            plan.notes.append(f"left as it is (works, but {'; '.join(caveats)}): {f.cis_id} {f.control}")
    if any(isinstance(s, CreateTopic) for s in plan.steps) and not notify_email:
        plan.notes.append(
            "the new topic needs a subscriber: pass --notify-email ADDRESS (or the NotificationEmail parameter); the recipient must confirm"
        )
    if any(isinstance(s, Subscribe) for s in plan.steps):
        plan.notes.append(
            f"{notify_email} must confirm the subscription from the email SNS sends before alarms reach it"
        )
    return plan


class Planner:
    def __init__(self, plan: Plan, snapshot: AccountSnapshot, benchmark: str, default_region: str):
        self.plan = plan
        self.state = snapshot
        self.benchmark = benchmark
        self.default_region = default_region
        self.ctx = Context(account=plan.account, partition=plan.partition)
        self.done: set[str] = set()
        self.noted: set[str] = set()

    def add(self, step: Step) -> bool:
        """Plan the step (once) and let the simulated account reflect it."""
        if step.id in self.done:
            return False
        self.done.add(step.id)
        self.plan.steps.append(step)
        self.state = step.simulate(self.state, self.ctx)
        return True

    def fix(self, f: Finding) -> None:
        problem = f.problem
        if problem is None:
            return
        fixer = FIXES.get(problem)
        if fixer is None:
            if f.status is Status.FAIL:
                self.plan.notes.append(f"not planned: {f.cis_id} {f.control}: {f.reason}")
            return
        fixer(self, f)

    def trail(self, f: Finding) -> Any:
        return self.state.trails.find(str(f.evidence["trail"]))

    # --- the topic alarms notify -----------------------------------------------------------------------

    def good_topic(self, region: str) -> str:
        """An existing topic in the region that works end to end, else ciswatch's own (planned once)."""
        for arn, topic in sorted(self.state.topics.items()):
            if topic.region == region and topic.account == self.plan.account and topic_delivers(topic):
                return arn
        arn = self.ctx.arn("sns", region, cv.TOPIC_NAME)
        key = CreateTopicKey(
            id="AlarmTopicKey",
            region=region,
            fixes=("alarm topic",),
            why="a customer managed key (rotation on) whose policy lets CloudWatch publish to the encrypted topic",
            alias=cv.TOPIC_KEY_ALIAS,
        )
        if self.add(key):
            self.add(
                CreateTopic(
                    id="AlarmTopic",
                    region=region,
                    fixes=("alarm topic",),
                    why="an encrypted SNS topic for the CIS alarms",
                    topic_name=cv.TOPIC_NAME,
                    key_alias=cv.TOPIC_KEY_ALIAS,
                )
            )
            if self.plan.notify_email:
                self.subscribe(arn, ("alarm topic",))
        return arn

    def subscribe(self, topic_arn: str, fixes: tuple[str, ...]) -> None:
        self.add(
            Subscribe(
                id=f"Subscribe-{topic_arn}",
                region=Arn.parse(topic_arn).region,
                fixes=fixes,
                why=f"subscribe {self.plan.notify_email} to {topic_arn}",
                topic_arn=topic_arn,
                email=self.plan.notify_email,
            )
        )

    def new_alarm(self, f: Finding, why: str) -> None:
        region = str(f.region)
        topic_arn = self.good_topic(region)
        name = cv.resource_name(f.control)
        alarms = self.state.alarms.get(region)
        exists = any(a.name == name for a in (alarms.items if alarms else None) or ())
        self.add(
            PutMetricAlarm(
                id=f"Alarm{_camel(f.control)}",
                region=region,
                fixes=(f.control,),
                why=why,
                change=exists,
                alarm_name=name,
                metric_name=str(f.evidence["metric_name"]),
                namespace=str(f.evidence["metric_namespace"]),
                topic_arn=topic_arn,
                control=f.control,
            )
        )


# --- one fixer per problem ---------------------------------------------------------------------------

Fixer = Callable[[Planner, Finding], None]


def _enable_rotation(p: Planner, f: Finding) -> None:
    key = p.state.find_key(f.region, f.resource)
    if key is None or key.metadata is None or key.metadata.key_manager != "CUSTOMER":
        return
    meta = key.metadata
    target, region = key.arn or key.key_id, str(f.region)
    if meta.multi_region_key_type == "REPLICA":
        target, region = str(meta.primary_key["Arn"]), str(meta.primary_key["Region"])
    long_period = f.problem is Problem.KEY_ROTATION_PERIOD_TOO_LONG
    p.add(
        EnableKeyRotation(
            id=f"EnableRotation-{key.key_id}",
            region=region,
            fixes=(f.finding_id,),
            why=f"{key.aliases[0] if key.aliases else key.key_id}: "
            + ("rotates less often than yearly" if long_period else "customer managed key without automatic rotation"),
            change=True,
            key_id=target,
            rotation_period_days=cv.MAX_ROTATION_PERIOD_DAYS if long_period else None,
            audited_key=(str(f.region), key.key_id),
        )
    )


def _create_trail(p: Planner, f: Finding) -> None:
    region = p.default_region
    if p.add(
        CreateTrail(
            id="CisTrail",
            region=region,
            fixes=("all monitoring controls",),
            why="no multi-Region trail records management events into CloudWatch Logs",
            trail_name=cv.TRAIL_NAME,
            bucket_name=f"ciswatch-cloudtrail-{p.plan.account}-{region}",
            log_group_name=cv.TRAIL_LOG_GROUP,
            role_name=cv.TRAIL_ROLE,
            log_group_arn=p.ctx.trail_log_group_arn(region),
        )
    ):
        p.plan.home_region = region


def _connect_trail_logs(p: Planner, f: Finding) -> None:
    trail = p.trail(f)
    region = trail.home_region
    p.add(
        ConnectTrailLogs(
            id=f"TrailLogs-{trail.name}",
            region=region,
            fixes=(f.control,),
            why=f"trail {trail.name} does not deliver to CloudWatch Logs",
            change=True,
            trail_arn=trail.arn,
            trail_name=trail.name,
            log_group_name=cv.TRAIL_LOG_GROUP,
            role_name=cv.TRAIL_ROLE,
            log_group_arn=p.ctx.trail_log_group_arn(region),
        )
    )


def _start_logging(p: Planner, f: Finding) -> None:
    trail = p.trail(f)
    p.add(
        StartLogging(
            id=f"StartLogging-{trail.name}",
            region=trail.home_region,
            fixes=(f.control,),
            why=f"trail {trail.name} is not logging",
            change=True,
            trail_arn=trail.arn,
        )
    )


def _record_management_events(p: Planner, f: Finding) -> None:
    trail = p.trail(f)
    p.add(
        PutEventSelectors(
            id=f"EventSelectors-{trail.name}",
            region=trail.home_region,
            fixes=(f.control,),
            why=f"trail {trail.name} must record all management events, read and write (its data selectors are kept)",
            change=True,
            trail_arn=trail.arn,
            selectors=management_selectors(trail.selectors or {}),
        )
    )


def _add_filter(p: Planner, f: Finding) -> None:
    lg_arn = str(f.evidence["log_group"])
    group = p.state.log_groups[lg_arn]
    ctl = catalog.control(f.control)
    pattern, note = pattern_for(f.control, p.benchmark, p.plan.style)
    name = cv.resource_name(f.control)
    why = f"log group {group.name} has no filter that catches {ctl.title.lower()}" + (f" ({note})" if note else "")
    if p.add(
        PutMetricFilter(
            id=f"Filter{_camel(f.control)}",
            region=group.region,
            fixes=(f.control,),
            why=why,
            change=any(x.name == name for x in group.filters or ()),
            log_group_name=group.name,
            filter_name=name,
            pattern=pattern,
            pattern_note=note,
            metric_name=ctl.metric,
            namespace=p.plan.namespace,
            control=f.control,
            log_group_arn=lg_arn,
        )
    ):
        p.plan.home_region = p.plan.home_region or group.region


def _alarm_for(why: Callable[[Finding], str]) -> Fixer:
    return lambda p, f: p.new_alarm(f, why(f))


def _enable_alarm_actions(p: Planner, f: Finding) -> None:
    alarm_name = str(f.evidence["alarm"]).split(":alarm:")[-1]
    p.add(
        EnableAlarmActions(
            id=f"EnableActions-{alarm_name}",
            region=str(f.region),
            fixes=(f.control,),
            why=f"alarm {alarm_name} has its actions disabled",
            change=True,
            alarm_name=alarm_name,
        )
    )


def _subscribe(p: Planner, f: Finding) -> None:
    topic_arn = str(f.evidence["topic"])
    if p.plan.notify_email:
        p.subscribe(topic_arn, (f.control,))
    elif topic_arn not in p.noted and not topic_arn.endswith(":" + cv.TOPIC_NAME):
        # ciswatch's own new topic has its own note
        p.noted.add(topic_arn)
        p.plan.notes.append(
            f"topic {topic_arn} has no confirmed subscriber: pass --notify-email ADDRESS to subscribe one"
        )


FIXES: dict[Problem, Fixer] = {
    Problem.KEY_ROTATION_DISABLED: _enable_rotation,
    Problem.KEY_ROTATION_PERIOD_TOO_LONG: _enable_rotation,
    Problem.NO_MULTI_REGION_TRAIL: _create_trail,
    Problem.TRAIL_WITHOUT_CLOUDWATCH_LOGS: _connect_trail_logs,
    Problem.TRAIL_NOT_LOGGING: _start_logging,
    Problem.SELECTORS_INCOMPLETE: _record_management_events,
    Problem.NO_COVERING_FILTER: _add_filter,
    Problem.NO_ALARM: _alarm_for(
        lambda f: (
            f"no alarm watches metric {f.evidence['metric_namespace']}/{f.evidence['metric_name']} of filter {f.evidence.get('filter')}"
        )
    ),
    Problem.ALARM_NOT_SENSIBLE: _alarm_for(
        lambda f: f"{f.reason}: a correct alarm on the same metric (the existing one is left as it is)"
    ),
    Problem.NO_SNS_ACTION: _alarm_for(
        lambda f: f"{f.reason}: an alarm on the same metric that notifies a topic with a subscriber"
    ),
    Problem.TOPIC_MISSING: _alarm_for(
        lambda f: f"{f.reason}: an alarm on the same metric that notifies a working topic"
    ),
    Problem.TOPIC_KEY_UNUSABLE: _alarm_for(
        lambda f: f"{f.reason}: an alarm on the same metric that notifies a topic CloudWatch can publish to"
    ),
    Problem.TOPIC_POLICY_DENIES: _alarm_for(
        lambda f: f"{f.reason}: an alarm on the same metric that notifies a topic CloudWatch may publish to"
    ),
    Problem.ALARM_ACTIONS_DISABLED: _enable_alarm_actions,
    Problem.NO_CONFIRMED_SUBSCRIPTION: _subscribe,
}

# What no step can fix: the check could not run (an ERROR to resolve first), or the monitoring
# lives in another account (fix it there).
NOT_REMEDIABLE: frozenset[Problem] = frozenset(
    {
        Problem.TRAILS_UNREADABLE,
        Problem.TRAIL_IN_OTHER_ACCOUNT,
        Problem.LOG_GROUP_IN_OTHER_ACCOUNT,
        Problem.TRAIL_STATUS_UNREADABLE,
        Problem.SELECTORS_UNREADABLE,
        Problem.FILTERS_UNREADABLE,
        Problem.ALARMS_UNREADABLE,
        Problem.TOPIC_UNREADABLE,
        Problem.TOPIC_KEY_UNREADABLE,
        Problem.SUBSCRIPTIONS_UNREADABLE,
    }
)


def _camel(control: str) -> str:
    return "".join(p.capitalize() for p in control.split("_"))
