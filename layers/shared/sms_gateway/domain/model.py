"""The domain's nouns: plain dataclasses for what is stored and changed (no I/O, no AWS).

The ports that store them are in :mod:`sms_gateway.domain.ports`; the DynamoDB adapters map them to
items (:mod:`sms_gateway.adapters.dynamodb.items`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class State:
    SENDING = "sending"  # leased by an attempt that is calling the provider (or died doing so)
    ACCEPTED = "accepted"  # Asanak returned a msgid; tracked until final
    FINAL = "final"  # a final delivery status (or expired)
    UNKNOWN = "unknown"  # outcome unknown: never re-sent, kept for an operator
    REJECTED = "rejected"  # refused by the provider for this recipient


@dataclass
class Message:
    """One recipient of one request."""

    request_id: str
    to: str
    sender: str
    owner: str  # the SQS message id that recorded the intent
    state: str
    parts: int
    meta: Mapping[str, Any] | None
    created_at: datetime
    msgid: str | None = None
    status: int | None = None
    status_name: str | None = None
    status_rank: int = 0
    final: bool = False
    reason: str | None = None
    reason_message: str | None = None
    accepted_at: datetime | None = None
    sent_at: datetime | None = None
    sent_at_raw: str | None = None
    delivered_at: datetime | None = None
    delivered_at_raw: str | None = None
    updated_at: datetime | None = None
    checks: int = 0
    unknown_code: int | None = None
    previous_status: int | None = None
    lease_token: str | None = None  # the attempt holding a ``sending`` recipient
    lease_until: datetime | None = None  # when that hold expires
    fingerprint: str | None = None  # the request's content fingerprint (tells a reused id apart)
    template_id: str | None = None  # sent from this approved template (events carry it)
    next_check: datetime | None = None
    expires_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    to: str | None  # the number as given (None: the whole request)
    reason: str
    message: str


@dataclass(frozen=True)
class Rejections:
    """Rejections stored as one item, published as one ``SMS Rejected`` each (see the outbox)."""

    key: str  # ``REQ#<request id>`` (its invalid and opted-out numbers) or ``MSG#<sqs message id>``
    request_id: str
    meta: Mapping[str, Any] | None
    entries: tuple[Rejection, ...]
    template_id: str | None = None  # the request named this approved template (its events carry it)


@dataclass(frozen=True)
class Lease:
    """An attempt's hold on the recipients it is sending: only the holder may settle them."""

    token: str  # unique per attempt (one SQS delivery of one record)
    until: datetime  # after this the holder is certainly dead (its invocation's deadline has passed)


def settled_alike(wanted: Message, stored: Message) -> bool:
    """The stored recipient is the one ``wanted`` settles (a write of ours retried, not a conflict)."""
    return stored.state == wanted.state and stored.reason == wanted.reason and stored.owner == wanted.owner


Blocked = dict[str, "Message | None"]
"""Recipients (by number) whose conditional write did not take effect, each with the item as it was
stored when the condition failed (``None``: no item). A write that had already taken effect (a retried
request whose first response was lost) is recognised from the stored item and is *not* blocked."""


@dataclass(frozen=True)
class StatusChange:
    """A delivery status to store on a message (its event follows from the write)."""

    status: int
    status_name: str
    rank: int
    final: bool
    outcome: str
    previous_status: int | None
    sent_at: datetime | None = None
    sent_at_raw: str | None = None
    delivered_at: datetime | None = None
    delivered_at_raw: str | None = None


@dataclass(frozen=True)
class Count:
    """A count on the in-flight index; ``exact`` False: cut short (budget or page limit), a lower bound."""

    value: int
    exact: bool = True


@dataclass
class InboundRecord:
    """One stored inbound SMS."""

    inbound_id: str
    sender: str
    recipient: str
    text: str
    received_at: datetime
    provider_time: str
    created_at: datetime
    expires_at: datetime
    keyword: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """One SMS of a call that gives each recipient its own text (``SmsProvider.send_each``)."""

    source: str
    destination: str
    text: str
    to_blacklisted: bool = False


@dataclass(frozen=True)
class StoredRequest:
    """What is stored under a request id: its recipients, and the content of a deferral waiting
    under it (``None``: none), read together (one ``Query`` on DynamoDB)."""

    messages: dict[str, Message]
    deferred: str | None = None  # the deferred request's fingerprint


@dataclass(frozen=True)
class Deferral:
    """A request the provider said "not now" to, kept until ``due_at`` and then put back on the queue
    as it came (``body``): recipients already stored are never sent again, so the copy sends only
    those still waiting. Stored again (a new ``token``) each time it is deferred."""

    request_id: str
    fingerprint: str  # the request's content: another content under this id is a reused id
    body: str  # the SQS message body, exactly as received
    numbers: tuple[str, ...]  # the recipients that were deferred (98… form)
    reason: str  # the provider's: daily_limit, outside_hours
    message: str  # the provider's answer, for people
    due_at: datetime
    token: str  # this deferral (a re-deferral replaces it; the release deletes only its own)
    meta: Mapping[str, Any] | None
    created_at: datetime
    expires_at: datetime
