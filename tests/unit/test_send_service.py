"""The send service against in-memory fakes: behaviours that are hard to provoke through moto."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from asanak.errors import RejectedError
from sms_gateway.domain.errors import PublishError
from sms_gateway.domain.events import Event
from sms_gateway.domain.publishing.outbox import events_for
from sms_gateway.domain.publishing.service import PublishService
from sms_gateway.domain.sending.service import Envelope, SendPolicy, SendService

from tests.fakes import MemoryMessageStore, MemoryPublisher, ScriptedProvider
from tests.fakes import RecordingMetrics as Metrics

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def service(store=None, provider=None, metrics=None, concurrency=1) -> SendService:
    return SendService(
        store=store or MemoryMessageStore(),
        provider=provider or ScriptedProvider(),
        policy=policy(concurrency),
        clock=lambda: NOW,
        metrics=metrics,
    )


def policy(concurrency: int = 1) -> SendPolicy:
    return SendPolicy("982164063188", timedelta(days=30), concurrency, call_timeout=timedelta(seconds=5))


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
        policy=policy(),
        clock=lambda: NOW + timedelta(seconds=next(ticks)),  # 100 s pass at every look
    )

    outcome = fast.send_batch([envelope("m1", to="09120000001", text="t", id="r1")], timedelta(seconds=60))

    assert outcome.failures == {}


# -- found by an adversarial review: each failed before its fix ------------------------------------------
A, B = "989121111111", "989122222222"


def slow(destinations, text):
    time.sleep(0.2)  # calls overlap: with SEND_CONCURRENCY > 1 they run at once
    return [f"{i}{time.monotonic_ns() % 10**9}" for i, _ in enumerate(destinations)]


def test_given_one_id_with_two_contents_in_one_batch_then_a_shared_recipient_is_sent_once():
    provider = ScriptedProvider(slow)
    store = MemoryMessageStore()

    outcome = service(store=store, provider=provider, concurrency=4).send_batch(
        [
            Envelope("m1", json.dumps({"id": "x", "to": [A], "text": "hi"})),
            Envelope("m2", json.dumps({"id": "x", "to": [A, B], "text": "hi"})),
        ]
    )

    assert sum(destinations.count(A) for _, destinations, _ in provider.calls) == 1
    assert outcome.failures == {}
    reasons = [e.detail.get("reason") for e in outbox(store) if e.detail_type == "SMS Rejected"]
    assert reasons == ["duplicate_id"]  # the later content, as for a reused id across batches


def test_given_identical_bodies_without_id_in_one_batch_then_sent_once():
    provider = ScriptedProvider(slow)
    body = json.dumps({"to": [A], "text": "hi"})

    outcome = service(provider=provider, concurrency=4).send_batch(
        [Envelope("m1", body), Envelope("m2", body)]
    )

    assert outcome.failures == {}
    assert sum(destinations.count(A) for _, destinations, _ in provider.calls) == 1


def test_given_a_recipient_opts_out_between_two_deliveries_then_it_still_gets_exactly_one_outcome():
    from asanak.errors import RetryableError

    answers = iter([RetryableError("too many requests", method="sendsms", http_status=429)])

    def first_refused(destinations, text):
        error = next(answers, None)
        if error is not None:
            raise error
        return [f"9{i}" for i, _ in enumerate(destinations)]

    store = MemoryMessageStore()
    send = service(store=store, provider=ScriptedProvider(first_refused))
    body = json.dumps({"id": "r", "to": [A, "12345"], "text": "hi"})
    assert "m1" in send.send_batch([Envelope("m1", body)]).failures
    store.opted.add(A)

    assert send.send_batch([Envelope("m1", body, 2)]).failures == {}

    outcomes = [(e.detail["to"], e.detail.get("reason")) for e in outbox(store) if e.detail.get("to") == A]
    assert outcomes == [(A, "opted_out")]


def test_given_a_lease_written_but_its_answer_lost_then_it_is_released_and_sent_later_not_unknown():
    from sms_gateway.domain.errors import StoreError

    lost = iter([StoreError("1 of 1 writes failed: read timeout")])

    def after(point, messages):
        if point == "lease":
            error = next(lost, None)
            if error is not None:
                raise error  # the lease took effect; its answer did not arrive

    store = MemoryMessageStore(after=after)
    provider = ScriptedProvider()
    send = service(store=store, provider=provider)
    body = json.dumps({"id": "r", "to": [A], "text": "hi"})
    assert "m1" in send.send_batch([Envelope("m1", body)]).failures

    assert send.send_batch([Envelope("m1", body, 2)]).failures == {}

    assert len(provider.calls) == 1
    assert [e.detail_type for e in outbox(store)] == ["SMS Accepted"]
