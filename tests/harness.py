"""Test harness: the stack provisioned from template.yaml on moto's server, and handler invocation.

Handlers are invoked exactly as Lambda would: the function's environment comes from the template
(Globals + its own variables), events are realistic Lambda events, and a Lambda context is passed.
Published events are captured through a real EventBridge rule that targets an SQS queue.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from local_stack.lambda_events import LambdaContext, sqs_event, sqs_record  # noqa: F401 - the tests' imports
from local_stack.tap import EventTap
from local_stack.template import Stack

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_FILES = {
    "SMS Accepted": "sms-accepted.schema.json",
    "SMS Rejected": "sms-rejected.schema.json",
    "SMS Status Changed": "sms-status-changed.schema.json",
    "SMS Received": "sms-received.schema.json",
}


def assert_matches_schema(event: dict[str, Any]) -> None:
    """An event as a consumer gets it: our source, a documented detail-type, a detail that fits its schema."""
    import jsonschema

    assert event["source"] == "asanak.sms"
    schema = json.loads((SCHEMAS / SCHEMA_FILES[event["detail-type"]]).read_text())
    jsonschema.validate(event["detail"], schema, format_checker=jsonschema.FormatChecker())


FUNCTIONS = {"send": "SendFunction", "poll": "PollFunction", "receive": "ReceiveFunction"}


class Harness:
    """One provisioned stack on moto, with helpers to read what the functions did."""

    def __init__(self, stack: Stack, endpoint: str) -> None:
        self.stack = stack
        self.endpoint = endpoint
        self.session = boto3.Session(region_name=stack.region)
        self.tap = EventTap(self.client("sqs"), self.client("events"), self.bus_name)

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

    def events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        """Every event published so far (cumulative), optionally of one detail-type.

        Each event is checked against its JSON Schema in ``schemas/``: every test that looks at events
        is also a contract test.
        """
        for event in self.tap.drain():
            assert_matches_schema(event)
        return [e for e in self.tap.seen if detail_type is None or e["detail-type"] == detail_type]

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
