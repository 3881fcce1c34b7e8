"""What a failed provider call means, in one table shared by send and poll.

The provider adapter turns every failed call into a :class:`ProviderFailure` of one kind below (for
Asanak: :func:`sms_gateway.adapters.asanak_provider.classify`, and nowhere else), so the send path,
the poller, the metrics (``ProviderError_<kind>``) and the alarms agree on what happened.

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
no credit, inactive sender    ``account``     no         as ``unavailable``; an operator fixes it; alarm
(any status)
daily limit (1009, "daily"    ``deferred``    no         send: the request is deferred (kept, released to the
text), outside the                                       queue by the poll function at Tehran midnight or at
advertising hours (1013)                                 the next ``PromotionalHours`` window); never
                                                         rejected, never pushed toward the DLQ
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

The client (:mod:`asanak.client`) decides the error class from the HTTP exchange; the adapter maps
classes and reasons to these kinds, once; the services act on the kind.
"""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    UNAVAILABLE = "unavailable"
    BLOCKED = "blocked"
    CREDENTIALS = "credentials"
    ACCOUNT = "account"
    DEFERRED = "deferred"
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


class ProviderFailure(Exception):
    """A provider call that failed, with what it means. ``error`` is what the adapter caught; the
    failure's text is that error's (secrets are scrubbed from it by the client)."""

    def __init__(
        self,
        kind: FailureKind,
        error: BaseException,
        *,
        reason: str | None = None,
        destinations: tuple[str, ...] = (),
    ) -> None:
        super().__init__(str(error))
        self.kind = kind
        self.error = error
        self.reason = reason  # the client's refusal reason, for ``rejected``/``account``
        self.destinations = destinations  # destinations the provider named as refused (``rejected``)

    @classmethod
    def internal(cls, error: BaseException) -> ProviderFailure:
        """Not a provider answer: a fault of ours (the secret could not be read, a bug)."""
        return cls(FailureKind.INTERNAL, error)

    @property
    def retry(self) -> bool:
        """Nothing was sent and the same call may succeed later: release and retry."""
        return self.kind in NOTHING_SENT_RETRY

    @property
    def metric(self) -> str:
        return f"ProviderError_{self.kind.value}"

    @property
    def error_class(self) -> str:
        return type(self.error).__name__

    def __repr__(self) -> str:
        return f"ProviderFailure({self.kind.value}, {self.error!r})"
