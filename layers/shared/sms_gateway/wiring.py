"""Cached factories: every client, store and service is built on first use and reused while warm.

Nothing is built at import time. Tests call :func:`reset` after changing the environment (endpoints,
table names) so the next invocation builds fresh objects.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sms_gateway.adapters.secrets import InboundToken, SecretCredentials
from sms_gateway.domain.events import EventBridgePublisher
from sms_gateway.settings import (
    CommonSettings,
    clear_settings_cache,
    poll_settings,
    receive_settings,
    send_settings,
)

if TYPE_CHECKING:  # each handler imports only its own service's module, on first use
    from sms_gateway.adapters.asanak_provider import AsanakProvider
    from sms_gateway.domain.inbound.service import InboundService
    from sms_gateway.domain.ports import Metrics
    from sms_gateway.domain.publishing.service import PublishService
    from sms_gateway.domain.sending.service import SendService
    from sms_gateway.domain.tracking.service import TrackingService


def utc_now() -> datetime:
    return datetime.now(UTC)


@functools.cache
def eventbridge_client() -> Any:
    import boto3

    return boto3.client("events")


@functools.cache
def credentials(secret_id: str, max_age: int) -> SecretCredentials:
    return SecretCredentials(secret_id, max_age)


@functools.cache
def inbound_token(secret_id: str, max_age: int) -> InboundToken:
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
def publisher(bus_name: str) -> EventBridgePublisher:
    return EventBridgePublisher(eventbridge_client(), bus_name)


@functools.cache
def send_service(metrics: Metrics) -> SendService:
    from sms_gateway.domain.sending.service import SendService

    settings = send_settings()
    common = settings.common
    return SendService(
        store=message_store(common.table_name),
        provider=provider(common, settings.send_concurrency),
        default_sender=settings.default_sender,
        retention=timedelta(days=settings.retention_days),
        concurrency=settings.send_concurrency,
        clock=utc_now,
        metrics=metrics,
        call_timeout=timedelta(seconds=common.connect_timeout + common.read_timeout),
    )


FACTORIES: list[Any] = [eventbridge_client, credentials, provider, message_store, publisher, send_service]


@functools.cache
def inbound_store(table_name: str) -> Any:
    from sms_gateway.adapters.dynamodb.inbound import DynamoInboundStore

    return DynamoInboundStore(table_name)


@functools.cache
def receive_service(metrics: Metrics) -> InboundService:
    from sms_gateway.domain.inbound.service import InboundService

    settings = receive_settings()
    common = settings.common
    token = inbound_token(common.secret_id, common.secret_max_age)  # InboundSecret, not AsanakSecret
    return InboundService(
        store=inbound_store(common.table_name),
        clock=utc_now,
        retention=timedelta(days=settings.retention_days),
        opt_out_keywords=settings.opt_out_keywords,
        opt_in_keywords=settings.opt_in_keywords,
        expected_token=token.get,
        allowed_sources=settings.allowed_source_cidrs,
        metrics=metrics,
    )


FACTORIES += [inbound_token, inbound_store, receive_service]


@functools.cache
def tracking_store(table_name: str) -> Any:
    from sms_gateway.adapters.dynamodb.tracking import DynamoTrackingStore

    return DynamoTrackingStore(table_name)


@functools.cache
def poll_service(metrics: Metrics) -> TrackingService:
    from sms_gateway.domain.tracking.service import TrackingService

    settings = poll_settings()
    common = settings.common
    return TrackingService(
        store=tracking_store(common.table_name),
        provider=provider(common, settings.status_concurrency),
        clock=utc_now,
        tracking_horizon=timedelta(hours=settings.tracking_hours),
        concurrency=settings.status_concurrency,
        credit_interval=timedelta(minutes=settings.credit_check_minutes),
        metrics=metrics,
    )


FACTORIES += [tracking_store, poll_service]


@functools.cache
def publish_service(metrics: Metrics) -> PublishService:
    from sms_gateway.domain.publishing.service import PublishService
    from sms_gateway.settings import publish_settings

    return PublishService(publisher(publish_settings().event_bus_name), metrics=metrics)


FACTORIES += [publish_service]


def reset() -> None:
    """Forget every cached object and setting (for tests and the local stack's reloads)."""
    clear_settings_cache()
    for factory in FACTORIES:
        factory.cache_clear()
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
