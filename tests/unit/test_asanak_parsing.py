"""Parsing Asanak answers without a network: every documented shape, the tolerated ones, and refusals."""

from __future__ import annotations

import datetime
import json
import pickle
from decimal import Decimal

import pytest
from asanak import _parse
from asanak._parse import (
    ShapeError,
    is_error_object,
    is_html,
    parse_credit,
    parse_msgids,
    parse_statuses,
    parse_tehran_time,
)
from asanak.client import classify_answer
from asanak.errors import (
    EXCERPT_LIMIT,
    AmbiguousError,
    BlockedError,
    CredentialsError,
    RejectedError,
    RetryableError,
    excerpt,
    scrub,
)

UTC = datetime.UTC

MANUAL_STATUS_JSON = (
    '[{"MsgID":"4456772","Status":"6","SendTime":"2012-10-31 11:56:04","DeliverTime":"2012-10-31 12:05:00"},'
    ' {"MsgID":"4456773","Status":"6","SendTime":"2012-10-31 11:56:04","DeliverTime":"2012-10-31 12:05:00"}]'
)
MANUAL_STATUS_XML = """<response>
  <MsgStatus><MsgID>4456772</MsgID><Status>6</Status>
    <SendTime>2012-10-31 11:56:04</SendTime><DeliverTime>2012-10-31 12:05:00</DeliverTime></MsgStatus>
  <MsgStatus><MsgID>4456773</MsgID><Status>2</Status>
    <SendTime>2012-10-31 11:56:04</SendTime><DeliverTime></DeliverTime></MsgStatus>
</response>"""


# --- sendsms -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[2456544, 2456545]",
        "[2456544,2456545]\n",
        '["2456544", "2456545"]',
        "<response><MsgID>2456544</MsgID><MsgID>2456545</MsgID></response>",
        '<?xml version="1.0" encoding="UTF-8"?>\n<response>\n <MsgID> 2456544 </MsgID>\n'
        " <MsgID>2456545</MsgID>\n</response>",
        '<response xmlns="http://www.w3.org/1999/xhtml"><MsgID>2456544</MsgID><MsgID>2456545</MsgID></response>',
        "\ufeff[2456544, 2456545]",
    ],
)
def test_given_a_documented_sendsms_answer_when_parsed_then_msgids_are_digit_strings_in_order(body):
    assert parse_msgids(_parse.decode_body(body.encode())) == ["2456544", "2456545"]


def test_given_msgids_as_numbers_and_strings_when_parsed_then_both_normalise_to_the_same_string():
    assert parse_msgids("[1215273505]") == parse_msgids('["1215273505"]') == ["1215273505"]
    assert parse_msgids('["00123"]') == ["123"]


@pytest.mark.parametrize(
    "body",
    [
        "",
        "OK",
        "[-1]",
        "[0]",
        '["abc"]',
        "[true]",
        "[1.5]",
        '{"status": "Bad Request", "message": "invalid destination"}',
        "1234567",
        "<response></response>",
        "<html><body>Maintenance</body></html>",
        "<response><MsgID>12",
    ],
)
def test_given_anything_but_the_success_shape_when_parsing_msgids_then_shape_error(body):
    with pytest.raises(ShapeError):
        parse_msgids(body)


# --- msgstatus ---------------------------------------------------------------------------------------


def test_given_the_manuals_json_status_sample_when_parsed_then_tehran_times_become_utc():
    first, second = parse_statuses(MANUAL_STATUS_JSON)

    assert first.msgid == "4456772"
    assert second.msgid == "4456773"
    assert first.code == 6
    assert first.info.name == "Success"
    # Tehran was UTC+3:30 on 2012-10-31 (no daylight saving then).
    assert first.send_time == datetime.datetime(2012, 10, 31, 8, 26, 4, tzinfo=UTC)
    assert first.deliver_time == datetime.datetime(2012, 10, 31, 8, 35, 0, tzinfo=UTC)
    assert first.send_time_raw == "2012-10-31 11:56:04"
    assert first.deliver_time_raw == "2012-10-31 12:05:00"


def test_given_the_manuals_xml_status_sample_when_parsed_then_same_fields_and_empty_deliver_time_is_none():
    first, second = parse_statuses(MANUAL_STATUS_XML)

    assert (first.msgid, first.code) == ("4456772", 6)
    assert first.send_time == datetime.datetime(2012, 10, 31, 8, 26, 4, tzinfo=UTC)
    assert (second.msgid, second.code) == ("4456773", 2)
    assert second.deliver_time is None
    assert second.deliver_time_raw == ""


def test_given_status_values_as_ints_and_strings_when_parsed_then_codes_are_ints():
    body = (
        '[{"msgid": 11, "status": 5}, {"MSGID": "12", "STATUS": "-1", "SendTime": "", "DeliverTime": null}]'
    )

    failed, unknown = parse_statuses(body)

    assert (failed.msgid, failed.code, failed.info.outcome, failed.info.final) == ("11", 5, "failed", True)
    assert (unknown.msgid, unknown.code, unknown.info.name) == ("12", -1, "NotFound")
    assert failed.send_time is None and failed.send_time_raw is None
    assert unknown.send_time is None and unknown.send_time_raw == ""
    assert unknown.deliver_time_raw is None


def test_given_unknown_code_20_when_parsed_then_kept_as_20_and_not_final():
    [status] = parse_statuses('[{"MsgID": "9", "Status": "20", "SendTime": "", "DeliverTime": ""}]')

    assert status.code == 20
    assert status.info.code == 20
    assert status.info.known is False
    assert status.info.final is False
    assert status.info.outcome == "pending"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2012-10-31 11:56:04", datetime.datetime(2012, 10, 31, 8, 26, 4, tzinfo=UTC)),
        ("2012/10/31 11:56:04", datetime.datetime(2012, 10, 31, 8, 26, 4, tzinfo=UTC)),
        ("2012-10-31T11:56:04", datetime.datetime(2012, 10, 31, 8, 26, 4, tzinfo=UTC)),
        # Iran kept daylight saving (UTC+4:30) until 2022.
        ("2021-06-01 12:00:00", datetime.datetime(2021, 6, 1, 7, 30, 0, tzinfo=UTC)),
        ("2024-06-01 12:00:00", datetime.datetime(2024, 6, 1, 8, 30, 0, tzinfo=UTC)),
        ("2024-06-01 12:00:00+00:00", datetime.datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)),
        ("", None),
        ("   ", None),
        ("0000-00-00 00:00:00", None),
        ("1403/03/12 10:00:00", None),  # a Solar Hijri date is not a Gregorian one
        ("yesterday", None),
        ("2012-13-45 99:99:99", None),
        (None, None),
    ],
)
def test_given_a_provider_time_when_parsed_then_aware_utc_or_none(raw, expected):
    parsed = parse_tehran_time(raw)

    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC


def test_given_a_zero_deliver_time_when_parsed_then_time_is_none_and_raw_is_kept():
    body = (
        '[{"MsgID": "7", "Status": "2", "SendTime": "2024-06-01 12:00:00",'
        ' "DeliverTime": "0000-00-00 00:00:00"}]'
    )

    [status] = parse_statuses(body)

    assert status.deliver_time is None
    assert status.deliver_time_raw == "0000-00-00 00:00:00"


def test_given_one_status_as_a_bare_object_when_parsed_then_one_entry():
    [status] = parse_statuses('{"MsgID": "7", "Status": "6", "SendTime": "", "DeliverTime": ""}')

    assert (status.msgid, status.code) == ("7", 6)


def test_given_an_empty_answer_list_when_parsed_then_no_entries():
    assert parse_statuses("[]") == []
    assert parse_statuses("<response/>") == []


@pytest.mark.parametrize(
    "body",
    [
        '{"status": "Unauthorized", "message": "invalid username or password"}',
        "[1, 2]",
        '[{"MsgID": "1"}]',
        '[{"MsgID": "1", "Status": "six"}]',
        "<response><Error>bad</Error></response>",
        "<html><body>503</body></html>",
    ],
)
def test_given_anything_but_a_status_list_when_parsing_statuses_then_shape_error(body):
    with pytest.raises(ShapeError):
        parse_statuses(body)


# --- getcredit ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "credit"),
    [
        ("1234", Decimal("1234")),
        ("  1234.50\n", Decimal("1234.50")),
        ('"1234"', Decimal("1234")),
        ('{"Credit": "1234"}', Decimal("1234")),
        ('{"credit": 99.5}', Decimal("99.5")),
        ('{"CREDIT": "0"}', Decimal("0")),
        ("<response><Credit>1234</Credit></response>", Decimal("1234")),
        ('<?xml version="1.0"?><Credit>77</Credit>', Decimal("77")),
        ("<response>12</response>", Decimal("12")),
        ("۱۲۳۴", Decimal("1234")),
    ],
)
def test_given_any_plausible_getcredit_answer_when_parsed_then_the_credit_as_decimal(body, credit):
    parsed = parse_credit(body)

    assert parsed == credit
    assert isinstance(parsed, Decimal)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "NaN",
        "Infinity",
        "true",
        "[1234]",
        '{"status": "Unauthorized", "message": "invalid username or password"}',
        '{"Credit": "lots"}',
        "<response><Status>error</Status></response>",
        "<html><body>Forbidden</body></html>",
    ],
)
def test_given_no_credit_in_the_answer_when_parsed_then_shape_error(body):
    with pytest.raises(ShapeError):
        parse_credit(body)


# --- errors, HTML and XML safety ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"status": "Unauthorized", "message": "invalid username or password"}', True),
        ('{"message": "insufficient credit"}', True),
        ('{"meta": {"status": 1006, "message": "out of credit"}, "data": []}', True),
        ("<response><status>400</status><message>bad</message></response>", True),
        ("[2456544]", False),
        ('{"Credit": "12"}', False),
        ("<html><body>403</body></html>", False),
        ("garbage", False),
        ('{"meta": {"status": 200, "message": "success"}, "data": [123456]}', False),
        ('{"Invalids": ["09121111111"]}', True),
    ],
)
def test_given_a_body_when_checked_for_an_error_object_then_only_status_or_message_objects_count(
    body, expected
):
    assert is_error_object(body) is expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Error 1: invalid username or password", True),
        ("  خطا در ارسال  ", True),
        ("Sending FAILED", True),
        ("شماره نامعتبر", True),
        ("garbage", False),
        ("", False),
        ("<html><body>Error</body></html>", False),
        ('{"error": "x"}', False),
        ('"error"', False),
        ("Error " + "x" * _parse.ERROR_TEXT_LIMIT, False),
    ],
)
def test_given_a_body_when_checked_for_an_error_text_then_only_short_plain_text_with_an_error_marker_counts(
    body, expected
):
    assert _parse.is_error_text(body) is expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<!DOCTYPE html><html><body>Access denied</body></html>", True),
        ("\n  <html><head><title>403 Forbidden</title></head></html>", True),
        ("<response><MsgID>1</MsgID></response>", False),
        ('{"status": "Forbidden"}', False),
    ],
)
def test_given_a_body_when_checked_for_html_then_judged_from_the_body_not_the_content_type(body, expected):
    assert is_html(body) is expected


@pytest.mark.parametrize(
    "body",
    [
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><response><MsgID>&x;</MsgID></response>',
        '<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><response><Credit>&b;</Credit></response>',
        "<!doctype response><response><MsgID>1</MsgID></response>",
    ],
)
def test_given_xml_with_a_doctype_or_entities_when_parsed_then_refused(body):
    with pytest.raises(ShapeError, match="DOCTYPE"):
        _parse.parse_xml(body)
    with pytest.raises(ShapeError):
        parse_msgids(body)
    with pytest.raises(ShapeError):
        parse_credit(body)


def test_given_a_body_in_a_declared_charset_when_decoded_then_text_is_intact():
    assert _parse.decode_body("اعتبار".encode("utf-16"), "text/html; charset=UTF-16") == "اعتبار"
    assert _parse.decode_body(b"\xff\xfe", "text/html; charset=nonsense") == "\ufffd\ufffd"


def test_given_text_echoing_credentials_when_scrubbed_then_no_secret_is_left():
    text = (
        'GET /sendsms?username=gw&password=p%40ss+word&source=1 {"password": "p@ss word"} '
        "p@ss word p%40ss%20word"
    )

    scrubbed = scrub(text, ["p@ss word"])

    assert "p@ss" not in scrubbed
    assert "p%40ss" not in scrubbed
    assert "username=***" in scrubbed
    assert "source=1" in scrubbed


def test_given_a_long_body_when_excerpted_then_bounded_and_scrubbed_before_cutting():
    secret = "Zq9-very-secret"
    text = "x" * (EXCERPT_LIMIT - 5) + secret + "y" * 1000

    cut = excerpt(text, [secret])

    assert len(cut) <= EXCERPT_LIMIT
    assert "Zq9" not in cut


# --- classification of answers that are not a success -----------------------------------------------

HTML_PAGE = "<html><head><title>403 Forbidden</title></head><body>Access denied</body></html>"


@pytest.mark.parametrize(
    ("method", "status", "body", "error", "reason"),
    [
        ("sendsms", 200, "<html><body>maintenance</body></html>", AmbiguousError, None),
        ("sendsms", 200, "", AmbiguousError, None),
        ("msgstatus", 200, "<html><body>maintenance</body></html>", RetryableError, None),
        ("getcredit", 200, "[]", RetryableError, None),
        ("sendsms", 200, '{"status": "Error", "message": "whatever"}', RejectedError, "refused"),
        (
            "sendsms",
            200,
            '{"status": "Error", "message": "موجودی کافی نیست"}',
            RejectedError,
            "out_of_credit",
        ),
        (
            "sendsms",
            400,
            '{"status": "Bad Request", "message": "message is required"}',
            RejectedError,
            "validation",
        ),
        ("sendsms", 400, "plain text", RejectedError, "validation"),
        ("sendsms", 400, '{"message": "خطای اعتبارسنجی"}', RejectedError, "validation"),
        ("sendsms", 400, '{"message": "invalid destination 0912"}', RejectedError, "invalid_destination"),
        ("sendsms", 400, '{"message": "Daily limit exceeded"}', RejectedError, "daily_limit"),
        ("sendsms", 400, '{"message": "source not allowed"}', RejectedError, "inactive_sender"),
        ("sendsms", 400, '{"message": "password expired"}', CredentialsError, "credentials"),
        ("sendsms", 400, '{"message": "internal error"}', RetryableError, None),
        ("getcredit", 401, "", CredentialsError, "credentials"),
        ("getcredit", 403, HTML_PAGE, BlockedError, None),
        (
            "getcredit",
            403,
            '{"status": "Forbidden", "message": "account disabled"}',
            CredentialsError,
            "credentials",
        ),
        ("sendsms", 404, "<html><body>Not Found</body></html>", RejectedError, "refused"),
        ("sendsms", 429, "", RetryableError, None),
        ("sendsms", 500, '{"status": "Internal Server Error"}', AmbiguousError, None),
        ("sendsms", 500, "<html><body>500 Internal Server Error</body></html>", AmbiguousError, None),
        ("sendsms", 500, '{"status": "Error", "message": "whatever"}', AmbiguousError, None),
        ("sendsms", 500, '{"message": "internal error, destination 0912"}', AmbiguousError, None),
        ("sendsms", 502, "", AmbiguousError, None),
        ("sendsms", 502, "<html><body>502 Bad Gateway</body></html>", AmbiguousError, None),
        ("sendsms", 520, "", AmbiguousError, None),
        ("sendsms", 503, HTML_PAGE, RetryableError, None),
        ("sendsms", 504, "", AmbiguousError, None),
        (
            "sendsms",
            500,
            '{"status": "Error", "message": "insufficient credit"}',
            RejectedError,
            "out_of_credit",
        ),
        ("sendsms", 502, "Error 1: invalid username or password", CredentialsError, "credentials"),
        (
            "sendsms",
            504,
            '{"meta": {"status": 1009, "message": "x"}, "data": null}',
            RejectedError,
            "daily_limit",
        ),
        ("msgstatus", 504, "", RetryableError, None),
        ("msgstatus", 500, '{"message": "insufficient credit"}', RetryableError, None),
        ("getcredit", 502, "", RetryableError, None),
        ("sendsms", 200, "Error 1: invalid username or password", CredentialsError, "credentials"),
        ("msgstatus", 200, "Error 1: invalid username or password", CredentialsError, "credentials"),
        ("sendsms", 200, "خطا: شماره فرستنده غیرفعال است", RejectedError, "inactive_sender"),
        ("sendsms", 200, "Error: daily limit reached", RejectedError, "daily_limit"),
        ("sendsms", 200, "Error 5: internal error, try later", RetryableError, None),
        ("sendsms", 200, "Error", AmbiguousError, None),
        ("sendsms", 200, "garbage with a password in it", AmbiguousError, None),
        ("sendsms", 200, "ok", AmbiguousError, None),
        ("getcredit", 200, "garbage", RetryableError, None),
        (
            "sendsms",
            200,
            '{"meta": {"status": 200, "message": "success"}, "data": [1]}',
            AmbiguousError,
            None,
        ),
        (
            "sendsms",
            200,
            '{"meta": {"status": 1006, "message": "x"}, "data": null}',
            RejectedError,
            "out_of_credit",
        ),
        ("sendsms", 200, '{"meta": {"status": 1004, "message": "x"}, "data": null}', RetryableError, None),
        (
            "sendsms",
            401,
            '{"meta": {"status": 1008, "message": "x"}, "data": null}',
            CredentialsError,
            "credentials",
        ),
        ("sendsms", 406, "<html><body>Not Acceptable</body></html>", RejectedError, "refused"),
        (
            "sendsms",
            406,
            '{"meta": {"status": 1010, "message": "x"}, "data": null}',
            RejectedError,
            "invalid_destination",
        ),
        ("sendsms", 301, "", RetryableError, None),
    ],
)
def test_given_an_answer_that_is_not_a_success_when_classified_then_the_error_says_what_to_do(
    method, status, body, error, reason
):
    classified = classify_answer(method, status, body)

    assert type(classified) is error
    assert getattr(classified, "reason", None) == reason
    assert classified.http_status == status
    assert classified.method == method
    assert classified.body_excerpt == body.strip()[:EXCERPT_LIMIT]


def test_given_an_error_text_longer_than_a_message_when_sent_to_sendsms_then_unreadable_and_ambiguous():
    page = "Error: invalid password. " + "stack frame " * 40

    assert isinstance(classify_answer("sendsms", 200, page), AmbiguousError)
    assert isinstance(classify_answer("sendsms", 200, page[: _parse.ERROR_TEXT_LIMIT]), CredentialsError)


# --- refused destinations named by the provider ---------------------------------------------------

V2_INVALIDS = (
    '{"meta": {"status": 1010, "message": "destination list invalid"},'
    ' "data": {"Invalids": ["09121111111", "+98 912 222 2222", "12345"]}}'
)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (406, V2_INVALIDS),
        (406, '{"data": {"invalids": ["09121111111", "+98 912 222 2222", "12345"]}}'),
        (406, '{"invalid": ["09121111111", "989122222222", "12345"]}'),
        (406, '["09121111111", "989122222222", "12345"]'),
        (406, '{"meta": {"status": 1010}, "data": ["09121111111", "989122222222", "12345"]}'),
        (400, '{"status": "Error", "Invalids": "09121111111,989122222222,12345"}'),
        (200, '{"meta": {"status": 1010}, "data": ["09121111111", 989122222222, "12345"]}'),
        (500, '{"message": "x", "INVALIDS": ["09121111111", "989122222222", "12345"]}'),
    ],
)
def test_given_a_refusal_listing_invalid_destinations_when_classified_then_they_are_named_normalised(
    status, body
):
    classified = classify_answer("sendsms", status, body)

    assert type(classified) is RejectedError
    assert classified.reason == "invalid_destination"
    assert classified.destinations == ("989121111111", "989122222222", "12345")
    assert "989122222222" in str(classified)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, "[2456544, 2456545]"),  # a success shape is never read as names
        (200, '{"status": "Error", "message": "invalid destination"}'),
        (400, '{"status": "Bad Request", "message": "invalid destination number: +98912"}'),
        (406, '{"meta": {"status": 1010}, "data": {"Invalids": []}}'),
    ],
)
def test_given_a_refusal_naming_no_destination_when_classified_then_destinations_are_empty(status, body):
    classified = classify_answer("sendsms", status, body)

    assert getattr(classified, "destinations", ()) == ()


def test_given_a_named_destination_echoing_the_password_when_classified_then_it_is_scrubbed():
    classified = classify_answer("sendsms", 406, '{"Invalids": ["Q7-secret", "09121111111"]}', ["Q7-secret"])

    assert isinstance(classified, RejectedError)
    assert classified.destinations == ("***", "989121111111")
    assert "Q7-secret" not in repr(classified)


def test_given_a_huge_list_of_invalids_when_classified_then_the_names_are_bounded():
    body = '{"Invalids": [' + ",".join(f'"0912{n:07d}"' for n in range(500)) + "]}"

    classified = classify_answer("sendsms", 406, body)

    assert isinstance(classified, RejectedError)
    assert len(classified.destinations) == 100
    assert classified.destinations[0] == "989120000000"


@pytest.mark.parametrize(
    "error",
    [
        RejectedError(
            "refused",
            method="sendsms",
            reason="invalid_destination",
            http_status=406,
            body_excerpt="{}",
            destinations=("989121111111", "12345"),
        ),
        CredentialsError("bad", method="getcredit", http_status=401, body_excerpt="x"),
        AmbiguousError("lost", method="sendsms", http_status=502),
        RetryableError("down", method="msgstatus"),
    ],
)
def test_given_an_error_when_pickled_then_every_attribute_survives(error):
    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is type(error)
    assert repr(copy) == repr(error)
    assert str(copy) == str(error)


def test_given_a_rejected_error_without_names_then_destinations_default_to_empty():
    error = RejectedError("no", method="sendsms", reason="validation")

    assert error.destinations == ()
    assert "destinations=()" in repr(error)


def test_given_an_answer_echoing_the_password_when_classified_then_the_excerpt_is_scrubbed():
    classified = classify_answer(
        "sendsms", 400, '{"message": "bad password Q7-secret for user x"}', ["Q7-secret"]
    )

    assert "Q7-secret" not in classified.body_excerpt
    assert "Q7-secret" not in str(classified)
    assert isinstance(classified, CredentialsError)


def test_given_a_v2_error_echoing_a_password_with_a_quote_then_no_part_of_it_survives():
    password = 'ab"SECRET\\TAIL'  # a quote and a backslash: JSON escapes both
    request = json.dumps({"username": "u", "password": password, "source": "98300012345"})
    echoed = '{"meta": {"status": 1008, "message": "bad input"}, "data": ' + request + "}"

    error = classify_answer("sendsms", 400, echoed, (password,))

    assert "SECRET" not in error.body_excerpt and "TAIL" not in error.body_excerpt
    assert "SECRET" not in str(error)
