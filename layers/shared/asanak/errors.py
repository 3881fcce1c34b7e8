"""Errors of the Asanak client, one class per thing the caller should do next.

=====================  ===========================================================================
class                  what the caller should do
=====================  ===========================================================================
``RetryableError``     The provider did not act. Retry later, with backoff.
``AmbiguousError``     ``sendsms`` was sent but no usable answer came back: the SMS may be queued.
                       Never resend automatically; record the outcome as unknown and reconcile.
``RejectedError``      The provider refused the request (see ``reason``); nothing was sent. Retrying
                       the same request will not help; fix the input, top up credit or wait for the
                       daily limit. ``destinations`` lists the numbers the provider named as refused
                       (``98…`` form where they parse), empty when it named none.
``CredentialsError``   A ``RejectedError`` with reason ``"credentials"``: rotate or fix the
                       web-service username/password and raise an alarm.
``BlockedError``       HTTP 403 with an HTML page: the provider's firewall refuses this caller's IP.
                       Keep the messages for later, raise an alarm; production needs a fixed egress
                       IP that Asanak allows.
=====================  ===========================================================================

Every error carries ``method`` (``"sendsms"``, ``"msgstatus"`` or ``"getcredit"``), ``http_status``
(``None`` when no HTTP answer arrived) and ``body_excerpt`` (at most :data:`EXCERPT_LIMIT` characters
of the provider's answer). Nothing in an error ever holds the password: the client scrubs every text
it puts into one with :func:`scrub`. Errors survive ``pickle`` and ``copy`` with every attribute.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

EXCERPT_LIMIT = 300
MAX_NAMED_DESTINATIONS = 100
"""Most destinations a :class:`RejectedError` names (a ``sendsms`` call has at most 100)."""

REASONS = frozenset(
    {
        "credentials",
        "invalid_destination",
        "inactive_sender",
        "out_of_credit",
        "daily_limit",
        "outside_hours",
        "invalid_template",
        "validation",
        "refused",
    }
)

_MASK = "***"
# username=…/password=… in a query string or form body, and "username": "…" in JSON-ish text.
_QUERY_SECRET = re.compile(r"(?i)\b(user(?:name)?|pass(?:word)?)=[^&\s\"'<>]*")
_JSON_SECRET = re.compile(
    r"(?i)([\"']?\b(?:user(?:name)?|pass(?:word)?)[\"']?\s*:\s*)(\"(?:[^\"\\]|\\.)*\"|'[^']*')"
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with ``username=``/``password=`` values and every literal secret replaced by ``***``.

    Secrets are also removed in their URL-encoded forms, as a query string would echo them, and in
    their JSON-escaped form, as a v2rest body would.
    """
    text = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}={_MASK}", text)
    text = _JSON_SECRET.sub(lambda m: f'{m.group(1)}"{_MASK}"', text)
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}:
            text = text.replace(form, _MASK)
    return text


def excerpt(text: str, secrets: Iterable[str] = (), limit: int = EXCERPT_LIMIT) -> str:
    """A scrubbed excerpt of ``text`` of at most ``limit`` characters (scrubbed before cutting)."""
    text = scrub(text, secrets).strip()
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


class AsanakError(Exception):
    """Base class: a call to the Asanak web service did not produce a usable answer."""

    def __init__(
        self, message: str, *, method: str, http_status: int | None = None, body_excerpt: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.http_status = http_status
        self.body_excerpt = body_excerpt[:EXCERPT_LIMIT]

    def __str__(self) -> str:
        status = "no HTTP answer" if self.http_status is None else f"HTTP {self.http_status}"
        text = f"{self.method}: {self.message} ({status})"
        if self.body_excerpt:
            text += f"; body: {self.body_excerpt!r}"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, method={self.method!r}, "
            f"http_status={self.http_status!r}, body_excerpt={self.body_excerpt!r})"
        )

    def _fields(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this error (for ``pickle``)."""
        return {"method": self.method, "http_status": self.http_status, "body_excerpt": self.body_excerpt}

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self._fields()))


def _rebuild(cls: type[AsanakError], message: str, fields: dict[str, Any]) -> AsanakError:
    return cls(message, **fields)


class RetryableError(AsanakError):
    """The provider did not act (connection failed before sending, 429, 5xx, internal error, or a
    read of ``msgstatus``/``getcredit`` failed). Safe to retry later with backoff."""


class AmbiguousError(AsanakError):
    """``sendsms`` reached the provider but no usable answer came back; the SMS may be queued.

    Never retry automatically: that is how duplicate SMS happen.
    """


class RejectedError(AsanakError):
    """The provider refused the request; ``reason`` says why.

    One of ``"credentials"``, ``"invalid_destination"``, ``"inactive_sender"``, ``"out_of_credit"``,
    ``"daily_limit"``, ``"outside_hours"`` (v2's 1013: advertising outside the allowed hours),
    ``"invalid_template"`` (v2's 1001), ``"validation"``, ``"refused"`` (refused for a reason the
    client could not recognise). ``destinations`` holds the destinations the provider named as
    refused, at most :data:`MAX_NAMED_DESTINATIONS`, in ``98…`` form when they parse (otherwise as
    given, bounded and scrubbed); empty when the provider named none.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        reason: str,
        http_status: int | None = None,
        body_excerpt: str = "",
        destinations: Iterable[str] = (),
    ) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        super().__init__(message, method=method, http_status=http_status, body_excerpt=body_excerpt)
        self.reason = reason
        named = tuple(destinations)
        if not all(isinstance(destination, str) for destination in named):
            raise TypeError("destinations must be strings")
        self.destinations: tuple[str, ...] = named[:MAX_NAMED_DESTINATIONS]

    def __str__(self) -> str:
        text = f"{super().__str__()} [reason: {self.reason}]"
        if self.destinations:
            text += f" [destinations: {', '.join(self.destinations)}]"
        return text

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, reason={self.reason!r}, destinations={self.destinations!r})"

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "reason": self.reason, "destinations": self.destinations}


class CredentialsError(RejectedError):
    """The web-service username/password were refused (401, or an error about them)."""

    def __init__(
        self,
        message: str,
        *,
        method: str,
        reason: str = "credentials",
        http_status: int | None = None,
        body_excerpt: str = "",
        destinations: Iterable[str] = (),
    ) -> None:
        super().__init__(
            message,
            method=method,
            reason="credentials",
            http_status=http_status,
            body_excerpt=body_excerpt,
            destinations=destinations,
        )


class BlockedError(AsanakError):
    """HTTP 403 with an HTML body: the provider's firewall refuses this caller's IP address.

    Not a credentials problem and not a reason to drop messages: keep them, raise an alarm, and make
    sure production calls from a fixed egress IP that Asanak has allowed.
    """
