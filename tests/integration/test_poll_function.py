"""The poll function, invoked with the sample scheduled event, against moto and the Asanak sandbox over HTTP.

The gateway runs on the sandbox's clock (``wiring.use_clock``), so
``asanak.clock.advance(s)`` ages the provider's statuses and the gateway's "now" together.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asanak.client import AsanakClient, chunked
from asanak_sandbox import Fault

from tests.conftest import SANDBOX_PASSWORD, SANDBOX_SENDER, SANDBOX_USER
from tests.harness import sqs_event

SCHEDULED_EVENT = json.loads((Path(__file__).parents[2] / "events" / "poll-scheduled.json").read_text())
STATUS_CHANGED = "SMS Status Changed"
A = "09121234567"
A98 = "989121234567"
B = "09351234567"


class RecordedMetrics:
    def __init__(self) -> None:
        self.values: dict[str, list[float]] = defaultdict(list)

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.values[name].append(value)


@pytest.fixture
def world(stack, asanak, lambda_context, monkeypatch):
    """Send and poll handlers on one clock (the sandbox's), with helpers to read what happened."""
    from emulator import gateway

    gateway.run_on(asanak.clock.now)
    yield World(stack, asanak, lambda_context)
    gateway.forget()


class World:
    def __init__(self, stack, asanak, context) -> None:
        from functions.poll import app as poll_app
        from functions.send import app as send_app

        self.stack, self.asanak, self.context = stack, asanak, context
        self._send, self._poll = send_app, poll_app
        self.metrics: dict[str, list[float]] = defaultdict(list)

    def send(self, to: str | list[str], text: str = "hello", **fields: Any) -> None:
        response = self._send.lambda_handler(sqs_event({"to": to, "text": text, **fields}), self.context)
        assert response == {"batchItemFailures": []}

    def advance(self, seconds: float) -> None:
        """Move the provider's and the gateway's time forward together."""
        self.asanak.clock.advance(seconds)

    def poll(self) -> dict[str, Any]:
        """One scheduled run; the metrics it printed (CloudWatch EMF) are added to ``self.metrics``."""
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            report = self._poll.lambda_handler(SCHEDULED_EVENT, self.context)
        self._read_metrics(printed.getvalue())
        return report

    @property
    def store(self):
        from sms_gateway import wiring

        return wiring.tracking_store(self.stack.table_name)

    def service(self, **overrides: Any):
        """A TrackingService on the real adapters and settings (for runs driven from the test)."""
        from sms_gateway import wiring
        from sms_gateway.settings import poll_settings

        metrics = overrides.pop("metrics", RecordedMetrics())
        settings = poll_settings()
        if "concurrency" in overrides:
            settings = replace(settings, status_concurrency=overrides.pop("concurrency"))
        return wiring.build_poll_service(settings, clock=self.asanak.clock.now, metrics=metrics, **overrides)

    def statuses(self) -> list[tuple[str, int, bool]]:
        return [(d["msgid"], d["status"], d["final"]) for d in self.stack.details(STATUS_CHANGED)]

    def msgstatus_calls(self) -> list[int]:
        return [call.count for call in self.asanak.calls if call.method == "msgstatus"]

    def credit_calls(self) -> int:
        return sum(call.method == "getcredit" for call in self.asanak.calls)

    def item(self, to: str = A98) -> dict[str, Any]:
        [item] = [i for i in self.stack.items("REQ#") if i["sk"]["S"] == f"TO#{to}"]
        return item

    def _read_metrics(self, printed: str) -> None:
        for line in printed.splitlines():
            try:
                document = json.loads(line)
            except ValueError:
                continue
            if not isinstance(document, dict) or "_aws" not in document:
                continue
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    self.metrics[metric["Name"]] += value if isinstance(value, list) else [value]


def put_in_flight(world: World, count: int, *, status: int | None = None) -> list[str]:
    """``count`` messages accepted by the sandbox and stored in flight, written straight to the table
    (the send path has its own tests; this is only quicker at volume). With ``status`` they already
    show it and the sandbox keeps showing it, however long the run takes."""
    from sms_gateway.adapters.dynamodb.items import MessageItem, bind_table, message_sk, request_pk
    from sms_gateway.adapters.dynamodb.messages import epoch
    from sms_gateway.domain.tracking.rules import RANKS
    from sms_gateway.domain.tracking.schedule import first_check_at, shard_for

    numbers = [f"0912{n:07d}" for n in range(count)]
    if status is not None:
        for number in numbers:
            world.asanak.script(number, [(0, status)])
    with AsanakClient(world.asanak.base_url, SANDBOX_USER, SANDBOX_PASSWORD) as client:
        msgids = [
            msgid for batch in chunked(numbers) for msgid in client.send_sms(SANDBOX_SENDER, batch, "bulk")
        ]
    sent = {sms.msgid: sms for sms in world.asanak.sent}
    bind_table(world.stack.table_name)
    with MessageItem.batch_write() as batch:
        for index, msgid in enumerate(msgids):
            sms = sent[msgid]
            item = MessageItem(
                request_pk(f"bulk-{index // 100}"),
                message_sk(sms.destination),
                request_id=f"bulk-{index // 100}",
                to=sms.destination,
                sender=SANDBOX_SENDER,
                owner="test",
                state="accepted",
                parts=1,
                created_at=sms.accepted_at,
                accepted_at=sms.accepted_at,
                msgid=msgid,
                track_shard=shard_for(msgid),
                next_check=epoch(first_check_at(sms.accepted_at)),
            )
            if status is not None:
                item.status, item.status_rank = status, RANKS[status]
            batch.save(item)
    return msgids


# -- a message through its stages ----------------------------------------------------------------------
def test_given_a_message_when_polled_through_every_stage_then_one_event_per_stage_ending_delivered(world):
    world.asanak.script(A, [(0, 1), (40, 4), (70, 2), (100, 9), (130, 6)])
    world.send(A, id="otp-1", meta={"u": 7})

    for _ in range(5):  # the first check is 20 s after acceptance, then every 30 s while young
        world.advance(30 if world.msgstatus_calls() else 21)
        world.poll()

    events = world.stack.details(STATUS_CHANGED)
    assert [(e["status"], e["previous_status"], e["final"]) for e in events] == [
        (1, None, False),
        (4, 1, False),
        (2, 4, False),
        (9, 2, False),
        (6, 9, True),
    ]
    delivered = events[-1]
    [accepted] = world.stack.details("SMS Accepted")
    assert delivered["msgid"] == accepted["msgid"]
    assert (delivered["request_id"], delivered["to"], delivered["meta"]) == ("otp-1", A98, {"u": 7})
    assert (delivered["status_name"], delivered["outcome"]) == ("Success", "delivered")
    assert delivered["sent_at"].endswith("Z") and delivered["delivered_at"].endswith("Z")
    assert delivered["delivered_at"] > delivered["sent_at"]
    item = world.item()
    assert (item["state"]["S"], item["status"]["N"]) == ("final", "6")
    assert not {"track_shard", "next_check", "event_pending"} & item.keys()  # out of the in-flight index
    assert world.metrics["Delivered"][-1] == 1
    assert world.metrics["TimeToDelivery"] == [pytest.approx(130, abs=2)]
    assert sum(world.metrics["StatusChanges"]) == 5


def test_given_a_message_the_handset_never_gets_when_polled_then_it_ends_failed(world):
    world.asanak.script(A, [(0, 1), (15, 2), (45, 5)])
    world.send(A)

    world.advance(21)
    world.poll()
    world.advance(30)
    world.poll()

    events = world.stack.details(STATUS_CHANGED)
    assert [(e["status"], e["status_name"], e["final"], e["outcome"]) for e in events] == [
        (2, "Sent", False, "pending"),
        (5, "Failed", True, "failed"),
    ]
    assert events[-1]["delivered_at"] is None
    assert world.metrics["Failed"] == [0, 1]
    assert world.metrics["Delivered"] == [0, 0]


def test_given_a_multipart_message_then_partial_codes_are_reported_and_12_turns_final_after_four_hours(world):
    world.asanak.script(A, [(0, 1), (15, 10), (1800, 12)])
    world.send(A, text="پیام بلند " * 20)  # 200 characters of Persian: 3 parts

    world.advance(21)
    world.poll()  # 10 PartiallySent
    world.advance(3600)
    world.poll()  # 12 at one hour: not final yet
    world.advance(3 * 3600)
    world.poll()  # still 12 before four hours: nothing new
    world.advance(600)
    world.poll()  # four hours passed: 12 is final

    events = world.stack.details(STATUS_CHANGED)
    assert [(e["status"], e["status_name"], e["final"], e["outcome"]) for e in events] == [
        (10, "PartiallySent", False, "pending"),
        (12, "PartiallySuccess", False, "pending"),
        (12, "PartiallySuccess", True, "partially_delivered"),
    ]
    assert events[-1]["previous_status"] == 12
    assert sum(world.metrics["PartiallyDelivered"]) == 1
    assert world.item()["parts"]["N"] == "3"


# -- volume and quiet runs ---------------------------------------------------------------------------
@pytest.mark.parametrize("asanak_api", ["v1rest"])  # most of a minute of moto at this volume: once is enough
def test_given_550_messages_in_flight_when_one_run_polls_them_then_exactly_6_msgstatus_calls(world):
    # 550, not 1,000 as before: the same chunking (full calls of 100 and a last one of 50) at half the
    # suite's time; `make bench` polls 1,000 in flight.
    put_in_flight(world, 550, status=9)
    world.advance(21)  # all due; the sandbox shows 9 (SentToDest), which they already have

    report = world.poll()

    assert sorted(world.msgstatus_calls()) == [50] + [100] * 5
    assert (report["due"], report["msgstatus_calls"], report["changes"]) == (550, 6, 0)
    assert (report["in_flight"], report["backlog"], report["budget_spent"]) == (550, 0, False)
    assert world.metrics["MsgStatusCalls"] == [6]
    assert world.metrics["InFlight"] == [550]
    assert world.stack.details(STATUS_CHANGED) == []


def test_given_no_change_since_the_last_run_then_final_messages_are_not_asked_about_and_nothing_published(
    world,
):
    world.asanak.script(B, [(0, 1), (15, 9)])  # B stays SentToDest
    world.send([A, B])
    world.advance(31)
    world.poll()  # A delivered, B SentToDest
    assert sorted((status, final) for _, status, final in world.statuses()) == [(6, True), (9, False)]

    world.advance(31)
    report = world.poll()

    assert world.msgstatus_calls() == [2, 1]  # only B, still in flight
    assert (report["changes"], report["in_flight"]) == (0, 1)
    assert len(world.stack.details(STATUS_CHANGED)) == 2
    world.advance(31)
    world.poll()
    assert len(world.stack.details(STATUS_CHANGED)) == 2


# -- never backwards, never twice ------------------------------------------------------------------------
def test_given_a_stale_status_after_a_final_one_then_it_is_ignored(world, monkeypatch):
    world.asanak.script(A, [(0, 1), (30, 6), (60, 9)])  # the provider answers 9 after 6: out of order
    world.send(A)
    world.advance(21)
    world.poll()  # 1 InQueue
    before_final = list(world.store.due(world.asanak.clock.now() + timedelta(minutes=1), 100))  # status 1
    world.advance(31)
    world.poll()  # 6 Success: final, out of the index
    world.advance(10)

    world.poll()
    assert world.msgstatus_calls() == [1, 1]  # a final message is not asked about again
    monkeypatch.setattr(
        world.store, "due", lambda now, page_size: iter(before_final)
    )  # a run that read it earlier
    report = world.service().run(budget_seconds=30)

    assert world.msgstatus_calls() == [1, 1, 1]  # it asked, and got the stale 9
    assert report.changes == 0
    assert [(status, final) for _, status, final in world.statuses()] == [(1, False), (6, True)]
    item = world.item()
    assert (item["status"]["N"], item["state"]["S"]) == ("6", "final")


def test_given_two_overlapping_runs_then_each_change_is_published_once_and_credit_read_once(
    world, monkeypatch
):
    world.send([A, B])
    world.advance(21)
    service = world.service()
    store = world.store
    read_due = store.due
    both_read = threading.Barrier(2, timeout=10)

    def due_then_wait(now, page_size):
        messages = list(read_due(now, page_size))
        both_read.wait()  # both runs hold the same due set before either writes
        return iter(messages)

    monkeypatch.setattr(store, "due", due_then_wait)
    # DynamoDB applies conditional writes to one item one at a time; moto's threaded server checks and
    # writes without a lock, so its writes are serialised here to test our conditions, not moto's.
    one_write_at_a_time = threading.Lock()
    for name in ("_update", "claim_credit_check"):
        write = getattr(store, name)

        def atomic(*args, _write=write, **kwargs):
            with one_write_at_a_time:
                return _write(*args, **kwargs)

        monkeypatch.setattr(store, name, atomic)
    reports = []
    runs = [threading.Thread(target=lambda: reports.append(service.run(budget_seconds=30))) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=30)

    assert world.msgstatus_calls() == [2, 2]  # both asked ...
    assert sum(report.changes for report in reports) == 2  # ... each change was stored by one of them
    assert sorted(status for _, status, _ in world.statuses()) == [9, 9]  # one event per message
    assert len({msgid for msgid, _, _ in world.statuses()}) == 2
    assert world.credit_calls() == 1


def test_given_the_bus_refuses_a_status_event_then_it_goes_out_once_the_bus_is_back(world, monkeypatch):
    # The change is one write; its event follows from the table's stream. A refused event is neither
    # lost nor a reason to write the change again (it used to take a pending token and a second write).
    from sms_gateway.adapters.eventbridge import EventBridgePublisher
    from sms_gateway.domain.errors import PublishError

    world.send(A)
    world.stack.events()  # SMS Accepted is out
    real_publish = EventBridgePublisher.publish
    outage = {"on": True}

    def refused(self, events):
        if outage["on"]:
            raise PublishError("EventBridge refused the entries: InternalFailure", failed=range(len(events)))
        real_publish(self, events)

    monkeypatch.setattr(EventBridgePublisher, "publish", refused)
    world.advance(21)
    world.poll()  # 9 stored
    assert world.stack.details(STATUS_CHANGED) == []
    assert world.item()["checks"]["N"] == "1"  # one write for the change
    outage["on"] = False
    world.advance(31)
    world.poll()  # and tracking goes on: 6

    assert [(status, final) for _, status, final in world.statuses()] == [(9, False), (6, True)]


# -- expiry, unknown codes, provider trouble ------------------------------------------------------------
def test_given_no_final_status_within_the_tracking_horizon_then_expired_and_reported(world):
    world.asanak.script(A, [(0, 1), (10, 2)])  # stuck at Sent
    world.send(A)
    world.advance(21)
    world.poll()

    world.advance(24 * 3600)  # TrackingHours = 24 (the template's default)
    report = world.poll()

    events = world.stack.details(STATUS_CHANGED)
    assert [
        (e["status"], e["status_name"], e["final"], e["outcome"], e["previous_status"]) for e in events
    ] == [
        (2, "Sent", False, "pending", None),
        (-100, "Expired", True, "expired", 2),
    ]
    assert report["expired"] == 1 and report["in_flight"] == 0
    assert world.metrics["Expired"][-1] == 1
    assert world.item()["state"]["S"] == "final"
    world.advance(3600)
    world.poll()
    assert world.msgstatus_calls() == [1, 1]


def test_given_an_unknown_code_then_it_is_recorded_polled_again_and_never_taken_as_delivered(world):
    world.asanak.script(A, [(0, 2), (25, 20), (60, 6)])
    world.send(A)
    world.advance(21)
    world.poll()  # 2 Sent

    world.advance(31)
    report = world.poll()  # 20: not in the manual

    assert report["unknown_codes"] == 1 and report["changes"] == 0
    item = world.item()
    assert (item["unknown_code"]["N"], item["status"]["N"], item["state"]["S"]) == ("20", "2", "accepted")
    assert "next_check" in item  # still in flight
    assert world.metrics["UnknownStatus"] == [1]
    world.advance(31)
    world.poll()
    events = world.stack.details(STATUS_CHANGED)
    assert [(e["status"], e["previous_status"]) for e in events] == [(2, None), (6, 2)]


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("http_503", "unavailable"),
        ("blocked_403", "blocked"),
        ("http_500", "unavailable"),  # read-only: a 5xx is retried, unlike after sendsms
        ("accept_then_502", "unavailable"),
        ("error_text_200", "credentials"),  # an error text in a 200 body is read, not "unreadable"
    ],
)
def test_given_msgstatus_fails_then_the_run_goes_on_and_the_next_run_catches_up(world, fault, kind):
    world.send(A)
    world.asanak.inject(Fault(fault, method="msgstatus"))
    world.advance(21)

    report = world.poll()

    assert report["provider_errors"] == 1 and report["backlog"] == 1  # left due
    assert world.metrics[f"ProviderError_{kind}"] == [1]
    assert world.stack.details(STATUS_CHANGED) == []
    world.poll()
    assert [status for _, status, _ in world.statuses()] == [9]


# -- budget and credit -----------------------------------------------------------------------------------
def test_given_more_due_than_the_budget_allows_then_the_run_stops_and_the_next_run_continues(world):
    put_in_flight(world, 150, status=9)
    world.advance(21)
    ticks = iter([0.0])
    one_round = world.service(concurrency=1, timer=lambda: next(ticks, 99.0))  # budget gone after a round

    first = one_round.run(budget_seconds=10)

    assert (first.msgstatus_calls, first.budget_spent, first.backlog) == (1, True, 50)
    second = world.service(concurrency=1).run(budget_seconds=10)
    assert (second.msgstatus_calls, second.budget_spent, second.backlog) == (1, False, 0)
    assert world.msgstatus_calls() == [100, 50]


def test_given_the_function_is_about_to_time_out_then_no_work_starts(world):
    world.send(A)
    world.advance(21)
    world.context.remaining_ms = 12_000  # less than the safety margin

    report = world.poll()

    assert report["budget_spent"] is True
    assert world.msgstatus_calls() == [] and world.credit_calls() == 0
    assert world.metrics["RunsSkipped"] == [1]


@pytest.mark.parametrize("asanak_api", ["v1rest"])  # v2rest also reads rials: test_v2rest_gateway.py
def test_given_runs_every_minute_then_credit_is_read_at_most_every_few_minutes_and_published(world):
    world.asanak.credit = 742
    world.poll()
    world.advance(60)
    world.poll()
    world.advance(240)  # CREDIT_CHECK_MINUTES = 5 since the first read
    world.asanak.credit = 741

    report = world.poll()

    assert world.credit_calls() == 2
    assert report["credit"] == "741"
    assert report["credit_rials"] is None  # v1rest has no credit in rials
    assert world.metrics["Credit"] == [742, 741]
    assert "CreditRials" not in world.metrics
    [credit] = world.stack.items("CREDIT")
    assert credit["credit"]["S"] == "741"


def test_given_a_backlog_the_budget_cannot_count_then_in_flight_and_backlog_are_lower_bounds(world):
    from sms_gateway.adapters.dynamodb.tracking import DynamoTrackingStore

    put_in_flight(world, 150, status=9)
    world.advance(21)
    ticks = iter([0.0])
    store = DynamoTrackingStore(world.stack.table_name, count_page_size=10)  # pages of 10: many pages
    metrics = RecordedMetrics()
    one_round = world.service(store=store, concurrency=1, metrics=metrics, timer=lambda: next(ticks, 99.0))

    report = one_round.run(budget_seconds=10)

    assert report.budget_spent is True and report.counts_exact is False
    assert 0 < report.in_flight <= 4 * 10  # the first page of each shard, then the budget stops it
    assert 0 < report.backlog <= 4 * 10
    assert metrics.values["CountsTruncated"] == [1]


def test_given_time_to_spare_when_counting_page_by_page_then_in_flight_is_exact(world):
    from sms_gateway.adapters.dynamodb.tracking import DynamoTrackingStore

    put_in_flight(world, 150, status=9)
    store = DynamoTrackingStore(world.stack.table_name, count_page_size=10)

    report = world.service(store=store).run(budget_seconds=30)

    assert (report.in_flight, report.backlog, report.counts_exact) == (150, 0, True)
