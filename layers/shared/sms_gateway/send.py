"""Sending: a batch of SQS requests in, each recipient sent exactly once, outcomes out as events.

How "exactly once" holds when things go wrong:

1. A request id is *claimed* by the first SQS message that carries it (conditional write). Another
   message with the same ``id`` within the retention window is a duplicate: nothing is sent.
2. Before Asanak is called, an *intent* is recorded per recipient (conditional write, state
   ``sending``). After Asanak returns msgids they are stored (state ``accepted``) and then the events
   go out (``published``).
3. On redelivery, stored state decides: ``accepted`` is never sent again (its event is re-published
   only if it had not gone out); ``sending`` means an earlier attempt died between recording the
   intent and storing the answer — Asanak may have queued it, so it is reported ``outcome_unknown``
   and kept for an operator, never re-sent.
4. Errors that prove nothing was sent (connection refused, 429, 5xx, blocked IP, bad credentials,
   an account problem such as no credit) release the intent and fail the record, so SQS retries it
   and finally moves it to the DLQ: messages are never dropped. An *ambiguous* error (a timeout
   after the request was sent) is ``outcome_unknown``, never retried.

Recipients of all requests in a batch that share a sender and a text are grouped, so they share
provider calls (at most 100 destinations each); independent calls run concurrently, bounded.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from asanak.client import MAX_BATCH, chunked
from asanak.errors import (
    AmbiguousError,
    AsanakError,
    BlockedError,
    CredentialsError,
    RejectedError,
    RetryableError,
)

from sms_gateway import events
from sms_gateway.events import Event, EventPublisher, Reason
from sms_gateway.metrics import Metrics, NoMetrics
from sms_gateway.provider import SmsProvider
from sms_gateway.requests import PoisonRequest, SmsRequest, parse_request
from sms_gateway.store import Message, MessageStore, State
from sms_gateway.tracking import first_check_at

logger = logging.getLogger("sms_gateway.send")

# Refusals an operator fixes (top up credit, activate the sender, wait for tomorrow's limit):
# the request is kept and retried, never dropped.
LONGEST_INVOCATION = timedelta(minutes=15)  # Lambda's hard limit
ACCOUNT_REASONS = frozenset({"credentials", "inactive_sender", "out_of_credit", "daily_limit"})


@dataclass(frozen=True)
class Envelope:
    """One queued request, as the domain sees it (no Lambda event shapes here)."""

    message_id: str
    body: str


class SendFailed(RuntimeError):
    """The record must be retried by SQS (nothing was lost; see ``__cause__``)."""


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
    envelope: Envelope
    request: SmsRequest
    to_send: list[Message]


def _outcome_event(message: Message) -> Event:
    if message.state in (State.ACCEPTED, State.FINAL) and message.msgid is not None:
        return events.sms_accepted(
            request_id=message.request_id,
            msgid=message.msgid,
            to=message.to,
            sender=message.sender,
            parts=message.parts,
            meta=message.meta,
        )
    return events.sms_rejected(
        request_id=message.request_id,
        to=message.to,
        reason=message.reason or Reason.OUTCOME_UNKNOWN,
        message=message.reason_message or "",
        meta=message.meta,
    )


class SendService:
    def __init__(
        self,
        *,
        store: MessageStore,
        publisher: EventPublisher,
        provider: SmsProvider,
        default_sender: str,
        retention: timedelta,
        concurrency: int,
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._provider = provider
        self._default_sender = default_sender
        self._retention = retention
        self._concurrency = concurrency
        self._clock = clock
        self._metrics = metrics or NoMetrics()

    # -- the batch ---------------------------------------------------------------------------------
    def send_batch(self, envelopes: Sequence[Envelope]) -> BatchOutcome:
        outcome = BatchOutcome()
        plans: list[_Plan] = []
        # Records are independent until their recipients are grouped: prepare them concurrently.
        workers = max(1, min(self._concurrency, len(envelopes)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prepare") as pool:
            prepared = list(pool.map(self._prepare_safely, envelopes))
        for envelope, (plan, failure) in zip(envelopes, prepared, strict=True):
            if failure is not None:
                outcome.failures[envelope.message_id] = failure
            elif plan is not None:
                plans.append(plan)

        chunks = self._chunks(plans)
        outbox: list[Message] = []  # outcomes stored by the provider calls, published together
        if chunks:
            workers = min(self._concurrency, len(chunks))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sendsms") as pool:
                results = list(pool.map(lambda chunk: self._send_chunk(chunk, outbox), chunks))
            for chunk, failure in zip(chunks, results, strict=True):
                if failure is not None:
                    for message_id in {plan.envelope.message_id for plan, _ in chunk}:
                        outcome.failures.setdefault(message_id, failure)
        failure = self._publish_outcomes(outbox)
        if failure is not None:  # stored but not published: the retry publishes them (never re-sends)
            for message in outbox:
                outcome.failures.setdefault(message.owner, failure)
        return outcome

    # -- one request -------------------------------------------------------------------------------
    def _prepare_safely(self, envelope: Envelope) -> tuple[_Plan | None, BaseException | None]:
        """Prepare one record; return its plan, or the failure that must make SQS retry it."""
        try:
            return self._prepare(envelope), None
        except PoisonRequest as poison:
            try:
                self._reject_poison(envelope, poison)
            except Exception as exc:  # publishing failed: retry the record, it will be rejected again
                return None, exc
            return None, None
        except Exception as exc:
            logger.exception("request could not be prepared", extra={"sqs_message_id": envelope.message_id})
            return None, exc

    def _reject_poison(self, envelope: Envelope, poison: PoisonRequest) -> None:
        logger.warning(
            "request rejected",
            extra={
                "request_id": poison.request_id,
                "sqs_message_id": envelope.message_id,
                "reason": poison.reason,
                "detail": poison.message,
            },
        )
        self._publisher.publish(
            [
                events.sms_rejected(
                    request_id=poison.request_id,
                    to=None,
                    reason=poison.reason,
                    message=poison.message,
                    meta=poison.meta,
                )
            ]
        )
        self._count_rejected(poison.reason)

    def _count_rejected(self, reason: str, count: int = 1) -> None:
        self._metrics.add_metric(name="Rejected", unit="Count", value=count)
        self._metrics.add_metric(name=f"Rejected_{reason}", unit="Count", value=count)

    def _prepare(self, envelope: Envelope) -> _Plan | None:
        request = parse_request(
            envelope.body, fallback_id=envelope.message_id, default_sender=self._default_sender
        )
        if not request.recipients:  # nothing to send: each given number is rejected by name, once
            logger.warning("request has no valid recipient", extra={"request_id": request.request_id})
            self._reject_invalid(request)
            return None
        now = self._clock()
        claim = self._store.claim_request(
            request_id=request.request_id,
            owner=envelope.message_id,
            fingerprint=request.fingerprint,
            now=now,
            expires_at=now + self._retention,
        )
        log = {"request_id": request.request_id, "sqs_message_id": envelope.message_id}
        if claim.duplicate:
            # Another SQS message carried this id: a producer's retry, or the same request redriven
            # from the DLQ under a new message id. Recipients it already stored are never sent again;
            # any it did not (released after a refusal) are sent now, so a redrive is not dropped.
            self._metrics.add_metric(name="DuplicateRequests", unit="Count", value=1)
            if claim.fingerprint != request.fingerprint:
                logger.warning("request id reused for different content: rejected", extra=log)
                self._publisher.publish(
                    [
                        events.sms_rejected(
                            request_id=request.request_id,
                            to=None,
                            reason=Reason.DUPLICATE_ID,
                            message="this id was already used for a different request; nothing was sent",
                            meta=request.meta,
                        )
                    ]
                )
                self._count_rejected(Reason.DUPLICATE_ID)
                return None
            logger.info("duplicate request id: only recipients not yet stored are sent", extra=log)

        existing = {} if claim.first_attempt else self._store.messages_of(request.request_id)
        pending = [number for number in request.recipients if number not in existing]
        opted_out = self._store.opted_out(pending) if pending else set()

        if not claim.rejections_published and (request.invalid or opted_out):
            self._reject_invalid(request, opted_out)
            self._store.mark_rejections_published(request.request_id)

        # Settle this message's own earlier attempts, and another message's only once no invocation
        # of it can still be running (a Lambda runs 15 minutes at most): until then they are its own.
        settle_before = now - LONGEST_INVOCATION
        self._settle_earlier_attempt(
            [m for m in existing.values() if m.owner == envelope.message_id or m.created_at < settle_before]
        )

        to_send = [
            Message(
                request_id=request.request_id,
                to=number,
                sender=request.sender,
                owner=envelope.message_id,
                state=State.SENDING,
                parts=request.parts,
                meta=request.meta,
                created_at=now,
                expires_at=now + self._retention,
            )
            for number in pending
            if number not in opted_out
        ]
        if not to_send:
            return None
        return _Plan(envelope, request, to_send)

    def _reject_invalid(self, request: SmsRequest, opted_out: set[str] | None = None) -> None:
        rejections = [
            events.sms_rejected(
                request_id=request.request_id,
                to=item.value,
                reason=Reason.INVALID_NUMBER,
                message=item.message,
                meta=request.meta,
            )
            for item in request.invalid
        ]
        rejections += [
            events.sms_rejected(
                request_id=request.request_id,
                to=number,
                reason=Reason.OPTED_OUT,
                message="the recipient opted out of messages from this sender",
                meta=request.meta,
            )
            for number in sorted(opted_out or ())
        ]
        if rejections:
            self._publisher.publish(rejections)
            if request.invalid:
                self._count_rejected(Reason.INVALID_NUMBER, len(request.invalid))
            if opted_out:
                self._count_rejected(Reason.OPTED_OUT, len(opted_out))

    def _settle_earlier_attempt(self, existing: list[Message]) -> None:
        """Redelivery: never re-send what was stored; report what an earlier attempt left half-done."""
        half_done = [message for message in existing if message.state == State.SENDING]
        for message in half_done:
            message.state = State.UNKNOWN
            message.final = True
            message.reason = Reason.OUTCOME_UNKNOWN
            message.reason_message = (
                "an earlier attempt stopped after asking Asanak to send; it may have been sent, so it is not "
                "sent again"
            )
            logger.error(
                "outcome unknown: earlier attempt found half-done",
                extra={"request_id": message.request_id, "to": message.to},
            )
        if half_done:
            self._store.mark_outcome(half_done)
            self._count_rejected(Reason.OUTCOME_UNKNOWN, len(half_done))
        unpublished = [message for message in existing if not message.published]
        if unpublished:
            self._publisher.publish([_outcome_event(message) for message in unpublished])
            self._store.mark_published(unpublished)

    # -- provider calls ----------------------------------------------------------------------------
    @staticmethod
    def _chunks(plans: list[_Plan]) -> list[list[tuple[_Plan, Message]]]:
        groups: dict[tuple[str, str], list[tuple[_Plan, Message]]] = defaultdict(list)
        for plan in plans:
            for message in plan.to_send:
                groups[(plan.request.sender, plan.request.text)].append((plan, message))
        return [chunk for items in groups.values() for chunk in chunked(items, MAX_BATCH)]

    def _send_chunk(self, chunk: list[tuple[_Plan, Message]], outbox: list[Message]) -> BaseException | None:
        """Send one provider call's worth of recipients; return the error that must fail its records.

        Messages whose outcome is stored go to ``outbox``: the batch publishes them all together.
        """
        plan0 = chunk[0][0]
        messages = [message for _, message in chunk]
        sender, text = plan0.request.sender, plan0.request.text
        try:
            self._store.record_intents(messages)
        except Exception as exc:
            # Nothing was sent. Forget the intents this attempt did record (a concurrent delivery of
            # the same SQS message may own the others), so the retry can send them.
            logger.exception(
                "could not record intent; nothing sent", extra={"request_id": plan0.request.request_id}
            )
            written = getattr(exc, "written", [])
            if written:
                try:
                    self._store.release_intents(written)
                except Exception:  # they stay 'sending': a redelivery reports them outcome_unknown
                    logger.exception("could not release intents")
            return exc
        started = time.perf_counter()
        try:
            msgids = self._provider.send(sender, [message.to for message in messages], text)
        except AmbiguousError as exc:
            return self._settle(messages, State.UNKNOWN, Reason.OUTCOME_UNKNOWN, exc, "ambiguous", outbox)
        except RejectedError as exc:
            if exc.reason in ACCOUNT_REASONS:
                return self._release(
                    messages, exc, "credentials" if isinstance(exc, CredentialsError) else "account"
                )
            return self._settle(messages, State.REJECTED, Reason.PROVIDER_REJECTED, exc, "rejected", outbox)
        except BlockedError as exc:
            return self._release(messages, exc, "blocked")
        except RetryableError as exc:
            return self._release(messages, exc, "unavailable")
        except AsanakError as exc:  # a future error class: treat like an unknown outcome, never re-send
            return self._settle(messages, State.UNKNOWN, Reason.OUTCOME_UNKNOWN, exc, "ambiguous", outbox)
        except Exception as exc:
            # Not a provider answer (the secret could not be read, say): the client turns every failure
            # after the request went out into an AsanakError, so nothing was sent and a retry is safe.
            return self._release(messages, exc, "internal")

        self._metrics.add_metric(
            name="ProviderLatency",
            unit="Milliseconds",
            value=round((time.perf_counter() - started) * 1000, 1),
        )
        accepted_at = self._clock()
        for message, msgid in zip(messages, msgids, strict=True):
            message.msgid = msgid
            message.state = State.ACCEPTED
            message.accepted_at = accepted_at
            message.next_check = first_check_at(accepted_at)
        try:
            self._store.mark_accepted(messages)
        except Exception as exc:
            # Asanak accepted but we could not store it: the intents stay 'sending', so a redelivery
            # reports outcome_unknown instead of sending again. The msgids are logged for the operator.
            logger.exception(
                "accepted by Asanak but not stored",
                extra={"request_id": plan0.request.request_id, "msgids": msgids},
            )
            return exc
        for message in messages:
            logger.info(
                "sms accepted",
                extra={"request_id": message.request_id, "msgid": message.msgid, "to": message.to},
            )
        self._metrics.add_metric(name="Accepted", unit="Count", value=len(messages))
        self._metrics.add_metric(name="PartsSent", unit="Count", value=sum(m.parts for m in messages))
        outbox.extend(messages)
        return None

    def _publish_outcomes(self, messages: list[Message]) -> BaseException | None:
        if not messages:
            return None
        try:
            self._publisher.publish([_outcome_event(message) for message in messages])
            self._store.mark_published(messages)
        except Exception as exc:
            logger.exception("outcome stored but not yet published; the retry publishes it")
            return exc
        return None

    def _release(self, messages: list[Message], error: Exception, kind: str) -> BaseException:
        self._metrics.add_metric(name=f"ProviderError_{kind}", unit="Count", value=1)
        logger.warning(
            "nothing was sent; the request will be retried",
            extra={
                "error_class": kind,
                "http_status": getattr(error, "http_status", None),
                "error": str(error),
            },
        )
        try:
            self._store.release_intents(messages)
        except Exception as exc:  # the intents stay: a redelivery will report them outcome_unknown
            logger.exception("could not release intents")
            return exc
        return error

    def _settle(
        self,
        messages: list[Message],
        state: str,
        reason: str,
        error: BaseException,
        kind: str,
        outbox: list[Message],
    ) -> BaseException | None:
        self._metrics.add_metric(name=f"ProviderError_{kind}", unit="Count", value=1)
        for message in messages:
            message.state = state
            message.final = True
            message.reason = reason
            message.reason_message = str(error)
        logger.error(
            "send outcome settled without a msgid",
            extra={"reason": reason, "error": str(error), "recipients": len(messages)},
        )
        try:
            self._store.mark_outcome(messages)
        except Exception as exc:
            return exc
        self._count_rejected(reason, len(messages))
        outbox.extend(messages)
        return None
