"""AsanakClient against the Asanak sandbox over real HTTP: formats, methods, batching and every error."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from decimal import Decimal

import pytest
import urllib3
from asanak.batching import MAX_BATCH
from asanak.client import AsanakClient, chunked
from asanak.errors import (
    AmbiguousError,
    AsanakError,
    BlockedError,
    CredentialsError,
    RejectedError,
    RetryableError,
)
from asanak_sandbox import AsanakSandbox, Fault

SENDER = "982164063188"
MOBILE = "09121234567"
ACCEPTS = ["text/html", "application/json", "text/xml", "application/xhtml", ""]
HTTP_METHODS = ["POST", "GET"]
PERSIAN = "سلام دنیا! کد شما: ۱۲۳۴ — 100% & a+b=c?"


@pytest.fixture
def client(sandbox: AsanakSandbox) -> Iterator[AsanakClient]:
    with AsanakClient(sandbox.base_url, "user", "pass", read_timeout=2.0) as made:
        yield made


def numbers(count: int) -> list[str]:
    return [f"0912{n:07d}" for n in range(count)]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- every method, every format, GET and POST ---------------------------------------------------------


@pytest.mark.parametrize("http_method", HTTP_METHODS)
@pytest.mark.parametrize("accept", ACCEPTS)
def test_given_any_accept_format_and_http_method_when_sending_then_one_msgid_per_destination_in_order(
    sandbox, accept, http_method
):
    client = AsanakClient(sandbox.base_url, "user", "pass", http_method=http_method, accept=accept)

    msgids = client.send_sms(SENDER, ["09121111111", "989122222222", "02188776655"], "hello")

    assert msgids == [sms.msgid for sms in sandbox.sent]
    assert [sms.destination for sms in sandbox.sent] == ["989121111111", "989122222222", "982188776655"]
    assert all(isinstance(msgid, str) and msgid.isdigit() for msgid in msgids)
    assert [(call.method, call.http_method, call.status) for call in sandbox.calls] == [
        ("sendsms", http_method, 200)
    ]


@pytest.mark.parametrize("http_method", HTTP_METHODS)
@pytest.mark.parametrize("accept", ACCEPTS)
def test_given_any_accept_format_and_http_method_when_asking_status_then_codes_and_utc_times(
    sandbox, accept, http_method
):
    client = AsanakClient(sandbox.base_url, "user", "pass", http_method=http_method, accept=accept)
    [delivered, queued] = client.send_sms(SENDER, ["09121111111", "09122222222"], "hello")
    sandbox.script("09122222222", [(0, 1)])
    sandbox.clock.advance(31)

    statuses = client.msg_status([delivered, queued, "1"])

    assert [(s.msgid, s.code) for s in statuses] == [(delivered, 6), (queued, 1), ("1", -1)]
    sent_at = sandbox.sent[0].accepted_at
    assert statuses[0].send_time == sent_at.replace(microsecond=0)
    assert statuses[0].deliver_time is not None
    assert statuses[0].deliver_time.utcoffset().total_seconds() == 0
    assert statuses[0].info.outcome == "delivered"
    assert statuses[1].deliver_time is None
    assert statuses[1].deliver_time_raw == ""
    assert statuses[2].info.name == "NotFound"
    assert sandbox.calls[-1].http_method == http_method
    assert sandbox.calls[-1].count == 3


@pytest.mark.parametrize("http_method", HTTP_METHODS)
@pytest.mark.parametrize("accept", ACCEPTS)
def test_given_any_accept_format_and_http_method_when_asking_credit_then_the_remaining_credit(
    sandbox, accept, http_method
):
    client = AsanakClient(sandbox.base_url, "user", "pass", http_method=http_method, accept=accept)
    client.send_sms(SENDER, [MOBILE], "x" * 161)  # two parts

    assert client.get_credit() == Decimal("998")
    assert sandbox.calls[-1].http_method == http_method


@pytest.mark.parametrize("http_method", HTTP_METHODS)
def test_given_persian_text_when_sent_then_it_arrives_intact_at_the_provider(sandbox, http_method):
    client = AsanakClient(sandbox.base_url, "user", "pass", http_method=http_method)

    client.send_sms(SENDER, [MOBILE], PERSIAN)

    assert [sms.text for sms in sandbox.sent] == [PERSIAN]
    assert sandbox.sent[0].parts == 1


def test_given_a_status_timeline_when_time_passes_then_msg_status_follows_it(sandbox, client):
    [msgid] = client.send_sms(SENDER, [MOBILE], "hi")
    seen = []
    for seconds in (0, 6, 10, 30):
        sandbox.clock.advance(seconds)
        [status] = client.msg_status([msgid])
        seen.append(status.code)

    assert seen == [1, 2, 9, 6]


# --- batching -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("total", "sizes"), [(100, [100]), (101, [100, 1]), (250, [100, 100, 50]), (0, [])])
def test_given_a_list_when_chunked_then_batches_of_at_most_100_in_order(total, sizes):
    items = list(range(total))

    batches = list(chunked(items))

    assert [len(batch) for batch in batches] == sizes
    assert [item for batch in batches for item in batch] == items
    assert MAX_BATCH == 100


def test_given_a_chunk_size_below_one_when_chunking_then_value_error():
    with pytest.raises(ValueError, match="size"):
        list(chunked([1, 2], 0))


def test_given_250_destinations_when_sent_in_chunks_then_three_calls_and_msgids_in_destination_order(
    sandbox, client
):
    destinations = numbers(250)

    msgids = [msgid for batch in chunked(destinations) for msgid in client.send_sms(SENDER, batch, "bulk")]

    assert [call.count for call in sandbox.calls] == [100, 100, 50]
    assert msgids == [sms.msgid for sms in sandbox.sent]
    assert [sms.destination for sms in sandbox.sent] == ["98" + number[1:] for number in destinations]
    statuses = [s for batch in chunked(msgids) for s in client.msg_status(batch)]
    assert [s.msgid for s in statuses] == msgids


@pytest.mark.parametrize("count", [0, 101])
def test_given_0_or_more_than_100_destinations_when_sending_then_value_error_and_no_request(
    sandbox, client, count
):
    with pytest.raises(ValueError, match="destinations"):
        client.send_sms(SENDER, numbers(count), "hi")

    assert sandbox.calls == []


def test_given_more_than_100_msgids_when_asking_status_then_value_error_and_no_request(sandbox, client):
    with pytest.raises(ValueError, match="msgids"):
        client.msg_status([str(n) for n in range(1, 102)])

    assert client.msg_status([]) == []
    assert sandbox.calls == []


def test_given_a_single_string_instead_of_a_list_when_sending_then_type_error(sandbox, client):
    with pytest.raises(TypeError):
        client.send_sms(SENDER, MOBILE, "hi")
    with pytest.raises(ValueError, match="destination"):
        client.send_sms(SENDER, ["0912,0913"], "hi")

    assert sandbox.calls == []


# --- errors: provider answers -----------------------------------------------------------------------


READ_METHODS = ["msgstatus", "getcredit"]
RETRYABLE_FAULTS = [
    *[("http_503", 503, "Service Unavailable", method) for method in ["sendsms", *READ_METHODS]],
    *[("http_429", 429, "rate limit", method) for method in ["sendsms", *READ_METHODS]],
    # A 500 is retryable only for the read-only methods: to sendsms it is ambiguous (below).
    *[("http_500", 500, "Internal Server Error", method) for method in READ_METHODS],
    *[("internal_error", 500, "internal error", method) for method in READ_METHODS],
]


@pytest.mark.parametrize(("kind", "status", "fragment", "method"), RETRYABLE_FAULTS)
def test_given_a_provider_failure_when_calling_then_retryable_with_status_and_body(
    sandbox, client, kind, status, fragment, method
):
    sandbox.inject(Fault(kind, method=method))

    with pytest.raises(RetryableError) as caught:
        call(client, method)

    assert caught.value.http_status == status
    assert caught.value.method == method
    assert fragment in caught.value.body_excerpt
    assert sandbox.sent == []


@pytest.mark.parametrize(
    ("kind", "status", "acted"),
    [
        ("http_500", 500, False),
        ("internal_error", 500, False),
        ("accept_then_500", 500, True),
        ("accept_then_502", 502, True),
    ],
)
def test_given_a_500_or_502_to_sendsms_without_a_refusal_when_sending_then_ambiguous_never_retryable(
    sandbox, client, kind, status, acted
):
    sandbox.inject(Fault(kind, method="sendsms"))

    with pytest.raises(AmbiguousError) as caught:
        client.send_sms(SENDER, [MOBILE], "hi")

    assert not isinstance(caught.value, RetryableError)
    assert caught.value.http_status == status
    assert caught.value.method == "sendsms"
    assert [sms.destination for sms in sandbox.sent] == (["989121234567"] if acted else [])


def call(client: AsanakClient, method: str) -> object:
    if method == "sendsms":
        return client.send_sms(SENDER, [MOBILE], "hi")
    if method == "msgstatus":
        return client.msg_status(["1234567"])
    return client.get_credit()


@pytest.mark.parametrize("method", ["sendsms", "msgstatus", "getcredit"])
def test_given_the_firewall_blocks_our_ip_when_calling_then_blocked_error_not_credentials(
    sandbox, client, method
):
    sandbox.inject(Fault("blocked_403"))

    with pytest.raises(BlockedError) as caught:
        call(client, method)

    assert not isinstance(caught.value, CredentialsError)
    assert caught.value.http_status == 403
    assert "Access denied" in caught.value.body_excerpt


@pytest.mark.parametrize("method", ["sendsms", "msgstatus", "getcredit"])
def test_given_bad_credentials_when_calling_then_credentials_error_with_401(sandbox, method):
    client = AsanakClient(sandbox.base_url, "user", "wrong-password")

    with pytest.raises(CredentialsError) as caught:
        call(client, method)

    assert caught.value.reason == "credentials"
    assert caught.value.http_status == 401
    assert "Unauthorized" in caught.value.body_excerpt
    assert sandbox.sent == []
    assert [c.status for c in sandbox.calls] == [401]


def test_given_rotated_credentials_when_the_client_uses_the_new_ones_then_it_works_again(sandbox, client):
    sandbox.set_credentials("user", "rotated")

    with pytest.raises(CredentialsError):
        client.get_credit()
    assert AsanakClient(sandbox.base_url, "user", "rotated").get_credit() == Decimal("1000")


def test_given_an_error_object_with_http_200_when_sending_then_rejected_as_refused(sandbox, client):
    sandbox.inject(Fault("error_object", method="sendsms"))

    with pytest.raises(RejectedError) as caught:
        client.send_sms(SENDER, [MOBILE], "hi")

    assert type(caught.value) is RejectedError
    assert caught.value.reason == "refused"
    assert caught.value.http_status == 200
    assert '"status": "Error"' in caught.value.body_excerpt


@pytest.mark.parametrize(
    ("message", "error", "reason"),
    [
        ("اعتبار حساب شما کافی نیست", RejectedError, "out_of_credit"),
        ("Daily sending limit reached", RejectedError, "daily_limit"),
        ("شماره فرستنده غیرفعال است", RejectedError, "inactive_sender"),
        ("invalid recipient", RejectedError, "invalid_destination"),
        ("نام کاربری یا رمز عبور اشتباه است", CredentialsError, "credentials"),
        ("Password expired", CredentialsError, "credentials"),
        ("Internal error, try later", RetryableError, None),
    ],
)
def test_given_an_error_object_with_http_200_when_sending_then_classified_from_its_text(
    sandbox, client, message, error, reason
):
    sandbox.inject(Fault("error_object", message=message))

    with pytest.raises(AsanakError) as caught:
        client.send_sms(SENDER, [MOBILE], "hi")

    assert type(caught.value) is error
    assert getattr(caught.value, "reason", None) == reason
    assert caught.value.http_status == 200


@pytest.mark.parametrize("method", ["sendsms", "msgstatus", "getcredit"])
def test_given_an_error_text_in_a_200_body_when_calling_then_classified_by_its_content_not_unreadable(
    sandbox, client, method
):
    sandbox.inject(Fault("error_text_200", method=method))

    with pytest.raises(CredentialsError) as caught:
        call(client, method)

    assert caught.value.http_status == 200
    assert caught.value.body_excerpt.startswith("Error 1: invalid username or ")  # "pass" is scrubbed
    assert sandbox.sent == []


@pytest.mark.parametrize(
    ("message", "error", "reason"),
    [
        ("خطا: اعتبار کافی نیست", RejectedError, "out_of_credit"),
        ("ERROR 12: daily limit reached", RejectedError, "daily_limit"),
        ("Error 7: invalid destination", RejectedError, "invalid_destination"),
        ("Error 3: internal error", RetryableError, None),
        ("Error", AmbiguousError, None),
        ("something went sideways", AmbiguousError, None),
    ],
)
def test_given_a_plain_text_200_when_sending_then_a_named_reason_is_a_refusal_and_anything_else_ambiguous(
    sandbox, client, message, error, reason
):
    sandbox.inject(Fault("error_text_200", method="sendsms", message=message))

    with pytest.raises(AsanakError) as caught:
        client.send_sms(SENDER, [MOBILE], "hi")

    assert type(caught.value) is error
    assert getattr(caught.value, "reason", None) == reason


def test_given_named_refused_destinations_when_sending_then_rejected_naming_only_them_in_98_form(
    sandbox, client
):
    sandbox.refuse_destinations(["09120000001", "989120000003"], named=True)

    with pytest.raises(RejectedError) as caught:
        client.send_sms(SENDER, ["09120000001", MOBILE, "09120000003"], "hi")

    assert type(caught.value) is RejectedError
    assert caught.value.reason == "invalid_destination"
    assert caught.value.http_status == 406
    assert caught.value.destinations == ("989120000001", "989120000003")
    assert sandbox.sent == []


def test_given_an_unnamed_refused_destination_when_sending_then_rejected_without_names(sandbox, client):
    sandbox.refuse_destinations(["09120000001"], named=False)

    with pytest.raises(RejectedError) as caught:
        client.send_sms(SENDER, [MOBILE, "09120000001"], "hi")

    assert caught.value.reason == "invalid_destination"
    assert caught.value.http_status == 400
    assert caught.value.destinations == ()
    assert sandbox.sent == []


def test_given_an_unknown_sender_when_sending_then_rejected_inactive_sender(sandbox, client):
    with pytest.raises(RejectedError) as caught:
        client.send_sms("98999999999", [MOBILE], "hi")

    assert caught.value.reason == "inactive_sender"
    assert caught.value.http_status == 400
    assert "98999999999" in caught.value.body_excerpt


def test_given_no_credit_left_when_sending_then_rejected_out_of_credit(sandbox, client):
    sandbox.credit = Decimal(0)

    with pytest.raises(RejectedError) as caught:
        client.send_sms(SENDER, [MOBILE], "hi")

    assert caught.value.reason == "out_of_credit"
    assert caught.value.http_status == 400
    assert "credit" in caught.value.body_excerpt


def test_given_an_invalid_destination_when_sending_then_rejected_invalid_destination(sandbox, client):
    with pytest.raises(RejectedError) as caught:
        client.send_sms(SENDER, ["+989121234567"], "hi")

    assert caught.value.reason == "invalid_destination"
    assert caught.value.http_status == 400
    assert sandbox.sent == []


def test_given_an_empty_message_when_sending_then_rejected_as_validation(sandbox, client):
    with pytest.raises(RejectedError) as caught:
        client.send_sms(SENDER, [MOBILE], "")

    assert caught.value.reason == "validation"


def test_given_fewer_msgids_than_destinations_when_sending_then_ambiguous(sandbox, client):
    sandbox.inject(Fault("missing_msgid"))

    with pytest.raises(AmbiguousError, match="1 msgids for 2 destinations") as caught:
        client.send_sms(SENDER, ["09121111111", "09122222222"], "hi")

    assert caught.value.http_status == 200
    assert len(sandbox.sent) == 2


def test_given_an_unreadable_200_when_sending_then_ambiguous(sandbox, client):
    sandbox.inject(Fault("html_200"))

    with pytest.raises(AmbiguousError) as caught:
        client.send_sms(SENDER, [MOBILE], "hi")

    assert caught.value.http_status == 200
    assert "maintenance" in caught.value.body_excerpt


@pytest.mark.parametrize("method", ["msgstatus", "getcredit"])
def test_given_an_unreadable_200_when_reading_then_retryable(sandbox, client, method):
    sandbox.inject(Fault("html_200"))

    with pytest.raises(RetryableError) as caught:
        call(client, method)

    assert caught.value.http_status == 200


# --- errors: the connection -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sendsms", "msgstatus", "getcredit"])
def test_given_nothing_listens_when_calling_then_retryable_without_http_status(method):
    client = AsanakClient(f"http://127.0.0.1:{closed_port()}/webservice/v1rest", "user", "pass")

    with pytest.raises(RetryableError) as caught:
        call(client, method)

    assert caught.value.http_status is None
    assert caught.value.body_excerpt == ""
    assert "could not connect" in str(caught.value)


@pytest.mark.parametrize("method", ["msgstatus", "getcredit"])
def test_given_the_connection_is_reset_when_reading_then_retryable(sandbox, client, method):
    sandbox.inject(Fault("reset"))

    with pytest.raises(RetryableError) as caught:
        call(client, method)

    assert caught.value.http_status is None
    assert [c.status for c in sandbox.calls] == [0]


def test_given_the_connection_is_reset_after_sendsms_was_sent_then_ambiguous_as_the_client_cannot_tell(
    sandbox, client
):
    sandbox.inject(Fault("reset", method="sendsms"))

    with pytest.raises(AmbiguousError):
        client.send_sms(SENDER, [MOBILE], "hi")

    assert sandbox.sent == []  # this time the provider had not acted, but the client cannot know that


def test_given_the_provider_accepts_but_answers_after_the_read_timeout_then_ambiguous_and_sms_recorded(
    sandbox,
):
    client = AsanakClient(sandbox.base_url, "user", "pass", read_timeout=0.3)
    sandbox.inject(Fault("slow_after_accept", method="sendsms", delay=1.0))

    with pytest.raises(AmbiguousError) as caught:
        client.send_sms(SENDER, [MOBILE], "hi")

    assert caught.value.http_status is None
    assert [sms.destination for sms in sandbox.sent] == ["989121234567"]


@pytest.mark.parametrize("method", ["msgstatus", "getcredit"])
def test_given_a_read_slower_than_the_timeout_when_reading_then_retryable(sandbox, method):
    client = AsanakClient(sandbox.base_url, "user", "pass", read_timeout=0.3)
    sandbox.inject(Fault("slow_after_accept", delay=1.0))

    with pytest.raises(RetryableError):
        call(client, method)


def test_given_a_failure_then_the_next_call_on_the_same_client_succeeds(sandbox, client):
    sandbox.inject(Fault("reset", method="getcredit"))
    with pytest.raises(RetryableError):
        client.get_credit()

    assert client.get_credit() == Decimal("1000")


def test_given_a_shared_pool_when_the_client_closes_then_the_pool_stays_usable(sandbox):
    pool = urllib3.PoolManager()
    client = AsanakClient(sandbox.base_url, "user", "pass", pool=pool)
    client.get_credit()

    client.close()

    assert AsanakClient(sandbox.base_url, "user", "pass", pool=pool).get_credit() == Decimal("1000")


@pytest.mark.parametrize(
    "kwargs",
    [{"http_method": "PUT"}, {"password": ""}],
)
def test_given_a_bad_configuration_when_building_a_client_then_value_error(kwargs):
    arguments = {"base_url": "https://panel.asanak.com/webservice/v1rest", "username": "u", "password": "p"}
    arguments.update(kwargs)

    with pytest.raises(ValueError):
        AsanakClient(**arguments)


@pytest.mark.parametrize(
    "base_url", ["panel.asanak.com/webservice/v1rest", "https://u:p@panel.asanak.com/webservice/v1rest"]
)
def test_given_a_base_url_without_scheme_or_with_credentials_when_building_a_client_then_value_error(
    base_url,
):
    with pytest.raises(ValueError, match="base_url"):
        AsanakClient(base_url, "u", "p")


def test_given_msgids_that_are_not_ascii_digits_when_asking_status_then_value_error_and_no_request(
    sandbox, client
):
    for bad in (["۱۲۳"], ["12a"], [""]):
        with pytest.raises(ValueError, match="msgid"):
            client.msg_status(bad)

    assert sandbox.calls == []


# --- the password never leaks -------------------------------------------------------------------------


@pytest.mark.parametrize("http_method", HTTP_METHODS)
def test_given_failures_of_every_kind_then_the_password_is_in_no_error_log_record_or_repr(
    sandbox, http_method, caplog
):
    password = "Zx9!s3cret pass/word"
    sandbox.set_credentials("user", password)
    client = AsanakClient(sandbox.base_url, "user", password, http_method=http_method, read_timeout=0.3)
    echoes = [
        f"bad request: username=user&password={password}",
        f'{{"password": "{password}"}} was refused',
        f"password {password} expired",
    ]
    for message in echoes:
        sandbox.inject(Fault("error_object", message=message))
    for kind in ("reset", "http_503", "blocked_403", "internal_error", "html_200"):
        sandbox.inject(Fault(kind))
    sandbox.inject(Fault("slow_after_accept", delay=1.0))
    caplog.set_level(logging.DEBUG)

    errors: list[AsanakError] = []
    for _ in range(len(echoes) + 6):
        with pytest.raises(AsanakError) as caught:
            client.send_sms(SENDER, [MOBILE], "hi")
        errors.append(caught.value)
    wrong = AsanakClient(sandbox.base_url, "user", password + "-old", http_method=http_method)
    with pytest.raises(CredentialsError) as caught:
        wrong.get_credit()
    errors.append(caught.value)
    unreachable = AsanakClient(f"http://127.0.0.1:{closed_port()}", "user", password, http_method=http_method)
    with pytest.raises(RetryableError) as caught:
        unreachable.get_credit()
    errors.append(caught.value)

    assert len({type(error) for error in errors}) >= 4
    for error in errors:
        for text in (str(error), repr(error), repr(error.args), error.body_excerpt):
            assert "Zx9" not in text
        assert error.__cause__ is None
        assert error.__context__ is None
    assert caplog.records  # urllib3 and the client did log at DEBUG
    for record in caplog.records:
        assert "Zx9" not in record.getMessage()
        assert "Zx9" not in repr(record.args)
    assert "Zx9" not in repr(client)
    assert "Zx9" not in str(client)
