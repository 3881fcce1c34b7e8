"""One contract, two stores: the in-memory fake the simulation runs on, and DynamoDB (moto) behind the
real adapter. Each case is a transition of the send state machine, its own repetition (a retried write
whose first response was lost) and a competing attempt's write; both stores must answer alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sms_gateway.adapters.dynamodb.items import MessageItem
from sms_gateway.domain.model import Deferral, Lease, Message, State

from tests.fakes import MemoryMessageStore

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "dynamodb"])
def store(request):
    if request.param == "memory":
        return MemoryMessageStore()
    from sms_gateway.adapters.dynamodb.messages import DynamoMessageStore

    harness = request.getfixturevalue("stack")
    return DynamoMessageStore(harness.table_name)


def message(to: str = "989121234567", request_id: str = "r1") -> Message:
    return Message(
        request_id=request_id,
        to=to,
        sender="982164063188",
        owner="m1",
        state=State.SENDING,
        parts=1,
        meta={"k": "v"},
        created_at=NOW,
        expires_at=NOW + timedelta(days=1),
    )


def accepted(m: Message, msgid: str) -> Message:
    m.state, m.msgid, m.accepted_at, m.next_check = State.ACCEPTED, msgid, NOW, NOW + timedelta(seconds=20)
    return m


def unknown(m: Message) -> Message:
    m.state, m.final, m.reason, m.reason_message = State.UNKNOWN, True, "outcome_unknown", "died"
    return m


MINE = Lease("mine", NOW + timedelta(minutes=2))
THEIRS = Lease("theirs", NOW + timedelta(minutes=2))


def test_given_no_item_when_leased_then_sending_under_the_lease_and_a_retry_of_it_is_recognised(store):
    assert store.lease([message()], MINE) == {}
    assert (
        store.lease([message()], MINE) == {}
    )  # botocore's retry after a lost response: ours, not a conflict

    [stored] = store.messages_of("r1").values()
    assert (stored.state, stored.lease_token) == (State.SENDING, "mine")
    assert stored.lease_until is not None and stored.lease_until >= MINE.until - timedelta(seconds=1)


def test_given_a_leased_item_when_another_attempt_leases_it_then_blocked_with_the_holder_shown(store):
    store.lease([message()], THEIRS)

    blocked = store.lease([message(), message("989351234567")], MINE)

    assert list(blocked) == ["989121234567"]
    holder = blocked["989121234567"]
    assert holder is not None and (holder.state, holder.lease_token) == (State.SENDING, "theirs")
    assert store.messages_of("r1")["989351234567"].lease_token == "mine"


def test_given_our_lease_when_settled_accepted_twice_then_both_succeed_and_the_msgid_is_stored(store):
    store.lease([message()], MINE)

    assert store.settle([accepted(message(), "555")], MINE) == {}
    assert store.settle([accepted(message(), "555")], MINE) == {}  # the retried write is ours

    [stored] = store.messages_of("r1").values()
    assert (stored.state, stored.msgid) == (State.ACCEPTED, "555")


def test_given_another_lease_when_we_settle_or_release_then_blocked_and_nothing_changes(store):
    store.lease([message()], THEIRS)

    assert list(store.settle([accepted(message(), "555")], MINE)) == ["989121234567"]
    assert list(store.release([message()], MINE)) == ["989121234567"]

    [stored] = store.messages_of("r1").values()
    assert (stored.state, stored.lease_token, stored.msgid) == (State.SENDING, "theirs", None)


def test_given_our_lease_when_released_then_the_item_is_gone_and_can_be_leased_again(store):
    store.lease([message()], MINE)

    assert store.release([message()], MINE) == {}

    assert store.messages_of("r1") == {}
    assert store.lease([message()], THEIRS) == {}


def test_given_a_live_lease_then_it_cannot_be_taken_over_but_an_expired_one_can_once(store):
    store.lease([message()], Lease("dead", NOW + timedelta(minutes=1)))
    held = store.messages_of("r1")["989121234567"]

    assert list(store.take_over([unknown(held)], NOW)) == ["989121234567"]  # still live
    later = NOW + timedelta(minutes=5)
    assert store.take_over([unknown(held)], later) == {}
    assert store.take_over([unknown(held)], later) == {}  # retried: recognised as done

    [stored] = store.messages_of("r1").values()
    assert (stored.state, stored.reason) == (State.UNKNOWN, "outcome_unknown")


def test_given_a_settled_item_when_leased_again_then_blocked_showing_its_outcome(store):
    store.lease([message()], THEIRS)
    store.settle([accepted(message(), "777")], THEIRS)

    blocked = store.lease([message()], MINE)

    stored = blocked["989121234567"]
    assert stored is not None and (stored.state, stored.msgid) == (State.ACCEPTED, "777")


def test_given_a_leased_recipient_then_it_carries_the_request_fingerprint_and_owner(store):
    leased = message()
    leased.fingerprint = "f1"

    store.lease([leased], MINE)

    [stored] = store.messages_of("r1").values()
    assert (stored.fingerprint, stored.owner) == ("f1", "m1")


def test_given_rejections_then_stored_once_and_a_repeat_is_told_apart(store):
    from sms_gateway.domain.model import Rejection, Rejections

    rejections = Rejections("MSG#m1", "r1", {"k": "v"}, (Rejection(None, "invalid_json", "not JSON"),))

    assert store.reject(rejections, NOW + timedelta(days=1)) is True
    assert store.reject(rejections, NOW + timedelta(days=1)) is False  # a redelivery: nothing new


def test_given_a_parked_request_then_parking_the_same_body_again_returns_the_first_id(store):
    assert store.park("body-1", "sqs-1", NOW + timedelta(days=1)) == "sqs-1"

    assert store.park("body-1", "sqs-2", NOW + timedelta(days=1)) == "sqs-1"  # a redrive: continue sqs-1
    assert store.park("body-2", "sqs-3", NOW + timedelta(days=1)) == "sqs-3"


def test_given_a_recipient_settled_before_any_call_then_recorded_once_and_a_repeat_is_ours(store):
    rejected = message()
    rejected.state, rejected.final, rejected.reason = State.REJECTED, True, "opted_out"

    assert store.record([rejected]) == {}
    assert store.record([rejected]) == {}  # retried after a lost response: ours
    assert list(store.lease([message()], MINE)) == ["989121234567"]  # settled: never leased again
    [stored] = store.messages_of("r1").values()
    assert (stored.state, stored.reason) == (State.REJECTED, "opted_out")


# -- deferrals: the send path stores them, the poll function's release reads and forgets them --------
def deferral_store(store):
    """The deferral side of the same table (the fake is one object; DynamoDB has its own adapter)."""
    if isinstance(store, MemoryMessageStore):
        return store
    from sms_gateway.adapters.dynamodb.deferrals import DynamoDeferralStore

    return DynamoDeferralStore(MessageItem.Meta.table_name)


def deferral(request_id: str, due_at: datetime, token: str = "t1", fingerprint: str = "fp") -> Deferral:
    return Deferral(
        request_id=request_id,
        fingerprint=fingerprint,
        body=json.dumps({"id": request_id, "to": "09121234567", "text": "سلام"}, ensure_ascii=False),
        numbers=("989121234567",),
        reason="daily_limit",
        message="daily web-service sending limit reached",
        due_at=due_at,
        token=token,
        meta={"k": "v"},
        created_at=NOW,
        expires_at=NOW + timedelta(days=30),
    )


def test_given_deferrals_then_only_the_due_ones_are_read_oldest_first_and_within_the_limit(store):
    for name, minutes in (("late", 30), ("first", 1), ("second", 2), ("third", 3)):
        store.defer(deferral(name, NOW + timedelta(minutes=minutes)))
    due = deferral_store(store)

    found = due.due(NOW + timedelta(minutes=10), limit=2)

    assert [d.request_id for d in found] == ["first", "second"]
    assert found[0] == deferral("first", NOW + timedelta(minutes=1))  # every field survives the trip
    assert due.due(NOW, limit=10) == []


def test_given_a_request_deferred_again_then_the_old_token_cannot_forget_it_but_the_new_one_can(store):
    store.defer(deferral("r1", NOW, token="old"))
    store.defer(deferral("r1", NOW + timedelta(minutes=5), token="new"))
    due = deferral_store(store)

    assert due.forget(deferral("r1", NOW, token="old")) is False
    [kept] = due.due(NOW + timedelta(hours=1), limit=10)
    assert kept.token == "new"
    assert due.forget(kept) is True
    assert due.due(NOW + timedelta(hours=1), limit=10) == []
    assert due.forget(kept) is False  # a second forget finds nothing


def test_given_deferrals_then_tracking_never_sees_them(store):
    if isinstance(store, MemoryMessageStore):
        pytest.skip("the in-memory tracking store is a separate fake")
    from sms_gateway.adapters.dynamodb.tracking import DynamoTrackingStore

    store.defer(deferral("r1", NOW))

    tracking = DynamoTrackingStore(MessageItem.Meta.table_name)
    assert list(tracking.due(NOW + timedelta(days=1), page_size=100)) == []
    assert tracking.count_in_flight(stop=lambda: False).value == 0


def test_given_a_deferral_then_the_same_again_is_kept_as_it_is_and_another_content_is_refused(store):
    assert store.defer(deferral("r1", NOW, token="first")) is True

    assert store.defer(deferral("r1", NOW, token="again")) is True  # identical: kept, token and all
    assert store.defer(deferral("r1", NOW, token="other", fingerprint="another content")) is False
    [kept] = deferral_store(store).due(NOW, limit=10)
    assert (kept.token, kept.fingerprint) == ("first", "fp")
    assert store.stored_request("r1").deferred == "fp"  # read with the recipients, one query
    assert store.stored_request("r1").messages == {}
