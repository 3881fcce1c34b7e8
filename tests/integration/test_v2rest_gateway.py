"""The gateway pointed at v2rest by changing only AsanakBaseUrl: the send and poll functions, with
their template roles, against the sandbox's v2rest, end to end through the events."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.harness import sqs_event
from tests.integration.test_deferral_gateway import queued, until

pytestmark = pytest.mark.parametrize("asanak_api", ["v2rest"])


def test_given_a_v2rest_base_url_then_requests_are_sent_tracked_and_delivered_over_v2rest(
    stack, asanak, world
):
    send, poll = world

    response = send(sqs_event({"to": ["09121234567", "09351234567"], "text": "کد شما ۴۲", "id": "v2-1"}))
    asanak.clock.advance(30)
    report = poll()

    assert response == {"batchItemFailures": []}
    assert {call.api for call in asanak.calls} == {"v2rest"}
    assert sorted(d["to"] for d in stack.details("SMS Accepted")) == ["989121234567", "989351234567"]
    assert report["changes"] == 2
    delivered = stack.details("SMS Status Changed")
    assert sorted((d["to"], d["status"], d["final"]) for d in delivered) == [
        ("989121234567", 6, True),
        ("989351234567", 6, True),
    ]
    assert report["credit"] == str(Decimal(1000) - 2)
    assert report["credit_rials"] == str((Decimal(1000) - 2) * 1000)  # the sandbox's price: 1,000 rials


def test_given_v2rest_refuses_one_destination_then_only_it_is_rejected_and_the_rest_sent(
    stack, asanak, world
):
    send, _ = world
    asanak.refuse_destinations(["989351234567"], named=True)

    response = send(sqs_event({"to": ["09121234567", "09351234567"], "text": "hi", "id": "v2-2"}))

    assert response == {"batchItemFailures": []}
    assert [sms.destination for sms in asanak.sent] == ["989121234567"]
    [rejected] = stack.details("SMS Rejected")
    assert (rejected["to"], rejected["reason"]) == ("989351234567", "provider_rejected")
    assert [d["to"] for d in stack.details("SMS Accepted")] == ["989121234567"]


def test_given_v2rest_says_not_now_then_nothing_is_rejected_and_the_record_is_kept_for_a_retry(
    stack, asanak, world
):
    send, _ = world
    asanak.credit = Decimal(0)  # 1006: an operator tops it up; the request must wait, not be dropped

    response = send(sqs_event({"to": "09121234567", "text": "hi", "id": "v2-3"}, message_ids=["m-v2-3"]))

    assert [item["itemIdentifier"] for item in response["batchItemFailures"]] == ["m-v2-3"]
    assert stack.details("SMS Rejected") == []
    asanak.credit = Decimal(10)
    assert send(sqs_event({"to": "09121234567", "text": "hi", "id": "v2-3"})) == {"batchItemFailures": []}
    assert len(asanak.sent) == 1


# -- many texts, one call ------------------------------------------------------------------------------------
def otp_batch(count: int) -> list[dict]:
    return [{"to": f"0912{n:07d}", "text": f"کد ورود شما {4000 + n}", "id": f"otp-{n}"} for n in range(count)]


def test_given_ten_one_time_codes_then_one_p2p_call_and_each_recipient_gets_its_own_text_and_msgid(
    stack, asanak, world
):
    send, _ = world

    response = send(sqs_event(*otp_batch(10)))

    assert response == {"batchItemFailures": []}
    assert [(call.method, call.count) for call in asanak.calls] == [("p2psendsms", 10)]
    sent = {sms.destination: (sms.text, sms.msgid) for sms in asanak.sent}
    assert {to: text for to, (text, _) in sent.items()} == {
        f"98912{n:07d}": f"کد ورود شما {4000 + n}" for n in range(10)
    }
    accepted = {d["to"]: (d["request_id"], d["msgid"]) for d in stack.details("SMS Accepted")}
    assert accepted == {f"98912{n:07d}": (f"otp-{n}", sent[f"98912{n:07d}"][1]) for n in range(10)}


def test_given_a_p2p_call_refusing_one_destination_then_only_it_is_rejected_and_the_rest_sent_at_once(
    stack, asanak, world
):
    send, _ = world
    asanak.refuse_destinations(["989120000003"], named=True)

    response = send(sqs_event(*otp_batch(5)))

    assert response == {"batchItemFailures": []}
    assert [(call.method, call.status) for call in asanak.calls] == [("p2psendsms", 406), ("p2psendsms", 200)]
    assert sorted(sms.destination for sms in asanak.sent) == [f"98912{n:07d}" for n in (0, 1, 2, 4)]
    [rejected] = stack.details("SMS Rejected")
    assert (rejected["to"], rejected["request_id"], rejected["reason"]) == (
        "989120000003",
        "otp-3",
        "provider_rejected",
    )


# -- deferral of p2p and template sends ---------------------------------------------------------------
def test_given_the_daily_limit_then_p2p_and_template_sends_wait_and_each_released_copy_sends_once(
    stack, asanak, world
):
    send, poll = world
    asanak.set_rules(daily_limit=0)  # nothing more today
    otp = [{"id": f"otp-{n}", "to": f"0912000010{n}", "text": f"کد {n}"} for n in range(3)]  # one p2p call
    template = {"id": "tpl", "to": "09120000200", "template": {"id": "101", "params": {"code": "55"}}}

    assert send(sqs_event(*otp, template)) == {"batchItemFailures": []}
    deferred = stack.details("SMS Deferred")
    assert sorted(d["request_id"] for d in deferred) == ["otp-0", "otp-1", "otp-2", "tpl"]
    assert {c.method for c in asanak.calls} == {"p2psendsms", "template"}

    asanak.set_rules(daily_limit=100)  # a new day
    until(asanak, deferred[0]["due_at"])
    assert poll()["deferred_released"] == 4
    bodies = queued(stack)
    assert send(sqs_event(*bodies)) == {"batchItemFailures": []}
    assert send(sqs_event(*bodies)) == {"batchItemFailures": []}  # SQS delivers the copies again

    sent = sorted((sms.destination, sms.template_id) for sms in asanak.sent)
    assert sent == [
        ("989120000100", None),
        ("989120000101", None),
        ("989120000102", None),
        ("989120000200", 101),
    ]
    assert len(stack.details("SMS Accepted")) == 4
