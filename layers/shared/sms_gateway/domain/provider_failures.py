"""The one classifier of provider failures, shared by send and poll.

Every failed provider call is turned into a :class:`ProviderFailure` here and nowhere else, so the
send path, the poller, the metrics (``ProviderError_<kind>``) and the alarms agree on what happened.

============================  ==============  =========  ===================================================
what came back                kind            was sent?  what the caller does
============================  ==============  =========  ===================================================
could not connect, 429, 503,  ``unavailable`` no         send: release and retry the record (SQS backoff,
3xx, any 5xx to msgstatus/                               then the DLQ); poll: try again next run
getcredit, an unreadable
answer to them, "internal
error" text in a 2xx/4xx
body (``RetryableError``)
403 with an HTML page         ``blocked``     no         as ``unavailable``; alarm (egress IP not allowed)
401, 403 without HTML,        ``credentials`` no         as ``unavailable`` after one re-read of the secret;
credentials error text (also                             alarm
in a 200 body)
no credit, inactive sender,   ``account``     no         as ``unavailable``; an operator fixes it; alarm
daily limit (any status)
a refusal of the request      ``rejected``    no         send: the named destinations (``destinations``)
(400, 406 naming invalid                                 are rejected, the rest is sent again at once; a
destinations, an error                                   refusal naming none is narrowed down by splitting
object or error text naming                              the call; a single destination refused is
a reason in a 200 body, a                                ``provider_rejected``
5xx to sendsms naming one)
read timeout, reset after     ``ambiguous``   maybe      ``outcome_unknown``: never sent again
sending, a 5xx but 503 to
``sendsms`` that is not a
recognised refusal, an
unreadable 200 (HTML,
garbage, an error text
naming no reason), too few
msgids
not a provider answer (the    ``internal``    no         as ``unavailable``
secret could not be read)
============================  ==============  =========  ===================================================

The client (:mod:`asanak.client`) decides the error class from the HTTP exchange; this module maps
classes and reasons to the gateway's kinds, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from asanak.errors import (
    AmbiguousError,
    AsanakError,
    BlockedError,
    CredentialsError,
    RejectedError,
    RetryableError,
)

# Refusals an operator fixes (top up credit, activate the sender, wait for tomorrow's limit): the
# request is kept and retried, never dropped.
ACCOUNT_REASONS = frozenset({"inactive_sender", "out_of_credit", "daily_limit"})


class FailureKind(StrEnum):
    UNAVAILABLE = "unavailable"
    BLOCKED = "blocked"
    CREDENTIALS = "credentials"
    ACCOUNT = "account"
    REJECTED = "rejected"
    AMBIGUOUS = "ambiguous"
    INTERNAL = "internal"


NOTHING_SENT_RETRY = frozenset(
    {
        FailureKind.UNAVAILABLE,
        FailureKind.BLOCKED,
        FailureKind.CREDENTIALS,
        FailureKind.ACCOUNT,
        FailureKind.INTERNAL,
    }
)


@dataclass(frozen=True)
class ProviderFailure:
    kind: FailureKind
    error: BaseException
    reason: str | None = None  # the client's refusal reason, for ``rejected``/``account``
    destinations: tuple[str, ...] = ()  # destinations the provider named as refused (``rejected``)

    @property
    def retry(self) -> bool:
        """Nothing was sent and the same call may succeed later: release and retry."""
        return self.kind in NOTHING_SENT_RETRY

    @property
    def metric(self) -> str:
        return f"ProviderError_{self.kind.value}"


def classify(error: BaseException) -> ProviderFailure:
    """The kind of a failed provider call (any exception the provider adapter raised)."""
    if not isinstance(error, AsanakError):
        return ProviderFailure(FailureKind.INTERNAL, error)
    if isinstance(error, AmbiguousError):
        return ProviderFailure(FailureKind.AMBIGUOUS, error)
    if isinstance(error, BlockedError):
        return ProviderFailure(FailureKind.BLOCKED, error)
    if isinstance(error, CredentialsError):
        return ProviderFailure(FailureKind.CREDENTIALS, error, reason="credentials")
    if isinstance(error, RejectedError):
        if error.reason in ACCOUNT_REASONS:
            return ProviderFailure(FailureKind.ACCOUNT, error, reason=error.reason)
        return ProviderFailure(
            FailureKind.REJECTED, error, reason=error.reason, destinations=error.destinations
        )
    if isinstance(error, RetryableError):
        return ProviderFailure(FailureKind.UNAVAILABLE, error)
    return ProviderFailure(FailureKind.AMBIGUOUS, error)  # a future error class: never re-send
