"""Rejections before any provider call: poison records, reused ids, invalid and opted-out numbers.

Each is stored once (a conditional write) and published from the store by the outbox; the counts go
to the batch's tally.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sms_gateway.domain.events import Reason
from sms_gateway.domain.model import Rejection, Rejections, State
from sms_gateway.domain.sending.plans import Context, Envelope, Plan, new_recipient
from sms_gateway.domain.sending.requests import PoisonRequest, SmsRequest
from sms_gateway.domain.tally import Tally

logger = logging.getLogger("sms_gateway.send")


class Rejecter:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    def poison(self, envelope: Envelope, poison: PoisonRequest, tally: Tally) -> None:
        logger.warning(
            "request rejected",
            extra={
                "request_id": poison.request_id,
                "sqs_message_id": envelope.message_id,
                "reason": poison.reason,
                "detail": poison.message,
            },
        )
        self._whole(envelope, poison.request_id, poison.reason, poison.message, poison.meta, tally)

    def _whole(
        self,
        envelope: Envelope,
        request_id: str,
        reason: str,
        message: str,
        meta: object,
        tally: Tally,
        template_id: str | None = None,
    ) -> None:
        """A whole SQS message rejected (poison, a reused id): one rejection item, keyed by the message."""
        self._ctx.store.reject(
            Rejections(
                key=f"MSG#{envelope.message_id}",
                request_id=request_id,
                meta=meta if isinstance(meta, dict) else None,
                entries=(Rejection(None, reason, message),),
                template_id=template_id,
            ),
            expires_at=self._ctx.expires_at(),
        )
        tally.add("Rejected")
        tally.add(f"Rejected_{reason}")

    def reused_id(self, envelope: Envelope, request: SmsRequest, tally: Tally) -> None:
        logger.warning(
            "request id reused for different content: rejected",
            extra={"request_id": request.request_id, "sqs_message_id": envelope.message_id},
        )
        tally.add("DuplicateRequests")
        self._whole(
            envelope,
            request.request_id,
            Reason.DUPLICATE_ID,
            "this id was already used for a different request; nothing was sent",
            request.meta,
            tally,
            template_id_of(request),
        )

    def numbers(self, request: SmsRequest, tally: Tally) -> None:
        """Invalid numbers of a request (the same on every delivery of its content): one rejection
        item per request and content, written once."""
        entries = [Rejection(item.value, Reason.INVALID_NUMBER, item.message) for item in request.invalid]
        if not entries:
            return
        key = f"REQ#{request.request_id}#{request.fingerprint}"
        created = self._ctx.store.reject(
            Rejections(key, request.request_id, request.meta, tuple(entries), template_id_of(request)),
            expires_at=self._ctx.expires_at(),
        )
        if created:
            tally.add("Rejected", len(entries))
            tally.add(f"Rejected_{Reason.INVALID_NUMBER}", len(entries))

    def opted_out(self, plan: Plan, opted_out: set[str], now: datetime, tally: Tally) -> None:
        """Opted-out recipients are settled ``rejected`` like any recipient (one conditional put each),
        so whatever the list says at a later delivery, each has exactly one stored outcome."""
        message = "the recipient opted out of messages from this sender"
        self.settled(plan, sorted(opted_out), Reason.OPTED_OUT, message, now, tally)

    def settled(
        self, plan: Plan, numbers: Sequence[str], reason: str, message: str, now: datetime, tally: Tally
    ) -> None:
        """Recipients refused before any call for a reason that may not hold later (an opt-out, a
        template list): settled ``rejected`` like any recipient (one conditional put each), so whatever
        a later delivery finds, each keeps exactly one stored outcome."""
        if not numbers:
            return
        logger.warning(
            "recipients rejected before any call",
            extra={"request_id": plan.request.request_id, "reason": reason, "recipients": len(numbers)},
        )
        settled = [
            replace(
                new_recipient(plan, number, now, self._ctx.retention),
                state=State.REJECTED,
                final=True,
                reason=reason,
                reason_message=message,
            )
            for number in numbers
        ]
        blocked = self._ctx.store.record(settled)
        tally.add("Rejected", len(settled) - len(blocked))
        tally.add(f"Rejected_{reason}", len(settled) - len(blocked))


def template_id_of(request: SmsRequest) -> str | None:
    return None if request.template is None else request.template.template_id
