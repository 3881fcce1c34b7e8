"""What an Asanak answer that is not a method's success shape means: the error class, with its reason
and the destinations it names (the table is in :mod:`asanak.client`). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asanak import _parse
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

SENDSMS, MSGSTATUS, GETCREDIT, GETRIALCREDIT = "sendsms", "msgstatus", "getcredit", "getrialcredit"
P2PSENDSMS, TEMPLATE, TEMPLATELIST = "p2psendsms", "template", "templatelist"
SENDING = frozenset({SENDSMS, P2PSENDSMS, TEMPLATE})
"""Methods that send: an answer lost or broken after the request may mean the SMS went out."""

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
    ("outside_hours", ("hours allowed", "allowed hours", "advertising hours", "ساعات مجاز", "ساعت مجاز")),
    ("inactive_sender", ("sender", "source", "originator", "line number", "فرستنده", "شماره خط")),
    (
        "invalid_destination",
        ("destination", "recipient", "receiver", "receptor", "mobile", "گیرنده", "مقصد", "شماره موبایل"),
    ),
)


# Numbered errors of v2 (asanak-api.md, section 7) and what they mean here.
_RETRY_CODES = frozenset({1004, 429})
_CODE_REASONS = {
    1001: "invalid_template",
    1002: "inactive_sender",
    1005: "out_of_credit",
    1006: "out_of_credit",
    1008: "validation",
    1009: "daily_limit",
    1010: "invalid_destination",
    1013: "outside_hours",
    1014: "validation",
    1015: "credentials",
}


def _reason_from_text(text: str) -> str | None:
    lowered = text.lower()
    for reason, words in _REASON_WORDS:
        if any(word in lowered for word in words):
            return reason
    return None


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
    if status >= 500 and method not in SENDING:
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
    if method not in SENDING:
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
