"""Deferral: Asanak's "not now" (1009 daily limit, 1013 outside the advertising hours) sends nothing,
rejects nothing and never pushes a request toward the DLQ; the request waits for its window and goes
out once. On the in-memory fakes (the DynamoDB adapter is held to the same in tests/integration)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import pytest
from asanak.errors import RejectedError, RetryableError
from sms_gateway.domain.deferral.release import ReleaseService
from sms_gateway.domain.deferral.windows import SendWindows
from sms_gateway.domain.events import DEFERRED, Event
from sms_gateway.domain.model import State
from sms_gateway.domain.publishing.outbox import events_for
from sms_gateway.domain.sending.service import Envelope, SendPolicy, SendService

from tests.fakes import MemoryMessageStore, MemoryQueue, ScriptedProvider
from tests.fakes import RecordingMetrics as Metrics

# 2026-12-07 22:30 Tehran (19:00 UTC): after the advertising window, before midnight.
EVENING = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)
SENDER = "982164063188"
ADS = "9830001234"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def not_now(code: int, reason: str) -> RejectedError:
    return RejectedError(
        f"request refused: {reason} ({code})", method="sendsms", reason=reason, http_status=400
    )


class Provider(ScriptedProvider):
    """Refuses the advertising line ``ADS`` outside 09:00–21:00 Tehran and anything once ``limit``
    messages went out today; accepts the rest (msgids count up)."""

    def __init__(self, clock: Clock, limit: int = 1000) -> None:
        self.clock = clock
        self.limit = limit
        self.sent: list[tuple[str, str]] = []  # (text, destination) that were accepted
        self.next = 5000
        super().__init__(self._answer_for)

    def send(self, source, destinations, text, *, to_blacklisted=False):
        self.source = source
        return super().send(source, destinations, text, to_blacklisted=to_blacklisted)

    def _answer_for(self, destinations, text):
        if self.source.endswith(ADS) and not SendWindows().is_open(self.clock()):
            raise not_now(1013, "outside_hours")
        if len(self.sent) + len(destinations) > self.limit:
            raise not_now(1009, "daily_limit")
        self.sent.extend((text, d) for d in destinations)
        self.next += len(destinations)
        return [str(self.next - len(destinations) + i) for i in range(len(destinations))]


def send_service(store, provider, clock, metrics=None) -> SendService:
    return SendService(
        store=store,
        provider=provider,
        policy=SendPolicy(SENDER, timedelta(days=30), 4, call_timeout=timedelta(seconds=5)),
        clock=clock,
        metrics=metrics,
    )


def envelope(message_id: str, **body: object) -> Envelope:
    return Envelope(message_id, json.dumps(body))


def deferred_events(store: MemoryMessageStore) -> list[Event]:
    found = [event for change in store.stream for event in events_for(change.old, change.new)]
    return [event for event in found if event.detail_type == DEFERRED]


def deliver(service: SendService, queue: MemoryQueue, prefix: str) -> dict[str, BaseException]:
    """Deliver every body on the queue once (as SQS would, new message ids), and empty it."""
    bodies, queue.bodies = list(queue.bodies), []
    outcome = service.send_batch([Envelope(f"{prefix}-{i}", body) for i, body in enumerate(bodies)])
    return outcome.failures


# -- when -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("now", "reason", "due"),
    [
        # 22:30 Tehran: the next window opens at 09:00 Tehran tomorrow (05:30 UTC)
        (EVENING, "outside_hours", datetime(2026, 12, 8, 5, 30, tzinfo=UTC)),
        # 07:30 Tehran: today's window, at 09:00
        (datetime(2026, 12, 8, 4, 0, tzinfo=UTC), "outside_hours", datetime(2026, 12, 8, 5, 30, tzinfo=UTC)),
        # Tehran midnight is 20:30 UTC; one minute after it
        (EVENING, "daily_limit", datetime(2026, 12, 7, 20, 31, tzinfo=UTC)),
        # 00:10 Tehran (20:40 UTC): the next midnight, a day later
        (datetime(2026, 12, 7, 20, 40, tzinfo=UTC), "daily_limit", datetime(2026, 12, 8, 20, 31, tzinfo=UTC)),
        # inside our window but Asanak says 1013: the settings disagree; probe again soon
        (
            datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
            "outside_hours",
            datetime(2026, 12, 7, 10, 30, tzinfo=UTC),
        ),
    ],
    ids=["evening-1013", "early-1013", "evening-1009", "after-midnight-1009", "window-disagrees"],
)
def test_given_a_not_now_then_it_is_due_at_the_next_tehran_window(now, reason, due):
    assert SendWindows().due_after(reason, now) == due


def test_given_promotional_hours_across_midnight_then_the_window_wraps():
    windows = SendWindows.parse("22:00-02:00")

    assert windows.start == time(22, 0)
    assert windows.is_open(datetime(2026, 12, 7, 20, 0, tzinfo=UTC))  # 23:30 Tehran
    assert not windows.is_open(datetime(2026, 12, 7, 10, 0, tzinfo=UTC))  # 13:30 Tehran
    assert windows.due_after("outside_hours", datetime(2026, 12, 7, 10, 0, tzinfo=UTC)) == datetime(
        2026, 12, 7, 18, 30, tzinfo=UTC
    )


@pytest.mark.parametrize("hours", ["9-21", "09:00", "25:00-21:00", "09:00-09:00", "09:60-21:00"])
def test_given_malformed_promotional_hours_then_a_clear_error(hours):
    with pytest.raises(ValueError, match="promotional hours"):
        SendWindows.parse(hours)


# -- send: deferred, not rejected, not retried ---------------------------------------------------------
def test_given_advertising_outside_hours_then_the_request_is_deferred_and_its_record_done():
    clock, store, metrics = Clock(EVENING), MemoryMessageStore(), Metrics()
    provider = Provider(clock)
    body = {"id": "promo-1", "to": ["09120000001", "09120000002"], "text": "sale", "from": ADS}

    outcome = send_service(store, provider, clock, metrics).send_batch([envelope("m1", **body)])

    assert outcome.failures == {}  # deleted from the queue: not retried, never toward the DLQ
    assert store.stored() == {}  # nothing leased is left behind, nothing rejected
    deferral = store.deferrals["promo-1"]
    assert deferral.reason == "outside_hours"
    assert deferral.numbers == ("989120000001", "989120000002")
    assert deferral.due_at == datetime(2026, 12, 8, 5, 30, tzinfo=UTC)
    assert json.loads(deferral.body) == body
    assert metrics.total("Deferred") == 2
    assert metrics.total("Deferred_outside_hours") == 2
    events = deferred_events(store)
    assert [(e.detail["to"], e.detail["reason"], e.detail["due_at"]) for e in events] == [
        ("989120000001", "outside_hours", "2026-12-08T05:30:00Z"),
        ("989120000002", "outside_hours", "2026-12-08T05:30:00Z"),
    ]
    assert all(e.detail["request_id"] == "promo-1" for e in events)


def test_given_a_batch_where_only_one_line_is_refused_then_only_its_request_waits():
    clock, store = Clock(EVENING), MemoryMessageStore()
    provider = Provider(clock)
    batch = [
        envelope("m1", id="otp-1", to=["09120000001"], text="code 1"),  # the service line
        envelope("m2", id="promo-1", to=["09120000002"], text="sale", **{"from": ADS}),
    ]

    outcome = send_service(store, provider, clock).send_batch(batch)

    assert outcome.failures == {}
    assert [m.state for m in store.stored().values()] == [State.ACCEPTED]
    assert list(store.deferrals) == ["promo-1"]


def test_given_the_deferral_cannot_be_stored_then_the_record_is_retried_and_nothing_is_leased():
    clock = Clock(EVENING)

    def fail(point, messages):
        if point == "defer":
            raise RuntimeError("table unavailable")

    store = MemoryMessageStore(before=fail)
    outcome = send_service(store, Provider(clock), clock).send_batch(
        [envelope("m1", id="promo-1", to=["09120000001"], text="sale", **{"from": ADS})]
    )

    assert list(outcome.failures) == ["m1"]  # SQS retries it: kept, not lost
    assert store.stored() == {}
    assert store.deferrals == {}


# -- release: back on the queue once due, sent once ---------------------------------------------------
def test_given_the_window_opens_then_the_tick_releases_the_request_and_it_is_sent_once():
    clock, store, queue, metrics = Clock(EVENING), MemoryMessageStore(), MemoryQueue(), Metrics()
    provider = Provider(clock)
    send = send_service(store, provider, clock)
    release = ReleaseService(store=store, queue=queue, clock=clock, metrics=metrics)
    send.send_batch(
        [envelope("m1", id="promo-1", to=["09120000001", "09120000002"], text="sale", **{"from": ADS})]
    )

    assert release.run().released == 0  # not due yet: nothing moves
    clock.now = datetime(2026, 12, 8, 5, 30, tzinfo=UTC)  # 09:00 Tehran
    report = release.run()
    assert (report.released, report.left) == (1, 0)
    assert store.deferrals == {}
    assert metrics.total("DeferredReleased") == 1

    assert deliver(send, queue, "again") == {}
    assert sorted(provider.sent) == [("sale", "989120000001"), ("sale", "989120000002")]
    assert {m.state for m in store.stored().values()} == {State.ACCEPTED}


def test_given_the_tick_dies_after_enqueueing_then_the_second_copy_sends_nothing_twice():
    clock, queue = Clock(EVENING), MemoryQueue()
    crash = {"on": True}

    def die_before_forgetting(point, messages):
        if point == "forget" and crash["on"]:
            raise RuntimeError("the poll function timed out")

    store = MemoryMessageStore(before=die_before_forgetting)
    provider = Provider(clock)
    send = send_service(store, provider, clock)
    release = ReleaseService(store=store, queue=queue, clock=clock)
    send.send_batch(
        [envelope("m1", id="promo-1", to=["09120000001", "09120000002"], text="sale", **{"from": ADS})]
    )
    clock.now = datetime(2026, 12, 8, 5, 30, tzinfo=UTC)

    release.run()  # enqueued, then died before forgetting: still due
    crash["on"] = False
    release.run()  # the next tick: the same body again
    assert len(queue.bodies) == 2
    assert store.deferrals == {}

    assert deliver(send, queue, "copy") == {}
    assert sorted(provider.sent) == [("sale", "989120000001"), ("sale", "989120000002")]  # once each


def test_given_an_id_less_request_deferred_then_its_released_copy_continues_it_and_sends_once():
    clock, store, queue = Clock(EVENING), MemoryMessageStore(), MemoryQueue()
    provider = Provider(clock, limit=1)  # one message a day: the second recipient hits 1009
    send = send_service(store, provider, clock)
    release = ReleaseService(store=store, queue=queue, clock=clock)
    body = {"to": ["09120000001"], "text": "one"}
    other = {"to": ["09120000002", "09120000003"], "text": "two"}

    send.send_batch([envelope("m1", **body)])
    outcome = send.send_batch([envelope("m2", **other)])
    assert outcome.failures == {}
    (deferral,) = store.deferrals.values()
    assert deferral.reason == "daily_limit"

    clock.now = deferral.due_at
    provider.limit = 1000  # a new day
    release.run()
    release.run()  # no second copy: it was forgotten
    assert deliver(send, queue, "next-day") == {}

    assert sorted(d for _, d in provider.sent) == ["989120000001", "989120000002", "989120000003"]


def test_given_a_request_deferred_again_meanwhile_then_the_late_forget_keeps_the_new_deferral():
    clock, store = Clock(EVENING), MemoryMessageStore()
    send = send_service(store, Provider(clock, limit=0), clock)  # the daily limit, every day
    body = {"id": "promo-1", "to": ["09120000001"], "text": "sale"}
    send.send_batch([envelope("m1", **body)])
    first = store.deferrals["promo-1"]  # what a release read, before it died

    clock.now = first.due_at
    send.send_batch([envelope("m1-released", **body)])  # its copy, refused again: due a day later
    assert store.forget(first) is False
    assert store.deferrals["promo-1"].due_at == first.due_at + timedelta(days=1)
    assert len(deferred_events(store)) == 2  # one event per deferral


def test_given_the_queue_refuses_some_bodies_then_they_stay_due_for_the_next_tick():
    clock, store = Clock(EVENING), MemoryMessageStore()
    send = send_service(store, Provider(clock), clock)
    for i in range(3):
        send.send_batch(
            [envelope(f"m{i}", id=f"promo-{i}", to=[f"0912000000{i}"], text="sale", **{"from": ADS})]
        )
    clock.now = datetime(2026, 12, 8, 6, 0, tzinfo=UTC)
    queue, metrics = MemoryQueue(refuse=lambda position: position == 1), Metrics()

    report = ReleaseService(store=store, queue=queue, clock=clock, metrics=metrics).run()

    assert (report.released, report.left) == (2, 1)
    assert len(store.deferrals) == 1
    assert metrics.total("DeferredLeft") == 1


def test_given_more_due_than_the_limit_then_the_rest_waits_a_tick():
    clock, store = Clock(EVENING), MemoryMessageStore()
    send = send_service(store, Provider(clock), clock)
    for i in range(5):
        send.send_batch(
            [envelope(f"m{i}", id=f"promo-{i}", to=[f"0912000000{i}"], text="sale", **{"from": ADS})]
        )
    clock.now = datetime(2026, 12, 8, 6, 0, tzinfo=UTC)
    queue = MemoryQueue()

    first = ReleaseService(store=store, queue=queue, clock=clock, limit=3).run()
    second = ReleaseService(store=store, queue=queue, clock=clock, limit=3).run()

    assert (first.released, second.released, second.left) == (3, 2, 0)
    assert first.left >= 1  # a lower bound: the run reads one more than it may release
    assert len(queue.bodies) == 5


# -- found by review: each test failed before its fix ---------------------------------------------------
def events_of(store: MemoryMessageStore) -> list[Event]:
    return [event for change in store.stream for event in events_for(change.old, change.new)]


def test_given_an_id_reused_while_its_request_is_deferred_then_the_second_is_rejected_and_the_first_kept():
    clock, store, queue = Clock(EVENING), MemoryMessageStore(), MemoryQueue()
    provider = Provider(clock)
    send = send_service(store, provider, clock)
    first = {"id": "X", "to": ["09120000001"], "text": "first", "from": ADS}
    second = {"id": "X", "to": ["09120000009"], "text": "second", "from": ADS}

    send.send_batch([envelope("m1", **first)])
    assert send.send_batch([envelope("m2", **second)]).failures == {}
    clock.now = datetime(2026, 12, 8, 5, 30, tzinfo=UTC)
    ReleaseService(store=store, queue=queue, clock=clock).run()
    deliver(send, queue, "released")

    assert provider.sent == [("first", "989120000001")]
    rejected = [e.detail for e in events_of(store) if e.detail_type == "SMS Rejected"]
    assert [(d["request_id"], d["reason"]) for d in rejected] == [("X", "duplicate_id")]


def test_given_an_id_reused_on_a_line_that_may_send_now_then_the_deferred_first_request_still_wins():
    clock, store, queue = Clock(EVENING), MemoryMessageStore(), MemoryQueue()
    provider = Provider(clock)
    send = send_service(store, provider, clock)

    send.send_batch([envelope("m1", id="X", to=["09120000001"], text="first", **{"from": ADS})])
    send.send_batch([envelope("m2", id="X", to=["09120000009"], text="second")])  # a service line
    clock.now = datetime(2026, 12, 8, 5, 30, tzinfo=UTC)
    ReleaseService(store=store, queue=queue, clock=clock).run()
    deliver(send, queue, "released")

    assert provider.sent == [("first", "989120000001")]


def test_given_a_daily_limit_just_before_tehran_midnight_then_due_that_midnight_though_the_batch_ends_later():
    refused_at = datetime(2026, 12, 7, 20, 29, 50, tzinfo=UTC)  # 23:59:50 Tehran
    clock, store = Clock(refused_at), MemoryMessageStore()
    provider = Provider(clock, limit=0)
    slow = provider._answer

    def refuse_then_take_time(destinations, text):
        try:
            return slow(destinations, text)
        finally:
            clock.now = refused_at + timedelta(seconds=15)  # the batch ends after midnight

    provider._answer = refuse_then_take_time
    send_service(store, provider, clock).send_batch([envelope("m1", id="r", to=["09120000001"], text="t")])

    assert store.deferrals["r"].due_at == datetime(2026, 12, 7, 20, 31, tzinfo=UTC)


def test_given_a_deferral_and_a_retryable_failure_in_one_request_then_the_record_is_retried():
    clock, store = Clock(datetime(2026, 12, 7, 10, 0, tzinfo=UTC)), MemoryMessageStore()

    def answer(destinations, text):  # a template: one call per recipient
        if destinations == ["989120000002"]:
            raise RejectedError("not now", method="template", reason="daily_limit", http_status=400)
        raise RetryableError("busy", method="template", http_status=503)

    provider = ScriptedProvider(answer)
    provider.templates = True
    body = {
        "id": "otp",
        "to": ["09120000001", "09120000002"],
        "template": {"id": "101", "params": {"c": "1"}},
    }
    outcome = send_service(store, provider, clock).send_batch([envelope("m1", **body)])

    assert sorted(outcome.failures) == ["m1"]  # the 503 is retried as before, not hidden until midnight
    assert store.deferrals["otp"].numbers == ("989120000002",)


def test_given_a_deferred_request_redelivered_and_deferred_alike_then_no_second_event():
    clock, store = Clock(EVENING), MemoryMessageStore()
    send = send_service(store, Provider(clock), clock)
    body = {"id": "promo", "to": ["09120000001"], "text": "sale", "from": ADS}

    send.send_batch([envelope("m1", **body)])
    send.send_batch([envelope("m1", **body)])  # SQS delivered it twice: the same deferral

    assert len(deferred_events(store)) == 1


def test_given_a_slow_queue_then_the_release_stops_at_its_budget_and_leaves_the_rest_due():
    clock, store = Clock(EVENING), MemoryMessageStore()
    send = send_service(store, Provider(clock), clock)
    for i in range(25):
        send.send_batch(
            [envelope(f"m{i}", id=f"promo-{i}", to=[f"091200000{i:02d}"], text="s", **{"from": ADS})]
        )
    clock.now = datetime(2026, 12, 8, 6, 0, tzinfo=UTC)
    elapsed = [0.0]

    class SlowQueue(MemoryQueue):
        max_batch = 10

        def enqueue(self, bodies):
            elapsed[0] += 4.0  # each call of ten takes 4 s (SQS struggling)
            return super().enqueue(bodies)

    queue = SlowQueue()
    report = ReleaseService(store=store, queue=queue, clock=clock, timer=lambda: elapsed[0]).run(
        budget_seconds=6
    )

    assert (report.released, report.left) == (20, 5)  # no call starts once the budget is spent
    assert len(store.deferrals) == 5


def test_given_another_content_deferred_under_the_id_meanwhile_then_each_recipient_keeps_one_outcome():
    from sms_gateway.domain.model import Deferral

    clock, store = Clock(EVENING), MemoryMessageStore()
    provider = Provider(clock, limit=1)  # the first recipient goes, the second hits the daily limit
    provider.max_batch = 1
    send = send_service(store, provider, clock)
    other = Deferral(
        request_id="x",
        fingerprint="another content",
        body="{}",
        numbers=("989120000009",),
        reason="daily_limit",
        message="m",
        due_at=EVENING + timedelta(hours=3),
        token="g",
        meta=None,
        created_at=EVENING,
        expires_at=EVENING + timedelta(days=30),
    )

    def a_concurrent_delivery_defers_first(point, messages):
        if point == "defer" and "x" not in store.deferrals:
            store.deferrals["x"] = other

    store.hook(before=a_concurrent_delivery_defers_first)
    send.send_batch([envelope("m1", id="x", to=["09120000001", "09120000002"], text="F")])

    outcomes = {}
    for event in events_of(store):
        if event.detail_type in ("SMS Accepted", "SMS Rejected"):
            outcomes.setdefault(event.detail.get("to"), []).append(event.detail.get("reason", "accepted"))
    assert outcomes == {"989120000001": ["accepted"], "989120000002": ["duplicate_id"]}
    assert store.deferrals["x"] is other  # the first deferral stays, to be released and judged then
