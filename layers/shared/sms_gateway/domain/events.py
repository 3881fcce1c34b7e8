"""Every event the gateway publishes, built in one place, and the EventBridge adapter that sends them.

All events go to the stack's own bus with ``source = "asanak.sms"``. Detail-types and fields are a
public contract (documented in the README, with JSON Schemas in ``schemas/``): extend, never rename.
Numbers are ``98`` + 10 digits; times are UTC ISO 8601; ``meta`` is echoed from the request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

SOURCE = "asanak.sms"
ACCEPTED = "SMS Accepted"
REJECTED = "SMS Rejected"
STATUS_CHANGED = "SMS Status Changed"
RECEIVED = "SMS Received"
PUT_EVENTS_BATCH = 10


class Reason:
    """Stable machine codes of ``SMS Rejected``."""

    INVALID_JSON = "invalid_json"
    INVALID_REQUEST = "invalid_request"
    INVALID_NUMBER = "invalid_number"
    OPTED_OUT = "opted_out"
    PROVIDER_REJECTED = "provider_rejected"
    OUTCOME_UNKNOWN = "outcome_unknown"
    DUPLICATE_ID = "duplicate_id"  # the id was already used, within the retention, for other content


@dataclass(frozen=True)
class Event:
    detail_type: str
    detail: Mapping[str, Any]


_EVENT_IDS = uuid.UUID("6f1f3c52-2a47-4f7e-9c55-0d7a8a3b9e10")


def event_id(*parts: object) -> str:
    """A stable id for one state change: the same every time that change is published (a retried
    stream batch, ``smsctl republish``), different for every other change. Consumers dedupe on it."""
    return str(uuid.uuid5(_EVENT_IDS, "|".join(str(part) for part in parts)))


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with a ``Z``, or None."""
    if moment is None:
        return None
    return moment.isoformat().replace("+00:00", "Z")


def sms_accepted(
    *, request_id: str, msgid: str, to: str, sender: str, parts: int, meta: Mapping[str, Any] | None
) -> Event:
    return Event(
        ACCEPTED,
        {
            "event_id": event_id(ACCEPTED, request_id, to, msgid),
            "request_id": request_id,
            "msgid": msgid,
            "to": to,
            "from": sender,
            "parts": parts,
            "meta": meta,
        },
    )


def sms_rejected(
    *,
    request_id: str,
    to: str | None,
    reason: str,
    message: str,
    meta: Mapping[str, Any] | None,
    change: str = "",
) -> Event:
    """``change`` tells apart rejections that share request, number and reason (the SQS message that
    carried a request-level rejection)."""
    detail: dict[str, Any] = {
        "event_id": event_id(REJECTED, request_id, to, reason, change),
        "request_id": request_id,
        "reason": reason,
        "message": message,
        "meta": meta,
    }
    if to is not None:
        detail["to"] = to
    return Event(REJECTED, detail)


def sms_status_changed(
    *,
    request_id: str,
    msgid: str,
    to: str,
    status: int,
    status_name: str,
    final: bool,
    previous_status: int | None,
    sent_at: datetime | None,
    delivered_at: datetime | None,
    meta: Mapping[str, Any] | None,
    outcome: str,
) -> Event:
    return Event(
        STATUS_CHANGED,
        {
            "event_id": event_id(STATUS_CHANGED, msgid, status, final),
            "request_id": request_id,
            "msgid": msgid,
            "to": to,
            "status": status,
            "status_name": status_name,
            "final": final,
            "previous_status": previous_status,
            "sent_at": iso(sent_at),
            "delivered_at": iso(delivered_at),
            "outcome": outcome,
            "meta": meta,
        },
    )


def sms_received(
    *,
    sender: str,
    recipient: str,
    text: str,
    received_at: datetime,
    provider_time: str,
    inbound_id: str,
    keyword: str | None = None,
) -> Event:
    return Event(
        RECEIVED,
        {
            "event_id": event_id(RECEIVED, inbound_id),
            "from": sender,
            "to": recipient,
            "text": text,
            "received_at": iso(received_at),
            "provider_time": provider_time,
            "inbound_id": inbound_id,
            "keyword": keyword,
        },
    )


class PublishError(RuntimeError):
    """Events that did not go out; ``failed`` holds their positions in the list given to ``publish``."""

    def __init__(self, message: str, failed: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.failed = list(failed)


class EventPublisher(Protocol):
    def publish(self, events: Sequence[Event]) -> None:
        """Publish every event or raise :class:`PublishError` naming those that did not go out."""


class EventBridgePublisher:
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
