"""One round of a poll run: ask about up to ``concurrency`` × 100 due messages, a few msgstatus calls
at once, and store what changed (one conditional write each) or when to ask next."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial

from asanak import statuses
from asanak.batching import chunked
from asanak.statuses import MessageStatus

from sms_gateway.domain.model import Message, StatusChange
from sms_gateway.domain.ports import SmsProvider, TrackingStore
from sms_gateway.domain.provider_failures import ProviderFailure
from sms_gateway.domain.tally import Tally
from sms_gateway.domain.tracking.report import OUTCOME_METRICS
from sms_gateway.domain.tracking.rules import WRITE_CONCURRENCY, accepted_at, next_check_for, transition

logger = logging.getLogger("sms_gateway.poll")


class Round:
    def __init__(
        self,
        store: TrackingStore,
        provider: SmsProvider,
        clock: Callable[[], datetime],
        horizon: timedelta,
        concurrency: int,
    ) -> None:
        self._store = store
        self._provider = provider
        self._clock = clock
        self._horizon = horizon
        self._concurrency = concurrency

    def run(self, messages: list[Message], tally: Tally) -> None:
        now = self._clock()
        chunks = list(chunked([m for m in messages if m.msgid], self._provider.max_batch))
        if not chunks:
            return
        workers = min(self._concurrency, len(chunks))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="msgstatus") as pool:
            for _ in pool.map(lambda chunk: self._track(chunk, now, tally), chunks):
                pass

    def _track(self, chunk: list[Message], now: datetime, tally: Tally) -> None:
        """Ask about one chunk (≤ 100 msgids) and apply the answers."""
        answers: list[MessageStatus] | None
        tally.add("MsgStatusCalls")
        try:
            answers = self._provider.status([m.msgid for m in chunk if m.msgid])
        except ProviderFailure as failure:
            answers = None
            tally.add(failure.metric)
            logger.warning(
                "msgstatus failed; these messages stay due for the next run",
                extra={"error_class": failure.error_class, "error": str(failure), "messages": len(chunk)},
            )
        by_msgid = {answer.msgid: answer for answer in answers or ()}
        writes: list[Callable[[], None]] = []
        for message in chunk:
            seen = by_msgid.get(message.msgid or "")
            change = transition(message, seen, now, self._horizon)
            if change is not None:
                writes.append(self._change_writer(message, change, now, tally))
            elif answers is None:  # no answer at all: leave it due
                tally.add("LeftDue")
            else:
                writes.append(partial(self._reschedule, message, seen, now, tally))
        if writes:  # one conditional write each, a few at a time: a run is bound by these round trips
            with ThreadPoolExecutor(max_workers=min(WRITE_CONCURRENCY, len(writes))) as pool:
                list(pool.map(lambda write: write(), writes))

    def _change_writer(
        self, message: Message, change: StatusChange, now: datetime, tally: Tally
    ) -> Callable[[], None]:
        def write() -> None:
            next_check = None if change.final else next_check_for(message, change.status, now, self._horizon)
            if self._store.apply_change(message, change, next_check=next_check, now=now):
                self._count_change(message, change, now, tally)
            else:
                tally.add("LostRaces")
                logger.info(
                    "status already changed by another run",
                    extra={"msgid": message.msgid, "status": change.status},
                )

        return write

    def _reschedule(self, message: Message, seen: MessageStatus | None, now: datetime, tally: Tally) -> None:
        unknown = seen.code if seen is not None and not seen.info.known else None
        if unknown is not None:
            tally.add("UnknownStatus")
            logger.warning(
                "status code not in the manual: recorded, polled again, never taken as delivered",
                extra={"msgid": message.msgid, "code": unknown},
            )
        self._store.reschedule(
            message,
            next_check=next_check_for(message, message.status, now, self._horizon),
            now=now,
            unknown_code=unknown,
        )

    def _count_change(self, message: Message, change: StatusChange, now: datetime, tally: Tally) -> None:
        tally.add("StatusChanges")
        if change.final:
            tally.add(OUTCOME_METRICS.get(change.outcome, "OtherFinal"))
        if change.outcome == statuses.DELIVERED:
            delivered = change.delivered_at or now
            tally.sample("TimeToDelivery", max(0.0, (delivered - accepted_at(message)).total_seconds()))
        logger.info(
            "sms status changed",
            extra={
                "request_id": message.request_id,
                "msgid": message.msgid,
                "status": change.status,
                "previous_status": change.previous_status,
                "final": change.final,
            },
        )
