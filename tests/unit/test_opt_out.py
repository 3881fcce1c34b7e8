"""Receiving, without AWS: keyword matching, the push key, the request checks, and the service's
store-once/publish-once rules against in-memory fakes of its ports."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asanak.inbound import InboundParseError, InboundSms
from sms_gateway.domain.errors import Forbidden, RequestTooLarge, StoreError
from sms_gateway.domain.events import Event
from sms_gateway.domain.inbound.service import (
    MAX_REQUEST_BYTES,
    OPT_IN,
    OPT_OUT,
    InboundPolicy,
    InboundRequest,
    InboundService,
    check_size,
    is_opt_out,
    keyword_of,
    normalize_keyword,
    normalize_keywords,
    push_key,
    read_params,
    source_allowed,
    token_matches,
)
from sms_gateway.domain.publishing.outbox import events_for

from tests.fakes import MemoryInboundStore

# The template's defaults (OptOutKeywords / OptInKeywords).
OPT_OUT_DEFAULTS = ["لغو", "لغو11", "لغو ۱۱", "انصراف", "stop", "cancel", "unsubscribe", "off", "11"]
OPT_IN_DEFAULTS = ["عضویت", "شروع", "start", "subscribe"]
NOW = datetime(2024, 3, 20, 9, 0, tzinfo=UTC)
TOKEN = "the-inbound-token-0123456789"
SMS = InboundSms(
    sender="989121234567",
    recipient="98300012345",
    text="hello",
    received_at=datetime(2024, 3, 20, 8, 30, tzinfo=UTC),
    received_raw="2024-03-20 12:00:00",
)
QUERY = "Destination=98300012345&Source=09121234567&ReceiveTime=2024-03-20+12:00:00&MsgBody=hello"


# -- keywords ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "لغو",
        "لغو11",
        "لغو ۱۱",  # Persian digits and a space
        "لغو۱۱",
        "لغو ١١",  # Arabic-Indic digits
        "لغو\u200c۱۱",  # a ZWNJ instead of the space
        "\u200fلغو\u200e",  # bidi marks from copy and paste
        "لغـــو",  # kashida
        "  لغو\n",
        "«لغو»",
        "لغو.",
        "STOP",
        "Stop",
        "stop!",
        "ＳＴＯＰ",  # full-width Latin
        "s t o p",
        "انصراف",
        "11",
        "۱۱",
        "off",
        "UNSUBSCRIBE",
    ],
)
def test_given_an_opt_out_word_in_any_form_when_checked_then_it_is_an_opt_out(text: str) -> None:
    assert is_opt_out(text, OPT_OUT_DEFAULTS)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "لغو کنید جلسه را",
        "please stop",
        "stopped",
        "لغوش",
        "111",
        "12",
        "ok",
        "!!!",
    ],
)
def test_given_a_text_that_is_not_exactly_a_keyword_when_checked_then_it_is_not_an_opt_out(text: str) -> None:
    assert not is_opt_out(text, OPT_OUT_DEFAULTS)


def test_given_arabic_letters_where_persian_ones_are_expected_when_normalised_then_they_match() -> None:
    # "ي" (Arabic yeh), "ى" (alef maksura) and "ك" (Arabic kaf) as phones with Arabic layouts type them
    assert normalize_keyword("عضويت") == normalize_keyword("عضویت")
    assert normalize_keyword("كنسل") == normalize_keyword("کنسل")
    assert normalize_keyword("لغى") == normalize_keyword("لغی")
    assert is_opt_out("كنسل", ["کنسل"])
    assert (
        keyword_of("عضويت", normalize_keywords(OPT_OUT_DEFAULTS), normalize_keywords(OPT_IN_DEFAULTS))
        == OPT_IN
    )


def test_given_keywords_configured_in_any_form_when_normalised_then_they_compare_alike() -> None:
    assert normalize_keywords([" STOP ", "لغو ۱۱", "", "  "]) == frozenset({"stop", "لغو11"})
    assert is_opt_out("stop", ["  STOP"])
    assert not is_opt_out("stop", [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("لغو", OPT_OUT), ("START", OPT_IN), ("شروع", OPT_IN), ("hello", None), ("", None)],
)
def test_given_default_keywords_when_a_text_is_classified_then_opt_out_opt_in_or_none(text, expected) -> None:
    opt_out, opt_in = normalize_keywords(OPT_OUT_DEFAULTS), normalize_keywords(OPT_IN_DEFAULTS)
    assert keyword_of(text, opt_out, opt_in) == expected


def test_given_a_word_in_both_lists_when_classified_then_opt_out_wins() -> None:
    assert keyword_of("stop", frozenset({"stop"}), frozenset({"stop"})) == OPT_OUT


# -- the push key -----------------------------------------------------------------------------------
def test_given_the_same_push_when_keyed_twice_then_the_key_is_the_same_32_hex_characters() -> None:
    key = push_key(SMS)
    assert key == push_key(replace(SMS))
    assert len(key) == 32
    assert int(key, 16) >= 0


@pytest.mark.parametrize(
    "change",
    [
        {"sender": "989121234568"},
        {"recipient": "98300012346"},
        {"text": "hello "},
        {"received_raw": "2024-03-20 12:00:01"},
    ],
)
def test_given_a_push_differing_in_one_field_when_keyed_then_the_key_differs(change) -> None:
    assert push_key(replace(SMS, **change)) != push_key(SMS)


def test_given_fields_that_would_run_together_when_keyed_then_the_keys_still_differ() -> None:
    left = replace(SMS, sender="98912", recipient="1234567")
    right = replace(SMS, sender="989121", recipient="234567")
    assert push_key(left) != push_key(right)


def test_the_key_does_not_depend_on_the_time_we_received_it() -> None:
    # Only the push's own fields count: a retry an hour later is the same SMS.
    assert push_key(replace(SMS, received_at=SMS.received_at + timedelta(hours=1))) == push_key(SMS)


# -- request checks ---------------------------------------------------------------------------------
def test_given_a_query_or_body_within_the_limit_when_checked_then_accepted() -> None:
    check_size("q" * MAX_REQUEST_BYTES, "b" * MAX_REQUEST_BYTES)
    check_size(None, None)


@pytest.mark.parametrize(
    ("query", "body", "base64"),
    [
        ("q" * (MAX_REQUEST_BYTES + 1), None, False),
        ("", "b" * (100 * 1024), False),
        ("", "س" * (MAX_REQUEST_BYTES // 2 + 1), False),  # counted in UTF-8 bytes
        ("", "A" * (MAX_REQUEST_BYTES * 4 // 3 + 8), True),  # just over the limit once base64-decoded
    ],
    ids=["long-query", "100-kb-body", "utf8-bytes", "base64-body"],
)
def test_given_a_query_or_body_over_the_limit_when_checked_then_too_large(query, body, base64) -> None:
    with pytest.raises(RequestTooLarge):
        check_size(query, body, body_is_base64=base64)


NETWORKS = (ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8::/32"))


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("203.0.113.1", True),
        ("203.0.113.1/32", True),
        ("2001:db8::1", True),
        ("203.0.114.1", False),
        ("::1", False),
        ("", False),
        ("garbage", False),
    ],
)
def test_given_an_allow_list_when_a_source_is_checked_then_only_addresses_inside_pass(ip, allowed) -> None:
    assert source_allowed(ip, NETWORKS) is allowed


def test_given_no_allow_list_when_a_source_is_checked_then_anything_passes() -> None:
    assert source_allowed("garbage", ())


@pytest.mark.parametrize(
    ("given", "matches"),
    [
        (TOKEN, True),
        (TOKEN[:-1], False),
        (TOKEN + "x", False),
        (TOKEN.upper(), False),
        ("", False),
        ("توکن", False),
    ],
)
def test_given_a_path_token_when_compared_then_only_the_exact_token_matches(given, matches) -> None:
    assert token_matches(given, TOKEN) is matches


def test_given_a_raw_query_when_read_then_it_wins_over_the_decoded_parameters() -> None:
    assert read_params("Msg+Body=a+b", {"Msg Body": "decoded"}) == {"Msg Body": "a b"}
    assert read_params(None, {"MsgBody": "x"}) == {"MsgBody": "x"}
    assert read_params("", None) == {}


# -- the service, with fakes ------------------------------------------------------------------------
class Outbox:
    """What the publish function would send: one event per stored creation (the outbox)."""

    def __init__(self, store: MemoryInboundStore) -> None:
        self._store = store

    @property
    def published(self) -> list[Event]:
        return [event for record in self._store.records.values() for event in events_for(None, record)]


@pytest.fixture
def store() -> MemoryInboundStore:
    return MemoryInboundStore()


@pytest.fixture
def publisher(store: MemoryInboundStore) -> Outbox:
    return Outbox(store)


def service(store: MemoryInboundStore, publisher: Outbox, **overrides: Any) -> InboundService:
    policy = InboundPolicy(
        retention=timedelta(days=30),
        opt_out_keywords=OPT_OUT_DEFAULTS,
        opt_in_keywords=OPT_IN_DEFAULTS,
        allowed_sources=overrides.pop("allowed_sources", ()),
    )
    arguments: dict[str, Any] = {
        "store": store,
        "policy": policy,
        "clock": lambda: NOW,
        "expected_token": lambda: TOKEN,
    }
    return InboundService(**(arguments | overrides))


def request(token: str = TOKEN, **overrides: Any) -> InboundRequest:
    values: dict[str, Any] = {"token": token, "source_ip": "203.0.113.10", "raw_query": QUERY, "query": None}
    return InboundRequest(**(values | overrides))


def test_given_a_good_request_when_handled_then_stored_once_with_expiry_and_published(
    store, publisher
) -> None:
    receipt = service(store, publisher).handle(request())

    assert not receipt.duplicate
    record = store.records[receipt.inbound_id]
    assert (record.sender, record.text, record.provider_time) == (
        "989121234567",
        "hello",
        "2024-03-20 12:00:00",
    )
    assert record.expires_at == NOW + timedelta(days=30)
    [event] = publisher.published
    assert event.detail_type == "SMS Received"
    assert event.detail["inbound_id"] == receipt.inbound_id
    assert event.detail["keyword"] is None


def test_given_a_wrong_token_when_handled_then_forbidden_before_anything_is_stored(store, publisher) -> None:
    with pytest.raises(Forbidden):
        service(store, publisher).handle(request("wrong"))
    assert store.records == {}
    assert publisher.published == []


def test_given_a_source_outside_the_allow_list_when_handled_then_forbidden(store, publisher) -> None:
    guarded = service(store, publisher, allowed_sources=NETWORKS)
    with pytest.raises(Forbidden):
        guarded.handle(request(source_ip="198.51.100.1"))
    assert guarded.handle(request()).inbound_id in store.records


def test_given_an_oversized_request_when_handled_then_refused_before_the_token_is_even_read(store, publisher):
    def never() -> str:
        raise AssertionError("the secret must not be read for an oversized request")

    with pytest.raises(RequestTooLarge):
        service(store, publisher, expected_token=never).handle(request(body="x" * 100 * 1024))


def test_given_a_request_missing_a_field_when_handled_then_parse_error_and_nothing_stored(store, publisher):
    with pytest.raises(InboundParseError) as caught:
        service(store, publisher).handle(request(raw_query="Destination=98300012345"))
    assert caught.value.field == "Source"
    assert store.records == {}


def test_given_the_same_sms_twice_when_received_then_published_once(store, publisher) -> None:
    inbound = service(store, publisher)

    first, second = inbound.receive(SMS), inbound.receive(SMS)

    assert (first.duplicate, second.duplicate) == (False, True)
    assert first.inbound_id == second.inbound_id
    assert len(publisher.published) == 1


def test_given_an_earlier_attempt_failed_to_store_when_pushed_again_then_stored_and_published_once(
    store, publisher
) -> None:
    inbound = service(store, publisher)
    store.fail_create = 1
    with pytest.raises(StoreError):
        inbound.receive(SMS)  # Asanak gets a 503 and pushes again
    assert publisher.published == []

    receipt = inbound.receive(SMS)

    assert not receipt.duplicate
    assert len(publisher.published) == 1
    assert inbound.receive(SMS).duplicate


def test_given_an_opt_out_then_an_opt_in_when_received_then_the_list_follows(store, publisher) -> None:
    inbound = service(store, publisher)

    inbound.receive(replace(SMS, text="لغو ۱۱"))
    assert store.opt_outs == {"989121234567": ("لغو11", SMS.received_at)}

    later = SMS.received_at + timedelta(minutes=5)
    inbound.receive(replace(SMS, text="Start", received_at=later, received_raw="2024-03-20 12:05:00"))

    assert store.opt_outs == {}
    assert [e.detail["keyword"] for e in publisher.published] == ["opt_out", "opt_in"]


def test_given_an_opt_out_whose_storing_failed_when_retried_then_the_sender_stays_opted_out(store, publisher):
    inbound = service(store, publisher)
    store.fail_create = 1
    with pytest.raises(StoreError):
        inbound.receive(replace(SMS, text="STOP"))
    assert "989121234567" in store.opt_outs  # applied first: a send is already refused

    inbound.receive(replace(SMS, text="STOP"))

    assert "989121234567" in store.opt_outs
    assert [e.detail["keyword"] for e in publisher.published] == ["opt_out"]
