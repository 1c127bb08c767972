"""Apply a remediation plan through the AWS API, idempotently: each step first looks at what exists.

The deployed Lambda never runs this (its role only reads): it is the user's own credentials at work,
through ``ciswatch remediate --apply``. What each step does is its own class's ``apply`` (steps.py);
this module is the toolbox the steps share and the loop over the plan.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from ..clients import ClientFactory
from ..model import conventions as cv
from .errors import Refused
from .plan import Plan

ROLE_PROPAGATION_ATTEMPTS = 10
ROLE_PROPAGATION_DELAY_S = 6
T = TypeVar("T")


class AwsApply:
    """What steps need to apply themselves: clients, the plan's account, and shared idempotent helpers."""

    def __init__(self, clients: ClientFactory, plan: Plan):
        self.clients = clients
        self.account = plan.account
        self.partition = plan.partition
        self.benchmark = plan.benchmark

    def client(self, service: str, region: str) -> Any:
        return self.clients.client(service, region)

    def arn(self, service: str, region: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{region}:{self.account}:{resource}"

    def trail_bucket(self, region: str, bucket: str, trail_name: str) -> bool:
        """The trail's bucket, hardened, with a policy that lets this trail (only) write to it."""
        s3 = self.client("s3", region)
        created = False
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            conf = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            s3.create_bucket(Bucket=bucket, **conf)
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=cv.BUCKET_PUBLIC_ACCESS_BLOCK)
            s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": cv.BUCKET_ENCRYPTION}]
                },
            )
            created = True
        trail_arn = self.arn("cloudtrail", region, f"trail/{trail_name}")
        bucket_arn = f"arn:{self.partition}:s3:::{bucket}"
        policy = cv.trail_bucket_policy(bucket_arn, f"{bucket_arn}/AWSLogs/{self.account}/*", trail_arn)
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        return created

    def log_group(self, region: str, name: str) -> tuple[str, bool]:
        logs = self.client("logs", region)
        created = False
        try:
            logs.create_log_group(logGroupName=name, tags=cv.TAGS)
            logs.put_retention_policy(logGroupName=name, retentionInDays=cv.TRAIL_LOG_RETENTION_DAYS)
            created = True
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        arn = next(g["arn"] for g in groups if g["logGroupName"] == name)
        return (arn if arn.endswith(":*") else arn + ":*"), created

    def logs_role(self, region: str, name: str, log_group_arn: str, trail_name: str) -> tuple[str, bool]:
        iam = self.client("iam", region)
        try:
            return iam.get_role(RoleName=name)["Role"]["Arn"], False
        except iam.exceptions.NoSuchEntityException:
            pass
        arn = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(
                cv.cloudtrail_trust_policy(self.account, self.arn("cloudtrail", "*", f"trail/{trail_name}"))
            ),
            Tags=cv.tag_list(),
        )["Role"]["Arn"]
        iam.put_role_policy(
            RoleName=name,
            PolicyName=cv.LOG_DELIVERY_POLICY_NAME,
            PolicyDocument=json.dumps(cv.log_delivery_policy(log_group_arn)),
        )
        return arn, True

    def with_new_role(self, call: Callable[[], T]) -> T | None:
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
                time.sleep(ROLE_PROPAGATION_DELAY_S)
        return None


def apply_plan(
    plan: Plan, clients: ClientFactory, include_changes: bool = False, log: Callable[[str], None] = print
) -> dict[str, list[str]]:
    aws = AwsApply(clients, plan)
    outcome: dict[str, list[str]] = {"applied": [], "unchanged": [], "skipped": [], "failed": []}
    for step in plan.steps:
        if step.change and not include_changes:
            outcome["skipped"].append(step.id)
            log(f"skipped (changes an existing resource; add --modify-existing): {step.id}")
            continue
        try:
            changed = step.apply(aws)
        except (ClientError, BotoCoreError, Refused) as exc:
            code = exc.response["Error"].get("Code") if isinstance(exc, ClientError) else type(exc).__name__
            outcome["failed"].append(f"{step.id}: {code}: {exc}")
            log(f"FAILED {step.id}: {code}: {exc}")
            continue
        outcome["applied" if changed else "unchanged"].append(step.id)
        log(f"{'applied' if changed else 'already in place'}: {step.id} [{step.region}]")
    return outcome
