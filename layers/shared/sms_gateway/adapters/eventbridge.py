"""EventBridge adapter of the :class:`~sms_gateway.domain.ports.EventPublisher` port."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sms_gateway.domain.errors import PublishError
from sms_gateway.domain.events import SOURCE, Event
from sms_gateway.domain.ports import EventPublisher

PUT_EVENTS_BATCH = 10  # most entries per PutEvents call


class EventBridgePublisher(EventPublisher):
    """PutEvents in batches of ten, a few batches at once. An entry EventBridge refuses is sent again
    (alone with the other refused ones, never with those that went out), ``attempts`` times in all;
    what still fails is a :class:`PublishError`, not a log line. A call that fails as a whole (the bus
    unreachable, throttled past botocore's retries) fails its batch."""

    def __init__(self, client: Any, bus_name: str, attempts: int = 3, concurrency: int = 4) -> None:
        self._client = client
        self._bus_name = bus_name
        self._attempts = attempts
        self._concurrency = concurrency

    def publish(self, events: Sequence[Event]) -> None:
        batches = [
            list(range(start, min(start + PUT_EVENTS_BATCH, len(events))))
            for start in range(0, len(events), PUT_EVENTS_BATCH)
        ]
        if len(batches) <= 1:
            results = [self._send(events, batch) for batch in batches]
        else:
            with ThreadPoolExecutor(max_workers=min(self._concurrency, len(batches))) as pool:
                results = list(pool.map(lambda batch: self._send(events, batch), batches))
        failed = sorted(index for indexes, _ in results for index in indexes)
        if failed:
            reasons = sorted({reason for _, reason in results if reason})
            raise PublishError(
                f"{len(failed)} of {len(events)} events not published: {'; '.join(reasons)}", failed
            )

    def _send(self, events: Sequence[Event], positions: list[int]) -> tuple[list[int], str]:
        """Send the events at ``positions``; return those still failing and why."""
        reason = ""
        for _ in range(self._attempts):
            try:
                response = self._client.put_events(Entries=[self._entry(events[i]) for i in positions])
            except ClientError as exc:  # the whole call failed: nothing of it is known to be out
                return positions, f"PutEvents refused: {exc.response.get('Error', {}).get('Code', '?')}"
            except BotoCoreError as exc:
                return positions, f"EventBridge could not be reached: {type(exc).__name__}"
            entries = response.get("Entries", [])
            refused = [
                (position, entry.get("ErrorCode", "?"))
                for position, entry in zip(positions, entries, strict=False)
                if "ErrorCode" in entry
            ]
            if len(entries) != len(positions) or len(refused) != response.get("FailedEntryCount", 0):
                # Which ones failed is not told: all of them count as not out (sent again, never dropped).
                return positions, "EventBridge reported failures without naming them"
            if not refused:
                return [], ""
            positions = [position for position, _ in refused]
            reason = "refused: " + ", ".join(sorted({code for _, code in refused}))
        return positions, reason

    def _entry(self, event: Event) -> dict[str, str]:
        return {
            "Source": SOURCE,
            "DetailType": event.detail_type,
            "Detail": json.dumps(event.detail, ensure_ascii=False, separators=(",", ":")),
            "EventBusName": self._bus_name,
        }
