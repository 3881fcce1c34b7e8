"""The SQS message contract: parsing and validating one SMS request.

Body (JSON)::

    {"to": "09121234567" | ["09121234567", "+98 935 123 4567", ...],
     "text": "متن پیام",       # or, exactly one of the two:
     "template": {"id": "101", "params": {"code": "4821"}},   # an approved template (v2rest)
     "from": "982164063188",   # optional: defaults to the stack's DefaultSender
     "id": "order-1234-otp",   # optional: client reference and deduplication key
     "meta": {...}}            # optional, small, echoed in every event about this request

A request that can never be sent (not JSON, no text, no valid recipient, too large) raises
:class:`PoisonRequest` with a stable reason code; it is rejected once and not retried. Invalid
numbers among valid ones do not poison the request: they are returned in ``invalid`` and rejected
one by one while the valid recipients are sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from asanak.numbers import InvalidNumberError, normalize_number, normalize_sender
from asanak.text import count_parts

from sms_gateway.domain.events import Reason

MAX_TEXT_CHARS = 1000
MAX_RECIPIENTS = 1000
MAX_META_BYTES = 2048
MAX_ID_CHARS = 128
MAX_META_DEPTH = 8


class PoisonRequest(ValueError):
    """A request that will never be sent. ``request_id``/``meta`` are whatever could be read."""

    def __init__(self, reason: str, message: str, *, request_id: str, meta: dict[str, Any] | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.request_id = request_id
        self.meta = meta


@dataclass(frozen=True)
class InvalidRecipient:
    value: str
    message: str


@dataclass(frozen=True)
class TemplateRef:
    """An approved template and its parameters, as a request names them."""

    template_id: str  # digits
    params: tuple[tuple[str, str], ...]  # sorted by name

    @property
    def values(self) -> dict[str, str]:
        return dict(self.params)


@dataclass(frozen=True)
class SmsRequest:
    request_id: str
    recipients: tuple[str, ...]  # normalised 98…, duplicates removed, order kept
    invalid: tuple[InvalidRecipient, ...]
    text: str
    sender: str
    meta: dict[str, Any] | None
    parts: int
    has_id: bool = False  # the producer gave an ``id`` (else the request id is the SQS message id)
    to_blacklisted: bool = False  # also to numbers on the national advertising blacklist (service lines)
    template: TemplateRef | None = None  # an approved template instead of ``text`` (then ``text`` is "")

    @property
    def fingerprint(self) -> str:
        """The request's content: sender, text, recipients, and the blacklist option when set (so
        that fingerprints stored before the option existed stay valid)."""
        return self._fingerprint(with_option=self.to_blacklisted)

    def same_content(self, stored: str | None) -> bool:
        """Whether a stored fingerprint is this request's (``None``: stored without one). A body that
        carried the option before it existed was stored without it: that still matches."""
        return stored in (None, self.fingerprint, self._fingerprint(with_option=False))

    def _fingerprint(self, *, with_option: bool) -> str:
        content: list[Any] = [self.sender, self.text, sorted(self.recipients)]
        if self.template is not None:
            content.append(["template", self.template.template_id, list(self.template.params)])
        if with_option:
            content.append("to_blacklisted")
        canonical = json.dumps(content, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _request_id(payload: dict[str, Any], fallback_id: str) -> str:
    raw = payload.get("id")
    if raw is None:
        return fallback_id
    if not isinstance(raw, str) or not raw.strip():
        raise PoisonRequest(Reason.INVALID_REQUEST, "'id' must be a non-empty string", request_id=fallback_id)
    value = raw.strip()
    if len(value) > MAX_ID_CHARS or any(unicodedata.category(ch).startswith("C") for ch in value):
        raise PoisonRequest(
            Reason.INVALID_REQUEST,
            f"'id' must be at most {MAX_ID_CHARS} printable characters",
            request_id=fallback_id,
        )
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        current, level = stack.pop()
        if isinstance(current, dict | list):
            deepest = max(deepest, level)
            children = current.values() if isinstance(current, dict) else current
            stack.extend((child, level + 1) for child in children)
    return deepest


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a JSON value holds text that is not valid Unicode (``"\ud800"`` decodes to one)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _meta(payload: dict[str, Any], request_id: str) -> dict[str, Any] | None:
    meta = payload.get("meta")
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise PoisonRequest(Reason.INVALID_REQUEST, "'meta' must be a JSON object", request_id=request_id)
    if _has_lone_surrogate(meta):
        raise PoisonRequest(
            Reason.INVALID_REQUEST, "'meta' holds text that is not valid Unicode", request_id=request_id
        )
    if _depth(meta) > MAX_META_DEPTH:
        raise PoisonRequest(
            Reason.INVALID_REQUEST,
            f"'meta' is nested more than {MAX_META_DEPTH} levels deep",
            request_id=request_id,
        )
    size = len(json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_META_BYTES:
        raise PoisonRequest(
            Reason.INVALID_REQUEST,
            f"'meta' is {size} bytes; at most {MAX_META_BYTES} are allowed",
            request_id=request_id,
        )
    return meta


def _recipients(payload: dict[str, Any], request_id: str, meta: dict[str, Any] | None):
    raw = payload.get("to")
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values:
        raise PoisonRequest(
            Reason.INVALID_REQUEST,
            "'to' must be a phone number or a non-empty list of them",
            request_id=request_id,
            meta=meta,
        )
    if len(values) > MAX_RECIPIENTS:
        raise PoisonRequest(
            Reason.INVALID_REQUEST,
            f"'to' has {len(values)} recipients; at most {MAX_RECIPIENTS} are allowed per request",
            request_id=request_id,
            meta=meta,
        )
    valid: dict[str, None] = {}
    invalid: list[InvalidRecipient] = []
    for value in values:
        if not isinstance(value, str):
            invalid.append(InvalidRecipient(json.dumps(value, ensure_ascii=False), "not a string"))
            continue
        try:
            valid.setdefault(normalize_number(value), None)
        except InvalidNumberError as exc:
            invalid.append(InvalidRecipient(value, str(exc)))
    return tuple(valid), tuple(invalid)


def _payload(body: str, fallback_id: str) -> dict[str, Any]:
    """The body as a JSON object."""
    try:
        payload = json.loads(body)
    except RecursionError as exc:
        raise PoisonRequest(
            Reason.INVALID_JSON, "body is nested too deeply to be a request", request_id=fallback_id
        ) from exc
    except (ValueError, TypeError) as exc:
        raise PoisonRequest(Reason.INVALID_JSON, f"body is not JSON: {exc}", request_id=fallback_id) from exc
    if not isinstance(payload, dict):
        raise PoisonRequest(Reason.INVALID_REQUEST, "body must be a JSON object", request_id=fallback_id)
    return payload


_ASCII_DIGITS = re.compile(r"[0-9]+")
MAX_TEMPLATE_PARAMS = 20
MAX_PARAM_CHARS = 200


def _template(payload: dict[str, Any], poison: Any) -> TemplateRef | None:
    raw = payload.get("template")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise poison('\'template\' must be an object: {"id": "101", "params": {"code": "4821"}}')
    raw_id = raw.get("id")
    if (
        isinstance(raw_id, bool)
        or not isinstance(raw_id, str | int)
        or not _ASCII_DIGITS.fullmatch(str(raw_id))
    ):
        raise poison("'template.id' must be the template's number (digits 0-9)")
    params = raw.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise poison("'template.params' must be an object of parameter names to values")
    if len(params) > MAX_TEMPLATE_PARAMS:
        raise poison(
            f"'template.params' has {len(params)} entries; at most {MAX_TEMPLATE_PARAMS} are allowed"
        )
    values: dict[str, str] = {}
    for name, value in params.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise poison(f"'template.params.{name}' must be text or a number")
        text = str(value)
        if len(text) > MAX_PARAM_CHARS:
            raise poison(f"'template.params.{name}' has {len(text)} characters; at most {MAX_PARAM_CHARS}")
        values[str(name)] = text
    return TemplateRef(str(int(raw_id)), tuple(sorted(values.items())))


def _text(payload: dict[str, Any], template: TemplateRef | None, poison: Any) -> str:
    text = payload.get("text")
    if template is not None:
        if text is not None:
            raise poison("give either 'text' or 'template', not both")
        return ""
    if not isinstance(text, str) or not text.strip():
        raise poison("'text' (or 'template') is required and must be non-empty")
    if len(text) > MAX_TEXT_CHARS:
        raise poison(f"'text' has {len(text)} characters; at most {MAX_TEXT_CHARS} are allowed")
    return text


def parse_request(body: str, *, fallback_id: str, default_sender: str) -> SmsRequest:
    """Parse one SQS body; raise :class:`PoisonRequest` for anything that can never be sent."""
    payload = _payload(body, fallback_id)
    request_id = _request_id(payload, fallback_id)
    meta = _meta(payload, request_id)

    def poison(message: str) -> PoisonRequest:
        return PoisonRequest(Reason.INVALID_REQUEST, message, request_id=request_id, meta=meta)

    if _has_lone_surrogate(payload):
        raise poison("the request holds text that is not valid Unicode (a lone surrogate)")
    template = _template(payload, poison)
    text = _text(payload, template, poison)
    sender_raw = payload.get("from")
    if sender_raw is None:
        sender_raw = default_sender
    if not isinstance(sender_raw, str):
        raise poison("'from' must be a string")
    try:
        sender = normalize_sender(sender_raw)
    except InvalidNumberError as exc:
        raise poison(f"'from' is not a sender number: {exc}") from exc
    to_blacklisted = payload.get("to_blacklisted") or False  # absent or null: off
    if not isinstance(to_blacklisted, bool):
        raise poison("'to_blacklisted' must be true or false")
    recipients, invalid = _recipients(payload, request_id, meta)
    return SmsRequest(
        request_id=request_id,
        recipients=recipients,
        invalid=invalid,
        text=text,
        sender=sender,
        meta=meta,
        parts=count_parts(text).parts if template is None else 1,  # a template's text is Asanak's
        has_id=payload.get("id") is not None,
        to_blacklisted=to_blacklisted,
        template=template,
    )
