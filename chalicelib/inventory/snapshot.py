"""The AccountSnapshot: what one inventory pass read, as plain JSON data.

Keys (all present; a ``*_error``/``error`` is an ApiError dict or None):
  schema, account, partition, principal, collected_at, regions, regions_source, regions_error,
  trails {region, items[{arn, name, home_region, owner_account, is_multi_region, is_organization_trail,
          log_group_arn, status{IsLogging}, status_error, selectors{EventSelectors, AdvancedEventSelectors},
          selectors_error}], error},
  log_groups {arn: {arn, region, account, name, filters[...] | None, error}},
  alarms {region: {items[...] | None, error}},
  topics {arn: {arn, region, account, attributes, attributes_error, subscriptions, subscriptions_error,
          kms_key{id, arn, key_manager, policy, error} | None}},
  kms {region: {keys[{arn, key_id, region, aliases, metadata, describe_error, rotation, rotation_error}] | None,
       error, aliases_error}},
  api_calls, api_calls_by_operation, duration_s
"""

from __future__ import annotations

import json

SCHEMA_VERSION = 1
REQUIRED = ("schema", "account", "regions", "trails", "log_groups", "alarms", "topics", "kms")


class SnapshotError(ValueError):
    pass


def save_snapshot(snapshot: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(snapshot, fh, indent=1, sort_keys=True)


def load_snapshot(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
        raise SnapshotError(f"{path} is not a ciswatch snapshot (schema {SCHEMA_VERSION})")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise SnapshotError(f"snapshot {path} lacks {', '.join(missing)}")
    return data


def arn_parts(arn: str) -> dict:
    parts = (arn or "").split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return {"partition": None, "service": None, "region": None, "account": None, "resource": arn}
    return {"partition": parts[1], "service": parts[2], "region": parts[3], "account": parts[4], "resource": parts[5]}


def log_group_name(arn: str) -> str:
    resource = arn_parts(arn)["resource"] or ""
    name = resource[len("log-group:") :] if resource.startswith("log-group:") else resource
    return name[:-2] if name.endswith(":*") else name


def alarm_metrics(alarm: dict) -> list[tuple]:
    """(metric name, namespace) pairs an alarm watches, directly or through metric math."""
    if alarm.get("MetricName"):
        return [(alarm["MetricName"], alarm.get("Namespace"))]
    out = []
    for m in alarm.get("Metrics") or []:
        metric = (m.get("MetricStat") or {}).get("Metric") or {}
        if metric.get("MetricName"):
            out.append((metric["MetricName"], metric.get("Namespace")))
    return out


def error_text(err: dict) -> str:
    where = f" in {err['region']}" if err.get("region") else ""
    on = f" on {err['resource']}" if err.get("resource") else ""
    return f"{err['service']}:{err['operation']}{where}{on} failed: {err['code']}: {err['message']}"
