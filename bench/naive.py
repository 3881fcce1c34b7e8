"""The naive baselines: small, honest implementations of the same jobs, on the same client and servers.

They use the project's own Asanak client (:class:`asanak.client.AsanakClient`) against the same sandbox
and plain boto3 against the same moto server, and do the same work the gateway must do — call the
provider, record what it answered, announce it — the obvious way:

* :class:`NaiveSender` — one ``sendsms`` per recipient, one request after another; each accepted SMS
  stored with one ``PutItem`` and announced with one ``PutEvents``.
* :class:`NaivePoller` — one ``Scan`` of the whole table for messages that are not final, then
  ``msgstatus`` for them 100 msgids per call (the provider's limit), one call after another; each
  status that changed is stored with one ``UpdateItem`` and announced with one ``PutEvents``.
  (Asking one msgid per call would be 100 times the calls and, at 150 ms a call, ~150 s per run for
  1,000 messages; batching by 100 is the stronger baseline, so the run-time ratio measures
  concurrency and the index, not batching.) It writes its own attributes (``naive_status``,
  ``naive_checked_at``), so it leaves the gateway's state as it found it.

Neither has the gateway's guarantees (exactly once, conditional writes, retries): they are the floor of
what any implementation must do, not a straw man.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from asanak.batching import MAX_BATCH
from asanak.client import AsanakClient, chunked
from asanak.numbers import InvalidNumberError, normalize_number


class NaiveSender:
    def __init__(
        self, *, client: AsanakClient, dynamodb: Any, events: Any, table: str, bus: str, default_sender: str
    ) -> None:
        self._client = client
        self._dynamodb = dynamodb
        self._events = events
        self._table = table
        self._bus = bus
        self._default_sender = default_sender

    def handle(self, event: dict[str, Any]) -> int:
        """Send every record of an SQS event; returns the number of SMS accepted."""
        accepted = 0
        for record in event["Records"]:
            body = json.loads(record["body"])
            recipients = body["to"] if isinstance(body["to"], list) else [body["to"]]
            sender = body.get("from") or self._default_sender
            request_id = body.get("id") or record["messageId"]
            for raw in recipients:
                try:
                    to = normalize_number(raw)
                except InvalidNumberError:
                    continue
                [msgid] = self._client.send_sms(sender, [to], body["text"])
                self._store(request_id, to, sender, msgid)
                self._announce(request_id, to, msgid)
                accepted += 1
        return accepted

    def _store(self, request_id: str, to: str, sender: str, msgid: str) -> None:
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"NAIVE#{request_id}"},
                "sk": {"S": f"TO#{to}"},
                "to": {"S": to},
                "sender": {"S": sender},
                "msgid": {"S": msgid},
                "state": {"S": "naive-accepted"},
                "created_at": {"S": datetime.now(UTC).isoformat()},
            },
        )

    def _announce(self, request_id: str, to: str, msgid: str) -> None:
        self._events.put_events(
            Entries=[
                {
                    "Source": "bench.naive",
                    "DetailType": "Naive SMS Accepted",
                    "Detail": json.dumps({"request_id": request_id, "to": to, "msgid": msgid}),
                    "EventBusName": self._bus,
                }
            ]
        )


class NaivePoller:
    def __init__(self, *, client: AsanakClient, dynamodb: Any, events: Any, table: str, bus: str) -> None:
        self._client = client
        self._dynamodb = dynamodb
        self._events = events
        self._table = table
        self._bus = bus

    def run(self) -> int:
        """One poll run; returns the number of messages asked about."""
        pending = self._pending()
        for chunk in chunked(pending, MAX_BATCH):
            by_msgid = {item["msgid"]["S"]: item for item in chunk}
            for status in self._client.msg_status(list(by_msgid)):
                item = by_msgid.get(status.msgid)
                if item is not None and item.get("naive_status", {}).get("N") != str(status.code):
                    self._record(item, status.code)
                    self._announce(item, status.code)
        return len(pending)

    def _pending(self) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "#state = :accepted AND attribute_exists(msgid)",
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": {":accepted": {"S": "accepted"}},
        }
        found: list[dict[str, Any]] = []
        while True:
            page = self._dynamodb.scan(**kwargs)
            found.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _record(self, item: dict[str, Any], code: int) -> None:
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET naive_status = :status, naive_checked_at = :now",
            ExpressionAttributeValues={
                ":status": {"N": str(code)},
                ":now": {"S": datetime.now(UTC).isoformat()},
            },
        )

    def _announce(self, item: dict[str, Any], code: int) -> None:
        detail = {"msgid": item["msgid"]["S"], "to": item["to"]["S"], "status": code}
        self._events.put_events(
            Entries=[
                {
                    "Source": "bench.naive",
                    "DetailType": "Naive SMS Status Changed",
                    "Detail": json.dumps(detail),
                    "EventBusName": self._bus,
                }
            ]
        )
