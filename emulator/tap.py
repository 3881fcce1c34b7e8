"""Watch what a stack publishes: a rule on its bus delivering every ``asanak.sms`` event to a queue.

The same mechanism a consumer would use (an EventBridge rule with an SQS target); used by the demo,
the integration tests and the end-to-end tests to see events exactly as other systems get them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any


class EventTap:
    def __init__(
        self, sqs: Any, events: Any, bus_name: str, pattern: Mapping[str, Any] | None = None
    ) -> None:
        """Tap every ``asanak.sms`` event, or those that also match ``pattern`` (an EventBridge pattern)."""
        self._sqs = sqs
        self._events = events
        self._bus_name = bus_name
        self.name = name = f"tap-{uuid.uuid4().hex[:8]}"
        self.queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        rule = {**(pattern or {}), "source": ["asanak.sms"]}
        events.put_rule(Name=name, EventBusName=bus_name, EventPattern=json.dumps(rule))
        events.put_targets(Rule=name, EventBusName=bus_name, Targets=[{"Id": "tap", "Arn": arn}])
        self.seen: list[dict[str, Any]] = []

    def close(self) -> None:
        """Remove the rule and its queue: a tap nobody drains would fill up with every event published."""
        self._events.remove_targets(Rule=self.name, EventBusName=self._bus_name, Ids=["tap"])
        self._events.delete_rule(Name=self.name, EventBusName=self._bus_name)
        self._sqs.delete_queue(QueueUrl=self.queue_url)

    def drain(self) -> list[dict[str, Any]]:
        """Fetch what arrived since the last call; returns the new events (also kept in ``seen``)."""
        new: list[dict[str, Any]] = []
        while True:
            batch = self._sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                break
            new.extend(json.loads(message["Body"]) for message in batch)
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )
        self.seen.extend(new)
        return new

    def of(self, detail_type: str) -> list[dict[str, Any]]:
        self.drain()
        return [event["detail"] for event in self.seen if event["detail-type"] == detail_type]

    def wait_for(self, predicate: Any, timeout: float, interval: float = 0.2) -> bool:
        """Drain until ``predicate(self)`` is true or ``timeout`` seconds pass."""
        return drain_until(self, predicate, timeout=timeout, interval=interval)


def drain_until(watch: Any, predicate: Any, *, timeout: float, interval: float = 0.2) -> bool:
    """Call ``watch.drain()`` until ``predicate(watch)`` holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        watch.drain()
        if predicate(watch):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
