"""The relay keeps each item's events in the order of its changes, and holds back what follows a failure."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from sms_gateway.domain.errors import PublishError
from sms_gateway.domain.model import Message, State
from sms_gateway.domain.publishing.outbox import events_for
from sms_gateway.domain.publishing.service import Change, PublishService

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def recipient(to: str) -> Message:
    return Message(
        request_id="r",
        to=to,
        sender="982164063188",
        owner="m1",
        state=State.SENDING,
        parts=1,
        meta=None,
        created_at=NOW,
        lease_token="t",
    )


def accepted(message: Message, msgid: str) -> Message:
    done = copy.deepcopy(message)
    done.state, done.msgid = State.ACCEPTED, msgid
    return done


def delivered(message: Message) -> Message:
    done = copy.deepcopy(message)
    done.state, done.status, done.status_name, done.final, done.status_rank = (
        State.FINAL,
        6,
        "Success",
        True,
        100,
    )
    return done


class RefusesFirstEntry:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.calls = 0

    def publish(self, events):
        self.calls += 1
        if self.calls == 1:
            self.sent += [(e.detail_type, e.detail["to"]) for e in events[1:]]
            raise PublishError("the first entry was refused", failed=[0])
        self.sent += [(e.detail_type, e.detail["to"]) for e in events]


def test_given_an_items_first_event_refused_then_its_later_change_is_held_back_and_others_go_out():
    a, b = recipient("989120000001"), recipient("989120000002")
    a_accepted, b_accepted = accepted(a, "1"), accepted(b, "2")
    changes = [
        Change("1", a, a_accepted, key="a"),
        Change("2", b, b_accepted, key="b"),
        Change("3", a_accepted, delivered(a_accepted), key="a"),
    ]
    publisher = RefusesFirstEntry()

    outcome = PublishService(publisher).publish(changes)

    assert set(outcome.failed) == {"1", "3"}  # Lambda resumes from 1; 3 must not overtake it
    assert publisher.sent == [("SMS Accepted", "989120000002")]


def test_given_every_event_out_then_an_items_changes_go_out_in_their_order():
    a = recipient("989120000001")
    a_accepted = accepted(a, "1")
    sent: list[str] = []

    class Records:
        def publish(self, events):
            sent.extend(e.detail_type for e in events)

    outcome = PublishService(Records()).publish(
        [Change("1", a, a_accepted, key="a"), Change("2", a_accepted, delivered(a_accepted), key="a")]
    )

    assert outcome.failed == {}
    assert sent == ["SMS Accepted", "SMS Status Changed"]


def test_given_eventbridge_counts_more_failures_than_it_names_then_none_of_the_batch_counts_as_out():
    # An unnamed failure must not pass for a published event: the whole batch is sent again.
    from sms_gateway.adapters.eventbridge import EventBridgePublisher

    class Bus:
        def __init__(self) -> None:
            self.calls = 0

        def put_events(self, Entries):
            self.calls += 1
            entries = [{"EventId": str(i)} for i, _ in enumerate(Entries)]
            entries[0] = {"ErrorCode": "InternalFailure"}
            return {"FailedEntryCount": 2, "Entries": entries}  # two failed, one named

    bus = Bus()
    a = recipient("989120000001")
    events = events_for(a, accepted(a, "1")) * 3

    try:
        EventBridgePublisher(bus, "bus", attempts=2).publish(events)
    except PublishError as error:
        assert error.failed == [0, 1, 2]
    else:
        raise AssertionError("a batch with unnamed failures was taken as published")
