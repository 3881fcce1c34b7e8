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
* **Poison.** Whatever a body makes the parser raise, the request is rejected once and never retried;
  only infrastructure errors (the table, the secret) make a record retry.
* **Requests without ``id``.** Before anything is sent, the request id (the SQS message id) is parked
  under the body's hash for the retention; a copy redriven from the DLQ (same body, new message id)
  finds it and continues that request, so recipients already accepted are not sent again. Without an
  ``id`` a request is therefore known by its content: byte-identical bodies within the retention are
  one request. Give every request an ``id`` to send the same content twice.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sms_gateway.domain.events import Reason
from sms_gateway.domain.model import Blocked, Lease, Message, Rejection, Rejections, State
from sms_gateway.domain.ports import MessageStore, Metrics, NoMetrics, SmsProvider
from sms_gateway.domain.provider_failures import FailureKind, ProviderFailure
from sms_gateway.domain.sending.requests import PoisonRequest, SmsRequest, parse_request
from sms_gateway.domain.tracking.schedule import first_check_at

logger = logging.getLogger("sms_gateway.send")

LONGEST_INVOCATION = timedelta(minutes=15)  # Lambda's hard limit: the deadline when none is given
LEASE_GRACE = timedelta(seconds=30)  # a lease outlives its holder's deadline by this much
WRITES_AFTER_CALL = timedelta(seconds=3)  # time kept for storing a call's outcome


@dataclass(frozen=True)
class Envelope:
    """One queued request, as the domain sees it (no Lambda event shapes here)."""

    message_id: str
    body: str
    receive_count: int = 1  # SQS's ApproximateReceiveCount of this delivery


class SendFailed(RuntimeError):
    """The record must be retried by SQS (nothing was lost; see ``__cause__``)."""


class LeaseHeld(RuntimeError):
    """A concurrent delivery holds a live lease on a recipient of this request: retry later."""


class OutOfTime(RuntimeError):
    """The invocation's remaining time could not cover another provider call: retry later."""


@dataclass
class BatchOutcome:
    failures: dict[str, BaseException] = field(default_factory=dict)

    def check(self, message_id: str) -> None:
        """Raise the failure recorded for ``message_id`` (used to build the partial batch response)."""
        failure = self.failures.get(message_id)
        if failure is not None:
            raise SendFailed(f"record {message_id} will be retried: {failure}") from failure


@dataclass
class _Plan:
    """One request of the batch, with the records (SQS messages) that carry it."""

    request: SmsRequest
    envelopes: list[Envelope]
    body_key: str | None  # the body's hash, for id-less requests (see parking)
    to_send: list[Message] = field(default_factory=list)
    failure: BaseException | None = None  # nothing of this request is sent in this attempt
    retry: BaseException | None = None  # what it can send is sent, but the record comes back


@dataclass(frozen=True)
class _Attempt:
    lease: Lease
    ends_at: float  # the invocation's deadline on the service's timer (real seconds, monotonic)


class _Tally:
    """Metrics counted in worker threads and emitted once from the handler's thread."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._latencies: list[float] = []
        self._lock = threading.Lock()

    def add(self, name: str, value: int = 1) -> None:
        if value:
            with self._lock:
                self._counts[name] += value

    def latency(self, milliseconds: float) -> None:
        with self._lock:
            self._latencies.append(milliseconds)

    def emit(self, metrics: Metrics) -> None:
        for name, value in sorted(self._counts.items()):
            metrics.add_metric(name=name, unit="Count", value=value)
        for latency in self._latencies:
            metrics.add_metric(name="ProviderLatency", unit="Milliseconds", value=round(latency, 1))


def body_key(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _calls(plans: Sequence[_Plan], max_batch: int) -> list[list[tuple[_Plan, Message]]]:
    """Recipients grouped by (sender, text) across the batch, at most ``max_batch`` per call and no number
    twice in one call (two requests may share a text and a recipient). A (request, recipient) is in
    one call at most: all calls of an attempt hold the same lease token, so a second one would pass
    for our own earlier write."""
    groups: dict[tuple[str, str], list[list[tuple[_Plan, Message]]]] = defaultdict(list)
    placed: set[tuple[str, str]] = set()
    for plan in plans:
        for message in plan.to_send:
            if (message.request_id, message.to) in placed:  # defence in depth: plans are per request
                plan.retry = plan.retry or LeaseHeld("this recipient is already being sent in this batch")
                continue
            placed.add((message.request_id, message.to))
            chunks = groups[(plan.request.sender, plan.request.text)]
            for chunk in chunks:
                if len(chunk) < max_batch and all(m.to != message.to for _, m in chunk):
                    chunk.append((plan, message))
                    break
            else:
                chunks.append([(plan, message)])
    return [chunk for chunks in groups.values() for chunk in chunks]


class SendService:
    def __init__(
        self,
        *,
        store: MessageStore,
        provider: SmsProvider,
        default_sender: str,
        retention: timedelta,
        concurrency: int,
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
        call_timeout: timedelta = timedelta(seconds=15),
        new_token: Callable[[], str] = lambda: uuid.uuid4().hex,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._provider = provider
        self._default_sender = default_sender
        self._retention = retention
        self._concurrency = concurrency
        self._clock = clock
        self._metrics = metrics or NoMetrics()
        self._call_budget = call_timeout + WRITES_AFTER_CALL
        self._new_token = new_token
        self._timer = (
            timer  # the time budget runs on real time, whatever the clock (a local stack's is faster)
        )

    # -- the batch ---------------------------------------------------------------------------------
    def send_batch(
        self, envelopes: Sequence[Envelope], remaining: timedelta = LONGEST_INVOCATION
    ) -> BatchOutcome:
        """Send a batch within ``remaining``, the time the invocation has left (Lambda's context)."""
        lease = Lease(self._new_token(), self._clock() + remaining + LEASE_GRACE)
        attempt = _Attempt(lease, self._timer() + remaining.total_seconds())
        tally = _Tally()
        outcome = BatchOutcome()
        try:
            plans = self._plans(envelopes, outcome, tally)
            self._prepare_all(plans, attempt, tally)
            calls = _calls([plan for plan in plans if plan.failure is None], self._provider.max_batch)
            self._run(calls, attempt, tally)
            self._finish(plans, outcome)
        finally:
            tally.emit(self._metrics)
        return outcome

    def _plans(self, envelopes: Sequence[Envelope], outcome: BatchOutcome, tally: _Tally) -> list[_Plan]:
        """Parse every record; reject poison once; one plan per request, copies joined to it."""
        plans: dict[str, _Plan] = {}  # by request id, or by body for id-less requests
        for envelope in envelopes:
            try:
                request = self._parse(envelope)
            except PoisonRequest as poison:
                try:
                    self._reject_poison(envelope, poison, tally)
                except Exception as exc:  # not stored: retry the record, it is rejected again
                    outcome.failures[envelope.message_id] = exc
                continue
            key = f"ID#{request.request_id}" if request.has_id else f"BODY#{body_key(envelope.body)}"
            first = plans.get(key)
            if first is None:
                plans[key] = _Plan(request, [envelope], None if request.has_id else body_key(envelope.body))
            elif first.request.fingerprint == request.fingerprint:  # one request twice: sent once, same fate
                first.envelopes.append(envelope)
                tally.add("DuplicateRequests")
            else:  # the id of an earlier record of this batch, with other content
                try:
                    self._reject_reused_id(envelope, request, tally)
                except Exception as exc:
                    outcome.failures[envelope.message_id] = exc
        return list(plans.values())

    def _parse(self, envelope: Envelope) -> SmsRequest:
        try:
            return parse_request(
                envelope.body, fallback_id=envelope.message_id, default_sender=self._default_sender
            )
        except PoisonRequest:
            raise
        except Exception as exc:  # parsing is pure: whatever it raises, this body can never be sent
            raise PoisonRequest(
                Reason.INVALID_REQUEST,
                f"request could not be read ({type(exc).__name__})",
                request_id=envelope.message_id,
            ) from exc

    def _finish(self, plans: Sequence[_Plan], outcome: BatchOutcome) -> None:
        for plan in plans:
            failure = plan.failure or plan.retry
            if failure is not None:
                for envelope in plan.envelopes:
                    outcome.failures[envelope.message_id] = failure

    # -- id-less requests --------------------------------------------------------------------------
    def _park_or_adopt(self, plan: _Plan) -> None:
        """An id-less request is known by its SQS message id, which a redrive from the DLQ changes.
        Before anything is sent its id is parked under the body's hash for the retention; a redriven
        copy (same body, new message id) finds it and continues that request instead of starting a
        new one. It is not forgotten when the request completes: another delivery of the same message
        may be on its way to the DLQ at that very moment."""
        if plan.body_key is None:
            return
        parked = self._store.park(plan.body_key, plan.request.request_id, self._clock() + self._retention)
        if parked != plan.request.request_id:
            logger.info(
                "request without id seen before (a redrive): continuing it",
                extra={"request_id": parked, "sqs_message_id": plan.envelopes[0].message_id},
            )
            plan.request = replace(plan.request, request_id=parked)

    # -- rejecting whole requests and numbers ------------------------------------------------------
    def _reject_poison(self, envelope: Envelope, poison: PoisonRequest, tally: _Tally) -> None:
        logger.warning(
            "request rejected",
            extra={
                "request_id": poison.request_id,
                "sqs_message_id": envelope.message_id,
                "reason": poison.reason,
                "detail": poison.message,
            },
        )
        self._reject(envelope, poison.request_id, poison.reason, poison.message, poison.meta, tally)

    def _reject(
        self, envelope: Envelope, request_id: str, reason: str, message: str, meta: object, tally: _Tally
    ) -> None:
        """A whole SQS message rejected (poison, a reused id): one rejection item, keyed by the message."""
        self._store.reject(
            Rejections(
                key=f"MSG#{envelope.message_id}",
                request_id=request_id,
                meta=meta if isinstance(meta, dict) else None,
                entries=(Rejection(None, reason, message),),
            ),
            expires_at=self._clock() + self._retention,
        )
        tally.add("Rejected")
        tally.add(f"Rejected_{reason}")

    def _reject_reused_id(self, envelope: Envelope, request: SmsRequest, tally: _Tally) -> None:
        logger.warning(
            "request id reused for different content: rejected",
            extra={"request_id": request.request_id, "sqs_message_id": envelope.message_id},
        )
        tally.add("DuplicateRequests")
        self._reject(
            envelope,
            request.request_id,
            Reason.DUPLICATE_ID,
            "this id was already used for a different request; nothing was sent",
            request.meta,
            tally,
        )

    def _reject_numbers(self, request: SmsRequest, tally: _Tally) -> None:
        """Invalid numbers of a request (the same on every delivery of its content): one rejection
        item per request and content, written once."""
        entries = [Rejection(item.value, Reason.INVALID_NUMBER, item.message) for item in request.invalid]
        if not entries:
            return
        key = f"REQ#{request.request_id}#{request.fingerprint}"
        created = self._store.reject(
            Rejections(key, request.request_id, request.meta, tuple(entries)),
            expires_at=self._clock() + self._retention,
        )
        if created:
            tally.add("Rejected", len(entries))
            tally.add(f"Rejected_{Reason.INVALID_NUMBER}", len(entries))

    def _reject_opted_out(self, plan: _Plan, opted_out: set[str], now: datetime, tally: _Tally) -> None:
        """Opted-out recipients are settled ``rejected`` like any recipient (one conditional put each),
        so whatever the list says at a later delivery, each has exactly one stored outcome."""
        if not opted_out:
            return
        settled = [
            replace(
                self._recipient(plan, number, now),
                state=State.REJECTED,
                final=True,
                reason=Reason.OPTED_OUT,
                reason_message="the recipient opted out of messages from this sender",
            )
            for number in sorted(opted_out)
        ]
        blocked = self._store.record(settled)
        tally.add("Rejected", len(settled) - len(blocked))
        tally.add(f"Rejected_{Reason.OPTED_OUT}", len(settled) - len(blocked))

    # -- preparing one request -------------------------------------------------------------------
    def _prepare_all(self, plans: Sequence[_Plan], attempt: _Attempt, tally: _Tally) -> None:
        if not plans:
            return
        workers = max(1, min(self._concurrency, len(plans)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prepare") as pool:
            list(pool.map(lambda plan: self._prepare_safely(plan, attempt, tally), plans))

    def _prepare_safely(self, plan: _Plan, attempt: _Attempt, tally: _Tally) -> None:
        try:
            self._prepare(plan, attempt, tally)
        except Exception as exc:  # infrastructure (the table): the record is retried
            logger.exception(
                "request could not be prepared", extra={"sqs_message_id": plan.envelopes[0].message_id}
            )
            plan.failure = exc

    def _prepare(self, plan: _Plan, attempt: _Attempt, tally: _Tally) -> None:
        self._park_or_adopt(plan)
        request = plan.request
        if not request.recipients:  # nothing to send: each given number is rejected by name, once
            logger.warning("request has no valid recipient", extra={"request_id": request.request_id})
            self._reject_numbers(request, tally)
            return
        now = self._clock()
        envelope = plan.envelopes[0]
        log = {"request_id": request.request_id, "sqs_message_id": envelope.message_id}
        existing = self._store.messages_of(request.request_id)
        if any(m.fingerprint not in (None, request.fingerprint) for m in existing.values()):
            self._reject_reused_id(envelope, request, tally)
            return
        if any(m.owner != envelope.message_id for m in existing.values()):
            # Another SQS message carried this request: a producer's retry, or a redrive from the DLQ
            # under a new message id. Recipients already stored are never sent again.
            tally.add("DuplicateRequests")
            logger.info("repeated request: only recipients not yet stored are sent", extra=log)
        held = self._settle_stored(list(existing.values()), now, tally)
        if held:  # a concurrent delivery is sending those: the others go now, the record comes back
            plan.retry = LeaseHeld(f"{held} recipients are being sent by another attempt")
        pending = [number for number in request.recipients if number not in existing]
        opted_out = self._store.opted_out(pending) if pending else set()
        self._reject_numbers(request, tally)
        self._reject_opted_out(plan, opted_out, now, tally)
        plan.to_send = [self._recipient(plan, number, now) for number in pending if number not in opted_out]

    def _recipient(self, plan: _Plan, number: str, now: datetime) -> Message:
        """One recipient of the plan's request, as first stored (``sending`` until leased)."""
        request = plan.request
        return Message(
            request_id=request.request_id,
            to=number,
            sender=request.sender,
            owner=plan.envelopes[0].message_id,
            state=State.SENDING,
            parts=request.parts,
            meta=request.meta,
            created_at=now,
            expires_at=now + self._retention,
            fingerprint=request.fingerprint,
        )

    def _settle_stored(self, stored: list[Message], now: datetime, tally: _Tally) -> int:
        """What earlier attempts left: take over expired leases (``outcome_unknown``) and leave live
        leases to their holder. Settled recipients need nothing more. Returns how many are held."""
        live = [m for m in stored if m.state == State.SENDING and not _expired(m, now)]
        expired = [m for m in stored if m.state == State.SENDING and _expired(m, now)]
        taken = self._take_over(expired, now, tally)
        return len(live) + len(expired) - len(taken)

    def _take_over(self, expired: list[Message], now: datetime, tally: _Tally) -> list[Message]:
        if not expired:
            return []
        for message in expired:
            message.state, message.final = State.UNKNOWN, True
            message.reason = Reason.OUTCOME_UNKNOWN
            message.reason_message = (
                "an earlier attempt stopped while asking Asanak to send; it may have been sent, so it is "
                "not sent again"
            )
            logger.error(
                "outcome unknown: an attempt died holding the lease",
                extra={"request_id": message.request_id, "to": message.to},
            )
        blocked = self._store.take_over(expired, now)
        taken = [m for m in expired if m.to not in blocked]
        tally.add("Rejected", len(taken))
        tally.add(f"Rejected_{Reason.OUTCOME_UNKNOWN}", len(taken))
        return taken

    # -- provider calls ----------------------------------------------------------------------------
    def _run(self, calls: list[list[tuple[_Plan, Message]]], attempt: _Attempt, tally: _Tally) -> None:
        if not calls:
            return
        workers = min(self._concurrency, len(calls))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sendsms") as pool:
            list(pool.map(lambda call: self._run_call_safely(call, attempt, tally), calls))

    def _run_call_safely(self, call: list[tuple[_Plan, Message]], attempt: _Attempt, tally: _Tally) -> None:
        plans = {id(plan): plan for plan, _ in call}
        try:
            failure = _Call(self, call, attempt, tally).run()
        except Exception as exc:  # a table outage: the records are retried
            logger.exception("send call failed", extra={"recipients": len(call)})
            failure = exc
        if failure is not None:
            for plan in plans.values():
                plan.failure = plan.failure or failure

    def _has_time(self, attempt: _Attempt) -> bool:
        return attempt.ends_at - self._timer() >= self._call_budget.total_seconds()


def _expired(message: Message, now: datetime) -> bool:
    return message.lease_until is None or message.lease_until < now


class _Call:
    """One group of recipients sharing a sender and a text: leased, sent (split on unnamed refusals)
    and settled. Returns the failure that must make its records retry, if any."""

    def __init__(
        self, service: SendService, call: list[tuple[_Plan, Message]], attempt: _Attempt, tally: _Tally
    ) -> None:
        self._service = service
        self._store = service._store
        self._lease = attempt.lease
        self._attempt = attempt
        self._tally = tally
        self._request = call[0][0].request
        self._messages = [message for _, message in call]
        self._failure: BaseException | None = None

    def run(self) -> BaseException | None:
        if not self._service._has_time(self._attempt):
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
        now = self._service._clock()
        stored = [m for m in blocked.values() if m is not None]
        try:
            held = self._service._settle_stored(stored, now, self._tally)
        except Exception as exc:  # an outage: those records retry later
            self._fail(exc)
            return
        if held:
            self._fail(LeaseHeld(f"{held} recipients are being sent by another attempt"))

    def _send(self, messages: list[Message]) -> None:
        """Call Asanak for ``messages`` (all leased by us); settle or release every one of them."""
        if not self._service._has_time(self._attempt):
            self._release(messages, OutOfTime("no time left in this invocation for another provider call"))
            return
        started = time.perf_counter()
        try:
            msgids = self._service._provider.send(
                self._request.sender, [m.to for m in messages], self._request.text
            )
        except ProviderFailure as failure:
            self._refused(messages, failure)
            return
        except Exception as exc:  # not a provider answer: a fault of ours, nothing was sent
            self._refused(messages, ProviderFailure.internal(exc))
            return
        self._tally.latency((time.perf_counter() - started) * 1000)
        accepted_at = self._service._clock()
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

    def _release(self, messages: list[Message], error: BaseException) -> None:
        self._fail(error)
        try:
            self._store.release(messages, self._lease)
        except Exception:  # the leases stay: after they expire, these are settled outcome_unknown
            logger.exception("could not release leases")
