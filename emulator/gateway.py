"""The one place the emulation reaches into the gateway's composition root (``sms_gateway.wiring``).

Everything that runs the real handlers outside Lambda (the local stack's function processes, the
benchmarks, the integration tests) sets the gateway's clock and forgets its cached services here,
through ``wiring.use_clock`` and ``wiring.reset`` only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Clock = Callable[[], datetime]


class SimClock:
    """UTC time that runs ``speed`` times faster than the wall clock, from the moment it was made."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._origin_real = time.time()
        self._origin = datetime.now(UTC)

    def now(self) -> datetime:
        if self.speed == 1.0:
            return datetime.now(UTC)
        elapsed = (time.time() - self._origin_real) * self.speed
        return datetime.fromtimestamp(self._origin.timestamp() + elapsed, tz=UTC)


def run_on(clock: Clock) -> None:
    """Build the gateway's services afresh from now on, on ``clock``."""
    from sms_gateway import wiring

    wiring.use_clock(clock)


def forget() -> None:
    """Forget the gateway's cached settings, clients and services, and go back to the system clock."""
    from sms_gateway import wiring

    wiring.use_clock(None)


def forget_services() -> None:
    """Forget cached settings, clients and services (the clock stays): the next invocation builds
    them from the environment as it is then."""
    from sms_gateway import wiring

    wiring.reset()


def forget_connections() -> None:
    """:func:`forget_services`, and the connections that keep the credentials they were made with
    (pynamodb's, boto3's default session): the next invocation signs with what the environment holds."""
    import boto3
    from sms_gateway.adapters.dynamodb import items as models

    forget_services()
    for model in models.ALL_MODELS:
        model._connection = None
    boto3.DEFAULT_SESSION = None


def warm_state() -> tuple[Any, ...]:
    """What the gateway has built and cached (clients, stores, connections, secret providers): equal
    before and after an invocation when it ran warm."""
    from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS
    from sms_gateway import wiring
    from sms_gateway.adapters.dynamodb import items as models

    return (
        tuple(getter.cache_info().currsize for getter in wiring.CACHED),
        tuple(id(model._connection) for model in models.ALL_MODELS),
        tuple(id(provider) for provider in DEFAULT_PROVIDERS.values()),
    )
