"""One provider call: lease its recipients, call, settle each outcome (or release what was not sent).

A refusal naming destinations settles those ``rejected`` and sends the rest again at once; one naming
none is narrowed down by splitting the call in halves. See the state machine in
:mod:`sms_gateway.domain.sending.service`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from sms_gateway.domain.errors import Deferred, LeaseHeld, OutOfTime
from sms_gateway.domain.events import Reason
from sms_gateway.domain.model import Blocked, Message, Outgoing, State
from sms_gateway.domain.ports import SmsProvider
from sms_gateway.domain.provider_failures import FailureKind, ProviderFailure
from sms_gateway.domain.sending.leases import Leases
from sms_gateway.domain.sending.plans import Attempt, Call, Context
from sms_gateway.domain.sending.requests import SmsRequest
from sms_gateway.domain.tally import Tally
from sms_gateway.domain.tracking.schedule import first_check_at

logger = logging.getLogger("sms_gateway.send")


def send_through(
    provider: SmsProvider, messages: Sequence[Message], texts: Mapping[str, str], request: SmsRequest
) -> list[str]:
    """One provider call for ``messages`` (each number's text in ``texts``; sender and blacklist
    option from ``request``): one ``send`` when they share a text, else one ``send_each`` (a different
    text per recipient, on a provider that takes them in one call); a template request's one
    recipient through ``send_template``."""
    if request.template is not None:
        [message] = messages  # grouped one per call
        return [provider.send_template(message.to, request.template.template_id, request.template.values)]
    distinct = {texts[m.to] for m in messages}
    flag = request.to_blacklisted
    if len(distinct) == 1:
        return provider.send(request.sender, [m.to for m in messages], distinct.pop(), to_blacklisted=flag)
    return provider.send_each([Outgoing(request.sender, m.to, texts[m.to], flag) for m in messages])


class ProviderCall:
    """One group of recipients sharing a sender (and a text, unless the provider takes a text per
    recipient): leased, sent (split on unnamed refusals) and settled. Returns the failure that must
    make its records retry, if any."""

    def __init__(self, context: Context, leases: Leases, call: Call, attempt: Attempt, tally: Tally) -> None:
        self._ctx = context
        self._leases = leases
        self._store = context.store
        self._lease = attempt.lease
        self._attempt = attempt
        self._tally = tally
        self._request = call[0][0].request
        self._messages = [message for _, message in call]
        self._texts = {message.to: plan.request.text for plan, message in call}  # a number once per call
        self._failure: BaseException | None = None
        self._asked_at = context.clock()  # when the last provider call started
        self.deferral: Deferred | None = None  # the provider said "not now" to ...
        self.deferred: list[Message] = []  # ... these recipients (released: nothing was sent)

    def run(self) -> BaseException | None:
        if not self._ctx.has_time(self._attempt):
            return OutOfTime("no time left in this invocation for another provider call")
        leased = self._leased()
        if leased:
            self._send(leased)
        return self._failure

    def _fail(self, failure: BaseException) -> None:
        self._failure = self._failure or failure

    def _leased(self) -> list[Message]:
        try:
            blocked = self._store.lease(self._messages, self._lease)
        except Exception:
            # Nothing was sent. Forget every lease of this call, not only those known written: a write
            # whose response was lost may have taken effect, and a lease left behind would later be
            # settled outcome_unknown for an SMS that never went out. The delete needs our token.
            try:
                self._store.release(self._messages, self._lease)
            except Exception:  # they stay leased: once expired, settled outcome_unknown (README)
                logger.exception("could not release the leases of a call that was never made")
            raise
        if blocked:
            self._handle_blocked(blocked)
        return [m for m in self._messages if m.to not in blocked]

    def _handle_blocked(self, blocked: Blocked) -> None:
        now = self._ctx.clock()
        stored = [m for m in blocked.values() if m is not None]
        try:
            held = self._leases.settle_stored(stored, now, self._tally)
        except Exception as exc:  # an outage: those records retry later
            self._fail(exc)
            return
        if held:
            self._fail(LeaseHeld(f"{held} recipients are being sent by another attempt"))

    def _send(self, messages: list[Message]) -> None:
        """Call Asanak for ``messages`` (all leased by us); settle or release every one of them."""
        if not self._ctx.has_time(self._attempt):
            self._release(messages, OutOfTime("no time left in this invocation for another provider call"))
            return
        started = time.perf_counter()
        self._asked_at = self._ctx.clock()  # a "not now" counts from here: the provider said it after
        try:
            msgids = send_through(self._ctx.provider, messages, self._texts, self._request)
        except ProviderFailure as failure:
            self._refused(messages, failure)
            return
        except Exception as exc:  # not a provider answer: a fault of ours, nothing was sent
            self._refused(messages, ProviderFailure.internal(exc))
            return
        self._tally.sample("ProviderLatency", (time.perf_counter() - started) * 1000)
        accepted_at = self._ctx.clock()
        for message, msgid in zip(messages, msgids, strict=True):
            message.msgid, message.state, message.accepted_at = msgid, State.ACCEPTED, accepted_at
            message.next_check = first_check_at(accepted_at)
            logger.info(
                "sms accepted", extra={"request_id": message.request_id, "msgid": msgid, "to": message.to}
            )
        self._tally.add("Accepted", len(messages))
        self._tally.add("PartsSent", sum(m.parts for m in messages))
        self._settle(messages)

    def _refused(self, messages: list[Message], failure: ProviderFailure) -> None:
        self._tally.add(failure.metric)
        if failure.retry:
            logger.warning(
                "nothing was sent; the request will be retried",
                extra={"error_class": failure.kind.value, "error": str(failure.error)},
            )
            self._release(messages, failure.error)
        elif failure.kind == FailureKind.DEFERRED:
            self._defer(messages, failure)
        elif failure.kind == FailureKind.AMBIGUOUS:
            self._outcome(messages, State.UNKNOWN, Reason.OUTCOME_UNKNOWN, failure.error)
        else:
            self._rejected(messages, failure)

    def _rejected(self, messages: list[Message], failure: ProviderFailure) -> None:
        named = set(failure.destinations) & {m.to for m in messages}
        if named:
            self._outcome(
                [m for m in messages if m.to in named],
                State.REJECTED,
                Reason.PROVIDER_REJECTED,
                failure.error,
            )
            rest = [m for m in messages if m.to not in named]
            if rest:
                self._send(rest)
        elif len(messages) == 1:
            self._outcome(messages, State.REJECTED, Reason.PROVIDER_REJECTED, failure.error)
        else:  # the refusal names no one: narrow it down
            half = len(messages) // 2
            self._tally.add("RefusalSplits")
            self._send(messages[:half])
            self._send(messages[half:])

    def _outcome(self, messages: list[Message], state: str, reason: str, error: BaseException) -> None:
        for message in messages:
            message.state, message.final = state, True
            message.reason, message.reason_message = reason, str(error)
        logger.error(
            "send outcome settled without a msgid",
            extra={"reason": reason, "error": str(error), "recipients": len(messages)},
        )
        self._tally.add("Rejected", len(messages))
        self._tally.add(f"Rejected_{reason}", len(messages))
        self._settle(messages)

    def _settle(self, messages: list[Message]) -> None:
        try:
            blocked = self._store.settle(messages, self._lease)
        except Exception as exc:
            # The outcome is not stored: the lease stays, and the next attempt after it expires settles
            # these recipients outcome_unknown (never re-sent). msgids are logged for the operator.
            logger.exception(
                "outcome not stored", extra={"msgids": [m.msgid for m in messages if m.msgid is not None]}
            )
            self._fail(exc)
            return
        if blocked:  # only possible if our lease was taken over: its taker settled it unknown
            logger.error("lease lost before the outcome was stored", extra={"recipients": sorted(blocked)})

    def _defer(self, messages: list[Message], failure: ProviderFailure) -> None:
        """Not now (the daily limit, the advertising hours): nothing was sent. The leases go, and the
        service keeps the request until its window (see :mod:`sms_gateway.domain.deferral`)."""
        logger.warning(
            "the provider said not now: the request is deferred",
            extra={"reason": failure.reason, "error": str(failure.error), "recipients": len(messages)},
        )
        try:
            self._store.release(messages, self._lease)
        except Exception as exc:  # the leases stay: once expired, settled outcome_unknown (README)
            logger.exception("could not release leases")
            self._fail(exc)
            return
        said = Deferred(failure.reason or "deferred", str(failure.error), at=self._asked_at)
        self.deferral = self.deferral or said
        self.deferred.extend(messages)

    def _release(self, messages: list[Message], error: BaseException) -> None:
        self._fail(error)
        try:
            self._store.release(messages, self._lease)
        except Exception:  # the leases stay: after they expire, these are settled outcome_unknown
            logger.exception("could not release leases")
