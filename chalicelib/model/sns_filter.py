"""Can a subscription's filter policy ever let a CloudWatch alarm notification through? (pure, three-valued)

Alarm notifications carry no message attributes, so a policy on attributes (the default scope) passes
only where every key accepts a missing attribute (``{"exists": false}``). A ``MessageBody`` policy is
matched against the shape of the alarm's JSON message: the fields ciswatch knows for the alarm (its
name, ARN, account, ``NewStateValue`` ALARM, its metric) decide; a condition on a field it cannot
know (timestamps, the reason text, the previous state) makes the answer UNKNOWN.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Reach(StrEnum):
    MATCH = "match"
    NO_MATCH = "no_match"
    UNKNOWN = "unknown"


class _Unknown:
    """A field of the alarm message whose value ciswatch cannot predict."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()
ABSENT = object()


def alarm_message(
    name: str, arn: str | None, account: str, metric: str | None, namespace: str | None
) -> dict[str, Any]:
    """What ciswatch can know of the JSON message CloudWatch publishes when the alarm goes to ALARM."""
    return {
        "AlarmName": name,
        "AlarmDescription": UNKNOWN,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": UNKNOWN,
        "NewStateValue": "ALARM",
        "NewStateReason": UNKNOWN,
        "StateChangeTime": UNKNOWN,
        "Region": UNKNOWN,
        "AlarmArn": arn if arn else UNKNOWN,
        "OldStateValue": UNKNOWN,
        "OKActions": UNKNOWN,
        "AlarmActions": UNKNOWN,
        "InsufficientDataActions": UNKNOWN,
        "Trigger": {
            "MetricName": metric if metric else UNKNOWN,
            "Namespace": namespace if namespace else UNKNOWN,
            "StatisticType": UNKNOWN,
            "Statistic": UNKNOWN,
            "Unit": UNKNOWN,
            "Dimensions": UNKNOWN,
            "Period": UNKNOWN,
            "EvaluationPeriods": UNKNOWN,
            "ComparisonOperator": UNKNOWN,
            "Threshold": UNKNOWN,
            "TreatMissingData": UNKNOWN,
            "EvaluateLowSampleCountPercentile": UNKNOWN,
        },
    }


def reach(policy_text: str | None, scope: str | None, message: Mapping[str, Any]) -> Reach:
    """Whether a message shaped like ``message`` (with no attributes) passes the filter policy."""
    if not policy_text:
        return Reach.MATCH
    try:
        policy = json.loads(policy_text)
    except ValueError:
        return Reach.UNKNOWN
    if not isinstance(policy, dict):
        return Reach.UNKNOWN
    if (scope or "MessageAttributes") == "MessageBody":
        return _object(policy, message)
    return _object(policy, {})  # alarm notifications carry no message attributes


def _all(results: list[Reach]) -> Reach:
    if Reach.NO_MATCH in results:
        return Reach.NO_MATCH
    return Reach.UNKNOWN if Reach.UNKNOWN in results else Reach.MATCH


def _any(results: list[Reach]) -> Reach:
    if Reach.MATCH in results:
        return Reach.MATCH
    return Reach.UNKNOWN if Reach.UNKNOWN in results else Reach.NO_MATCH


def _object(policy: Mapping[str, Any], message: Any) -> Reach:
    results = []
    for key, rule in policy.items():
        if key == "$or":
            options = rule if isinstance(rule, list) else []
            results.append(
                _any([_object(o, message) for o in options if isinstance(o, dict)]) if options else Reach.UNKNOWN
            )
            continue
        if message is UNKNOWN:
            value: Any = UNKNOWN
        else:
            value = message.get(key, ABSENT) if isinstance(message, Mapping) else ABSENT
        if isinstance(rule, dict):
            results.append(_object(rule, value))
        elif isinstance(rule, list):
            results.append(_any([_condition(c, value) for c in rule]) if rule else Reach.NO_MATCH)
        else:
            results.append(Reach.UNKNOWN)
    return _all(results)


def _condition(cond: Any, value: Any) -> Reach:
    if value is UNKNOWN:
        return Reach.UNKNOWN
    if isinstance(value, list):  # a list field matches when any element does
        return _any([_condition(cond, v) for v in value]) if value else _condition(cond, ABSENT)
    if isinstance(cond, dict):
        return _operator(cond, value)
    if value is ABSENT:
        return Reach.NO_MATCH
    if isinstance(cond, bool) or cond is None:
        return Reach.MATCH if value is cond else Reach.NO_MATCH
    if isinstance(cond, int | float):
        return Reach.MATCH if isinstance(value, int | float) and value == cond else Reach.NO_MATCH
    return Reach.MATCH if value == cond else Reach.NO_MATCH


def _operator(cond: Mapping[str, Any], value: Any) -> Reach:
    if len(cond) != 1:
        return Reach.UNKNOWN
    op, arg = next(iter(cond.items()))
    if op == "exists":
        return Reach.MATCH if (value is not ABSENT) == bool(arg) else Reach.NO_MATCH
    if value is ABSENT:
        return Reach.NO_MATCH
    if op == "prefix" and isinstance(arg, str):
        return _yes(isinstance(value, str) and value.startswith(arg))
    if op == "suffix" and isinstance(arg, str):
        return _yes(isinstance(value, str) and value.endswith(arg))
    if op == "equals-ignore-case" and isinstance(arg, str):
        return _yes(isinstance(value, str) and value.lower() == arg.lower())
    if op == "anything-but":
        if isinstance(arg, dict):
            inner = _operator(arg, value)
            return {Reach.MATCH: Reach.NO_MATCH, Reach.NO_MATCH: Reach.MATCH}.get(inner, Reach.UNKNOWN)
        excluded = arg if isinstance(arg, list) else [arg]
        return _yes(value not in excluded)
    return Reach.UNKNOWN  # numeric ranges, cidr, wildcard: not fields an alarm message compares on


def _yes(condition: bool) -> Reach:
    return Reach.MATCH if condition else Reach.NO_MATCH
