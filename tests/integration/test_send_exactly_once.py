"""Regression tests for the ways "exactly once" used to break (issue: exactly once, for real).

Each test is one situation that failed before the send path became a leased state machine; they run
the real send function on moto (with its template role's permissions) against the Asanak sandbox.
"""

from __future__ import annotations

import json

import pytest
from asanak_sandbox import Fault

from tests.harness import LambdaContext, sqs_event, sqs_record


@pytest.fixture
def send(stack):
    from functions.send import app

    def invoke(event, context=None):
        return app.lambda_handler(event, context or LambdaContext())

    return invoke


def failed_ids(response) -> set[str]:
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


@pytest.mark.parametrize("named", [True, False], ids=["refusal-names-it", "refusal-names-no-one"])
def test_given_one_refused_number_sharing_a_call_then_only_it_is_rejected_and_the_rest_go_out_at_once(
    stack, asanak, send, named
):
    asanak.refuse_destinations(["989351234567"], named=named)
    event = sqs_event(
        {"to": ["09121234567", "09351234567", "09127654321"], "text": "same text", "id": "a"},
        {"to": "09131112222", "text": "same text", "id": "b"},
        message_ids=["ma", "mb"],
    )

    response = send(event)

    assert response == {"batchItemFailures": []}
    assert sorted(s.destination for s in asanak.sent) == ["989121234567", "989127654321", "989131112222"]
    [rejected] = stack.details("SMS Rejected")
    assert (rejected["to"], rejected["reason"]) == ("989351234567", "provider_rejected")
    assert {d["to"] for d in stack.details("SMS Accepted")} == {s.destination for s in asanak.sent}


def test_given_the_same_request_twice_in_one_batch_then_one_sms_and_both_records_succeed(stack, asanak, send):
    body = {"to": "09121234567", "text": "otp 4242", "id": "otp-dup"}

    response = send(sqs_event(body, body, message_ids=["first", "retried-send"]))

    assert response == {"batchItemFailures": []}
    assert [s.destination for s in asanak.sent] == ["989121234567"]
    assert len({d["msgid"] for d in stack.details("SMS Accepted")}) == 1
    assert stack.details("SMS Rejected") == []


@pytest.mark.parametrize(
    "body",
    [
        '{"to": "09121234567", "text": "bad \\ud800 text", "id": "surrogate-text"}',
        '{"to": "09121234567", "text": "ok", "meta": {"k": "\\udc00"}, "id": "surrogate-meta"}',
        '{"to": "09121234567", "text": "ok", "meta": ' + '{"a": ' * 20 + "1" + "}" * 20 + "}",
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["lone-surrogate-in-text", "lone-surrogate-in-meta", "meta-too-deep", "body-too-deep"],
)
def test_given_a_body_that_breaks_the_parser_then_rejected_once_and_never_retried(stack, asanak, send, body):
    event = {"Records": [sqs_record(body, message_id="poison")]}

    first = send(event)

    assert first == {"batchItemFailures": []}  # deleted, not retried into the DLQ
    assert asanak.sent == []
    [rejected] = stack.details("SMS Rejected")
    assert rejected["reason"] in {"invalid_request", "invalid_json"}
    assert rejected["message"]


def test_given_too_little_time_left_then_nothing_is_sent_or_settled_and_the_record_is_retried(
    stack, asanak, send
):
    event = sqs_event({"to": "09121234567", "text": "late", "id": "late-1"}, message_ids=["m-late"])

    first = send(event, LambdaContext(remaining_ms=1500))  # less than a call's timeouts

    assert failed_ids(first) == {"m-late"}
    assert asanak.calls == []
    assert stack.events() == []
    assert send(event) == {"batchItemFailures": []}  # the retry has time: sent once
    assert len(asanak.sent) == 1
    assert stack.details("SMS Rejected") == []


@pytest.mark.parametrize("fault", ["accept_then_500", "accept_then_502"])
def test_given_asanak_queues_the_sms_then_answers_5xx_then_outcome_unknown_and_never_sent_twice(
    stack, asanak, send, fault
):
    asanak.inject(Fault(fault, method="sendsms"))
    event = sqs_event({"to": "09121234567", "text": "queued anyway", "id": "q-1"}, message_ids=["m-q"])

    assert send(event) == {"batchItemFailures": []}
    assert send(event) == {"batchItemFailures": []}  # a redelivery sends nothing either

    assert len(asanak.sent) == 1
    [rejected] = stack.details("SMS Rejected")
    assert (rejected["reason"], rejected["to"]) == ("outcome_unknown", "989121234567")


def test_given_an_error_text_about_credentials_in_a_200_then_retried_not_reported_unknown(
    stack, asanak, send
):
    asanak.inject(Fault("error_text_200", method="sendsms"))
    event = sqs_event({"to": "09121234567", "text": "creds", "id": "c-1"}, message_ids=["m-c"])

    assert failed_ids(send(event)) == {"m-c"}  # nothing was sent: kept for a retry
    assert stack.details("SMS Rejected") == []
    assert send(event) == {"batchItemFailures": []}
    assert len(asanak.sent) == 1


def test_given_dynamodb_loses_the_response_of_a_write_that_succeeded_then_the_retry_is_recognised(
    stack, asanak
):
    # botocore retries a write whose first attempt succeeded but whose response was lost; the retry's
    # condition fails. It used to be read as a conflict (and later as outcome_unknown).
    from sms_gateway import wiring
    from sms_gateway.adapters.dynamodb.messages import DynamoMessageStore, conditional_write
    from sms_gateway.domain.ports import NoMetrics
    from sms_gateway.domain.sending.service import Envelope
    from sms_gateway.settings import send_settings

    def lost_response_then_retried(operation, kwargs):
        if operation in ("put_item", "update_item") and kwargs.get("Key", kwargs.get("Item", {})).get(
            "sk", {}
        ).get("S", "").startswith("TO#"):
            conditional_write(operation, dict(kwargs))  # took effect; its answer never arrived
        return conditional_write(operation, kwargs)

    store = DynamoMessageStore(stack.table_name, write=lost_response_then_retried)
    service = wiring.build_send_service(
        send_settings(), clock=asanak.clock.now, metrics=NoMetrics(), store=store
    )
    body = json.dumps({"to": "09121234567", "text": "lost", "id": "lost-1"})

    assert service.send_batch([Envelope("m-lost", body)]).failures == {}

    assert len(asanak.sent) == 1
    [accepted] = stack.details("SMS Accepted")
    assert accepted["msgid"] == asanak.sent[0].msgid
    assert stack.details("SMS Rejected") == []


def test_given_a_request_without_id_redriven_from_the_dlq_then_only_what_was_never_sent_goes_out(
    stack, asanak, send
):
    numbers = [f"0912{n:07d}" for n in range(101)]  # two provider calls: 100 and 1
    body = json.dumps({"to": numbers, "text": "no id"})
    asanak.inject(Fault("http_503", method="sendsms", times=1))  # one of the two calls is refused

    first = send({"Records": [sqs_record(body, message_id="original", receive_count=5)]})
    assert failed_ids(first) == {"original"}  # on to the DLQ with part of it accepted
    sent_before = len(asanak.sent)
    assert 0 < sent_before < 101

    redriven = send({"Records": [sqs_record(body, message_id="redriven-new-id")]})

    assert redriven == {"batchItemFailures": []}
    assert sorted(s.destination for s in asanak.sent) == sorted(f"98{n[1:]}" for n in numbers)
    assert {d["request_id"] for d in stack.details("SMS Accepted")} == {"original"}
