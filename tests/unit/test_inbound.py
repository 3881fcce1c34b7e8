"""Inbound push parsing: tolerant names, (double) URL-decoding, Tehran time to UTC, clear refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote, quote_plus

import pytest
from asanak.inbound import MAX_TEXT_CHARS, InboundParseError, InboundSms, parse_inbound, parse_query
from hypothesis import given
from hypothesis import strategies as st

NOON_TEHRAN_IN_UTC = datetime(2024, 3, 20, 8, 30, tzinfo=UTC)
SALAM = "سلام"
SALAM_ENCODED = "%D8%B3%D9%84%D8%A7%D9%85"
FIELDS = ("Destination", "Source", "ReceiveTime", "Msg Body")


def push(**overrides: str) -> dict[str, str]:
    """A decoded push as API Gateway hands it over; keyword ``Msg_Body`` stands for ``Msg Body``."""
    params = {
        "Destination": "98300012345",
        "Source": "09121234567",
        "ReceiveTime": "2024-03-20 12:00:00",
        "Msg Body": "hello",
    }
    params.update({name.replace("_", " "): value for name, value in overrides.items()})
    return params


def without(field: str) -> dict[str, str]:
    params = push()
    del params[field]
    return params


def test_given_the_manuals_push_when_parsed_then_numbers_normalised_and_time_in_utc() -> None:
    assert parse_inbound(push()) == InboundSms(
        sender="989121234567",
        recipient="98300012345",
        text="hello",
        received_at=NOON_TEHRAN_IN_UTC,
        received_raw="2024-03-20 12:00:00",
    )


@pytest.mark.parametrize(
    "text_name",
    [
        "Msg Body",
        "MsgBody",
        "MSGBODY",
        "msg body",
        "msgbody",
        "msg_body",
        "Msg+Body",
        "Msg%20Body",
        "MSG%20BODY",
    ],
)
def test_given_any_spelling_of_the_text_parameter_when_parsed_then_text_found(text_name: str) -> None:
    params = without("Msg Body") | {text_name: "hello"}
    assert parse_inbound(params).text == "hello"


def test_given_parameter_names_in_any_case_when_parsed_then_all_fields_found() -> None:
    params = {
        "DESTINATION": "98300012345",
        "source": "09121234567",
        "receiveTime": "2024-03-20 12:00:00",
        "msgBody": "hello",
    }
    sms = parse_inbound(params)
    assert (sms.recipient, sms.sender, sms.text) == ("98300012345", "989121234567", "hello")


@pytest.mark.parametrize(
    ("raw_query", "expected_text"),
    [
        ("Msg+Body=hello+world", "hello world"),
        ("Msg%20Body=hello%20world", "hello world"),
        ("MsgBody=hello+world", "hello world"),
        ("msgbody=1%2B1%3D2", "1+1=2"),
        (f"Msg%20Body={SALAM_ENCODED}", SALAM),
        (f"Msg+Body={SALAM_ENCODED}+%D8%AF%D9%86%DB%8C%D8%A7", "سلام دنیا"),
        # encoded twice by the provider: decoded once by parse_query, once more by parse_inbound
        ("MsgBody=%25D8%25B3%25D9%2584%25D8%25A7%25D9%2585", SALAM),
        (
            "MsgBody=%25D8%25B3%25D9%2584%25D8%25A7%25D9%2585%2B%25D8%25AF%25D9%2586%25DB%258C%25D8%25A7",
            "سلام دنیا",
        ),
        ("MsgBody=hello%2520world", "hello world"),
        ("MsgBody=50%25+off", "50% off"),
    ],
)
def test_given_a_raw_query_when_parsed_then_spaces_and_encodings_decoded(
    raw_query: str, expected_text: str
) -> None:
    raw = f"Destination=98300012345&Source=%2B989121234567&ReceiveTime=2024-03-20+12%3A00%3A00&{raw_query}"
    sms = parse_inbound(parse_query(raw))
    assert sms.text == expected_text
    assert sms.sender == "989121234567"
    assert sms.received_at == NOON_TEHRAN_IN_UTC


@pytest.mark.parametrize(
    ("decoded_value", "expected_text"),
    [
        (SALAM, SALAM),  # decoded once, as API Gateway does
        ("سلام دنیا! 😀", "سلام دنیا! 😀"),
        (SALAM_ENCODED, SALAM),  # the provider encoded twice
        (f"{SALAM_ENCODED}+{SALAM_ENCODED}", f"{SALAM} {SALAM}"),
        ("hello%20world", "hello world"),
        ("1+1=2", "1+1=2"),  # a literal plus stays a plus
        ("C++ rocks", "C++ rocks"),
        ("50% off", "50% off"),  # "%" not followed by hex: not encoded
        ("100%", "100%"),
        ("%D8", "%D8"),  # an escape that is not valid UTF-8: kept as typed
        ("50%25 off", "50%25 off"),  # contains a space: already decoded
        ("%41%42 and 100%", "%41%42 and 100%"),
        ("%20", "%20"),  # would decode to nothing: kept
        ("  padded  ", "  padded  "),  # the text is kept exactly, not stripped
        ("line one\nline two", "line one\nline two"),
    ],
)
def test_given_a_decoded_text_when_parsed_then_decoded_again_only_if_still_encoded(
    decoded_value: str, expected_text: str
) -> None:
    assert parse_inbound(push(Msg_Body=decoded_value)).text == expected_text


@pytest.mark.parametrize(
    "receive_time",
    [
        "2024-03-20 12:00:00",
        "2024-03-20T12:00:00",
        "2024/03/20 12:00:00",
        "2024-3-20 12:00:00",
        "2024-03-20 12:00",
        "2024-03-20  12:00:00",
        " 2024-03-20 12:00:00 ",
        "2024-03-20+12:00:00",  # an undecoded space
        "2024-03-20%2012%3A00%3A00",  # encoded twice
        "۲۰۲۴-۰۳-۲۰ ۱۲:۰۰:۰۰",
        "۲۰۲۴/۰۳/۲۰ ۱۲:۰۰:۰۰",
        "٢٠٢٤-٠٣-٢٠ ١٢:٠٠:٠٠",
        "\u200f۲۰۲۴/۰۳/۲۰ ۱۲:۰۰:۰۰\u200e",
    ],
)
def test_given_a_receive_time_in_any_accepted_shape_when_parsed_then_same_utc_instant(
    receive_time: str,
) -> None:
    sms = parse_inbound(push(ReceiveTime=receive_time))
    assert sms.received_at == NOON_TEHRAN_IN_UTC
    assert sms.received_raw == receive_time


@pytest.mark.parametrize(
    ("receive_time", "expected_utc"),
    [
        ("2024-03-20 12:00:00", datetime(2024, 3, 20, 8, 30, tzinfo=UTC)),  # +03:30
        ("2024-12-31 23:59:59", datetime(2024, 12, 31, 20, 29, 59, tzinfo=UTC)),
        ("2024-01-01 02:00:00", datetime(2023, 12, 31, 22, 30, tzinfo=UTC)),  # day and year roll back
        ("2020-06-01 12:00:00", datetime(2020, 6, 1, 7, 30, tzinfo=UTC)),  # +04:30: Iran's DST, until 2022
        ("2012-10-31 11:56:04", datetime(2012, 10, 31, 8, 26, 4, tzinfo=UTC)),  # the manual's sample
        ("2024-03-20 12:00:00.250", datetime(2024, 3, 20, 8, 30, 0, 250000, tzinfo=UTC)),
    ],
)
def test_given_a_tehran_local_time_when_parsed_then_converted_to_aware_utc(
    receive_time: str, expected_utc: datetime
) -> None:
    received_at = parse_inbound(push(ReceiveTime=receive_time)).received_at
    assert received_at == expected_utc
    assert received_at.utcoffset() == timedelta(0)
    assert received_at.tzinfo is UTC


@pytest.mark.parametrize(
    "receive_time",
    [
        "yesterday",
        "2024-03-20",
        "12:00:00",
        "2024-13-01 12:00:00",
        "2024-02-30 12:00:00",
        "2024-03-20 24:00:00",
        "2024-03-20 12:60:00",
        "20240320120000",
        "1403/01/01 12:00:00",  # a Solar Hijri date is not read as a Gregorian one
        "۱۴۰۳/۰۱/۰۱ ۱۲:۰۰:۰۰",
        "2024-03-20 12:00:00+03:30",
    ],
)
def test_given_an_unreadable_receive_time_when_parsed_then_refused_as_invalid(receive_time: str) -> None:
    with pytest.raises(InboundParseError) as caught:
        parse_inbound(push(ReceiveTime=receive_time))
    assert (caught.value.field, caught.value.reason) == ("ReceiveTime", "invalid")


@pytest.mark.parametrize("field", FIELDS)
def test_given_a_push_without_a_field_when_parsed_then_refused_naming_it_missing(field: str) -> None:
    with pytest.raises(InboundParseError) as caught:
        parse_inbound(without(field))
    assert (caught.value.field, caught.value.reason) == (field, "missing")
    assert str(caught.value) == f"{field}: missing"


@pytest.mark.parametrize("blank", ["", "   ", "\n"])
@pytest.mark.parametrize("field", FIELDS)
def test_given_a_push_with_a_blank_field_when_parsed_then_refused_naming_it_empty(
    field: str, blank: str
) -> None:
    params = push() | {field: blank}
    with pytest.raises(InboundParseError) as caught:
        parse_inbound(params)
    assert (caught.value.field, caught.value.reason) == (field, "empty")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Source", "abc"),
        ("Source", "0912-abc"),
        ("Source", "12"),
        ("Destination", "our number"),
        ("Destination", "++98300012345"),
    ],
)
def test_given_a_number_field_that_is_not_a_number_when_parsed_then_refused_as_invalid(
    field: str, value: str
) -> None:
    with pytest.raises(InboundParseError) as caught:
        parse_inbound(push() | {field: value})
    assert (caught.value.field, caught.value.reason) == (field, "invalid")
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize(
    ("source", "destination", "expected_sender", "expected_recipient"),
    [
        ("09121234567", "98300012345", "989121234567", "98300012345"),
        ("+989121234567", "02164063188", "989121234567", "982164063188"),
        ("۰۹۱۲۱۲۳۴۵۶۷", "۳۰۰۰۱۲۳۴", "989121234567", "30001234"),
        ("9121234567", "982164063188", "989121234567", "982164063188"),
        ("%2B989121234567", "30001234", "989121234567", "30001234"),  # encoded twice
    ],
)
def test_given_numbers_in_any_form_when_parsed_then_normalised_like_senders(
    source: str, destination: str, expected_sender: str, expected_recipient: str
) -> None:
    sms = parse_inbound(push(Source=source, Destination=destination))
    assert (sms.sender, sms.recipient) == (expected_sender, expected_recipient)


def test_given_a_text_of_the_maximum_length_when_parsed_then_accepted() -> None:
    assert parse_inbound(push(Msg_Body="س" * MAX_TEXT_CHARS)).text == "س" * MAX_TEXT_CHARS


def test_given_a_text_longer_than_the_maximum_when_parsed_then_refused_as_invalid() -> None:
    with pytest.raises(InboundParseError) as caught:
        parse_inbound(push(Msg_Body="a" * (MAX_TEXT_CHARS + 1)))
    assert (caught.value.field, caught.value.reason) == ("Msg Body", "invalid")


def test_given_the_text_under_two_spellings_when_parsed_then_last_non_blank_wins() -> None:
    params = without("Msg Body")
    assert parse_inbound(params | {"MsgBody": "first", "Msg Body": "second"}).text == "second"
    assert parse_inbound(params | {"MsgBody": "first", "Msg Body": ""}).text == "first"


def test_given_extra_parameters_when_parsed_then_ignored() -> None:
    params = push() | {"token": "secret", "utm_source": "x"}
    assert parse_inbound(params).text == "hello"


def test_given_several_problems_when_parsed_then_first_field_in_manual_order_reported() -> None:
    with pytest.raises(InboundParseError) as caught:
        parse_inbound({"ReceiveTime": "bad"})
    assert caught.value.field == "Destination"


# --- parse_query -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_query", "expected"),
    [
        ("", {}),
        ("?", {}),
        ("a=1&b=2", {"a": "1", "b": "2"}),
        ("?a=1", {"a": "1"}),
        ("Msg%20Body=x", {"Msg Body": "x"}),
        ("Msg+Body=x", {"Msg Body": "x"}),
        ("a=hello+world%21", {"a": "hello world!"}),
        ("a=1&&b=2&", {"a": "1", "b": "2"}),
        ("flag&a=1", {"flag": "", "a": "1"}),
        ("a=", {"a": ""}),
        ("a=b=c", {"a": "b=c"}),
        ("a=1&a=2", {"a": "2"}),  # a repeated name keeps its last value
        ("a=%D8", {"a": "\ufffd"}),  # invalid UTF-8 is replaced, not fatal
        ("a=%2B98", {"a": "+98"}),
        (f"a={SALAM_ENCODED}", {"a": SALAM}),
    ],
)
def test_given_a_raw_query_when_split_then_names_and_values_decoded_once(
    raw_query: str, expected: dict[str, str]
) -> None:
    assert parse_query(raw_query) == expected


def test_given_the_manuals_push_url_when_parsed_end_to_end_then_sms_read() -> None:
    raw = (
        "Destination=982164063188&Source=09121234567&ReceiveTime=2024-03-20%2012:00:00"
        f"&Msg%20Body={SALAM_ENCODED}%20%D8%AF%D9%86%DB%8C%D8%A7"
    )
    assert parse_inbound(parse_query(raw)) == InboundSms(
        sender="989121234567",
        recipient="982164063188",
        text="سلام دنیا",
        received_at=NOON_TEHRAN_IN_UTC,
        received_raw="2024-03-20 12:00:00",
    )


RAW_PREFIX = "Destination=30001234&Source=09121234567&ReceiveTime=2024-03-20+12:00:00&MsgBody="


@given(st.text(min_size=1, max_size=300).filter(lambda text: text.strip() and "%" not in text))
def test_given_any_text_encoded_once_when_parsed_from_the_raw_query_then_text_round_trips(text: str) -> None:
    for encoded in (quote_plus(text), quote(text, safe="")):
        assert parse_inbound(parse_query(RAW_PREFIX + encoded)).text == text


@given(st.text(min_size=1, max_size=300).filter(str.strip))
def test_given_any_text_encoded_twice_with_percent_20_when_parsed_then_text_round_trips(text: str) -> None:
    encoded = quote(quote(text, safe=""), safe="")
    assert parse_inbound(parse_query(RAW_PREFIX + encoded)).text == text


@given(st.text(min_size=1, max_size=300).filter(str.strip))
def test_given_any_text_form_encoded_twice_when_parsed_then_round_trips_unless_only_spaces_were_encoded(
    text: str,
) -> None:
    once = quote_plus(text)
    text_read = parse_inbound(parse_query(RAW_PREFIX + quote_plus(once))).text
    if "%" in once:
        assert text_read == text
    else:
        # "hello world" encoded twice arrives as "hello+world": indistinguishable from a literal
        # plus, so the plus is kept (the ambiguity the module docstring describes).
        assert text_read == once
