"""One inventory pass over an account -> ``AccountSnapshot``.

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

import itertools
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ..model import (
    AccountSnapshot,
    Alarm,
    ApiError,
    Arn,
    CompositeAlarm,
    KeyMetadata,
    KeyRotation,
    KmsKey,
    KmsRegion,
    LogGroup,
    MetricFilter,
    RegionAlarms,
    Subscription,
    Topic,
    TopicAttributes,
    TopicKey,
    Trail,
    Trails,
)
from ..model.arn import is_sns_topic
from ..model.conventions import SNS_MANAGED_KEY_ALIAS
from ..model.rules import is_enabled_region, rotation_status_worth_reading
from ..model.snapshot import Doc
from ..settings import Settings
from .aws import AwsReader, MalformedResponse
from .errors import InventoryAbort

Progress = Callable[..., None]


def collect_snapshot(
    settings: Settings, reader: AwsReader | None = None, progress: Progress | None = None
) -> AccountSnapshot:
    reader = reader or AwsReader(settings)
    started = time.monotonic()
    report: Progress = progress or (lambda *a, **k: None)
    home = settings.regions[0] if settings.regions else reader.default_region

    identity, err = reader.call("sts", home, "GetCallerIdentity")
    if err:
        raise InventoryAbort(f"cannot identify the account: {err.code}: {err.message}")
    account = identity["Account"]
    principal = Arn.try_parse(identity.get("Arn"))
    partition = principal.partition if principal else "aws"

    regions_error = None
    if settings.regions:
        regions = list(settings.regions)
    else:
        found, regions_error = reader.call("ec2", home, "DescribeRegions", parse=_enabled_regions)
        regions = [home] if regions_error else found
    report("regions", len(regions))

    workers = max(1, min(settings.region_workers, len(regions) + 1))
    kms: dict[str, KmsRegion] = {}
    with (
        ThreadPoolExecutor(max_workers=workers) as regions_pool,
        ThreadPoolExecutor(max_workers=max(1, settings.key_workers)) as keys_pool,
    ):
        listings = {r: regions_pool.submit(_list_kms_region, reader, r) for r in regions}
        monitoring = _collect_monitoring(reader, home, account, regions_pool)
        report("monitoring", 1)
        listed = {region: future.result() for region, future in listings.items()}
        key_futures = _submit_keys_round_robin(reader, listed, tuple(regions), keys_pool)
        for region, listing in listed.items():
            kms[region] = listing.region_with(tuple(f.result() for f in key_futures[region]))
            report("kms", region)

    trails, log_groups, alarms, topics = monitoring
    return AccountSnapshot(
        account=account,
        partition=partition,
        principal=identity.get("Arn"),
        collected_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        regions=tuple(regions),
        regions_source="argument" if settings.regions else "DescribeRegions",
        regions_error=regions_error,
        trails=trails,
        log_groups=log_groups,
        alarms=alarms,
        topics=topics,
        kms=kms,
        api_calls=reader.counter.total,
        api_calls_by_operation=dict(sorted(reader.counter.by_operation.items())),
        duration_s=round(time.monotonic() - started, 3),
    )


# --- monitoring chain -------------------------------------------------------------------------

Monitoring = tuple[Trails, dict[str, LogGroup], dict[str, RegionAlarms], dict[str, Topic]]


def _collect_monitoring(reader: AwsReader, home: str, account: str, pool: ThreadPoolExecutor) -> Monitoring:
    described, err = reader.call("cloudtrail", home, "DescribeTrails", includeShadowTrails=True)
    if err:
        return Trails(home, (), err), {}, {}, {}
    seen: dict[str, dict[str, Any]] = {}
    for t in described.get("trailList", []):
        seen.setdefault(t.get("TrailARN"), t)
    items = [_trail(t) for t in seen.values()]
    if not any(t.is_multi_region for t in items):
        # Only to name the single-Region trails in the finding: DescribeTrails shows those of one region.
        listed, _ = reader.paginate("cloudtrail", home, "ListTrails", "Trails")
        known = {t.arn for t in items}
        for t in listed or []:
            if t.get("TrailARN") not in known:
                items.append(replace(_trail(t), is_multi_region=False, listed_only=True))

    readable = [t for t in items if t.is_multi_region and t.owner_account == account and t.log_group_arn]
    status_futures = {t.arn: pool.submit(_trail_status, reader, t) for t in readable}
    group_futures: dict[str, Future[LogGroup]] = {}
    for t in readable:
        assert t.log_group_arn is not None
        if Arn.try_parse(t.log_group_arn) and Arn.parse(t.log_group_arn).account == account:
            if t.log_group_arn not in group_futures:
                group_futures[t.log_group_arn] = pool.submit(_log_group, reader, t.log_group_arn)
    trails = Trails(home, tuple(status_futures[t.arn].result() if t.arn in status_futures else t for t in items))
    log_groups = {arn: f.result() for arn, f in group_futures.items()}

    alarm_regions = sorted({g.region for g in log_groups.values() if g.filters})
    alarm_futures = {
        r: pool.submit(
            reader.paginate_lists,
            "cloudwatch",
            r,
            "DescribeAlarms",
            {"MetricAlarms": _alarm, "CompositeAlarms": _composite},
            AlarmTypes=["MetricAlarm", "CompositeAlarm"],
        )
        for r in alarm_regions
    }
    alarms: dict[str, RegionAlarms] = {}
    for region, future in alarm_futures.items():
        found, err = future.result()
        alarms[region] = (
            RegionAlarms(None, err)
            if found is None
            else RegionAlarms(tuple(found["MetricAlarms"]), None, tuple(found["CompositeAlarms"]))
        )

    topic_futures = {arn: pool.submit(_topic, reader, arn) for arn in sorted(_alarm_topics(log_groups, alarms))}
    topics = {arn: f.result() for arn, f in topic_futures.items()}
    return trails, log_groups, alarms, topics


def _trail(t: dict[str, Any]) -> Trail:
    arn = t.get("TrailARN") or ""
    parsed = Arn.try_parse(arn)
    return Trail(
        arn=arn,
        name=t.get("Name"),
        home_region=t.get("HomeRegion"),
        owner_account=parsed.account if parsed else None,
        is_multi_region=bool(t.get("IsMultiRegionTrail")),
        is_organization_trail=bool(t.get("IsOrganizationTrail")),
        log_group_arn=t.get("CloudWatchLogsLogGroupArn"),
        cloudwatch_logs_role_arn=t.get("CloudWatchLogsRoleArn"),
    )


def _trail_status(reader: AwsReader, t: Trail) -> Trail:
    region = t.home_region or ""
    status, status_error = reader.call("cloudtrail", region, "GetTrailStatus", resource=t.arn, Name=t.arn)
    sel, selectors_error = reader.call("cloudtrail", region, "GetEventSelectors", resource=t.arn, TrailName=t.arn)
    selectors = None
    if sel is not None:
        selectors = {
            "EventSelectors": sel.get("EventSelectors") or [],
            "AdvancedEventSelectors": sel.get("AdvancedEventSelectors") or [],
        }
    return replace(
        t,
        is_logging=bool(status.get("IsLogging")) if status else None,
        status_error=status_error,
        selectors=selectors,
        selectors_error=selectors_error,
    )


def _log_group(reader: AwsReader, arn: str) -> LogGroup:
    parsed = Arn.parse(arn)
    name = parsed.log_group_name
    filters, err = reader.paginate(
        "logs",
        parsed.region,
        "DescribeMetricFilters",
        "metricFilters",
        resource=arn,
        parse=_metric_filter,
        logGroupName=name,
    )
    return LogGroup(
        arn=arn,
        region=parsed.region,
        account=parsed.account,
        name=name,
        filters=None if filters is None else tuple(filters),
        error=err,
    )


def _metric_filter(f: dict[str, Any]) -> MetricFilter:
    return MetricFilter.from_json(Doc(f, "metricFilters[]"))


def _alarm(a: dict[str, Any]) -> Alarm:
    return Alarm.from_json(Doc(a, "MetricAlarms[]"))


def _composite(a: dict[str, Any]) -> CompositeAlarm:
    return CompositeAlarm.from_json(Doc(a, "CompositeAlarms[]"))


def _alarm_topics(log_groups: dict[str, LogGroup], alarms: dict[str, RegionAlarms]) -> set[str]:
    """The SNS topics notified by alarms on a metric that some audited filter publishes."""
    watched = {
        (group.region, m.metric_name, m.metric_namespace)
        for group in log_groups.values()
        for f in group.filters or ()
        for m in f.transformations
    }
    topics: set[str] = set()
    for region, found in alarms.items():
        relevant = [a for a in found.items or () if any((region, n, ns) in watched for n, ns in a.watched_metrics())]
        for a in relevant:
            topics.update(x for x in a.alarm_actions or () if is_sns_topic(x))
        names = {x for a in relevant for x in (a.name, a.arn) if x}
        for c in found.composites:  # a composite alarm may notify for them
            if any(f'"{n}"' in (c.rule or "") or f"({n})" in (c.rule or "") for n in names):
                topics.update(x for x in c.alarm_actions or () if is_sns_topic(x))
    return topics


def _topic(reader: AwsReader, arn: str) -> Topic:
    parsed = Arn.parse(arn)
    region = parsed.region
    attributes, attributes_error = reader.call(
        "sns", region, "GetTopicAttributes", resource=arn, parse=_topic_attributes, TopicArn=arn
    )
    topic = Topic(arn, region, parsed.account, attributes=attributes, attributes_error=attributes_error)
    if attributes_error and attributes_error.not_found:
        return topic
    subs, subscriptions_error = reader.paginate(
        "sns", region, "ListSubscriptionsByTopic", "Subscriptions", resource=arn, parse=_subscription, TopicArn=arn
    )
    key_id = topic.kms_master_key_id
    return replace(
        topic,
        subscriptions=None if subs is None else tuple(_subscription_attributes(reader, region, s) for s in subs),
        subscriptions_error=subscriptions_error,
        kms_key=_topic_key(reader, region, key_id) if key_id and key_id != SNS_MANAGED_KEY_ALIAS else None,
    )


def _topic_attributes(response: dict[str, Any]) -> TopicAttributes:
    return TopicAttributes.from_json(Doc(response["Attributes"], "Attributes"))


def _subscription(s: dict[str, Any]) -> Subscription:
    return Subscription.from_json(Doc(s, "Subscriptions[]"))


def _subscription_attributes(reader: AwsReader, region: str, s: Subscription) -> Subscription:
    """A confirmed subscription's filter policy (ListSubscriptionsByTopic does not give it)."""
    if not s.confirmed:
        return s
    attributes, err = reader.call("sns", region, "GetSubscriptionAttributes", resource=s.arn, SubscriptionArn=s.arn)
    if err:
        return replace(s, attributes_error=err)
    a = attributes.get("Attributes") or {}
    return replace(s, filter_policy=a.get("FilterPolicy"), filter_policy_scope=a.get("FilterPolicyScope"))


def _topic_key(reader: AwsReader, region: str, key_id: str) -> TopicKey:
    meta, err = reader.call("kms", region, "DescribeKey", resource=key_id, parse=_key_metadata, KeyId=key_id)
    if err:
        return TopicKey(key_id, error=err)
    key = TopicKey(key_id, arn=meta.arn, key_manager=meta.key_manager, key_state=meta.key_state)
    if key.key_manager != "CUSTOMER":
        return key
    policy, err = reader.call(
        "kms", region, "GetKeyPolicy", resource=key.arn, KeyId=meta.key_id or key_id, PolicyName="default"
    )
    return replace(key, policy=policy.get("Policy") if policy else None, error=err)


# --- KMS ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _KmsListing:
    """A region's ListKeys and ListAliases: the keys to read, each with its aliases."""

    keys: tuple[tuple[str, str | None, tuple[str, ...]], ...] | None  # (key id, ARN, aliases); None: not listed
    error: ApiError | None = None
    aliases_error: ApiError | None = None

    def region_with(self, read: tuple[KmsKey, ...]) -> KmsRegion:
        return KmsRegion(None, self.error) if self.keys is None else KmsRegion(read, None, self.aliases_error)


def _list_kms_region(reader: AwsReader, region: str) -> _KmsListing:
    keys, err = reader.paginate("kms", region, "ListKeys", "Keys", parse=_listed_key, Limit=1000)
    if err:
        return _KmsListing(None, err)
    aliases, aliases_error = reader.paginate("kms", region, "ListAliases", "Aliases", Limit=100)
    by_key: dict[str, list[str]] = {}
    for a in aliases or []:
        if isinstance(a, dict) and a.get("TargetKeyId") and isinstance(a.get("AliasName"), str):
            by_key.setdefault(a["TargetKeyId"], []).append(a["AliasName"])
    listed = tuple((key_id, arn, tuple(by_key.get(key_id, []))) for key_id, arn in keys or [])
    return _KmsListing(listed, None, aliases_error)


def _submit_keys_round_robin(
    reader: AwsReader, listed: dict[str, _KmsListing], audited: tuple[str, ...], keys_pool: ThreadPoolExecutor
) -> dict[str, list[Future[KmsKey]]]:
    """Every region's keys, one region after another in turn: the pool's workers spread over the regions,
    so each region's paced reads (a limit per region and operation) run side by side, not one region's
    hundreds of keys holding every worker while it waits for its own pace."""
    futures: dict[str, list[Future[KmsKey]]] = {region: [] for region in listed}
    queues = {region: list(listing.keys or ()) for region, listing in listed.items()}
    for batch in itertools.zip_longest(*[[(r, k) for k in q] for r, q in queues.items()]):
        for entry in batch:
            if entry is None:
                continue
            region, (key_id, arn, aliases) = entry
            futures[region].append(keys_pool.submit(_collect_key, reader, region, key_id, arn, list(aliases), audited))
    return futures


def _collect_key(
    reader: AwsReader,
    region: str,
    key_id: str,
    arn: str | None,
    aliases: list[str],
    audited_regions: tuple[str, ...],
) -> KmsKey:
    key = KmsKey(arn=arn, key_id=key_id, region=region, aliases=tuple(sorted(aliases)))
    meta, err = reader.call("kms", region, "DescribeKey", resource=key.arn, parse=_key_metadata, KeyId=key.key_id)
    if err:
        return replace(key, describe_error=err)
    key = replace(key, metadata=meta)
    if not rotation_status_worth_reading(meta, audited_regions):
        return key
    rotation, rotation_error = reader.call(
        "kms", region, "GetKeyRotationStatus", resource=key.arn, parse=_rotation, KeyId=key.key_id
    )
    return replace(key, rotation=rotation, rotation_error=rotation_error)


def _listed_key(k: dict[str, Any]) -> tuple[str, str | None]:
    if not isinstance(k.get("KeyId"), str):
        raise MalformedResponse(f"a key without a KeyId: {k!r}")
    return k["KeyId"], k.get("KeyArn")


def _key_metadata(response: dict[str, Any]) -> KeyMetadata:
    return KeyMetadata.from_json(Doc(_plain(response["KeyMetadata"]), "KeyMetadata"))


def _rotation(response: dict[str, Any]) -> KeyRotation:
    return KeyRotation.from_json(Doc(_plain(response), "GetKeyRotationStatus"))


def _enabled_regions(response: dict[str, Any]) -> list[str]:
    return sorted(r["RegionName"] for r in response["Regions"] if is_enabled_region(r.get("OptInStatus")))


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return _iso(value)


__all__ = ["ApiError", "InventoryAbort", "collect_snapshot"]
