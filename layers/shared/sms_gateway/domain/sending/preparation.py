"""Preparing one request before any call: adopt a redriven id-less request, settle what earlier
attempts left, reject what cannot be sent, and list the recipients still to send."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from sms_gateway.domain.errors import LeaseHeld
from sms_gateway.domain.sending.leases import Leases
from sms_gateway.domain.sending.plans import Context, Plan, new_recipient
from sms_gateway.domain.sending.rejections import Rejecter
from sms_gateway.domain.sending.templates import TemplateCatalog, refusal
from sms_gateway.domain.tally import Tally

logger = logging.getLogger("sms_gateway.send")


class Preparer:
    def __init__(self, context: Context, rejecter: Rejecter, leases: Leases, concurrency: int) -> None:
        self._ctx = context
        self._catalog = TemplateCatalog(context.store, context.provider, context.clock)
        self._reject = rejecter
        self._leases = leases
        self._concurrency = concurrency

    def prepare_all(self, plans: Sequence[Plan], tally: Tally) -> None:
        if not plans:
            return
        workers = max(1, min(self._concurrency, len(plans)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prepare") as pool:
            list(pool.map(lambda plan: self._prepare_safely(plan, tally), plans))

    def _prepare_safely(self, plan: Plan, tally: Tally) -> None:
        try:
            self._prepare(plan, tally)
        except Exception as exc:  # infrastructure (the table): the record is retried
            logger.exception(
                "request could not be prepared", extra={"sqs_message_id": plan.envelopes[0].message_id}
            )
            plan.failure = exc

    def _prepare(self, plan: Plan, tally: Tally) -> None:
        self._park_or_adopt(plan)
        request = plan.request
        if not request.recipients:  # nothing to send: each given number is rejected by name, once
            logger.warning("request has no valid recipient", extra={"request_id": request.request_id})
            self._reject.numbers(request, tally)
            return
        now = self._ctx.clock()
        envelope = plan.envelopes[0]
        log = {"request_id": request.request_id, "sqs_message_id": envelope.message_id}
        stored = self._ctx.store.stored_request(request.request_id)
        existing = stored.messages
        fingerprints = [m.fingerprint for m in existing.values()]
        if stored.deferred is not None:  # a request deferred under this id counts as stored
            fingerprints.append(stored.deferred)
        if not all(request.same_content(fingerprint) for fingerprint in fingerprints):
            self._reject.reused_id(envelope, request, tally)
            return
        if any(m.owner != envelope.message_id for m in existing.values()):
            # Another SQS message carried this request: a producer's retry, or a redrive from the DLQ
            # under a new message id. Recipients already stored are never sent again.
            tally.add("DuplicateRequests")
            logger.info("repeated request: only recipients not yet stored are sent", extra=log)
        held = self._leases.settle_stored(list(existing.values()), now, tally)
        if held:  # a concurrent delivery is sending those: the others go now, the record comes back
            plan.retry = LeaseHeld(f"{held} recipients are being sent by another attempt")
        pending = [number for number in request.recipients if number not in existing]
        opted_out = self._ctx.store.opted_out(pending) if pending else set()
        self._reject.numbers(request, tally)
        self._reject.opted_out(plan, opted_out, now, tally)
        sendable = [number for number in pending if number not in opted_out]
        refused = None
        if sendable:  # recipients already stored keep their outcome, whatever the template list says now
            refused = refusal(
                request, provider_has_templates=self._ctx.provider.templates, catalog=self._catalog
            )
        if refused is not None:  # before any call: each recipient settled rejected, once and for good
            reason, message = refused
            self._reject.settled(plan, sendable, reason, message, now, tally)
            return
        plan.to_send = [new_recipient(plan, number, now, self._ctx.retention) for number in sendable]

    def _park_or_adopt(self, plan: Plan) -> None:
        """An id-less request is known by its SQS message id, which a redrive from the DLQ changes.
        Before anything is sent its id is parked under the body's hash for the retention; a redriven
        copy (same body, new message id) finds it and continues that request instead of starting a
        new one. It is not forgotten when the request completes: another delivery of the same message
        may be on its way to the DLQ at that very moment."""
        if plan.body_key is None:
            return
        parked = self._ctx.store.park(plan.body_key, plan.request.request_id, self._ctx.expires_at())
        if parked != plan.request.request_id:
            logger.info(
                "request without id seen before (a redrive): continuing it",
                extra={"request_id": parked, "sqs_message_id": plan.envelopes[0].message_id},
            )
            plan.request = replace(plan.request, request_id=parked)
