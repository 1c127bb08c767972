"""The remediation plan: from an audit, the minimal change that turns this account green.

Pure. The planner fixes one broken link at a time: it adds a step, applies the step's effect to a
copy of the snapshot, and re-runs the real checks, until no failure it can fix is left. So the plan
is ordered (trail before filters, topic before alarms) and checked by the same code that audits:
`Plan.after` holds the findings the account will have once the plan is applied.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

from .. import catalog
from ..checks import run_checks
from ..checks.monitoring import ALARM_SETTINGS, key_policy_allows_cloudwatch
from ..findings import ERROR, FAIL, WARNING, Finding
from ..inventory.snapshot import arn_parts

NAMESPACE = "CISBenchmark"
PREFIX = "ciswatch"
TOPIC_NAME = "ciswatch-cis-alarms"
TOPIC_KEY_ALIAS = "alias/ciswatch-cis-alarms"
TRAIL_NAME = "ciswatch-trail"
TRAIL_LOG_GROUP = "ciswatch/cloudtrail"
TRAIL_ROLE = "ciswatch-cloudtrail-to-logs"
PLANNED_SUBSCRIPTION = ":ciswatch-planned-subscription"
MAX_ROUNDS = 12
TAGS = {"ciswatch:managed": "true"}
# The trail bucket's settings, for the template and for --apply alike.
BUCKET_HARDENING = {
    "encryption": {"SSEAlgorithm": "AES256"},
    "public_access_block": {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    },
}


@dataclass
class Step:
    id: str  # a stable name: the CloudFormation logical id of what it creates
    kind: str
    region: str
    params: dict
    fixes: list
    why: str
    change: bool = False  # modifies something that exists (applied only with --yes)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "region": self.region,
            "change": self.change,
            "fixes": self.fixes,
            "why": self.why,
            "params": self.params,
        }


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
        return [f for f in self.after if f.status == FAIL]

    def to_dict(self) -> dict:
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
        }


def pattern_for(control: str, benchmark: str, style: str) -> tuple[str, str | None]:
    """The pattern to deploy and, when it is not the version's published string, why."""
    if style == "complete":
        pattern = catalog.recommended_pattern(control, "7.0.0")
        if control == "route_table_changes":
            names = [
                "CreateRoute",
                "CreateRouteTable",
                "ReplaceRoute",
                "ReplaceRouteTableAssociation",
                "DeleteRouteTable",
                "DeleteRoute",
                "DisassociateRouteTable",
            ]
            pattern = (
                "{ ($.eventSource = ec2.amazonaws.com) && ("
                + " || ".join(f"($.eventName = {n})" for n in names)
                + ") }"
            )
        return pattern, "complete style: catches every event any CIS version lists for this control"
    pattern = catalog.recommended_pattern(control, benchmark)
    if catalog.is_published(control, pattern, benchmark):
        return pattern, None
    published = catalog.published_patterns(control, benchmark)
    return pattern, (
        f"CIS {benchmark} published {len(published)} string(s) for this control and none catches exactly its events "
        "(the CIS 1.3-1.5 text OR-s its exclusions and matches almost every event); this is the corrected form"
    )


def make_plan(
    snapshot: dict,
    findings: list[Finding],
    benchmark: str,
    style: str = "strict",
    namespace: str = NAMESPACE,
    notify_email: str | None = None,
    home_region: str | None = None,
) -> Plan:
    state = copy.deepcopy(snapshot)
    plan = Plan(
        snapshot["account"],
        snapshot.get("partition", "aws"),
        benchmark,
        style,
        namespace,
        None,
        notify_email=notify_email,
    )
    planner = _Planner(
        plan, state, benchmark, home_region or (snapshot["regions"][0] if snapshot["regions"] else "us-east-1")
    )
    for f in findings:
        if f.status == ERROR:
            plan.notes.append(f"not planned, could not be checked: {f.cis_id} {f.control}: {f.reason}")
    planner.kms(findings)
    current = findings
    for _ in range(MAX_ROUNDS):
        before = len(plan.steps)
        for f in current:
            if f.status == FAIL and f.control != "kms_key_rotation":
                planner.monitoring(f)
        if len(plan.steps) == before:
            break
        current = run_checks(state, benchmark)
    plan.after = run_checks(state, benchmark)
    for f in plan.after:
        if f.status == WARNING and f.control != "kms_key_rotation":
            plan.notes.append(f"left as it is (works, but {f.reason.split('; but ', 1)[-1]}): {f.cis_id} {f.control}")
    if any(s.kind == "create_topic" for s in plan.steps) and not notify_email:
        plan.notes.append(
            "the new topic needs a subscriber: pass --notify-email ADDRESS (or the NotificationEmail parameter); the recipient must confirm"
        )
    if any(s.kind == "subscribe" for s in plan.steps):
        plan.notes.append(
            f"{notify_email} must confirm the subscription from the email SNS sends before alarms reach it"
        )
    return plan


class _Planner:
    def __init__(self, plan: Plan, state: dict, benchmark: str, default_region: str):
        self.plan = plan
        self.state = state
        self.benchmark = benchmark
        self.default_region = default_region
        self.done: set = set()

    # --- helpers ---------------------------------------------------------------------------------

    def add(self, step: Step) -> bool:
        if step.id in self.done:
            return False
        self.done.add(step.id)
        self.plan.steps.append(step)
        return True

    def arn(self, service: str, region: str, resource: str) -> str:
        return f"arn:{self.plan.partition}:{service}:{region}:{self.plan.account}:{resource}"

    def _planned_log_group(self, arn: str, region: str) -> dict:
        return {
            "arn": arn,
            "region": region,
            "account": self.plan.account,
            "name": TRAIL_LOG_GROUP,
            "filters": [],
            "error": None,
        }

    def trail(self, arn: str) -> dict | None:
        return next((t for t in self.state["trails"]["items"] if t["arn"] == arn), None)

    # --- KMS ---------------------------------------------------------------------------------------

    def kms(self, findings) -> None:
        for f in findings:
            if f.control != "kms_key_rotation" or f.region is None or f.status not in (FAIL, WARNING):
                continue
            key = next(
                (k for k in self.state["kms"].get(f.region, {}).get("keys") or [] if k["arn"] == f.resource), None
            )
            if key is None or (key["metadata"] or {}).get("KeyManager") != "CUSTOMER":
                continue
            mrc = (key["metadata"] or {}).get("MultiRegionConfiguration") or {}
            target, region = key["arn"], f.region
            if mrc.get("MultiRegionKeyType") == "REPLICA":
                target, region = mrc["PrimaryKey"]["Arn"], mrc["PrimaryKey"]["Region"]
            params = {"key_id": target}
            if f.status == WARNING:
                params["rotation_period_days"] = 365
            name = key["aliases"][0] if key["aliases"] else key["key_id"]
            why = f"{name}: " + (
                "rotates less often than yearly"
                if f.status == WARNING
                else "customer managed key without automatic rotation"
            )
            self.add(
                Step(
                    f"EnableRotation-{key['key_id']}",
                    "enable_key_rotation",
                    region,
                    params,
                    [f.finding_id],
                    why,
                    change=True,
                )
            )
            key["rotation"] = {"KeyRotationEnabled": True, "RotationPeriodInDays": 365}

    # --- monitoring ----------------------------------------------------------------------------------

    def monitoring(self, f: Finding) -> None:
        ev = f.evidence
        problem = ev.get("problem")
        handler = getattr(self, f"_fix_{problem}", None)
        if handler is None:
            if problem:
                self.plan.notes.append(f"not planned: {f.cis_id} {f.control}: {f.reason}")
            return
        handler(f, ev)

    def _fix_no_multi_region_trail(self, f, ev):
        region = self.default_region
        lg_arn = self.arn("logs", region, f"log-group:{TRAIL_LOG_GROUP}:*")
        trail_arn = self.arn("cloudtrail", region, f"trail/{TRAIL_NAME}")
        if not self.add(
            Step(
                "CisTrail",
                "create_trail",
                region,
                {
                    "trail_name": TRAIL_NAME,
                    "bucket_name": f"ciswatch-cloudtrail-{self.plan.account}-{region}",
                    "log_group_name": TRAIL_LOG_GROUP,
                    "role_name": TRAIL_ROLE,
                    "log_group_arn": lg_arn,
                },
                ["all monitoring controls"],
                "no multi-Region trail records management events into CloudWatch Logs",
            )
        ):
            return
        self.state["trails"]["items"].append(
            {
                "arn": trail_arn,
                "name": TRAIL_NAME,
                "home_region": region,
                "owner_account": self.plan.account,
                "is_multi_region": True,
                "is_organization_trail": False,
                "log_group_arn": lg_arn,
                "cloudwatch_logs_role_arn": None,
                "status": {"IsLogging": True},
                "status_error": None,
                "selectors": {
                    "EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}],
                    "AdvancedEventSelectors": [],
                },
                "selectors_error": None,
            }
        )
        self.state["log_groups"][lg_arn] = self._planned_log_group(lg_arn, region)
        self.plan.home_region = region

    def _fix_trail_without_cloudwatch_logs(self, f, ev):
        trail = self.trail(ev["trail"])
        region = trail["home_region"]
        lg_arn = self.arn("logs", region, f"log-group:{TRAIL_LOG_GROUP}:*")
        if not self.add(
            Step(
                f"TrailLogs-{trail['name']}",
                "connect_trail_logs",
                region,
                {
                    "trail_arn": trail["arn"],
                    "trail_name": trail["name"],
                    "log_group_name": TRAIL_LOG_GROUP,
                    "role_name": TRAIL_ROLE,
                    "log_group_arn": lg_arn,
                },
                [f.control],
                f"trail {trail['name']} does not deliver to CloudWatch Logs",
                change=True,
            )
        ):
            return
        trail["log_group_arn"] = lg_arn
        self.state["log_groups"][lg_arn] = self._planned_log_group(lg_arn, region)

    def _fix_trail_not_logging(self, f, ev):
        trail = self.trail(ev["trail"])
        if self.add(
            Step(
                f"StartLogging-{trail['name']}",
                "start_logging",
                trail["home_region"],
                {"trail_arn": trail["arn"]},
                [f.control],
                f"trail {trail['name']} is not logging",
                change=True,
            )
        ):
            trail["status"] = {"IsLogging": True}

    def _fix_selectors_incomplete(self, f, ev):
        trail = self.trail(ev["trail"])
        selectors = management_selectors(trail["selectors"] or {})
        if self.add(
            Step(
                f"EventSelectors-{trail['name']}",
                "put_event_selectors",
                trail["home_region"],
                {"trail_arn": trail["arn"], **selectors},
                [f.control],
                f"trail {trail['name']} must record all management events, read and write (its data selectors are kept)",
                change=True,
            )
        ):
            trail["selectors"] = {
                "EventSelectors": selectors.get("EventSelectors", []),
                "AdvancedEventSelectors": selectors.get("AdvancedEventSelectors", []),
            }

    def _fix_no_covering_filter(self, f, ev):
        lg_arn = ev["log_group"]
        group = self.state["log_groups"][lg_arn]
        ctl = catalog.control(f.control)
        pattern, note = pattern_for(f.control, self.benchmark, self.plan.style)
        name = f"{PREFIX}-{f.control}"
        exists = any(x.get("filterName") == name for x in group["filters"] or [])
        metric = {"metricName": ctl.metric_name, "metricNamespace": self.plan.namespace, "metricValue": "1"}
        why = f"log group {group['name']} has no filter that catches {ctl.title.lower()}" + (
            f" ({note})" if note else ""
        )
        if not self.add(
            Step(
                f"Filter{_camel(f.control)}",
                "put_metric_filter",
                group["region"],
                {
                    "log_group_name": group["name"],
                    "filter_name": name,
                    "pattern": pattern,
                    "pattern_note": note,
                    "metric_name": ctl.metric_name,
                    "namespace": self.plan.namespace,
                    "control": f.control,
                },
                [f.control],
                why,
                change=exists,
            )
        ):
            return
        new = {
            "filterName": name,
            "filterPattern": pattern,
            "metricTransformations": [metric],
            "logGroupName": group["name"],
        }
        group["filters"] = _replace_named(group["filters"], "filterName", new)
        self.plan.home_region = self.plan.home_region or group["region"]

    def _new_alarm(self, f, ev, why):
        region = f.region
        topic_arn = self.good_topic(region)
        name = f"{PREFIX}-{f.control}"
        alarms = self.state["alarms"].setdefault(region, {"items": [], "error": None})
        exists = any(a.get("AlarmName") == name for a in alarms["items"] or [])
        metric_name, namespace = ev["metric_name"], ev["metric_namespace"]
        if not self.add(
            Step(
                f"Alarm{_camel(f.control)}",
                "put_metric_alarm",
                region,
                {
                    "alarm_name": name,
                    "metric_name": metric_name,
                    "namespace": namespace,
                    "topic_arn": topic_arn,
                    "control": f.control,
                },
                [f.control],
                why,
                change=exists,
            )
        ):
            return
        alarms["items"] = _replace_named(
            alarms["items"],
            "AlarmName",
            {
                "AlarmName": name,
                "AlarmArn": self.arn("cloudwatch", region, f"alarm:{name}"),
                "MetricName": metric_name,
                "Namespace": namespace,
                **ALARM_SETTINGS,
                "ActionsEnabled": True,
                "AlarmActions": [topic_arn],
            },
        )

    def _fix_no_alarm(self, f, ev):
        self._new_alarm(
            f, ev, f"no alarm watches metric {ev['metric_namespace']}/{ev['metric_name']} of filter {ev.get('filter')}"
        )

    def _fix_alarm_not_sensible(self, f, ev):
        self._new_alarm(f, ev, f"{f.reason}: a correct alarm on the same metric (the existing one is left as it is)")

    def _fix_no_sns_action(self, f, ev):
        self._new_alarm(f, ev, f"{f.reason}: an alarm on the same metric that notifies a topic with a subscriber")

    def _fix_topic_missing(self, f, ev):
        self._new_alarm(f, ev, f"{f.reason}: an alarm on the same metric that notifies a working topic")

    def _fix_topic_key_unusable(self, f, ev):
        self._new_alarm(
            f, ev, f"{f.reason}: an alarm on the same metric that notifies a topic CloudWatch can publish to"
        )

    def _fix_alarm_actions_disabled(self, f, ev):
        region = f.region
        alarm_name = ev["alarm"].split(":alarm:")[-1]
        if self.add(
            Step(
                f"EnableActions-{alarm_name}",
                "enable_alarm_actions",
                region,
                {"alarm_name": alarm_name},
                [f.control],
                f"alarm {alarm_name} has its actions disabled",
                change=True,
            )
        ):
            for a in self.state["alarms"][region]["items"]:
                if a.get("AlarmName") == alarm_name:
                    a["ActionsEnabled"] = True

    def _fix_no_confirmed_subscription(self, f, ev):
        topic_arn = ev["topic"]
        if not self.plan.notify_email:
            if f"Subscribe-{topic_arn}" not in self.done:
                self.done.add(f"Subscribe-{topic_arn}")
                if not topic_arn.endswith(":" + TOPIC_NAME):  # ciswatch's own new topic has its own note
                    self.plan.notes.append(
                        f"topic {topic_arn} has no confirmed subscriber: pass --notify-email ADDRESS to subscribe one"
                    )
            return
        self._subscribe(topic_arn, [f.control])

    def _subscribe(self, topic_arn: str, fixes: list) -> None:
        if self.add(
            Step(
                f"Subscribe-{topic_arn}",
                "subscribe",
                topic_arn.split(":")[3],
                {"topic_arn": topic_arn, "email": self.plan.notify_email},
                fixes,
                f"subscribe {self.plan.notify_email} to {topic_arn}",
            )
        ):
            topic = self.state["topics"].setdefault(topic_arn, _topic_record(topic_arn))
            topic["subscriptions"] = (topic["subscriptions"] or []) + [
                {"SubscriptionArn": topic_arn + PLANNED_SUBSCRIPTION, "Protocol": "email"}
            ]

    # --- the topic alarms notify -----------------------------------------------------------------------

    def good_topic(self, region: str) -> str:
        """An existing topic in the region that works end to end, else ciswatch's own (planned once)."""
        for arn, topic in sorted(self.state["topics"].items()):
            if topic["region"] == region and topic["account"] == self.plan.account and _topic_works(topic):
                return arn
        arn = self.arn("sns", region, TOPIC_NAME)
        if self.add(
            Step(
                "AlarmTopicKey",
                "create_topic_key",
                region,
                {"alias": TOPIC_KEY_ALIAS},
                ["alarm topic"],
                "a customer managed key (rotation on) whose policy lets CloudWatch publish to the encrypted topic",
            )
        ):
            self.add(
                Step(
                    "AlarmTopic",
                    "create_topic",
                    region,
                    {"topic_name": TOPIC_NAME, "key_alias": TOPIC_KEY_ALIAS},
                    ["alarm topic"],
                    "an encrypted SNS topic for the CIS alarms",
                )
            )
            topic = _topic_record(arn)
            policy = json.dumps(topic_key_policy(self.plan.partition, self.plan.account))
            topic["attributes"] = {"KmsMasterKeyId": TOPIC_KEY_ALIAS}
            topic["kms_key"] = {
                "id": TOPIC_KEY_ALIAS,
                "arn": None,
                "key_manager": "CUSTOMER",
                "policy": policy,
                "error": None,
            }
            self.state["topics"][arn] = topic
            if self.plan.notify_email:
                self._subscribe(arn, ["alarm topic"])
        return arn


def _replace_named(items: list | None, key: str, new: dict) -> list:
    """The list with any item of the same name replaced by ``new`` (what a put-by-name does)."""
    return [x for x in items or [] if x.get(key) != new[key]] + [new]


def _topic_record(arn: str) -> dict:
    parts = arn_parts(arn)
    return {
        "arn": arn,
        "region": parts["region"],
        "account": parts["account"],
        "attributes": {},
        "attributes_error": None,
        "subscriptions": [],
        "subscriptions_error": None,
        "kms_key": None,
    }


def _topic_works(topic: dict) -> bool:
    if topic["attributes_error"] or topic["subscriptions_error"] or topic["attributes"] is None:
        return False
    key_id = (topic["attributes"] or {}).get("KmsMasterKeyId")
    if key_id:
        key = topic.get("kms_key") or {}
        if (
            key_id == "alias/aws/sns"
            or key.get("key_manager") != "CUSTOMER"
            or not key_policy_allows_cloudwatch(key.get("policy"))
        ):
            return False
    return any((s.get("SubscriptionArn") or "").startswith("arn:") for s in topic["subscriptions"] or [])


def topic_key_policy(partition: str, account: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            },
        ],
    }


def trail_bucket_policy(bucket_arn, objects_arn, trail_arn) -> dict:
    """CloudTrail may check the bucket's ACL and write its logs, for this trail only. The ARNs are
    strings for --apply, or CloudFormation intrinsics for the template."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
            },
            {
                "Sid": "CloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": objects_arn,
                "Condition": {
                    "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}
                },
            },
        ],
    }


def management_selectors(current: dict) -> dict:
    """The trail's selectors with all management events (read and write) recorded; data selectors kept."""
    advanced = current.get("AdvancedEventSelectors") or []
    if advanced:
        kept = [
            s
            for s in advanced
            if "Management"
            not in (
                (({f.get("Field"): f for f in s.get("FieldSelectors", [])}.get("eventCategory")) or {}).get("Equals")
                or []
            )
        ]
        return {
            "AdvancedEventSelectors": [
                {"Name": "Management events", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
                *kept,
            ]
        }
    basic = current.get("EventSelectors") or []
    data = [{**s, "IncludeManagementEvents": False} for s in basic if s.get("DataResources")]
    return {"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}, *data]}


def _camel(control: str) -> str:
    return "".join(p.capitalize() for p in control.split("_"))
