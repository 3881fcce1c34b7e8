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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import urllib3

from asanak import _parse
from asanak.answers import (
    GETCREDIT,
    GETRIALCREDIT,
    MSGSTATUS,
    P2PSENDSMS,
    SENDSMS,
    TEMPLATE,
    TEMPLATELIST,
    classify_answer,
)
from asanak.batching import MAX_BATCH, chunked
from asanak.errors import AmbiguousError, excerpt
from asanak.statuses import MessageStatus
from asanak.templates import Template, templates_of
from asanak.transport import USER_AGENT, Transport

API_V1, API_V2 = "v1rest", "v2rest"
BLACKLIST_FLAG = "send_to_black_list"  # Asanak's clients' spelling (Postman: send_to_blacklist)


@dataclass(frozen=True)
class P2PMessage:
    """One message of a ``p2psendsms`` call: its own sender, destination and text."""

    source: str
    destination: str
    message: str
    to_blacklisted: bool = False

    def fields(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "source": self.source,
            "destination": self.destination,
            "message": self.message,
        }
        if self.to_blacklisted:
            item[BLACKLIST_FLAG] = True
        return item


def _checked(base_url: str, http_method: str) -> tuple[str, str]:
    """The API a base URL names and the HTTP method to use; ``ValueError`` for a URL or method the
    client cannot use."""
    parsed = urllib3.util.parse_url(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("base_url must be an http(s) URL such as https://panel.asanak.com/webservice/v1rest")
    if parsed.auth or parsed.query:
        raise ValueError("base_url must not carry credentials or a query string")
    method = http_method.upper()
    if method not in ("GET", "POST"):
        raise ValueError(f"http_method must be GET or POST, got {http_method!r}")
    api = api_of(base_url)
    if api == API_V2 and method != "POST":
        raise ValueError("v2rest takes every call as a POST with a JSON body")
    return api, method


def _check_destinations(destinations: Sequence[str]) -> None:
    for destination in destinations:
        if not destination or "," in destination or "-" in destination:
            raise ValueError(f"invalid destination {destination!r}")


def api_of(base_url: str) -> str:
    """Which API a base URL names: ``v2rest`` when its path ends so, else ``v1rest`` (the manual's)."""
    return API_V2 if urlsplit(base_url).path.rstrip("/").endswith("/" + API_V2) else API_V1


__all__ = [
    "API_V1",
    "API_V2",
    "MAX_BATCH",
    "USER_AGENT",
    "AsanakClient",
    "MessageStatus",
    "P2PMessage",
    "Template",
    "api_of",
    "chunked",
    "classify_answer",
]

T = TypeVar("T")


def _no_v1(text: str) -> Any:  # pragma: no cover - v2-only methods are refused before any request
    raise _parse.ShapeError("not a v1rest method")


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
        if not username or not password:
            raise ValueError("username and password must not be empty")
        self.api, method = _checked(base_url, http_method)
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

    def send_sms(
        self, source: str, destinations: Sequence[str], message: str, *, to_blacklisted: bool = False
    ) -> list[str]:
        """Send ``message`` from ``source`` to 1–100 ``destinations``; one msgid per destination.

        ``to_blacklisted`` sends the blacklist flag (``send_to_black_list``, the spelling of Asanak's
        own clients): deliver to numbers on the national advertising blacklist too, which only
        service lines may do. Off by default, and then not sent at all.

        The msgids come back as digit strings in the order of ``destinations``. Raises
        ``ValueError`` before any request for 0 or more than :data:`MAX_BATCH` destinations (split
        larger lists with :func:`chunked`) and :class:`AmbiguousError` when the provider answers
        with a different number of msgids: it accepted something, but what is unknown.
        """
        if isinstance(destinations, str):
            raise TypeError("destinations must be a sequence of numbers, not one string")
        if not 1 <= len(destinations) <= MAX_BATCH:
            raise ValueError(f"sendsms takes 1 to {MAX_BATCH} destinations, got {len(destinations)}")
        _check_destinations(destinations)
        params: dict[str, Any] = {"source": source, "destination": ",".join(destinations), "message": message}
        if to_blacklisted:
            params[BLACKLIST_FLAG] = True if self.api == API_V2 else "true"  # a JSON boolean on v2rest
        return self._msgids(SENDSMS, params, len(destinations), "destinations")

    def p2p_send(self, messages: Sequence[P2PMessage]) -> list[str]:
        """Send 1–100 messages, each its own text (and sender) to its destination, in one call
        (v2rest's ``p2psendsms``; ``ValueError`` on v1rest, before any request). One msgid per
        message, in order; a different number of msgids is an :class:`AmbiguousError`, as for
        :meth:`send_sms`."""
        if self.api != API_V2:
            raise ValueError("p2psendsms is a v2rest method: use a .../v2rest base URL")
        if not 1 <= len(messages) <= MAX_BATCH:
            raise ValueError(f"p2psendsms takes 1 to {MAX_BATCH} messages, got {len(messages)}")
        _check_destinations([m.destination for m in messages])
        return self._msgids(P2PSENDSMS, {"data": [m.fields() for m in messages]}, len(messages), "messages")

    def send_template(self, template_id: str, destination: str, parameters: Mapping[str, str]) -> str:
        """Send approved template ``template_id`` (digits) with ``parameters`` to one destination
        (v2rest's ``template``; ``ValueError`` on v1rest, before any request); its msgid. The answer
        is read like :meth:`send_sms`'s: anything but one msgid is an :class:`AmbiguousError`."""
        if self.api != API_V2:
            raise ValueError("templates are a v2rest method: use a .../v2rest base URL")
        if not str(template_id).isdigit():
            raise ValueError(f"template_id must be digits, got {template_id!r}")
        _check_destinations([destination])
        fields = {"template_id": int(template_id), "parameters": dict(parameters), "destination": destination}
        return self._msgids(TEMPLATE, fields, 1, "destination", read_v2=_parse.one_msgid_of)[0]

    def template_list(self) -> list[Template]:
        """The account's templates (v2rest's ``templatelist``; ``ValueError`` on v1rest)."""
        if self.api != API_V2:
            raise ValueError("templatelist is a v2rest method: use a .../v2rest base URL")
        return self._ask(TEMPLATELIST, {}, _no_v1, templates_of)[0]

    def _msgids(
        self,
        method: str,
        fields: dict[str, Any],
        expected: int,
        what: str,
        read_v2: Callable[[Any], list[str]] = _parse.msgids_of,
    ) -> list[str]:
        """A sending call's msgids, one per SMS asked for; another number is an AmbiguousError: the
        provider accepted something, but what is unknown."""
        msgids, status, text = self._ask(method, fields, _parse.parse_msgids, read_v2)
        if len(msgids) == expected:
            return msgids
        raise AmbiguousError(
            f"provider answered {len(msgids)} msgids for {expected} {what}",
            method=method,
            http_status=status,
            body_excerpt=excerpt(text, self._transport.secrets),
        )

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
        fields = {"msgid": ",".join(str(msgid) for msgid in msgids)}
        return self._ask(MSGSTATUS, fields, _parse.parse_statuses, _parse.statuses_of)[0]

    def get_credit(self) -> Decimal:
        """The account's remaining credit (counted in messages)."""
        return self._ask(GETCREDIT, {}, _parse.parse_credit, _parse.credit_of)[0]

    def get_rial_credit(self) -> Decimal:
        """The account's remaining credit in rials (v2rest only: ``ValueError`` on v1rest, no request)."""
        if self.api != API_V2:
            raise ValueError("getrialcredit is a v2rest method: use a .../v2rest base URL")
        return self._ask(GETRIALCREDIT, {}, _parse.parse_credit, _parse.credit_of)[0]

    def _ask(
        self,
        method: str,
        fields: dict[str, Any],
        read_v1: Callable[[str], T],
        read_v2: Callable[[Any], T],
    ) -> tuple[T, int, str]:
        """Call ``method`` in this client's API and read its success answer; anything else is raised
        as the :class:`~asanak.errors.AsanakError` it means (:func:`~asanak.answers.classify_answer`)."""
        try:
            if self.api == API_V2:
                status, text = self._transport.call_json(method, fields)
                value = read_v2(_parse.v2_data(text))
            else:
                status, text = self._transport.call(method, fields)
                value = read_v1(text)
        except _parse.ShapeError:
            error = classify_answer(method, status, text, self._transport.secrets)
        else:
            return value, status, text
        raise error
