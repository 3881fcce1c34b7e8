"""Test harness: the stack provisioned from template.yaml on moto's server, and handler invocation.

Handlers are invoked exactly as Lambda would: the function's environment comes from the template
(Globals + its own variables), events are realistic Lambda events, and a Lambda context is passed.
Published events are captured through a real EventBridge rule that targets an SQS queue.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3

from local_stack.template import Stack

FUNCTIONS = {"send": "SendFunction", "poll": "PollFunction", "receive": "ReceiveFunction"}


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def sqs_record(
    body: str,
    *,
    message_id: str | None = None,
    receive_count: int = 1,
    queue_arn: str = "arn:aws:sqs:eu-west-1:123456789012:send",
) -> dict[str, Any]:
    message_id = message_id or str(uuid.uuid4())
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1732000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1732000000001",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "eu-west-1",
    }


def sqs_event(*bodies: Any, message_ids: list[str] | None = None) -> dict[str, Any]:
    records = []
    for index, body in enumerate(bodies):
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        records.append(sqs_record(text, message_id=message_ids[index] if message_ids else None))
    return {"Records": records}


class Harness:
    """One provisioned stack on moto, with helpers to read what the functions did."""

    def __init__(self, stack: Stack, endpoint: str) -> None:
        self.stack = stack
        self.endpoint = endpoint
        self.session = boto3.Session(region_name=stack.region)
        self._events_seen: list[dict[str, Any]] = []
        self.capture_url = self._capture_events()

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint)

    @property
    def table_name(self) -> str:
        return self.stack.physical["MessagesTable"]

    @property
    def bus_name(self) -> str:
        return self.stack.physical["EventBus"]

    @property
    def secret_arn(self) -> str:
        return self.stack.physical["AsanakSecret"]

    @property
    def inbound_token(self) -> str:
        return self.stack.secret_value["inbound_token"]

    def environment(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for logical in FUNCTIONS.values():
            env.update(self.stack.function_env(logical))
        return env

    def _capture_events(self) -> str:
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=f"{self.stack.name}-captured-events")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = self.client("events")
        events.put_rule(
            Name="capture-all",
            EventBusName=self.bus_name,
            EventPattern=json.dumps({"source": ["asanak.sms"]}),
        )
        events.put_targets(Rule="capture-all", EventBusName=self.bus_name, Targets=[{"Id": "q", "Arn": arn}])
        return url

    def events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        """Every event published so far (cumulative), optionally of one detail-type."""
        sqs = self.client("sqs")
        while True:
            batch = sqs.receive_message(QueueUrl=self.capture_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                break
            for message in batch:
                self._events_seen.append(json.loads(message["Body"]))
            sqs.delete_message_batch(
                QueueUrl=self.capture_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )
        return [e for e in self._events_seen if detail_type is None or e["detail-type"] == detail_type]

    def details(self, detail_type: str) -> list[dict[str, Any]]:
        return [event["detail"] for event in self.events(detail_type)]

    def put_secret(self, **values: str) -> None:
        secret = dict(self.stack.secret_value)
        secret.update(values)
        self.client("secretsmanager").put_secret_value(
            SecretId=self.secret_arn, SecretString=json.dumps(secret)
        )
        self.stack.secret_value = secret

    def items(self, prefix: str = "") -> list[dict[str, Any]]:
        """Every table item whose pk starts with ``prefix`` (a scan: tests only)."""
        paginator = self.client("dynamodb").get_paginator("scan")
        found = []
        for page in paginator.paginate(TableName=self.table_name):
            for item in page["Items"]:
                if item["pk"]["S"].startswith(prefix):
                    found.append(item)
        return found
