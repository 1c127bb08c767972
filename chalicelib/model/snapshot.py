"""The AccountSnapshot: what one inventory pass read, as typed, immutable records.

One class per AWS thing the checks look at. Whole AWS documents (event selectors, key policies,
metric math, multi-Region configuration) stay mappings: ciswatch reads them, it does not own their
shape. ``to_json`` writes the snapshot file format (schema 1, the keys the format has always had:
snake_case for ciswatch's own records, AWS's spelling inside AWS records), and ``from_json`` reads
it back, naming the field that is wrong. ``None`` in an optional AWS field means "absent".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .arn import Arn
from .errors import SnapshotError

SCHEMA_VERSION = 1
Json = dict[str, Any]


# --- reading JSON, with the path of what is wrong ------------------------------------------------


class Doc:
    """A JSON object being read, with its path for error messages."""

    __slots__ = ("data", "path")

    def __init__(self, data: Any, path: str):
        if not isinstance(data, dict):
            raise SnapshotError(f"expected an object, found {type(data).__name__}", path or "snapshot")
        self.data: dict[str, Any] = data
        self.path = path

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def req(self, key: str) -> Any:
        if key not in self.data:
            raise SnapshotError("missing", self._at(key))
        return self.data[key]

    def string(self, key: str) -> str:
        value = self.req(key)
        if not isinstance(value, str):
            raise SnapshotError(f"expected a string, found {_kind(value)}", self._at(key))
        return value

    def opt_str(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            raise SnapshotError(f"expected a string or null, found {_kind(value)}", self._at(key))
        return value

    def opt_bool(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise SnapshotError(f"expected true/false, found {_kind(value)}", self._at(key))
        return value

    def opt_num(self, key: str) -> int | float | None:
        value = self.data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise SnapshotError(f"expected a number, found {_kind(value)}", self._at(key))
        return value

    def opt_int(self, key: str) -> int | None:
        value = self.opt_num(key)
        if value is not None and not isinstance(value, int):
            raise SnapshotError(f"expected a whole number, found {value!r}", self._at(key))
        return value

    def opt_mapping(self, key: str, shape: Any = None) -> Mapping[str, Any] | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, dict):
            raise SnapshotError(f"expected an object, found {_kind(value)}", self._at(key))
        if value is not None and shape is not None:
            check_shape(value, shape, self._at(key))
        return value

    def opt_array(self, key: str) -> list[Any] | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, list):
            raise SnapshotError(f"expected a list, found {_kind(value)}", self._at(key))
        return value

    def array(self, key: str) -> list[Any]:
        value = self.opt_array(key)
        if value is None:
            raise SnapshotError("missing", self._at(key))
        return value

    def obj(self, key: str) -> Doc:
        return Doc(self.req(key), self._at(key))

    def opt_obj(self, key: str) -> Doc | None:
        value = self.data.get(key)
        return None if value is None else Doc(value, self._at(key))

    def items(self, key: str) -> list[Doc]:
        return [Doc(v, f"{self._at(key)}[{i}]") for i, v in enumerate(self.array(key))]

    def opt_items(self, key: str) -> list[Doc] | None:
        value = self.opt_array(key)
        return None if value is None else [Doc(v, f"{self._at(key)}[{i}]") for i, v in enumerate(value)]

    def entries(self, key: str) -> list[tuple[str, Doc]]:
        return [(k, Doc(v, f"{self._at(key)}[{k!r}]")) for k, v in self.obj(key).data.items()]

    def strings(self, key: str) -> tuple[str, ...] | None:
        value = self.opt_array(key)
        if value is None:
            return None
        bad = [v for v in value if not isinstance(v, str)]
        if bad:
            raise SnapshotError(f"expected strings, found {_kind(bad[0])}", self._at(key))
        return tuple(value)


# The shapes of the AWS documents the checks read inside (unknown keys are allowed; known keys, when
# present, must have these types): a saved snapshot is input, and a wrong type is named, not a crash.
STRING_MAP = "string map"
SELECTORS_SHAPE: Any = {
    "EventSelectors": [
        {
            "ReadWriteType": str,
            "IncludeManagementEvents": bool,
            "ExcludeManagementEventSources": [str],
            "DataResources": [{"Type": str, "Values": [str]}],
        }
    ],
    "AdvancedEventSelectors": [
        {
            "Name": str,
            "FieldSelectors": [
                {
                    "Field": str,
                    "Equals": [str],
                    "NotEquals": [str],
                    "StartsWith": [str],
                    "NotStartsWith": [str],
                    "EndsWith": [str],
                    "NotEndsWith": [str],
                }
            ],
        }
    ],
}
METRIC_MATH_SHAPE: Any = {
    "Id": str,
    "Expression": str,
    "MetricStat": {
        "Metric": {"MetricName": str, "Namespace": str, "Dimensions": [{"Name": str, "Value": str}]},
        "Period": int,
        "Stat": str,
        "Unit": str,
    },
    "ReturnData": bool,
}
MULTI_REGION_SHAPE: Any = {
    "MultiRegionKeyType": str,
    "PrimaryKey": {"Arn": str, "Region": str},
    "ReplicaKeys": [{"Arn": str, "Region": str}],
}


def check_shape(value: Any, shape: Any, path: str) -> None:
    """Raise SnapshotError naming the first place where ``value`` does not have ``shape``."""
    if shape is STRING_MAP:
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise SnapshotError(f"expected an object of strings, found {_kind(value)}", path)
    elif isinstance(shape, list):
        if not isinstance(value, list):
            raise SnapshotError(f"expected a list, found {_kind(value)}", path)
        for i, item in enumerate(value):
            check_shape(item, shape[0], f"{path}[{i}]")
    elif isinstance(shape, dict):
        if not isinstance(value, dict):
            raise SnapshotError(f"expected an object, found {_kind(value)}", path)
        for key, sub in shape.items():
            if key in value:
                check_shape(value[key], sub, f"{path}.{key}")
    elif shape is bool:
        if not isinstance(value, bool):
            raise SnapshotError(f"expected true/false, found {_kind(value)}", path)
    elif shape is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SnapshotError(f"expected a whole number, found {_kind(value)}", path)
    elif shape is str and not isinstance(value, str):
        raise SnapshotError(f"expected a string, found {_kind(value)}", path)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _present(pairs: Iterable[tuple[str, Any]]) -> Json:
    """An AWS record: only the fields that were there."""
    return {k: _plain(v) for k, v in pairs if v is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "to_json"):
        return value.to_json()
    return value


def _replace_by(items: Iterable[Any], key: str, new: Any) -> tuple[Any, ...]:
    """The items with any item whose ``key`` equals new's replaced by ``new`` (what a put-by-name does)."""
    return tuple(x for x in items if getattr(x, key) != getattr(new, key)) + (new,)


# --- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiError:
    """A read that failed: the check that needed it says ERROR with this call."""

    service: str
    operation: str
    region: str | None
    resource: str | None
    code: str
    message: str

    def text(self) -> str:
        where = f" in {self.region}" if self.region else ""
        on = f" on {self.resource}" if self.resource else ""
        return f"{self.service}:{self.operation}{where}{on} failed: {self.code}: {self.message}"

    @property
    def not_found(self) -> bool:
        return self.code in ("NotFound", "NotFoundException")

    @property
    def blocked_by_scp(self) -> bool:
        """Denied by an explicit deny in a service control policy: nobody in the account may make this
        call (a region or a service the Organization closed), so there is nothing to judge there."""
        return (
            self.code in ("AccessDenied", "AccessDeniedException") and "service control policy" in self.message.lower()
        )

    def to_json(self) -> Json:
        return {
            "service": self.service,
            "operation": self.operation,
            "region": self.region,
            "resource": self.resource,
            "code": self.code,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, d: Doc) -> ApiError:
        return cls(
            d.string("service"),
            d.string("operation"),
            d.opt_str("region"),
            d.opt_str("resource"),
            d.string("code"),
            d.string("message"),
        )

    @classmethod
    def read(cls, d: Doc, key: str) -> ApiError | None:
        sub = d.opt_obj(key)
        return None if sub is None else cls.from_json(sub)


def _err(error: ApiError | None) -> Json | None:
    return None if error is None else error.to_json()


@dataclass(frozen=True, slots=True)
class Trail:
    arn: str
    name: str | None
    home_region: str | None
    owner_account: str | None
    is_multi_region: bool
    is_organization_trail: bool
    log_group_arn: str | None
    cloudwatch_logs_role_arn: str | None = None
    is_logging: bool | None = None  # GetTrailStatus; None: not read
    status_error: ApiError | None = None
    selectors: Mapping[str, Any] | None = None  # {"EventSelectors": [...], "AdvancedEventSelectors": [...]}
    selectors_error: ApiError | None = None
    listed_only: bool = False  # seen by ListTrails only (a single-Region trail of another region)

    def to_json(self) -> Json:
        out: Json = {
            "arn": self.arn,
            "name": self.name,
            "home_region": self.home_region,
            "owner_account": self.owner_account,
            "is_multi_region": self.is_multi_region,
            "is_organization_trail": self.is_organization_trail,
            "log_group_arn": self.log_group_arn,
            "cloudwatch_logs_role_arn": self.cloudwatch_logs_role_arn,
            "status": None if self.is_logging is None else {"IsLogging": self.is_logging},
            "status_error": _err(self.status_error),
            "selectors": None if self.selectors is None else dict(self.selectors),
            "selectors_error": _err(self.selectors_error),
        }
        if self.listed_only:
            out["listed_only"] = True
        return out

    @classmethod
    def from_json(cls, d: Doc) -> Trail:
        status = d.opt_obj("status")
        return cls(
            arn=d.string("arn"),
            name=d.opt_str("name"),
            home_region=d.opt_str("home_region"),
            owner_account=d.opt_str("owner_account"),
            is_multi_region=bool(d.opt_bool("is_multi_region")),
            is_organization_trail=bool(d.opt_bool("is_organization_trail")),
            log_group_arn=d.opt_str("log_group_arn"),
            cloudwatch_logs_role_arn=d.opt_str("cloudwatch_logs_role_arn"),
            is_logging=None if status is None else bool(status.opt_bool("IsLogging")),
            status_error=ApiError.read(d, "status_error"),
            selectors=d.opt_mapping("selectors", SELECTORS_SHAPE),
            selectors_error=ApiError.read(d, "selectors_error"),
            listed_only=bool(d.opt_bool("listed_only")),
        )

    @property
    def event_selectors(self) -> list[Mapping[str, Any]]:
        return list((self.selectors or {}).get("EventSelectors") or [])

    @property
    def advanced_event_selectors(self) -> list[Mapping[str, Any]]:
        return list((self.selectors or {}).get("AdvancedEventSelectors") or [])


@dataclass(frozen=True, slots=True)
class Trails:
    """The one ``DescribeTrails`` of the audit (read in ``region``)."""

    region: str | None
    items: tuple[Trail, ...] = ()
    error: ApiError | None = None

    def to_json(self) -> Json:
        return {"region": self.region, "items": [t.to_json() for t in self.items], "error": _err(self.error)}

    @classmethod
    def from_json(cls, d: Doc) -> Trails:
        items = d.opt_items("items") or []
        return cls(d.opt_str("region"), tuple(Trail.from_json(t) for t in items), ApiError.read(d, "error"))

    def find(self, arn: str) -> Trail | None:
        return next((t for t in self.items if t.arn == arn), None)


@dataclass(frozen=True, slots=True)
class MetricTransformation:
    metric_name: str | None
    metric_namespace: str | None
    metric_value: str | None = None
    default_value: float | None = None
    dimensions: Mapping[str, str] | None = None  # dimension name -> "$.field" that fills it
    unit: str | None = None

    def to_json(self) -> Json:
        return _present(
            (
                ("metricName", self.metric_name),
                ("metricNamespace", self.metric_namespace),
                ("metricValue", self.metric_value),
                ("defaultValue", self.default_value),
                ("dimensions", None if self.dimensions is None else dict(self.dimensions)),
                ("unit", self.unit),
            )
        )

    @classmethod
    def from_json(cls, d: Doc) -> MetricTransformation:
        return cls(
            d.opt_str("metricName"),
            d.opt_str("metricNamespace"),
            d.opt_str("metricValue"),
            d.opt_num("defaultValue"),
            d.opt_mapping("dimensions", STRING_MAP),
            d.opt_str("unit"),
        )

    @property
    def label(self) -> str:
        return f"{self.metric_namespace}/{self.metric_name}"


@dataclass(frozen=True, slots=True)
class MetricFilter:
    name: str | None
    pattern: str | None
    transformations: tuple[MetricTransformation, ...] = ()
    log_group_name: str | None = None
    field_selection_criteria: str | None = None
    apply_on_transformed_logs: bool | None = None
    has_transformations: bool = True  # False: the record had no metricTransformations key

    def to_json(self) -> Json:
        return _present(
            (
                ("filterName", self.name),
                ("filterPattern", self.pattern),
                ("metricTransformations", self.transformations if self.has_transformations else None),
                ("logGroupName", self.log_group_name),
                ("fieldSelectionCriteria", self.field_selection_criteria),
                ("applyOnTransformedLogs", self.apply_on_transformed_logs),
            )
        )

    @classmethod
    def from_json(cls, d: Doc) -> MetricFilter:
        transformations = d.opt_items("metricTransformations")
        return cls(
            name=d.opt_str("filterName"),
            pattern=d.opt_str("filterPattern"),
            transformations=tuple(MetricTransformation.from_json(m) for m in transformations or []),
            log_group_name=d.opt_str("logGroupName"),
            field_selection_criteria=d.opt_str("fieldSelectionCriteria"),
            apply_on_transformed_logs=d.opt_bool("applyOnTransformedLogs"),
            has_transformations=transformations is not None,
        )


@dataclass(frozen=True, slots=True)
class LogGroup:
    arn: str
    region: str
    account: str | None
    name: str
    filters: tuple[MetricFilter, ...] | None  # None: DescribeMetricFilters failed (see error)
    error: ApiError | None = None

    def to_json(self) -> Json:
        return {
            "arn": self.arn,
            "region": self.region,
            "account": self.account,
            "name": self.name,
            "filters": None if self.filters is None else [f.to_json() for f in self.filters],
            "error": _err(self.error),
        }

    @classmethod
    def from_json(cls, d: Doc) -> LogGroup:
        filters = d.opt_items("filters")
        return cls(
            d.string("arn"),
            d.string("region"),
            d.opt_str("account"),
            d.string("name"),
            None if filters is None else tuple(MetricFilter.from_json(f) for f in filters),
            ApiError.read(d, "error"),
        )

    def with_filter(self, new: MetricFilter) -> LogGroup:
        return replace(self, filters=_replace_by(self.filters or (), "name", new))


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    value: str

    def to_json(self) -> Json:
        return {"Name": self.name, "Value": self.value}

    @classmethod
    def from_json(cls, d: Doc) -> Dimension:
        return cls(d.string("Name"), d.string("Value"))


@dataclass(frozen=True, slots=True)
class Alarm:
    """A metric alarm as DescribeAlarms gives it (the fields the checks read)."""

    name: str
    arn: str | None = None
    metric_name: str | None = None
    namespace: str | None = None
    statistic: str | None = None
    extended_statistic: str | None = None
    dimensions: tuple[Dimension, ...] | None = None
    period: int | None = None
    evaluation_periods: int | None = None
    datapoints_to_alarm: int | None = None
    threshold: float | None = None
    comparison_operator: str | None = None
    actions_enabled: bool | None = None
    alarm_actions: tuple[str, ...] | None = None
    metrics: tuple[Mapping[str, Any], ...] | None = None  # metric math, as AWS gives it
    state_value: str | None = None
    treat_missing_data: str | None = None
    unit: str | None = None

    def to_json(self) -> Json:
        return _present(
            (
                ("AlarmName", self.name),
                ("AlarmArn", self.arn),
                ("MetricName", self.metric_name),
                ("Namespace", self.namespace),
                ("Statistic", self.statistic),
                ("ExtendedStatistic", self.extended_statistic),
                ("Dimensions", self.dimensions),
                ("Period", self.period),
                ("EvaluationPeriods", self.evaluation_periods),
                ("DatapointsToAlarm", self.datapoints_to_alarm),
                ("Threshold", self.threshold),
                ("ComparisonOperator", self.comparison_operator),
                ("ActionsEnabled", self.actions_enabled),
                ("AlarmActions", self.alarm_actions),
                ("Metrics", None if self.metrics is None else [dict(m) for m in self.metrics]),
                ("StateValue", self.state_value),
                ("TreatMissingData", self.treat_missing_data),
                ("Unit", self.unit),
            )
        )

    @classmethod
    def from_json(cls, d: Doc) -> Alarm:
        dims = d.opt_items("Dimensions")
        metrics = d.opt_array("Metrics")
        return cls(
            name=d.string("AlarmName"),
            arn=d.opt_str("AlarmArn"),
            metric_name=d.opt_str("MetricName"),
            namespace=d.opt_str("Namespace"),
            statistic=d.opt_str("Statistic"),
            extended_statistic=d.opt_str("ExtendedStatistic"),
            dimensions=None if dims is None else tuple(Dimension.from_json(x) for x in dims),
            period=d.opt_int("Period"),
            evaluation_periods=d.opt_int("EvaluationPeriods"),
            datapoints_to_alarm=d.opt_int("DatapointsToAlarm"),
            threshold=d.opt_num("Threshold"),
            comparison_operator=d.opt_str("ComparisonOperator"),
            actions_enabled=d.opt_bool("ActionsEnabled"),
            alarm_actions=d.strings("AlarmActions"),
            metrics=None if metrics is None else tuple(_metric_math(m, d, i) for i, m in enumerate(metrics)),
            state_value=d.opt_str("StateValue"),
            treat_missing_data=d.opt_str("TreatMissingData"),
            unit=d.opt_str("Unit"),
        )

    def watched_metrics(self) -> list[tuple[str, str | None]]:
        """(metric name, namespace) pairs the alarm watches, directly or through metric math."""
        return [(w.name, w.namespace) for w in self.watched()]

    def watched(self) -> list[WatchedMetric]:
        """Every metric the alarm asks for: name, namespace, dimensions and unit (metric math included)."""
        if self.metric_name:
            dims = {d.name: d.value for d in self.dimensions or ()}
            return [WatchedMetric(self.metric_name, self.namespace, dims, self.unit)]
        out: list[WatchedMetric] = []
        for m in self.metrics or ():
            stat = m.get("MetricStat") or {}
            metric = stat.get("Metric") or {}
            if metric.get("MetricName"):
                dims = {str(d.get("Name")): str(d.get("Value")) for d in metric.get("Dimensions") or []}
                out.append(WatchedMetric(metric["MetricName"], metric.get("Namespace"), dims, stat.get("Unit")))
        return out


def _metric_math(m: Any, d: Doc, i: int) -> Mapping[str, Any]:
    check_shape(m, METRIC_MATH_SHAPE, f"{d.path}.Metrics[{i}]" if d.path else f"Metrics[{i}]")
    return dict(m)


@dataclass(frozen=True, slots=True)
class WatchedMetric:
    """A metric as an alarm asks for it: CloudWatch matches name, namespace, every dimension and the unit."""

    name: str
    namespace: str | None
    dimensions: Mapping[str, str]
    unit: str | None


@dataclass(frozen=True, slots=True)
class CompositeAlarm:
    """A composite alarm: it notifies its own actions when its rule, over other alarms' states, changes."""

    name: str
    arn: str | None = None
    rule: str | None = None
    actions_enabled: bool | None = None
    alarm_actions: tuple[str, ...] | None = None

    def to_json(self) -> Json:
        return _present(
            (
                ("AlarmName", self.name),
                ("AlarmArn", self.arn),
                ("AlarmRule", self.rule),
                ("ActionsEnabled", self.actions_enabled),
                ("AlarmActions", self.alarm_actions),
            )
        )

    @classmethod
    def from_json(cls, d: Doc) -> CompositeAlarm:
        return cls(
            d.string("AlarmName"),
            d.opt_str("AlarmArn"),
            d.opt_str("AlarmRule"),
            d.opt_bool("ActionsEnabled"),
            d.strings("AlarmActions"),
        )


@dataclass(frozen=True, slots=True)
class RegionAlarms:
    items: tuple[Alarm, ...] | None  # None: DescribeAlarms failed (see error)
    error: ApiError | None = None
    composites: tuple[CompositeAlarm, ...] = ()

    def to_json(self) -> Json:
        out: Json = {
            "items": None if self.items is None else [a.to_json() for a in self.items],
            "error": _err(self.error),
        }
        if self.composites:
            out["composites"] = [c.to_json() for c in self.composites]
        return out

    @classmethod
    def from_json(cls, d: Doc) -> RegionAlarms:
        items = d.opt_items("items")
        return cls(
            None if items is None else tuple(Alarm.from_json(a) for a in items),
            ApiError.read(d, "error"),
            tuple(CompositeAlarm.from_json(c) for c in d.opt_items("composites") or []),
        )

    def with_alarm(self, alarm: Alarm) -> RegionAlarms:
        return replace(self, items=_replace_by(self.items or (), "name", alarm))


@dataclass(frozen=True, slots=True)
class Subscription:
    arn: str | None  # "PendingConfirmation" until the endpoint confirms
    protocol: str | None
    filter_policy: str | None = None  # the subscription's FilterPolicy (JSON text), if any
    filter_policy_scope: str | None = None  # MessageAttributes (the default) or MessageBody
    attributes_error: ApiError | None = None  # GetSubscriptionAttributes failed

    @property
    def confirmed(self) -> bool:
        return (self.arn or "").startswith("arn:")

    def to_json(self) -> Json:
        out: Json = {"SubscriptionArn": self.arn, "Protocol": self.protocol}
        if self.filter_policy is not None:
            out["FilterPolicy"] = self.filter_policy
        if self.filter_policy_scope is not None:
            out["FilterPolicyScope"] = self.filter_policy_scope
        if self.attributes_error is not None:
            out["attributes_error"] = self.attributes_error.to_json()
        return out

    @classmethod
    def from_json(cls, d: Doc) -> Subscription:
        return cls(
            d.opt_str("SubscriptionArn"),
            d.opt_str("Protocol"),
            d.opt_str("FilterPolicy"),
            d.opt_str("FilterPolicyScope"),
            ApiError.read(d, "attributes_error"),
        )


@dataclass(frozen=True, slots=True)
class TopicAttributes:
    kms_master_key_id: str | None = None
    owner: str | None = None
    display_name: str | None = None
    subscriptions_confirmed: str | None = None
    subscriptions_pending: str | None = None
    policy: str | None = None  # the topic's access policy (JSON text)

    def to_json(self) -> Json:
        return _present(
            (
                ("KmsMasterKeyId", self.kms_master_key_id),
                ("Owner", self.owner),
                ("DisplayName", self.display_name),
                ("SubscriptionsConfirmed", self.subscriptions_confirmed),
                ("SubscriptionsPending", self.subscriptions_pending),
                ("Policy", self.policy),
            )
        )

    @classmethod
    def from_json(cls, d: Doc) -> TopicAttributes:
        return cls(
            d.opt_str("KmsMasterKeyId"),
            d.opt_str("Owner"),
            d.opt_str("DisplayName"),
            d.opt_str("SubscriptionsConfirmed"),
            d.opt_str("SubscriptionsPending"),
            d.opt_str("Policy"),
        )


@dataclass(frozen=True, slots=True)
class TopicKey:
    """The KMS key that encrypts a topic: CloudWatch must be able to use it to publish."""

    id: str
    arn: str | None = None
    key_manager: str | None = None
    policy: str | None = None  # the key policy document, as GetKeyPolicy returns it (JSON text)
    error: ApiError | None = None
    key_state: str | None = None  # None: not read (snapshots from before it was)

    def to_json(self) -> Json:
        out: Json = {
            "id": self.id,
            "arn": self.arn,
            "key_manager": self.key_manager,
            "policy": self.policy,
            "error": _err(self.error),
        }
        if self.key_state is not None:
            out["key_state"] = self.key_state
        return out

    @classmethod
    def from_json(cls, d: Doc) -> TopicKey:
        return cls(
            d.string("id"),
            d.opt_str("arn"),
            d.opt_str("key_manager"),
            d.opt_str("policy"),
            ApiError.read(d, "error"),
            d.opt_str("key_state"),
        )


@dataclass(frozen=True, slots=True)
class Topic:
    arn: str
    region: str
    account: str
    attributes: TopicAttributes | None = None  # None: GetTopicAttributes failed
    attributes_error: ApiError | None = None
    subscriptions: tuple[Subscription, ...] | None = None  # None: not listed
    subscriptions_error: ApiError | None = None
    kms_key: TopicKey | None = None

    def to_json(self) -> Json:
        return {
            "arn": self.arn,
            "region": self.region,
            "account": self.account,
            "attributes": None if self.attributes is None else self.attributes.to_json(),
            "attributes_error": _err(self.attributes_error),
            "subscriptions": None if self.subscriptions is None else [s.to_json() for s in self.subscriptions],
            "subscriptions_error": _err(self.subscriptions_error),
            "kms_key": None if self.kms_key is None else self.kms_key.to_json(),
        }

    @classmethod
    def from_json(cls, d: Doc) -> Topic:
        attributes = d.opt_obj("attributes")
        subscriptions = d.opt_items("subscriptions")
        key = d.opt_obj("kms_key")
        return cls(
            arn=d.string("arn"),
            region=d.string("region"),
            account=d.string("account"),
            attributes=None if attributes is None else TopicAttributes.from_json(attributes),
            attributes_error=ApiError.read(d, "attributes_error"),
            subscriptions=None if subscriptions is None else tuple(Subscription.from_json(s) for s in subscriptions),
            subscriptions_error=ApiError.read(d, "subscriptions_error"),
            kms_key=None if key is None else TopicKey.from_json(key),
        )

    @classmethod
    def planned(cls, arn: str) -> Topic:
        """A topic ciswatch will create (for the planner's simulation)."""
        parsed = Arn.parse(arn)
        return cls(arn, parsed.region, parsed.account, TopicAttributes(), None, (), None, None)

    @property
    def kms_master_key_id(self) -> str | None:
        return self.attributes.kms_master_key_id if self.attributes else None

    @property
    def confirmed_subscriptions(self) -> list[Subscription]:
        return [s for s in self.subscriptions or () if s.confirmed]


@dataclass(frozen=True, slots=True)
class KeyMetadata:
    """DescribeKey's KeyMetadata (the fields the checks read; dates as ISO text)."""

    key_id: str | None = None
    arn: str | None = None
    key_manager: str | None = None
    key_spec: str | None = None
    key_usage: str | None = None
    origin: str | None = None
    key_state: str | None = None
    custom_key_store_id: str | None = None
    multi_region: bool | None = None
    multi_region_configuration: Mapping[str, Any] | None = None
    description: str | None = None
    creation_date: str | None = None
    enabled: bool | None = None

    def to_json(self) -> Json:
        return _present(
            (
                ("KeyId", self.key_id),
                ("Arn", self.arn),
                ("KeyManager", self.key_manager),
                ("KeySpec", self.key_spec),
                ("KeyUsage", self.key_usage),
                ("Origin", self.origin),
                ("KeyState", self.key_state),
                ("CustomKeyStoreId", self.custom_key_store_id),
                ("MultiRegion", self.multi_region),
                (
                    "MultiRegionConfiguration",
                    None if self.multi_region_configuration is None else dict(self.multi_region_configuration),
                ),
                ("Description", self.description),
                ("CreationDate", self.creation_date),
                ("Enabled", self.enabled),
            )
        )

    @classmethod
    def from_json(cls, d: Doc) -> KeyMetadata:
        return cls(
            key_id=d.opt_str("KeyId"),
            arn=d.opt_str("Arn"),
            key_manager=d.opt_str("KeyManager"),
            key_spec=d.opt_str("KeySpec"),
            key_usage=d.opt_str("KeyUsage"),
            origin=d.opt_str("Origin"),
            key_state=d.opt_str("KeyState"),
            custom_key_store_id=d.opt_str("CustomKeyStoreId"),
            multi_region=d.opt_bool("MultiRegion"),
            multi_region_configuration=d.opt_mapping("MultiRegionConfiguration", MULTI_REGION_SHAPE),
            description=d.opt_str("Description"),
            creation_date=d.opt_str("CreationDate"),
            enabled=d.opt_bool("Enabled"),
        )

    @property
    def multi_region_key_type(self) -> str | None:
        return (self.multi_region_configuration or {}).get("MultiRegionKeyType")

    @property
    def primary_key(self) -> Mapping[str, Any]:
        return (self.multi_region_configuration or {}).get("PrimaryKey") or {}


@dataclass(frozen=True, slots=True)
class KeyRotation:
    enabled: bool | None = None
    period_days: int | None = None
    next_rotation_date: str | None = None

    def to_json(self) -> Json:
        return _present(
            (
                ("KeyRotationEnabled", self.enabled),
                ("RotationPeriodInDays", self.period_days),
                ("NextRotationDate", self.next_rotation_date),
            )
        )

    @classmethod
    def from_json(cls, d: Doc) -> KeyRotation:
        return cls(d.opt_bool("KeyRotationEnabled"), d.opt_int("RotationPeriodInDays"), d.opt_str("NextRotationDate"))


@dataclass(frozen=True, slots=True)
class KmsKey:
    arn: str | None
    key_id: str
    region: str
    aliases: tuple[str, ...] = ()
    metadata: KeyMetadata | None = None  # None: DescribeKey failed
    describe_error: ApiError | None = None
    rotation: KeyRotation | None = None  # None: not read (rotation cannot apply) or failed
    rotation_error: ApiError | None = None

    def to_json(self) -> Json:
        return {
            "arn": self.arn,
            "key_id": self.key_id,
            "region": self.region,
            "aliases": list(self.aliases),
            "metadata": None if self.metadata is None else self.metadata.to_json(),
            "describe_error": _err(self.describe_error),
            "rotation": None if self.rotation is None else self.rotation.to_json(),
            "rotation_error": _err(self.rotation_error),
        }

    @classmethod
    def from_json(cls, d: Doc) -> KmsKey:
        metadata = d.opt_obj("metadata")
        rotation = d.opt_obj("rotation")
        return cls(
            arn=d.opt_str("arn"),
            key_id=d.string("key_id"),
            region=d.string("region"),
            aliases=d.strings("aliases") or (),
            metadata=None if metadata is None else KeyMetadata.from_json(metadata),
            describe_error=ApiError.read(d, "describe_error"),
            rotation=None if rotation is None else KeyRotation.from_json(rotation),
            rotation_error=ApiError.read(d, "rotation_error"),
        )

    @property
    def display_name(self) -> str:
        return f"{self.aliases[0]} ({self.key_id})" if self.aliases else self.key_id


@dataclass(frozen=True, slots=True)
class KmsRegion:
    keys: tuple[KmsKey, ...] | None  # None: ListKeys failed (see error)
    error: ApiError | None = None
    aliases_error: ApiError | None = None

    def to_json(self) -> Json:
        return {
            "keys": None if self.keys is None else [k.to_json() for k in self.keys],
            "error": _err(self.error),
            "aliases_error": _err(self.aliases_error),
        }

    @classmethod
    def from_json(cls, d: Doc) -> KmsRegion:
        keys = d.opt_items("keys")
        return cls(
            None if keys is None else tuple(KmsKey.from_json(k) for k in keys),
            ApiError.read(d, "error"),
            ApiError.read(d, "aliases_error"),
        )


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    account: str
    partition: str
    regions: tuple[str, ...]
    trails: Trails
    log_groups: Mapping[str, LogGroup] = field(default_factory=dict)
    alarms: Mapping[str, RegionAlarms] = field(default_factory=dict)
    topics: Mapping[str, Topic] = field(default_factory=dict)
    kms: Mapping[str, KmsRegion] = field(default_factory=dict)
    principal: str | None = None
    collected_at: str | None = None
    regions_source: str | None = None
    regions_error: ApiError | None = None
    api_calls: int | None = None
    api_calls_by_operation: Mapping[str, int] | None = None
    duration_s: float | None = None
    # The accounts that own this account's organization trails, as read in the same run (Organization
    # mode): the monitoring controls of this account are judged on the owner's chain.
    trail_owners: Mapping[str, AccountSnapshot] = field(default_factory=dict)
    trail_owner_errors: Mapping[str, str] = field(default_factory=dict)  # owner account -> why it was not read

    # --- JSON ------------------------------------------------------------------------------------

    def to_json(self) -> Json:
        out: Json = {"schema": SCHEMA_VERSION, "account": self.account, "partition": self.partition}
        if self.principal is not None:
            out["principal"] = self.principal
        if self.collected_at is not None:
            out["collected_at"] = self.collected_at
        out["regions"] = list(self.regions)
        if self.regions_source is not None:
            out["regions_source"] = self.regions_source
        out.update(
            regions_error=_err(self.regions_error),
            trails=self.trails.to_json(),
            log_groups={k: v.to_json() for k, v in self.log_groups.items()},
            alarms={k: v.to_json() for k, v in self.alarms.items()},
            topics={k: v.to_json() for k, v in self.topics.items()},
            kms={k: v.to_json() for k, v in self.kms.items()},
        )
        for key in ("api_calls", "api_calls_by_operation", "duration_s"):
            value = getattr(self, key)
            if value is not None:
                out[key] = dict(value) if isinstance(value, Mapping) else value
        if self.trail_owners:
            out["trail_owners"] = {k: v.to_json() for k, v in self.trail_owners.items()}
        if self.trail_owner_errors:
            out["trail_owner_errors"] = dict(self.trail_owner_errors)
        return out

    @classmethod
    def from_json(cls, data: Any) -> AccountSnapshot:
        """Read a snapshot document (raises SnapshotError naming the field that is wrong)."""
        d = Doc(data, "")
        if d.raw("schema") != SCHEMA_VERSION:
            raise SnapshotError(f"not a ciswatch snapshot of schema {SCHEMA_VERSION} ({d.raw('schema')!r})", "schema")
        regions = d.strings("regions")
        if regions is None:
            raise SnapshotError("missing", "regions")
        by_operation = d.opt_mapping("api_calls_by_operation")
        owners = d.opt_mapping("trail_owners") or {}
        owner_errors = d.opt_mapping("trail_owner_errors") or {}
        snapshot = cls(
            account=d.string("account"),
            partition=d.opt_str("partition") or "aws",
            regions=regions,
            trails=Trails.from_json(d.obj("trails")),
            log_groups={k: LogGroup.from_json(v) for k, v in d.entries("log_groups")},
            alarms={k: RegionAlarms.from_json(v) for k, v in d.entries("alarms")},
            topics={k: Topic.from_json(v) for k, v in d.entries("topics")},
            kms={k: KmsRegion.from_json(v) for k, v in d.entries("kms")},
            principal=d.opt_str("principal"),
            collected_at=d.opt_str("collected_at"),
            regions_source=d.opt_str("regions_source"),
            regions_error=ApiError.read(d, "regions_error"),
            api_calls=d.opt_int("api_calls"),
            api_calls_by_operation=None if by_operation is None else dict(by_operation),
            duration_s=d.opt_num("duration_s"),
            trail_owners={k: cls.from_json(v) for k, v in owners.items()},
            trail_owner_errors={str(k): str(v) for k, v in owner_errors.items()},
        )
        snapshot.check_consistency()
        return snapshot

    def check_consistency(self) -> None:
        """Records listed under a key must be the records of that key (a hand-edited file may disagree)."""
        for arn, group in self.log_groups.items():
            if group.arn != arn:
                raise SnapshotError(
                    f"is the log group {group.arn!r}, listed under another ARN", f"log_groups[{arn!r}].arn"
                )
        for arn, topic in self.topics.items():
            if topic.arn != arn:
                raise SnapshotError(f"is the topic {topic.arn!r}, listed under another ARN", f"topics[{arn!r}].arn")
        for region, data in self.kms.items():
            for i, key in enumerate(data.keys or ()):
                if key.region != region:
                    raise SnapshotError(
                        f"is {key.region!r}, not the region it is listed under", f"kms[{region!r}].keys[{i}].region"
                    )

    # --- immutable updates (the remediation planner's simulation) -----------------------------------

    def with_trail(self, trail: Trail) -> AccountSnapshot:
        """The snapshot with ``trail`` added, or replacing the trail of the same ARN in place."""
        items = self.trails.items
        if any(t.arn == trail.arn for t in items):
            items = tuple(trail if t.arn == trail.arn else t for t in items)
        else:
            items = (*items, trail)
        return replace(self, trails=replace(self.trails, items=items))

    def with_log_group(self, group: LogGroup) -> AccountSnapshot:
        return replace(self, log_groups={**self.log_groups, group.arn: group})

    def with_alarm(self, region: str, alarm: Alarm) -> AccountSnapshot:
        current = self.alarms.get(region) or RegionAlarms(items=())
        return replace(self, alarms={**self.alarms, region: current.with_alarm(alarm)})

    def with_topic(self, topic: Topic) -> AccountSnapshot:
        return replace(self, topics={**self.topics, topic.arn: topic})

    def with_key(self, key: KmsKey) -> AccountSnapshot:
        region = self.kms[key.region]
        keys = tuple(key if k.key_id == key.key_id else k for k in region.keys or ())
        return replace(self, kms={**self.kms, key.region: replace(region, keys=keys)})

    # --- lookups -----------------------------------------------------------------------------------

    def find_key(self, region: str | None, arn: str) -> KmsKey | None:
        data = self.kms.get(region or "")
        return next((k for k in (data.keys if data else None) or () if k.arn == arn), None)

    def readable_kms_regions(self) -> set[str]:
        return {r for r, data in self.kms.items() if data.error is None}
