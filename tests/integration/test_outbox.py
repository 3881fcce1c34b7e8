"""The outbox: a crash between a state write and its publication loses no event, for every event type.

Each function writes its state once; the table's stream hands the change to the publish function.
Here the publish function dies (an exception: Lambda retries the batch, bisecting it) or the bus
refuses every entry, for a while, after each kind of write; when it recovers, every event is out,
once, with the ``event_id`` of its change.
"""

from __future__ import annotations

from collections import Counter

import pytest
from asanak_sandbox import Fault

from tests.harness import LambdaContext, sqs_event
from tests.integration.test_receive_function import PUSH, event_for, ok, query_of


@pytest.fixture(params=["publish function crashes", "bus refuses every entry"])
def outage(request, monkeypatch):
    """An outage of publishing that lasts until ``outage["on"]`` is set False."""
    from sms_gateway.adapters.eventbridge import EventBridgePublisher
    from sms_gateway.domain.errors import PublishError
    from sms_gateway.domain.publishing.service import PublishService

    state = {"on": True}
    if request.param == "publish function crashes":
        real = PublishService.publish

        def crash(self, changes):
            if state["on"]:
                raise RuntimeError("simulated: the publish function died")
            return real(self, changes)

        monkeypatch.setattr(PublishService, "publish", crash)
    else:
        real_put = EventBridgePublisher.publish

        def refuse(self, events):
            if state["on"]:
                raise PublishError("simulated: every entry refused", failed=range(len(events)))
            return real_put(self, events)

        monkeypatch.setattr(EventBridgePublisher, "publish", refuse)
    return state


def run(handler_module: str, event, context=None):
    import importlib

    return importlib.import_module(f"functions.{handler_module}.app").lambda_handler(
        event, context or LambdaContext()
    )


def test_given_publishing_down_after_every_kind_of_write_then_each_event_goes_out_once_it_is_back(
    stack, asanak, outage, request
):
    from emulator import gateway

    gateway.run_on(asanak.clock.now)  # send and poll on the sandbox's clock
    request.addfinalizer(gateway.forget)
    asanak.inject(Fault("accept_then_500", method="sendsms"))  # queued, then a 500: outcome unknown
    first = run("send", sqs_event({"to": "09131112222", "text": "first call", "id": "unknown-1"}))
    asanak.refuse_destinations(["989351234567"], named=True)
    second = run(
        "send",
        sqs_event(
            {"to": ["09121234567", "09351234567", "12345"], "text": "second", "id": "mixed-1"},
            "not json",
            message_ids=["m2", "poison-1"],
        ),
    )
    assert first == second == {"batchItemFailures": []}
    ok(run("receive", event_for(stack.inbound_token, query_of(PUSH))))
    asanak.clock.advance(25)
    run("poll", {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})

    assert stack.events() == []  # all stored, nothing out yet: the stream's batches wait
    outage["on"] = False
    events = stack.events()

    kinds = Counter(
        (e["detail-type"], e["detail"].get("to"), e["detail"].get("reason") or e["detail"].get("status"))
        for e in events
    )
    assert kinds[("SMS Accepted", "989121234567", None)] == 1
    assert kinds[("SMS Rejected", "989351234567", "provider_rejected")] == 1
    assert kinds[("SMS Rejected", "12345", "invalid_number")] == 1
    assert kinds[("SMS Rejected", "989131112222", "outcome_unknown")] == 1
    assert kinds[("SMS Rejected", None, "invalid_json")] == 1
    assert sum(1 for e in events if e["detail-type"] == "SMS Received") == 1
    assert sum(1 for e in events if e["detail-type"] == "SMS Status Changed") >= 1
    ids = [e["detail"]["event_id"] for e in events]
    assert len(ids) == len(set(ids))  # every change once
    assert stack.publish_failures == []  # nothing given up on


def test_given_the_stream_gave_up_on_a_batch_then_republish_since_publishes_its_events_with_their_ids(
    stack, asanak, monkeypatch
):
    # Publishing failed for longer than the mapping retries (the records went to the failure queue);
    # `smsctl republish --since` fills the gap from the table with the ids the stream would have used.
    from datetime import UTC, datetime, timedelta

    from sms_gateway.adapters.eventbridge import EventBridgePublisher
    from sms_gateway.domain.errors import PublishError

    from smsctl.producer import Target
    from smsctl.republish import republish

    since = datetime.now(UTC) - timedelta(seconds=1)
    assert run("send", sqs_event({"to": ["09121234567", "12345"], "text": "gap", "id": "gap-1"})) == {
        "batchItemFailures": []
    }
    ok(run("receive", event_for(stack.inbound_token, query_of(PUSH))))
    with monkeypatch.context() as down:
        down.setattr(
            EventBridgePublisher,
            "publish",
            lambda self, events: (_ for _ in ()).throw(PublishError("down", failed=range(len(events)))),
        )
        for _ in range(12):  # every retry of the mapping fails
            stack.stream.pump()
    assert stack.publish_failures  # given up on: the failure queue got the batch's description
    assert stack.events() == []

    target = Target(
        "unused",
        stack.table_name,
        stack.bus_name,
        stack.endpoint,
        stack.stack.region,
        (stack.admin["aws_access_key_id"], stack.admin["aws_secret_access_key"]),
    )
    counts = republish(target, since)

    assert counts == {"SMS Accepted": 1, "SMS Rejected": 1, "SMS Received": 1}
    events = stack.events()
    assert sorted(e["detail-type"] for e in events) == ["SMS Accepted", "SMS Received", "SMS Rejected"]
    assert republish(target, datetime.now(UTC) + timedelta(minutes=1)) == {}  # nothing changed since


def test_given_the_sample_stream_event_when_published_then_its_sms_accepted_is_on_the_bus(stack):
    # events/publish-accepted.json is what `sam local invoke PublishFunction` is given: a recipient
    # leaving `sending` for `accepted`, as DynamoDB Streams shows it.
    import json
    from pathlib import Path

    sample = json.loads(
        (Path(__file__).resolve().parents[2] / "events" / "publish-accepted.json").read_text(encoding="utf-8")
    )

    response = run("publish", sample)
    response_again = run("publish", sample)  # the stream delivers at least once

    assert response == response_again == {"batchItemFailures": []}
    accepted = stack.details("SMS Accepted")
    assert len(accepted) == 2 and accepted[0] == accepted[1]  # the same event, the same event_id
    detail = accepted[0]
    assert (detail["request_id"], detail["to"], detail["msgid"]) == ("otp-42", "989121234567", "2456544")
    assert detail["meta"] == {"user_id": 42}


def test_given_an_unreadable_change_among_good_ones_then_only_it_fails_and_the_others_are_published(stack):
    # A bad item among good ones: the stream batch is not failed (nor bisected) as a whole.
    import copy
    import json
    from pathlib import Path

    sample = json.loads(
        (Path(__file__).resolve().parents[2] / "events" / "publish-accepted.json").read_text(encoding="utf-8")
    )
    good = sample["Records"][0]
    bad = copy.deepcopy(good)
    bad["dynamodb"]["SequenceNumber"] = "4421584500000000017450439092"
    bad["dynamodb"]["NewImage"]["parts"] = {"S": "not a number"}
    del bad["dynamodb"]["NewImage"]["created_at"]  # the model cannot read it

    response = run("publish", {"Records": [good, bad]})

    assert response == {"batchItemFailures": [{"itemIdentifier": "4421584500000000017450439092"}]}
    assert [d["msgid"] for d in stack.details("SMS Accepted")] == ["2456544"]
