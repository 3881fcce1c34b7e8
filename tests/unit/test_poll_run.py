"""A poll run on in-memory ports: metrics from concurrent workers, and counts within the budget."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from asanak.statuses import MessageStatus, status_info
from sms_gateway.domain.model import Message, State
from sms_gateway.domain.ports import SmsProvider, TrackingStore
from sms_gateway.domain.tracking.service import TrackingPolicy, TrackingService

from tests.fakes import MemoryTrackingStore

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ACCEPTED = NOW - timedelta(minutes=2)


def in_flight(count: int) -> list[Message]:
    return [
        Message(
            request_id=f"r-{n // 100}",
            to=f"98912{n:07d}",
            sender="982164063188",
            owner="sqs-1",
            state=State.ACCEPTED,
            parts=1,
            meta=None,
            created_at=ACCEPTED,
            msgid=str(1_000_000 + n),
            accepted_at=ACCEPTED,
            next_check=ACCEPTED,
        )
        for n in range(count)
    ]


class Delivered(SmsProvider):
    """msgstatus answers 6 (Success) for every msgid, slowly enough for the workers to overlap."""

    def status(self, msgids: Sequence[str]) -> list[MessageStatus]:
        time.sleep(0.01)
        return [
            MessageStatus(
                msgid, 6, status_info(6), ACCEPTED, NOW, "2026-11-24 12:28:00", "2026-11-24 12:30:00"
            )
            for msgid in msgids
        ]

    def credit(self) -> Decimal:
        raise AssertionError("not claimed")

    def send(
        self, source: str, destinations: Sequence[str], text: str, *, to_blacklisted: bool = False
    ) -> list[str]:
        raise AssertionError("a poll run never sends")


class ThreadRecordingMetrics:
    """A sink like Powertools' Metrics (not thread-safe): remembers which thread added each datapoint."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = defaultdict(list)
        self.threads: set[int] = set()

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.threads.add(threading.get_ident())
        self.values[name].append(value)


def service(
    store: TrackingStore, metrics: ThreadRecordingMetrics, concurrency: int = 8, **overrides: Any
) -> TrackingService:
    parts: dict[str, Any] = {
        "store": store,
        "provider": Delivered(),
        "clock": lambda: NOW,
        "policy": TrackingPolicy(timedelta(hours=24), concurrency, timedelta(minutes=5)),
        "metrics": metrics,
    }
    return TrackingService(**(parts | overrides))


def test_given_eight_workers_delivering_at_once_then_every_datapoint_is_emitted_once_by_the_handler_thread():
    metrics = ThreadRecordingMetrics()
    store = MemoryTrackingStore(in_flight(2_400))

    report = service(store, metrics).run(budget_seconds=30)

    assert report.changes == 2_400
    assert metrics.threads == {threading.get_ident()}  # no worker thread touched the sink
    assert metrics.values["StatusChanges"] == [2_400]
    assert metrics.values["Delivered"] == [2_400]
    assert metrics.values["MsgStatusCalls"] == [24]
    assert len(metrics.values["TimeToDelivery"]) == 2_400
    assert set(metrics.values["TimeToDelivery"]) == {120.0}


def test_given_a_backlog_too_large_to_count_in_the_budget_then_counting_stops_and_reports_a_lower_bound():
    metrics = ThreadRecordingMetrics()
    store = MemoryTrackingStore(in_flight(5_000), page=100)
    ticks = iter([0.0])
    one_round = service(store, metrics, concurrency=1, timer=lambda: next(ticks, 99.0))  # spent after a round

    report = one_round.run(budget_seconds=10)

    assert report.budget_spent is True
    assert report.counts_exact is False
    assert (report.in_flight, report.backlog) == (100, 100)  # one page each, then the budget stops it
    assert store.count_pages == 2
    assert metrics.values["InFlight"] == [100]
    assert metrics.values["CountsTruncated"] == [1]


def test_given_time_to_spare_when_counting_then_the_counts_are_exact_and_not_flagged():
    metrics = ThreadRecordingMetrics()
    store = MemoryTrackingStore(in_flight(250), page=100)

    report = service(store, metrics, provider=NoAnswer()).run(budget_seconds=30)

    assert (report.in_flight, report.counts_exact) == (250, True)  # three pages
    assert store.count_pages == 3
    assert "CountsTruncated" not in metrics.values


class NoAnswer(Delivered):
    def status(self, msgids: Sequence[str]) -> list[MessageStatus]:
        return []


class Credits(Delivered):
    """Reports its credit in messages, and in rials unless ``rials`` is an exception to raise."""

    def __init__(self, rials: Decimal | Exception) -> None:
        self._rials = rials

    def credit(self) -> Decimal:
        return Decimal(250)

    def rial_credit(self) -> Decimal | None:
        if isinstance(self._rials, Exception):
            raise self._rials
        return self._rials


class ClaimsCredit(MemoryTrackingStore):
    def claim_credit_check(self, now: datetime, interval: timedelta) -> bool:
        return True


def test_given_the_api_tells_the_credit_in_rials_then_it_is_reported_and_emitted_beside_the_messages():
    metrics = ThreadRecordingMetrics()

    report = service(ClaimsCredit([]), metrics, provider=Credits(Decimal(312_500))).run(budget_seconds=30)

    assert (report.credit, report.credit_rials) == ("250", "312500")
    assert (metrics.values["Credit"], metrics.values["CreditRials"]) == ([250.0], [312_500.0])


def test_given_the_rial_credit_cannot_be_read_then_the_credit_in_messages_still_counts():
    from sms_gateway.domain.provider_failures import FailureKind, ProviderFailure

    metrics = ThreadRecordingMetrics()
    unavailable = ProviderFailure(FailureKind.UNAVAILABLE, RuntimeError("getrialcredit: HTTP 503"))

    report = service(ClaimsCredit([]), metrics, provider=Credits(unavailable)).run(budget_seconds=30)

    assert (report.credit, report.credit_rials) == ("250", None)
    assert metrics.values["Credit"] == [250.0]
    assert "CreditRials" not in metrics.values
    assert metrics.values["ProviderError_unavailable"] == [1]
