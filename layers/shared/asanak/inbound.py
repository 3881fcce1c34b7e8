"""Inbound SMS pushed by Asanak: ``GET {url}?Destination=..&Source=..&ReceiveTime=..&Msg Body=..``.

The manual names the text parameter ``Msg Body`` (with a space); public receivers see ``MsgBody``.
Parameter names are therefore matched case-insensitively, ignoring spaces, ``_``, ``-``, ``+`` and an
undecoded ``%20``: ``Msg Body``, ``MsgBody``, ``msg_body``, ``Msg+Body``, ``Msg%20Body`` and
``MSGBODY`` all name the text. If a name occurs more than once (in several spellings), the last
non-blank value in the mapping's order is used.

Values arrive URL-decoded once (API Gateway decodes query strings). The provider may have encoded
them twice, so a value that still *looks* encoded is decoded once more; it must be all ASCII, contain
no whitespace, have at least one ``%XX`` escape, have every ``%`` start such an escape, and decode to
valid UTF-8. Only then is ``+`` read as a space; otherwise a ``+`` in a value is a literal plus.
So a text form-encoded twice whose only encoded characters were spaces (``hello+world`` after the
first decoding) cannot be told from a literal plus and keeps its ``+``; with ``%20`` it is decoded.
``received_raw`` keeps the ``ReceiveTime`` value exactly as given, before any such decoding.

``ReceiveTime`` carries no zone: it is Iran local time (``Asia/Tehran``) and is stored as aware UTC.
Accepted shapes: ``YYYY-MM-DD HH:MM:SS``, with ``/`` instead of ``-``, ``T`` (or ``+``, an undecoded
space) instead of the space, seconds and a fraction of up to 6 digits optional, Persian or
Arabic-Indic digits. Years before 2000 are refused as invalid, so that a Solar Hijri date
(``1403/01/01``) is never stored as a Gregorian one.

Texts longer than :data:`MAX_TEXT_CHARS` characters are refused as invalid: an inbound SMS is at most
a few parts (a few hundred characters), so such a value is not an SMS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Literal
from urllib.parse import unquote_plus, unquote_to_bytes
from zoneinfo import ZoneInfo

from asanak.numbers import InvalidNumberError, normalize_sender, to_ascii_digits

__all__ = ["MAX_TEXT_CHARS", "InboundParseError", "InboundSms", "parse_inbound", "parse_query"]

MAX_TEXT_CHARS = 5000
PROVIDER_TIME_ZONE = "Asia/Tehran"
EARLIEST_YEAR = 2000

DESTINATION = "Destination"
SOURCE = "Source"
RECEIVE_TIME = "ReceiveTime"
MSG_BODY = "Msg Body"

Reason = Literal["missing", "empty", "invalid"]

_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_NAME_NOISE = re.compile(r"%20|[\s+_\-]")
_RECEIVE_TIME = re.compile(
    r"([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})"
    r"(?:\s*T\s*|[\s+]+)"
    r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?"
)


class InboundParseError(ValueError):
    """A push that cannot be read. ``field`` is the parameter (``Source``, ``Msg Body``…), ``reason``
    is ``missing`` (no such parameter), ``empty`` (blank) or ``invalid`` (present but unusable)."""

    def __init__(self, field: str, reason: Reason, detail: str = "") -> None:
        self.field = field
        self.reason: Reason = reason
        super().__init__(f"{field}: {reason}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class InboundSms:
    """One inbound SMS. ``sender`` and ``recipient`` are normalised like sender numbers."""

    sender: str
    recipient: str
    text: str
    received_at: datetime
    received_raw: str


@cache
def _provider_zone() -> ZoneInfo:
    return ZoneInfo(PROVIDER_TIME_ZONE)


def _canonical_name(name: str) -> str:
    return _NAME_NOISE.sub("", name.casefold())


def _decode_again(value: str) -> str:
    """Decode ``value`` once more if it still looks URL-encoded; otherwise return it unchanged."""
    if not value.isascii() or any(char.isspace() for char in value):
        return value
    escapes = len(_PERCENT_ESCAPE.findall(value))
    if escapes == 0 or escapes != value.count("%"):
        return value
    try:
        decoded = unquote_to_bytes(value.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        return value
    return decoded if decoded.strip() else value


def _field(params: Mapping[str, str], field: str) -> tuple[str, str]:
    """``(raw, decoded)`` value of ``field``; raise when it is missing or blank."""
    wanted = _canonical_name(field)
    raws = [value for name, value in params.items() if _canonical_name(name) == wanted]
    if not raws:
        raise InboundParseError(field, "missing")
    for raw in reversed(raws):
        decoded = _decode_again(raw)
        if decoded.strip():
            return raw, decoded
    raise InboundParseError(field, "empty")


def _number(params: Mapping[str, str], field: str) -> str:
    _, value = _field(params, field)
    try:
        return normalize_sender(value)
    except InvalidNumberError as exc:
        raise InboundParseError(field, "invalid", str(exc)) from exc


def _receive_time(value: str) -> datetime:
    match = _RECEIVE_TIME.fullmatch(to_ascii_digits(value).strip())
    if match is None:
        raise InboundParseError(RECEIVE_TIME, "invalid", f"unrecognised time {value[:40]!r}")
    year, month, day, hour, minute, second, fraction = match.groups()
    if int(year) < EARLIEST_YEAR:
        raise InboundParseError(RECEIVE_TIME, "invalid", f"year {year} is not a Gregorian year")
    try:
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "").ljust(6, "0")),
            tzinfo=_provider_zone(),
        )
    except ValueError as exc:
        raise InboundParseError(RECEIVE_TIME, "invalid", str(exc)) from exc
    return local.astimezone(UTC)


def parse_inbound(params: Mapping[str, str]) -> InboundSms:
    """Read one pushed SMS from its already-decoded query parameters.

    Fields are checked in the manual's order (Destination, Source, ReceiveTime, Msg Body) and the
    first problem raises :class:`InboundParseError`.
    """
    recipient = _number(params, DESTINATION)
    sender = _number(params, SOURCE)
    received_raw, received = _field(params, RECEIVE_TIME)
    received_at = _receive_time(received)
    _, text = _field(params, MSG_BODY)
    if len(text) > MAX_TEXT_CHARS:
        raise InboundParseError(MSG_BODY, "invalid", f"{len(text)} characters; at most {MAX_TEXT_CHARS}")
    return InboundSms(
        sender=sender, recipient=recipient, text=text, received_at=received_at, received_raw=received_raw
    )


def parse_query(raw_query: str) -> dict[str, str]:
    """Decode a raw query string exactly as sent (HTTP API's ``rawQueryString``).

    ``+`` and ``%20`` both decode to a space, in names and values; a leading ``?`` is ignored; a
    name without ``=`` gets an empty value; invalid UTF-8 escapes become U+FFFD rather than losing
    the message. A repeated name keeps its **last** value (as API Gateway's REST API does).
    """
    query = raw_query.removeprefix("?")
    params: dict[str, str] = {}
    for piece in query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        params[unquote_plus(name, errors="replace")] = unquote_plus(value, errors="replace")
    return params
