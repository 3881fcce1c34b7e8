"""The client on v2rest: the same interface as on v1rest, chosen by the base URL alone, against the
sandbox's v2rest (JSON bodies, the ``meta``/``data`` envelope, numbered errors)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from asanak.client import API_V1, API_V2, AsanakClient, P2PMessage
from asanak.errors import AmbiguousError, AsanakError, CredentialsError, RejectedError, RetryableError
from asanak_sandbox import AsanakSandbox, Fault

SENDER = "982164063188"


@pytest.fixture
def client(sandbox: AsanakSandbox) -> Iterator[AsanakClient]:
    with AsanakClient(sandbox.base_url_v2, "user", "pass", read_timeout=2.0) as made:
        yield made


def v2_calls(sandbox: AsanakSandbox) -> list[tuple[str, int]]:
    return [(call.method, call.status) for call in sandbox.calls if call.api == "v2rest"]


def test_given_a_v2rest_base_url_then_the_client_speaks_v2rest_and_a_v1rest_one_v1rest(sandbox):
    assert AsanakClient(sandbox.base_url_v2, "user", "pass").api == API_V2
    assert AsanakClient(sandbox.base_url_v2 + "/", "user", "pass").api == API_V2
    assert AsanakClient(sandbox.base_url, "user", "pass").api == API_V1


def test_given_recipients_when_sent_on_v2rest_then_one_msgid_each_and_statuses_follow(sandbox, client):
    msgids = client.send_sms(SENDER, ["989121234567", "989351234567"], "سلام")

    assert len(msgids) == 2 and all(msgid.isdigit() for msgid in msgids)
    assert [sms.destination for sms in sandbox.sent] == ["989121234567", "989351234567"]
    sandbox.clock.advance(30)
    assert {status.msgid: status.code for status in client.msg_status(msgids)} == dict.fromkeys(msgids, 6)
    assert v2_calls(sandbox) == [("sendsms", 200), ("msgstatus", 200)]


def test_given_an_account_then_credit_is_read_in_messages_and_in_rials(sandbox, client):
    sandbox.credit = Decimal(250)

    assert client.get_credit() == Decimal(250)
    assert client.get_rial_credit() == Decimal(250_000)


def test_given_v1rest_when_asked_for_rial_credit_then_a_clear_error_and_no_request(sandbox):
    v1 = AsanakClient(sandbox.base_url, "user", "pass")

    with pytest.raises(ValueError, match="v2rest"):
        v1.get_rial_credit()
    assert sandbox.calls == []


def test_given_v2rest_then_get_is_refused_before_any_request(sandbox):
    with pytest.raises(ValueError, match="POST"):
        AsanakClient(sandbox.base_url_v2, "user", "pass", http_method="GET")


def test_given_invalid_destinations_then_a_1010_names_them_and_nothing_is_sent(sandbox, client):
    sandbox.refuse_destinations(["989351234567"], named=True)

    with pytest.raises(RejectedError) as refused:
        client.send_sms(SENDER, ["989121234567", "989351234567", "12345"], "hi")

    assert refused.value.reason == "invalid_destination"
    assert set(refused.value.destinations) == {"989351234567", "12345"}
    assert refused.value.http_status == 406
    assert sandbox.sent == []


def test_given_wrong_credentials_then_a_credentials_error_without_the_password(sandbox):
    wrong = AsanakClient(sandbox.base_url_v2, "user", "s3cret-wrong")

    with pytest.raises(CredentialsError) as refused:
        wrong.send_sms(SENDER, ["989121234567"], "hi")

    assert refused.value.http_status == 401
    assert "s3cret-wrong" not in str(refused.value) and "s3cret-wrong" not in repr(refused.value)


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda sandbox: setattr(sandbox, "credit", Decimal(0)), "out_of_credit"),
        (None, "inactive_sender"),
    ],
    ids=["1006 credit", "1002 sender"],
)
def test_given_an_account_refusal_then_its_reason_and_nothing_sent(sandbox, client, setup, reason):
    sender = SENDER
    if setup is None:
        sender = "989999999999"  # not a sender of the account
    else:
        setup(sandbox)

    with pytest.raises(RejectedError) as refused:
        client.send_sms(sender, ["989121234567"], "hi")

    assert refused.value.reason == reason
    assert sandbox.sent == []


def test_given_rate_limiting_then_retryable_and_given_a_500_after_acting_then_ambiguous(sandbox, client):
    sandbox.inject(Fault("http_429", method="sendsms"))
    with pytest.raises(RetryableError):
        client.send_sms(SENDER, ["989121234567"], "hi")

    sandbox.inject(Fault("accept_then_500", method="sendsms"))
    with pytest.raises(AmbiguousError):
        client.send_sms(SENDER, ["989121234567"], "hi")
    assert len(sandbox.sent) == 1  # it was sent: the answer was lost


# -- p2psendsms: a different text per recipient, one call ------------------------------------------------
def otp(n: int) -> P2PMessage:
    return P2PMessage(SENDER, f"98912{n:07d}", f"کد شما {1000 + n}")


def test_given_distinct_texts_then_one_p2p_call_sends_each_its_own_text_with_a_msgid_each(sandbox, client):
    msgids = client.p2p_send([otp(n) for n in range(10)])

    assert len(msgids) == 10 and len(set(msgids)) == 10
    assert [(sms.msgid, sms.destination, sms.text) for sms in sandbox.sent] == [
        (msgid, f"98912{n:07d}", f"کد شما {1000 + n}") for n, msgid in enumerate(msgids)
    ]
    assert v2_calls(sandbox) == [("p2psendsms", 200)]


def test_given_a_p2p_call_naming_an_invalid_destination_then_it_is_refused_by_name(sandbox, client):
    sandbox.refuse_destinations([otp(3).destination], named=True)

    with pytest.raises(RejectedError) as refused:
        client.p2p_send([otp(n) for n in range(5)])

    assert (refused.value.reason, refused.value.destinations) == (
        "invalid_destination",
        (otp(3).destination,),
    )
    assert sandbox.sent == []


def test_given_a_p2p_answer_with_a_msgid_missing_then_ambiguous_never_a_guess(sandbox, client):
    sandbox.inject(Fault("missing_msgid", method="sendsms"))

    with pytest.raises(AmbiguousError):
        client.p2p_send([otp(n) for n in range(3)])


def test_given_v1rest_then_p2p_is_refused_before_any_request(sandbox):
    with pytest.raises(ValueError, match="v2rest"):
        AsanakClient(sandbox.base_url, "user", "pass").p2p_send([otp(1)])
    assert sandbox.calls == []


# -- approved templates --------------------------------------------------------------------------------
def test_given_an_approved_template_then_one_destination_gets_it_rendered_and_its_msgid_comes_back(
    sandbox, client
):
    msgid = client.send_template("102", "09121234567", {"order": "A-17", "name": "مریم"})

    [sms] = sandbox.sent
    assert (sms.msgid, sms.destination, sms.template_id) == (msgid, "989121234567", 102)
    assert sms.text == "سفارش A-17 برای مریم ارسال شد"
    assert v2_calls(sandbox) == [("template", 200)]


@pytest.mark.parametrize(
    ("template_id", "params", "reason"),
    [("999", {"code": "1"}, "invalid_template"), ("103", {}, "invalid_template"), ("101", {}, "validation")],
    ids=["unknown", "inactive", "missing-parameter"],
)
def test_given_a_template_asanak_refuses_then_a_rejection_with_its_reason_and_nothing_sent(
    sandbox, client, template_id, params, reason
):
    with pytest.raises(RejectedError) as refused:
        client.send_template(template_id, "09121234567", params)

    assert refused.value.reason == reason
    assert sandbox.sent == []


def test_given_the_template_list_then_ids_parameters_and_activity_are_read(sandbox, client):
    listed = {t.template_id: (t.params, t.active) for t in client.template_list()}

    assert listed == {"101": (("code",), True), "102": (("order", "name"), True), "103": ((), False)}


def test_given_v1rest_when_asked_for_templates_then_a_clear_error_and_no_request(sandbox):
    with AsanakClient(sandbox.base_url, "user", "pass") as v1:
        with pytest.raises(ValueError, match="v2rest"):
            v1.send_template("101", "09121234567", {"code": "1"})
        with pytest.raises(ValueError, match="v2rest"):
            v1.template_list()
    assert sandbox.calls == []


def test_given_free_text_from_a_template_only_line_then_accepted_but_held_at_status_20_uncharged(
    sandbox, client
):
    sandbox.set_rules(template_only=[SENDER])
    sandbox.credit = Decimal(10)

    [msgid] = client.send_sms(SENDER, ["989121234567"], "free text")
    sandbox.clock.advance(3600)

    [status] = client.msg_status([msgid])
    assert status.code == 20
    assert sandbox.credit == Decimal(10)


# -- every numbered error, as the sandbox answers it and the gateway reads it ---------------------------
@pytest.mark.parametrize(
    ("code", "http", "kind", "reason"),
    [
        (1001, 400, "rejected", "invalid_template"),
        (1002, 400, "account", "inactive_sender"),
        (1004, 500, "ambiguous", None),  # a 5xx to a sending call proves nothing: never sent again
        (1005, 400, "account", "out_of_credit"),
        (1006, 400, "account", "out_of_credit"),
        (1008, 400, "rejected", "validation"),
        (1009, 400, "deferred", "daily_limit"),
        (1010, 406, "rejected", "invalid_destination"),
        (1013, 400, "deferred", "outside_hours"),
        (1014, 400, "rejected", "validation"),
        (1015, 401, "credentials", "credentials"),
        (429, 429, "unavailable", None),
    ],
    ids=str,
)
def test_given_each_numbered_error_then_the_one_classifier_gives_its_kind_and_nothing_is_sent(
    sandbox, client, code, http, kind, reason
):
    from sms_gateway.adapters.asanak_provider import classify

    sandbox.inject(Fault("numbered_error", method="sendsms", code=code))

    with pytest.raises(AsanakError) as failed:
        client.send_sms(SENDER, ["989121234567"], "hi")

    failure = classify(failed.value)
    assert (failure.kind.value, failure.reason) == (kind, reason)
    assert v2_calls(sandbox) == [("sendsms", http)]
    assert sandbox.sent == []
