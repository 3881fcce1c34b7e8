"""Publishing: the table's stream in, one event per stored state change out (the outbox's relay).

A batch of stream records is turned into events by ``outbox.events_for``; they go to
EventBridge together (batches of ten, a few at once; refused entries are retried). A record any of
whose events did not go out is reported failed: Lambda retries from it (in order per item), splits the
batch to isolate it, and after ``MaximumRecordAgeInSeconds`` hands it to the on-failure queue. Nothing
is dropped; events are at least once and carry a stable ``event_id``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sms_gateway.domain.errors import PublishError
from sms_gateway.domain.events import Event
from sms_gateway.domain.ports import EventPublisher, Metrics, NoMetrics
from sms_gateway.domain.publishing.outbox import Image, events_for

logger = logging.getLogger("sms_gateway.publish")


@dataclass(frozen=True)
class Unreadable:
    """An item image the adapter could not read: its change fails alone, never silently skipped."""

    error: str


@dataclass(frozen=True)
class Change:
    """One stored change: an id for it (the stream's sequence number) and the item before and after."""

    id: str
    old: Image | Unreadable
    new: Image | Unreadable
    key: str = ""  # the item it changed: events of one item go out in the order of its changes


@dataclass
class PublishOutcome:
    failed: dict[str, BaseException] = field(default_factory=dict)  # change id → why
    published: int = 0

    def check(self, change_id: str) -> None:
        failure = self.failed.get(change_id)
        if failure is not None:
            raise PublishError(f"change {change_id} not published: {failure}") from failure


class PublishService:
    def __init__(self, publisher: EventPublisher, metrics: Metrics | None = None) -> None:
        self._publisher = publisher
        self._metrics = metrics or NoMetrics()

    def publish(self, changes: Sequence[Change]) -> PublishOutcome:
        """Publish the batch's events in rounds: the first change of every item, then the second, and
        so on. A change whose event did not go out holds back the later changes of its item (they
        are reported failed too, and come again after it), so consumers see an item's events in
        order."""
        outcome = PublishOutcome()
        rounds: list[list[tuple[Change, list[Event]]]] = []
        seen: dict[str, int] = {}
        for change in changes:
            found = self._events(change, outcome) or []  # failed already: still holds its item back
            turn = seen.get(change.key, 0) if change.key else 0
            if change.key:
                seen[change.key] = turn + 1
            while len(rounds) <= turn:
                rounds.append([])
            rounds[turn].append((change, found))
        held: set[str] = set()
        for batch in rounds:
            self._publish_round([(c, e) for c, e in batch if not (c.key and c.key in held)], outcome)
            for change, _ in batch:
                if change.key and change.key in held and change.id not in outcome.failed:
                    outcome.failed[change.id] = PublishError(
                        f"an earlier change of {change.key} is not out yet"
                    )
            held |= {c.key for c, _ in batch if c.key and c.id in outcome.failed}
        self._metrics.add_metric(name="EventsPublished", unit="Count", value=outcome.published)
        if outcome.failed:
            self._metrics.add_metric(name="PublishFailures", unit="Count", value=len(outcome.failed))
        return outcome

    @staticmethod
    def _events(change: Change, outcome: PublishOutcome) -> list[Event] | None:
        unreadable = [image for image in (change.old, change.new) if isinstance(image, Unreadable)]
        if unreadable:
            logger.error("a stored change could not be read", extra={"change": change.id})
            outcome.failed[change.id] = ValueError(unreadable[0].error)
            return None
        try:
            return events_for(change.old, change.new)  # type: ignore[arg-type]
        except Exception as exc:  # an item we cannot read: keep it visible, never drop it
            logger.exception("a stored change could not be read", extra={"change": change.id})
            outcome.failed[change.id] = exc
            return None

    def _publish_round(self, batch: list[tuple[Change, list[Event]]], outcome: PublishOutcome) -> None:
        owners = [change.id for change, found in batch for _ in found]
        pending = [event for _, found in batch for event in found]
        if not pending:
            return
        try:
            self._publisher.publish(pending)
        except PublishError as exc:
            for position in exc.failed:
                outcome.failed.setdefault(owners[position], exc)
            logger.error("events not published; their changes are retried", extra={"failed": len(exc.failed)})
        outcome.published += sum(1 for owner in owners if owner not in outcome.failed)
