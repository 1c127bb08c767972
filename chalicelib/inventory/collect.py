"""One inventory pass over an account -> ``AccountSnapshot`` (plain JSON-serialisable data).

Only what the checks need is read, each thing once:
- identity and enabled regions;
- trails: one ``DescribeTrails`` with shadow trails (every multi-Region trail of the account is
  visible from any region), then status and selectors of each multi-Region trail this account owns
  that delivers to CloudWatch Logs, in its home region;
- metric filters of those log groups, alarms of their regions, and the SNS topics those alarms
  notify (attributes, subscriptions, and the policy of a customer key that encrypts one);
- KMS per region: keys, aliases, ``DescribeKey`` per key, ``GetKeyRotationStatus`` only where
  rotation can apply.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from .aws import AwsReader
from .snapshot import SCHEMA_VERSION, alarm_metrics, arn_parts, log_group_name

OPTED_IN = ("opt-in-not-required", "opted-in")


class InventoryAbort(Exception):
    """The audit cannot run at all (no credentials, identity unknown)."""


def collect_snapshot(settings, reader: AwsReader | None = None, progress=None) -> dict:
    reader = reader or AwsReader(settings)
    started = time.monotonic()
    progress = progress or (lambda *a, **k: None)
    home = settings.regions[0] if settings.regions else reader.default_region

    identity, err = reader.call("sts", home, "GetCallerIdentity")
    if err:
        raise InventoryAbort(f"cannot identify the account: {err['code']}: {err['message']}")
    account = identity["Account"]
    partition = arn_parts(identity.get("Arn", ""))["partition"] or "aws"

    snapshot = {
        "schema": SCHEMA_VERSION,
        "account": account,
        "partition": partition,
        "principal": identity.get("Arn"),
        "collected_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "regions": [],
        "regions_source": "argument" if settings.regions else "DescribeRegions",
        "regions_error": None,
        "trails": {"region": home, "items": [], "error": None},
        "log_groups": {},
        "alarms": {},
        "topics": {},
        "kms": {},
    }

    if settings.regions:
        regions = list(settings.regions)
    else:
        found, err = reader.call("ec2", home, "DescribeRegions")
        if err:
            snapshot["regions_error"] = err
            regions = [home]
        else:
            regions = sorted(r["RegionName"] for r in found["Regions"] if r.get("OptInStatus", OPTED_IN[0]) in OPTED_IN)
    snapshot["regions"] = regions
    progress("regions", len(regions))

    workers = max(1, min(settings.region_workers, len(regions) + 1))
    with (
        ThreadPoolExecutor(max_workers=workers) as regions_pool,
        ThreadPoolExecutor(max_workers=max(1, settings.key_workers)) as keys_pool,
    ):
        kms_futures = {r: regions_pool.submit(_collect_kms_region, reader, r, regions, keys_pool) for r in regions}
        _collect_monitoring(reader, snapshot, home, account, regions_pool)
        progress("monitoring", 1)
        for region, future in kms_futures.items():
            snapshot["kms"][region] = future.result()
            progress("kms", region)

    snapshot["api_calls"] = reader.counter.total
    snapshot["api_calls_by_operation"] = dict(sorted(reader.counter.by_operation.items()))
    snapshot["duration_s"] = round(time.monotonic() - started, 3)
    return snapshot


# --- monitoring chain -------------------------------------------------------------------------


def _collect_monitoring(reader, snapshot, home, account, pool) -> None:
    trails, err = reader.call("cloudtrail", home, "DescribeTrails", includeShadowTrails=True)
    if err:
        snapshot["trails"]["error"] = err
        return
    seen = {}
    for t in trails.get("trailList", []):
        seen.setdefault(t.get("TrailARN"), t)
    items = [_trail_record(t, account) for t in seen.values()]
    snapshot["trails"]["items"] = items
    if not any(t["is_multi_region"] for t in items):
        # Only to name the single-Region trails in the finding: DescribeTrails shows those of one region.
        listed, err = reader.paginate("cloudtrail", home, "ListTrails", "Trails")
        known = {t["arn"] for t in items}
        for t in listed or []:
            if t.get("TrailARN") not in known:
                items.append({**_trail_record(t, account), "is_multi_region": False, "listed_only": True})

    readable = [t for t in items if t["is_multi_region"] and t["owner_account"] == account and t["log_group_arn"]]
    futures = []
    for t in readable:
        futures.append(pool.submit(_trail_status, reader, t))
    groups = {}
    for t in readable:
        lg = arn_parts(t["log_group_arn"])
        if lg["account"] == account and t["log_group_arn"] not in groups:
            groups[t["log_group_arn"]] = pool.submit(_log_group_filters, reader, t["log_group_arn"])
    for f in futures:
        f.result()
    for arn, f in groups.items():
        snapshot["log_groups"][arn] = f.result()

    alarm_regions = sorted({g["region"] for g in snapshot["log_groups"].values() if g["filters"]})
    alarm_futures = {
        r: pool.submit(reader.paginate, "cloudwatch", r, "DescribeAlarms", "MetricAlarms", AlarmTypes=["MetricAlarm"])
        for r in alarm_regions
    }
    for region, f in alarm_futures.items():
        alarms, err = f.result()
        snapshot["alarms"][region] = {
            "items": [_alarm_record(a) for a in alarms] if alarms is not None else None,
            "error": err,
        }

    topics = sorted(_alarm_topics(snapshot))
    topic_futures = {arn: pool.submit(_topic_record, reader, arn) for arn in topics}
    for arn, f in topic_futures.items():
        snapshot["topics"][arn] = f.result()


def _trail_record(t: dict, account: str) -> dict:
    arn = t.get("TrailARN") or ""
    return {
        "arn": arn,
        "name": t.get("Name"),
        "home_region": t.get("HomeRegion"),
        "owner_account": arn_parts(arn)["account"],
        "is_multi_region": bool(t.get("IsMultiRegionTrail")),
        "is_organization_trail": bool(t.get("IsOrganizationTrail")),
        "log_group_arn": t.get("CloudWatchLogsLogGroupArn"),
        "cloudwatch_logs_role_arn": t.get("CloudWatchLogsRoleArn"),
        "status": None,
        "status_error": None,
        "selectors": None,
        "selectors_error": None,
    }


def _trail_status(reader, t: dict) -> None:
    status, err = reader.call("cloudtrail", t["home_region"], "GetTrailStatus", resource=t["arn"], Name=t["arn"])
    t["status"] = {"IsLogging": bool(status.get("IsLogging"))} if status else None
    t["status_error"] = err
    sel, err = reader.call("cloudtrail", t["home_region"], "GetEventSelectors", resource=t["arn"], TrailName=t["arn"])
    if sel is not None:
        t["selectors"] = {
            "EventSelectors": sel.get("EventSelectors") or [],
            "AdvancedEventSelectors": sel.get("AdvancedEventSelectors") or [],
        }
    t["selectors_error"] = err


def _log_group_filters(reader, arn: str) -> dict:
    parts = arn_parts(arn)
    name = log_group_name(arn)
    filters, err = reader.paginate(
        "logs", parts["region"], "DescribeMetricFilters", "metricFilters", resource=arn, logGroupName=name
    )
    keep = (
        "filterName",
        "filterPattern",
        "metricTransformations",
        "logGroupName",
        "fieldSelectionCriteria",
        "applyOnTransformedLogs",
    )
    return {
        "arn": arn,
        "region": parts["region"],
        "account": parts["account"],
        "name": name,
        "filters": [{k: f[k] for k in keep if k in f} for f in filters] if filters is not None else None,
        "error": err,
    }


def _alarm_record(a: dict) -> dict:
    keep = (
        "AlarmName",
        "AlarmArn",
        "MetricName",
        "Namespace",
        "Statistic",
        "ExtendedStatistic",
        "Dimensions",
        "Period",
        "EvaluationPeriods",
        "DatapointsToAlarm",
        "Threshold",
        "ComparisonOperator",
        "ActionsEnabled",
        "AlarmActions",
        "Metrics",
        "StateValue",
    )
    return {k: a[k] for k in keep if k in a}


def _alarm_topics(snapshot) -> set:
    watched = set()
    for group in snapshot["log_groups"].values():
        for f in group["filters"] or []:
            for m in f.get("metricTransformations", []):
                watched.add((group["region"], m.get("metricName"), m.get("metricNamespace")))
    topics = set()
    for region, alarms in snapshot["alarms"].items():
        for a in alarms["items"] or []:
            if any((region, name, ns) in watched for name, ns in alarm_metrics(a)):
                topics.update(
                    x for x in a.get("AlarmActions", []) if x.startswith("arn:") and arn_parts(x)["service"] == "sns"
                )
    return topics


def _topic_record(reader, arn: str) -> dict:
    parts = arn_parts(arn)
    region = parts["region"]
    record = {
        "arn": arn,
        "region": region,
        "account": parts["account"],
        "attributes": None,
        "attributes_error": None,
        "subscriptions": None,
        "subscriptions_error": None,
        "kms_key": None,
    }
    attrs, err = reader.call("sns", region, "GetTopicAttributes", resource=arn, TopicArn=arn)
    record["attributes_error"] = err
    if err and err["code"] in ("NotFound", "NotFoundException"):
        return record
    if attrs is not None:
        keep = ("KmsMasterKeyId", "Owner", "DisplayName", "SubscriptionsConfirmed", "SubscriptionsPending")
        record["attributes"] = {k: v for k, v in attrs.get("Attributes", {}).items() if k in keep}
    subs, err = reader.paginate("sns", region, "ListSubscriptionsByTopic", "Subscriptions", resource=arn, TopicArn=arn)
    record["subscriptions"] = (
        [{"SubscriptionArn": s.get("SubscriptionArn"), "Protocol": s.get("Protocol")} for s in subs]
        if subs is not None
        else None
    )
    record["subscriptions_error"] = err
    key_id = (record["attributes"] or {}).get("KmsMasterKeyId")
    if key_id and key_id != "alias/aws/sns":
        record["kms_key"] = _topic_key(reader, region, key_id)
    return record


def _topic_key(reader, region: str, key_id: str) -> dict:
    key = {"id": key_id, "arn": None, "key_manager": None, "policy": None, "error": None}
    described, err = reader.call("kms", region, "DescribeKey", resource=key_id, KeyId=key_id)
    if err:
        key["error"] = err
        return key
    meta = described["KeyMetadata"]
    key["arn"] = meta.get("Arn")
    key["key_manager"] = meta.get("KeyManager")
    if key["key_manager"] == "CUSTOMER":
        policy, err = reader.call(
            "kms", region, "GetKeyPolicy", resource=key["arn"], KeyId=meta["KeyId"], PolicyName="default"
        )
        key["policy"] = policy.get("Policy") if policy else None
        key["error"] = err
    return key


# --- KMS ------------------------------------------------------------------------------------

DESCRIBE_KEEP = (
    "KeyId",
    "Arn",
    "KeyManager",
    "KeySpec",
    "KeyUsage",
    "Origin",
    "KeyState",
    "CustomKeyStoreId",
    "MultiRegion",
    "MultiRegionConfiguration",
    "Description",
    "CreationDate",
    "Enabled",
)


def rotation_can_apply(meta: dict, audited_regions) -> bool:
    """Whether GetKeyRotationStatus means anything for this key (and is worth a call)."""
    if meta.get("KeyManager") != "CUSTOMER" or meta.get("KeySpec") != "SYMMETRIC_DEFAULT":
        return False
    if meta.get("Origin") != "AWS_KMS" or meta.get("CustomKeyStoreId") or meta.get("KeyState") != "Enabled":
        return False
    mrc = meta.get("MultiRegionConfiguration") or {}
    if mrc.get("MultiRegionKeyType") == "REPLICA":
        primary_region = (mrc.get("PrimaryKey") or {}).get("Region")
        return primary_region not in audited_regions  # else the primary's own finding answers for it
    return True


def _collect_kms_region(reader, region: str, audited_regions, keys_pool) -> dict:
    out = {"keys": None, "error": None, "aliases_error": None}
    keys, err = reader.paginate("kms", region, "ListKeys", "Keys", Limit=1000)
    if err:
        out["error"] = err
        return out
    aliases, aerr = reader.paginate("kms", region, "ListAliases", "Aliases", Limit=100)
    out["aliases_error"] = aerr
    by_key = {}
    for a in aliases or []:
        if a.get("TargetKeyId"):
            by_key.setdefault(a["TargetKeyId"], []).append(a["AliasName"])
    futures = [
        keys_pool.submit(_collect_key, reader, region, k, by_key.get(k["KeyId"], []), audited_regions) for k in keys
    ]
    out["keys"] = [f.result() for f in futures]
    return out


def _collect_key(reader, region: str, listed: dict, aliases, audited_regions) -> dict:
    key = {
        "arn": listed.get("KeyArn"),
        "key_id": listed["KeyId"],
        "region": region,
        "aliases": sorted(aliases),
        "metadata": None,
        "describe_error": None,
        "rotation": None,
        "rotation_error": None,
    }
    described, err = reader.call("kms", region, "DescribeKey", resource=key["arn"], KeyId=listed["KeyId"])
    if err:
        key["describe_error"] = err
        return key
    meta = described["KeyMetadata"]
    key["metadata"] = {k: _plain(meta[k]) for k in DESCRIBE_KEEP if k in meta}
    if rotation_can_apply(meta, audited_regions):
        status, err = reader.call("kms", region, "GetKeyRotationStatus", resource=key["arn"], KeyId=listed["KeyId"])
        if status is not None:
            key["rotation"] = {
                k: _plain(status[k])
                for k in ("KeyRotationEnabled", "RotationPeriodInDays", "NextRotationDate")
                if k in status
            }
        key["rotation_error"] = err
    return key


def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
