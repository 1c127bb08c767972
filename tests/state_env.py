"""The state tests' account: monitored, with the findings table, a digest topic and an SQS capture queue."""

import json

import pytest
from moto.backends import get_backend

from chalicelib.settings import Settings
from chalicelib.state.store import StateStore
from chalicelib.state.table import create_table

HOME = "ap-northeast-1"
LG = "CloudTrail/DefaultLogGroup"
TABLE = "ciswatch-findings"


class Raw:
    def __init__(self, body):
        self.body = body

    def stream(self, **kwargs):
        yield self.body


@pytest.fixture
def env(account, moto_url):
    """A monitored account with one rotating key, the state table, the digest topic and an SQS capture queue."""
    trail = account.trail(region=HOME, log_group=LG)
    alarms_topic = account.topic(HOME)
    account.monitor_all(HOME, LG, alarms_topic)
    key = account.key(HOME, rotation=True, alias="alias/app")
    create_table(account.client("dynamodb", HOME), TABLE)
    digest_topic = account.topic(HOME, name="ciswatch-digest", subscribe=None)
    queue = account.sqs_subscriber(digest_topic, HOME)
    settings = Settings(
        regions=(HOME,), endpoint_url=moto_url, table=TABLE, topic_arn=digest_topic, state_region=HOME, max_attempts=3
    )
    return {
        "account": account,
        "settings": settings,
        "queue": queue,
        "key": key,
        "trail": trail,
        "alarms_topic": alarms_topic,
        "topic": digest_topic,
    }


def messages(env) -> list[dict]:
    sqs = env["account"].client("sqs", HOME)
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=env["queue"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages", []
        )
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=env["queue"], ReceiptHandle=m["ReceiptHandle"])


def published(env) -> list[dict]:
    """What SNS accepted, per protocol (moto keeps the raw message; the email body is only visible there)."""
    topic = get_backend("sns")["123456789012"][HOME].topics[env["topic"]]
    return [json.loads(n[1]) for n in topic.sent_notifications]


def store(env) -> StateStore:
    return StateStore(env["account"].client("dynamodb", HOME), TABLE, "123456789012")
