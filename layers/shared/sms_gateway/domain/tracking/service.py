"""Delivery tracking: ask Asanak ``msgstatus`` about messages in flight, store each real change once.

One run (the poll function, on a schedule) does, within its time budget:

1. **Credit.** At most every ``credit_interval`` (a conditional claim, so overlapping runs never both
   call it) ``getcredit`` is read and emitted as the ``Credit`` metric.
2. **Due messages.** Messages in flight carry ``next_check``; the run reads those with
   ``next_check <= now`` from the sparse ``inflight`` index (every shard, oldest first, never a scan)
   in rounds of ``concurrency`` × 100.
3. **msgstatus.** Each round is asked about in calls of at most 100 msgids, ``concurrency`` at once.
   A call that fails (provider unavailable, firewall, credentials) leaves its messages due for the
   next run and counts ``ProviderError_<kind>`` (kinds of :mod:`sms_gateway.domain.provider_failures`, the
   send path's too); the run goes on.
4. **Changes.** What came back is applied by the rules below; each change is one conditional write,
   and its ``SMS Status Changed`` event follows from that write through the table's stream
   (:mod:`sms_gateway.domain.publishing.outbox`). Unchanged messages are only rescheduled (no event).
   A round's writes go out concurrently.
5. **Budget.** No new round starts once the budget is spent; what is left stays due for the next run.
6. **Counts.** ``InFlight`` (and ``Backlog`` when the budget was spent) are counted on the index page by
   page, within the same budget: one page per shard at least, more only while the budget lasts (and at
   most :data:`COUNT_MAX_PAGES` each). A count cut short is a lower bound (``counts_exact: false``,
   metric ``CountsTruncated``), so a large backlog can never make the run outlive its timeout.

Status rank — a status is applied only when its rank is higher than the stored one, so a status never
moves backwards (statuses are not promised to arrive in order):

====================================  ====
status                                rank
====================================  ====
-1 NotFound (and nothing seen yet)       0
1 InQueue                               10
4 Pending                               20
2 Sent                                  30
10 PartiallySent, 11 NoMsgID            35
7 NoResponse                            40
9 SentToDest                            50
12 PartiallySuccess, 13 NoDelivery      60  (while the message is younger than 4 hours)
any final status                       100  (5, 6, 8; 12/13 from 4 hours on; -100 Expired)
====================================  ====

- A change is stored with one conditional write: the message must still be ``accepted`` and have the
  rank it was read with. Of two overlapping runs only one can win; the loser writes nothing, so there
  is one event per change.
- 12/13 are final only once the message is 4 hours old (:func:`asanak.statuses.is_final`): a 12 seen
  at 1 hour is an intermediate change (``final: false``); the same 12 after 4 hours is a second change
  (``final: true``). A message showing 12/13 is checked again right at the 4-hour mark.
- A code outside the manual (e.g. 20) is recorded as ``unknown_code`` and polled again; it is never a
  change, never delivered.
- **Expired**: a message still not final ``tracking_horizon`` after acceptance is closed with status
  :data:`EXPIRED_STATUS` (**-100**, name ``"Expired"``, outcome ``"expired"``, final), which is ours,
  not Asanak's, and published like any change. A message due past the horizon is still asked about
  once: a final answer wins over expiry; no answer (provider down) does not postpone it.

One event per change, even when a run dies: the change and its event are the same write (the
stream publishes it at least once; consumers deduplicate on ``event_id``).

Metrics (one set per run, added from the handler's thread only: worker threads count into a locked
tally that the run emits at its end): ``StatusChanges``, ``Delivered``, ``Failed``, ``PartiallyDelivered``,
``NoDeliveryReport``, ``Expired``, ``MsgStatusCalls`` (always); ``TimeToDelivery`` (Seconds, accepted →
delivered, one value per delivery); ``InFlight`` and ``Backlog`` (still due) after the run (lower bounds
when ``CountsTruncated``); ``Credit`` when read; and, when not zero, ``UnknownStatus``,
``ProviderError_<kind>``, ``LostRaces``, ``RunsSkipped``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from itertools import islice
from typing import Any

from asanak import statuses
from asanak.batching import chunked
from asanak.statuses import FOUR_HOURS, MessageStatus

from sms_gateway.domain.model import Count, Message, StatusChange
from sms_gateway.domain.ports import Metrics, NoMetrics, SmsProvider, TrackingStore
from sms_gateway.domain.provider_failures import ProviderFailure
from sms_gateway.domain.tracking.schedule import (
    EXPIRED_NAME,
    EXPIRED_OUTCOME,
    EXPIRED_STATUS,
    next_check_at,
    outcome_of,
)

logger = logging.getLogger("sms_gateway.poll")

FINAL_RANK = 100
RANKS: Mapping[int, int] = {-1: 0, 1: 10, 4: 20, 2: 30, 10: 35, 11: 35, 7: 40, 9: 50, 12: 60, 13: 60}
"""Rank of each non-final status; every final status ranks :data:`FINAL_RANK`."""

WRITE_CONCURRENCY = 8
"""Conditional writes of one msgstatus answer in flight at once."""

SAFETY_MARGIN_SECONDS = 15.0
"""Time kept free before the function's timeout: one msgstatus call (10 s read timeout) and its writes."""

COUNT_MAX_PAGES = 25
"""Most index pages one count reads per shard, whatever the budget (a page is at most 1 MB)."""


# -- pure rules ------------------------------------------------------------------------------------
def run_budget(configured_seconds: float, remaining_seconds: float) -> float:
    """Seconds a run may start new work: the configured budget, but never into the safety margin."""
    return min(configured_seconds, remaining_seconds - SAFETY_MARGIN_SECONDS)


def accepted_at(message: Message) -> datetime:
    return message.accepted_at or message.created_at


def rank_of(code: int, age: timedelta) -> int | None:
    """Rank of ``code`` seen on a message ``age`` old; None for a code outside the manual."""
    if not statuses.status_info(code).known:
        return None
    if statuses.is_final(code, age):
        return FINAL_RANK
    return RANKS[code]


def expiry(message: Message) -> StatusChange:
    return StatusChange(
        status=EXPIRED_STATUS,
        status_name=EXPIRED_NAME,
        rank=FINAL_RANK,
        final=True,
        outcome=EXPIRED_OUTCOME,
        previous_status=message.status,
    )


def transition(
    message: Message, seen: MessageStatus | None, now: datetime, horizon: timedelta
) -> StatusChange | None:
    """The change ``seen`` (None: no answer) makes to ``message`` at ``now``, or None for no change.

    Higher rank → that status; past the horizon and still not final → expired; otherwise nothing
    (same or lower rank, unknown code, no answer).
    """
    if message.final:
        return None
    age = now - accepted_at(message)
    if seen is not None:
        rank = rank_of(seen.code, age)
        if rank is not None and rank > message.status_rank and (rank == FINAL_RANK or age < horizon):
            final = rank == FINAL_RANK
            return StatusChange(
                status=seen.code,
                status_name=seen.info.name,
                rank=rank,
                final=final,
                outcome=outcome_of(seen.code, final),
                previous_status=message.status,
                sent_at=seen.send_time,
                sent_at_raw=seen.send_time_raw,
                delivered_at=seen.deliver_time,
                delivered_at_raw=seen.deliver_time_raw,
            )
    if age >= horizon:
        return expiry(message)
    return None


def next_check_for(message: Message, status: int | None, now: datetime, horizon: timedelta) -> datetime:
    """When a message showing ``status`` is next asked about: by age
    (:mod:`sms_gateway.domain.tracking.schedule`), but never after the horizon, and right at 4 hours
    for a 12/13 that turns final then."""
    accepted = accepted_at(message)
    when = min(next_check_at(accepted, now), accepted + horizon)
    if status is not None and statuses.status_info(status).final is None and now - accepted < FOUR_HOURS:
        when = min(when, accepted + FOUR_HOURS)
    return max(when, now)


# -- the run ---------------------------------------------------------------------------------------
OUTCOME_METRICS = {
    statuses.DELIVERED: "Delivered",
    statuses.FAILED: "Failed",
    statuses.PARTIALLY_DELIVERED: "PartiallyDelivered",
    statuses.NO_DELIVERY_REPORT: "NoDeliveryReport",
    EXPIRED_OUTCOME: "Expired",
}
ALWAYS_EMITTED = ("StatusChanges", "MsgStatusCalls", *OUTCOME_METRICS.values())


@dataclass(frozen=True)
class RunReport:
    """What one run did (returned by the handler, logged, and the basis of its metrics)."""

    due: int = 0  # due messages handled
    msgstatus_calls: int = 0
    changes: int = 0  # status changes stored: each is one SMS Status Changed event
    unknown_codes: int = 0
    expired: int = 0
    provider_errors: int = 0
    budget_spent: bool = False  # stopped with messages still due; the next run goes on
    in_flight: int | None = None
    backlog: int | None = None  # still due after the run
    counts_exact: bool | None = None  # False: counting stopped at the budget; the counts are lower bounds
    credit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Tally:
    """Counters shared by the worker threads of one run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.delivery_seconds: list[float] = []

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            self.counts[name] += count

    def delivered_after(self, seconds: float) -> None:
        with self._lock:
            self.delivery_seconds.append(seconds)


class TrackingService:
    def __init__(
        self,
        *,
        store: TrackingStore,
        provider: SmsProvider,
        clock: Callable[[], datetime],
        tracking_horizon: timedelta,
        concurrency: int,
        credit_interval: timedelta,
        metrics: Metrics | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if tracking_horizon <= FOUR_HOURS:
            raise ValueError("the tracking horizon must be longer than the provider's 4-hour rule")
        self._store = store
        self._provider = provider
        self._clock = clock
        self._horizon = tracking_horizon
        self._concurrency = max(1, concurrency)
        self._round_size = self._concurrency * provider.max_batch
        self._credit_interval = credit_interval
        self._metrics = metrics or NoMetrics()
        self._timer = timer

    def run(self, budget_seconds: float) -> RunReport:
        """One poll run: start no new round after ``budget_seconds``; leave the rest due."""
        if budget_seconds <= 0:
            logger.warning("no time left for a poll run; the next run does the work")
            self._metrics.add_metric(name="RunsSkipped", unit="Count", value=1)
            return RunReport(budget_spent=True)
        deadline = self._timer() + budget_seconds
        tally = _Tally()
        credit: Decimal | None = None
        counted: tuple[Count, Count] | None = None
        budget_spent = False
        try:
            now = self._clock()
            credit = self._check_credit(now, tally)
            due = self._store.due(now, page_size=self._round_size)
            while batch := list(islice(due, self._round_size)):
                tally.add("Due", len(batch))
                self._round(batch, tally)
                if self._timer() >= deadline:
                    budget_spent = next(due, None) is not None
                    break

            # Backlog: what was due and is still due. Without a spent budget that is only what a failed
            # msgstatus call left, known without a query. Counting stops with the budget too.
            def spent() -> bool:
                return self._timer() >= deadline

            left_due = Count(tally.counts["LeftDue"])
            backlog = self._store.count_due(now, stop=spent) if budget_spent else left_due
            counted = (self._store.count_in_flight(stop=spent), backlog)
        finally:
            self._emit(tally, credit, counted)
        report = RunReport(
            due=tally.counts["Due"],
            msgstatus_calls=tally.counts["MsgStatusCalls"],
            changes=tally.counts["StatusChanges"],
            unknown_codes=tally.counts["UnknownStatus"],
            expired=tally.counts["Expired"],
            provider_errors=sum(n for name, n in tally.counts.items() if name.startswith("ProviderError_")),
            budget_spent=budget_spent,
            in_flight=None if counted is None else counted[0].value,
            backlog=None if counted is None else counted[1].value,
            counts_exact=None if counted is None else counted[0].exact and counted[1].exact,
            credit=None if credit is None else str(credit),
        )
        if budget_spent:
            logger.warning("poll budget spent with messages still due; the next run goes on")
        if report.counts_exact is False:
            logger.warning("counting stopped at the budget: in_flight and backlog are lower bounds")
        logger.info("poll run finished", extra=report.to_dict())
        return report

    # -- one round ----------------------------------------------------------------------------------
    def _round(self, messages: list[Message], tally: _Tally) -> None:
        now = self._clock()
        chunks = list(chunked([m for m in messages if m.msgid], self._provider.max_batch))
        if not chunks:
            return
        workers = min(self._concurrency, len(chunks))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="msgstatus") as pool:
            for _ in pool.map(lambda chunk: self._track(chunk, now, tally), chunks):
                pass

    def _track(self, chunk: list[Message], now: datetime, tally: _Tally) -> None:
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
        self, message: Message, change: StatusChange, now: datetime, tally: _Tally
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

    def _reschedule(self, message: Message, seen: MessageStatus | None, now: datetime, tally: _Tally) -> None:
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

    def _count_change(self, message: Message, change: StatusChange, now: datetime, tally: _Tally) -> None:
        tally.add("StatusChanges")
        if change.final:
            tally.add(OUTCOME_METRICS.get(change.outcome, "OtherFinal"))
        if change.outcome == statuses.DELIVERED:
            delivered = change.delivered_at or now
            tally.delivered_after(max(0.0, (delivered - accepted_at(message)).total_seconds()))
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

    # -- credit and metrics -------------------------------------------------------------------------
    def _check_credit(self, now: datetime, tally: _Tally) -> Decimal | None:
        if not self._store.claim_credit_check(now, self._credit_interval):
            return None
        try:
            credit = self._provider.credit()
        except ProviderFailure as failure:
            tally.add(failure.metric)
            logger.warning(
                "getcredit failed", extra={"error_class": failure.error_class, "error": str(failure)}
            )
            return None
        self._store.record_credit(credit, now)
        logger.info("asanak credit", extra={"credit": str(credit)})
        return credit

    def _emit(self, tally: _Tally, credit: Decimal | None, counted: tuple[Count, Count] | None) -> None:
        counts = tally.counts
        for name in ALWAYS_EMITTED:
            self._metrics.add_metric(name=name, unit="Count", value=counts[name])
        for name, count in sorted(counts.items()):
            if name not in ALWAYS_EMITTED and name not in ("Due", "LeftDue") and count:
                self._metrics.add_metric(name=name, unit="Count", value=count)
        for seconds in tally.delivery_seconds:
            self._metrics.add_metric(name="TimeToDelivery", unit="Seconds", value=seconds)
        if counted is not None:
            in_flight, backlog = counted
            self._metrics.add_metric(name="InFlight", unit="Count", value=in_flight.value)
            self._metrics.add_metric(name="Backlog", unit="Count", value=backlog.value)
            if not (in_flight.exact and backlog.exact):
                self._metrics.add_metric(name="CountsTruncated", unit="Count", value=1)
        if credit is not None:
            self._metrics.add_metric(name="Credit", unit="Count", value=float(credit))
