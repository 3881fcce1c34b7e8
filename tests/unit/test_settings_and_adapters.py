"""Settings refused at start (transport, retention), and adapters that raise domain errors only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from sms_gateway import settings as config
from sms_gateway.adapters.eventbridge import EventBridgePublisher
from sms_gateway.adapters.secrets import InboundToken, SecretCredentials, SecretUnavailable
from sms_gateway.domain.errors import PublishError, SecretError
from sms_gateway.domain.events import sms_received
from sms_gateway.settings import ConfigurationError, poll_settings, receive_settings, send_settings

from emulator.template import Stack, load_template, parameter_values

TEMPLATE = load_template()


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch):
    """Each function's environment as the template gives it (placeholders for resource ids)."""
    stack = Stack("t", "eu-west-1", TEMPLATE, parameter_values(TEMPLATE, {"DefaultSender": "982164063188"}))

    def apply(logical: str, **changes: str) -> None:
        for name in ("SECRET_ID", "INBOUND_SECRET_ID"):
            monkeypatch.delenv(name, raising=False)
        for name, value in {**stack.function_env(logical), **changes}.items():
            monkeypatch.setenv(name, value)
        config.clear_settings_cache()

    yield apply
    config.clear_settings_cache()


# -- transport ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://panel.asanak.com/webservice/v1rest",
        "http://10.0.0.5:8080",
        "http://localhost.example.com",
        "http://127.example.com",
        "ftp://panel.asanak.com",
        "panel.asanak.com/webservice/v1rest",
        "https://",
    ],
)
def test_given_a_provider_url_that_is_not_https_when_a_function_starts_then_it_refuses_to(environment, url):
    environment("SendFunction", ASANAK_BASE_URL=url)

    with pytest.raises(ConfigurationError, match="ASANAK_BASE_URL"):
        send_settings()


@pytest.mark.parametrize(
    "url",
    [
        "https://panel.asanak.com/webservice/v1rest",
        "http://127.0.0.1:8080",
        "http://127.1.2.3",
        "http://localhost:9000/v1rest",
        "http://[::1]:8080",
    ],
)
def test_given_https_or_a_loopback_sandbox_when_a_function_starts_then_the_url_is_used(environment, url):
    environment("PollFunction", ASANAK_BASE_URL=url)

    assert poll_settings().common.asanak_base_url == url


# -- retention ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("days", "hours"), [("14", "24"), ("15", "25"), ("16", "72"), ("1", "5")])
def test_given_retention_shorter_than_the_dlq_plus_the_horizon_when_poll_starts_then_it_refuses_to(
    environment, days, hours
):
    environment("PollFunction", RETENTION_DAYS=days, TRACKING_HOURS=hours)

    with pytest.raises(ConfigurationError, match="RETENTION_DAYS"):
        poll_settings()


@pytest.mark.parametrize(("days", "hours"), [("15", "24"), ("15", "5"), ("17", "72"), ("30", "168")])
def test_given_retention_covering_the_dlq_and_the_horizon_when_poll_starts_then_it_runs(
    environment, days, hours
):
    environment("PollFunction", RETENTION_DAYS=days, TRACKING_HOURS=hours)

    assert poll_settings().retention_days == int(days)


def test_given_the_receive_environment_then_it_reads_the_inbound_secret_and_needs_no_asanak_secret(
    environment,
):
    environment("ReceiveFunction")

    assert receive_settings().common.secret_id == "InboundSecret"  # the template's !Ref


# -- secrets adapter ---------------------------------------------------------------------------------
def powertools_raising(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    from aws_lambda_powertools.utilities import parameters

    def get_secret(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(parameters, "get_secret", get_secret)


def test_given_secrets_manager_is_unreachable_when_the_token_is_read_then_secret_unavailable(monkeypatch):
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    powertools_raising(monkeypatch, GetParameterError("Could not connect to the endpoint URL"))

    with pytest.raises(SecretUnavailable, match="could not read secret arn:inbound"):
        InboundToken("arn:inbound", 300).get()
    with pytest.raises(SecretUnavailable):
        SecretCredentials("arn:asanak", 300).get()


def test_given_a_secret_that_is_not_json_when_read_then_a_secret_error_naming_no_value(monkeypatch):
    from aws_lambda_powertools.utilities.parameters.exceptions import TransformParameterError

    powertools_raising(monkeypatch, TransformParameterError("Expecting value: line 1 column 1"))

    with pytest.raises(SecretError, match="not valid JSON") as caught:
        SecretCredentials("arn:asanak", 300).get()
    assert not isinstance(caught.value, SecretUnavailable)


def test_given_the_asanak_secret_without_an_inbound_token_then_credentials_are_read():
    secret = SecretCredentials("arn:asanak", 300, fetch=lambda *_: {"username": "u", "password": "p"})
    assert secret.get().username == "u"
    with pytest.raises(SecretError, match="inbound_token"):
        InboundToken("arn:inbound", 300, fetch=lambda *_: {"username": "u", "password": "p"}).get()


# -- bus adapter -------------------------------------------------------------------------------------
class FailingClient:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def put_events(self, **kwargs: Any) -> Any:
        raise self.error


EVENT = sms_received(
    sender="989121234567",
    recipient="98300",
    text="hi",
    received_at=datetime(2026, 1, 1, tzinfo=UTC),
    provider_time="2026-01-01 03:30:00",
    inbound_id="x",
)


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutEvents"),
        ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutEvents"),
        EndpointConnectionError(endpoint_url="https://events.eu-west-1.amazonaws.com"),
    ],
    ids=["throttled", "denied", "unreachable"],
)
def test_given_eventbridge_fails_when_publishing_then_a_publish_error_not_a_botocore_one(error):
    with pytest.raises(PublishError):
        EventBridgePublisher(FailingClient(error), "bus").publish([EVENT])
