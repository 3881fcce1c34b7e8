"""The outbox's rules: which stored change is which event, and event ids that survive redelivery."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from sms_gateway.domain.model import InboundRecord, Message, Rejection, Rejections, State
from sms_gateway.domain.publishing.outbox import current_events, events_for

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def recipient(state: str = State.SENDING, **changes: object) -> Message:
    message = Message(
        request_id="r1",
        to="989121234567",
        sender="982164063188",
        owner="m1",
        state=state,
        parts=1,
        meta={"k": 1},
        created_at=NOW,
        lease_token="t1",
    )
    for name, value in changes.items():
        setattr(message, name, value)
    return message


def kinds(found) -> list[tuple[str, object]]:
    return [
        (e.detail_type, e.detail.get("reason") or e.detail.get("status") or e.detail.get("msgid"))
        for e in found
    ]


def test_given_a_lease_a_release_or_a_reschedule_then_no_event():
    leased = recipient()
    accepted = recipient(State.ACCEPTED, msgid="55", accepted_at=NOW)
    rescheduled = copy.deepcopy(accepted)
    rescheduled.next_check = NOW + timedelta(minutes=2)

    assert events_for(None, leased) == []
    assert events_for(leased, None) == []
    assert events_for(accepted, rescheduled) == []


def test_given_a_recipient_settled_then_one_accepted_or_rejected_event():
    leased = recipient()

    assert kinds(events_for(leased, recipient(State.ACCEPTED, msgid="55"))) == [("SMS Accepted", "55")]
    rejected = recipient(State.REJECTED, final=True, reason="provider_rejected", reason_message="bad")
    assert kinds(events_for(leased, rejected)) == [("SMS Rejected", "provider_rejected")]
    unknown = recipient(State.UNKNOWN, final=True, reason="outcome_unknown")
    assert kinds(events_for(leased, unknown)) == [("SMS Rejected", "outcome_unknown")]


def test_given_a_status_change_then_one_status_event_with_the_previous_status_from_the_old_item():
    old = recipient(State.ACCEPTED, msgid="55", status=1, status_name="InQueue", status_rank=10)
    new = recipient(State.FINAL, msgid="55", status=6, status_name="Success", status_rank=100, final=True)

    [event] = events_for(old, new)

    assert event.detail_type == "SMS Status Changed"
    assert (event.detail["status"], event.detail["previous_status"], event.detail["final"]) == (6, 1, True)
    assert event.detail["outcome"] == "delivered"


def test_given_the_same_change_delivered_twice_then_the_same_event_id_and_other_changes_differ():
    old = recipient(State.ACCEPTED, msgid="55", status=1, status_name="InQueue", status_rank=10)
    new = recipient(State.ACCEPTED, msgid="55", status=2, status_name="Sent", status_rank=30)
    final = recipient(State.FINAL, msgid="55", status=6, status_name="Success", final=True)

    first, again, later = events_for(old, new), events_for(old, new), events_for(new, final)

    assert first[0].detail["event_id"] == again[0].detail["event_id"]
    assert first[0].detail["event_id"] != later[0].detail["event_id"]


def test_given_a_rejections_item_created_then_one_event_per_entry_and_none_when_it_changes():
    item = Rejections(
        "REQ#r1",
        "r1",
        None,
        (Rejection("123", "invalid_number", "too short"), Rejection("989", "opted_out", "x")),
    )

    assert kinds(events_for(None, item)) == [
        ("SMS Rejected", "invalid_number"),
        ("SMS Rejected", "opted_out"),
    ]
    assert events_for(item, item) == []


def test_given_an_inbound_item_created_then_sms_received_with_its_keyword():
    record = InboundRecord(
        inbound_id="abc",
        sender="989121234567",
        recipient="98300012345",
        text="لغو",
        received_at=NOW,
        provider_time="2026-12-01 11:30:00",
        created_at=NOW,
        expires_at=NOW,
        keyword="opt_out",
    )

    [event] = events_for(None, record)

    assert (event.detail_type, event.detail["inbound_id"], event.detail["keyword"]) == (
        "SMS Received",
        "abc",
        "opt_out",
    )


def test_given_an_item_republished_from_the_table_then_the_events_and_ids_of_its_changes():
    leased = recipient()
    accepted = recipient(State.ACCEPTED, msgid="55")
    final = recipient(State.FINAL, msgid="55", status=6, status_name="Success", final=True, previous_status=1)
    from_stream = events_for(leased, accepted) + events_for(
        recipient(State.ACCEPTED, msgid="55", status=1, status_name="InQueue"), final
    )

    republished = current_events(final)

    assert [e.detail["event_id"] for e in republished] == [e.detail["event_id"] for e in from_stream]
