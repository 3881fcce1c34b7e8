"""How the sandbox writes its answers: the formats the Accept header picks, and the error shapes.

Kept apart from what the answers say, so the provider's quirks of form (JSON-looking ``text/html``,
the manual's ``<response>`` XML, error objects, a proxy's HTML page) live in one place.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

TEHRAN = ZoneInfo("Asia/Tehran")
TEHRAN_FORMAT = "%Y-%m-%d %H:%M:%S"
JSON_TYPE = "application/json; charset=UTF-8"
HTML_TYPE = "text/html; charset=UTF-8"


def tehran_time(moment: datetime.datetime) -> str:
    """``moment`` as the provider writes times: Asia/Tehran wall clock, no zone."""
    return moment.astimezone(TEHRAN).strftime(TEHRAN_FORMAT)


@dataclass
class Reply:
    """One HTTP answer; ``delay`` seconds pass before it goes out, ``reset`` drops the connection."""

    status: int
    body: str = ""
    content_type: str = JSON_TYPE
    delay: float = 0.0
    reset: bool = False


def html(status: int, page: str) -> Reply:
    return Reply(status, page, HTML_TYPE)


def error(status: int, title: str, message: str) -> Reply:
    return Reply(status, json.dumps({"status": title, "message": message}, ensure_ascii=False))


NUMBERED_ERRORS: dict[int, tuple[int, str]] = {
    1001: (400, "template not valid or not active"),
    1002: (400, "sender number not active"),
    1004: (500, "internal server error"),
    1005: (400, "reseller panel credit not enough"),
    1006: (400, "account credit not enough"),
    1008: (400, "input validation error"),
    1009: (400, "daily web-service sending limit reached"),
    1010: (406, "destination list invalid"),
    1013: (400, "outside the hours allowed for advertising"),
    1014: (400, "this sender number may not send links"),
    1015: (401, "web-service password expired"),
    429: (429, "too many requests"),
}
"""v2rest's numbered errors (``../shared/asanak-api.md``, section 7): the HTTP status the sandbox
answers each with (the reference gives 401 for credentials and 406 for 1010; 500 for the internal
error and 400 for the other refusals are this sandbox's reading) and the message."""


def numbered(code: int, message: str | None = None) -> Reply:
    """A v2rest error envelope for numbered error ``code``."""
    http, text = NUMBERED_ERRORS[code]
    body = {"meta": {"status": code, "message": message or text}, "data": None}
    return Reply(http, json.dumps(body, ensure_ascii=False))


def invalids_reply(named: Sequence[str]) -> Reply:
    """v2's refusal of a destination list (HTTP 406), naming the invalid ones."""
    body = {
        "meta": {"status": 1010, "message": "destination list invalid"},
        "data": {"Invalids": list(named)},
    }
    return Reply(406, json.dumps(body, ensure_ascii=False))


def after_accept(status: int) -> Reply:
    """A 500 from the application after it acted, or a 502 from a proxy that lost the answer."""
    if status == 500:
        return Reply(500, json.dumps({"message": "Server Error"}))
    return html(
        status,
        "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
    )


def choose_format(accept: str | None) -> tuple[str, str]:
    """(format, content type) chosen by the Accept header: html (default), json or xml."""
    for item in (accept or "").split(","):
        media = item.split(";", 1)[0].strip().lower()
        if media == "application/json":
            return "json", JSON_TYPE
        if media in ("text/xml", "application/xml"):
            return "xml", "text/xml; charset=UTF-8"
        if media in ("application/xhtml", "application/xhtml+xml"):
            return "xml", "application/xhtml+xml; charset=UTF-8"
        if media in ("text/html", "*/*"):
            break
    return "html", HTML_TYPE


def xml(children: Sequence[str]) -> str:
    return "<response>" + "".join(children) + "</response>"


def credit_text(credit: Decimal) -> str:
    return format(credit.normalize(), "f") if credit == credit.to_integral_value() else format(credit, "f")


# --- the answers of the API methods (HTTP 200; the caller sets the content type) ----------------


def msgids_reply(msgids: Sequence[int], fmt: str) -> Reply:
    if fmt == "xml":
        return Reply(200, xml([f"<MsgID>{msgid}</MsgID>" for msgid in msgids]))
    return Reply(200, json.dumps(msgids))


def statuses_reply(entries: Sequence[Mapping[str, str]], fmt: str) -> Reply:
    if fmt == "xml":
        return Reply(
            200,
            xml(
                [
                    "<MsgStatus>"
                    + "".join(f"<{key}>{escape(value)}</{key}>" for key, value in entry.items())
                    + "</MsgStatus>"
                    for entry in entries
                ]
            ),
        )
    return Reply(200, json.dumps(entries))


def credit_reply(credit: Decimal, fmt: str) -> Reply:
    text = credit_text(credit)
    if fmt == "xml":
        return Reply(200, xml([f"<Credit>{text}</Credit>"]))
    return Reply(200, json.dumps({"Credit": text}))
