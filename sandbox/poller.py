"""An in-process stand-in for Lambda's SQS event source (moto's needs docker and ignores concurrency).

It receives real messages from the (moto) queue, builds the event Lambda would send — message id,
receive count and all — hands it to the worker's handler, and deletes the messages the handler did
not report as failed, as the event source mapping does with ReportBatchItemFailures. Failed messages
stay on the queue; after their visibility timeout they come back, and after maxReceiveCount SQS
itself moves them to the dead-letter queue.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Invoke = Callable[[dict[str, Any]], Any]


class SandboxCrash(BaseException):  # noqa: N818 - it stands for the runtime dying, not an error to handle
    """Raised inside a handler to stand for its runtime dying (out of memory, killed at its timeout): it
    passes every ``except Exception``, and the poller treats the whole batch as failed, as Lambda does."""


@dataclass
class Drained:
    invocations: int = 0
    handled: int = 0
    failed: list[str] = field(default_factory=list)  # message ids reported as batch item failures


def lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes") or {}),
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(m["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def drain(sqs: Any, queue_url: str, invoke: Invoke, batch_size: int = 1, max_invocations: int = 1000) -> Drained:
    """Feed the worker until the queue has no visible message (in-flight failures are left to SQS)."""
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    region = sqs.meta.region_name
    done = Drained()
    while done.invocations < max_invocations:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=batch_size, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return done
        try:
            response = invoke(lambda_event(messages, attrs["QueueArn"], region))
        except SandboxCrash:
            response = {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in messages]}
        done.invocations += 1
        failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] in failed:
                done.failed.append(m["MessageId"])
            else:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
                done.handled += 1
    return done
