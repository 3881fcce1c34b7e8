"""The receive function, invoked with API Gateway HTTP API (payload 2.0) events built from ``events/``,
against moto; opt-outs are checked end to end through the send function and the Asanak sandbox."""

from __future__ import annotations

import copy
import importlib
import io
import itertools
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from tests.harness import sqs_event

EVENTS = Path(__file__).resolve().parents[2] / "events"
PUSH = {
    "Destination": "98300012345",
    "Source": "09121234567",
    "ReceiveTime": "2024-03-20 12:00:00",
    "Msg Body": "hello",
}
SENDER = "989121234567"


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


def api_decoded(raw_query: str) -> dict[str, str]:
    """``queryStringParameters`` as API Gateway builds it: names and values %-decoded, repeats joined."""
    params: dict[str, str] = {}
    for piece in raw_query.split("&"):
        name, _, value = piece.partition("=")
        name, value = unquote(name), unquote(value)
        params[name] = f"{params[name]},{value}" if name in params else value
    return params


def query_of(params: dict[str, str]) -> str:
    """A raw query string the way the manual writes it: ``%20`` for spaces, Persian %-encoded."""
    return "&".join(f"{quote(name)}={quote(value, safe=':')}" for name, value in params.items())


def event_for(
    token: str,
    raw_query: str | None,
    *,
    base: str = "receive-good",
    source_ip: str | None = None,
    body: str | None = None,
    method: str = "GET",
) -> dict[str, Any]:
    """A payload-2.0 event from a sample, with the token in the path and the given query string."""
    event = copy.deepcopy(sample(base))
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/inbound/{token}"
    event["pathParameters"] = {"token": token}
    event["requestContext"]["http"]["method"] = method
    if raw_query is None:
        event.pop("rawQueryString", None)
        event.pop("queryStringParameters", None)
    else:
        event["rawQueryString"] = raw_query
        event["queryStringParameters"] = api_decoded(raw_query) if raw_query else None
        if not raw_query:
            event.pop("queryStringParameters")
    if source_ip is not None:
        event["requestContext"]["http"]["sourceIp"] = source_ip
        event["headers"]["x-forwarded-for"] = source_ip
    if body is not None:
        event["body"] = body
        event["headers"]["content-length"] = str(len(body.encode()))
    return event


@pytest.fixture
def receive(stack, lambda_context):
    from functions.receive import app

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return app.lambda_handler(event, lambda_context)

    return invoke


@pytest.fixture
def push(stack, receive):
    """Push one SMS with the right token; ``params`` or ``raw_query`` override the default push."""

    def invoke(params: dict[str, str] | None = None, *, raw_query: str | None = None, **kwargs: Any):
        query = raw_query if raw_query is not None else query_of(params or PUSH)
        return receive(event_for(stack.inbound_token, query, **kwargs))

    return invoke


@pytest.fixture
def send(stack, lambda_context):
    from functions.send import app

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return app.lambda_handler(event, lambda_context)

    return invoke


def with_sample_token(stack, name: str) -> dict[str, Any]:
    event = sample(name)
    return event_for(stack.inbound_token, event["rawQueryString"], base=name)


def ok(response: dict[str, Any]) -> None:
    assert (response["statusCode"], response["body"]) == (200, "OK")
    assert response["headers"]["Content-Type"].startswith("text/plain")


def inbound_items(stack) -> list[dict[str, Any]]:
    return stack.items("IN#")


# -- the samples ------------------------------------------------------------------------------------
def test_given_the_good_sample_when_pushed_then_200_ok_and_sms_received_published_and_stored(stack, receive):
    response = receive(with_sample_token(stack, "receive-good"))

    ok(response)
    [received] = stack.events("SMS Received")
    assert received["source"] == "asanak.sms"
    detail = received["detail"]
    assert detail == {
        "from": SENDER,
        "to": "98300012345",
        "text": "سلام وقت بخیر",
        "received_at": "2024-03-20T08:30:00Z",
        "provider_time": "2024-03-20 12:00:00",
        "inbound_id": detail["inbound_id"],
        "keyword": None,
        "event_id": detail["event_id"],
    }
    assert len(detail["inbound_id"]) == 32
    [item] = inbound_items(stack)
    assert item["pk"]["S"] == f"IN#{detail['inbound_id']}"
    assert "expires_at" in item


def test_given_the_msgbody_sample_with_plus_spaces_when_pushed_then_text_and_time_read(stack, receive):
    ok(receive(with_sample_token(stack, "receive-msgbody")))

    [detail] = stack.details("SMS Received")
    assert detail["text"] == "بله می\u200cآیم"
    assert detail["from"] == "989351234567"
    assert detail["received_at"] == "2024-03-20T08:35:30Z"
    assert detail["provider_time"] == "2024-03-20 12:05:30"


def test_given_the_bad_token_sample_when_pushed_then_403_and_nothing_stored_or_published(stack, receive):
    response = receive(sample("receive-bad-token"))

    assert (response["statusCode"], response["body"]) == (403, "forbidden")
    assert inbound_items(stack) == []
    assert stack.events() == []


# -- parameter variants -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["Msg%20Body", "Msg+Body", "MsgBody", "MSGBODY", "msgbody", "MSG%20BODY", "msg_body"]
)
def test_given_any_spelling_of_the_text_parameter_when_pushed_then_text_published(stack, push, name):
    raw = f"Destination=98300012345&Source=09121234567&ReceiveTime=2024-03-20%2012:00:00&{name}=hi+there"

    ok(push(raw_query=raw))

    [detail] = stack.details("SMS Received")
    assert detail["text"] == "hi there"


def test_given_parameter_names_in_other_cases_when_pushed_then_every_field_read(stack, push):
    raw = "destination=98300012345&SOURCE=09121234567&receivetime=2024-03-20+12:00:00&msgBODY=x"

    ok(push(raw_query=raw))

    [detail] = stack.details("SMS Received")
    assert (detail["from"], detail["to"], detail["text"]) == (SENDER, "98300012345", "x")


@pytest.mark.parametrize(
    ("encoded_text", "text"),
    [
        ("hello%20world", "hello world"),
        ("hello+world", "hello world"),
        ("%D8%B3%D9%84%D8%A7%D9%85%20%D8%AF%D9%86%DB%8C%D8%A7", "سلام دنیا"),
        ("%D8%B3%D9%84%D8%A7%D9%85+%D8%AF%D9%86%DB%8C%D8%A7", "سلام دنیا"),
        (quote(quote("سلام دنیا")), "سلام دنیا"),  # URL-encoded twice by the provider
        (quote(quote("کد ۱۲۳۴ را وارد کنید", safe=""), safe=""), "کد ۱۲۳۴ را وارد کنید"),
        ("1%2B1%3D2", "1+1=2"),
    ],
)
def test_given_text_encoded_any_way_when_pushed_then_decoded_text_published(stack, push, encoded_text, text):
    raw = f"Destination=98300012345&Source=09121234567&ReceiveTime=2024-03-20+12:00:00&MsgBody={encoded_text}"

    ok(push(raw_query=raw))

    [detail] = stack.details("SMS Received")
    assert detail["text"] == text


@pytest.mark.parametrize(
    ("receive_time", "received_at"),
    [
        ("2024-03-20 12:00:00", "2024-03-20T08:30:00Z"),  # Tehran +03:30
        ("2024-01-01 02:00:00", "2023-12-31T22:30:00Z"),  # the day and year roll back
        ("2020-06-01 12:00:00", "2020-06-01T07:30:00Z"),  # +04:30, Iran's summer time until 2022
        ("۲۰۲۴/۰۳/۲۰ ۱۲:۰۰:۰۰", "2024-03-20T08:30:00Z"),  # Persian digits
    ],
)
def test_given_tehran_local_receive_time_when_pushed_then_received_at_is_utc_and_raw_kept(
    stack, push, receive_time, received_at
):
    ok(push({**PUSH, "ReceiveTime": receive_time}))

    [detail] = stack.details("SMS Received")
    assert detail["received_at"] == received_at
    assert detail["provider_time"] == receive_time


def test_given_numbers_in_local_form_when_pushed_then_from_and_to_normalised(stack, push):
    ok(push({**PUSH, "Destination": "02164063188", "Source": "+98 912 123 4567"}))

    [detail] = stack.details("SMS Received")
    assert (detail["from"], detail["to"]) == (SENDER, "982164063188")


def test_given_no_raw_query_string_when_pushed_then_decoded_parameters_are_used(stack, receive):
    event = event_for(stack.inbound_token, None)
    event["queryStringParameters"] = {**PUSH, "Msg Body": "سلام"}

    ok(receive(event))

    [detail] = stack.details("SMS Received")
    assert detail["text"] == "سلام"


def test_given_a_reply_when_pushed_then_the_event_invents_no_link_to_a_sent_message(stack, push):
    ok(push())

    [detail] = stack.details("SMS Received")
    assert not {"request_id", "msgid", "in_reply_to", "meta"} & detail.keys()


# -- refusals ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["Destination", "Source", "ReceiveTime", "Msg Body"])
def test_given_a_push_missing_a_field_when_pushed_then_400_naming_it_and_nothing_stored(stack, push, field):
    params = {name: value for name, value in PUSH.items() if name != field}

    response = push(params)

    assert (response["statusCode"], response["body"]) == (400, f"missing {field}")
    assert response["headers"]["Content-Type"].startswith("text/plain")
    assert inbound_items(stack) == []
    assert stack.events() == []


@pytest.mark.parametrize(
    ("field", "value", "body"),
    [
        ("Source", "", "empty Source"),
        ("Msg Body", "   ", "empty Msg Body"),
        ("Source", "not-a-number", "invalid Source"),
        ("Destination", "12", "invalid Destination"),
        ("ReceiveTime", "yesterday", "invalid ReceiveTime"),
        ("ReceiveTime", "1403/01/01 12:00:00", "invalid ReceiveTime"),  # a Solar Hijri date
    ],
)
def test_given_a_blank_or_invalid_field_when_pushed_then_400_with_a_short_reason(
    stack, push, field, value, body
):
    response = push({**PUSH, field: value})

    assert (response["statusCode"], response["body"]) == (400, body)
    assert inbound_items(stack) == []


def test_given_no_query_string_at_all_when_pushed_then_400(stack, push):
    response = push(raw_query="")

    assert (response["statusCode"], response["body"]) == (400, "missing Destination")


@pytest.mark.parametrize("token", ["wrong", "x" * 40, "token-prefix"])
def test_given_a_wrong_token_when_pushed_then_403_and_nothing_stored_or_published(stack, receive, token):
    response = receive(event_for(token, query_of(PUSH)))

    assert (response["statusCode"], response["body"]) == (403, "forbidden")
    assert inbound_items(stack) == []
    assert stack.events() == []


def test_given_the_real_token_with_one_character_more_or_less_when_pushed_then_403(stack, receive):
    token = stack.inbound_token
    for wrong in (token[:-1], token + "x", token.upper() if token.upper() != token else token.lower()):
        assert receive(event_for(wrong, query_of(PUSH)))["statusCode"] == 403
    assert inbound_items(stack) == []


def test_given_a_100_kb_body_when_pushed_then_413_quickly_and_nothing_stored(stack, push):
    started = time.perf_counter()
    response = push(body="x" * 100 * 1024)
    elapsed = time.perf_counter() - started

    assert (response["statusCode"], response["body"]) == (413, "too large")
    assert elapsed < 1.0  # refused before the secret, the table or the parser is touched
    assert inbound_items(stack) == []
    assert stack.events() == []


def test_given_a_100_kb_body_with_a_wrong_token_when_pushed_then_4xx(stack, receive):
    response = receive(event_for("wrong", query_of(PUSH), body="x" * 100 * 1024, method="POST"))

    assert 400 <= response["statusCode"] < 500
    assert inbound_items(stack) == []


def test_given_a_query_string_longer_than_the_limit_when_pushed_then_413(stack, push):
    response = push({**PUSH, "Msg Body": "س" * 2000})  # 12 KB once %-encoded, over 10 KB

    assert (response["statusCode"], response["body"]) == (413, "too large")
    assert inbound_items(stack) == []


def test_given_a_long_persian_sms_within_the_limit_when_pushed_then_accepted(stack, push):
    text = "س" * 670  # ten UCS-2 parts: about 4 KB once %-encoded
    ok(push({**PUSH, "Msg Body": text}))

    assert stack.details("SMS Received")[0]["text"] == text


def test_given_a_post_when_pushed_then_404_not_found(stack, receive):
    response = receive(event_for(stack.inbound_token, query_of(PUSH), method="POST"))

    assert (response["statusCode"], response["body"]) == (404, "not found")
    assert inbound_items(stack) == []


@pytest.fixture
def allow_list(stack, monkeypatch):
    from sms_gateway import wiring

    monkeypatch.setenv("ALLOWED_SOURCE_CIDRS", "203.0.113.0/24, 2001:db8::/32")
    wiring.reset()


@pytest.mark.parametrize("source_ip", ["203.0.113.10", "203.0.113.250", "2001:db8::7", "203.0.113.10/32"])
def test_given_an_allow_list_when_pushed_from_inside_then_accepted(stack, push, allow_list, source_ip):
    ok(push(source_ip=source_ip))

    assert len(stack.details("SMS Received")) == 1


@pytest.mark.parametrize("source_ip", ["198.51.100.7", "2001:db9::1", "not-an-ip", ""])
def test_given_an_allow_list_when_pushed_from_outside_then_403_even_with_the_right_token(
    stack, push, allow_list, source_ip
):
    response = push(source_ip=source_ip)

    assert (response["statusCode"], response["body"]) == (403, "forbidden")
    assert inbound_items(stack) == []
    assert stack.events() == []


def test_given_no_allow_list_when_pushed_from_anywhere_then_accepted(stack, push):
    ok(push(source_ip="198.51.100.7"))


# -- idempotency ------------------------------------------------------------------------------------
def test_given_the_same_push_twice_when_pushed_then_both_200_one_item_and_one_event(stack, push):
    ok(push())
    ok(push())

    assert len(inbound_items(stack)) == 1
    assert len(stack.details("SMS Received")) == 1


def test_given_the_same_push_encoded_differently_when_pushed_then_it_is_one_sms(stack, push):
    ok(
        push(
            raw_query="Destination=98300012345&Source=09121234567&ReceiveTime=2024-03-20+12:00:00&MsgBody=a+b"
        )
    )
    ok(
        push(
            raw_query="destination=98300012345&source=989121234567&receivetime=2024-03-20%2012:00:00&Msg%20Body=a%20b"
        )
    )

    assert len(inbound_items(stack)) == 1
    assert len(stack.details("SMS Received")) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"Msg Body": "hello!"},
        {"ReceiveTime": "2024-03-20 12:00:01"},
        {"Source": "09121234568"},
        {"Destination": "98300012346"},
    ],
)
def test_given_pushes_differing_in_one_field_when_pushed_then_each_is_its_own_sms(stack, push, change):
    ok(push())
    ok(push({**PUSH, **change}))

    assert len(inbound_items(stack)) == 2
    assert len({d["inbound_id"] for d in stack.details("SMS Received")}) == 2


def test_given_the_bus_refuses_events_when_pushed_then_stored_and_published_once_the_bus_is_back(
    stack, push, monkeypatch
):
    # The push is stored by one write; its event follows from the table's stream, so an outage of the
    # bus neither fails the push nor loses the event (it used to be lost unless Asanak pushed again).
    from sms_gateway.adapters.eventbridge import EventBridgePublisher
    from sms_gateway.domain.errors import PublishError

    real_publish = EventBridgePublisher.publish
    outage = {"on": True}

    def refused(self, events):
        if outage["on"]:
            raise PublishError("simulated: EventBridge refused the entries", failed=range(len(events)))
        return real_publish(self, events)

    monkeypatch.setattr(EventBridgePublisher, "publish", refused)

    ok(push())
    assert stack.details("SMS Received") == []  # the stream's batch is retried, not dropped
    outage["on"] = False

    ok(push())  # Asanak may also push again: still one item, one event
    assert len(stack.details("SMS Received")) == 1
    assert len(inbound_items(stack)) == 1


def test_given_the_table_is_unavailable_when_pushed_then_503_so_the_provider_may_retry(
    stack, push, monkeypatch
):
    from sms_gateway.adapters.dynamodb.inbound import DynamoInboundStore
    from sms_gateway.domain.errors import StoreError

    def fail(self, record):
        raise StoreError("simulated: DynamoDB unavailable")

    monkeypatch.setattr(DynamoInboundStore, "create", fail)

    response = push()

    assert (response["statusCode"], response["body"]) == (503, "unavailable")
    assert stack.events() == []


# -- opt-out / opt-in -------------------------------------------------------------------------------
def send_to(send, number: str, request_id: str) -> dict[str, Any]:
    return send(sqs_event({"to": number, "text": "promo", "id": request_id}))


@pytest.mark.parametrize(
    "text",
    # Every spelling is pinned by the unit tests of the keyword normaliser; here a few go end to end.
    ["لغو", "لغو ۱۱", " Stop. "],
)
def test_given_an_opt_out_keyword_when_pushed_then_a_send_to_that_number_is_rejected_opted_out(
    stack, asanak, push, send, text
):
    ok(push({**PUSH, "Msg Body": text}))

    [received] = stack.details("SMS Received")
    assert (received["keyword"], received["text"]) == ("opt_out", text)
    [item] = stack.items(f"OPTOUT#{SENDER}")
    assert item["number"]["S"] == SENDER

    assert send_to(send, "09121234567", "after-opt-out") == {"batchItemFailures": []}

    assert asanak.sent == []
    [rejected] = stack.details("SMS Rejected")
    assert (rejected["to"], rejected["reason"], rejected["request_id"]) == (
        SENDER,
        "opted_out",
        "after-opt-out",
    )


def test_given_an_opt_out_when_others_are_sent_to_then_only_the_opted_out_number_is_rejected(
    stack, asanak, push, send
):
    ok(push({**PUSH, "Msg Body": "لغو"}))

    send(sqs_event({"to": ["09121234567", "09351234567"], "text": "promo", "id": "two"}))

    assert [s.destination for s in asanak.sent] == ["989351234567"]
    assert [r["to"] for r in stack.details("SMS Rejected")] == [SENDER]


@pytest.mark.parametrize("text", ["لغو کنید", "please stop calling"])
def test_given_a_text_that_merely_contains_a_keyword_when_pushed_then_no_opt_out(
    stack, asanak, push, send, text
):
    ok(push({**PUSH, "Msg Body": text}))

    assert stack.details("SMS Received")[0]["keyword"] is None
    assert stack.items("OPTOUT#") == []
    send_to(send, "09121234567", "still-allowed")
    assert len(asanak.sent) == 1


@pytest.mark.parametrize("opt_in_text", ["START", "عضویت"])
def test_given_an_opt_out_then_an_opt_in_when_sent_to_then_the_sms_goes_out(
    stack, asanak, push, send, opt_in_text
):
    ok(push({**PUSH, "Msg Body": "لغو11", "ReceiveTime": "2024-03-20 12:00:00"}))
    send_to(send, "09121234567", "while-opted-out")
    assert asanak.sent == []

    ok(push({**PUSH, "Msg Body": opt_in_text, "ReceiveTime": "2024-03-20 12:10:00"}))

    [tombstone] = stack.items("OPTOUT#")  # kept, so an older opt-out arriving late cannot undo it
    assert tombstone["state"]["S"] == "opted_in"
    assert [d["keyword"] for d in stack.details("SMS Received")] == ["opt_out", "opt_in"]
    assert send_to(send, "09121234567", "after-opt-in") == {"batchItemFailures": []}
    assert [s.destination for s in asanak.sent] == [SENDER]
    assert [a["request_id"] for a in stack.details("SMS Accepted")] == ["after-opt-in"]


def test_given_an_opt_in_older_than_the_opt_out_when_it_arrives_late_then_the_opt_out_stands(
    stack, asanak, push, send
):
    ok(push({**PUSH, "Msg Body": "STOP", "ReceiveTime": "2024-03-20 12:10:00"}))
    ok(
        push({**PUSH, "Msg Body": "START", "ReceiveTime": "2024-03-20 12:00:00"})
    )  # sent earlier, arrived late

    assert len(stack.items("OPTOUT#")) == 1
    send_to(send, "09121234567", "late-opt-in")
    assert asanak.sent == []


def test_given_an_opt_in_from_a_number_never_opted_out_when_an_older_opt_out_arrives_late_then_sms_go_out(
    stack, asanak, push, send
):
    ok(push({**PUSH, "Msg Body": "start", "ReceiveTime": "2024-03-20 12:10:00"}))
    ok(push({**PUSH, "Msg Body": "لغو", "ReceiveTime": "2024-03-20 12:00:00"}))  # sent earlier, arrived late

    assert [d["keyword"] for d in stack.details("SMS Received")] == ["opt_in", "opt_out"]
    send_to(send, "09121234567", "after-both")
    assert [s.destination for s in asanak.sent] == [SENDER]


# Three instructions from one number, in every order of arrival: the latest by receive time wins.
INSTRUCTIONS = {
    "opted out at the end": [("STOP", "12:00:00"), ("START", "12:05:00"), ("لغو", "12:10:00")],
    "opted in at the end": [("لغو", "12:00:00"), ("STOP", "12:05:00"), ("عضویت", "12:10:00")],
}


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=str)
@pytest.mark.parametrize("story", list(INSTRUCTIONS))
def test_given_opt_out_and_opt_in_pushes_in_any_order_when_sent_to_then_the_latest_by_receive_time_wins(
    stack, asanak, push, send, story, order
):
    pushes = INSTRUCTIONS[story]
    for index in order:
        text, time_of_day = pushes[index]
        ok(push({**PUSH, "Msg Body": text, "ReceiveTime": f"2024-03-20 {time_of_day}"}))

    send_to(send, "09121234567", "after-the-pushes")

    opted_out = story == "opted out at the end"
    assert [s.destination for s in asanak.sent] == ([] if opted_out else [SENDER])
    assert [r["reason"] for r in stack.details("SMS Rejected")] == (["opted_out"] if opted_out else [])


@pytest.mark.parametrize("first", ["STOP", "START"])
def test_given_an_opt_out_and_an_opt_in_of_the_same_second_in_either_order_then_the_opt_out_wins(
    stack, asanak, push, send, first
):
    second = "START" if first == "STOP" else "STOP"
    ok(push({**PUSH, "Msg Body": first}))
    ok(push({**PUSH, "Msg Body": second}))

    send_to(send, "09121234567", "same-second")

    assert asanak.sent == []
    [item] = stack.items("OPTOUT#")
    assert item["state"]["S"] == "opted_out"


def test_given_an_opt_out_pushed_twice_when_pushed_then_one_event_and_still_opted_out(stack, push):
    ok(push({**PUSH, "Msg Body": "لغو"}))
    ok(push({**PUSH, "Msg Body": "لغو"}))

    assert len(stack.details("SMS Received")) == 1
    assert len(stack.items("OPTOUT#")) == 1


def test_given_custom_keywords_when_pushed_then_they_are_used(stack, push, monkeypatch):
    from sms_gateway import wiring

    monkeypatch.setenv("OPT_OUT_KEYWORDS", "بس است,halt")
    monkeypatch.setenv("OPT_IN_KEYWORDS", "again")
    wiring.reset()

    ok(push({**PUSH, "Msg Body": "بس‌است"}))  # with a ZWNJ instead of the space
    ok(push({**PUSH, "Msg Body": "STOP", "ReceiveTime": "2024-03-20 12:01:00"}))

    assert [d["keyword"] for d in stack.details("SMS Received")] == ["opt_out", None]


# -- the token stays secret -------------------------------------------------------------------------
@pytest.fixture
def every_log_line() -> Iterator[io.StringIO]:
    """Everything any logger writes, at DEBUG, whatever Powertools' own handlers do."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    prefixes = ("sms-", "sms_gateway", "asanak", "aws_lambda_powertools", "botocore", "boto3")
    names = [name for name in logging.root.manager.loggerDict if name.startswith(prefixes)]
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in names)]
    for logger in loggers:
        logger.addHandler(handler)
    yield buffer
    for logger in loggers:
        logger.removeHandler(handler)


def exercise_every_path(stack, push, receive, monkeypatch) -> None:
    ok(push())  # stored and published
    ok(push())  # duplicate
    ok(push({**PUSH, "Msg Body": "لغو"}))  # opt-out
    assert push({**PUSH, "Source": "abc"})["statusCode"] == 400
    assert push(body="x" * 100 * 1024)["statusCode"] == 413
    assert push(method="POST")["statusCode"] == 404
    assert receive(event_for(stack.inbound_token[:-1], query_of(PUSH)))["statusCode"] == 403
    from sms_gateway.adapters.dynamodb.inbound import DynamoInboundStore
    from sms_gateway.domain.errors import StoreError

    def fail(self, record):
        raise StoreError("simulated")

    with monkeypatch.context() as patch:
        patch.setattr(DynamoInboundStore, "create", fail)
        assert push({**PUSH, "Msg Body": "fails once"})["statusCode"] == 503


def assert_token_absent(stack, *outputs: str) -> None:
    token = stack.inbound_token
    everything = "\n".join(outputs) + json.dumps(stack.events(), ensure_ascii=False)
    everything += json.dumps(stack.items(), ensure_ascii=False)
    assert token not in everything
    assert token[:-1] not in everything  # nor the near miss used for the 403


def test_given_every_kind_of_push_when_handled_then_the_token_is_in_no_log_line_event_or_item(
    stack, push, receive, monkeypatch, capsys, caplog, every_log_line
):
    caplog.set_level(logging.INFO)

    exercise_every_path(stack, push, receive, monkeypatch)

    output = capsys.readouterr()
    logged = every_log_line.getvalue()
    assert "sms received" in logged and "inbound push refused" in logged  # the logs were captured at all
    assert_token_absent(stack, output.out, output.err, caplog.text, logged)


def test_given_powertools_debug_switches_on_when_handled_then_the_token_is_still_not_logged(
    stack, push, receive, monkeypatch, capsys, every_log_line
):
    from aws_lambda_powertools.logging.logger import set_package_logger

    from functions.receive import app

    powertools = logging.getLogger("aws_lambda_powertools")
    handlers, propagate = list(powertools.handlers), powertools.propagate
    try:
        with monkeypatch.context() as patch:
            for name in ("POWERTOOLS_DEV", "POWERTOOLS_DEBUG", "POWERTOOLS_LOGGER_LOG_EVENT"):
                patch.setenv(name, "true")
            patch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
            importlib.reload(app)  # the module reads those switches when it is loaded, as on a cold start
            set_package_logger(stream=every_log_line)  # what POWERTOOLS_DEBUG does when Powertools loads
            exercise_every_path(stack, push, receive, monkeypatch)
    finally:
        powertools.handlers[:] = handlers
        powertools.propagate = propagate
        powertools.setLevel(logging.NOTSET)
        importlib.reload(app)

    output = capsys.readouterr()
    logged = every_log_line.getvalue()
    assert "sms received" in logged
    assert_token_absent(stack, output.out, output.err, logged)


def test_the_template_access_log_format_records_the_route_template_not_the_path(stack):
    access_log = stack.stack.template["Resources"]["InboundApi"]["Properties"]["AccessLogSettings"]["Format"]

    assert "$context.routeKey" in access_log
    for leaky in ("$context.path", "$context.resourcePath", "$context.requestOverride", "$request"):
        assert leaky not in access_log


# -- outages: every one is a 503 with InboundUnavailable, so Asanak retries ---------------------------------
def role_without(logical: str, action: str) -> dict[str, Any]:
    from emulator.iam import template_actions
    from emulator.template import load_template

    actions = sorted(template_actions(load_template(), logical) - {action})
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}


def unavailable_metrics(printed: str) -> list[float]:
    values = []
    for line in printed.splitlines():
        if line.startswith("{") and '"InboundUnavailable"' in line:
            value = json.loads(line)["InboundUnavailable"]
            values += value if isinstance(value, list) else [value]
    return values


@pytest.mark.parametrize(
    ("action", "what"),
    [
        ("dynamodb:PutItem", "the table"),
        ("secretsmanager:GetSecretValue", "the inbound secret"),
    ],
)
class TestAnOutageOfWhatAPushNeeds:
    @pytest.fixture
    def roles(self, action: str) -> dict[str, dict[str, Any]]:
        # A denied call stands for the outage: botocore raises as it would for throttling or a timeout.
        return {"ReceiveFunction": role_without("ReceiveFunction", action)}

    def test_given_the_outage_when_pushed_then_503_with_inbound_unavailable_and_nothing_published(
        self, stack, push, capsys, action, what
    ):
        from functions.receive import app

        app.metrics.clear_metrics()  # Powertools keeps metrics in shared state: count only this push's
        response = push()

        assert (response["statusCode"], response["body"]) == (503, "unavailable"), what
        assert unavailable_metrics(capsys.readouterr().out) == [1.0]
        assert stack.details("SMS Received") == []
