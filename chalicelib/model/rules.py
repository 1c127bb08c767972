"""Rules shared by more than one layer (inventory, checks, remediation, service): one home each."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from .conventions import CLOUDWATCH_PRINCIPAL, SNS_MANAGED_KEY_ALIAS
from .policy import Decision, Request, Verdict, evaluate
from .snapshot import KeyMetadata, Subscription, Topic
from .sns_filter import Reach, alarm_message, reach

REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
# DescribeRegions' OptInStatus values of a region the account can use.
OPTED_IN = ("opt-in-not-required", "opted-in")


def is_region_name(text: str) -> bool:
    return bool(REGION_RE.match(text))


def is_enabled_region(opt_in_status: str | None) -> bool:
    return (opt_in_status or OPTED_IN[0]) in OPTED_IN


# --- KMS rotation applicability -------------------------------------------------------------------


class NotRotatable(StrEnum):
    """Why automatic rotation cannot apply to a key."""

    AWS_MANAGED = "aws_managed"
    NOT_SYMMETRIC = "not_symmetric"
    CUSTOM_KEY_STORE = "custom_key_store"
    IMPORTED = "imported"
    NOT_ENABLED = "not_enabled"


def why_not_rotatable(meta: KeyMetadata) -> NotRotatable | None:
    """None when automatic rotation applies to the key (a replica still follows its primary)."""
    if meta.key_manager != "CUSTOMER":
        return NotRotatable.AWS_MANAGED
    if meta.key_spec != "SYMMETRIC_DEFAULT":
        return NotRotatable.NOT_SYMMETRIC
    if meta.origin == "EXTERNAL":
        return NotRotatable.IMPORTED
    if meta.custom_key_store_id or meta.origin != "AWS_KMS":
        return NotRotatable.CUSTOM_KEY_STORE
    if meta.key_state != "Enabled":
        return NotRotatable.NOT_ENABLED
    return None


def follows_audited_primary(meta: KeyMetadata, audited_regions: Iterable[str]) -> bool:
    """A multi-Region replica whose primary is audited too: the primary's finding answers for it."""
    return meta.multi_region_key_type == "REPLICA" and meta.primary_key.get("Region") in set(audited_regions)


def rotation_status_worth_reading(meta: KeyMetadata, audited_regions: Iterable[str]) -> bool:
    """Whether GetKeyRotationStatus means anything for this key (and is worth a call)."""
    return why_not_rotatable(meta) is None and not follows_audited_primary(meta, audited_regions)


# --- can CloudWatch deliver to this topic ---------------------------------------------------------

# What publishing to an encrypted topic needs of its key (AWS: "Encrypting SNS topics ... CloudWatch").
KEY_ACTIONS_TO_PUBLISH = ("kms:GenerateDataKey", "kms:Decrypt")


def alarm_request_context(account: str, alarm_arn: str | None) -> dict[str, str]:
    """The condition keys an alarm's request to SNS and KMS carries (what conditions may test)."""
    context = {"aws:SourceAccount": account, "aws:SourceOwner": account}
    if alarm_arn:
        context["aws:SourceArn"] = alarm_arn
    return context


class TopicKeyVerdict(StrEnum):
    UNENCRYPTED = "unencrypted"
    USABLE = "usable"
    AWS_MANAGED = "aws_managed"  # alias/aws/sns: CloudWatch cannot use it
    UNREADABLE = "unreadable"  # the key or its policy could not be read
    NOT_ENABLED = "not_enabled"  # Disabled, PendingDeletion, PendingImport...: SNS cannot encrypt with it
    POLICY_DENIES = "policy_denies"
    UNVERIFIABLE = "unverifiable"  # the policy allows it only under conditions ciswatch cannot evaluate


def topic_key_verdict(topic: Topic, context: Mapping[str, str] | None = None) -> tuple[TopicKeyVerdict, str]:
    """Whether CloudWatch can use the key that encrypts the topic, and why not."""
    key_id = topic.kms_master_key_id
    if not key_id:
        return TopicKeyVerdict.UNENCRYPTED, ""
    key = topic.kms_key
    if key_id == SNS_MANAGED_KEY_ALIAS or (key is not None and key.key_manager == "AWS"):
        return TopicKeyVerdict.AWS_MANAGED, "it is the AWS managed key alias/aws/sns, which CloudWatch cannot use"
    if key is None or key.error is not None:
        return TopicKeyVerdict.UNREADABLE, key.error.text() if key and key.error else "not read"
    if key.key_state is not None and key.key_state != "Enabled":
        return TopicKeyVerdict.NOT_ENABLED, f"the key is {key.key_state}: SNS cannot encrypt with it"
    request_context = context or alarm_request_context(topic.account, None)
    verdicts = [
        evaluate(key.policy, Request(CLOUDWATCH_PRINCIPAL, action, request_context))
        for action in KEY_ACTIONS_TO_PUBLISH
    ]
    denied = [v for v in verdicts if v.decision in (Decision.DENY, Decision.IMPLICIT_DENY)]
    if denied:
        return TopicKeyVerdict.POLICY_DENIES, denied[0].why
    unknown = [v for v in verdicts if v.decision is Decision.UNKNOWN]
    if unknown:
        return TopicKeyVerdict.UNVERIFIABLE, unknown[0].why
    return TopicKeyVerdict.USABLE, ""


def topic_policy_verdict(topic: Topic, context: Mapping[str, str] | None = None) -> Verdict:
    """Whether the topic's access policy denies CloudWatch sns:Publish (only an explicit Deny can)."""
    policy = topic.attributes.policy if topic.attributes else None
    if not policy:
        return Verdict(Decision.ALLOW)
    verdict = evaluate(
        policy, Request(CLOUDWATCH_PRINCIPAL, "sns:Publish", context or {"aws:SourceAccount": topic.account})
    )
    if verdict.decision is Decision.IMPLICIT_DENY:
        return Verdict(Decision.ALLOW)  # same-account alarms need no grant: only a Deny stops them
    return verdict


def subscription_reach(subscription: Subscription, message: Mapping[str, Any]) -> Reach:
    """Whether an alarm notification passes the subscription's filter policy (UNKNOWN: not readable)."""
    if subscription.attributes_error is not None:
        return Reach.UNKNOWN
    return reach(subscription.filter_policy, subscription.filter_policy_scope, message)


def topic_delivers(topic: Topic) -> bool:
    """CloudWatch can publish to the topic and a confirmed subscriber receives alarm notifications."""
    if topic.attributes_error or topic.subscriptions_error or topic.attributes is None:
        return False
    if topic_key_verdict(topic)[0] not in (TopicKeyVerdict.UNENCRYPTED, TopicKeyVerdict.USABLE):
        return False
    if topic_policy_verdict(topic).decision is not Decision.ALLOW:
        return False
    message = alarm_message("any", None, topic.account, None, None)
    return any(subscription_reach(s, message) is Reach.MATCH for s in topic.confirmed_subscriptions)
