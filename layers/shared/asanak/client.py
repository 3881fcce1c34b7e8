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

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Self, TypeVar
from urllib.parse import quote, urlencode

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, SSLError

from asanak import _parse
from asanak.batching import MAX_BATCH, chunked
from asanak.errors import (
    AmbiguousError,
    AsanakError,
    BlockedError,
    CredentialsError,
    RejectedError,
    RetryableError,
    excerpt,
    scrub,
)
from asanak.numbers import InvalidNumberError, normalize_number
from asanak.statuses import MessageStatus

__all__ = ["MAX_BATCH", "AsanakClient", "MessageStatus", "chunked", "classify_answer"]

USER_AGENT = "asanak-sms-gateway/0.1"
_FORM = "application/x-www-form-urlencoded"
_SENDSMS, _MSGSTATUS, _GETCREDIT = "sendsms", "msgstatus", "getcredit"

_log = logging.getLogger("asanak")

T = TypeVar("T")


# Keywords that name the reason of a refusal, in English and Persian; checked in this order.
_RETRY_WORDS = (
    "internal error",
    "internal server error",
    "server error",
    "service unavailable",
    "temporarily unavailable",
    "too many requests",
    "rate limit",
    "خطای داخلی",
    "خطای سرور",
)
_REASON_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "credentials",
        (
            "password",
            "username",
            "unauthorized",
            "unauthorised",
            "authentication",
            "credential",
            "رمز",
            "کلمه عبور",
            "نام کاربری",
            "احراز هویت",
        ),
    ),
    # "اعتبارسنجی" (validation) contains "اعتبار" (credit): recognised first.
    ("validation", ("اعتبارسنجی", "اعتبار سنجی")),
    ("out_of_credit", ("credit", "balance", "اعتبار", "موجودی")),
    ("daily_limit", ("daily", "per day", "روزانه")),
    ("inactive_sender", ("sender", "source", "originator", "line number", "فرستنده", "شماره خط")),
    (
        "invalid_destination",
        ("destination", "recipient", "receiver", "receptor", "mobile", "گیرنده", "مقصد", "شماره موبایل"),
    ),
)


# Numbered errors of v2 (asanak-api.md, section 7) and what they mean here.
_RETRY_CODES = frozenset({1004, 429})
_CODE_REASONS = {
    1002: "inactive_sender",
    1005: "out_of_credit",
    1006: "out_of_credit",
    1008: "validation",
    1009: "daily_limit",
    1010: "invalid_destination",
    1014: "validation",
    1015: "credentials",
}


def _reason_from_text(text: str) -> str | None:
    lowered = text.lower()
    for reason, words in _REASON_WORDS:
        if any(word in lowered for word in words):
            return reason
    return None


class _ScrubUrllib3Log(logging.Filter):
    """Masks ``username=``/``password=`` in urllib3's own debug lines (they show GET URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        return True


_filter_lock = threading.Lock()


def _install_urllib3_log_filter() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    with _filter_lock:
        if not any(isinstance(existing, _ScrubUrllib3Log) for existing in logger.filters):
            logger.addFilter(_ScrubUrllib3Log())


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
        self._base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._http_method = method
        self._accept = accept
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._owns_pool = pool is None
        self._pool = pool if pool is not None else urllib3.PoolManager(maxsize=10, retries=False)
        _install_urllib3_log_filter()

    def __repr__(self) -> str:
        return (
            f"AsanakClient(base_url={self._base_url!r}, http_method={self._http_method!r}, "
            f"accept={self._accept!r})"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections (only when the client made the pool itself)."""
        if self._owns_pool:
            self._pool.clear()

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
        status, text = self._call(_SENDSMS, params)
        try:
            msgids = _parse.parse_msgids(text)
        except _parse.ShapeError:
            error = self._classify(_SENDSMS, status, text)
        else:
            if len(msgids) == len(destinations):
                return msgids
            error = AmbiguousError(
                f"provider answered {len(msgids)} msgids for {len(destinations)} destinations",
                method=_SENDSMS,
                http_status=status,
                body_excerpt=self._excerpt(text),
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
        status, text = self._call(_MSGSTATUS, {"msgid": ",".join(str(msgid) for msgid in msgids)})
        try:
            return _parse.parse_statuses(text)
        except _parse.ShapeError:
            error = self._classify(_MSGSTATUS, status, text)
        raise error

    def get_credit(self) -> Decimal:
        """The account's remaining credit (counted in messages)."""
        status, text = self._call(_GETCREDIT, {})
        try:
            return _parse.parse_credit(text)
        except _parse.ShapeError:
            error = self._classify(_GETCREDIT, status, text)
        raise error

    # --- transport and classification -------------------------------------------------------------

    def _call(self, method: str, params: dict[str, str]) -> tuple[int, str]:
        """POST/GET one method; returns (status, body) of a 2xx answer, raises AsanakError otherwise."""
        fields = {"username": self._username, "password": self._password, **params}
        encoded = urlencode(fields, quote_via=quote)  # UTF-8, spaces as %20
        headers = {"User-Agent": USER_AGENT}
        if self._accept:
            headers["Accept"] = self._accept
        url = f"{self._base_url}/{method}"
        body: bytes | None = None
        if self._http_method == "GET":
            url = f"{url}?{encoded}"
        else:
            body = encoded.encode("ascii")
            headers["Content-Type"] = _FORM
        started = time.monotonic()
        try:
            response = self._pool.request(
                self._http_method,
                url,
                body=body,
                headers=headers,
                timeout=self._timeout,
                retries=False,
                redirect=False,
            )
        except HTTPError as exc:
            # Built here, raised outside the except block: the urllib3 exception (whose .url may
            # hold the password of a GET) must not ride along as __context__.
            error = self._transport_error(method, exc)
        else:
            elapsed_ms = (time.monotonic() - started) * 1000
            _log.debug(
                "asanak %s %s -> HTTP %s in %.0f ms", self._http_method, method, response.status, elapsed_ms
            )
            text = _parse.decode_body(response.data, response.headers.get("Content-Type"))
            if 200 <= response.status < 300:
                return response.status, text
            error = self._classify(method, response.status, text)
        _log.debug("asanak %s %s failed: %s", self._http_method, method, type(error).__name__)
        raise error

    def _excerpt(self, text: str) -> str:
        return excerpt(text, (self._password,))

    def _classify(self, method: str, status: int, text: str) -> AsanakError:
        return classify_answer(method, status, text, (self._password,))

    def _transport_error(self, method: str, exc: HTTPError) -> AsanakError:
        detail = scrub(f"{type(exc).__name__}: {exc}", (self._password,))
        if _never_connected(exc):
            return RetryableError(f"could not connect: {detail}", method=method)
        if method == _SENDSMS:
            return AmbiguousError(
                f"request sent but no answer, the SMS may be queued: {detail}", method=method
            )
        return RetryableError(f"no answer: {detail}", method=method)


def classify_answer(method: str, status: int, text: str, secrets: Sequence[str] = ()) -> AsanakError:
    """The error for an HTTP answer that is not ``method``'s success shape (see the module table).

    ``secrets`` are scrubbed from the excerpt, from the text read for keywords and from any
    destination kept as given.
    """
    body = excerpt(text, secrets)
    by_status = _by_status(method, status, text)
    if by_status is not None:
        cls, message = by_status
        return cls(message, method=method, http_status=status, body_excerpt=body)
    return _by_body(method, status, text, body, secrets)


def _by_status(method: str, status: int, text: str) -> tuple[type[AsanakError], str] | None:
    """The error an HTTP status decides on its own (whatever the body says), if any."""
    if status == 403 and _parse.is_html(text):
        return BlockedError, "blocked by the provider's firewall (HTML 403)"
    if status in (401, 403):
        return CredentialsError, "credentials refused" if status == 401 else "access refused (403)"
    if status in (429, 503):
        return RetryableError, "provider unavailable or rate limiting"
    if 300 <= status < 400:
        # Not acted on; a moved endpoint is a configuration problem, not the messages' fault.
        return RetryableError, "unexpected redirect: check the base URL"
    if status >= 500 and method != _SENDSMS:
        return RetryableError, f"provider error on the read-only {method}"
    return None


def _by_body(method: str, status: int, text: str, body: str, secrets: Sequence[str]) -> AsanakError:
    """The error a body's words decide: a refusal with its reason and names, an internal error, or an
    answer that cannot be read (ambiguous for sendsms, whose SMS may be queued)."""
    is_2xx, is_5xx = 200 <= status < 300, status >= 500
    structured = _parse.is_error_object(text)
    said_something = structured or _parse.is_error_text(text)
    if (is_2xx or is_5xx) and not said_something:
        return _unreadable(method, status, body, is_2xx)
    said = _read_refusal(status, text, secrets)
    if said.internal:
        if is_5xx:  # sendsms: the error may have come after the SMS was queued
            return _unreadable(method, status, body, is_2xx)
        return RetryableError(
            "provider reported an internal error", method=method, http_status=status, body_excerpt=body
        )
    reason = said.reason
    if reason is None:
        if is_5xx or (is_2xx and not structured):
            return _unreadable(method, status, body, is_2xx)
        reason = "validation" if status == 400 else "refused"
    cls = CredentialsError if reason == "credentials" else RejectedError
    return cls(
        f"request refused: {reason}",
        method=method,
        reason=reason,
        http_status=status,
        body_excerpt=body,
        destinations=said.destinations,
    )


def _unreadable(method: str, status: int, body: str, is_2xx: bool) -> AsanakError:
    if method != _SENDSMS:
        return RetryableError(
            f"unreadable answer to {method}", method=method, http_status=status, body_excerpt=body
        )
    what = "unreadable answer to sendsms" if is_2xx else f"provider error (HTTP {status}) after sendsms"
    return AmbiguousError(
        f"{what}, the SMS may be queued", method=method, http_status=status, body_excerpt=body
    )


@dataclass(frozen=True)
class _Refusal:
    """What an error body says: an internal error, a reason (None when unrecognised), names."""

    internal: bool = False
    reason: str | None = None
    destinations: tuple[str, ...] = ()


def _read_refusal(status: int, text: str, secrets: Sequence[str]) -> _Refusal:
    code = _parse.error_code(text)
    if code in _RETRY_CODES:
        return _Refusal(internal=True)
    raw = _parse.named_destinations(text, bare_lists=not 200 <= status < 300 or code == 1010)
    if raw:
        return _Refusal(reason="invalid_destination", destinations=_normalized(raw, secrets))
    if code in _CODE_REASONS:
        return _Refusal(reason=_CODE_REASONS[code])
    scrubbed = scrub(text, secrets).lower()
    if any(word in scrubbed for word in _RETRY_WORDS):
        return _Refusal(internal=True)
    return _Refusal(reason=_reason_from_text(scrubbed))


def _normalized(raw: Sequence[str], secrets: Sequence[str]) -> tuple[str, ...]:
    """Destinations in ``98…`` form where they parse; scrubbed and kept as given otherwise."""
    named: list[str] = []
    for value in raw:
        try:
            named.append(normalize_number(value))
        except InvalidNumberError:
            named.append(scrub(value, secrets))
    return tuple(dict.fromkeys(named))


def _never_connected(exc: BaseException) -> bool:
    """Whether the request certainly never left: the connection (or TLS verification) failed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NewConnectionError | ConnectTimeoutError):
            return True
        if isinstance(current, SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        current = current.__cause__ or current.__context__ or getattr(current, "original_error", None)
    return False
