"""Every event the gateway publishes, built in one place (:mod:`sms_gateway.adapters.eventbridge` sends them).

All events go to the stack's own bus with ``source = "asanak.sms"``. Detail-types and fields are a
public contract (documented in the README, with JSON Schemas in ``schemas/``): extend, never rename.
Numbers are ``98`` + 10 digits; times are UTC ISO 8601; ``meta`` is echoed from the request.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sms_gateway.domain.model import Message

SOURCE = "asanak.sms"
ACCEPTED = "SMS Accepted"
REJECTED = "SMS Rejected"
STATUS_CHANGED = "SMS Status Changed"
RECEIVED = "SMS Received"
DEFERRED = "SMS Deferred"


class Reason:
    """Stable machine codes of ``SMS Rejected``."""

    INVALID_JSON = "invalid_json"
    INVALID_REQUEST = "invalid_request"
    INVALID_NUMBER = "invalid_number"
    OPTED_OUT = "opted_out"
    PROVIDER_REJECTED = "provider_rejected"
    OUTCOME_UNKNOWN = "outcome_unknown"
    DUPLICATE_ID = "duplicate_id"  # the id was already used, within the retention, for other content
    INVALID_TEMPLATE = (
        "invalid_template"  # not in the account's template list, inactive, or a parameter missing
    )
    TEMPLATE_UNSUPPORTED = "template_unsupported"  # a template request to a stack on v1rest (no templates)


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


def _templated(detail: dict[str, Any], template_id: str | None) -> dict[str, Any]:
    """``template_id`` is in the detail of events about template requests only."""
    if template_id is not None:
        detail["template_id"] = template_id
    return detail


def sms_accepted(
    *,
    request_id: str,
    msgid: str,
    to: str,
    sender: str,
    parts: int,
    meta: Mapping[str, Any] | None,
    template_id: str | None = None,
) -> Event:
    detail = {
        "event_id": event_id(ACCEPTED, request_id, to, msgid),
        "request_id": request_id,
        "msgid": msgid,
        "to": to,
        "from": sender,
        "parts": parts,
        "meta": meta,
    }
    return Event(ACCEPTED, _templated(detail, template_id))


def sms_rejected(
    *,
    request_id: str,
    to: str | None,
    reason: str,
    message: str,
    meta: Mapping[str, Any] | None,
    change: str = "",
    template_id: str | None = None,
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
    return Event(REJECTED, _templated(detail, template_id))


def sms_deferred(
    *,
    request_id: str,
    to: str,
    reason: str,
    message: str,
    due_at: datetime,
    deferral: str,
    meta: Mapping[str, Any] | None,
) -> Event:
    """A recipient the provider said "not now" to: it goes out at ``due_at`` (``deferral`` tells
    this deferral apart from a later one of the same request)."""
    return Event(
        DEFERRED,
        {
            "event_id": event_id(DEFERRED, request_id, to, deferral),
            "request_id": request_id,
            "to": to,
            "reason": reason,
            "message": message,
            "due_at": iso(due_at),
            "meta": meta,
        },
    )


def sms_status_changed(
    message: Message, *, status_name: str, previous_status: int | None, outcome: str
) -> Event:
    """The status ``message`` now has (its ``msgid`` and ``status`` must be set)."""
    msgid, status = message.msgid, message.status
    if msgid is None or status is None:
        raise ValueError("a status change needs the message's msgid and status")
    detail = {
        "event_id": event_id(STATUS_CHANGED, msgid, status, message.final),
        "request_id": message.request_id,
        "msgid": msgid,
        "to": message.to,
        "status": status,
        "status_name": status_name,
        "final": message.final,
        "previous_status": previous_status,
        "sent_at": iso(message.sent_at),
        "delivered_at": iso(message.delivered_at),
        "outcome": outcome,
        "meta": message.meta,
    }
    return Event(STATUS_CHANGED, _templated(detail, message.template_id))


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
