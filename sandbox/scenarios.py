"""Account scenarios built through the AWS API on moto: every broken link of the chain, and the demo's story.

Shared by the tests, the benchmark and the demo; never installed nor deployed.
"""

from __future__ import annotations

from .moto_env import MotoAccount

HOME = "ap-northeast-1"
LG = "CloudTrail/DefaultLogGroup"


def story_account(acct: MotoAccount) -> None:
    """The origin story: a multi-Region trail homed in Tokyo, no filters; keys of every kind."""
    acct.trail(name="main", region=HOME, log_group="CloudTrail/DefaultLogGroup")
    acct.key(HOME, rotation=True, alias="alias/app-data")
    acct.key(HOME, rotation=False, alias="alias/legacy-billing")
    acct.key("eu-west-1", rotation=False, alias="alias/reports-eu")
    acct.key(HOME, spec="RSA_2048", alias="alias/signing")
    acct.key(HOME, spec="HMAC_256", alias="alias/webhook-hmac")
    acct.key(HOME, origin="EXTERNAL", alias="alias/byok")
    acct.aws_managed_key(HOME, "lambda", rotation_reads=False)  # what a Lambda deployment creates


def complete(account: MotoAccount) -> dict:
    """A fully monitored account: trail, every filter and alarm, a topic with a confirmed subscriber."""
    trail = account.trail(region=HOME, log_group=LG)
    topic = account.topic(HOME)
    account.monitor_all(HOME, LG, topic)
    return {"trail": trail, "topic": topic}


def _monitored(account: MotoAccount, skip=(), **trail_kwargs) -> str:
    account.trail(region=HOME, log_group=LG, **trail_kwargs)
    topic = account.topic(HOME)
    account.monitor_all(HOME, LG, topic, skip=skip)
    return topic


def empty(account):
    account.key(HOME, rotation=False, alias="alias/legacy")


def single_region_trail(account):
    account.trail(name="local", region=HOME, multi_region=False)


def not_logging(account):
    _monitored(account, logging_on=False)


def write_only(account):
    _monitored(account, selectors="WriteOnly")


def advanced_write_only(account):
    _monitored(account, selectors="advanced-write-only")


def no_cloudwatch_logs(account):
    account.trail(region=HOME, log_group=None)


def no_filters(account):
    account.trail(region=HOME, log_group=LG)


def filter_misses_an_event(account):
    topic = _monitored(account, skip=("cloudtrail_config_changes",))
    account.monitor(
        "cloudtrail_config_changes",
        HOME,
        LG,
        topic,
        pattern="{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) }",
    )


def filter_without_alarm(account):
    topic = _monitored(account, skip=("nacl_changes",))
    account.monitor("nacl_changes", HOME, LG, topic, alarm=False)


def namespace_mismatch(account):
    topic = _monitored(account, skip=("nacl_changes",))
    account.monitor("nacl_changes", HOME, LG, topic, alarm_namespace="LogMetrics")


def actions_disabled(account):
    topic = _monitored(account, skip=("vpc_changes",))
    account.monitor("vpc_changes", HOME, LG, topic, actions_enabled=False)


def minimum_with_default_value(account):
    # Every other log event publishes the default 0, so the period's Minimum never reaches 1.
    topic = _monitored(account, skip=("vpc_changes",))
    account.monitor("vpc_changes", HOME, LG, topic, statistic="Minimum", default_value=0)


def no_sns_action(account):
    account.trail(region=HOME, log_group=LG)
    account.monitor_all(HOME, LG, None)


def topic_deleted(account):
    topic = _monitored(account)
    account.client("sns", HOME).delete_topic(TopicArn=topic)


def topic_aws_managed_key(account):
    account.trail(region=HOME, log_group=LG)
    account.monitor_all(HOME, LG, account.topic(HOME, kms_key="alias/aws/sns"))


def topic_key_without_cloudwatch(account):
    kms = account.client("kms", HOME)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key)
    account.trail(region=HOME, log_group=LG)
    account.monitor_all(HOME, LG, account.topic(HOME, kms_key=key))


def topic_without_subscriber(account):
    account.trail(region=HOME, log_group=LG)
    account.monitor_all(HOME, LG, account.topic(HOME, subscribe=None))


def key_not_rotating(account):
    _monitored(account)
    account.key(HOME, rotation=False)
    account.key("eu-west-1", rotation=False)
    account.aws_managed_key(HOME, "lambda", rotation_reads=False)


SCENARIOS = [
    empty,
    single_region_trail,
    not_logging,
    write_only,
    advanced_write_only,
    no_cloudwatch_logs,
    no_filters,
    filter_misses_an_event,
    filter_without_alarm,
    namespace_mismatch,
    actions_disabled,
    minimum_with_default_value,
    no_sns_action,
    topic_deleted,
    topic_aws_managed_key,
    topic_key_without_cloudwatch,
    topic_without_subscriber,
    key_not_rotating,
]
