"""Sending: a batch of SQS requests in, each recipient sent exactly once, outcomes out as events.

Each recipient of a request is one item, and its life is a small state machine. Every transition is
one conditional write on that item; a failed condition returns the item as it was, which tells our
own earlier write (a lost response that botocore retried) apart from a real conflict.

=============  ================================  ============  ===========================  ================
state          event                             next state    the one conditional write    event
=============  ================================  ============  ===========================  ================
(none)         an attempt is about to call       ``sending``   put if absent, with the      —
               Asanak for it                     (leased)      attempt's token and
                                                               ``lease_until``
``sending``,   Asanak answered a msgid           ``accepted``  update if ``sending`` and    SMS Accepted
ours                                                           the token is ours
``sending``,   Asanak refused this destination   ``rejected``  same                         SMS Rejected
ours           (named, or isolated by                                                       provider_rejected
               splitting the call)
``sending``,   no usable answer: it may be       ``unknown``   same                         SMS Rejected
ours           queued                                                                       outcome_unknown
``sending``,   nothing was sent (429, 503,       (none)        delete if ``sending`` and    —
ours           credentials, credit, blocked,                   the token is ours
               our own time budget ran out)
``sending``,   "not now" (1009 daily limit,      (none), the   delete as above, then put    SMS Deferred
ours           1013 advertising hours)           request       the request's deferral
                                                 deferred      (``REQ#<id>``, ``#DEFERRED``)
                                                               unless another content's is
                                                               there (then ``duplicate_id``)
``sending``,   the lease has expired: its        ``unknown``   update if ``sending``, that  SMS Rejected
another's      holder died and may have                        token, ``lease_until`` <     outcome_unknown
               called Asanak                                   now
``sending``,   the lease is live: a concurrent   unchanged     none; the record is retried  —
another's      delivery is sending it
``accepted``   poll: the status changes          ``accepted``  see tracking.service          SMS Status
                                                 / ``final``                                Changed
=============  ================================  ============  ===========================  ================

A lease lasts until the holding invocation's deadline plus a margin: Lambda ends an invocation at
its deadline, so an expired lease is held by an attempt that can no longer act, and taking it over
cannot race with it. An attempt that stops on its own (an error it caught, its time budget) releases
what it leased and did not send. Only an attempt that died holding a lease leaves ``sending`` behind:
the provider may have been called, so the recipient is settled ``outcome_unknown`` and never re-sent.

Around the state machine:

* **Requests.** A request id (the ``id`` field, else the SQS message id) names a partition of
  recipient items, each carrying the request's content fingerprint. Another SQS message with the same
  id and content is the same request (only recipients never stored are sent); with other content it
  is rejected ``duplicate_id``. Copies of one request in one batch are sent once and share the
  original's fate.
* **Refusals per destination.** A refusal that proves nothing was sent and names destinations settles
  only those ``rejected``; the rest is sent again at once. One that names none is narrowed down by
  splitting the call in halves until the refused destinations are isolated.
* **Time budget.** No provider call starts unless the invocation's remaining time covers its timeouts
  and the writes after it; what is left is released and its records retried.
* **Events.** Nothing here calls EventBridge: the transitions above *are* the events (a transactional
  outbox). The table's stream hands each stored change to the publish function, which turns it into
  its event (:mod:`sms_gateway.domain.publishing.outbox`); rejections of whole requests or numbers
  are stored as a rejection item for the same reason.
* **Deferral.** "Not now" from the provider (its daily limit, the advertising hours) sends nothing and
  rejects nothing: the recipients are released, the request's body is kept with the time it may go
  out (:mod:`sms_gateway.domain.deferral.windows`) and the record is done. The poll function's tick
  puts due bodies back on the queue (:mod:`sms_gateway.domain.deferral.release`); the copy is the
  same request, so recipients already stored are never sent again.
* **Poison.** Whatever a body makes the parser raise, the request is rejected once and never retried;
  only infrastructure errors (the table, the secret) make a record retry.
* **Requests without ``id``.** Before anything is sent, the request id (the SQS message id) is parked
  under the body's hash for the retention; a copy redriven from the DLQ (same body, new message id)
  finds it and continues that request, so recipients already accepted are not sent again. Without an
  ``id`` a request is therefore known by its content: byte-identical bodies within the retention are
  one request. Give every request an ``id`` to send the same content twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sms_gateway.domain.deferral.windows import SendWindows
from sms_gateway.domain.errors import LeaseHeld
from sms_gateway.domain.events import Reason
from sms_gateway.domain.model import Deferral, Lease
from sms_gateway.domain.ports import MessageStore, Metrics, NoMetrics, SmsProvider
from sms_gateway.domain.sending.calls import ProviderCall
from sms_gateway.domain.sending.leases import Leases
from sms_gateway.domain.sending.plans import (
    Attempt,
    BatchOutcome,
    Call,
    Context,
    Envelope,
    Plan,
    body_key,
    group_calls,
)
from sms_gateway.domain.sending.preparation import Preparer
from sms_gateway.domain.sending.rejections import Rejecter
from sms_gateway.domain.sending.requests import PoisonRequest, SmsRequest, parse_request
from sms_gateway.domain.tally import Tally

__all__ = ["BatchOutcome", "Envelope", "SendPolicy", "SendService"]

logger = logging.getLogger("sms_gateway.send")

LONGEST_INVOCATION = timedelta(minutes=15)  # Lambda's hard limit: the deadline when none is given
LEASE_GRACE = timedelta(seconds=30)  # a lease outlives its holder's deadline by this much
WRITES_AFTER_CALL = timedelta(seconds=3)  # time kept for storing a call's outcome


@dataclass(frozen=True)
class SendPolicy:
    """The send function's settings, as the domain needs them."""

    default_sender: str
    retention: timedelta  # how long requests, recipients and rejections are kept
    concurrency: int  # provider calls (and request preparations) in flight at once
    call_timeout: timedelta = timedelta(seconds=15)  # a provider call's connect + read timeouts
    windows: SendWindows = field(default_factory=SendWindows)  # when a deferred request may go out again


def emit(metrics: Metrics, tally: Tally) -> None:
    """The batch's metrics, from the handler's thread."""
    for name, value in sorted(tally.counts.items()):
        metrics.add_metric(name=name, unit="Count", value=value)
    for latency in tally.samples("ProviderLatency"):
        metrics.add_metric(name="ProviderLatency", unit="Milliseconds", value=round(latency, 1))


class SendService:
    """Orchestrates a batch: plan the requests (parsing, copies, poison), prepare each (leases of
    earlier attempts, rejections), group recipients into provider calls and run them; the
    collaborators in this package do the work."""

    def __init__(
        self,
        *,
        store: MessageStore,
        provider: SmsProvider,
        policy: SendPolicy,
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
        new_token: Callable[[], str] = lambda: uuid.uuid4().hex,
        timer: Callable[[], float] = time.monotonic,  # the time budget runs on real time, whatever the clock
    ) -> None:
        self._policy = policy
        self._metrics = metrics or NoMetrics()
        self._new_token = new_token
        self._ctx = Context(
            store=store,
            provider=provider,
            clock=clock,
            retention=policy.retention,
            call_budget=policy.call_timeout + WRITES_AFTER_CALL,
            timer=timer,
        )
        self._rejecter = Rejecter(self._ctx)
        self._leases = Leases(self._ctx)
        self._preparer = Preparer(self._ctx, self._rejecter, self._leases, policy.concurrency)

    # -- the batch ---------------------------------------------------------------------------------
    def send_batch(
        self, envelopes: Sequence[Envelope], remaining: timedelta = LONGEST_INVOCATION
    ) -> BatchOutcome:
        """Send a batch within ``remaining``, the time the invocation has left (Lambda's context)."""
        lease = Lease(self._new_token(), self._ctx.clock() + remaining + LEASE_GRACE)
        attempt = Attempt(lease, self._ctx.timer() + remaining.total_seconds())
        tally = Tally()
        outcome = BatchOutcome()
        try:
            plans = self._plans(envelopes, outcome, tally)
            self._preparer.prepare_all(plans, tally)
            provider = self._ctx.provider
            ready = [plan for plan in plans if plan.failure is None]
            calls = group_calls(ready, provider.max_batch, texts_per_recipient=provider.texts_per_recipient)
            self._run(calls, attempt, tally)
            self._finish(plans, outcome, tally)
        finally:
            emit(self._metrics, tally)
        return outcome

    def _plans(self, envelopes: Sequence[Envelope], outcome: BatchOutcome, tally: Tally) -> list[Plan]:
        """Parse every record; reject poison once; one plan per request, copies joined to it."""
        plans: dict[str, Plan] = {}  # by request id, or by body for id-less requests
        for envelope in envelopes:
            try:
                request = self._parse(envelope)
            except PoisonRequest as poison:
                try:
                    self._rejecter.poison(envelope, poison, tally)
                except Exception as exc:  # not stored: retry the record, it is rejected again
                    outcome.failures[envelope.message_id] = exc
                continue
            key = f"ID#{request.request_id}" if request.has_id else f"BODY#{body_key(envelope.body)}"
            first = plans.get(key)
            if first is None:
                plans[key] = Plan(request, [envelope], None if request.has_id else body_key(envelope.body))
            elif first.request.fingerprint == request.fingerprint:  # one request twice: sent once, same fate
                first.envelopes.append(envelope)
                tally.add("DuplicateRequests")
            else:  # the id of an earlier record of this batch, with other content
                try:
                    self._rejecter.reused_id(envelope, request, tally)
                except Exception as exc:
                    outcome.failures[envelope.message_id] = exc
        return list(plans.values())

    def _parse(self, envelope: Envelope) -> SmsRequest:
        try:
            return parse_request(
                envelope.body, fallback_id=envelope.message_id, default_sender=self._policy.default_sender
            )
        except PoisonRequest:
            raise
        except Exception as exc:  # parsing is pure: whatever it raises, this body can never be sent
            raise PoisonRequest(
                Reason.INVALID_REQUEST,
                f"request could not be read ({type(exc).__name__})",
                request_id=envelope.message_id,
            ) from exc

    def _finish(self, plans: Sequence[Plan], outcome: BatchOutcome, tally: Tally) -> None:
        for plan in plans:
            failure = plan.failure or plan.retry
            if plan.deferral is not None:
                # The body comes back when due. Another failure of this attempt (a 503, a held lease)
                # still makes the record retry, as without the deferral: a retry sends nothing twice.
                failure = self._defer(plan, tally) or failure
            if failure is not None:
                for envelope in plan.envelopes:
                    outcome.failures[envelope.message_id] = failure

    def _defer(self, plan: Plan, tally: Tally) -> BaseException | None:
        """Keep the request until its window; its records are then done (None), unless the deferral
        could not be stored (the failure: the records are retried)."""
        assert plan.deferral is not None
        now = self._ctx.clock()
        due_at = self._policy.windows.due_after(plan.deferral.reason, plan.deferral.at)
        request = plan.request
        deferral = Deferral(
            request_id=request.request_id,
            fingerprint=request.fingerprint,
            body=plan.envelopes[0].body,
            numbers=tuple(sorted(set(plan.deferred))),
            reason=plan.deferral.reason,
            message=str(plan.deferral),
            due_at=due_at,
            token=self._new_token(),
            meta=request.meta,
            created_at=now,
            expires_at=max(due_at, now) + self._policy.retention,
        )
        try:
            if not self._ctx.store.defer(deferral):
                return self._deferred_elsewhere(plan, deferral, tally)
        except Exception as exc:
            logger.exception("the deferral could not be stored: the record is retried")
            return exc
        logger.warning(
            "request deferred",
            extra={"request_id": request.request_id, "reason": deferral.reason, "due_at": due_at.isoformat()},
        )
        tally.add("Deferred", len(deferral.numbers))
        tally.add(f"Deferred_{deferral.reason}", len(deferral.numbers))
        return None

    def _deferred_elsewhere(self, plan: Plan, deferral: Deferral, tally: Tally) -> BaseException | None:
        """Another deferral holds this request id (a concurrent delivery stored it since this one was
        prepared). The same content (stored before the blacklist option existed): deferred already.
        Another content came first: this request is a reused id — per recipient when part of it is
        stored already (each recipient keeps one outcome), else as a whole, nothing stored."""
        request = plan.request
        stored = self._ctx.store.stored_request(request.request_id)
        if stored.deferred is None:  # released meanwhile: the record comes back and looks again
            return LeaseHeld("the request's deferral changed while it was being deferred")
        if request.same_content(stored.deferred):
            return None
        if any(request.same_content(m.fingerprint) for m in stored.messages.values()):
            message = "this id is deferred with a different request; this recipient was not sent"
            self._rejecter.settled(
                plan, list(deferral.numbers), Reason.DUPLICATE_ID, message, self._ctx.clock(), tally
            )
        else:
            self._rejecter.reused_id(plan.envelopes[0], request, tally)
        return None

    # -- provider calls ----------------------------------------------------------------------------
    def _run(self, calls: list[Call], attempt: Attempt, tally: Tally) -> None:
        if not calls:
            return
        workers = min(self._policy.concurrency, len(calls))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sendsms") as pool:
            list(pool.map(lambda call: self._run_call_safely(call, attempt, tally), calls))

    def _run_call_safely(self, call: Call, attempt: Attempt, tally: Tally) -> None:
        plans = {id(plan): plan for plan, _ in call}
        provider_call = ProviderCall(self._ctx, self._leases, call, attempt, tally)
        try:
            failure = provider_call.run()
        except Exception as exc:  # a table outage: the records are retried
            logger.exception("send call failed", extra={"recipients": len(call)})
            failure = exc
        if provider_call.deferral is not None:
            deferred = {id(message) for message in provider_call.deferred}
            for plan, message in call:
                if id(message) in deferred:
                    plan.deferral = plan.deferral or provider_call.deferral
                    plan.deferred.append(message.to)
        if failure is not None:
            for plan in plans.values():
                plan.failure = plan.failure or failure
