"""The local stack as its users see it: a process, its endpoints, the bus, the queue and the sandbox.

Nothing here imports the gateway's handlers or touches moto directly. The stack runs as a subprocess
(``python -m local_stack``, as ``make run`` starts it); requests go in through SQS with
:mod:`smsctl.producer`, outcomes come back from the bus through an :class:`EventTap` (a rule on the
bus to a queue of our own), and the Asanak sandbox is driven and counted through its HTTP control
plane under ``/_sandbox/``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from emulator.tap import EventTap, drain_until
from tests.harness import SCHEMA_FILES, SCHEMAS

SOURCE = "asanak.sms"


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``predicate`` until it holds; fail the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# -- the stack process ---------------------------------------------------------------------------------
# -- the bus ----------------------------------------------------------------------------------------
def _validators() -> dict[str, Draft202012Validator]:
    validators = {}
    for detail_type, file_name in SCHEMA_FILES.items():
        schema = json.loads((SCHEMAS / file_name).read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        validators[detail_type] = Draft202012Validator(schema, format_checker=FormatChecker())
    return validators


class BusWatch:
    """What the stack publishes, as a consumer sees it: one or more :class:`EventTap` on its bus.

    ``patterns`` narrow what is watched (EventBridge event patterns, e.g. some detail-types; an event
    matching any of them is seen); without them, every event is. Every event seen is held to the
    published contract: source ``asanak.sms``, a documented detail-type and a detail valid against
    its schema in ``schemas/`` (formats such as ``date-time`` included).

    ``split_by_request_id`` spreads the events over ten taps per pattern by the last character of the
    detail's ``request_id`` (so only events whose request id ends in a digit are seen). moto's SQS
    spends time in proportion to the messages a queue holds on every message sent to or received
    from it: one queue taking thousands of events falls behind quadratically, ten smaller ones keep
    up.

    Reading (``of``, ``about``) never fetches: ``drain`` and ``wait_for`` do.
    """

    def __init__(
        self,
        sqs: Any,
        events: Any,
        bus_name: str,
        *patterns: dict[str, Any],
        split_by_request_id: bool = False,
    ) -> None:
        rules = list(patterns) or [{}]
        if split_by_request_id:
            rules = [
                {**rule, "detail": {**rule.get("detail", {}), "request_id": [{"suffix": digit}]}}
                for rule in rules
                for digit in "0123456789"
            ]
        self._taps = [EventTap(sqs, events, bus_name, rule) for rule in rules]
        self._validators = _validators()
        self.seen: list[dict[str, Any]] = []

    def close(self) -> None:
        for tap in self._taps:
            tap.close()

    def drain(self) -> list[dict[str, Any]]:
        """Fetch and check what arrived since the last call (also kept in ``seen``)."""
        new = [event for tap in self._taps for event in tap.drain()]
        for event in new:
            assert event["source"] == SOURCE, event
            detail_type = event["detail-type"]
            assert detail_type in self._validators, f"undocumented detail-type {detail_type!r}"
            errors = [error.message for error in self._validators[detail_type].iter_errors(event["detail"])]
            assert not errors, f"{detail_type} does not match its schema: {errors}\n{event['detail']}"
        self.seen.extend(new)
        return new

    def of(self, detail_type: str) -> list[dict[str, Any]]:
        """Details of every ``detail_type`` event seen so far (it does not fetch: see ``drain``)."""
        return [event["detail"] for event in self.seen if event["detail-type"] == detail_type]

    def about(self, detail_type: str, request_ids: set[str]) -> list[dict[str, Any]]:
        """Details of ``detail_type`` events about the given requests seen so far."""
        return [detail for detail in self.of(detail_type) if detail.get("request_id") in request_ids]

    def wait_for(
        self, predicate: Callable[[BusWatch], bool], *, timeout: float, interval: float = 0.2
    ) -> bool:
        """Drain until ``predicate(self)`` holds (True) or ``timeout`` seconds pass (False)."""
        return drain_until(self, predicate, timeout=timeout, interval=interval)


# -- the queues -------------------------------------------------------------------------------------
def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages in the queue, visible, in flight or delayed."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())
