"""Typed settings, one small object per function, read from the environment on first use.

Nothing here runs at import time. Each ``*_settings()`` factory reads the environment once and is
cached for the life of the execution environment; tests call ``clear_settings_cache()`` after changing
variables. A missing or malformed variable fails loudly with its name: there are no silent defaults
for anything the template is expected to set.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from sms_gateway.domain.deferral.windows import SendWindows

T = TypeVar("T")

DLQ_RETENTION_HOURS = 14 * 24
"""How long the send dead-letter queue keeps a request (template: MessageRetentionPeriod 1209600 s)."""


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or malformed."""


def _raw(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is required but not set")
    return value


def _parsed(name: str, parse: Callable[[str], T], what: str) -> T:
    raw = _raw(name)
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigurationError(f"environment variable {name}={raw!r} is not {what}") from exc


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _words(raw: str) -> frozenset[str]:
    return frozenset(word.strip().casefold() for word in raw.split(",") if word.strip())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback  # 127.0.0.0/8 and ::1
    except ValueError:
        return False


PROVIDER_URL_RULE = "an https:// URL (http:// only to a loopback host: 127.0.0.0/8, ::1, localhost)"


def _provider_url(raw: str) -> str:
    """``raw`` if it is an https URL, or http to a loopback host (a local sandbox); else ValueError.

    The password travels in every request: plain http to anywhere else would expose it.
    """
    parts = urlsplit(raw)
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(raw)
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host)):
        return raw
    raise ValueError(raw)


def _networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(part.strip()) for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class CommonSettings:
    table_name: str
    event_bus_name: str
    secret_id: str  # the one secret this function reads: SECRET_ID (send, poll), INBOUND_SECRET_ID (receive)
    asanak_base_url: str
    secret_max_age: int
    connect_timeout: float
    read_timeout: float


@dataclass(frozen=True)
class SendSettings:
    common: CommonSettings
    default_sender: str
    retention_days: int
    send_concurrency: int
    promotional_hours: SendWindows  # PROMOTIONAL_HOURS, Tehran time


@dataclass(frozen=True)
class PollSettings:
    common: CommonSettings
    retention_days: int
    tracking_hours: int
    status_concurrency: int
    budget_seconds: float
    credit_check_minutes: int
    send_queue_url: str  # where deferred requests go back when due


@dataclass(frozen=True)
class ReceiveSettings:
    common: CommonSettings
    retention_days: int
    opt_out_keywords: frozenset[str]
    opt_in_keywords: frozenset[str]
    allowed_source_cidrs: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def _common(secret_variable: str = "SECRET_ID") -> CommonSettings:  # noqa: S107 - a variable's name
    return CommonSettings(
        table_name=_raw("TABLE_NAME"),
        event_bus_name=_raw("EVENT_BUS_NAME"),
        secret_id=_raw(secret_variable),
        asanak_base_url=_parsed("ASANAK_BASE_URL", _provider_url, PROVIDER_URL_RULE),
        secret_max_age=_parsed("SECRET_MAX_AGE_SECONDS", _positive_int, "a positive number of seconds"),
        connect_timeout=_parsed("ASANAK_CONNECT_TIMEOUT", _positive_float, "a positive number of seconds"),
        read_timeout=_parsed("ASANAK_READ_TIMEOUT", _positive_float, "a positive number of seconds"),
    )


@functools.cache
def send_settings() -> SendSettings:
    return SendSettings(
        common=_common(),
        default_sender=_raw("DEFAULT_SENDER"),
        retention_days=_parsed("RETENTION_DAYS", _positive_int, "a positive number of days"),
        send_concurrency=_parsed("SEND_CONCURRENCY", _positive_int, "a positive integer"),
        promotional_hours=_parsed("PROMOTIONAL_HOURS", SendWindows.parse, "HH:MM-HH:MM (Tehran time)"),
    )


def _check_retention(retention_days: int, tracking_hours: int) -> None:
    """State must outlive the dead-letter queue (a redrive finds its request) plus the tracking horizon
    (a message still tracked keeps its item)."""
    if retention_days * 24 < DLQ_RETENTION_HOURS + tracking_hours:
        raise ConfigurationError(
            f"RETENTION_DAYS={retention_days} is shorter than the dead-letter queue's 14 days plus "
            f"TRACKING_HOURS={tracking_hours}: state would expire while a request can still be redriven "
            f"or a message is still tracked; set RetentionDays to at least "
            f"{-(-(DLQ_RETENTION_HOURS + tracking_hours) // 24)}"
        )


@functools.cache
def poll_settings() -> PollSettings:
    retention_days = _parsed("RETENTION_DAYS", _positive_int, "a positive number of days")
    tracking_hours = _parsed("TRACKING_HOURS", _positive_int, "a positive number of hours")
    _check_retention(retention_days, tracking_hours)
    return PollSettings(
        common=_common(),
        retention_days=retention_days,
        tracking_hours=tracking_hours,
        status_concurrency=_parsed("STATUS_CONCURRENCY", _positive_int, "a positive integer"),
        budget_seconds=_parsed("POLL_BUDGET_SECONDS", _positive_float, "a positive number of seconds"),
        credit_check_minutes=_parsed("CREDIT_CHECK_MINUTES", _positive_int, "a positive number of minutes"),
        send_queue_url=_raw("SEND_QUEUE_URL"),
    )


@functools.cache
def receive_settings() -> ReceiveSettings:
    cidrs = os.environ.get("ALLOWED_SOURCE_CIDRS", "").strip()
    try:
        networks = _networks(cidrs) if cidrs else ()
    except ValueError as exc:
        raise ConfigurationError(f"environment variable ALLOWED_SOURCE_CIDRS={cidrs!r} is not CIDRs") from exc
    return ReceiveSettings(
        common=_common("INBOUND_SECRET_ID"),
        retention_days=_parsed("RETENTION_DAYS", _positive_int, "a positive number of days"),
        opt_out_keywords=_parsed("OPT_OUT_KEYWORDS", _words, "a comma-separated list"),
        opt_in_keywords=_parsed("OPT_IN_KEYWORDS", _words, "a comma-separated list"),
        allowed_source_cidrs=networks,
    )


@dataclass(frozen=True)
class PublishSettings:
    event_bus_name: str


@functools.cache
def publish_settings() -> PublishSettings:
    return PublishSettings(event_bus_name=_raw("EVENT_BUS_NAME"))


def clear_settings_cache() -> None:
    """Forget every cached settings object (tests change the environment between cases)."""
    for factory in (send_settings, poll_settings, receive_settings, publish_settings):
        factory.cache_clear()
