"""ciswatch's conventions, in one place: names, tags, the alarm CIS asks for, and the policy documents.

Policy builders take plain ARNs (for ``remediate --apply``) or CloudFormation intrinsics (for the
template) alike, so the template and the API apply write the same document.
"""

from __future__ import annotations

from typing import Any

# Metric namespace of the filters ciswatch creates (and the CIS templates' own).
DEFAULT_NAMESPACE = "CISBenchmark"
# Prefix of what ciswatch creates: filters and alarms are ``ciswatch-<control>``.
PREFIX = "ciswatch"
TOPIC_NAME = "ciswatch-cis-alarms"
TOPIC_KEY_ALIAS = "alias/ciswatch-cis-alarms"
TRAIL_NAME = "ciswatch-trail"
TRAIL_LOG_GROUP = "ciswatch/cloudtrail"
TRAIL_ROLE = "ciswatch-cloudtrail-to-logs"
TRAIL_LOG_RETENTION_DAYS = 365
LOG_DELIVERY_POLICY_NAME = "deliver-to-cloudwatch-logs"
TOPIC_KEY_DESCRIPTION = "Encrypts the CIS alarm topic; CloudWatch may use it to publish"
SNS_MANAGED_KEY_ALIAS = "alias/aws/sns"
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"
CLOUDTRAIL_PRINCIPAL = "cloudtrail.amazonaws.com"
MAX_ROTATION_PERIOD_DAYS = 365
# The one control judged per resource (each KMS key) as well as per account (its roll-up).
KMS_ROTATION_CONTROL = "kms_key_rotation"

TAGS = {"ciswatch:managed": "true"}
CONTROL_TAG = "ciswatch:control"

# The alarm CIS asks for: one event in five minutes fires it; quiet periods are not alarms.
ALARM_SETTINGS: dict[str, Any] = {
    "Statistic": "Sum",
    "Period": 300,
    "EvaluationPeriods": 1,
    "Threshold": 1,
    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    "TreatMissingData": "notBreaching",
}
# What a trail must record for every monitoring control: all management events, read and write.
ALL_MANAGEMENT_EVENTS: list[dict[str, Any]] = [{"ReadWriteType": "All", "IncludeManagementEvents": True}]
# The trail bucket's settings, for the template and for --apply alike.
BUCKET_ENCRYPTION = {"SSEAlgorithm": "AES256"}
BUCKET_PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}

Ref = Any  # a plain ARN string, or a CloudFormation intrinsic such as {"Fn::GetAtt": [...]}


def resource_name(control: str) -> str:
    """The name of the filter and the alarm ciswatch creates for a control."""
    return f"{PREFIX}-{control}"


def tag_list(extra: dict[str, str] | None = None) -> list[dict[str, str]]:
    """Tags in the Key/Value shape of CloudFormation, CloudWatch, SNS, IAM and CloudTrail."""
    return [{"Key": k, "Value": v} for k, v in {**TAGS, **(extra or {})}.items()]


def kms_tag_list() -> list[dict[str, str]]:
    """Tags in KMS's own TagKey/TagValue shape."""
    return [{"TagKey": k, "TagValue": v} for k, v in TAGS.items()]


def metric_transformation(metric_name: str, namespace: str) -> dict[str, str]:
    """A filter's metric: one count per matching event (CloudWatch Logs API spelling)."""
    return {"metricName": metric_name, "metricNamespace": namespace, "metricValue": "1"}


def alarm_description(benchmark: str, control: str) -> str:
    return f"CIS {benchmark}: {control} (created by ciswatch)"


def account_root(partition: str, account: str) -> str:
    return f"arn:{partition}:iam::{account}:root"


# In a template the account is always written with intrinsics: the stack knows its partition.
TEMPLATE_ACCOUNT_ROOT: Ref = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
TEMPLATE_ACCOUNT: Ref = {"Ref": "AWS::AccountId"}


def topic_key_policy(root: Ref, account: Ref) -> dict[str, Any]:
    """The alarm topic's key: the account administers it; CloudWatch may use it to publish, for alarms of
    this account only (the aws:SourceAccount condition AWS recommends against the confused deputy)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDWATCH_PRINCIPAL},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            },
        ],
    }


def trail_bucket_policy(bucket_arn: Ref, objects_arn: Ref, trail_arn: Ref) -> dict[str, Any]:
    """CloudTrail may check the bucket's ACL and write its logs, for this trail only; nobody may use the
    bucket without TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL_PRINCIPAL},
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
            },
            {
                "Sid": "CloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL_PRINCIPAL},
                "Action": "s3:PutObject",
                "Resource": objects_arn,
                "Condition": {
                    "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}
                },
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects_arn],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def cloudtrail_trust_policy(account: Ref, trail_arn: Ref) -> dict[str, Any]:
    """Who may assume the role that delivers a trail to CloudWatch Logs: CloudTrail, for this trail only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL_PRINCIPAL},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": trail_arn},
                },
            }
        ],
    }


def log_delivery_policy(log_group_arn: Ref) -> dict[str, Any]:
    """What that role may do: write the trail's events into its log group."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": log_group_arn}
        ],
    }
