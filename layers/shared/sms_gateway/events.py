"""Every event the gateway publishes, built in one place, and the EventBridge adapter that sends them.

All events go to the stack's own bus with ``source = "asanak.sms"``. Detail-types and fields are a
public contract (documented in the README, with JSON Schemas in ``schemas/``): extend, never rename.
Numbers are ``98`` + 10 digits; times are UTC ISO 8601; ``meta`` is echoed from the request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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
        {"request_id": request_id, "msgid": msgid, "to": to, "from": sender, "parts": parts, "meta": meta},
    )


def sms_rejected(
    *, request_id: str, to: str | None, reason: str, message: str, meta: Mapping[str, Any] | None
) -> Event:
    detail: dict[str, Any] = {"request_id": request_id, "reason": reason, "message": message, "meta": meta}
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
    """EventBridge refused at least one entry, or could not be reached: the caller must not treat the
    events as published."""


class EventPublisher(Protocol):
    def publish(self, events: Sequence[Event]) -> None: ...


class EventBridgePublisher:
    """PutEvents in batches of ten; any failed entry is an error, not a log line. Client errors
    (throttling, access denied, an unknown bus) and botocore's own (no connection, timeouts) leave
    as :class:`PublishError`."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def publish(self, events: Sequence[Event]) -> None:
        for start in range(0, len(events), PUT_EVENTS_BATCH):
            batch = events[start : start + PUT_EVENTS_BATCH]
            entries = [
                {
                    "Source": SOURCE,
                    "DetailType": event.detail_type,
                    "Detail": json.dumps(event.detail, ensure_ascii=False, separators=(",", ":")),
                    "EventBusName": self._bus_name,
                }
                for event in batch
            ]
            try:
                response = self._client.put_events(Entries=entries)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "?")
                raise PublishError(f"EventBridge refused PutEvents of {len(batch)} events: {code}") from exc
            except BotoCoreError as exc:
                raise PublishError(f"EventBridge could not be reached: {type(exc).__name__}") from exc
            failed = response.get("FailedEntryCount", 0)
            if failed:
                codes = sorted(
                    {
                        entry.get("ErrorCode", "?")
                        for entry in response.get("Entries", [])
                        if "ErrorCode" in entry
                    }
                )
                raise PublishError(f"EventBridge refused {failed} of {len(batch)} events: {', '.join(codes)}")
