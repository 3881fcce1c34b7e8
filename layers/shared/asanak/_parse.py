"""Parsing of Asanak v1rest answers, independent of the transport.

The ``Accept`` header picks the format, but the provider's default (``text/html``) carries JSON text,
so the format is recognised from the body itself, never from the ``Content-Type``:

* JSON (``text/html`` and ``application/json``): ``[2456544, 2456545]`` for ``sendsms``; an array of
  ``{"MsgID": "…", "Status": "…", "SendTime": "…", "DeliverTime": "…"}`` for ``msgstatus``.
* XML (``text/xml`` and ``application/xhtml``): ``<response><MsgID>…</MsgID>…</response>`` and
  ``<response><MsgStatus><MsgID>…</MsgID><Status>…</Status>…</MsgStatus>…</response>``.
* ``getcredit`` is undocumented: a bare number, a JSON number or string, a JSON object with a
  ``credit`` key in any case, or XML with a ``Credit`` element are all accepted.

Every parser raises :class:`ShapeError` when the body is not the documented success shape; the
client then decides, with :func:`is_error_object`, :func:`is_error_text`, :func:`error_code`,
:func:`named_destinations` and :func:`is_html`, which error that is:

* an **error object** is a JSON object (or XML element) with a status/message-like key or a list of
  invalid destinations, e.g. v1's
  ``{"status": "Unauthorized", "message": "…"}`` or v2's ``{"meta": {"status": 1010, …}, …}`` — but
  not a v2 success envelope (``meta.status`` 200);
* an **error text** is a short plain-text body (at most :data:`ERROR_TEXT_LIMIT` characters, neither
  JSON, XML nor HTML) that contains an error marker: ``error``, ``fail``, ``invalid``, ``خطا`` or
  ``نامعتبر`` (e.g. ``Error 1: invalid username or password``). Whether it names a reason the client
  recognises is the client's call;
* the **named destinations** of a refusal are the entries of an ``Invalids``/``invalids``/``invalid``
  key (any case; also ``invalid_numbers``/``invalid_destinations``) at the top level or under
  ``data``, or, when the caller says bare lists count, a top-level list or a list right under ``data``.
msgids come out as ``str`` of digits, times as aware UTC datetimes converted from Asia/Tehran.
"""

from __future__ import annotations

import datetime
import json
import re
import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from asanak.statuses import MessageStatus, status_info

TEHRAN = "Asia/Tehran"

_ERROR_KEYS = frozenset({"status", "message", "error", "errors", "meta", "code", "msg", "description"})
_INVALID_KEYS = ("invalids", "invalid", "invalid_numbers", "invalid_destinations", "invalidnumbers")
_ERROR_MARKERS = re.compile(r"error|fail|invalid|خطا|نامعتبر", re.IGNORECASE)
ERROR_TEXT_LIMIT = 300
"""Longest plain-text body that can be an error text; anything longer is a page, not a message."""
MAX_NAMED = 100
NAMED_LIMIT = 40
"""Most entries read from a list of refused destinations, and most characters kept of each."""
_FORBIDDEN_XML = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_HTML_MARKERS = ("<!doctype html", "<html", "<head", "<body", "<title")
_DIGITS = re.compile(r"\d+")


class ShapeError(ValueError):
    """The body is not the documented success shape of the method."""


def decode_body(data: bytes, content_type: str | None = None) -> str:
    """The body as text: the charset from ``content_type`` when valid, else UTF-8; never raises."""
    charset = "utf-8"
    if content_type:
        match = re.search(r"charset\s*=\s*\"?([\w.:-]+)", content_type, re.IGNORECASE)
        if match:
            charset = match.group(1)
    try:
        text = data.decode(charset, errors="replace")
    except LookupError:
        text = data.decode("utf-8", errors="replace")
    return text.lstrip("\ufeff")


def is_html(text: str) -> bool:
    """Whether the body is an HTML page (a firewall or error page), judged from the body only."""
    head = text.lstrip()[:2048].lower()
    return head.startswith("<") and any(marker in head for marker in _HTML_MARKERS)


def parse_xml(text: str) -> ET.Element:
    """Parse XML, refusing any DOCTYPE or entity declaration (no XXE, no entity expansion)."""
    if _FORBIDDEN_XML.search(text):
        raise ShapeError("XML with a DOCTYPE or entity declaration is refused")
    try:
        return ET.fromstring(text)  # noqa: S314  (declarations refused above)
    except ET.ParseError as exc:
        raise ShapeError(f"invalid XML: {exc}") from None


def _load(text: str) -> Any:
    """JSON value (floats as Decimal) or an XML element; ``ShapeError`` for anything else."""
    stripped = text.strip()
    if not stripped:
        raise ShapeError("empty body")
    if stripped.startswith("<"):
        if is_html(stripped):
            raise ShapeError("HTML page")
        return parse_xml(stripped)
    try:
        return json.loads(stripped, parse_float=Decimal)
    except ValueError:
        raise ShapeError("neither JSON nor XML") from None


def _tag(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1].lower()


def _children(element: ET.Element) -> dict[str, str]:
    return {_tag(child): (child.text or "").strip() for child in element}


def is_error_object(text: str) -> bool:
    """Whether the body is an error object: a JSON object (or XML element) with a status/message key
    (or a list of invalid destinations), never a v2 success envelope.

    ``{"status": "Unauthorized", "message": "…"}`` is the shape seen in the wild, with any HTTP status.
    """
    try:
        value = _load(text)
    except ShapeError:
        return False
    if isinstance(value, dict):
        if _meta_status(value) == 200:
            return False  # a v2 success envelope
        return any(str(key).lower() in _ERROR_KEYS or str(key).lower() in _INVALID_KEYS for key in value)
    if isinstance(value, ET.Element):
        tags = {_tag(element) for element in value.iter()}
        return bool(tags & _ERROR_KEYS)
    return False


def is_error_text(text: str) -> bool:
    """Whether the body is a short plain-text error message, e.g. ``Error 1: invalid password``.

    Plain text only (not JSON, XML or HTML), at most :data:`ERROR_TEXT_LIMIT` characters, with an
    error marker (``error``, ``fail``, ``invalid``, ``خطا``, ``نامعتبر``) in it.
    """
    stripped = text.strip()
    if not stripped or len(stripped) > ERROR_TEXT_LIMIT or stripped.startswith("<"):
        return False
    try:
        _load(stripped)
    except ShapeError:
        return bool(_ERROR_MARKERS.search(stripped))
    return False  # JSON: an object is judged by is_error_object, anything else is no message


def _code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,6}\s*", value):
        return int(value)
    return None


def _lowered(value: dict[Any, Any]) -> dict[str, Any]:
    return {str(key).lower(): item for key, item in value.items()}


def _meta_status(value: dict[Any, Any]) -> int | None:
    meta = _lowered(value).get("meta")
    if isinstance(meta, dict):
        fields = _lowered(meta)
        return _code(fields.get("status", fields.get("code")))
    return None


def error_code(text: str) -> int | None:
    """The number of a numbered error (v2's ``meta.status``, or a top-level ``status``/``code``).

    ``None`` when the body carries no number, or carries 200 (success).
    """
    try:
        value = _load(text)
    except ShapeError:
        return None
    if not isinstance(value, dict):
        return None
    code = _meta_status(value)
    if code is None:
        fields = _lowered(value)
        code = _code(fields.get("status", fields.get("code")))
    return None if code == 200 else code


def _entries(value: object) -> list[str] | None:
    """The raw entries of a list of destinations (numbers or strings), or None when not one."""
    if isinstance(value, str):
        value = [item for item in value.split(",") if item.strip()]
    if not isinstance(value, list):
        return None
    entries: list[str] = []
    for item in value[:MAX_NAMED]:
        if isinstance(item, bool):
            continue
        if isinstance(item, int | Decimal):
            entries.append(str(item))
        elif isinstance(item, str) and item.strip():
            entries.append(item.strip()[:NAMED_LIMIT])
    return entries


def named_destinations(text: str, *, bare_lists: bool = False) -> list[str]:
    """The destinations an error body names as refused, raw and in order (``[]`` when none).

    Read from an ``Invalids`` key (see the module docstring) at the top level or under ``data``;
    with ``bare_lists`` also from a top-level list or a list right under ``data`` (only a refusal
    may be read that way: a success answer is a list of msgids).
    """
    try:
        value = _load(text)
    except ShapeError:
        return []
    if isinstance(value, list):
        return (_entries(value) or []) if bare_lists else []
    if not isinstance(value, dict):
        return []
    fields = _lowered(value)
    places = [fields]
    data = fields.get("data")
    if isinstance(data, dict):
        places.append(_lowered(data))
    for place in places:
        for key in _INVALID_KEYS:
            entries = _entries(place.get(key))
            if entries:
                return entries
    if bare_lists and isinstance(data, list):
        return _entries(data) or []
    return []


def normalize_msgid(value: object) -> str:
    """A msgid as a ``str`` of digits (no leading zeros); ``ShapeError`` unless a positive integer."""
    if isinstance(value, bool):
        raise ShapeError(f"not a msgid: {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, Decimal) and value == value.to_integral_value():
        number = int(value)
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise ShapeError(f"not a msgid: {value!r}")
    if number <= 0:
        raise ShapeError(f"not a msgid: {value!r}")
    return str(number)


def v2_data(text: str) -> Any:
    """The ``data`` of a v2rest success envelope (``{"meta": {"status": 200, …}, "data": …}``), as
    loaded JSON; ``ShapeError`` for anything else (an error envelope is classified by the caller)."""
    value = _load(text)
    if not isinstance(value, dict) or _meta_status(value) != 200:
        raise ShapeError("not a v2rest success envelope")
    return _lowered(value).get("data")


def parse_msgids(text: str) -> list[str]:
    """The msgids of a ``sendsms`` answer, in the order given."""
    return msgids_of(_load(text))


def one_msgid_of(value: Any) -> list[str]:
    """The msgid of a loaded ``template`` answer (v2's ``data``: a list of one, a bare msgid, or an
    object naming it), as a list of one."""
    if isinstance(value, dict):
        lowered = _lowered(value)
        value = lowered.get("msgid", lowered.get("msgids", lowered.get("id")))
    if isinstance(value, list):
        return [normalize_msgid(item) for item in value]
    return [normalize_msgid(value)]


def msgids_of(value: Any) -> list[str]:
    """The msgids of a loaded ``sendsms`` answer (v1's body, or v2's ``data``)."""
    if isinstance(value, list):
        return [normalize_msgid(item) for item in value]
    if isinstance(value, ET.Element):
        ids = [element for element in value.iter() if _tag(element) == "msgid"]
        if not ids:
            raise ShapeError("XML without MsgID elements")
        return [normalize_msgid(element.text or "") for element in ids]
    raise ShapeError(f"unexpected JSON {type(value).__name__} for sendsms")


def parse_status_code(value: object) -> int:
    """A status code given as a JSON number or a string such as ``"6"`` or ``"-1"``."""
    if isinstance(value, bool):
        raise ShapeError(f"not a status code: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    raise ShapeError(f"not a status code: {value!r}")


def parse_tehran_time(raw: str | None) -> datetime.datetime | None:
    """An Asanak time (Asia/Tehran wall clock, ``YYYY-MM-DD HH:MM:SS``) as an aware UTC datetime.

    Empty, zero (``0000-00-00 00:00:00``) or unparseable values give ``None``. A value that carries
    its own offset is honoured.
    """
    if raw is None:
        return None
    text = raw.strip().replace("/", "-")
    if not text or not text[:1].isdigit():
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.year < 1900:  # zero dates and Jalali (Persian calendar) years
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(TEHRAN))
    return moment.astimezone(datetime.UTC)


def _raw_time(value: object) -> str | None:
    if value is None:
        return None
    return str(value).strip()


def _status_from_fields(fields: dict[str, Any]) -> MessageStatus:
    lowered = {str(key).lower(): value for key, value in fields.items()}
    if "msgid" not in lowered or "status" not in lowered:
        raise ShapeError("status entry without MsgID or Status")
    code = parse_status_code(lowered["status"])
    send_raw = _raw_time(lowered.get("sendtime"))
    deliver_raw = _raw_time(lowered.get("delivertime"))
    return MessageStatus(
        msgid=normalize_msgid(lowered["msgid"]),
        code=code,
        info=status_info(code),
        send_time=parse_tehran_time(send_raw),
        deliver_time=parse_tehran_time(deliver_raw),
        send_time_raw=send_raw,
        deliver_time_raw=deliver_raw,
    )


def parse_statuses(text: str) -> list[MessageStatus]:
    """The entries of a ``msgstatus`` answer, in the order given."""
    return statuses_of(_load(text))


def statuses_of(value: Any) -> list[MessageStatus]:
    """The entries of a loaded ``msgstatus`` answer (v1's body, or v2's ``data``)."""
    if isinstance(value, list):
        if not all(isinstance(item, dict) for item in value):
            raise ShapeError("msgstatus array holds something other than objects")
        return [_status_from_fields(item) for item in value]
    if isinstance(value, dict) and {"msgid", "status"} <= {str(key).lower() for key in value}:
        return [_status_from_fields(value)]  # one entry sent as a bare object
    if isinstance(value, ET.Element):
        if len(value) == 0 and not (value.text or "").strip():
            return []
        entries = [element for element in value.iter() if _tag(element) == "msgstatus"]
        if not entries:
            raise ShapeError("XML without MsgStatus elements")
        return [_status_from_fields(_children(element)) for element in entries]
    raise ShapeError(f"unexpected JSON {type(value).__name__} for msgstatus")


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise ShapeError(f"not a credit: {value!r}")
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ShapeError(f"not a credit: {value!r}") from None
    else:
        raise ShapeError(f"not a credit: {value!r}")
    if not number.is_finite():
        raise ShapeError(f"not a credit: {value!r}")
    return number


def parse_credit(text: str) -> Decimal:
    """The credit of a ``getcredit`` answer, whatever its shape."""
    stripped = text.strip()
    try:
        value = _load(stripped)
    except ShapeError:
        # A bare number that is not JSON, e.g. with Persian digits.
        if stripped.startswith("<"):
            raise
        return _decimal(stripped)
    return credit_of(value)


def credit_of(value: Any) -> Decimal:
    """The credit of a loaded ``getcredit`` answer (v1's body, or v2's ``data``)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() == "credit":
                return _decimal(item)
        raise ShapeError("JSON object without a credit key")
    if isinstance(value, ET.Element):
        for element in value.iter():
            if _tag(element) == "credit":
                return _decimal(element.text or "")
        if len(value) == 0:
            return _decimal(value.text or "")
        raise ShapeError("XML without a Credit element")
    return _decimal(value)
