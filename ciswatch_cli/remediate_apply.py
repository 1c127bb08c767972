"""Apply a remediation plan through the AWS API, idempotently: each step first looks at what exists.

The deployed Lambda cannot run this (its role only reads): it is the user's own credentials at work.
"""

from __future__ import annotations

import json
import time

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.checks.monitoring import ALARM_SETTINGS
from chalicelib.remediation.plan import BUCKET_HARDENING, TAGS, topic_key_policy, trail_bucket_policy

ROLE_PROPAGATION_ATTEMPTS = 10


class Applier:
    def __init__(self, session, endpoint_url, plan):
        self.session = session
        self.endpoint_url = endpoint_url
        self.plan = plan
        self._clients = {}

    def client(self, service: str, region: str):
        key = (service, region)
        if key not in self._clients:
            kwargs = {"region_name": region}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            self._clients[key] = self.session.client(service, **kwargs)
        return self._clients[key]

    # --- trail ---------------------------------------------------------------------------------------

    def _log_group(self, region: str, name: str) -> tuple[str, bool]:
        logs = self.client("logs", region)
        created = False
        try:
            logs.create_log_group(logGroupName=name, tags=TAGS)
            logs.put_retention_policy(logGroupName=name, retentionInDays=365)
            created = True
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        arn = next(g["arn"] for g in groups if g["logGroupName"] == name)
        return (arn if arn.endswith(":*") else arn + ":*"), created

    def _logs_role(self, region: str, name: str, log_group_arn: str) -> tuple[str, bool]:
        iam = self.client("iam", region)
        try:
            return iam.get_role(RoleName=name)["Role"]["Arn"], False
        except iam.exceptions.NoSuchEntityException:
            pass
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        arn = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust),
            Tags=[{"Key": k, "Value": v} for k, v in TAGS.items()],
        )["Role"]["Arn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": log_group_arn}
            ],
        }
        iam.put_role_policy(RoleName=name, PolicyName="deliver-to-cloudwatch-logs", PolicyDocument=json.dumps(policy))
        return arn, True

    def _with_new_role(self, call):
        """CloudTrail rejects a role IAM has not propagated yet: retry for about a minute."""
        for attempt in range(ROLE_PROPAGATION_ATTEMPTS):
            try:
                return call()
            except ClientError as exc:
                if (
                    exc.response["Error"]["Code"] != "InvalidCloudWatchLogsRoleArnException"
                    or attempt == ROLE_PROPAGATION_ATTEMPTS - 1
                ):
                    raise
                time.sleep(6)
        return None

    def create_trail(self, step) -> bool:
        p, r = step.params, step.region
        s3 = self.client("s3", r)
        created = False
        try:
            s3.head_bucket(Bucket=p["bucket_name"])
        except ClientError:
            conf = {} if r == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": r}}
            s3.create_bucket(Bucket=p["bucket_name"], **conf)
            s3.put_public_access_block(
                Bucket=p["bucket_name"], PublicAccessBlockConfiguration=BUCKET_HARDENING["public_access_block"]
            )
            s3.put_bucket_encryption(
                Bucket=p["bucket_name"],
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": BUCKET_HARDENING["encryption"]}]
                },
            )
            created = True
        trail_arn = f"arn:{self.plan.partition}:cloudtrail:{r}:{self.plan.account}:trail/{p['trail_name']}"
        bucket_arn = f"arn:{self.plan.partition}:s3:::{p['bucket_name']}"
        policy = trail_bucket_policy(bucket_arn, f"{bucket_arn}/AWSLogs/{self.plan.account}/*", trail_arn)
        s3.put_bucket_policy(Bucket=p["bucket_name"], Policy=json.dumps(policy))
        lg_arn, made = self._log_group(r, p["log_group_name"])
        role_arn, made_role = self._logs_role(r, p["role_name"], lg_arn)
        created = created or made or made_role
        ct = self.client("cloudtrail", r)
        listed = ct.describe_trails(trailNameList=[p["trail_name"]], includeShadowTrails=False)["trailList"]
        if not [t for t in listed if t.get("Name") == p["trail_name"]]:
            self._with_new_role(
                lambda: ct.create_trail(
                    Name=p["trail_name"],
                    S3BucketName=p["bucket_name"],
                    IsMultiRegionTrail=True,
                    IncludeGlobalServiceEvents=True,
                    EnableLogFileValidation=True,
                    CloudWatchLogsLogGroupArn=lg_arn,
                    CloudWatchLogsRoleArn=role_arn,
                    TagsList=[{"Key": k, "Value": v} for k, v in TAGS.items()],
                )
            )
            created = True
        ct.put_event_selectors(
            TrailName=p["trail_name"], EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}]
        )
        if not ct.get_trail_status(Name=p["trail_name"]).get("IsLogging"):
            ct.start_logging(Name=p["trail_name"])
            created = True
        return created

    def connect_trail_logs(self, step) -> bool:
        p, r = step.params, step.region
        lg_arn, _ = self._log_group(r, p["log_group_name"])
        role_arn, _ = self._logs_role(r, p["role_name"], lg_arn)
        ct = self.client("cloudtrail", r)
        current = [
            t
            for t in ct.describe_trails(trailNameList=[p["trail_arn"]])["trailList"]
            if t.get("TrailARN") == p["trail_arn"]
        ]
        if current and current[0].get("CloudWatchLogsLogGroupArn"):
            return False
        self._with_new_role(
            lambda: ct.update_trail(
                Name=p["trail_arn"], CloudWatchLogsLogGroupArn=lg_arn, CloudWatchLogsRoleArn=role_arn
            )
        )
        return True

    def start_logging(self, step) -> bool:
        ct = self.client("cloudtrail", step.region)
        if ct.get_trail_status(Name=step.params["trail_arn"]).get("IsLogging"):
            return False
        ct.start_logging(Name=step.params["trail_arn"])
        return True

    def put_event_selectors(self, step) -> bool:
        ct = self.client("cloudtrail", step.region)
        wanted = {k: v for k, v in step.params.items() if k in ("EventSelectors", "AdvancedEventSelectors")}
        current = ct.get_event_selectors(TrailName=step.params["trail_arn"])
        if all(current.get(k) == v for k, v in wanted.items()):
            return False
        ct.put_event_selectors(TrailName=step.params["trail_arn"], **wanted)
        return True

    # --- filters, alarms, topic -------------------------------------------------------------------------

    def put_metric_filter(self, step) -> bool:
        p = step.params
        logs = self.client("logs", step.region)
        transformation = {"metricName": p["metric_name"], "metricNamespace": p["namespace"], "metricValue": "1"}
        found = logs.describe_metric_filters(logGroupName=p["log_group_name"], filterNamePrefix=p["filter_name"])[
            "metricFilters"
        ]
        for f in found:
            if (
                f["filterName"] == p["filter_name"]
                and f.get("filterPattern") == p["pattern"]
                and [{k: m.get(k) for k in transformation} for m in f.get("metricTransformations", [])]
                == [transformation]
            ):
                return False
        logs.put_metric_filter(
            logGroupName=p["log_group_name"],
            filterName=p["filter_name"],
            filterPattern=p["pattern"],
            metricTransformations=[transformation],
        )
        return True

    def put_metric_alarm(self, step) -> bool:
        p = step.params
        cw = self.client("cloudwatch", step.region)
        current = cw.describe_alarms(AlarmNames=[p["alarm_name"]]).get("MetricAlarms", [])
        if current:
            a = current[0]
            if (
                a.get("MetricName"),
                a.get("Namespace"),
                a.get("AlarmActions"),
                a.get("ActionsEnabled"),
                a.get("Statistic"),
            ) == (p["metric_name"], p["namespace"], [p["topic_arn"]], True, "Sum"):
                return False
        cw.put_metric_alarm(
            AlarmName=p["alarm_name"],
            AlarmDescription=f"CIS {self.plan.benchmark}: {p['control']} (created by ciswatch)",
            MetricName=p["metric_name"],
            Namespace=p["namespace"],
            **ALARM_SETTINGS,
            ActionsEnabled=True,
            AlarmActions=[p["topic_arn"]],
            Tags=[
                *({"Key": k, "Value": v} for k, v in TAGS.items()),
                {"Key": "ciswatch:control", "Value": p["control"]},
            ],
        )
        return True

    def enable_alarm_actions(self, step) -> bool:
        cw = self.client("cloudwatch", step.region)
        current = cw.describe_alarms(AlarmNames=[step.params["alarm_name"]]).get("MetricAlarms", [])
        if current and current[0].get("ActionsEnabled"):
            return False
        cw.enable_alarm_actions(AlarmNames=[step.params["alarm_name"]])
        return True

    def create_topic_key(self, step) -> bool:
        kms = self.client("kms", step.region)
        try:
            key_id = kms.describe_key(KeyId=step.params["alias"])["KeyMetadata"]["KeyId"]
            if not kms.get_key_rotation_status(KeyId=key_id).get("KeyRotationEnabled"):
                kms.enable_key_rotation(KeyId=key_id)
                return True
            return False
        except kms.exceptions.NotFoundException:
            pass
        key_id = kms.create_key(
            Description="Encrypts the CIS alarm topic; CloudWatch may use it to publish",
            Policy=json.dumps(topic_key_policy(self.plan.partition, self.plan.account)),
            Tags=[{"TagKey": k, "TagValue": v} for k, v in TAGS.items()],
        )["KeyMetadata"]["KeyId"]
        kms.enable_key_rotation(KeyId=key_id)  # a new key must not add a KMS finding
        kms.create_alias(AliasName=step.params["alias"], TargetKeyId=key_id)
        return True

    def create_topic(self, step) -> bool:
        sns = self.client("sns", step.region)
        arn = f"arn:{self.plan.partition}:sns:{step.region}:{self.plan.account}:{step.params['topic_name']}"
        try:
            sns.get_topic_attributes(TopicArn=arn)
            return False
        except sns.exceptions.NotFoundException:
            pass
        sns.create_topic(
            Name=step.params["topic_name"],
            Attributes={"KmsMasterKeyId": step.params["key_alias"]},
            Tags=[{"Key": k, "Value": v} for k, v in TAGS.items()],
        )
        return True

    def subscribe(self, step) -> bool:
        p = step.params
        sns = self.client("sns", step.region)
        subs = sns.list_subscriptions_by_topic(TopicArn=p["topic_arn"]).get("Subscriptions", [])
        if any(s.get("Protocol") == "email" and s.get("Endpoint") == p["email"] for s in subs):
            return False
        sns.subscribe(TopicArn=p["topic_arn"], Protocol="email", Endpoint=p["email"])
        return True

    def enable_key_rotation(self, step) -> bool:
        kms = self.client("kms", step.region)
        key = kms.describe_key(KeyId=step.params["key_id"])["KeyMetadata"]
        if key.get("KeyManager") != "CUSTOMER":
            raise RuntimeError(f"refusing to change {step.params['key_id']}: it is not a customer managed key")
        period = step.params.get("rotation_period_days")
        status = kms.get_key_rotation_status(KeyId=key["KeyId"])
        if status.get("KeyRotationEnabled") and (
            period is None or status.get("RotationPeriodInDays") in (None, period)
        ):
            return False
        kms.enable_key_rotation(KeyId=key["KeyId"], **({"RotationPeriodInDays": period} if period else {}))
        return True


def apply_plan(plan, session, endpoint_url=None, include_changes: bool = False, log=print) -> dict:
    applier = Applier(session, endpoint_url, plan)
    outcome = {"applied": [], "unchanged": [], "skipped": [], "failed": []}
    for step in plan.steps:
        if step.change and not include_changes:
            outcome["skipped"].append(step.id)
            log(f"skipped (changes an existing resource; add --yes): {step.id}")
            continue
        try:
            changed = getattr(applier, step.kind)(step)
        except (ClientError, BotoCoreError, RuntimeError) as exc:
            code = exc.response["Error"].get("Code") if isinstance(exc, ClientError) else type(exc).__name__
            outcome["failed"].append(f"{step.id}: {code}: {exc}")
            log(f"FAILED {step.id}: {code}: {exc}")
            continue
        outcome["applied" if changed else "unchanged"].append(step.id)
        log(f"{'applied' if changed else 'already in place'}: {step.id} [{step.region}]")
    return outcome
