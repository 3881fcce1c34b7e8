"""The provider's side of v2rest (``../shared/asanak-api.md``, section 7): every call a POST with a
JSON body carrying ``username`` and ``password``; every answer the envelope
``{"meta": {"status": CODE, "message": TEXT}, "data": …}``, success ``meta.status`` 200.

Implemented: ``sendsms``, ``p2psendsms``, ``msgstatus``, ``getcredit`` and ``getrialcredit``, over
the same account, messages and faults as v1rest (a fault injected for ``sendsms`` hits either API's
``sendsms`` and ``p2psendsms``; one for ``getcredit`` hits ``getrialcredit`` too).
Any numbered error can also be injected as a fault (kind ``numbered_error`` with its ``code``,
answered with its HTTP status: :data:`~asanak_sandbox.rendering.NUMBERED_ERRORS`). Refusals are the
numbered errors, with the HTTP status the reference gives: 1008 (validation; 401
for wrong credentials), 1010 (HTTP 406, ``data.Invalids`` naming the invalid destinations), 1002
(sender not active), 1006 (credit), 1009 (the account's daily limit) and 1013 (an advertising line
outside the advertising hours), by the rules in :class:`~asanak_sandbox.state.SendingRules`.
``template`` sends one of the account's approved templates (:data:`~asanak_sandbox.model.DEFAULT_TEMPLATES`,
``%name%`` placeholders) to one destination: 1001 for a template unknown or not active, 1008 for a
missing parameter; ``templatelist`` lists them (``id``, ``title``, ``content``, ``params``, ``status``
— the shape is this sandbox's reading, Asanak does not document it). Free text from a line set
``template_only`` is accepted but held at status 20 and not charged, as observed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from asanak_sandbox.api import status_entry  # an entry is the same in both APIs
from asanak_sandbox.faults import FaultBook, after_acting, canned_reply, drops_last_msgid
from asanak_sandbox.model import blacklist_flag, normalize_destination, normalize_sender, split_list
from asanak_sandbox.rendering import JSON_TYPE, Reply
from asanak_sandbox.state import NotAccepted, ProviderState

API2_PREFIX = "/webservice/v2rest"
V2_METHODS = ("sendsms", "p2psendsms", "template", "msgstatus", "getcredit", "getrialcredit", "templatelist")
_FAULTS_OF = {"getrialcredit": "getcredit", "p2psendsms": "sendsms", "template": "sendsms"}
"""A fault injected for v1's method hits these v2 methods too (the sending ones, the credit ones)."""
MAX_BATCH = 100
RIALS_PER_MESSAGE = Decimal(1000)
"""What the sandbox's rial credit is worth in messages (``getrialcredit`` = credit × this)."""


def envelope(code: int, message: str, data: Any = None, *, http: int = 200) -> Reply:
    body = {"meta": {"status": code, "message": message}, "data": data}
    return Reply(http, json.dumps(body, ensure_ascii=False, default=str), JSON_TYPE)


class _Numbered(Exception):
    """The call is answered with numbered error ``code``."""

    def __init__(self, code: int, message: str, *, http: int = 400, data: Any = None) -> None:
        super().__init__(message)
        self.reply = envelope(code, message, data, http=http)


def _validation(message: str) -> _Numbered:
    return _Numbered(1008, message)


def _not_accepted(exc: NotAccepted) -> _Numbered:
    return _Numbered(exc.code, str(exc))


def _text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name, "")
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return "" if value is None else str(value)


class V2Api:
    """v2rest's methods over :class:`ProviderState`, with faults from the same :class:`FaultBook`."""

    def __init__(self, state: ProviderState, faults: FaultBook, latency: Any) -> None:
        self._state = state
        self._faults = faults
        self._latency = latency  # a callable: the v1 API's latency setting, shared

    def serve(self, method: str, fields: Mapping[str, Any]) -> Reply:
        """Answer one v2rest call (and record it, with ``api`` ``v2rest``)."""
        fault = self._faults.take(_FAULTS_OF.get(method, method))
        reply = canned_reply(fault) if fault is not None else None
        if reply is None:
            try:
                reply = after_acting(fault, self._answer(method, fields, drop_last=drops_last_msgid(fault)))
            except _Numbered as refused:
                reply = refused.reply
        reply.delay += self._latency()
        listed = {"sendsms": "destination", "template": "destination", "msgstatus": "msgid"}.get(method)
        count = len(split_list(_text(fields, listed))) if listed else 0
        if method == "p2psendsms" and isinstance(fields.get("data"), list):
            count = len(fields["data"])
        self._state.record(method, "POST", 0 if reply.reset else reply.status, count, api="v2rest")
        return reply

    def _answer(self, method: str, fields: Mapping[str, Any], *, drop_last: bool) -> Reply:
        credentials = {"username": _text(fields, "username"), "password": _text(fields, "password")}
        if not self._state.authenticates(credentials):
            raise _Numbered(1008, "invalid username or password", http=401)
        if method == "sendsms":
            msgids = self._sendsms(fields)
            return envelope(200, "success", msgids[:-1] if drop_last else msgids)
        if method == "p2psendsms":
            msgids = self._p2psendsms(fields)
            return envelope(200, "success", msgids[:-1] if drop_last else msgids)
        if method == "template":
            msgid = self._template(fields)
            return envelope(200, "success", [] if drop_last else [msgid])
        if method == "templatelist":
            return envelope(200, "success", [t.to_json() for t in self._state.templates.values()])
        if method == "msgstatus":
            return envelope(200, "success", self._msgstatus(fields))
        credit = self._state.credit
        return envelope(200, "success", credit * RIALS_PER_MESSAGE if method == "getrialcredit" else credit)

    def _sendsms(self, fields: Mapping[str, Any]) -> list[int]:
        raw = split_list(_text(fields, "destination"))
        if not raw:
            raise _validation("destination is required")
        if len(raw) > MAX_BATCH:
            raise _validation(f"at most {MAX_BATCH} destinations per request")
        source = normalize_sender(_text(fields, "source"))
        text = _text(fields, "message")
        if not source or not text:
            raise _validation("source and message are required")
        destinations = self._destinations(raw)
        try:
            return self._state.accept(source, destinations, text, to_blacklisted=blacklist_flag(fields))
        except NotAccepted as exc:
            raise _not_accepted(exc) from None

    def _p2psendsms(self, fields: Mapping[str, Any]) -> list[int]:
        items = fields.get("data")
        if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
            raise _validation("data must be a non-empty list of message objects")
        if len(items) > MAX_BATCH:
            raise _validation(f"at most {MAX_BATCH} messages per request")
        lowered = [{str(key).lower(): value for key, value in item.items()} for item in items]
        sources = [normalize_sender(_text(item, "source")) for item in lowered]
        texts = [_text(item, "message") for item in lowered]
        if not all(sources) or not all(texts):
            raise _validation("every message needs a source and a message")
        destinations = self._destinations([_text(item, "destination") for item in lowered])
        flags = [blacklist_flag(item) for item in lowered]
        try:
            return self._state.accept_each(list(zip(sources, destinations, texts, flags, strict=True)))
        except NotAccepted as exc:
            raise _not_accepted(exc) from None

    def _template(self, fields: Mapping[str, Any]) -> int:
        raw_id = fields.get("template_id")
        if isinstance(raw_id, bool) or not str(raw_id or "").strip().isdigit():
            raise _validation("template_id must be a template's number")
        values = fields.get("parameters") or {}
        if not isinstance(values, dict):
            raise _validation("parameters must be an object")
        raw = split_list(_text(fields, "destination"))
        if len(raw) != 1:
            raise _validation("a template goes to exactly one destination")
        [destination] = self._destinations(raw)
        try:
            return self._state.accept_template(int(str(raw_id).strip()), destination, values)
        except NotAccepted as exc:
            raise _not_accepted(exc) from None

    def _destinations(self, raw: list[str]) -> list[str]:
        """The destinations in ``98…`` form; a 1010 naming the invalid and refused ones, if any."""
        invalid = [given for given in raw if normalize_destination(given) is None]
        refused = self._state.refused_among(raw, [normalize_destination(given) or given for given in raw])
        named = invalid + [given for given, is_named in refused if is_named]
        if named:
            raise _Numbered(1010, "destination list invalid", http=406, data={"Invalids": named})
        if refused:
            raise _validation("invalid destination")
        return [normalize_destination(given) or given for given in raw]

    def _msgstatus(self, fields: Mapping[str, Any]) -> list[dict[str, str]]:
        msgids = split_list(_text(fields, "msgid"))
        if not msgids or len(msgids) > MAX_BATCH or not all(msgid.isdigit() for msgid in msgids):
            raise _validation(f"msgid must list 1 to {MAX_BATCH} numeric msgids")
        now = self._state.clock.now()
        return [status_entry(msgid, self._state.status_at(msgid, now)) for msgid in msgids]
