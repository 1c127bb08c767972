"""Every IAM permission ciswatch's functions hold, written once, rendered two ways.

- ``.chalice/policy-<function>-<stage>.json`` for ``chalice deploy``: the partition is ``*`` (valid in
  IAM, as AWS's own managed policies use it; a role can only reach its own partition anyway), so the
  files work unchanged in aws, aws-cn and aws-us-gov.
- the role policies of ``resources.json`` for ``chalice package``: ``${AWS::Partition}``, and the
  deployment's own region and account wherever a resource is ciswatch's own.

Run ``python -m deploy.policies`` after changing this file; a test fails while the files differ.

The functions (each has its own role):
- ``daily_audit``: the schedule. Queues a request: writes the ledger, sends to the request queue.
- ``api_handler``: the API. Reads the findings table; queues requests like the schedule; keeps
  idempotency records. It cannot read the account's configuration, write findings or publish.
- ``audit_worker``: runs requests. The only role that reads the account, writes findings and publishes;
  it also puts a run's deadline timer back on the request queue until it is due.
- ``dead_letters``: requests that failed on every attempt. Writes their accounts' ERROR outcomes and,
  when that finishes a run, sends the run's digest (the outbox and the topic, as the worker does).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dev", "prod")
# Chalice's function names -> the role logical ids `chalice package` gives them.
ROLES = {
    "daily_audit": "DailyAuditRole",
    "api_handler": "ApiHandlerRole",
    "audit_worker": "AuditWorkerRole",
    "dead_letters": "DeadLettersRole",
}
FILE_NAMES = {"daily_audit": "schedule", "api_handler": "api", "audit_worker": "worker", "dead_letters": "dead-letters"}

# Placeholders: {partition}, {region}, {account} (this deployment's), {stage}, {member_role}.
# A statement with "_when" is granted in the template only under that condition (Organization mode);
# the `chalice deploy` files hold it always (their users choose by setting CISWATCH_ORGANIZATION).
ORGANIZATION_ONLY = "OrganizationMode"
SECURITY_HUB_ONLY = "SecurityHubImport"
EXISTING_DIGEST_KEY = "UseExistingDigestKey"  # the template's DigestKeyArn parameter names a key of the user's
# A statement with "_template_only" exists only in the template: it names a template parameter.
OWN = "arn:{partition}:{service}:{region}:{account}:{resource}"
TABLE = "arn:{partition}:dynamodb:{region}:{account}:table/ciswatch-{stage}-findings"
REQUEST_QUEUE = "arn:{partition}:sqs:{region}:{account}:ciswatch-{stage}-audit-requests"
DEAD_LETTER_QUEUE = REQUEST_QUEUE + "-dlq"
FAILED_RUNS_QUEUE = "arn:{partition}:sqs:{region}:{account}:ciswatch-{stage}-failed-runs"
DIGEST_TOPIC = "arn:{partition}:sns:{region}:{account}:ciswatch-{stage}-digest"


def _st(sid: str, actions: list[str], resource: str | list[str], condition: dict[str, Any] | None = None) -> dict:
    st: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        st["Condition"] = condition
    return st


def own_logs(function: str) -> dict:
    # Chalice names functions <app>-<stage>-<function>.
    group = "arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/ciswatch-{stage}-" + function
    # CreateLogGroup: a `chalice deploy` has no template to create the group (with its retention).
    return _st("OwnLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], [group, group + ":*"])


# What an audit reads in the audited account: the worker's role holds exactly these, and so will the
# member role of an Organization. Any account and region: the audit follows trails, alarms and topics
# wherever they are, and a role can only reach what its own account (or a resource policy) allows.
AUDIT_READS = [
    _st(
        "AuditListingsWithoutResourceLevelPermissions",
        [
            "ec2:DescribeRegions",
            "cloudtrail:DescribeTrails",
            "cloudtrail:ListTrails",
            "kms:ListKeys",
            "kms:ListAliases",
        ],
        "*",
    ),
    _st(
        "AuditTrails",
        ["cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors"],
        "arn:{partition}:cloudtrail:*:*:trail/*",
    ),
    _st("AuditMetricFilters", ["logs:DescribeMetricFilters"], "arn:{partition}:logs:*:*:log-group:*"),
    _st("AuditAlarms", ["cloudwatch:DescribeAlarms"], "arn:{partition}:cloudwatch:*:*:alarm:*"),
    _st(
        "AuditAlarmTopics",
        ["sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic", "sns:GetSubscriptionAttributes"],
        "arn:{partition}:sns:*:*:*",
    ),
    _st(
        "AuditKeys",
        ["kms:DescribeKey", "kms:GetKeyRotationStatus", "kms:GetKeyPolicy"],
        "arn:{partition}:kms:*:*:key/*",
    ),
]

# Producers may write the ledger's items and nothing else of the table: every key they write starts
# with LEDGER# (dynamodb:LeadingKeys), so findings, transitions and runs stay the worker's.
LEDGER_ONLY = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["LEDGER#*"]}}
# The API also keeps suppressions (accepted deviations, with who and when): their keys only.
SUPPRESSIONS_ONLY = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["SUPPRESSIONS#*"]}}


def _queue_request() -> list[dict]:
    return [
        _st("WriteRequestLedger", ["dynamodb:PutItem"], TABLE, LEDGER_ONLY),
        _st("QueueAuditRequests", ["sqs:SendMessage"], REQUEST_QUEUE),
    ]


def _organization_only(st: dict) -> dict:
    return {**st, "_when": ORGANIZATION_ONLY}


def _own_state() -> dict:
    return _st(
        "OwnState",
        ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:BatchWriteItem"],
        [TABLE, TABLE + "/index/*"],
    )


def _digest() -> list[dict]:
    """Publishing the digest: the topic, and its key (ciswatch's own, found by its alias, or the one the
    template's DigestKeyArn names)."""
    return [
        _st("OwnDigestTopic", ["sns:Publish"], DIGEST_TOPIC),
        _st(
            "OwnDigestTopicKey",
            ["kms:GenerateDataKey*", "kms:Decrypt"],
            "arn:{partition}:kms:{region}:{account}:key/*",
            {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/ciswatch-{stage}-digest"}},
        ),
        {
            **_st("ExistingDigestTopicKey", ["kms:GenerateDataKey*", "kms:Decrypt"], "{digest_key}"),
            "_when": EXISTING_DIGEST_KEY,
            "_template_only": True,
        },
    ]


def statements(function: str) -> list[dict]:
    if function == "daily_audit":
        return [
            own_logs("daily_audit"),
            *_queue_request(),
            _st("FailedRunsDestination", ["sqs:SendMessage"], FAILED_RUNS_QUEUE),
            # These Organizations actions have no resource-level permissions for a listing.
            _organization_only(
                _st(
                    "ListOrganizationAccounts",
                    [
                        "organizations:ListAccounts",
                        "organizations:ListAccountsForParent",
                        "organizations:ListOrganizationalUnitsForParent",
                    ],
                    "*",
                )
            ),
        ]
    if function == "api_handler":
        return [
            own_logs("api_handler"),
            _st("ReadFindings", ["dynamodb:GetItem", "dynamodb:Query"], TABLE),
            *_queue_request(),
            _st("KeepSuppressions", ["dynamodb:PutItem", "dynamodb:UpdateItem"], TABLE, SUPPRESSIONS_ONLY),
            _st(
                "OwnIdempotencyRecords",
                ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                "arn:{partition}:dynamodb:{region}:{account}:table/ciswatch-{stage}-idempotency",
            ),
        ]
    if function == "audit_worker":
        return [
            own_logs("audit_worker"),
            *AUDIT_READS,
            _own_state(),
            _st(
                "ReceiveAuditRequests",
                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
                REQUEST_QUEUE,
            ),
            _st("RequeueRunDeadlines", ["sqs:SendMessage"], REQUEST_QUEUE),
            *_digest(),
            _organization_only(
                _st("AssumeMemberAuditRole", ["sts:AssumeRole"], "arn:{partition}:iam::*:role/{member_role}")
            ),
            {
                **_st(
                    "ImportToSecurityHub",
                    ["securityhub:BatchImportFindings"],
                    "arn:{partition}:securityhub:{region}:{account}:product/{account}/default",
                ),
                "_when": SECURITY_HUB_ONLY,
            },
        ]
    if function == "dead_letters":
        return [
            own_logs("dead_letters"),
            _own_state(),
            _st(
                "ReceiveDeadLetters",
                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
                DEAD_LETTER_QUEUE,
            ),
            *_digest(),
        ]
    raise KeyError(function)


def _render(value: Any, fill: Mapping[str, str], cfn: bool) -> Any:
    if isinstance(value, dict) and "_when" in value:
        plain = _render({k: v for k, v in value.items() if k not in ("_when", "_template_only")}, fill, cfn)
        return {"Fn::If": [value["_when"], plain, {"Ref": "AWS::NoValue"}]} if cfn else plain
    if isinstance(value, dict):
        return {_render(k, fill, cfn): _render(v, fill, cfn) for k, v in value.items()}
    if isinstance(value, list):
        kept = [v for v in value if cfn or not (isinstance(v, dict) and v.get("_template_only"))]
        return [_render(v, fill, cfn) for v in kept]
    if not isinstance(value, str) or "{" not in value:
        return value
    text = re.sub(r"\{(\w+)\}", lambda m: fill[m.group(1)], value)
    return {"Fn::Sub": text} if cfn and "${" in text else text


def document(function: str, stage: str) -> dict:
    """The policy file for `chalice deploy`."""
    fill = {"partition": "*", "region": "*", "account": "*", "stage": stage, "member_role": "ciswatch-audit"}
    return {"Version": "2012-10-17", "Statement": _render(statements(function), fill, cfn=False)}


def template_document(function: str) -> dict:
    """The same policy for the CloudFormation template (stage, partition, region and account as parameters)."""
    fill = {
        "partition": "${AWS::Partition}",
        "region": "${AWS::Region}",
        "account": "${AWS::AccountId}",
        "stage": "${Stage}",
        "member_role": "${MemberRoleName}",
        "digest_key": "${DigestKeyArn}",
    }
    return {"Version": "2012-10-17", "Statement": _render(statements(function), fill, cfn=True)}


def policy_file(function: str, stage: str) -> Path:
    return ROOT / ".chalice" / f"policy-{FILE_NAMES[function]}-{stage}.json"


def rendered_files() -> dict[Path, str]:
    return {
        policy_file(function, stage): json.dumps(document(function, stage), indent=2) + "\n"
        for function in ROLES
        for stage in STAGES
    }


def rendered_resources(text: str) -> str:
    """resources.json with each role's policies replaced by this module's (lists replace Chalice's on merge)."""
    template = json.loads(text)
    for function, logical_id in ROLES.items():
        role = template["Resources"].setdefault(logical_id, {})
        role.setdefault("Properties", {})["Policies"] = [
            {"PolicyName": "ciswatch", "PolicyDocument": template_document(function)}
        ]
    return json.dumps(template, indent=1, ensure_ascii=False) + "\n"


MEMBER_TEMPLATE = ROOT / "deploy" / "member-role.json"


def member_role_template() -> dict:
    """The read-only role ciswatch assumes in each member account: exactly the audit's reads.
    Deploy it with a service-managed StackSet (see the README); trusted by the worker's role only,
    from inside the Organization, with an external id when one is given."""
    fill = {"partition": "${AWS::Partition}", "region": "*", "account": "*", "stage": "", "member_role": ""}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "ciswatch: the read-only audit role of a member account (generated by deploy/policies.py)",
        "Parameters": {
            "RoleName": {"Type": "String", "Default": "ciswatch-audit"},
            "AuditorRoleArn": {
                "Type": "String",
                "AllowedPattern": "^arn:[a-z-]+:iam::\\d{12}:role/.+$",
                "Description": "The ciswatch worker's role (the main stack's AuditWorkerRoleArn output)",
            },
            "OrganizationId": {
                "Type": "String",
                "AllowedPattern": "^o-[a-z0-9]{10,32}$",
                "Description": "Only principals of this Organization may assume the role (aws:PrincipalOrgID)",
            },
            "ExternalId": {"Type": "String", "Default": "", "Description": "Optional sts:ExternalId"},
        },
        "Conditions": {"HasExternalId": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExternalId"}, ""]}]}},
        "Resources": {
            "AuditRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Ref": "RoleName"},
                    "Description": "Read-only: what ciswatch needs to judge the CIS monitoring controls and KMS rotation",
                    "MaxSessionDuration": 3600,
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": {"Ref": "AuditorRoleArn"}},
                                "Action": "sts:AssumeRole",
                                "Condition": {
                                    "Fn::If": [
                                        "HasExternalId",
                                        {
                                            "StringEquals": {
                                                "aws:PrincipalOrgID": {"Ref": "OrganizationId"},
                                                "sts:ExternalId": {"Ref": "ExternalId"},
                                            }
                                        },
                                        {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}},
                                    ]
                                },
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "ciswatch-audit-reads",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": _render(AUDIT_READS, fill, cfn=True),
                            },
                        }
                    ],
                    "Tags": [{"Key": "ciswatch:managed", "Value": "true"}],
                },
            }
        },
        "Outputs": {"AuditRoleArn": {"Value": {"Fn::GetAtt": ["AuditRole", "Arn"]}}},
    }


def main() -> int:
    for path, text in rendered_files().items():
        path.write_text(text)
    resources = ROOT / "resources.json"
    resources.write_text(rendered_resources(resources.read_text()))
    MEMBER_TEMPLATE.write_text(json.dumps(member_role_template(), indent=1) + "\n")
    print(f"wrote {len(ROLES) * len(STAGES)} policy files and {len(ROLES)} role policies in resources.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
