"""Lambda's side of an invocation, as the local stack, the tests and the benchmarks build it: the
context object and SQS events shaped exactly as Lambda's SQS event source mapping delivers them."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

REGION = "eu-west-1"
ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:send"


@dataclass
class LambdaContext:
    function_name: str = "local-function"
    timeout_s: float = 60.0
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int | None = None  # a fixed remaining time (tests); None counts down from timeout_s
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        if self.remaining_ms is not None:
            return self.remaining_ms
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


def sqs_record(
    body: str, *, message_id: str | None = None, receive_count: int = 1, queue_arn: str = QUEUE_ARN
) -> dict[str, Any]:
    """A record for a message that was never on a queue (tests, benchmarks)."""
    message_id = message_id or str(uuid.uuid4())
    message = {
        "Body": body,
        "MessageId": message_id,
        "ReceiptHandle": f"handle-{message_id}",
        "Attributes": _attributes(receive_count),
        "MD5OfBody": "0" * 32,
    }
    return received_record(message, queue_arn)


def received_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """The record Lambda's SQS event source mapping makes of ``message`` (as ReceiveMessage gives it)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes") or _attributes(1),
        "messageAttributes": message.get("MessageAttributes") or {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def _attributes(receive_count: int) -> dict[str, str]:
    return {
        "ApproximateReceiveCount": str(receive_count),
        "SentTimestamp": "1732000000000",
        "SenderId": "AIDAEXAMPLE",
        "ApproximateFirstReceiveTimestamp": "1732000000001",
    }


def sqs_event(
    *bodies: Any, message_ids: list[str] | None = None, queue_arn: str = QUEUE_ARN
) -> dict[str, Any]:
    """One record per body (a JSON-able object, or a string sent as it is)."""
    records = []
    for index, body in enumerate(bodies):
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        message_id = message_ids[index] if message_ids else None
        records.append(sqs_record(text, message_id=message_id, queue_arn=queue_arn))
    return {"Records": records}
