"""Approved templates end to end, each function with its template role: the poll function lists the
account's templates, the send function checks template requests against that list before any call
and sends each recipient its own ``template`` call, and the events carry ``template_id``."""

from __future__ import annotations

import pytest

from tests.harness import sqs_event

OTP = {"id": "101", "params": {"code": "4821"}}


def methods(asanak) -> list[str]:
    return [call.method for call in asanak.calls]


@pytest.mark.parametrize("asanak_api", ["v2rest"])
def test_given_a_template_request_then_each_recipient_gets_its_own_call_and_events_carry_template_id(
    stack, asanak, world
):
    send, poll = world
    assert poll()["templates_listed"] is True

    response = send(sqs_event({"id": "otp-7", "to": ["09120000001", "09120000002"], "template": OTP}))
    asanak.clock.advance(30)
    poll()

    assert response == {"batchItemFailures": []}
    assert methods(asanak).count("template") == 2
    assert sorted((sms.destination, sms.template_id, sms.text) for sms in asanak.sent) == [
        ("989120000001", 101, "کد ورود شما: 4821"),
        ("989120000002", 101, "کد ورود شما: 4821"),
    ]
    for detail_type in ("SMS Accepted", "SMS Status Changed"):
        details = stack.details(detail_type)
        assert len(details) == 2
        assert {(d["request_id"], d["template_id"]) for d in details} == {("otp-7", "101")}


@pytest.mark.parametrize("asanak_api", ["v2rest"])
@pytest.mark.parametrize(
    ("template", "says"),
    [
        ({"id": "103"}, "is not active"),
        ({"id": "102", "params": {"order": "A-1"}}, "needs parameter(s) name"),
    ],
    ids=["inactive", "missing-parameter"],
)
def test_given_a_listed_template_the_request_does_not_fit_then_rejected_before_any_call(
    stack, asanak, world, template, says
):
    send, poll = world
    poll()

    response = send(sqs_event({"id": "bad-template", "to": "09120000001", "template": template}))

    assert response == {"batchItemFailures": []}
    assert "template" not in methods(asanak)
    [rejected] = stack.details("SMS Rejected")
    assert (rejected["reason"], rejected["template_id"]) == ("invalid_template", template["id"])
    assert says in rejected["message"]


@pytest.mark.parametrize("asanak_api", ["v1rest"])
def test_given_a_stack_on_v1rest_then_a_template_request_is_rejected_once_with_the_reason(
    stack, asanak, world
):
    send, poll = world
    body = {"id": "otp-v1", "to": "09120000001", "template": OTP}

    assert poll()["templates_listed"] is False  # v1rest has no templatelist
    first = send(sqs_event(body))
    second = send(sqs_event(body))  # the producer sent it twice

    assert first == second == {"batchItemFailures": []}
    assert asanak.sent == []
    [rejected] = stack.details("SMS Rejected")
    assert rejected["reason"] == "template_unsupported"


@pytest.mark.parametrize("asanak_api", ["v2rest"])
def test_given_free_text_on_a_template_only_line_then_it_is_never_reported_delivered(stack, asanak, world):
    from tests.conftest import SANDBOX_SENDER

    send, poll = world
    asanak.set_rules(template_only=[SANDBOX_SENDER])

    send(sqs_event({"id": "free", "to": "09120000001", "text": "free text"}))
    asanak.clock.advance(120)
    report = poll()

    assert report["unknown_codes"] == 1  # Asanak's undocumented 20: kept in flight, not delivered
    assert stack.details("SMS Status Changed") == []
    assert [d["to"] for d in stack.details("SMS Accepted")] == ["989120000001"]
