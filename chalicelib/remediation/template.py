"""A plan as a CloudFormation template (YAML, for the home region); each step kind adds its own resources."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .plan import Plan

RESOURCES = "Resources"


@dataclass
class Template:
    """The template being built: resources in order, their comments, and what later steps refer to."""

    benchmark: str
    resources: dict[str, Any] = field(default_factory=dict)
    comments: dict[str, list[str]] = field(default_factory=dict)
    topic: tuple[str, str] | None = None  # (logical id, topic name) of the topic the template creates
    needs_email: bool = False

    def add(self, logical_id: str, resource: dict[str, Any], comments: list[str] | None = None) -> None:
        self.resources[logical_id] = resource
        if comments:
            self.comments[logical_id] = comments

    def has(self, logical_id: str) -> bool:
        return logical_id in self.resources

    def topic_ref(self, topic_arn: str) -> Any:
        """A Ref to the template's own topic when the ARN names it, else the ARN."""
        if self.topic and topic_arn.endswith(":" + self.topic[1]):
            return {"Ref": self.topic[0]}
        return topic_arn

    @staticmethod
    def logical_id(prefix: str, text: str) -> str:
        return prefix + re.sub(r"[^A-Za-z0-9]", "", text.split(":")[-1].title())[:40]


def to_cloudformation(plan: Plan) -> str:
    region = plan.home_region or (plan.steps[0].region if plan.steps else None)
    outside = [s for s in plan.steps if s.template_pass is None or s.region != region or s.change]
    inside = [s for s in plan.steps if s not in outside]
    t = Template(plan.benchmark)
    for step in inside:
        if step.template_pass == 0:
            step.cloudformation(t)
    if t.topic and not any(
        v["Type"] == "AWS::SNS::Subscription" and v["Properties"]["TopicArn"] == {"Ref": t.topic[0]}
        for v in t.resources.values()
    ):
        t.add(
            "AlarmTopicSubscription",
            {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": {"Ref": t.topic[0]},
                    "Protocol": "email",
                    "Endpoint": {"Ref": "NotificationEmail"},
                },
            },
        )
    for step in inside:
        if step.template_pass == 1:
            step.cloudformation(t)
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"ciswatch remediation for account {plan.account}, CIS {plan.benchmark} ({plan.style} patterns): only what is missing",
    }
    if t.needs_email:
        template["Parameters"] = {
            "NotificationEmail": {
                "Type": "String",
                "Description": "Subscribed to the alarm topic; the recipient must confirm",
                "AllowedPattern": "^[^@\\s]+@[^@\\s]+$",
            }
        }
    template[RESOURCES] = t.resources
    header = [
        f"ciswatch remediation - account {plan.account} - CIS AWS Foundations Benchmark {plan.benchmark} - {plan.style} patterns",
        f"Deploy in {region}, where the trail's log group lives:" if region else "Nothing to create.",
    ]
    if region:
        header.append(
            f"  aws cloudformation deploy --region {region} --stack-name ciswatch-remediation --template-file <this file> "
            f"{'--parameter-overrides NotificationEmail=<address> ' if t.needs_email else ''}{'--capabilities CAPABILITY_NAMED_IAM' if t.has('TrailLogsRole') else ''}".rstrip()
        )
    if outside:
        header.append(
            "Changes to existing resources and steps in other regions (not in this template; `ciswatch remediate --apply --modify-existing` applies them):"
        )
        header += [f"  {s.command()}" for s in outside]
    header += [f"Note: {n}" for n in plan.notes]
    if not t.resources:
        template[RESOURCES] = {"NothingToCreate": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}
    return "\n".join(f"# {line}" for line in header) + "\n" + to_yaml(template, t.comments)


# --- a small YAML emitter: CloudFormation needs comments, which PyYAML cannot write ----------------------

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_:.-]+$")


def _scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar


def _key(key: str) -> str:
    return key if _PLAIN_KEY.match(key) else json.dumps(key)


def to_yaml(value: Any, comments: dict[str, list[str]] | None = None, indent: int = 0) -> str:
    lines: list[str] = []
    _emit(value, indent, lines, comments or {}, top=True)
    return "\n".join(lines) + "\n"


def _emit(value: Any, indent: int, lines: list[str], comments: dict[str, list[str]], top: bool = False) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            lines.append(pad + "{}")
            return
        for k, v in value.items():
            for c in comments.get(k, []) if not top or k != RESOURCES else []:
                lines.append(f"{pad}# {c}")
            if isinstance(v, dict | list) and v:
                lines.append(f"{pad}{_key(k)}:")
                _emit(v, indent + 2, lines, comments if k == RESOURCES else {})
            else:
                lines.append(
                    f"{pad}{_key(k)}: {_scalar(v) if not isinstance(v, dict | list) else ('{}' if isinstance(v, dict) else '[]')}"
                )
        return
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list) and item:
                sub: list[str] = []
                _emit(item, indent + 2, sub, {})
                first = sub[0].lstrip()
                lines.append(f"{pad}- {first}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {_scalar(item)}")
        return
    lines.append(pad + _scalar(value))
