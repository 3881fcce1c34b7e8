"""Releasing deferred requests: each due one goes back on the send queue, then is forgotten.

Run by the poll function on every tick, before delivery tracking. The order is what keeps a request
from being lost or sent twice:

1. **Enqueue** the body, exactly as it first came. A copy of a request is the same request: the send
   path sends only the recipients not stored yet (by its ``id``, or by the body's hash for id-less
   requests), so a body enqueued twice sends nothing twice.
2. **Forget** the deferral, only if it is still the one read (its token): a copy already sent back
   and deferred again meanwhile stored a new token, which a late delete must not remove.

A run that dies between 1 and 2 leaves the deferral due; the next tick enqueues the body once more,
which is harmless by 1. A body the queue refused stays due for the next tick.

Metrics: ``DeferredReleased`` (requests back on the queue) and, when not zero, ``DeferredLeft`` (due
ones left for the next tick: the run's limit, or the queue refused them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sms_gateway.domain.model import Deferral
from sms_gateway.domain.ports import DeferralStore, Metrics, NoMetrics, RequestQueue

logger = logging.getLogger("sms_gateway.deferral")

RELEASE_LIMIT = 500  # deferrals released per tick at most; the rest wait one more tick
RELEASE_BUDGET = 10.0  # seconds of a tick the release may take before tracking


@dataclass(frozen=True)
class ReleaseReport:
    released: int = 0  # back on the queue
    left: int = 0  # due, but left for the next tick (refused, or over the limit: then a lower bound)

    def to_dict(self) -> dict[str, int]:
        return {"deferred_released": self.released, "deferred_left": self.left}


class ReleaseService:
    def __init__(
        self,
        *,
        store: DeferralStore,
        queue: RequestQueue,
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
        limit: int = RELEASE_LIMIT,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timer = timer
        self._store = store
        self._queue = queue
        self._clock = clock
        self._metrics = metrics or NoMetrics()
        self._limit = limit

    def run(self, budget_seconds: float = RELEASE_BUDGET) -> ReleaseReport:
        """Release what is due; an outage (the table, the queue) ends the run early, never raises, and
        no call to the queue starts once ``budget_seconds`` are spent: what is left stays due for the
        next tick, and tracking goes on."""
        deadline = self._timer() + budget_seconds
        try:
            due = self._store.due(self._clock(), self._limit + 1)
        except Exception:
            logger.exception("could not read the deferred requests due; the next tick tries again")
            self._metrics.add_metric(name="DeferredReleaseErrors", unit="Count", value=1)
            return ReleaseReport()
        over = max(0, len(due) - self._limit)
        due = due[: self._limit]
        released = 0
        size = max(1, self._queue.max_batch)
        for start in range(0, len(due), size):
            if self._timer() >= deadline:
                logger.warning("release budget spent; the rest waits for the next tick")
                break
            chunk = due[start : start + size]
            try:
                failed = set(self._queue.enqueue([deferral.body for deferral in chunk]))
            except Exception:
                logger.exception("the send queue refused the deferred requests; the next tick tries again")
                self._metrics.add_metric(name="DeferredReleaseErrors", unit="Count", value=1)
                break
            for position, deferral in enumerate(chunk):
                if position not in failed:
                    released += 1
                    self._forget(deferral)
        report = ReleaseReport(released=released, left=len(due) - released + over)
        if released:
            self._metrics.add_metric(name="DeferredReleased", unit="Count", value=released)
            logger.info("deferred requests released to the queue", extra=report.to_dict())
        if report.left:
            self._metrics.add_metric(name="DeferredLeft", unit="Count", value=report.left)
            logger.warning("deferred requests left for the next tick", extra=report.to_dict())
        return report

    def _forget(self, deferral: Deferral) -> None:
        """Its body is on the queue: forget it (a failure here only means one more harmless copy)."""
        try:
            if not self._store.forget(deferral):
                logger.info("deferred again meanwhile: kept", extra={"request_id": deferral.request_id})
        except Exception:
            logger.exception("a released deferral could not be forgotten; its body goes out again")
            self._metrics.add_metric(name="DeferredReleaseErrors", unit="Count", value=1)
