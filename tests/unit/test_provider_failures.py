"""The one classifier of provider failures: every row of its table, from the HTTP answer to the kind."""

from __future__ import annotations

import pytest
from asanak.client import classify_answer
from asanak.errors import AmbiguousError, AsanakError, RetryableError
from sms_gateway.adapters.asanak_provider import classify
from sms_gateway.domain.provider_failures import FailureKind

HTML_403 = "<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body>denied</body></html>"
V2_INVALIDS = (
    '{"meta": {"status": 1010, "message": "destination list invalid"},'
    ' "data": {"Invalids": ["09121111111", "+989122222222"]}}'
)


def v2_error(code: int) -> str:
    """A v2rest numbered error envelope (asanak-api.md, section 7)."""
    return f'{{"meta": {{"status": {code}, "message": "error {code}"}}, "data": null}}'


def answer(method: str, status: int, body: str = "") -> AsanakError:
    return classify_answer(method, status, body)


@pytest.mark.parametrize(
    "error",
    [
        RetryableError("could not connect: NewConnectionError", method="sendsms"),
        answer("sendsms", 429),
        answer("sendsms", 503, "<html><body>503 Service Unavailable</body></html>"),
        answer("sendsms", 301),
        answer("msgstatus", 500, "<html><body>500</body></html>"),
        answer("getcredit", 502),
        answer("msgstatus", 504),
        answer("msgstatus", 200, "<html><body>maintenance</body></html>"),
        answer("sendsms", 400, '{"message": "internal error, try later"}'),
        answer("sendsms", 200, "Error 5: internal server error"),
        answer("sendsms", 200, v2_error(1004)),
        answer("msgstatus", 429, v2_error(429)),
    ],
    ids=repr,
)
def test_given_nothing_was_done_and_it_may_work_later_then_unavailable_and_retried(error):
    failure = classify(error)

    assert failure.kind is FailureKind.UNAVAILABLE
    assert failure.retry is True
    assert failure.metric == "ProviderError_unavailable"


@pytest.mark.parametrize("method", ["sendsms", "msgstatus", "getcredit"])
def test_given_a_403_html_page_then_blocked_and_retried(method):
    failure = classify(answer(method, 403, HTML_403))

    assert failure.kind is FailureKind.BLOCKED
    assert failure.retry is True
    assert failure.metric == "ProviderError_blocked"


@pytest.mark.parametrize(
    "error",
    [
        answer("sendsms", 401, '{"status": "Unauthorized", "message": "invalid username or password"}'),
        answer("getcredit", 403, '{"status": "Forbidden", "message": "account disabled"}'),
        answer("sendsms", 200, "Error 1: invalid username or password"),
        answer("msgstatus", 200, '{"status": "Error", "message": "password expired"}'),
        answer("sendsms", 500, '{"meta": {"status": 1015, "message": "x"}, "data": null}'),
        answer("sendsms", 401, v2_error(1008)),
    ],
    ids=repr,
)
def test_given_credentials_refused_then_credentials_and_retried(error):
    failure = classify(error)

    assert failure.kind is FailureKind.CREDENTIALS
    assert failure.reason == "credentials"
    assert failure.retry is True
    assert failure.metric == "ProviderError_credentials"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (answer("sendsms", 400, '{"message": "insufficient credit"}'), "out_of_credit"),
        (answer("sendsms", 400, '{"message": "source 98999 is not an active sender"}'), "inactive_sender"),
        (answer("sendsms", 500, '{"status": "Error", "message": "موجودی کافی نیست"}'), "out_of_credit"),
        (answer("getcredit", 200, "خطا: شماره فرستنده غیرفعال است"), "inactive_sender"),
        (answer("sendsms", 400, v2_error(1002)), "inactive_sender"),
        (answer("sendsms", 400, v2_error(1005)), "out_of_credit"),
        (answer("sendsms", 400, v2_error(1006)), "out_of_credit"),
    ],
    ids=repr,
)
def test_given_a_refusal_an_operator_fixes_then_account_and_retried(error, reason):
    failure = classify(error)

    assert failure.kind is FailureKind.ACCOUNT
    assert failure.reason == reason
    assert failure.retry is True
    assert failure.metric == "ProviderError_account"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (answer("sendsms", 200, '{"status": "Error", "message": "Daily limit reached"}'), "daily_limit"),
        (answer("sendsms", 200, v2_error(1009)), "daily_limit"),
        (answer("sendsms", 400, v2_error(1013)), "outside_hours"),
    ],
    ids=repr,
)
def test_given_not_now_then_deferred_neither_retried_nor_rejected(error, reason):
    failure = classify(error)

    assert failure.kind is FailureKind.DEFERRED
    assert failure.reason == reason
    assert failure.retry is False  # not pushed toward the DLQ by SQS retries: it waits for its window
    assert failure.metric == "ProviderError_deferred"


@pytest.mark.parametrize(
    ("error", "reason", "destinations"),
    [
        (answer("sendsms", 400, '{"message": "message is required"}'), "validation", ()),
        (answer("sendsms", 400, '{"message": "invalid destination"}'), "invalid_destination", ()),
        (answer("sendsms", 406, V2_INVALIDS), "invalid_destination", ("989121111111", "989122222222")),
        (answer("sendsms", 400, v2_error(1001)), "invalid_template", ()),
        (answer("sendsms", 200, '{"status": "Error", "message": "whatever"}'), "refused", ()),
        (answer("sendsms", 200, "Error 7: invalid recipient"), "invalid_destination", ()),
        (answer("sendsms", 502, '{"Invalids": ["09121111111"]}'), "invalid_destination", ("989121111111",)),
    ],
    ids=repr,
)
def test_given_the_request_was_refused_then_rejected_with_the_named_destinations_and_not_retried(
    error, reason, destinations
):
    failure = classify(error)

    assert failure.kind is FailureKind.REJECTED
    assert failure.reason == reason
    assert failure.destinations == destinations
    assert failure.retry is False
    assert failure.metric == "ProviderError_rejected"


class FutureAsanakError(AsanakError):
    """An error class the classifier does not know yet."""


@pytest.mark.parametrize(
    "error",
    [
        AmbiguousError("request sent but no answer: ReadTimeoutError", method="sendsms"),
        answer("sendsms", 500, '{"message": "Server Error"}'),
        answer("sendsms", 500, '{"status": "Internal Server Error", "message": "internal error"}'),
        answer("sendsms", 502, "<html><body>502 Bad Gateway</body></html>"),
        answer("sendsms", 504),
        answer("sendsms", 200, "<html><body>Down for maintenance</body></html>"),
        answer("sendsms", 200, "Error"),
        answer("sendsms", 200, "garbage"),
        AmbiguousError("provider answered 1 msgids for 2 destinations", method="sendsms", http_status=200),
        FutureAsanakError("new", method="sendsms"),
    ],
    ids=repr,
)
def test_given_sendsms_may_have_been_acted_on_then_ambiguous_and_never_sent_again(error):
    failure = classify(error)

    assert failure.kind is FailureKind.AMBIGUOUS
    assert failure.retry is False
    assert failure.metric == "ProviderError_ambiguous"


@pytest.mark.parametrize("error", [KeyError("password"), RuntimeError("secret unreadable")], ids=repr)
def test_given_a_failure_that_is_not_a_provider_answer_then_internal_and_retried(error):
    failure = classify(error)

    assert failure.kind is FailureKind.INTERNAL
    assert failure.error is error
    assert failure.retry is True
    assert failure.metric == "ProviderError_internal"
