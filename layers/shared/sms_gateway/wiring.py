"""The composition root: which adapter serves which port, built from settings, a clock and overrides.

Two layers, kept apart on purpose:

* **Builders** (``build_*``) are pure: given settings, a clock, a metrics sink and optional overrides
  (any constructor argument by name: a fake store, a recording provider), they return a service.
  Tests, the local stack and the benchmarks build services with them; nothing is patched.
* **Cached getters** (``send_service`` …) are what the Lambda handlers call: one line each around a
  builder, so every client, store and service is built on first use and reused while warm. Nothing
  is built at import time. :func:`reset` forgets them (tests call it after changing the environment).

The clock is the one input that is not an environment variable: the system clock on Lambda, the
sandbox's in the local stack and the integration tests (:func:`use_clock`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sms_gateway.settings import (
    CommonSettings,
    PollSettings,
    PublishSettings,
    ReceiveSettings,
    SendSettings,
    clear_settings_cache,
    poll_settings,
    publish_settings,
    receive_settings,
    send_settings,
)

if TYPE_CHECKING:  # each handler imports only its own service's modules, on first use
    from sms_gateway.adapters.asanak_provider import AsanakProvider
    from sms_gateway.adapters.dynamodb.stream import Change
    from sms_gateway.adapters.secrets import InboundToken, SecretCredentials
    from sms_gateway.domain.deferral.release import ReleaseService
    from sms_gateway.domain.inbound.service import InboundService
    from sms_gateway.domain.ports import EventPublisher, Metrics
    from sms_gateway.domain.publishing.service import PublishService
    from sms_gateway.domain.sending.service import SendService
    from sms_gateway.domain.tracking.service import TrackingService

Clock = Callable[[], datetime]

LOGGERS = ("sms_gateway", "asanak")
"""The layer's top-level loggers. They exist from the handler's import on, although the modules that
log are imported lazily: Powertools (``copy_config_to_registered_loggers``) configures only loggers
that exist then, and the others would write plain text through the runtime's root logger."""
for _name in LOGGERS:
    logging.getLogger(_name)


def system_clock() -> datetime:
    return datetime.now(UTC)


_clock: list[Clock] = [system_clock]


def use_clock(clock: Clock | None) -> None:
    """Build every service from now on with ``clock`` (``None``: the system clock again)."""
    reset()
    _clock[0] = clock or system_clock


def _assemble(cls: Callable[..., Any], overrides: Mapping[str, Any], **parts: Any) -> Any:
    """``cls(**parts)`` with ``overrides`` taking precedence; a callable part named in ``lazy`` is
    built only when it is not overridden (so a fake store never opens a DynamoDB connection)."""
    lazy: dict[str, Callable[[], Any]] = parts.pop("lazy", {})
    built = {name: make() for name, make in lazy.items() if name not in overrides}
    return cls(**{**parts, **built, **overrides})


def _sink(metrics: Any) -> Metrics:
    from sms_gateway.adapters.metrics import metrics_sink

    return metrics_sink(metrics)


# --- builders: pure, one per function ----------------------------------------------------------------
def build_send_service(
    settings: SendSettings, *, clock: Clock, metrics: Any, **overrides: Any
) -> SendService:
    from sms_gateway.domain.sending.service import SendPolicy, SendService

    common = settings.common
    return _assemble(
        SendService,
        overrides,
        lazy={
            "store": lambda: message_store(common.table_name),
            "provider": lambda: provider(common, settings.send_concurrency),
        },
        policy=SendPolicy(
            default_sender=settings.default_sender,
            retention=timedelta(days=settings.retention_days),
            concurrency=settings.send_concurrency,
            call_timeout=timedelta(seconds=common.connect_timeout + common.read_timeout),
            windows=settings.promotional_hours,
        ),
        clock=clock,
        metrics=_sink(metrics),
    )


def build_poll_service(
    settings: PollSettings, *, clock: Clock, metrics: Any, **overrides: Any
) -> TrackingService:
    from sms_gateway.domain.tracking.service import TrackingPolicy, TrackingService

    common = settings.common
    return _assemble(
        TrackingService,
        overrides,
        lazy={
            "store": lambda: tracking_store(common.table_name),
            "provider": lambda: provider(common, settings.status_concurrency),
        },
        policy=TrackingPolicy(
            tracking_horizon=timedelta(hours=settings.tracking_hours),
            concurrency=settings.status_concurrency,
            credit_interval=timedelta(minutes=settings.credit_check_minutes),
        ),
        clock=clock,
        metrics=_sink(metrics),
    )


def build_release_service(
    settings: PollSettings, *, clock: Clock, metrics: Any, **overrides: Any
) -> ReleaseService:
    """Deferred requests back to the send queue when due (run by the poll function's tick)."""
    from sms_gateway.domain.deferral.release import ReleaseService

    return _assemble(
        ReleaseService,
        overrides,
        lazy={
            "store": lambda: deferral_store(settings.common.table_name),
            "queue": lambda: request_queue(settings.send_queue_url),
        },
        clock=clock,
        metrics=_sink(metrics),
    )


def build_receive_service(
    settings: ReceiveSettings, *, clock: Clock, metrics: Any, **overrides: Any
) -> InboundService:
    from sms_gateway.domain.inbound.service import InboundPolicy, InboundService

    common = settings.common
    return _assemble(
        InboundService,
        overrides,
        lazy={
            "store": lambda: inbound_store(common.table_name),
            # InboundSecret, not AsanakSecret: the function never holds the provider's password.
            "expected_token": lambda: inbound_token(common.secret_id, common.secret_max_age).get,
        },
        policy=InboundPolicy(
            retention=timedelta(days=settings.retention_days),
            opt_out_keywords=settings.opt_out_keywords,
            opt_in_keywords=settings.opt_in_keywords,
            allowed_sources=settings.allowed_source_cidrs,
        ),
        clock=clock,
        metrics=_sink(metrics),
    )


def build_publish_service(settings: PublishSettings, *, metrics: Any, **overrides: Any) -> PublishService:
    from sms_gateway.domain.publishing.service import PublishService

    return _assemble(
        PublishService,
        overrides,
        lazy={"publisher": lambda: publisher(settings.event_bus_name)},
        metrics=_sink(metrics),
    )


# --- cached getters: what the handlers call -----------------------------------------------------------
@functools.cache
def send_service(metrics: Any) -> SendService:
    return build_send_service(send_settings(), clock=_clock[0], metrics=metrics)


@functools.cache
def poll_service(metrics: Any) -> TrackingService:
    return build_poll_service(poll_settings(), clock=_clock[0], metrics=metrics)


@functools.cache
def release_service(metrics: Any) -> ReleaseService:
    return build_release_service(poll_settings(), clock=_clock[0], metrics=metrics)


@functools.cache
def receive_service(metrics: Any) -> InboundService:
    return build_receive_service(receive_settings(), clock=_clock[0], metrics=metrics)


@functools.cache
def publish_service(metrics: Any) -> PublishService:
    return build_publish_service(publish_settings(), metrics=metrics)


def poll_budget(remaining_seconds: float) -> float:
    """Seconds the poll run may start new rounds in: the configured budget within what is left."""
    from sms_gateway.domain.tracking.rules import run_budget

    return run_budget(poll_settings().budget_seconds, remaining_seconds)


def release_budget(remaining_seconds: float) -> float:
    """Seconds the release of deferred requests may take: a quarter of what the tick has left, at most
    ten, so delivery tracking always keeps most of the run."""
    return max(0.0, min(10.0, remaining_seconds / 4))


def stream_changes(records: list[dict[str, Any]]) -> list[Change]:
    """The table's stream records (as Lambda delivers them) as the domain's changes."""
    from sms_gateway.adapters.dynamodb.stream import change_of

    return [change_of(record) for record in records]


# --- shared adapters: one per settings, reused by the warm invocations ----------------------------
@functools.cache
def eventbridge_client() -> Any:
    import boto3

    return boto3.client("events")


@functools.cache
def sqs_client() -> Any:
    """Short timeouts: a struggling queue must not eat the poll run (the release has its own budget)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sqs",
        config=Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}),
    )


@functools.cache
def request_queue(queue_url: str) -> Any:
    from sms_gateway.adapters.sqs import SqsRequestQueue

    return SqsRequestQueue(sqs_client(), queue_url)


@functools.cache
def deferral_store(table_name: str) -> Any:
    from sms_gateway.adapters.dynamodb.deferrals import DynamoDeferralStore

    return DynamoDeferralStore(table_name)


@functools.cache
def credentials(secret_id: str, max_age: int) -> SecretCredentials:
    from sms_gateway.adapters.secrets import SecretCredentials

    return SecretCredentials(secret_id, max_age)


@functools.cache
def inbound_token(secret_id: str, max_age: int) -> InboundToken:
    from sms_gateway.adapters.secrets import InboundToken

    return InboundToken(secret_id, max_age)


@functools.cache
def provider(common: CommonSettings, pool_size: int) -> AsanakProvider:
    """One Asanak adapter (and connection pool) per settings, shared by the warm invocations."""
    from sms_gateway.adapters.asanak_provider import AsanakProvider

    return AsanakProvider(
        credentials(common.secret_id, common.secret_max_age),
        base_url=common.asanak_base_url,
        connect_timeout=common.connect_timeout,
        read_timeout=common.read_timeout,
        pool_size=pool_size,
    )


@functools.cache
def message_store(table_name: str) -> Any:
    from sms_gateway.adapters.dynamodb.messages import DynamoMessageStore

    return DynamoMessageStore(table_name)


@functools.cache
def tracking_store(table_name: str) -> Any:
    from sms_gateway.adapters.dynamodb.tracking import DynamoTrackingStore

    return DynamoTrackingStore(table_name)


@functools.cache
def inbound_store(table_name: str) -> Any:
    from sms_gateway.adapters.dynamodb.inbound import DynamoInboundStore

    return DynamoInboundStore(table_name)


@functools.cache
def publisher(bus_name: str) -> EventPublisher:
    from sms_gateway.adapters.eventbridge import EventBridgePublisher

    return EventBridgePublisher(eventbridge_client(), bus_name)


CACHED: tuple[Any, ...] = (
    send_service,
    poll_service,
    release_service,
    receive_service,
    publish_service,
    eventbridge_client,
    sqs_client,
    request_queue,
    deferral_store,
    credentials,
    inbound_token,
    provider,
    message_store,
    tracking_store,
    inbound_store,
    publisher,
)


def reset() -> None:
    """Forget every cached object and setting (for tests and the local stack's reloads)."""
    clear_settings_cache()
    for getter in CACHED:
        getter.cache_clear()
    from aws_lambda_powertools.utilities.parameters import clear_caches

    clear_caches()
