"""The provider's side of ``sendsms``, ``msgstatus`` and ``getcredit``, checks in the manual's order.

Each call is answered as the provider would, then as the fault drawn for it says, then recorded:
what a test reads back in ``calls`` is what the client saw (status 0 for a reset).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass

from asanak_sandbox.faults import FaultBook, after_acting, canned_reply, drops_last_msgid
from asanak_sandbox.model import (
    Fault,
    SentSms,
    blacklist_flag,
    normalize_destination,
    normalize_sender,
    split_list,
)
from asanak_sandbox.rendering import (
    Reply,
    choose_format,
    credit_reply,
    error,
    invalids_reply,
    msgids_reply,
    statuses_reply,
    tehran_time,
)
from asanak_sandbox.state import NotAccepted, ProviderState

MAX_BATCH = 100


@dataclass(frozen=True, kw_only=True)
class ApiCall:
    """One request to ``/webservice/v1rest/{method}``; ``params`` have lower-case names."""

    method: str
    http_method: str
    params: Mapping[str, str]
    accept: str | None

    @property
    def count(self) -> int:
        """How many destinations (``sendsms``) or msgids (``msgstatus``) it names; 0 otherwise."""
        listed = {"sendsms": "destination", "msgstatus": "msgid"}.get(self.method)
        return len(split_list(self.params.get(listed, ""))) if listed else 0


class _Refused(Exception):
    """The provider answers the call with ``reply`` instead."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.body)
        self.reply = reply


def _bad_request(message: str) -> _Refused:
    return _Refused(error(400, "Bad Request", message))


class ProviderApi:
    """The web service's three methods over :class:`ProviderState`, with faults from a :class:`FaultBook`."""

    def __init__(self, state: ProviderState, faults: FaultBook, latency: float = 0.0) -> None:
        self._state = state
        self._faults = faults
        self._latency = latency

    @property
    def latency(self) -> float:
        """Seconds added to every answer."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must not be negative")
        self._latency = float(seconds)

    def serve(self, call: ApiCall) -> Reply:
        """Answer one API call (and record it)."""
        fault = self._faults.take(call.method)
        reply = canned_reply(fault) if fault is not None else None
        if reply is None:
            reply = self._answer(call, fault)
        reply.delay += self._latency
        self._state.record(call.method, call.http_method, 0 if reply.reset else reply.status, call.count)
        return reply

    def _answer(self, call: ApiCall, fault: Fault | None) -> Reply:
        if not self._state.authenticates(call.params):
            return error(401, "Unauthorized", "invalid username or password")
        fmt, content_type = choose_format(call.accept)
        try:
            if call.method == "sendsms":
                reply = self._sendsms(call.params, fmt, drop_last=drops_last_msgid(fault))
            elif call.method == "msgstatus":
                reply = self._msgstatus(call.params, fmt)
            else:
                reply = credit_reply(self._state.credit, fmt)
        except _Refused as refused:
            reply = refused.reply
        if reply.status == 200:
            reply.content_type = content_type
        return after_acting(fault, reply)

    def _sendsms(self, params: Mapping[str, str], fmt: str, *, drop_last: bool) -> Reply:
        raw = split_list(params.get("destination", ""))
        if not raw:
            raise _bad_request("destination is required")
        if len(raw) > MAX_BATCH:
            raise _bad_request(f"at most {MAX_BATCH} destinations per request")
        source = normalize_sender(params.get("source", ""))
        if not source:
            raise _bad_request("source is required")
        destinations = [_destination(given) for given in raw]
        self._check_refusals(raw, destinations)
        text = params.get("message", "")
        if not text:
            raise _bad_request("message is required")
        try:
            msgids = self._state.accept(source, destinations, text, to_blacklisted=blacklist_flag(params))
        except NotAccepted as exc:
            raise _bad_request(str(exc)) from None
        return msgids_reply(msgids[:-1] if drop_last else msgids, fmt)

    def _check_refusals(self, raw: list[str], destinations: list[str]) -> None:
        """Refuse the whole call when it includes a refused destination.

        The answer is a 406 naming the named ones as the call wrote them, or a 400 naming none.
        """
        present = self._state.refused_among(raw, destinations)
        if not present:
            return
        named = [given for given, is_named in present if is_named]
        if named:
            raise _Refused(invalids_reply(named))
        raise _bad_request("invalid destination")

    def _msgstatus(self, params: Mapping[str, str], fmt: str) -> Reply:
        msgids = split_list(params.get("msgid", ""))
        if not msgids:
            raise _bad_request("msgid is required")
        if len(msgids) > MAX_BATCH:
            raise _bad_request(f"at most {MAX_BATCH} msgids per request")
        if not all(msgid.isdigit() for msgid in msgids):
            raise _bad_request("msgid must be numeric")
        now = self._state.clock.now()
        return statuses_reply(
            [status_entry(msgid, self._state.status_at(msgid, now)) for msgid in msgids], fmt
        )


def _destination(given: str) -> str:
    number = normalize_destination(given)
    if number is None:
        raise _bad_request(f"invalid destination number: {given}")
    return number


def status_entry(msgid: str, status: tuple[SentSms, int, float] | None) -> dict[str, str]:
    """One ``msgstatus`` entry: an unknown msgid is status -1; DeliverTime only once delivered (6)."""
    if status is None:
        return {"MsgID": msgid, "Status": "-1", "SendTime": "", "DeliverTime": ""}
    sms, code, since = status
    deliver = ""
    if code == 6:
        deliver = tehran_time(sms.accepted_at + datetime.timedelta(seconds=since))
    return {
        "MsgID": msgid,
        "Status": str(code),
        "SendTime": tehran_time(sms.accepted_at),
        "DeliverTime": deliver,
    }
