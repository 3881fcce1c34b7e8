"""Delivery tracking: ask Asanak ``msgstatus`` about messages in flight, store each real change once.

One run (the poll function, on a schedule) does, within its time budget:

1. **Credit.** At most every ``credit_interval`` (a conditional claim, so overlapping runs never both
   call it) ``getcredit`` is read and emitted as the ``Credit`` metric; on v2rest ``getrialcredit``
   too, as ``CreditRials``. On v2rest the template list (``templatelist``) is stored the same way, at
   most every ``template_interval``, for the send path to check template requests against.
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
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from asanak.statuses import FOUR_HOURS

from sms_gateway.domain.model import Count
from sms_gateway.domain.ports import Metrics, NoMetrics, SmsProvider, TrackingStore
from sms_gateway.domain.provider_failures import ProviderFailure
from sms_gateway.domain.tally import Tally
from sms_gateway.domain.tracking.report import CreditReading, RunReport, emit, report_of
from sms_gateway.domain.tracking.rounds import Round

logger = logging.getLogger("sms_gateway.poll")


@dataclass(frozen=True)
class TrackingPolicy:
    """The poll function's settings, as the domain needs them."""

    tracking_horizon: timedelta  # how long a message is asked about before it is settled expired
    concurrency: int  # msgstatus calls in flight at once
    credit_interval: timedelta  # the credit is read at most once per interval, by one run
    template_interval: timedelta = timedelta(minutes=5)  # the template list, likewise (v2rest)


class TrackingService:
    """Orchestrates a poll run: read the credit when due, run rounds of due messages
    (:class:`~sms_gateway.domain.tracking.rounds.Round`) until none is left or the budget is spent,
    count what is left, emit the run's metrics."""

    def __init__(
        self,
        *,
        store: TrackingStore,
        provider: SmsProvider,
        policy: TrackingPolicy,
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if policy.tracking_horizon <= FOUR_HOURS:
            raise ValueError("the tracking horizon must be longer than the provider's 4-hour rule")
        concurrency = max(1, policy.concurrency)
        self._store = store
        self._provider = provider
        self._clock = clock
        self._round_size = concurrency * provider.max_batch
        self._credit_interval = policy.credit_interval
        self._template_interval = policy.template_interval
        self._metrics = metrics or NoMetrics()
        self._timer = timer
        self._round = Round(store, provider, clock, policy.tracking_horizon, concurrency)

    def run(self, budget_seconds: float) -> RunReport:
        """One poll run: start no new round after ``budget_seconds``; leave the rest due."""
        if budget_seconds <= 0:
            logger.warning("no time left for a poll run; the next run does the work")
            self._metrics.add_metric(name="RunsSkipped", unit="Count", value=1)
            return RunReport(budget_spent=True)
        deadline = self._timer() + budget_seconds
        tally = Tally()
        credit: CreditReading | None = None
        counted: tuple[Count, Count] | None = None
        budget_spent = False
        try:
            now = self._clock()
            credit = self._check_credit(now, tally)
            self._refresh_templates(now, tally)
            budget_spent = self._sweep(now, deadline, tally)
            counted = self._count(now, deadline, tally, budget_spent=budget_spent)
        finally:
            emit(self._metrics, tally, credit, counted)
        report = report_of(tally, budget_spent=budget_spent, counted=counted, credit=credit)
        if budget_spent:
            logger.warning("poll budget spent with messages still due; the next run goes on")
        if report.counts_exact is False:
            logger.warning("counting stopped at the budget: in_flight and backlog are lower bounds")
        logger.info("poll run finished", extra=report.to_dict())
        return report

    def _sweep(self, now: datetime, deadline: float, tally: Tally) -> bool:
        """Rounds of due messages until none is left or the budget is spent (True: some still due)."""
        due = self._store.due(now, page_size=self._round_size)
        while batch := list(islice(due, self._round_size)):
            tally.add("Due", len(batch))
            self._round.run(batch, tally)
            if self._timer() >= deadline:
                return next(due, None) is not None
        return False

    def _count(
        self, now: datetime, deadline: float, tally: Tally, *, budget_spent: bool
    ) -> tuple[Count, Count]:
        """In flight and backlog (what was due and is still due). Without a spent budget the backlog is
        only what a failed msgstatus call left, known without a query. Counting stops with the budget."""

        def spent() -> bool:
            return self._timer() >= deadline

        left_due = Count(tally.counts["LeftDue"])
        backlog = self._store.count_due(now, stop=spent) if budget_spent else left_due
        return self._store.count_in_flight(stop=spent), backlog

    def _check_credit(self, now: datetime, tally: Tally) -> CreditReading | None:
        if not self._store.claim_credit_check(now, self._credit_interval):
            return None
        try:
            credit = self._provider.credit()
        except ProviderFailure as failure:
            self._call_failed("getcredit", failure, tally)
            return None
        self._store.record_credit(credit, now)
        try:
            rials = self._provider.rial_credit()
        except ProviderFailure as failure:  # the credit in messages is read: it still counts
            self._call_failed("getrialcredit", failure, tally)
            rials = None
        logger.info("asanak credit", extra={"credit": str(credit), "credit_rials": str(rials)})
        return CreditReading(credit, rials)

    def _refresh_templates(self, now: datetime, tally: Tally) -> None:
        """On a provider with templates: list them for the send path, at most every interval."""
        if not self._provider.templates or not self._store.claim_template_refresh(
            now, self._template_interval
        ):
            return
        try:
            listed = self._provider.template_list()
        except ProviderFailure as failure:  # the last list stays; the next interval tries again
            self._call_failed("templatelist", failure, tally)
            return
        self._store.record_templates(listed, now)
        tally.add("TemplateLists")
        logger.info("templates listed", extra={"templates": len(listed)})

    def _call_failed(self, method: str, failure: ProviderFailure, tally: Tally) -> None:
        tally.add(failure.metric)
        logger.warning(f"{method} failed", extra={"error_class": failure.error_class, "error": str(failure)})
