"""The send function, invoked with realistic SQS events, against moto and the Asanak sandbox over HTTP."""

from __future__ import annotations

import json

import pytest
from asanak_sandbox import Fault

from tests.conftest import SANDBOX_PASSWORD, SANDBOX_SENDER
from tests.harness import sqs_event, sqs_record


@pytest.fixture
def send(stack, lambda_context):
    from functions.send import app

    def invoke(event):
        return app.lambda_handler(event, lambda_context)

    return invoke


def failed_ids(response) -> set[str]:
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


def test_given_one_recipient_when_sent_then_one_sms_goes_out_and_accepted_event_carries_msgid(
    stack, asanak, send
):
    response = send(
        sqs_event({"to": "09121234567", "text": "کد ورود شما ۱۲۳۴", "id": "otp-1", "meta": {"u": 7}})
    )

    assert response == {"batchItemFailures": []}
    assert [(s.destination, s.text) for s in asanak.sent] == [("989121234567", "کد ورود شما ۱۲۳۴")]
    [accepted] = stack.details("SMS Accepted")
    assert accepted.pop("event_id")  # stable per change: consumers deduplicate on it
    assert accepted == {
        "request_id": "otp-1",
        "msgid": asanak.sent[0].msgid,
        "to": "989121234567",
        "from": SANDBOX_SENDER,
        "parts": 1,
        "meta": {"u": 7},
    }
    assert isinstance(accepted["msgid"], str)


def test_given_mixed_formats_when_sent_then_numbers_are_normalised_and_invalid_ones_rejected_by_number(
    stack, asanak, send
):
    body = {
        "to": ["09121234567", "+98 935 123 4567", "۰۹۱۲۷۶۵۴۳۲۱", "0098-912-000-1111", "12345"],
        "text": "hi",
    }

    response = send(sqs_event(body, message_ids=["m-mixed"]))

    assert response == {"batchItemFailures": []}
    assert sorted(s.destination for s in asanak.sent) == [
        "989120001111",
        "989121234567",
        "989127654321",
        "989351234567",
    ]
    assert len(asanak.calls) == 1  # one text, one sender: one provider call
    [rejected] = stack.details("SMS Rejected")
    assert rejected["reason"] == "invalid_number"
    assert rejected["to"] == "12345"
    assert rejected["request_id"] == "m-mixed"  # no client id: the SQS message id
    assert "12345" in rejected["message"]
    assert {d["to"] for d in stack.details("SMS Accepted")} == {s.destination for s in asanak.sent}


def test_given_250_recipients_when_sent_then_three_calls_of_at_most_100_and_250_accepted(stack, asanak, send):
    numbers = [f"0912{n:07d}" for n in range(250)]

    response = send(sqs_event({"to": numbers, "text": "bulk", "id": "bulk-250"}))

    assert response == {"batchItemFailures": []}
    sendsms = [c for c in asanak.calls if c.method == "sendsms"]
    assert sorted(c.count for c in sendsms) == [50, 100, 100]
    assert len(asanak.sent) == 250
    accepted = stack.details("SMS Accepted")
    assert len(accepted) == 250
    assert len({a["msgid"] for a in accepted}) == 250


def test_given_same_message_redelivered_when_sent_again_then_nothing_new_is_sent_or_published(
    stack, asanak, send
):
    event = sqs_event({"to": ["09121234567", "09351234567"], "text": "once"}, message_ids=["m-redeliver"])
    send(event)
    assert len(asanak.sent) == 2
    events_before = len(stack.events())

    response = send(event)

    assert response == {"batchItemFailures": []}
    assert len(asanak.sent) == 2
    assert len(stack.events()) == events_before


def test_given_two_messages_with_same_id_when_sent_then_only_the_first_is_sent(stack, asanak, send):
    body = {"to": "09121234567", "text": "same id", "id": "order-1234-otp"}

    send(sqs_event(body, message_ids=["first"]))
    response = send(sqs_event(body, message_ids=["second"]))

    assert response == {"batchItemFailures": []}
    assert len(asanak.sent) == 1
    assert len(stack.details("SMS Accepted")) == 1


def test_given_a_batch_mixing_good_and_poison_when_sent_then_poison_is_rejected_once_and_not_retried(
    stack, asanak, send
):
    event = {
        "Records": [
            sqs_record(json.dumps({"to": "09121234567", "text": "good"}), message_id="good"),
            sqs_record("this is not json", message_id="not-json"),
            sqs_record(json.dumps({"to": "09121234567"}), message_id="no-text"),
            sqs_record(json.dumps({"to": "09121234567", "text": "   "}), message_id="empty-text"),
            sqs_record(json.dumps({"to": ["abc", "123"], "text": "x"}), message_id="no-valid-number"),
            sqs_record(json.dumps({"to": [], "text": "x"}), message_id="no-recipient"),
            sqs_record(json.dumps({"to": "09121234567", "text": "x" * 5000}), message_id="oversized"),
        ]
    }

    response = send(event)

    assert response == {"batchItemFailures": []}
    assert len(asanak.sent) == 1
    reasons = {(d["request_id"], d["reason"]) for d in stack.details("SMS Rejected")}
    assert reasons == {
        ("not-json", "invalid_json"),
        ("no-text", "invalid_request"),
        ("empty-text", "invalid_request"),
        ("no-valid-number", "invalid_number"),
        ("no-recipient", "invalid_request"),
        ("oversized", "invalid_request"),
    }
    assert len(stack.details("SMS Rejected")) == 7  # the two invalid numbers are rejected one by one


@pytest.mark.parametrize("fault", ["http_500", "internal_error"])
def test_given_a_500_answer_to_sendsms_then_outcome_unknown_and_never_sent_again(stack, asanak, send, fault):
    # A 500 may come after the provider committed the SMS (or from a proxy that lost the answer).
    asanak.inject(Fault(fault, method="sendsms", times=1))
    event = sqs_event({"to": "09121234567", "text": "maybe sent"}, message_ids=["m-500"])

    first = send(event)
    second = send(event)  # even a redelivery must not send it

    assert first == second == {"batchItemFailures": []}
    assert asanak.sent == []  # this sandbox fault did not queue it, but the gateway cannot know that
    [rejected] = stack.details("SMS Rejected")
    assert rejected["reason"] == "outcome_unknown"
    assert rejected["to"] == "989121234567"


@pytest.mark.parametrize("fault", ["http_503", "http_429"])
def test_given_provider_unavailable_then_record_is_retried_and_sent_once_after_recovery(
    stack, asanak, send, fault
):
    asanak.inject(Fault(fault, method="sendsms", times=1))
    event = sqs_event({"to": "09121234567", "text": "retry me"}, message_ids=["m-retry"])

    first = send(event)
    assert failed_ids(first) == {"m-retry"}
    assert asanak.sent == []
    assert stack.details("SMS Accepted") == []

    second = send(event)  # SQS redelivers after the visibility timeout

    assert second == {"batchItemFailures": []}
    assert len(asanak.sent) == 1
    assert len(stack.details("SMS Accepted")) == 1


def test_given_reply_slower_than_timeout_after_acceptance_then_outcome_unknown_and_never_sent_twice(
    stack, asanak, send
):
    asanak.inject(Fault("slow_after_accept", method="sendsms", delay=2.0))
    event = sqs_event({"to": "09121234567", "text": "maybe"}, message_ids=["m-slow"])

    first = send(event)

    assert first == {"batchItemFailures": []}  # not retried: a retry could send a second SMS
    assert len(asanak.sent) == 1  # the provider did queue it
    [rejected] = stack.details("SMS Rejected")
    assert (rejected["reason"], rejected["to"]) == ("outcome_unknown", "989121234567")

    send(event)  # a redelivery anyway

    assert len(asanak.sent) == 1
    assert len(stack.details("SMS Rejected")) == 1


def test_given_connection_dropped_after_request_was_sent_then_outcome_unknown_not_retried(
    stack, asanak, send
):
    # A reset after the request went out proves nothing: Asanak may have queued it.
    asanak.inject(Fault("reset", method="sendsms", times=1))

    response = send(sqs_event({"to": "09121234567", "text": "dropped"}, message_ids=["m-reset"]))

    assert response == {"batchItemFailures": []}
    assert [d["reason"] for d in stack.details("SMS Rejected")] == ["outcome_unknown"]


def test_given_connection_refused_then_retried_later_without_loss(stack, asanak, send, monkeypatch):
    monkeypatch.setenv("ASANAK_BASE_URL", "http://127.0.0.1:9/webservice/v1rest")  # nothing listens there
    from sms_gateway import wiring

    wiring.reset()
    event = sqs_event({"to": "09121234567", "text": "refused"}, message_ids=["m-refused-conn"])
    assert failed_ids(send(event)) == {"m-refused-conn"}

    monkeypatch.setenv("ASANAK_BASE_URL", asanak.base_url)
    wiring.reset()
    assert send(event) == {"batchItemFailures": []}
    assert len(asanak.sent) == 1


def test_given_crash_after_acceptance_before_storing_then_redelivery_reports_unknown_not_a_second_sms(
    stack, asanak, send, monkeypatch
):
    from sms_gateway.adapters.dynamodb.messages import DynamoMessageStore
    from sms_gateway.domain.errors import StoreError

    real_settle = DynamoMessageStore.settle
    crashes = [StoreError("simulated: the function died after Asanak accepted")]

    def crash_once(self, messages, lease):
        if crashes:
            raise crashes.pop()
        return real_settle(self, messages, lease)

    monkeypatch.setattr(DynamoMessageStore, "settle", crash_once)
    event = sqs_event({"to": "09121234567", "text": "crash"}, message_ids=["m-crash"])
    assert failed_ids(send(event)) == {"m-crash"}
    assert len(asanak.sent) == 1
    expire_leases(stack, "REQ#m-crash")  # SQS redelivers after the visibility timeout, past the lease

    response = send(event)

    assert response == {"batchItemFailures": []}
    assert len(asanak.sent) == 1
    [rejected] = stack.details("SMS Rejected")
    assert rejected["reason"] == "outcome_unknown"


def test_given_bad_credentials_then_retried_and_a_rotated_secret_is_picked_up(stack, asanak, send):
    asanak.set_credentials("gateway-user", "rotated-password")
    event = sqs_event({"to": "09121234567", "text": "rotate"}, message_ids=["m-rotate"])

    assert failed_ids(send(event)) == {"m-rotate"}
    assert asanak.sent == []

    stack.put_secret(password="rotated-password")  # the operator rotates the secret
    response = send(event)

    assert response == {"batchItemFailures": []}
    assert len(asanak.sent) == 1


def test_given_403_html_firewall_refusal_then_kept_for_retry_not_dropped(stack, asanak, send):
    asanak.inject(Fault("blocked_403", method="sendsms", times=1))
    event = sqs_event({"to": "09121234567", "text": "blocked"}, message_ids=["m-blocked"])

    assert failed_ids(send(event)) == {"m-blocked"}
    assert stack.details("SMS Rejected") == []

    assert send(event) == {"batchItemFailures": []}
    assert len(asanak.sent) == 1


def test_given_many_small_requests_with_same_text_then_they_share_provider_calls(stack, asanak, send):
    bodies = [{"to": f"0912{n:07d}", "text": "shared", "id": f"r{n}"} for n in range(10)]

    response = send(sqs_event(*bodies))

    assert response == {"batchItemFailures": []}
    assert len([c for c in asanak.calls if c.method == "sendsms"]) == 1
    assert {d["request_id"] for d in stack.details("SMS Accepted")} == {f"r{n}" for n in range(10)}


def test_given_provider_refuses_destination_then_rejected_once_not_retried(stack, asanak, send):
    asanak.inject(Fault("error_object", method="sendsms", message="invalid destination number"))
    event = sqs_event({"to": "09121234567", "text": "refused"}, message_ids=["m-refused"])

    assert send(event) == {"batchItemFailures": []}
    assert [(r["reason"], r["to"]) for r in stack.details("SMS Rejected")] == [
        ("provider_rejected", "989121234567")
    ]

    send(event)  # redelivered anyway: not reported twice, not sent
    assert len(stack.details("SMS Rejected")) == 1
    assert asanak.sent == []


def test_given_account_out_of_credit_then_kept_and_retried_until_topped_up(stack, asanak, send):
    asanak.inject(Fault("error_object", method="sendsms", message="insufficient credit"))
    event = sqs_event({"to": "09121234567", "text": "credit"}, message_ids=["m-credit"])

    assert failed_ids(send(event)) == {"m-credit"}
    assert stack.details("SMS Rejected") == []

    assert send(event) == {"batchItemFailures": []}
    assert len(asanak.sent) == 1


@pytest.fixture
def log_records():
    """Every log record of the gateway, the client and urllib3, with all extra fields."""
    import logging

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("sms_gateway", "asanak", "urllib3", "sms-send")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield records
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_no_log_line_or_event_contains_the_password_or_token(stack, asanak, send, capfd, log_records):
    asanak.set_credentials("gateway-user", "other")
    send(sqs_event({"to": "09121234567", "text": "x"}))
    asanak.set_credentials("gateway-user", SANDBOX_PASSWORD)
    send(sqs_event({"to": "09121234567", "text": "y"}))
    asanak.inject(Fault("slow_after_accept", method="sendsms", delay=2.0))
    send(sqs_event({"to": "09121234567", "text": "z"}))

    output = capfd.readouterr()
    logged = "\n".join(f"{r.getMessage()} {r.__dict__!r} {r.exc_info!r}" for r in log_records)
    captured = output.out + output.err + logged + json.dumps(stack.events(), ensure_ascii=False)
    assert SANDBOX_PASSWORD not in captured
    assert stack.inbound_token not in captured
    assert any(r.getMessage() == "sms accepted" for r in log_records)  # the logs were captured at all
    assert any("outcome unknown" in r.getMessage() or r.levelname == "ERROR" for r in log_records)


def leased_message(request_id: str, to: str, created_at):
    from datetime import timedelta

    from sms_gateway.domain.model import Message, State

    return Message(
        request_id=request_id,
        to=to,
        sender=SANDBOX_SENDER,
        owner=request_id,
        state=State.SENDING,
        parts=1,
        meta=None,
        created_at=created_at,
        expires_at=created_at + timedelta(days=1),
    )


def expire_leases(stack, pk: str) -> None:
    """Move every lease of a request into the past, as if the time SQS waits before a redelivery passed."""
    client = stack.client("dynamodb")
    for item in stack.items(pk):
        if "lease_until" in item:
            client.update_item(
                TableName=stack.table_name,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET lease_until = :past",
                ExpressionAttributeValues={":past": {"N": "1"}},
            )


def test_given_a_concurrent_delivery_already_sent_one_recipient_then_only_the_other_is_sent(
    stack, asanak, send
):
    # SQS may hand the same message to two invocations at once. The other one has already sent and
    # stored the second recipient when ours leases it.
    from datetime import UTC, datetime, timedelta

    from sms_gateway.adapters.dynamodb.messages import DynamoMessageStore
    from sms_gateway.domain.model import Lease, State

    store = DynamoMessageStore(stack.table_name)
    now = datetime.now(UTC)
    other = leased_message("m-concurrent", "989351234567", now)
    lease = Lease("other-attempt", now + timedelta(minutes=2))
    assert store.lease([other], lease) == {}
    other.state, other.msgid, other.accepted_at, other.next_check = State.ACCEPTED, "7000001", now, now
    assert store.settle([other], lease) == {}
    event = sqs_event({"to": ["09121234567", "09351234567"], "text": "race"}, message_ids=["m-concurrent"])

    assert send(event) == {"batchItemFailures": []}

    assert [s.destination for s in asanak.sent] == ["989121234567"]
    accepted = {d["to"]: d["msgid"] for d in stack.details("SMS Accepted")}
    assert accepted["989351234567"] == "7000001"  # its event is out even if the other died before publishing
    assert set(accepted) == {"989121234567", "989351234567"}
    assert stack.details("SMS Rejected") == []


def test_given_a_concurrent_delivery_holds_a_live_lease_then_it_is_left_alone_and_the_record_retried(
    stack, asanak, send
):
    # Regression: the second delivery used to settle the first one's in-flight recipient as unknown.
    from datetime import UTC, datetime, timedelta

    from sms_gateway.adapters.dynamodb.messages import DynamoMessageStore
    from sms_gateway.domain.model import Lease, State

    store = DynamoMessageStore(stack.table_name)
    now = datetime.now(UTC)
    body = {"to": ["09121234567", "09351234567"], "text": "in flight", "id": "live-lease"}
    in_flight = leased_message("live-lease", "989351234567", now)
    lease = Lease("first-delivery", now + timedelta(minutes=2))
    assert store.lease([in_flight], lease) == {}

    second = send(sqs_event(body, message_ids=["m-live"]))

    assert failed_ids(second) == {"m-live"}  # retried later, not settled
    assert [s.destination for s in asanak.sent] == ["989121234567"]
    assert stack.details("SMS Rejected") == []
    # The first delivery's call returns and stores its msgid: nothing was lost or misreported.
    in_flight.state, in_flight.msgid, in_flight.accepted_at, in_flight.next_check = (
        State.ACCEPTED,
        "42",
        now,
        now,
    )
    assert store.settle([in_flight], lease) == {}

    assert send(sqs_event(body, message_ids=["m-live"])) == {"batchItemFailures": []}
    assert len(asanak.sent) == 1
    assert {d["to"]: d["msgid"] for d in stack.details("SMS Accepted")}["989351234567"] == "42"
    assert stack.details("SMS Rejected") == []


def test_given_a_refused_request_redriven_under_a_new_message_id_then_it_is_sent_once_not_dropped(
    stack, asanak, send
):
    body = {"to": ["09121234567", "09351234567"], "text": "redrive me", "id": "order-77"}
    asanak.inject(Fault("http_503", method="sendsms", times=5))
    assert failed_ids(send(sqs_event(body, message_ids=["original"]))) == {"original"}
    asanak.clear_faults()

    # The operator redrives it from the DLQ: the same body arrives as another SQS message.
    assert send(sqs_event(body, message_ids=["redriven"])) == {"batchItemFailures": []}
    assert sorted(s.destination for s in asanak.sent) == ["989121234567", "989351234567"]

    send(sqs_event(body, message_ids=["original"]))  # the first one comes back too: nothing more
    send(sqs_event(body, message_ids=["redriven"]))
    assert len(asanak.sent) == 2
    assert len(stack.details("SMS Accepted")) == 2
    assert stack.details("SMS Rejected") == []


def test_given_an_id_reused_for_different_content_then_rejected_and_nothing_sent(stack, asanak, send):
    send(sqs_event({"to": "09121234567", "text": "first", "id": "reused"}, message_ids=["a"]))

    response = send(sqs_event({"to": "09351234567", "text": "second", "id": "reused"}, message_ids=["b"]))

    assert response == {"batchItemFailures": []}
    assert [s.text for s in asanak.sent] == ["first"]
    [rejected] = stack.details("SMS Rejected")
    assert (rejected["request_id"], rejected["reason"]) == ("reused", "duplicate_id")


def test_given_a_long_dead_attempt_of_another_message_then_a_redrive_reports_it_unknown_not_resent(
    stack, asanak, send
):
    # A message crashed after asking Asanak, was dead-lettered, and is redriven under a new id later.
    from datetime import UTC, datetime, timedelta

    from sms_gateway.adapters.dynamodb.messages import DynamoMessageStore
    from sms_gateway.domain.model import Lease
    from sms_gateway.domain.sending.requests import parse_request

    body = {"to": ["09121234567", "09351234567"], "text": "crashed long ago", "id": "order-88"}
    fingerprint = parse_request(
        json.dumps(body), fallback_id="dead", default_sender=SANDBOX_SENDER
    ).fingerprint
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    store = DynamoMessageStore(stack.table_name)
    dead = leased_message("order-88", "989351234567", long_ago)
    dead.fingerprint = fingerprint  # the same request: it was redriven, not reused
    assert store.lease([dead], Lease("dead-attempt", long_ago + timedelta(minutes=2))) == {}
    sent_before = len(asanak.sent)

    assert send(sqs_event(body, message_ids=["redriven"])) == {"batchItemFailures": []}

    assert [s.destination for s in asanak.sent[sent_before:]] == ["989121234567"]
    unknown = [d for d in stack.details("SMS Rejected") if d["request_id"] == "order-88"]
    assert [(d["reason"], d["to"]) for d in unknown] == [("outcome_unknown", "989351234567")]


@pytest.mark.parametrize("asanak_api", ["v1rest", "v2rest"])
def test_given_the_blacklist_option_then_asanak_gets_the_flag_and_only_for_that_request(
    stack, asanak, send, asanak_api
):
    response = send(
        sqs_event(
            {"to": "09121234567", "text": "سرویس", "id": "bl-1", "to_blacklisted": True},
            {"to": "09351234567", "text": "سرویس", "id": "bl-2"},
        )
    )

    assert response == {"batchItemFailures": []}
    assert {sms.destination: sms.to_blacklisted for sms in asanak.sent} == {
        "989121234567": True,
        "989351234567": False,
    }
    assert {call.api for call in asanak.calls} == {asanak_api}


@pytest.mark.parametrize("asanak_api", ["v1rest"])
def test_given_one_time_codes_on_v1rest_then_one_sendsms_per_distinct_text(stack, asanak, send):
    bodies = [{"to": f"0912{n:07d}", "text": f"کد {n}", "id": f"v1-otp-{n}"} for n in range(4)]

    assert send(sqs_event(*bodies)) == {"batchItemFailures": []}
    assert [(call.method, call.count) for call in asanak.calls] == [("sendsms", 1)] * 4
