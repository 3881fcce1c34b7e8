"""The domain's view of stored messages: plain dataclasses and the port the send service needs.

The DynamoDB adapter (:mod:`sms_gateway.dynamo`) implements :class:`MessageStore`; tests may pass
in-memory fakes that subclass it. Nothing here imports boto3 or pynamodb.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class State:
    SENDING = "sending"  # intent recorded, provider call under way (or crashed during it)
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
    published: bool = False
    accepted_at: datetime | None = None
    sent_at: datetime | None = None
    sent_at_raw: str | None = None
    delivered_at: datetime | None = None
    delivered_at_raw: str | None = None
    updated_at: datetime | None = None
    checks: int = 0
    unknown_code: int | None = None
    previous_status: int | None = None
    event_pending: str | None = None  # token of a status change stored but not yet published
    next_check: datetime | None = None
    expires_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """Result of claiming a request id for one SQS message."""

    first_attempt: bool  # nothing was stored for this request before
    duplicate: bool  # another SQS message already owns this request id
    rejections_published: bool
    fingerprint: str | None = None  # the owner's content fingerprint (known for duplicates)


class StoreError(RuntimeError):
    """The store could not do what was asked (wraps the underlying client error).

    ``written`` lists the messages whose write did succeed when a group write failed part-way.
    """

    def __init__(self, message: str, written: Sequence[Message] = ()) -> None:
        super().__init__(message)
        self.written = list(written)


class IntentConflict(StoreError):
    """A recipient already had a stored message when an intent was recorded for it."""


class MessageStore:
    """Port: what the send service needs from storage."""

    def claim_request(
        self, *, request_id: str, owner: str, fingerprint: str, now: datetime, expires_at: datetime
    ) -> Claim:
        raise NotImplementedError

    def messages_of(self, request_id: str) -> dict[str, Message]:
        raise NotImplementedError

    def record_intents(self, messages: Sequence[Message]) -> None:
        raise NotImplementedError

    def mark_accepted(self, messages: Sequence[Message]) -> None:
        raise NotImplementedError

    def mark_outcome(self, messages: Sequence[Message]) -> None:
        """Store a final send outcome (state, reason) of messages that never got a msgid."""
        raise NotImplementedError

    def mark_published(self, messages: Sequence[Message]) -> None:
        raise NotImplementedError

    def release_intents(self, messages: Sequence[Message]) -> None:
        """Forget intents whose provider call certainly did not go through, so a retry sends them."""
        raise NotImplementedError

    def mark_rejections_published(self, request_id: str) -> None:
        raise NotImplementedError

    def opted_out(self, numbers: Iterable[str]) -> set[str]:
        raise NotImplementedError
