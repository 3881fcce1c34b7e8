"""Deferral end to end, on both APIs, each function with its template role: Asanak's "not now" (the
daily limit, the advertising hours) keeps the request, the stack says so with ``SMS Deferred``, and
the poll function's tick puts it back on the send queue when its Tehran window opens; then it is sent,
once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.harness import assert_matches_schema, sqs_event

pytestmark = pytest.mark.parametrize("asanak_api", ["v1rest", "v2rest"])

ADVERTISING_LINE = "98300012345"  # the sandbox account's second sender
TEHRAN = ZoneInfo("Asia/Tehran")


@pytest.fixture
def asanak():
    """The sandbox account with a second line, an advertising one."""
    from asanak_sandbox import AsanakSandbox

    from tests.conftest import SANDBOX_PASSWORD, SANDBOX_SENDER, SANDBOX_USER

    senders = (SANDBOX_SENDER, ADVERTISING_LINE)
    with AsanakSandbox(username=SANDBOX_USER, password=SANDBOX_PASSWORD, senders=senders) as sandbox:
        yield sandbox


def queued(stack) -> list[str]:
    """The bodies on the send queue now (received and deleted, as the SQS trigger would)."""
    sqs, url = stack.client("sqs"), stack.stack.physical["SendQueue"]
    bodies = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in got:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def until(asanak, due_at: str) -> None:
    moment = datetime.fromisoformat(due_at.replace("Z", "+00:00"))
    asanak.clock.advance(max(0.0, (moment - asanak.clock.now()).total_seconds()) + 1)


def test_given_the_daily_limit_then_the_request_waits_for_tehran_midnight_and_is_sent_once(
    stack, asanak, world
):
    send, poll = world
    asanak.set_rules(daily_limit=2)

    first = send(sqs_event({"id": "today", "to": "09120000001", "text": "one"}))
    second = send(sqs_event({"id": "tomorrow", "to": ["09120000002", "09120000003"], "text": "two"}))

    assert first == second == {"batchItemFailures": []}  # nothing retried, nothing toward the DLQ
    assert stack.details("SMS Rejected") == []
    deferred = stack.details("SMS Deferred")
    assert sorted((d["request_id"], d["to"], d["reason"]) for d in deferred) == [
        ("tomorrow", "989120000002", "daily_limit"),
        ("tomorrow", "989120000003", "daily_limit"),
    ]
    for event in stack.events("SMS Deferred"):
        assert_matches_schema(event)
    due_at = deferred[0]["due_at"]
    assert datetime.fromisoformat(due_at.replace("Z", "+00:00")).astimezone(TEHRAN).time().hour == 0

    assert poll()["deferred_released"] == 0  # not yet midnight in Tehran
    assert queued(stack) == []

    until(asanak, due_at)
    assert poll()["deferred_released"] == 1
    bodies = queued(stack)
    assert [json.loads(body)["id"] for body in bodies] == ["tomorrow"]
    assert stack.items("DEFER#") == []

    assert send(sqs_event(*bodies)) == {"batchItemFailures": []}
    assert sorted(sms.destination for sms in asanak.sent) == ["989120000001", "989120000002", "989120000003"]
    assert sorted(d["to"] for d in stack.details("SMS Accepted")) == [
        "989120000001",
        "989120000002",
        "989120000003",
    ]


def test_given_an_advertising_line_outside_its_hours_then_it_waits_for_the_window_and_others_go_now(
    stack, asanak, world, monkeypatch
):
    send, poll = world
    local = asanak.clock.now().astimezone(TEHRAN)
    opens = (local + timedelta(hours=2)).replace(second=0, microsecond=0)
    closes = opens + timedelta(hours=1)
    window = f"{opens:%H:%M}-{closes:%H:%M}"
    asanak.set_rules(advertising=[ADVERTISING_LINE], promotional_hours=window)
    monkeypatch.setenv("PROMOTIONAL_HOURS", window)  # the stack's PromotionalHours, as deployed

    response = send(
        sqs_event(
            {"id": "sale", "to": "09120000001", "text": "50% off", "from": ADVERTISING_LINE},
            {"id": "otp", "to": "09120000002", "text": "code 1234"},
        )
    )

    assert response == {"batchItemFailures": []}
    assert [sms.destination for sms in asanak.sent] == ["989120000002"]  # the service line went now
    [deferred] = stack.details("SMS Deferred")
    assert (deferred["request_id"], deferred["reason"]) == ("sale", "outside_hours")
    assert datetime.fromisoformat(deferred["due_at"].replace("Z", "+00:00")) == opens

    until(asanak, deferred["due_at"])
    poll()
    assert send(sqs_event(*queued(stack))) == {"batchItemFailures": []}
    assert sorted(sms.destination for sms in asanak.sent) == ["989120000001", "989120000002"]
