"""Rules shared by more than one layer (inventory, checks, remediation, service): one home each."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from .conventions import CLOUDWATCH_PRINCIPAL, SNS_MANAGED_KEY_ALIAS
from .snapshot import KeyMetadata, Topic

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


class TopicKeyVerdict(StrEnum):
    UNENCRYPTED = "unencrypted"
    USABLE = "usable"
    AWS_MANAGED = "aws_managed"  # alias/aws/sns: CloudWatch cannot use it
    UNREADABLE = "unreadable"  # the key or its policy could not be read
    POLICY_DENIES = "policy_denies"


def topic_key_verdict(topic: Topic) -> TopicKeyVerdict:
    key_id = topic.kms_master_key_id
    if not key_id:
        return TopicKeyVerdict.UNENCRYPTED
    key = topic.kms_key
    if key_id == SNS_MANAGED_KEY_ALIAS or (key is not None and key.key_manager == "AWS"):
        return TopicKeyVerdict.AWS_MANAGED
    if key is None or key.error is not None:
        return TopicKeyVerdict.UNREADABLE
    if not key_policy_allows_cloudwatch(key.policy):
        return TopicKeyVerdict.POLICY_DENIES
    return TopicKeyVerdict.USABLE


def topic_delivers(topic: Topic) -> bool:
    """CloudWatch can publish to the topic and a confirmed subscriber receives it."""
    if topic.attributes_error or topic.subscriptions_error or topic.attributes is None:
        return False
    if topic_key_verdict(topic) not in (TopicKeyVerdict.UNENCRYPTED, TopicKeyVerdict.USABLE):
        return False
    return bool(topic.confirmed_subscriptions)


def key_policy_allows_cloudwatch(policy_text: Any) -> bool:
    """The key policy lets cloudwatch.amazonaws.com generate data keys and decrypt (what publishing needs)."""
    try:
        policy = json.loads(policy_text) if isinstance(policy_text, str) else (policy_text or {})
    except ValueError:
        return False
    if not isinstance(policy, dict):
        return False
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed: set[str] = set()
    for st in statements:
        if not isinstance(st, dict):
            continue
        if st.get("Effect") != "Allow" or not _principal_includes_cloudwatch(st.get("Principal")):
            continue
        actions = st.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        for a in actions:
            a = str(a).lower()
            if a in ("kms:*", "*"):
                allowed.update(("decrypt", "generatedatakey"))
            elif a.startswith("kms:generatedatakey"):
                allowed.add("generatedatakey")
            elif a == "kms:decrypt":
                allowed.add("decrypt")
    return {"decrypt", "generatedatakey"} <= allowed


def _principal_includes_cloudwatch(principal: Any) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    services = principal.get("Service") or []
    services = [services] if isinstance(services, str) else services
    aws = principal.get("AWS")
    return CLOUDWATCH_PRINCIPAL in services or aws == "*" or aws == ["*"]
