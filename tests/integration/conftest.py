"""Fixtures of the integration tier."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asanak_sandbox import AsanakSandbox

SCHEDULED_EVENT = json.loads((Path(__file__).parents[2] / "events" / "poll-scheduled.json").read_text())


@pytest.fixture
def sandbox() -> Iterator[AsanakSandbox]:
    """A fresh Asanak sandbox on 127.0.0.1 (account ``user``/``pass``, senders ``982164063188`` and
    ``98300012345``, credit 1000), started for one test and stopped after it."""
    with AsanakSandbox(username="user", password="pass") as running:
        yield running


# The send and poll paths' suites run on both of Asanak's APIs: the stack differs only in AsanakBaseUrl.
BOTH_APIS = ("test_send_function", "test_send_exactly_once", "test_poll_function", "test_outbox")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    chosen = any("asanak_api" in marker.args[0] for marker in metafunc.definition.iter_markers("parametrize"))
    if module in BOTH_APIS and "asanak_api" in metafunc.fixturenames and not chosen:
        metafunc.parametrize("asanak_api", ["v1rest", "v2rest"])


@pytest.fixture
def world(
    stack: Any, asanak: Any, lambda_context: Any
) -> Iterator[tuple[Callable[..., Any], Callable[[], Any]]]:
    """``(send, poll)``: the send function on an SQS event and one scheduled poll run, each with its
    template role, on the sandbox's clock."""
    from emulator import gateway
    from functions.poll import app as poll_app
    from functions.send import app as send_app

    gateway.run_on(asanak.clock.now)
    yield (
        lambda event: send_app.lambda_handler(event, lambda_context),
        lambda: poll_app.lambda_handler(SCHEDULED_EVENT, lambda_context),
    )
    gateway.forget()
