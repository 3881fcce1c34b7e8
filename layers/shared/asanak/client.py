"""The Asanak v1rest client: ``sendsms``, ``msgstatus`` and ``getcredit`` over urllib3.

One client holds one connection pool, reused across calls (and across warm Lambda invocations when
the caller caches the client). urllib3's own retries are off: whether a failed call may be repeated
depends on what failed, and the error class says so (see :mod:`asanak.errors`).

Classification of an answer that is not the method's success shape (:func:`classify_answer`), in
this order; "a recognised refusal" is an error object or error text (see :mod:`asanak._parse`) that
names a reason: a v2 error number, a list of invalid destinations, or a keyword (English or
Persian) for credentials, destination, credit, sender, daily limit or validation:

=============================================  ==============================  ==================
answer                                         ``sendsms``                     ``msgstatus``,
                                                                               ``getcredit``
=============================================  ==============================  ==================
could not connect (request never left)         ``RetryableError``              ``RetryableError``
sent, then read timeout / reset / no answer    ``AmbiguousError``              ``RetryableError``
401                                            ``CredentialsError``            same
403 with an HTML page / otherwise              ``BlockedError`` / Credentials  same
429, 503, 3xx                                  ``RetryableError``              same
500, 502, 504 (any 5xx but 503) with a         ``RejectedError`` (its reason)  ``RetryableError``
recognised refusal
500, 502, 504 (any 5xx but 503), otherwise     ``AmbiguousError``: the SMS     ``RetryableError``
(HTML page, "internal error", empty, …)        may be queued (an application
                                               error after the commit, or a
                                               proxy that lost the answer)
2xx error object or error text naming an       ``RetryableError``              same
internal error (or v2 error 1004 / 429)
2xx error object or error text naming a        ``RejectedError`` (its reason)  same
reason
2xx error object naming no reason              ``RejectedError("refused")``    same
2xx anything else (HTML, garbage, an error     ``AmbiguousError``              ``RetryableError``
text naming no reason, wrong msgid count)
4xx error naming an internal error             ``RetryableError``              same
any other 4xx (406 = v2 invalid destinations)  ``RejectedError`` (its reason,  same
                                               else ``validation`` for 400,
                                               else ``refused``)
=============================================  ==============================  ==================

A refusal naming destinations (v2's 406 ``{"meta": {"status": 1010, …}, "data": {"Invalids":
[…]}}``) has reason ``invalid_destination`` and lists them in ``RejectedError.destinations``, in
``98…`` form where :func:`asanak.numbers.normalize_number` reads them (as given otherwise).
``CredentialsError`` is the ``RejectedError`` for bad credentials.

The password never leaves the request: errors, logs and ``repr`` are scrubbed of it. POST (the
default, as the manual recommends) keeps it out of URLs altogether.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Self

import urllib3

from asanak import _parse
from asanak.answers import GETCREDIT, MSGSTATUS, SENDSMS, classify_answer
from asanak.batching import MAX_BATCH, chunked
from asanak.errors import AmbiguousError, excerpt
from asanak.statuses import MessageStatus
from asanak.transport import USER_AGENT, Transport

__all__ = ["MAX_BATCH", "USER_AGENT", "AsanakClient", "MessageStatus", "chunked", "classify_answer"]


class AsanakClient:
    """A client of one Asanak web-service account.

    ``http_method`` is ``"POST"`` (form body, the default) or ``"GET"`` (query string). ``accept`` is
    sent as the ``Accept`` header (an empty string sends none, and the provider answers in its
    ``text/html`` default); every documented format is understood whatever is asked for. Pass
    ``pool`` to share a ``urllib3.PoolManager``; otherwise the client makes and owns one.
    """

    def __init__(  # noqa: PLR0913 - the client's public keyword options, each with a default
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        http_method: str = "POST",
        accept: str = "application/json",
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        parsed = urllib3.util.parse_url(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(
                "base_url must be an http(s) URL such as https://panel.asanak.com/webservice/v1rest"
            )
        if parsed.auth or parsed.query:
            raise ValueError("base_url must not carry credentials or a query string")
        method = http_method.upper()
        if method not in ("GET", "POST"):
            raise ValueError(f"http_method must be GET or POST, got {http_method!r}")
        if not username or not password:
            raise ValueError("username and password must not be empty")
        self._transport = Transport(
            base_url,
            (username, password),
            http_method=method,
            accept=accept,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            pool=pool,
        )

    def __repr__(self) -> str:
        return (
            f"AsanakClient(base_url={self._transport.base_url!r}, "
            f"http_method={self._transport.http_method!r}, accept={self._transport.accept!r})"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections (only when the client made the pool itself)."""
        self._transport.close()

    # --- the three methods ------------------------------------------------------------------------

    def send_sms(self, source: str, destinations: Sequence[str], message: str) -> list[str]:
        """Send ``message`` from ``source`` to 1–100 ``destinations``; one msgid per destination.

        The msgids come back as digit strings in the order of ``destinations``. Raises
        ``ValueError`` before any request for 0 or more than :data:`MAX_BATCH` destinations (split
        larger lists with :func:`chunked`) and :class:`AmbiguousError` when the provider answers
        with a different number of msgids: it accepted something, but what is unknown.
        """
        if isinstance(destinations, str):
            raise TypeError("destinations must be a sequence of numbers, not one string")
        if not 1 <= len(destinations) <= MAX_BATCH:
            raise ValueError(f"sendsms takes 1 to {MAX_BATCH} destinations, got {len(destinations)}")
        for destination in destinations:
            if not destination or "," in destination or "-" in destination:
                raise ValueError(f"invalid destination {destination!r}")
        params = {"source": source, "destination": ",".join(destinations), "message": message}
        status, text = self._transport.call(SENDSMS, params)
        try:
            msgids = _parse.parse_msgids(text)
        except _parse.ShapeError:
            error = classify_answer(SENDSMS, status, text, self._transport.secrets)
        else:
            if len(msgids) == len(destinations):
                return msgids
            error = AmbiguousError(
                f"provider answered {len(msgids)} msgids for {len(destinations)} destinations",
                method=SENDSMS,
                http_status=status,
                body_excerpt=excerpt(text, self._transport.secrets),
            )
        raise error

    def msg_status(self, msgids: Sequence[str]) -> list[MessageStatus]:
        """Statuses of up to :data:`MAX_BATCH` msgids, as the provider lists them (match on ``msgid``).

        An empty ``msgids`` returns ``[]`` without a request; more than :data:`MAX_BATCH` raises
        ``ValueError``. Unknown msgids come back with code -1.
        """
        if isinstance(msgids, str):
            raise TypeError("msgids must be a sequence of msgids, not one string")
        if len(msgids) > MAX_BATCH:
            raise ValueError(f"msgstatus takes at most {MAX_BATCH} msgids, got {len(msgids)}")
        if not msgids:
            return []
        for msgid in msgids:
            if not (str(msgid).isascii() and str(msgid).isdigit()):
                raise ValueError(f"invalid msgid {msgid!r}")
        status, text = self._transport.call(MSGSTATUS, {"msgid": ",".join(str(msgid) for msgid in msgids)})
        try:
            return _parse.parse_statuses(text)
        except _parse.ShapeError:
            error = classify_answer(MSGSTATUS, status, text, self._transport.secrets)
        raise error

    def get_credit(self) -> Decimal:
        """The account's remaining credit (counted in messages)."""
        status, text = self._transport.call(GETCREDIT, {})
        try:
            return _parse.parse_credit(text)
        except _parse.ShapeError:
            error = classify_answer(GETCREDIT, status, text, self._transport.secrets)
        raise error
