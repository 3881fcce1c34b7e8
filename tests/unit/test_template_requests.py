"""Template requests: the message contract, and the send path on the in-memory fakes — one
destination per call, exactly once, ``template_id`` in the events, and every refusal that can be
known before a call made before it (``invalid_template``, ``template_unsupported``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asanak.errors import RejectedError
from asanak.templates import Template
from sms_gateway.domain.events import Event
from sms_gateway.domain.publishing.outbox import events_for
from sms_gateway.domain.sending.requests import PoisonRequest, parse_request
from sms_gateway.domain.sending.service import Envelope, SendPolicy, SendService

from tests.fakes import MemoryMessageStore, ScriptedProvider

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SENDER = "982164063188"
OTP = {"id": "101", "params": {"code": "4821"}}


def parse(**body: object):
    return parse_request(json.dumps(body), fallback_id="sqs-1", default_sender=SENDER)


def provider(templates: bool = True, answer=None) -> ScriptedProvider:
    made = ScriptedProvider(answer)
    made.templates = templates
    return made


def send(store, made, *bodies: dict, message_ids=None):
    service = SendService(
        store=store,
        provider=made,
        policy=SendPolicy(SENDER, timedelta(days=30), 4, call_timeout=timedelta(seconds=5)),
        clock=lambda: NOW,
    )
    ids = message_ids or [f"m{i}" for i in range(len(bodies))]
    return service.send_batch([Envelope(i, json.dumps(b)) for i, b in zip(ids, bodies, strict=True)])


def events(store: MemoryMessageStore) -> list[Event]:
    return [event for change in store.stream for event in events_for(change.old, change.new)]


# -- the contract ------------------------------------------------------------------------------------
def test_given_a_template_request_then_it_is_read_with_its_id_and_parameters_as_text():
    request = parse(to="09121234567", template={"id": 101, "params": {"code": 4821, "name": "مریم"}})

    assert request.template is not None
    assert request.template.template_id == "101"
    assert request.template.values == {"code": "4821", "name": "مریم"}
    assert request.text == ""


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"to": "09121234567", "text": "hi", "template": OTP}, "either 'text' or 'template'"),
        ({"to": "09121234567"}, "'text' (or 'template') is required"),
        ({"to": "09121234567", "template": "101"}, "'template' must be an object"),
        ({"to": "09121234567", "template": {"id": "abc"}}, "'template.id' must be the template's number"),
        ({"to": "09121234567", "template": {"id": True}}, "'template.id' must be the template's number"),
        (
            {"to": "09121234567", "template": {"id": "1", "params": ["a"]}},
            "'template.params' must be an object",
        ),
        ({"to": "09121234567", "template": {"id": "1", "params": {"a": {"b": 1}}}}, "'template.params.a'"),
    ],
    ids=["both", "neither", "not-an-object", "id-not-digits", "id-boolean", "params-list", "param-object"],
)
def test_given_a_malformed_template_request_then_a_clear_specific_error(body, says):
    with pytest.raises(PoisonRequest) as poisoned:
        parse(**body)
    assert says in str(poisoned.value)
    assert poisoned.value.reason == "invalid_request"


def test_given_other_parameters_then_another_request_content():
    first = parse(id="r1", to="09121234567", template=OTP)
    other = parse(id="r1", to="09121234567", template={"id": "101", "params": {"code": "9999"}})

    assert first.fingerprint != other.fingerprint
    assert (
        first.fingerprint
        == parse(id="r1", to="09121234567", template={"params": {"code": "4821"}, "id": "101"}).fingerprint
    )


# -- the send path -------------------------------------------------------------------------------------
def test_given_a_template_to_three_numbers_then_three_calls_of_one_each_and_template_id_in_events():
    store, made = MemoryMessageStore(), provider()
    body = {"id": "otp-1", "to": ["09120000001", "09120000002", "09120000003"], "template": OTP}

    outcome = send(store, made, body)
    again = send(store, made, body, message_ids=["m-again"])  # a producer's retry: nothing twice

    assert outcome.failures == again.failures == {}
    assert sorted(destinations for _, destinations, _ in made.calls) == [
        ("989120000001",),
        ("989120000002",),
        ("989120000003",),
    ]
    accepted = [e.detail for e in events(store) if e.detail_type == "SMS Accepted"]
    assert sorted(d["to"] for d in accepted) == ["989120000001", "989120000002", "989120000003"]
    assert {d["template_id"] for d in accepted} == {"101"}


def test_given_a_template_and_free_text_in_one_batch_then_the_text_shares_a_call_and_the_template_does_not():
    store, made = MemoryMessageStore(), provider()

    send(
        store,
        made,
        {"id": "otp", "to": ["09120000001", "09120000002"], "template": OTP},
        {"id": "news", "to": ["09120000003", "09120000004"], "text": "news"},
    )

    assert sorted(len(destinations) for _, destinations, _ in made.calls) == [1, 1, 2]
    accepted = [e.detail for e in events(store) if e.detail_type == "SMS Accepted"]
    assert sorted((d["request_id"], "template_id" in d) for d in accepted) == [
        ("news", False),
        ("news", False),
        ("otp", True),
        ("otp", True),
    ]


def test_given_a_stack_on_v1rest_then_a_template_request_is_rejected_once_and_nothing_is_sent():
    store, made = MemoryMessageStore(), provider(templates=False)
    body = {"id": "otp-1", "to": ["09120000001", "09120000002"], "template": OTP}

    first = send(store, made, body)
    second = send(store, made, body, message_ids=["m-redelivered"])

    assert first.failures == second.failures == {}  # not retried
    assert made.calls == []
    rejected = [e.detail for e in events(store) if e.detail_type == "SMS Rejected"]  # once per recipient
    assert sorted((d["to"], d["reason"], d["template_id"]) for d in rejected) == [
        ("989120000001", "template_unsupported", "101"),
        ("989120000002", "template_unsupported", "101"),
    ]
    assert all("v2rest" in d["message"] for d in rejected)


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ({"id": "999", "params": {"code": "1"}}, "template 999 is not in the account's template list"),
        ({"id": "103", "params": {}}, "template 103 is not active"),
        ({"id": "101", "params": {"code": " "}}, "template 101 needs parameter(s) code"),
    ],
    ids=["not-listed", "inactive", "missing-parameter"],
)
def test_given_the_listed_templates_then_a_request_they_refuse_is_rejected_before_any_call(template, says):
    store, made = MemoryMessageStore(), provider()
    store.listed = [Template("101", "otp", ("code",)), Template("103", "old", (), active=False)]
    made.listed_templates = list(store.listed)  # Asanak, asked before any refusal, says the same

    outcome = send(store, made, {"id": "t-1", "to": "09120000001", "template": template})

    assert outcome.failures == {}
    assert made.calls == []
    [rejected] = [e.detail for e in events(store) if e.detail_type == "SMS Rejected"]
    assert rejected["reason"] == "invalid_template"
    assert says in rejected["message"]


def test_given_no_template_list_yet_then_asanak_decides_and_its_refusal_rejects_the_recipient():
    def answer(destinations, text):
        raise RejectedError(
            "template not valid", method="template", reason="invalid_template", http_status=400
        )

    store, made = MemoryMessageStore(), provider(answer=answer)

    send(store, made, {"id": "t-1", "to": "09120000001", "template": {"id": "999"}})

    assert len(made.calls) == 1
    [rejected] = [e.detail for e in events(store) if e.detail_type == "SMS Rejected"]
    assert (rejected["reason"], rejected["template_id"]) == ("provider_rejected", "999")


# -- the published JSON Schema says what the parser does ------------------------------------------------
SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "sms-request.schema.json").read_text())


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"to": "09121234567", "text": "hi"}, True),
        ({"to": ["09121234567"], "template": {"id": "101", "params": {"code": "1"}}}, True),
        ({"to": "09121234567", "template": {"id": 101}}, True),
        ({"to": "09121234567", "text": "hi", "template": {"id": "101"}}, False),
        ({"to": "09121234567"}, False),
        ({"to": "09121234567", "template": {"id": "abc"}}, False),
        ({"to": "09121234567", "template": {"id": "1", "params": {"a": {"b": 1}}}}, False),
        ({"to": "09121234567", "text": None, "template": {"id": "101"}}, True),
        ({"to": "09121234567", "text": "hi", "template": None}, True),
        ({"to": "09121234567", "template": {"id": "۱۰۱"}}, False),
        ({"to": "09121234567", "template": {"id": " 101"}}, False),
    ],
    ids=[
        "text",
        "template",
        "numeric-id",
        "both",
        "neither",
        "id-not-digits",
        "param-object",
        "null-text",
        "null-template",
        "persian-digits",
        "spaces",
    ],
)
def test_given_a_body_then_the_request_schema_and_the_parser_agree(body, valid):
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(SCHEMA)
    schema_says = Draft202012Validator(SCHEMA).is_valid(body)
    try:
        parse(**body)
        parser_says = True
    except PoisonRequest:
        parser_says = False

    assert schema_says == parser_says == valid


def test_given_a_sent_template_request_redelivered_after_its_template_was_retired_then_no_second_outcome():
    store, made = MemoryMessageStore(), provider()
    body = {"id": "otp-9", "to": ["09120000001", "09120000002"], "template": OTP}
    send(store, made, body)
    store.listed = [Template("101", "otp", ("code",), active=False)]  # retired after the send

    outcome = send(store, made, body, message_ids=["m-late-copy"])  # SQS delivers a late copy

    assert outcome.failures == {}
    assert len(made.calls) == 2  # nothing more sent
    found = events(store)
    assert sorted(e.detail_type for e in found) == ["SMS Accepted", "SMS Accepted"]  # and nothing rejected


def test_given_template_refused_recipients_then_each_keeps_that_one_outcome_when_the_template_returns():
    store, made = MemoryMessageStore(), provider()
    store.listed = [Template("101", "otp", ("code",), active=False)]
    body = {"id": "otp-10", "to": ["09120000001", "09120000002"], "template": OTP}
    send(store, made, body)
    store.listed = [Template("101", "otp", ("code",))]  # approved again

    send(store, made, body, message_ids=["m-copy"])

    assert made.calls == []
    rejected = [e.detail for e in events(store) if e.detail_type == "SMS Rejected"]
    assert sorted((d["to"], d["reason"], d["template_id"]) for d in rejected) == [
        ("989120000001", "invalid_template", "101"),
        ("989120000002", "invalid_template", "101"),
    ]
    assert [e for e in events(store) if e.detail_type == "SMS Accepted"] == []


def test_given_a_template_approved_after_the_last_listing_then_it_is_asked_for_once_and_sent():
    store, made = MemoryMessageStore(), provider()
    store.listed = [Template("101", "otp", ("code",))]  # the poll function's list, a few minutes old
    made.listed_templates = [Template("101", "otp", ("code",)), Template("150", "new", ("code",))]

    send(
        store, made, {"id": "new-1", "to": "09120000001", "template": {"id": "150", "params": {"code": "1"}}}
    )

    assert [e.detail["template_id"] for e in events(store) if e.detail_type == "SMS Accepted"] == ["150"]
    assert made.template_lists == 1


def test_given_the_list_cannot_be_read_again_then_an_unlisted_template_is_left_to_asanak():
    store, made = MemoryMessageStore(), provider()
    store.listed = [Template("101", "otp", ("code",))]
    made.listed_templates = None  # templatelist fails now

    send(store, made, {"id": "new-2", "to": "09120000001", "template": {"id": "150"}})

    assert len(made.calls) == 1  # Asanak decides; nothing is rejected on a stale list


def test_given_a_template_request_with_an_invalid_number_then_its_rejection_carries_template_id_too():
    store, made = MemoryMessageStore(), provider()

    send(store, made, {"id": "t-3", "to": ["09120000001", "12345"], "template": OTP})

    [rejected] = [e.detail for e in events(store) if e.detail_type == "SMS Rejected"]
    assert (rejected["to"], rejected["reason"], rejected["template_id"]) == ("12345", "invalid_number", "101")


def test_given_templatelist_failing_then_no_request_of_the_minute_is_refused_on_the_stale_list():
    store, made = MemoryMessageStore(), provider()
    store.listed = [Template("101", "otp", ("code",))]
    made.listed_templates = None  # templatelist fails
    new = {"to": "09120000001", "template": {"id": "150", "params": {"code": "1"}}}

    send(store, made, {**new, "id": "n-1"}, {**new, "id": "n-2", "to": "09120000002"})

    assert len(made.calls) == 2  # both left to Asanak
    assert [e for e in events(store) if e.detail_type == "SMS Rejected"] == []


def test_given_the_provider_listed_a_new_template_then_a_later_reread_of_the_stale_store_does_not_forget_it():
    store, made = MemoryMessageStore(), provider()
    store.listed = [Template("101", "otp", ("code",))]  # the poll function's list, without 150
    made.listed_templates = [Template("101", "otp", ("code",)), Template("150", "new", ("code",))]
    now = [NOW]
    service = SendService(
        store=store,
        provider=made,
        policy=SendPolicy(SENDER, timedelta(days=30), 4, call_timeout=timedelta(seconds=5)),
        clock=lambda: now[0],
    )
    body = {"to": "09120000001", "template": {"id": "150", "params": {"code": "1"}}}

    known = {"to": "09120000009", "template": OTP}
    service.send_batch([Envelope("m0", json.dumps({**known, "id": "k"}))])  # t0: the stored list is read
    now[0] = NOW + timedelta(seconds=30)  # 150 is missing: Asanak is asked, and lists it
    service.send_batch([Envelope("m1", json.dumps({**body, "id": "a"}))])
    now[0] = NOW + timedelta(seconds=61)  # the stored list is read again, still without 150
    service.send_batch([Envelope("m2", json.dumps({**body, "id": "b"}))])

    assert len(made.calls) == 3
    assert [e for e in events(store) if e.detail_type == "SMS Rejected"] == []


def test_given_a_template_the_stored_list_shows_inactive_then_asanak_is_asked_before_refusing():
    store, made = MemoryMessageStore(), provider()
    store.listed = [Template("101", "otp", ("code",), active=False)]  # since approved again
    made.listed_templates = [Template("101", "otp", ("code",))]

    send(store, made, {"id": "r", "to": "09120000001", "template": OTP})

    assert len(made.calls) == 1
