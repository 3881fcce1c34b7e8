"""The producer's side of the contract: what other systems do to send an SMS through the gateway.

Sending is one SQS ``SendMessage`` with a JSON body (see the README's message format); outcomes come
back as events on the stack's bus. This module is the reference implementation of both sides used by
the CLI, the demo and the end-to-end tests.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

LOCAL_ENDPOINTS = Path(__file__).resolve().parent.parent / ".local_stack" / "endpoints.json"


@dataclass(frozen=True)
class Target:
    """Where a gateway lives: its queue and table, and the AWS endpoint (None for real AWS), with the
    keys to use there (None: the environment's)."""

    queue_url: str
    table_name: str | None = None
    bus_name: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    credentials: tuple[str, str] | None = None  # access key id, secret access key

    def client(self, service: str) -> Any:
        session = boto3.Session(region_name=self.region or os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"))
        keys: dict[str, Any] = {}
        if self.credentials:
            keys = {"aws_access_key_id": self.credentials[0], "aws_secret_access_key": self.credentials[1]}
        return session.client(service, endpoint_url=self.endpoint_url, **keys)


def local_target(path: Path = LOCAL_ENDPOINTS) -> Target:
    if not path.exists():
        raise SystemExit(f"no local stack is running ({path} not found): start it with `make run`")
    data = json.loads(path.read_text())
    return Target(
        data["queue_url"],
        data["table_name"],
        data["bus_name"],
        data["aws"],
        data["region"],
        credentials=(data["access_key_id"], data["secret_access_key"]),
    )


def stack_target(stack_name: str) -> Target:
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]["Outputs"]
    }
    return Target(outputs["SendQueueUrl"], outputs.get("TableName"), outputs.get("EventBusName"))


def build_request(
    to: str | list[str],
    text: str,
    *,
    sender: str | None = None,
    request_id: str | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"to": to, "text": text}
    if sender is not None:
        body["from"] = sender
    if request_id is not None:
        body["id"] = request_id
    if meta is not None:
        body["meta"] = meta
    return body


def send_request(target: Target, request: dict[str, Any], sqs: Any = None) -> str:
    """Queue one request; returns the SQS message id (the request id when the body has no ``id``)."""
    sqs = sqs or target.client("sqs")
    response = sqs.send_message(
        QueueUrl=target.queue_url, MessageBody=json.dumps(request, ensure_ascii=False)
    )
    return str(response["MessageId"])


def request_status(target: Target, request_id: str, dynamodb: Any = None) -> list[dict[str, Any]]:
    """Every recipient of a request with its state (one Query on the request's partition)."""
    if not target.table_name:
        raise SystemExit("this target has no table name: use --local or --stack")
    dynamodb = dynamodb or target.client("dynamodb")
    rows = []
    kwargs: dict[str, Any] = {
        "TableName": target.table_name,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :to)",
        "ExpressionAttributeValues": {":pk": {"S": f"REQ#{request_id}"}, ":to": {"S": "TO#"}},
    }
    while True:
        page = dynamodb.query(**kwargs)
        for item in page["Items"]:
            rows.append({key: next(iter(value.values())) for key, value in item.items()})
        if "LastEvaluatedKey" not in page:
            return rows
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
