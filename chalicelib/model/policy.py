"""Would a resource policy let an AWS service principal do an action? (pure, three-valued)

Enough of IAM's evaluation for the question the chain asks of a KMS key policy or an SNS topic
policy: "may cloudwatch.amazonaws.com use this key / publish to this topic for this alarm?". An
explicit Deny wins over an Allow; no Allow is an implicit deny. Conditions are evaluated only on the
keys an alarm's request is known to carry (``aws:SourceAccount``, ``aws:SourceArn``); any other
condition makes the answer UNKNOWN, never a guess.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Decision(StrEnum):
    ALLOW = "allow"
    DENY = "deny"  # an explicit Deny applies
    IMPLICIT_DENY = "implicit_deny"  # nothing allows it
    UNKNOWN = "unknown"  # it depends on a condition ciswatch cannot evaluate


@dataclass(frozen=True)
class Request:
    service: str  # the calling service principal, e.g. cloudwatch.amazonaws.com
    action: str  # e.g. kms:Decrypt
    context: Mapping[str, str]  # condition keys the request carries


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    statement: str | None = None  # the Sid (or index) of the statement that decided it
    why: str = ""
    by_deny: bool = False  # UNKNOWN because a Deny may apply (not because an Allow may not)


def statements(policy: Any) -> list[Mapping[str, Any]] | None:
    """The statements of a policy document (text or mapping); None when it is not a policy."""
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return None
    if not isinstance(policy, dict):
        return None
    found = policy.get("Statement") or []
    found = [found] if isinstance(found, dict) else found
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else None


def evaluate(policy: Any, request: Request) -> Verdict:
    found = statements(policy)
    if found is None:
        return Verdict(Decision.UNKNOWN, why="the policy document could not be read")
    allowed: Verdict | None = None
    maybe_denied: Verdict | None = None
    maybe_allowed: Verdict | None = None
    for i, st in enumerate(found):
        sid = str(st.get("Sid") or f"#{i + 1}")
        if not _principal_applies(st, request.service) or not _action_applies(st, request.action):
            continue
        applies = _conditions(st.get("Condition"), request.context)
        if applies is False:
            continue
        effect = st.get("Effect")
        if effect == "Deny":
            if applies:
                return Verdict(Decision.DENY, sid, f"statement {sid} denies {request.action}")
            maybe_denied = maybe_denied or Verdict(
                Decision.UNKNOWN,
                sid,
                f"statement {sid} denies {request.action} under a condition ciswatch cannot evaluate",
            )
        elif effect == "Allow":
            if applies:
                allowed = allowed or Verdict(Decision.ALLOW, sid)
            else:
                maybe_allowed = maybe_allowed or Verdict(
                    Decision.UNKNOWN,
                    sid,
                    f"statement {sid} allows {request.action} only under a condition ciswatch cannot evaluate",
                )
    decided = maybe_denied or allowed or maybe_allowed
    return decided or Verdict(Decision.IMPLICIT_DENY, why=f"no statement allows {request.service} {request.action}")


def _listed(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _principal_matches(principal: Any, service: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return service in _listed(principal.get("Service")) or "*" in _listed(principal.get("AWS"))


def _principal_applies(st: Mapping[str, Any], service: str) -> bool:
    if "NotPrincipal" in st:
        return not _principal_matches(st["NotPrincipal"], service)
    return _principal_matches(st.get("Principal"), service)


def _action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def _action_applies(st: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in st:
        return not _action_matches(_listed(st["NotAction"]), action)
    return _action_matches(_listed(st.get("Action")), action)


def _conditions(block: Any, context: Mapping[str, str]) -> bool | None:
    """True: every condition holds; False: one does not; None: one cannot be evaluated."""
    if not block:
        return True
    if not isinstance(block, dict):
        return None
    result: bool | None = True
    for operator, tests in block.items():
        if not isinstance(tests, dict):
            return None
        for key, expected in tests.items():
            outcome = _condition(str(operator), str(key), _listed(expected), context)
            if outcome is False:
                return False
            if outcome is None:
                result = None
    return result


def _condition(operator: str, key: str, expected: list[str], context: Mapping[str, str]) -> bool | None:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    value = next((v for k, v in context.items() if k.lower() == key.lower()), None)
    if value is None:
        return True if if_exists and base in _OPERATORS else None
    test = _OPERATORS.get(base)
    if test is None or ":" in base:  # ForAnyValue:/ForAllValues: and other set operators
        return None
    return test(value, expected)


def _equals(value: str, expected: list[str]) -> bool:
    return value in expected


def _like(value: str, expected: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, e) for e in expected)


_OPERATORS: dict[str, Callable[[str, list[str]], bool]] = {
    "StringEquals": _equals,
    "StringNotEquals": lambda v, e: not _equals(v, e),
    "StringEqualsIgnoreCase": lambda v, e: v.lower() in [x.lower() for x in e],
    "StringLike": _like,
    "StringNotLike": lambda v, e: not _like(v, e),
    "ArnEquals": _equals,
    "ArnNotEquals": lambda v, e: not _equals(v, e),
    "ArnLike": _like,
    "ArnNotLike": lambda v, e: not _like(v, e),
}
