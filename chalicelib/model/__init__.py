"""The shared, typed vocabulary of ciswatch: snapshot records, findings, ARNs, conventions, shared rules.

Stdlib only and no I/O: every layer imports it, it imports no other ciswatch package.
"""

from .arn import Arn
from .errors import ArnError, ModelError, SnapshotError
from .findings import Finding, Problem, Scope, Severity, Status
from .snapshot import (
    AccountSnapshot,
    Alarm,
    ApiError,
    CompositeAlarm,
    Dimension,
    KeyMetadata,
    KeyRotation,
    KmsKey,
    KmsRegion,
    LogGroup,
    MetricFilter,
    MetricTransformation,
    RegionAlarms,
    Subscription,
    Topic,
    TopicAttributes,
    TopicKey,
    Trail,
    Trails,
)

__all__ = [
    "AccountSnapshot",
    "Alarm",
    "ApiError",
    "Arn",
    "ArnError",
    "CompositeAlarm",
    "Dimension",
    "Finding",
    "KeyMetadata",
    "KeyRotation",
    "KmsKey",
    "KmsRegion",
    "LogGroup",
    "MetricFilter",
    "MetricTransformation",
    "ModelError",
    "Problem",
    "RegionAlarms",
    "Scope",
    "Severity",
    "SnapshotError",
    "Status",
    "Subscription",
    "Topic",
    "TopicAttributes",
    "TopicKey",
    "Trail",
    "Trails",
]
