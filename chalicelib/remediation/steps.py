"""Remediation steps: one class per kind, holding everything about it in one place.

Each kind knows its parameters (what the plan prints), its effect on a snapshot (the planner's
simulation, re-checked by the real checks), its AWS CLI command, its CloudFormation resources,
its idempotent API apply, and the IAM actions that apply needs.
"""

from __future__ import annotations

import json
import shlex
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from ..model import (
    AccountSnapshot,
    Alarm,
    Arn,
    KeyRotation,
    LogGroup,
    MetricFilter,
    MetricTransformation,
    Subscription,
    Topic,
    TopicAttributes,
    TopicKey,
    Trail,
)
from ..model import conventions as cv
from ..model.commands import alarm_command, filter_command
from .errors import Refused

if TYPE_CHECKING:  # the API apply's toolbox; only the CLI's applier builds one
    from .apply import AwsApply
    from .template import Template

PLANNED_SUBSCRIPTION = ":ciswatch-planned-subscription"
STEP_KINDS: dict[str, type[Step]] = {}


@dataclass(frozen=True, kw_only=True)
class Context:
    """What the simulation needs to name things: the account and its partition."""

    account: str
    partition: str

    def arn(self, service: str, region: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{region}:{self.account}:{resource}"

    def trail_log_group_arn(self, region: str) -> str:
        return self.arn("logs", region, f"log-group:{cv.TRAIL_LOG_GROUP}:*")

    def planned_log_group(self, region: str) -> LogGroup:
        return LogGroup(self.trail_log_group_arn(region), region, self.account, cv.TRAIL_LOG_GROUP, ())


@dataclass(frozen=True, kw_only=True)
class Step(ABC):
    kind: ClassVar[str]
    iam_actions: ClassVar[tuple[str, ...]]
    template_pass: ClassVar[int | None] = None  # None: not in the template (a command instead)

    id: str  # a stable name: the CloudFormation logical id of what it creates
    region: str
    fixes: tuple[str, ...]
    why: str
    change: bool = False  # modifies something that exists

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        STEP_KINDS[cls.kind] = cls

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """What the plan shows of the step (its JSON ``params``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "region": self.region,
            "change": self.change,
            "fixes": list(self.fixes),
            "why": self.why,
            "params": self.params(),
        }

    def simulate(self, snapshot: AccountSnapshot, ctx: Context) -> AccountSnapshot:
        """The snapshot as it will be once the step is applied."""
        return snapshot

    @abstractmethod
    def command(self) -> str:
        """The AWS CLI command(s) that perform the step by hand."""

    def cloudformation(self, t: Template) -> None:
        """Add the step's resources to the template (steps with a ``template_pass``)."""
        raise NotImplementedError(f"{self.kind} is applied as a command, not in a template")

    @abstractmethod
    def apply(self, aws: AwsApply) -> bool:
        """Apply through the AWS API, idempotently; True when something changed."""


# --- KMS ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EnableKeyRotation(Step):
    kind = "enable_key_rotation"
    iam_actions = ("kms:DescribeKey", "kms:GetKeyRotationStatus", "kms:EnableKeyRotation")

    key_id: str  # the key to change: a replica's primary
    rotation_period_days: int | None = None
    audited_key: tuple[str, str] = field(default=("", ""), compare=False)  # (region, key id) of the finding

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key_id": self.key_id}
        if self.rotation_period_days:
            out["rotation_period_days"] = self.rotation_period_days
        return out

    def simulate(self, snapshot: AccountSnapshot, ctx: Context) -> AccountSnapshot:
        region, key_id = self.audited_key
        data = snapshot.kms.get(region)
        key = next((k for k in (data.keys if data else None) or () if k.key_id == key_id), None)
        if key is None:
            return snapshot
        rotation = KeyRotation(enabled=True, period_days=cv.MAX_ROTATION_PERIOD_DAYS)
        return snapshot.with_key(replace(key, rotation=rotation))

    def command(self) -> str:
        period = f" --rotation-period-in-days {self.rotation_period_days}" if self.rotation_period_days else ""
        return f"aws kms enable-key-rotation --key-id {shlex.quote(self.key_id)}{period} --region {self.region}"

    def apply(self, aws: AwsApply) -> bool:
        kms = aws.client("kms", self.region)
        key = kms.describe_key(KeyId=self.key_id)["KeyMetadata"]
        if key.get("KeyManager") != "CUSTOMER":
            raise Refused(f"refusing to change {self.key_id}: it is not a customer managed key")
        period = self.rotation_period_days
        status = kms.get_key_rotation_status(KeyId=key["KeyId"])
        if status.get("KeyRotationEnabled") and (
            period is None or status.get("RotationPeriodInDays") in (None, period)
        ):
            return False
        kms.enable_key_rotation(KeyId=key["KeyId"], **({"RotationPeriodInDays": period} if period else {}))
        return True


# --- trail -------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CreateTrail(Step):
    kind = "create_trail"
    iam_actions = (
        "s3:CreateBucket",
        "s3:PutBucketPolicy",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutEncryptionConfiguration",
        "logs:CreateLogGroup",
        "logs:PutRetentionPolicy",
        "logs:DescribeLogGroups",
        "iam:GetRole",
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:PassRole",
        "cloudtrail:DescribeTrails",
        "cloudtrail:CreateTrail",
        "cloudtrail:PutEventSelectors",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:StartLogging",
    )
    template_pass = 0

    trail_name: str
    bucket_name: str
    log_group_name: str
    role_name: str
    log_group_arn: str

    def params(self) -> dict[str, Any]:
        return {
            "trail_name": self.trail_name,
            "bucket_name": self.bucket_name,
            "log_group_name": self.log_group_name,
            "role_name": self.role_name,
            "log_group_arn": self.log_group_arn,
        }

    def simulate(self, snapshot: AccountSnapshot, ctx: Context) -> AccountSnapshot:
        trail = Trail(
            arn=ctx.arn("cloudtrail", self.region, f"trail/{self.trail_name}"),
            name=self.trail_name,
            home_region=self.region,
            owner_account=ctx.account,
            is_multi_region=True,
            is_organization_trail=False,
            log_group_arn=self.log_group_arn,
            is_logging=True,
            selectors={"EventSelectors": cv.ALL_MANAGEMENT_EVENTS, "AdvancedEventSelectors": []},
        )
        return snapshot.with_trail(trail).with_log_group(ctx.planned_log_group(self.region))

    def command(self) -> str:
        return f"(deploy the CloudFormation template: bucket {self.bucket_name}, log group {self.log_group_name}, role {self.role_name}, multi-Region trail {self.trail_name})"

    def cloudformation(self, t: Template) -> None:
        tags = cv.tag_list()
        t.add(
            "TrailBucket",
            {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "BucketName": self.bucket_name,
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": cv.BUCKET_ENCRYPTION}]
                    },
                    "PublicAccessBlockConfiguration": cv.BUCKET_PUBLIC_ACCESS_BLOCK,
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "Tags": tags,
                },
            },
        )
        t.add(
            "TrailBucketPolicy",
            {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "TrailBucket"},
                    "PolicyDocument": cv.trail_bucket_policy(
                        {"Fn::GetAtt": ["TrailBucket", "Arn"]},
                        {"Fn::Sub": "${TrailBucket.Arn}/AWSLogs/${AWS::AccountId}/*"},
                        {
                            "Fn::Sub": f"arn:${{AWS::Partition}}:cloudtrail:${{AWS::Region}}:${{AWS::AccountId}}:trail/{self.trail_name}"
                        },
                    ),
                },
            },
        )
        t.add(
            "TrailLogGroup",
            {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {
                    "LogGroupName": self.log_group_name,
                    "RetentionInDays": cv.TRAIL_LOG_RETENTION_DAYS,
                    "Tags": tags,
                },
            },
        )
        t.add(
            "TrailLogsRole",
            {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": self.role_name,
                    "AssumeRolePolicyDocument": cv.cloudtrail_trust_policy(
                        cv.TEMPLATE_ACCOUNT,
                        {
                            "Fn::Sub": f"arn:${{AWS::Partition}}:cloudtrail:*:${{AWS::AccountId}}:trail/{self.trail_name}"
                        },
                    ),
                    "Policies": [
                        {
                            "PolicyName": cv.LOG_DELIVERY_POLICY_NAME,
                            "PolicyDocument": cv.log_delivery_policy({"Fn::GetAtt": ["TrailLogGroup", "Arn"]}),
                        }
                    ],
                    "Tags": tags,
                },
            },
        )
        t.add(
            "CisTrail",
            {
                "Type": "AWS::CloudTrail::Trail",
                "DependsOn": "TrailBucketPolicy",
                "Properties": {
                    "TrailName": self.trail_name,
                    "S3BucketName": {"Ref": "TrailBucket"},
                    "IsLogging": True,
                    "IsMultiRegionTrail": True,
                    "IncludeGlobalServiceEvents": True,
                    "EnableLogFileValidation": True,
                    "CloudWatchLogsLogGroupArn": {"Fn::GetAtt": ["TrailLogGroup", "Arn"]},
                    "CloudWatchLogsRoleArn": {"Fn::GetAtt": ["TrailLogsRole", "Arn"]},
                    "EventSelectors": cv.ALL_MANAGEMENT_EVENTS,
                    "Tags": tags,
                },
            },
        )

    def apply(self, aws: AwsApply) -> bool:
        r = self.region
        created = aws.trail_bucket(r, self.bucket_name, self.trail_name)
        lg_arn, made = aws.log_group(r, self.log_group_name)
        role_arn, made_role = aws.logs_role(r, self.role_name, lg_arn, self.trail_name)
        created = created or made or made_role
        ct = aws.client("cloudtrail", r)
        listed = ct.describe_trails(trailNameList=[self.trail_name], includeShadowTrails=False)["trailList"]
        if not [t for t in listed if t.get("Name") == self.trail_name]:
            aws.with_new_role(
                lambda: ct.create_trail(
                    Name=self.trail_name,
                    S3BucketName=self.bucket_name,
                    IsMultiRegionTrail=True,
                    IncludeGlobalServiceEvents=True,
                    EnableLogFileValidation=True,
                    CloudWatchLogsLogGroupArn=lg_arn,
                    CloudWatchLogsRoleArn=role_arn,
                    TagsList=cv.tag_list(),
                )
            )
            created = True
        ct.put_event_selectors(TrailName=self.trail_name, EventSelectors=cv.ALL_MANAGEMENT_EVENTS)
        if not ct.get_trail_status(Name=self.trail_name).get("IsLogging"):
            ct.start_logging(Name=self.trail_name)
            created = True
        return created


@dataclass(frozen=True, kw_only=True)
class ConnectTrailLogs(Step):
    kind = "connect_trail_logs"
    iam_actions = (
        "logs:CreateLogGroup",
        "logs:PutRetentionPolicy",
        "logs:DescribeLogGroups",
        "iam:GetRole",
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:PassRole",
        "cloudtrail:DescribeTrails",
        "cloudtrail:UpdateTrail",
    )

    trail_arn: str
    trail_name: str
    log_group_name: str
    role_name: str
    log_group_arn: str

    def params(self) -> dict[str, Any]:
        return {
            "trail_arn": self.trail_arn,
            "trail_name": self.trail_name,
            "log_group_name": self.log_group_name,
            "role_name": self.role_name,
            "log_group_arn": self.log_group_arn,
        }

    def simulate(self, snapshot: AccountSnapshot, ctx: Context) -> AccountSnapshot:
        trail = snapshot.trails.find(self.trail_arn)
        if trail is None:
            return snapshot
        snapshot = snapshot.with_trail(replace(trail, log_group_arn=self.log_group_arn))
        return snapshot.with_log_group(ctx.planned_log_group(self.region))

    def command(self) -> str:
        q, r = shlex.quote, self.region
        return (
            f"aws logs create-log-group --log-group-name {q(self.log_group_name)} --region {r} && "
            f"aws iam create-role --role-name {self.role_name} --assume-role-policy-document <cloudtrail trust policy> && "
            f"aws cloudtrail update-trail --name {q(self.trail_arn)} --cloud-watch-logs-log-group-arn {q(self.log_group_arn)} "
            f"--cloud-watch-logs-role-arn arn:{Arn.parse(self.trail_arn).partition}:iam::<account>:role/{self.role_name} --region {r}"
        )

    def apply(self, aws: AwsApply) -> bool:
        lg_arn, _ = aws.log_group(self.region, self.log_group_name)
        role_arn, _ = aws.logs_role(self.region, self.role_name, lg_arn, self.trail_name)
        ct = aws.client("cloudtrail", self.region)
        current = [
            t
            for t in ct.describe_trails(trailNameList=[self.trail_arn])["trailList"]
            if t.get("TrailARN") == self.trail_arn
        ]
        if current and current[0].get("CloudWatchLogsLogGroupArn"):
            return False
        aws.with_new_role(
            lambda: ct.update_trail(
                Name=self.trail_arn, CloudWatchLogsLogGroupArn=lg_arn, CloudWatchLogsRoleArn=role_arn
            )
        )
        return True


@dataclass(frozen=True, kw_only=True)
class StartLogging(Step):
    kind = "start_logging"
    iam_actions = ("cloudtrail:GetTrailStatus", "cloudtrail:StartLogging")

    trail_arn: str

    def params(self) -> dict[str, Any]:
        return {"trail_arn": self.trail_arn}

    def simulate(self, snapshot: AccountSnapshot, ctx: Context) -> AccountSnapshot:
        trail = snapshot.trails.find(self.trail_arn)
        return snapshot if trail is None else snapshot.with_trail(replace(trail, is_logging=True))

    def command(self) -> str:
        return f"aws cloudtrail start-logging --name {shlex.quote(self.trail_arn)} --region {self.region}"

    def apply(self, aws: AwsApply) -> bool:
        ct = aws.client("cloudtrail", self.region)
        if ct.get_trail_status(Name=self.trail_arn).get("IsLogging"):
            return False
        ct.start_logging(Name=self.trail_arn)
        return True


@dataclass(frozen=True, kw_only=True)
class PutEventSelectors(Step):
    kind = "put_event_selectors"
    iam_actions = ("cloudtrail:GetEventSelectors", "cloudtrail:PutEventSelectors")

    trail_arn: str
    selectors: dict[str, Any]  # {"EventSelectors": [...]} or {"AdvancedEventSelectors": [...]}

    def params(self) -> dict[str, Any]:
        return {"trail_arn": self.trail_arn, **self.selectors}

    def simulate(self, snapshot: AccountSnapshot, ctx: Context) -> AccountSnapshot:
        trail = snapshot.trails.find(self.trail_arn)
        if trail is None:
            return snapshot
        selectors = {
            "EventSelectors": self.selectors.get("EventSelectors", []),
            "AdvancedEventSelectors": self.selectors.get("AdvancedEventSelectors", []),
        }
        return snapshot.with_trail(replace(trail, selectors=selectors))

    def command(self) -> str:
        q = shlex.quote
        if "AdvancedEventSelectors" in self.selectors:
            option = f"--advanced-event-selectors {q(json.dumps(self.selectors['AdvancedEventSelectors']))}"
        else:
            option = f"--event-selectors {q(json.dumps(self.selectors['EventSelectors']))}"
        return f"aws cloudtrail put-event-selectors --trail-name {q(self.trail_arn)} {option} --region {self.region}"

    def apply(self, aws: AwsApply) -> bool:
        ct = aws.client("cloudtrail", self.region)
        current = ct.get_event_selectors(TrailName=self.trail_arn)
        if all(current.get(k) == v for k, v in self.selectors.items()):
            return False
        ct.put_event_selectors(TrailName=self.trail_arn, **self.selectors)
        return True


# --- filters and alarms ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PutMetricFilter(Step):
    kind = "put_metric_filter"
    iam_actions = ("logs:DescribeMetricFilters", "logs:PutMetricFilter")
    template_pass = 0

    log_group_name: str
    filter_name: str
    pattern: str
    pattern_note: str | None
    metric_name: str
    namespace: str
    control: str
    log_group_arn: str = field(default="", compare=False)

    def params(self) -> dict[str, Any]:
        return {
            "log_group_name": self.log_group_name,
            "filter_name": self.filter_name,
            "pattern": self.pattern,
            "pattern_note": self.pattern_note,
            "metric_name": self.metric_name,
            "namespace": self.namespace,
            "control": self.control,
        }

    def metric(self) -> MetricTransformation:
        return MetricTransformation(self.metric_name, self.namespace, "1")

    def simulate(self, snapshot: AccountSnapshot, ctx: Context) -> AccountSnapshot:
        group = snapshot.log_groups[self.log_group_arn]
        new = MetricFilter(self.filter_name, self.pattern, (self.metric(),), self.log_group_name)
        return snapshot.with_log_group(group.with_filter(new))

    def command(self) -> str:
        return filter_command(
            self.region, self.log_group_name, self.filter_name, self.pattern, self.metric_name, self.namespace
        )

    def cloudformation(self, t: Template) -> None:
        log_group = {"Ref": "TrailLogGroup"} if t.has("TrailLogGroup") else self.log_group_name
        transformation = cv.metric_transformation(self.metric_name, self.namespace)
        t.add(
            self.id,
            {
                "Type": "AWS::Logs::MetricFilter",
                "Properties": {
                    "FilterName": self.filter_name,
                    "LogGroupName": log_group,
                    "FilterPattern": self.pattern,
                    "MetricTransformations": [{k[0].upper() + k[1:]: v for k, v in transformation.items()}],
                },
            },
            comments=[f"{self.control}: {self.why}"],
        )

    def apply(self, aws: AwsApply) -> bool:
        logs = aws.client("logs", self.region)
        transformation = cv.metric_transformation(self.metric_name, self.namespace)
        found = logs.describe_metric_filters(logGroupName=self.log_group_name, filterNamePrefix=self.filter_name)[
            "metricFilters"
        ]
        for f in found:
            if (
                f["filterName"] == self.filter_name
                and f.get("filterPattern") == self.pattern
                and [{k: m.get(k) for k in transformation} for m in f.get("metricTransformations", [])]
                == [transformation]
            ):
                return False
        logs.put_metric_filter(
            logGroupName=self.log_group_name,
            filterName=self.filter_name,
            filterPattern=self.pattern,
            metricTransformations=[transformation],
        )
        return True


@dataclass(frozen=True, kw_only=True)
class PutMetricAlarm(Step):
    kind = "put_metric_alarm"
    iam_actions = ("cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource")
    template_pass = 1  # after the topic and its subscription, which it may refer to

    alarm_name: str
    metric_name: str
    namespace: str
    topic_arn: str
    control: str

    def params(self) -> dict[str, Any]:
        return {
            "alarm_name": self.alarm_name,
            "metric_name": self.metric_name,
            "namespace": self.namespace,
            "topic_arn": self.topic_arn,
            "control": self.control,
        }

    def simulate(self, snapshot: AccountSnapshot, ctx: Context) -> AccountSnapshot:
        s = cv.ALARM_SETTINGS
        alarm = Alarm(
            name=self.alarm_name,
            arn=ctx.arn("cloudwatch", self.region, f"alarm:{self.alarm_name}"),
            metric_name=self.metric_name,
            namespace=self.namespace,
            statistic=s["Statistic"],
            period=s["Period"],
            evaluation_periods=s["EvaluationPeriods"],
            threshold=s["Threshold"],
            comparison_operator=s["ComparisonOperator"],
            treat_missing_data=s["TreatMissingData"],
            actions_enabled=True,
            alarm_actions=(self.topic_arn,),
        )
        return snapshot.with_alarm(self.region, alarm)

    def command(self) -> str:
        return alarm_command(self.region, self.alarm_name, self.metric_name, self.namespace, self.topic_arn)

    def cloudformation(self, t: Template) -> None:
        resource: dict[str, Any] = {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": self.alarm_name,
                "AlarmDescription": cv.alarm_description(t.benchmark, self.control),
                "MetricName": self.metric_name,
                "Namespace": self.namespace,
                **cv.ALARM_SETTINGS,
                "ActionsEnabled": True,
                "AlarmActions": [t.topic_ref(self.topic_arn)],
                "Tags": cv.tag_list({cv.CONTROL_TAG: self.control}),
            },
        }
        filter_id = "Filter" + self.id[len("Alarm") :]
        if t.has(filter_id):
            resource["DependsOn"] = filter_id
        t.add(self.id, resource, comments=[self.why])

    def apply(self, aws: AwsApply) -> bool:
        cw = aws.client("cloudwatch", self.region)
        current = cw.describe_alarms(AlarmNames=[self.alarm_name]).get("MetricAlarms", [])
        if current:
            a = current[0]
            wanted = (self.metric_name, self.namespace, [self.topic_arn], True, cv.ALARM_SETTINGS["Statistic"])
            if (
                a.get("MetricName"),
                a.get("Namespace"),
                a.get("AlarmActions"),
                a.get("ActionsEnabled"),
                a.get("Statistic"),
            ) == wanted:
                return False
        cw.put_metric_alarm(
            AlarmName=self.alarm_name,
            AlarmDescription=cv.alarm_description(aws.benchmark, self.control),
            MetricName=self.metric_name,
            Namespace=self.namespace,
            **cv.ALARM_SETTINGS,
            ActionsEnabled=True,
            AlarmActions=[self.topic_arn],
            Tags=cv.tag_list({cv.CONTROL_TAG: self.control}),
        )
        return True


@dataclass(frozen=True, kw_only=True)
class EnableAlarmActions(Step):
    kind = "enable_alarm_actions"
    iam_actions = ("cloudwatch:DescribeAlarms", "cloudwatch:EnableAlarmActions")

    alarm_name: str

    def params(self) -> dict[str, Any]:
        return {"alarm_name": self.alarm_name}

    def simulate(self, snapshot: AccountSnapshot, ctx: Context) -> AccountSnapshot:
        alarms = snapshot.alarms.get(self.region)
        alarm = next((a for a in (alarms.items if alarms else None) or () if a.name == self.alarm_name), None)
        return snapshot if alarm is None else snapshot.with_alarm(self.region, replace(alarm, actions_enabled=True))

    def command(self) -> str:
        return (
            f"aws cloudwatch enable-alarm-actions --alarm-names {shlex.quote(self.alarm_name)} --region {self.region}"
        )

    def apply(self, aws: AwsApply) -> bool:
        cw = aws.client("cloudwatch", self.region)
        current = cw.describe_alarms(AlarmNames=[self.alarm_name]).get("MetricAlarms", [])
        if current and current[0].get("ActionsEnabled"):
            return False
        cw.enable_alarm_actions(AlarmNames=[self.alarm_name])
        return True


# --- the alarm topic ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CreateTopicKey(Step):
    kind = "create_topic_key"
    iam_actions = (
        "kms:DescribeKey",
        "kms:CreateKey",
        "kms:TagResource",
        "kms:EnableKeyRotation",
        "kms:GetKeyRotationStatus",
        "kms:CreateAlias",
    )
    template_pass = 0

    alias: str

    def params(self) -> dict[str, Any]:
        return {"alias": self.alias}

    def command(self) -> str:
        return f"aws kms create-key --policy <key policy allowing cloudwatch.amazonaws.com> --region {self.region} && aws kms enable-key-rotation --key-id <key-id> && aws kms create-alias --alias-name {self.alias} --target-key-id <key-id>"

    def cloudformation(self, t: Template) -> None:
        t.add(
            self.id,
            {
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "Description": cv.TOPIC_KEY_DESCRIPTION,
                    "EnableKeyRotation": True,
                    "KeyPolicy": cv.topic_key_policy(cv.TEMPLATE_ACCOUNT_ROOT, cv.TEMPLATE_ACCOUNT),
                    "Tags": cv.tag_list(),
                },
            },
            comments=["rotation on, so this key adds no KMS finding"],
        )
        t.add(
            self.id + "Alias",
            {"Type": "AWS::KMS::Alias", "Properties": {"AliasName": self.alias, "TargetKeyId": {"Ref": self.id}}},
        )

    def apply(self, aws: AwsApply) -> bool:
        kms = aws.client("kms", self.region)
        try:
            key_id = kms.describe_key(KeyId=self.alias)["KeyMetadata"]["KeyId"]
            if not kms.get_key_rotation_status(KeyId=key_id).get("KeyRotationEnabled"):
                kms.enable_key_rotation(KeyId=key_id)
                return True
            return False
        except kms.exceptions.NotFoundException:
            pass
        key_id = kms.create_key(
            Description=cv.TOPIC_KEY_DESCRIPTION,
            Policy=json.dumps(cv.topic_key_policy(cv.account_root(aws.partition, aws.account), aws.account)),
            Tags=cv.kms_tag_list(),
        )["KeyMetadata"]["KeyId"]
        kms.enable_key_rotation(KeyId=key_id)  # a new key must not add a KMS finding
        kms.create_alias(AliasName=self.alias, TargetKeyId=key_id)
        return True


@dataclass(frozen=True, kw_only=True)
class CreateTopic(Step):
    kind = "create_topic"
    iam_actions = ("sns:GetTopicAttributes", "sns:CreateTopic", "sns:TagResource")
    template_pass = 0

    topic_name: str
    key_alias: str

    def params(self) -> dict[str, Any]:
        return {"topic_name": self.topic_name, "key_alias": self.key_alias}

    def simulate(self, snapshot: AccountSnapshot, ctx: Context) -> AccountSnapshot:
        arn = ctx.arn("sns", self.region, self.topic_name)
        policy = json.dumps(cv.topic_key_policy(cv.account_root(ctx.partition, ctx.account), ctx.account))
        topic = replace(
            Topic.planned(arn),
            attributes=TopicAttributes(kms_master_key_id=self.key_alias),
            kms_key=TopicKey(self.key_alias, key_manager="CUSTOMER", policy=policy),
        )
        return snapshot.with_topic(topic)

    def command(self) -> str:
        return f"aws sns create-topic --name {self.topic_name} --attributes KmsMasterKeyId={self.key_alias} --region {self.region}"

    def cloudformation(self, t: Template) -> None:
        t.topic = (self.id, self.topic_name)
        t.add(
            self.id,
            {
                "Type": "AWS::SNS::Topic",
                "Properties": {
                    "TopicName": self.topic_name,
                    "KmsMasterKeyId": {"Ref": "AlarmTopicKey"},
                    "Tags": cv.tag_list(),
                },
            },
        )
        t.needs_email = True

    def apply(self, aws: AwsApply) -> bool:
        sns = aws.client("sns", self.region)
        try:
            sns.get_topic_attributes(TopicArn=aws.arn("sns", self.region, self.topic_name))
            return False
        except sns.exceptions.NotFoundException:
            pass
        sns.create_topic(Name=self.topic_name, Attributes={"KmsMasterKeyId": self.key_alias}, Tags=cv.tag_list())
        return True


@dataclass(frozen=True, kw_only=True)
class Subscribe(Step):
    kind = "subscribe"
    iam_actions = ("sns:ListSubscriptionsByTopic", "sns:Subscribe")
    template_pass = 0

    topic_arn: str
    email: str | None

    def params(self) -> dict[str, Any]:
        return {"topic_arn": self.topic_arn, "email": self.email}

    def simulate(self, snapshot: AccountSnapshot, ctx: Context) -> AccountSnapshot:
        topic = snapshot.topics.get(self.topic_arn) or Topic.planned(self.topic_arn)
        planned = Subscription(self.topic_arn + PLANNED_SUBSCRIPTION, "email")
        return snapshot.with_topic(replace(topic, subscriptions=(*(topic.subscriptions or ()), planned)))

    def command(self) -> str:
        q = shlex.quote
        return f"aws sns subscribe --topic-arn {q(self.topic_arn)} --protocol email --notification-endpoint {q(self.email or '<address>')} --region {self.region}"

    def cloudformation(self, t: Template) -> None:
        t.needs_email = True
        t.add(
            t.logical_id("Subscription", self.topic_arn),
            {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": t.topic_ref(self.topic_arn),
                    "Protocol": "email",
                    "Endpoint": {"Ref": "NotificationEmail"},
                },
            },
        )

    def apply(self, aws: AwsApply) -> bool:
        sns = aws.client("sns", self.region)
        subs = sns.list_subscriptions_by_topic(TopicArn=self.topic_arn).get("Subscriptions", [])
        if any(s.get("Protocol") == "email" and s.get("Endpoint") == self.email for s in subs):
            return False
        sns.subscribe(TopicArn=self.topic_arn, Protocol="email", Endpoint=self.email)
        return True


def required_actions(steps: list[Step]) -> list[str]:
    """The IAM actions that applying these steps needs."""
    return sorted({a for s in steps for a in s.iam_actions})
