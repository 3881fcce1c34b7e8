"""The send service's collaborators, each on its own, on the in-memory fakes (tests/fakes.py).

The service's behaviour end to end is in test_send_service.py and the simulation; here each piece is
held to its own promise: grouping into calls, one provider call's outcomes, the leases earlier
attempts left, and rejections written once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from asanak.errors import AmbiguousError, RejectedError, RetryableError
from sms_gateway.domain.errors import LeaseHeld, OutOfTime
from sms_gateway.domain.events import Reason
from sms_gateway.domain.model import Lease, State
from sms_gateway.domain.sending.calls import ProviderCall
from sms_gateway.domain.sending.leases import Leases
from sms_gateway.domain.sending.plans import Attempt, Context, Envelope, Plan, group_calls, new_recipient
from sms_gateway.domain.sending.rejections import Rejecter
from sms_gateway.domain.sending.requests import PoisonRequest, parse_request
from sms_gateway.domain.tally import Tally

from tests.fakes import MemoryMessageStore, ScriptedProvider

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SENDER = "982164063188"
LEASE = Lease("token-1", NOW + timedelta(minutes=5))


def plan(request_id: str, to: list[str], text: str = "hello", sender: str = SENDER) -> Plan:
    body = f'{{"id": "{request_id}", "to": {to!r}, "text": "{text}", "from": "{sender}"}}'.replace("'", '"')
    request = parse_request(body, fallback_id=f"sqs-{request_id}", default_sender=SENDER)
    made = Plan(request, [Envelope(f"sqs-{request_id}", body)], None)
    made.to_send = [new_recipient(made, number, NOW, timedelta(days=30)) for number in request.recipients]
    return made


def context(store: MemoryMessageStore, provider: ScriptedProvider, seconds_left: float = 600) -> Context:
    return Context(
        store=store,
        provider=provider,
        clock=lambda: NOW,
        retention=timedelta(days=30),
        call_budget=timedelta(seconds=10),
        timer=lambda: 1000.0 - seconds_left,
    )


def run_call(store: MemoryMessageStore, provider: ScriptedProvider, *plans: Plan, seconds_left: float = 600):
    ctx = context(store, provider, seconds_left)
    tally = Tally()
    calls = group_calls(plans, provider.max_batch)
    assert len(calls) == 1
    failure = ProviderCall(ctx, Leases(ctx), calls[0], Attempt(LEASE, ends_at=1000.0), tally).run()
    return failure, {to: m for (_, to), m in store.stored().items()}, tally


# -- grouping ------------------------------------------------------------------------------------------
def test_given_requests_sharing_a_sender_and_text_then_they_share_calls_of_at_most_max_batch():
    many = plan("r1", [f"0912{n:07d}" for n in range(150)])
    other_text = plan("r2", ["09121111111"], text="other")

    calls = group_calls([many, other_text], max_batch=100)

    assert sorted(len(call) for call in calls) == [1, 50, 100]
    assert all(len({m.request.text for m, _ in call}) == 1 for call in calls)


def test_given_two_requests_with_the_same_text_and_recipient_then_the_number_is_never_twice_in_one_call():
    first, second = plan("r1", ["09121234567"]), plan("r2", ["09121234567"])

    calls = group_calls([first, second], max_batch=100)

    assert len(calls) == 2
    assert all(len({m.to for _, m in call}) == len(call) for call in calls)


def test_given_one_recipient_planned_twice_in_a_batch_then_it_is_sent_once_and_the_record_retried():
    first = plan("r1", ["09121234567"])
    first.to_send = first.to_send * 2

    calls = group_calls([first], max_batch=100)

    assert sum(len(call) for call in calls) == 1
    assert isinstance(first.retry, LeaseHeld)


# -- one provider call ---------------------------------------------------------------------------------
def test_given_the_provider_accepts_then_each_recipient_is_accepted_with_its_own_msgid():
    store = MemoryMessageStore()

    failure, stored, tally = run_call(store, ScriptedProvider(), plan("r1", ["09121234567", "09351234567"]))

    assert failure is None
    assert {to: (m.state, m.msgid) for to, m in stored.items()} == {
        "989121234567": (State.ACCEPTED, "1000"),
        "989351234567": (State.ACCEPTED, "1001"),
    }
    assert tally.counts["Accepted"] == 2


def test_given_a_refusal_naming_one_destination_then_only_it_is_rejected_and_the_rest_sent_again_at_once():
    def refuse_one(destinations, text):
        if "989351234567" in destinations:
            raise RejectedError(
                "invalid", method="sendsms", reason="invalid_destination", destinations=["989351234567"]
            )
        return [str(2000 + i) for i in range(len(destinations))]

    provider = ScriptedProvider(refuse_one)
    failure, stored, _ = run_call(MemoryMessageStore(), provider, plan("r1", ["09121234567", "09351234567"]))

    assert failure is None
    assert stored["989351234567"].state == State.REJECTED
    assert stored["989351234567"].reason == Reason.PROVIDER_REJECTED
    assert (stored["989121234567"].state, stored["989121234567"].msgid) == (State.ACCEPTED, "2000")
    assert [call[1] for call in provider.calls] == [("989121234567", "989351234567"), ("989121234567",)]


def test_given_a_refusal_naming_no_one_then_the_call_is_split_until_the_refused_number_is_isolated():
    bad = "989131112222"

    def refuse_if_bad(destinations, text):
        if bad in destinations:
            raise RejectedError("bad request", method="sendsms", reason="validation", http_status=400)
        return [str(3000 + i) for i in range(len(destinations))]

    numbers = ["09121234567", "09351234567", "09131112222", "09121112222"]
    failure, stored, tally = run_call(
        MemoryMessageStore(), ScriptedProvider(refuse_if_bad), plan("r1", numbers)
    )

    assert failure is None
    assert {to for to, m in stored.items() if m.state == State.REJECTED} == {bad}
    assert sum(m.state == State.ACCEPTED for m in stored.values()) == 3
    assert tally.counts["RefusalSplits"] >= 1


def test_given_an_answer_that_may_have_sent_then_the_recipients_are_unknown_and_never_sent_again():
    def lost(destinations, text):
        raise AmbiguousError("read timeout after sending", method="sendsms")

    failure, stored, _ = run_call(MemoryMessageStore(), ScriptedProvider(lost), plan("r1", ["09121234567"]))

    assert failure is None
    assert (stored["989121234567"].state, stored["989121234567"].reason) == (
        State.UNKNOWN,
        Reason.OUTCOME_UNKNOWN,
    )


def test_given_the_provider_unavailable_then_nothing_stays_stored_and_the_record_is_retried():
    def busy(destinations, text):
        raise RetryableError("too many requests", method="sendsms", http_status=429)

    failure, stored, tally = run_call(
        MemoryMessageStore(), ScriptedProvider(busy), plan("r1", ["09121234567"])
    )

    assert isinstance(failure, RetryableError)
    assert stored == {}  # released: the next delivery sends it
    assert tally.counts["ProviderError_unavailable"] == 1


def test_given_no_time_for_another_call_then_the_provider_is_not_called_and_the_record_retried():
    provider = ScriptedProvider()

    failure, stored, _ = run_call(MemoryMessageStore(), provider, plan("r1", ["09121234567"]), seconds_left=5)

    assert isinstance(failure, OutOfTime)
    assert provider.calls == []
    assert stored == {}


def test_given_a_recipient_leased_by_a_live_attempt_then_it_is_left_alone_and_the_record_retried():
    store = MemoryMessageStore()
    other = plan("r1", ["09121234567"])
    store.lease(other.to_send, Lease("someone-else", NOW + timedelta(minutes=10)))
    provider = ScriptedProvider()

    failure, stored, _ = run_call(store, provider, plan("r1", ["09121234567"]))

    assert isinstance(failure, LeaseHeld)
    assert provider.calls == []
    assert stored["989121234567"].lease_token == "someone-else"


# -- leases earlier attempts left ----------------------------------------------------------------------
def test_given_an_expired_lease_then_it_is_taken_over_as_outcome_unknown_and_a_live_one_is_counted_held():
    store = MemoryMessageStore()
    dead, live = plan("r1", ["09121234567"]), plan("r2", ["09351234567"])
    store.lease(dead.to_send, Lease("dead", NOW - timedelta(seconds=1)))
    store.lease(live.to_send, Lease("live", NOW + timedelta(minutes=1)))
    leases, tally = Leases(context(store, ScriptedProvider())), Tally()
    earlier = [*store.messages_of("r1").values(), *store.messages_of("r2").values()]

    held = leases.settle_stored(earlier, NOW, tally)

    assert held == 1
    stored = {to: m for (_, to), m in store.stored().items()}
    assert (stored["989121234567"].state, stored["989121234567"].reason) == (
        State.UNKNOWN,
        Reason.OUTCOME_UNKNOWN,
    )
    assert stored["989351234567"].state == State.SENDING
    assert tally.counts[f"Rejected_{Reason.OUTCOME_UNKNOWN}"] == 1


# -- rejections ----------------------------------------------------------------------------------------
def test_given_the_same_invalid_numbers_on_every_delivery_then_they_are_rejected_once():
    store = MemoryMessageStore()
    rejecter = Rejecter(context(store, ScriptedProvider()))
    request = plan("r1", ["09121234567", "12345"]).request
    tallies = [Tally(), Tally()]

    for tally in tallies:
        rejecter.numbers(request, tally)

    assert len(store.rejections) == 1
    assert [t.counts["Rejected"] for t in tallies] == [1, 0]


@pytest.mark.parametrize("opted", [["09121234567"], []])
def test_given_opted_out_recipients_then_each_is_stored_rejected_opted_out_once(opted):
    store = MemoryMessageStore()
    rejecter = Rejecter(context(store, ScriptedProvider()))
    made = plan("r1", ["09121234567", "09351234567"])
    numbers = {f"98{n[1:]}" for n in opted}

    rejecter.opted_out(made, numbers, NOW, Tally())
    rejecter.opted_out(made, numbers, NOW, Tally())

    stored = {to: m for (_, to), m in store.stored().items()}
    assert {to: m.reason for to, m in stored.items()} == dict.fromkeys(numbers, Reason.OPTED_OUT)


# -- the blacklist option ------------------------------------------------------------------------------
def blacklisted(request_id: str, to: list[str], flag: object) -> Plan:
    body = json.dumps({"id": request_id, "to": to, "text": "hello", "to_blacklisted": flag})
    request = parse_request(body, fallback_id=f"sqs-{request_id}", default_sender=SENDER)
    made = Plan(request, [Envelope(f"sqs-{request_id}", body)], None)
    made.to_send = [new_recipient(made, number, NOW, timedelta(days=30)) for number in request.recipients]
    return made


def test_given_the_same_text_with_and_without_the_blacklist_option_then_separate_calls_and_the_flag_sent():
    provider = ScriptedProvider()
    ctx = context(MemoryMessageStore(), provider)
    calls = group_calls([plan("r1", ["09121234567"]), blacklisted("r2", ["09351234567"], True)], 100)

    for call in calls:
        ProviderCall(ctx, Leases(ctx), call, Attempt(LEASE, ends_at=1000.0), Tally()).run()

    assert sorted(zip((c[1] for c in provider.calls), provider.blacklist_flags, strict=True)) == [
        (("989121234567",), False),
        (("989351234567",), True),
    ]


def test_given_the_option_unset_then_a_request_is_the_same_content_as_before_the_option_existed():
    without = plan("r1", ["09121234567"]).request
    off = blacklisted("r1", ["09121234567"], False).request
    on = blacklisted("r1", ["09121234567"], True).request

    assert without.fingerprint == off.fingerprint  # ids stored before the option keep matching
    assert on.fingerprint != off.fingerprint  # the same id with the option is other content


@pytest.mark.parametrize("flag", ["yes", 1, "true"])
def test_given_a_blacklist_option_that_is_not_a_boolean_then_the_request_is_refused_clearly(flag):
    with pytest.raises(PoisonRequest, match="'to_blacklisted' must be true or false"):
        blacklisted("r1", ["09121234567"], flag)


def test_given_a_provider_taking_a_text_per_recipient_then_distinct_texts_of_one_sender_share_calls():
    codes = [plan(f"r{n}", [f"0912{n:07d}"], text=f"code {n}") for n in range(150)]
    other_sender = plan("s1", ["09351234567"], sender="98300012345")
    flagged = blacklisted("b1", ["09131234567"], True)

    calls = group_calls([*codes, other_sender, flagged], max_batch=100, texts_per_recipient=True)

    assert sorted(len(call) for call in calls) == [1, 1, 50, 100]
    assert len(group_calls(codes, max_batch=100)) == 150  # one text per call otherwise


def test_given_a_request_queued_with_the_option_before_it_existed_then_its_stored_recipients_still_match():
    # Unknown fields were ignored then: such a body was stored under the fingerprint without the option.
    before = plan("r1", ["09121234567"]).request.fingerprint
    now = blacklisted("r1", ["09121234567"], True).request

    assert now.same_content(before)
    assert not plan("r1", ["09351234567"]).request.same_content(before)


def test_given_the_blacklist_option_null_then_it_is_off_like_other_optional_fields():
    assert blacklisted("r1", ["09121234567"], None).request.to_blacklisted is False
