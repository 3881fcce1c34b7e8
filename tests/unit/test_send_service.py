"""The send service against in-memory fakes: behaviours that are hard to provoke through moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from asanak.errors import RejectedError
from sms_gateway.events import Event, PublishError
from sms_gateway.outbox import events_for
from sms_gateway.publish import PublishService
from sms_gateway.send import Envelope, SendService

from tests.fakes import MemoryMessageStore, MemoryPublisher, ScriptedProvider

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


class Metrics:
    def __init__(self) -> None:
        self.added: list[tuple[str, float]] = []

    def add_metric(self, name: str, unit: object, value: float) -> None:
        self.added.append((name, value))

    def total(self, name: str) -> float:
        return sum(value for metric, value in self.added if metric == name)


def service(store=None, provider=None, metrics=None, concurrency=1) -> SendService:
    return SendService(
        store=store or MemoryMessageStore(),
        provider=provider or ScriptedProvider(),
        default_sender="982164063188",
        retention=timedelta(days=30),
        concurrency=concurrency,
        clock=lambda: NOW,
        metrics=metrics,
        call_timeout=timedelta(seconds=5),
    )


def envelope(message_id: str, **body: object) -> Envelope:
    return Envelope(message_id, json.dumps(body))


def outbox(store: MemoryMessageStore) -> list[Event]:
    """The events the store's changes stand for (what the publish function sends)."""
    return [event for change in store.stream for event in events_for(change.old, change.new)]


def test_given_a_refusal_naming_no_one_then_the_call_is_split_until_the_refused_numbers_are_isolated():
    refused = {"989120000003", "989120000006"}

    def answer(destinations, text):
        if refused & set(destinations):
            raise RejectedError("bad request", method="sendsms", reason="validation", http_status=400)
        return [f"id-{d}" for d in destinations]

    provider = ScriptedProvider(answer)
    store = MemoryMessageStore()
    numbers = [f"0912000000{n}" for n in range(8)]

    outcome = service(store=store, provider=provider).send_batch(
        [envelope("m1", to=numbers, text="t", id="r1")]
    )

    assert outcome.failures == {}
    rejected = {e.detail["to"] for e in outbox(store) if e.detail_type == "SMS Rejected"}
    accepted = {e.detail["to"] for e in outbox(store) if e.detail_type == "SMS Accepted"}
    assert rejected == refused
    assert accepted == {f"98{n[1:]}" for n in numbers} - refused
    assert len(provider.calls) <= 2 * len(numbers) - 1


def test_given_the_bus_refuses_some_events_then_only_their_changes_are_reported_for_retry():
    store = MemoryMessageStore()
    service(store=store).send_batch(
        [
            envelope("m1", to="09120000001", text="one", id="r1"),
            envelope("m2", to="09120000002", text="two", id="r2"),
        ]
    )
    changes = [c for c in store.stream if events_for(c.old, c.new)]
    assert len(changes) == 2

    class RefusesSecond(MemoryPublisher):
        def publish(self, events):
            super().publish(events[:1])
            raise PublishError("1 of 2 refused", failed=[1])

    publisher = RefusesSecond()
    outcome = PublishService(publisher).publish(store.stream)

    assert set(outcome.failed) == {changes[1].id}  # Lambda resumes from it; the first is not lost
    assert [e.detail["to"] for e in publisher.events] == ["989120000001"]


def test_given_no_time_for_a_call_then_nothing_is_leased_sent_or_settled():
    store = MemoryMessageStore()
    provider = ScriptedProvider()

    outcome = service(store=store, provider=provider).send_batch(
        [envelope("m1", to="09120000001", text="late", id="r1")], remaining=timedelta(seconds=4)
    )

    assert set(outcome.failures) == {"m1"}
    assert provider.calls == []
    assert store.stored() == {}
    assert outbox(store) == []


def test_given_metrics_counted_in_worker_threads_then_every_datapoint_reaches_the_sink_once():
    metrics = Metrics()
    batch = [envelope(f"m{n}", to=f"0912000{n:04d}", text=f"t{n}", id=f"r{n}") for n in range(10)]

    service(metrics=metrics, concurrency=10).send_batch(batch)

    assert metrics.total("Accepted") == 10
    assert metrics.total("PartsSent") == 10
    assert len([name for name, _ in metrics.added if name == "ProviderLatency"]) == 10


def test_given_a_clock_running_faster_than_real_time_then_the_budget_still_follows_real_time():
    # The local stack runs the clock 20x faster; Lambda's remaining time is real. The budget used to
    # be measured on the clock, so a fast clock starved every call of time.
    ticks = iter(range(0, 10_000, 100))
    fast = SendService(
        store=MemoryMessageStore(),
        provider=ScriptedProvider(),
        default_sender="982164063188",
        retention=timedelta(days=30),
        concurrency=1,
        clock=lambda: NOW + timedelta(seconds=next(ticks)),  # 100 s pass at every look
        call_timeout=timedelta(seconds=5),
    )

    outcome = fast.send_batch([envelope("m1", to="09120000001", text="t", id="r1")], timedelta(seconds=60))

    assert outcome.failures == {}
