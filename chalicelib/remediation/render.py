"""Render a plan: as a CloudFormation template (YAML, for the home region) and as CLI commands."""

from __future__ import annotations

import json
import re
import shlex

from ..checks.monitoring import ALARM_SETTINGS, alarm_command, filter_command
from .plan import BUCKET_HARDENING, PREFIX, TAGS, Plan, Step, topic_key_policy, trail_bucket_policy

TAG_LIST = [{"Key": k, "Value": v} for k, v in TAGS.items()]


def step_command(step: Step) -> str:
    """The AWS CLI command(s) that perform one step by hand."""
    p, r = step.params, step.region
    q = shlex.quote
    if step.kind == "enable_key_rotation":
        period = f" --rotation-period-in-days {p['rotation_period_days']}" if p.get("rotation_period_days") else ""
        return f"aws kms enable-key-rotation --key-id {q(p['key_id'])}{period} --region {r}"
    if step.kind == "start_logging":
        return f"aws cloudtrail start-logging --name {q(p['trail_arn'])} --region {r}"
    if step.kind == "put_event_selectors":
        if "AdvancedEventSelectors" in p:
            return f"aws cloudtrail put-event-selectors --trail-name {q(p['trail_arn'])} --advanced-event-selectors {q(json.dumps(p['AdvancedEventSelectors']))} --region {r}"
        return f"aws cloudtrail put-event-selectors --trail-name {q(p['trail_arn'])} --event-selectors {q(json.dumps(p['EventSelectors']))} --region {r}"
    if step.kind == "enable_alarm_actions":
        return f"aws cloudwatch enable-alarm-actions --alarm-names {q(p['alarm_name'])} --region {r}"
    if step.kind == "connect_trail_logs":
        return (
            f"aws logs create-log-group --log-group-name {q(p['log_group_name'])} --region {r} && "
            f"aws iam create-role --role-name {p['role_name']} --assume-role-policy-document <cloudtrail trust policy> && "
            f"aws cloudtrail update-trail --name {q(p['trail_arn'])} --cloud-watch-logs-log-group-arn {q(p['log_group_arn'])} "
            f"--cloud-watch-logs-role-arn arn:aws:iam::<account>:role/{p['role_name']} --region {r}"
        )
    if step.kind == "put_metric_filter":
        return filter_command(r, p["log_group_name"], p["filter_name"], p["pattern"], p["metric_name"], p["namespace"])
    if step.kind == "put_metric_alarm":
        return alarm_command(r, p["alarm_name"], p["metric_name"], p["namespace"], p["topic_arn"])
    if step.kind == "subscribe":
        return f"aws sns subscribe --topic-arn {q(p['topic_arn'])} --protocol email --notification-endpoint {q(p['email'] or '<address>')} --region {r}"
    if step.kind == "create_topic_key":
        return f"aws kms create-key --policy <key policy allowing cloudwatch.amazonaws.com> --region {r} && aws kms enable-key-rotation --key-id <key-id> && aws kms create-alias --alias-name {p['alias']} --target-key-id <key-id>"
    if step.kind == "create_topic":
        return (
            f"aws sns create-topic --name {p['topic_name']} --attributes KmsMasterKeyId={p['key_alias']} --region {r}"
        )
    if step.kind == "create_trail":
        return f"(deploy the CloudFormation template: bucket {p['bucket_name']}, log group {p['log_group_name']}, role {p['role_name']}, multi-Region trail {p['trail_name']})"
    return f"# {step.kind}"


# --- CloudFormation -----------------------------------------------------------------------------------

IN_TEMPLATE = {"create_trail", "put_metric_filter", "put_metric_alarm", "create_topic_key", "create_topic", "subscribe"}


def to_cloudformation(plan: Plan) -> str:
    region = plan.home_region or (plan.steps[0].region if plan.steps else None)
    resources: dict = {}
    comments: dict = {}
    outside = [s for s in plan.steps if s.kind not in IN_TEMPLATE or s.region != region or s.change]
    inside = [s for s in plan.steps if s not in outside]
    topic_logical = None
    needs_email = False
    for step in inside:
        if step.kind == "create_trail":
            resources.update(_trail_resources(step))
        elif step.kind == "put_metric_filter":
            p = step.params
            log_group = {"Ref": "TrailLogGroup"} if "TrailLogGroup" in resources else p["log_group_name"]
            resources[step.id] = {
                "Type": "AWS::Logs::MetricFilter",
                "Properties": {
                    "FilterName": p["filter_name"],
                    "LogGroupName": log_group,
                    "FilterPattern": p["pattern"],
                    "MetricTransformations": [
                        {"MetricName": p["metric_name"], "MetricNamespace": p["namespace"], "MetricValue": "1"}
                    ],
                },
            }
            comments[step.id] = [f"{p['control']}: {step.why}"]
        elif step.kind == "create_topic_key":
            resources[step.id] = {
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "Description": "Encrypts the CIS alarm topic; CloudWatch may use it to publish",
                    "EnableKeyRotation": True,
                    "KeyPolicy": _sub_account(topic_key_policy(plan.partition, "${AWS::AccountId}")),
                    "Tags": TAG_LIST,
                },
            }
            resources[step.id + "Alias"] = {
                "Type": "AWS::KMS::Alias",
                "Properties": {"AliasName": step.params["alias"], "TargetKeyId": {"Ref": step.id}},
            }
            comments[step.id] = ["rotation on, so this key adds no KMS finding"]
        elif step.kind == "create_topic":
            topic_logical = step.id
            resources[step.id] = {
                "Type": "AWS::SNS::Topic",
                "Properties": {
                    "TopicName": step.params["topic_name"],
                    "KmsMasterKeyId": {"Ref": "AlarmTopicKey"},
                    "Tags": TAG_LIST,
                },
            }
            needs_email = True
        elif step.kind == "subscribe":
            needs_email = True
            topic = (
                {"Ref": topic_logical}
                if step.params["topic_arn"].endswith(
                    ":" + resources.get(topic_logical or "", {}).get("Properties", {}).get("TopicName", "\0")
                )
                else step.params["topic_arn"]
            )
            resources[_logical("Subscription", step.params["topic_arn"])] = {
                "Type": "AWS::SNS::Subscription",
                "Properties": {"TopicArn": topic, "Protocol": "email", "Endpoint": {"Ref": "NotificationEmail"}},
            }
    if topic_logical and not any(
        v["Type"] == "AWS::SNS::Subscription" and v["Properties"]["TopicArn"] == {"Ref": topic_logical}
        for v in resources.values()
    ):
        resources["AlarmTopicSubscription"] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": topic_logical},
                "Protocol": "email",
                "Endpoint": {"Ref": "NotificationEmail"},
            },
        }
    for step in inside:
        if step.kind == "put_metric_alarm":
            p = step.params
            action = (
                {"Ref": topic_logical}
                if topic_logical and p["topic_arn"].endswith(":" + resources[topic_logical]["Properties"]["TopicName"])
                else p["topic_arn"]
            )
            props = {
                "AlarmName": p["alarm_name"],
                "AlarmDescription": f"CIS {plan.benchmark}: {p['control']} (created by ciswatch)",
                "MetricName": p["metric_name"],
                "Namespace": p["namespace"],
                **ALARM_SETTINGS,
                "ActionsEnabled": True,
                "AlarmActions": [action],
                "Tags": [*TAG_LIST, {"Key": "ciswatch:control", "Value": p["control"]}],
            }
            resource = {"Type": "AWS::CloudWatch::Alarm", "Properties": props}
            filter_id = "Filter" + step.id[len("Alarm") :]
            if filter_id in resources:
                resource["DependsOn"] = filter_id
            resources[step.id] = resource
            comments[step.id] = [step.why]
    template: dict = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"ciswatch remediation for account {plan.account}, CIS {plan.benchmark} ({plan.style} patterns): only what is missing",
    }
    if needs_email:
        template["Parameters"] = {
            "NotificationEmail": {
                "Type": "String",
                "Description": "Subscribed to the alarm topic; the recipient must confirm",
                "AllowedPattern": "^[^@\\s]+@[^@\\s]+$",
            }
        }
    template["Resources"] = resources
    header = [
        f"ciswatch remediation - account {plan.account} - CIS AWS Foundations Benchmark {plan.benchmark} - {plan.style} patterns",
        f"Deploy in {region}, where the trail's log group lives:" if region else "Nothing to create.",
    ]
    if region:
        header.append(
            f"  aws cloudformation deploy --region {region} --stack-name ciswatch-remediation --template-file <this file> "
            f"{'--parameter-overrides NotificationEmail=<address> ' if needs_email else ''}{'--capabilities CAPABILITY_NAMED_IAM' if 'TrailLogsRole' in resources else ''}".rstrip()
        )
    if outside:
        header.append(
            "Changes to existing resources and steps in other regions (not in this template; `ciswatch remediate --apply --yes` applies them):"
        )
        header += [f"  {step_command(s)}" for s in outside]
    header += [f"Note: {n}" for n in plan.notes]
    if not resources:
        template["Resources"] = {"NothingToCreate": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}
    text = "\n".join(f"# {line}" for line in header) + "\n" + to_yaml(template, comments)
    return text


def _logical(prefix: str, text: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9]", "", text.split(":")[-1].title())[:40]


def _sub_account(policy: dict) -> dict:
    text = json.dumps(policy)
    return json.loads(
        text.replace(
            '"arn:aws:iam::${AWS::AccountId}:root"', '{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}'
        ).replace(
            '"arn:aws-us-gov:iam::${AWS::AccountId}:root"',
            '{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}',
        )
    )


def _trail_resources(step: Step) -> dict:
    p = step.params
    return {
        "TrailBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": p["bucket_name"],
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": BUCKET_HARDENING["encryption"]}
                    ]
                },
                "PublicAccessBlockConfiguration": BUCKET_HARDENING["public_access_block"],
                "VersioningConfiguration": {"Status": "Enabled"},
                "Tags": TAG_LIST,
            },
        },
        "TrailBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "TrailBucket"},
                "PolicyDocument": trail_bucket_policy(
                    {"Fn::GetAtt": ["TrailBucket", "Arn"]},
                    {"Fn::Sub": "${TrailBucket.Arn}/AWSLogs/${AWS::AccountId}/*"},
                    {
                        "Fn::Sub": f"arn:${{AWS::Partition}}:cloudtrail:${{AWS::Region}}:${{AWS::AccountId}}:trail/{p['trail_name']}"
                    },
                ),
            },
        },
        "TrailLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": p["log_group_name"], "RetentionInDays": 365, "Tags": TAG_LIST},
        },
        "TrailLogsRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": p["role_name"],
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudtrail.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "deliver-to-cloudwatch-logs",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                    "Resource": {"Fn::GetAtt": ["TrailLogGroup", "Arn"]},
                                }
                            ],
                        },
                    }
                ],
                "Tags": TAG_LIST,
            },
        },
        "CisTrail": {
            "Type": "AWS::CloudTrail::Trail",
            "DependsOn": "TrailBucketPolicy",
            "Properties": {
                "TrailName": p["trail_name"],
                "S3BucketName": {"Ref": "TrailBucket"},
                "IsLogging": True,
                "IsMultiRegionTrail": True,
                "IncludeGlobalServiceEvents": True,
                "EnableLogFileValidation": True,
                "CloudWatchLogsLogGroupArn": {"Fn::GetAtt": ["TrailLogGroup", "Arn"]},
                "CloudWatchLogsRoleArn": {"Fn::GetAtt": ["TrailLogsRole", "Arn"]},
                "EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}],
                "Tags": TAG_LIST,
            },
        },
    }


# --- a small YAML emitter: CloudFormation needs comments, which PyYAML cannot write ----------------------

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_:.-]+$")


def _scalar(value) -> str:
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


def to_yaml(value, comments: dict | None = None, indent: int = 0) -> str:
    lines: list[str] = []
    _emit(value, indent, lines, comments or {}, top=True)
    return "\n".join(lines) + "\n"


def _emit(value, indent, lines, comments, top=False):
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            lines.append(pad + "{}")
            return
        for k, v in value.items():
            for c in comments.get(k, []) if not top or k not in ("Resources",) else []:
                lines.append(f"{pad}# {c}")
            if isinstance(v, dict | list) and v:
                lines.append(f"{pad}{_key(k)}:")
                _emit(v, indent + 2, lines, comments if k == "Resources" else {})
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


__all__ = ["to_cloudformation", "step_command", "to_yaml", "PREFIX"]
