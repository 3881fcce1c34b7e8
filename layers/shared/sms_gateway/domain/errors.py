"""What can go wrong, in the domain's words. Adapters raise these (never a boto3 or urllib3 error
through a port), services raise or pass them on, and handlers turn them into answers: a 503, a
retried record, a 400.

A failed provider call is a :class:`~sms_gateway.domain.provider_failures.ProviderFailure` (its own
module: the one table of what each failure means).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from asanak.inbound import InboundParseError  # the push parser is pure: its refusal is the domain's

if TYPE_CHECKING:
    from sms_gateway.domain.model import Message

__all__ = [
    "Deferred",
    "Forbidden",
    "InboundParseError",
    "LeaseHeld",
    "OutOfTime",
    "PublishError",
    "RequestTooLarge",
    "SecretError",
    "SendFailed",
    "StoreError",
]


class StoreError(RuntimeError):
    """The store could not do what was asked (wraps the underlying client error).

    ``written`` lists the messages whose write did succeed when a group write failed part-way.
    """

    def __init__(self, message: str, written: Sequence[Message] = ()) -> None:
        super().__init__(message)
        self.written = list(written)


class PublishError(RuntimeError):
    """Events that did not go out; ``failed`` holds their positions in the list given to ``publish``."""

    def __init__(self, message: str, failed: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.failed = list(failed)


class SendFailed(RuntimeError):
    """The record must be retried by SQS (nothing was lost; see ``__cause__``)."""


class LeaseHeld(RuntimeError):
    """A concurrent delivery holds a live lease on a recipient of this request: retry later."""


class Deferred(RuntimeError):
    """The provider said "not now" (its daily limit, the advertising hours): nothing was sent, and the
    request waits for the window instead of being retried or rejected. ``reason`` is the provider
    refusal's reason (``daily_limit``, ``outside_hours``)."""

    def __init__(self, reason: str, message: str, at: datetime) -> None:
        super().__init__(message)
        self.reason = reason
        self.at = at  # when the provider said it: the window is counted from then


class OutOfTime(RuntimeError):
    """The invocation's remaining time could not cover another provider call: retry later."""


class SecretError(RuntimeError):
    """A secret could not be used: missing a key, not a JSON object, or unreadable (values are never
    included)."""


class Forbidden(Exception):
    """The caller may not push: wrong token or a source address outside the allow-list."""


class RequestTooLarge(Exception):
    """The query string or body is larger than any push can be."""
