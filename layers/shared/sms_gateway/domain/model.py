"""The domain's view of stored messages: plain dataclasses and the port the send service needs.

The DynamoDB adapter (:mod:`sms_gateway.adapters.dynamodb.messages`) implements :class:`MessageStore`;
tests may pass in-memory fakes that subclass it. Nothing here imports boto3 or pynamodb.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
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


@dataclass(frozen=True)
class Lease:
    """An attempt's hold on the recipients it is sending: only the holder may settle them."""

    token: str  # unique per attempt (one SQS delivery of one record)
    until: datetime  # after this the holder is certainly dead (its invocation's deadline has passed)


def settled_alike(wanted: Message, stored: Message) -> bool:
    """The stored recipient is the one ``wanted`` settles (a write of ours retried, not a conflict)."""
    return stored.state == wanted.state and stored.reason == wanted.reason and stored.owner == wanted.owner


class StoreError(RuntimeError):
    """The store could not do what was asked (wraps the underlying client error).

    ``written`` lists the messages whose write did succeed when a group write failed part-way.
    """

    def __init__(self, message: str, written: Sequence[Message] = ()) -> None:
        super().__init__(message)
        self.written = list(written)


Blocked = dict[str, "Message | None"]
"""Recipients (by number) whose conditional write did not take effect, each with the item as it was
stored when the condition failed (``None``: no item). A write that had already taken effect (a retried
request whose first response was lost) is recognised from the stored item and is *not* blocked."""


class MessageStore(ABC):
    """Port: what the send service needs from storage. Every method that changes a recipient is one
    conditional write per recipient; see the state machine in :mod:`sms_gateway.domain.sending.service`."""

    @abstractmethod
    def messages_of(self, request_id: str) -> dict[str, Message]:
        """Every recipient stored for the request, by number (a strongly consistent read)."""

    @abstractmethod
    def lease(self, messages: Sequence[Message], lease: Lease) -> Blocked:
        """absent → ``sending`` under ``lease``; a recipient whose item exists is blocked."""

    @abstractmethod
    def record(self, messages: Sequence[Message]) -> Blocked:
        """none → each message's settled state (a recipient rejected before any call, e.g. opted out)."""

    @abstractmethod
    def settle(self, messages: Sequence[Message], lease: Lease) -> Blocked:
        """``sending`` under ``lease`` → each message's state (accepted with its msgid, rejected, unknown)."""

    @abstractmethod
    def release(self, messages: Sequence[Message], lease: Lease) -> Blocked:
        """``sending`` under ``lease`` → absent: the provider certainly did not send them."""

    @abstractmethod
    def take_over(self, messages: Sequence[Message], now: datetime) -> Blocked:
        """``sending`` under an expired lease (the message's own ``lease_token``) → its state (unknown)."""

    @abstractmethod
    def reject(self, rejections: Rejections, expires_at: datetime) -> bool:
        """Store ``rejections`` unless an item with its key exists; True when this call created it."""

    @abstractmethod
    def opted_out(self, numbers: Iterable[str]) -> set[str]: ...

    @abstractmethod
    def park(self, body_key: str, request_id: str, expires_at: datetime) -> str:
        """Park ``request_id`` under an id-less request's body unless one is parked there already;
        return the request id parked there (ours, or the earlier one)."""
