"""Records, faults and the provider's rules as the sandbox applies them.

Kept free of the gateway's own code on purpose: the sandbox models the provider, so a bug in the
layer (say, in number normalisation or part counting) must not be mirrored here.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from asanak_sandbox.rendering import NUMBERED_ERRORS

FAULT_KINDS = frozenset(
    {
        "http_500",
        "http_503",
        "http_429",
        "blocked_403",
        "error_object",
        "internal_error",
        "slow_after_accept",
        "reset",
        "missing_msgid",
        "html_200",
        "accept_then_500",
        "accept_then_502",
        "error_text_200",
        "numbered_error",
    }
)
ACCEPT_THEN = {"accept_then_500": 500, "accept_then_502": 502}
"""Faults that act (``sendsms`` queues the SMS), then answer with this HTTP status instead."""
DEFAULT_ERROR_TEXT = "Error 1: invalid username or password"
API_METHODS = ("sendsms", "msgstatus", "getcredit")
NUMBERED_CODES = frozenset(NUMBERED_ERRORS)
BLACKLIST_FLAGS = ("send_to_black_list", "send_to_blacklist")  # Asanak's clients' and Postman's


def blacklist_flag(params: Mapping[str, Any]) -> bool:
    """Whether a call carries the blacklist flag, in either spelling, as a JSON true or ``true``/``1``."""
    return any(params.get(name) in (True, 1, "1", "true", "True") for name in BLACKLIST_FLAGS)


DEFAULT_TIMELINE: tuple[tuple[float, int], ...] = ((0, 1), (5, 2), (15, 9), (30, 6))
"""Seconds since acceptance → status: InQueue, Sent, SentToDest, then Success at 30 s."""
HELD_STATUS = 20
"""What free text from a template-only line shows for ever (observed: not delivered, not charged)."""


@dataclass(frozen=True)
class SandboxTemplate:
    """An approved template of the account: ``%name%`` placeholders, each a required parameter."""

    template_id: int
    title: str
    content: str
    active: bool = True

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(re.findall(r"%(\w+)%", self.content)))

    def render(self, values: Mapping[str, Any]) -> str:
        return re.sub(r"%(\w+)%", lambda found: str(values.get(found.group(1), "")), self.content)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.template_id,
            "title": self.title,
            "content": self.content,
            "params": list(self.params),
            "status": "active" if self.active else "inactive",
        }


DEFAULT_TEMPLATES = (
    SandboxTemplate(101, "one-time code", "کد ورود شما: %code%"),
    SandboxTemplate(102, "order shipped", "سفارش %order% برای %name% ارسال شد"),
    SandboxTemplate(103, "retired", "این قالب دیگر فعال نیست", active=False),
)


@dataclass(frozen=True)
class SentSms:
    """One SMS the sandbox accepted (one per destination). Numbers are in ``98…`` form."""

    msgid: str
    source: str
    destination: str
    text: str
    parts: int
    accepted_at: datetime.datetime
    to_blacklisted: bool = False  # the call carried the blacklist flag (either spelling)
    template_id: int | None = None  # sent from an approved template
    held: bool = False  # free text from a template-only line: stays at status 20, not charged

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["accepted_at"] = self.accepted_at.isoformat()
        return data


@dataclass(frozen=True)
class Call:
    """One API request as the sandbox saw it; ``status`` is 0 when the connection was reset."""

    method: str
    http_method: str
    status: int
    count: int
    at: datetime.datetime
    api: str = "v1rest"  # or "v2rest"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


@dataclass(frozen=True)
class Fault:
    """A fault to inject on the next ``times`` matching API calls (``method`` None = any method).

    Kinds: ``http_500``, ``http_503``, ``http_429``, ``blocked_403`` (HTML body), ``error_object``
    (HTTP 200 with ``{"status": …, "message": …}``; ``message`` overrides the text),
    ``internal_error`` (500 with an error object), ``slow_after_accept`` (act, then wait ``delay``
    seconds before answering), ``reset`` (close the connection without answering, before acting),
    ``missing_msgid`` (``sendsms``: accept every destination, answer one msgid short),
    ``html_200`` (HTTP 200 with an HTML maintenance page instead of an answer, without acting),
    ``accept_then_500`` / ``accept_then_502`` (act — ``sendsms`` queues and records the SMS — then
    answer 500 with ``{"message": "Server Error"}`` / 502 with a proxy's HTML page, neither naming a
    refusal; a call the provider refuses anyway keeps its refusal) and ``error_text_200`` (HTTP 200
    with the plain text ``Error 1: invalid username or password``, ``message`` overrides it, without
    acting) and ``numbered_error`` (v2rest's error envelope for ``code``, any of 1001–1015 or 429, with
    its HTTP status; without acting).
    """

    kind: str
    method: str | None = None
    times: int = 1
    delay: float = 0.0
    message: str | None = None
    code: int = 1004  # numbered_error's code

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {sorted(FAULT_KINDS)}")
        if self.kind == "numbered_error" and self.code not in NUMBERED_CODES:
            raise ValueError(f"unknown numbered error {self.code}; known: {sorted(NUMBERED_CODES)}")
        if self.method is not None and self.method not in API_METHODS:
            raise ValueError(f"unknown method {self.method!r}; known: {API_METHODS}")
        if self.times < 1:
            raise ValueError("times must be at least 1")
        if self.delay < 0:
            raise ValueError("delay must not be negative")

    def applies_to(self, method: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.kind != "missing_msgid" or method == "sendsms"


# --- numbers --------------------------------------------------------------------------------------

_DESTINATION_FORMS = (
    (re.compile(r"09\d{9}"), True),  # 0912…  → 98912…
    (re.compile(r"989\d{9}"), False),
    (re.compile(r"021\d{8}"), True),  # Tehran landline
    (re.compile(r"9821\d{8}"), False),
)


def normalize_destination(raw: str) -> str | None:
    """A destination in ``98…`` form, or None when the provider would refuse it (e.g. a leading +)."""
    value = raw.strip()
    for pattern, national in _DESTINATION_FORMS:
        if pattern.fullmatch(value):
            return "98" + value[1:] if national else value
    return None


def normalize_sender(raw: str) -> str:
    """A sender number in ``98…`` form when written nationally (``021…`` → ``9821…``)."""
    value = raw.strip()
    if value.startswith("0") and not value.startswith("00"):
        return "98" + value[1:]
    return value


def split_list(raw: str) -> list[str]:
    """A ``,``- or ``-``-joined list as the manual allows, empty items dropped."""
    return [item.strip() for item in re.split(r"[,-]", raw) if item.strip()]


# --- parts ----------------------------------------------------------------------------------------

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


def count_parts(text: str) -> int:
    """SMS parts for ``text``: GSM-7 160/153 septets, otherwise UCS-2 70/67 UTF-16 units."""
    if all(char in _GSM7_BASIC or char in _GSM7_EXTENSION for char in text):
        units = sum(2 if char in _GSM7_EXTENSION else 1 for char in text)
        single, concatenated = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, concatenated = 70, 67
    if units <= single:
        return 1
    return math.ceil(units / concatenated)
