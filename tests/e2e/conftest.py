"""Fixtures of the end-to-end tier: one local stack process per module, driven only from outside.

The stack is started the way ``make run`` starts it, on free ports of 127.0.0.1, with a clock 20
times faster than real time, failed SQS records back after 1 s and a poll run every 0.5 s. It is
stopped with Ctrl-C (SIGINT) and must exit cleanly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local_stack.endpoints import Endpoints
from local_stack.process import SandboxControl, StackProcess
from tests.e2e.surfaces import BusWatch

SPEED = 20.0
RETRY_AFTER = 1.0
POLL_EVERY = 0.5
EXIT_WITHIN = 10.0  # seconds from Ctrl-C to exit: nothing is in flight by then


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist registers this marker itself; without xdist (-p no:xdist) it must still be known.
    config.addinivalue_line("markers", "xdist_group(name): run these tests in one pytest-xdist worker")


@pytest.fixture(scope="module", params=["v1", "v2"], ids=["v1rest", "v2rest"])
def local_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoints]:
    """The stack on the sandbox's v1rest, then on its v2rest (``make run ARGS="--api v2"``): every test
    of the tier runs on both APIs."""
    process = StackProcess(
        tmp_path_factory.mktemp("local_stack"),
        speed=SPEED,
        retry_after=RETRY_AFTER,
        poll_every=POLL_EVERY,
        api=request.param,
    )
    endpoints = process.start()
    try:
        yield endpoints
    finally:
        code = process.interrupt(timeout=EXIT_WITHIN)
    assert code == 0, f"the stack did not exit cleanly on SIGINT (exit code {code}):\n{process.output()}"
    assert not process.endpoints_file.exists(), "the stack left its endpoints file behind"


@pytest.fixture(scope="module")
def sqs(local_stack: Endpoints) -> Any:
    return local_stack.target.client("sqs")


@pytest.fixture(scope="module")
def sandbox(local_stack: Endpoints) -> SandboxControl:
    return SandboxControl(local_stack.sandbox_url)


@pytest.fixture
def watch_bus(local_stack: Endpoints, sqs: Any) -> Iterator[Callable[..., BusWatch]]:
    """Make watches on the stack's bus (see :class:`BusWatch`); they are removed after the test.

    An undrained tap queue would keep growing with every later event, slowing moto down for all.
    """
    made: list[BusWatch] = []

    def watch(*patterns: dict[str, Any], split_by_request_id: bool = False) -> BusWatch:
        events = local_stack.target.client("events")
        made.append(
            BusWatch(sqs, events, local_stack.bus_name, *patterns, split_by_request_id=split_by_request_id)
        )
        return made[-1]

    yield watch
    for each in made:
        each.close()


@pytest.fixture
def bus(watch_bus: Callable[..., BusWatch]) -> BusWatch:
    """Every event the stack publishes from now on."""
    return watch_bus()


@pytest.fixture(autouse=True)
def no_faults_left(sandbox: SandboxControl) -> Iterator[None]:
    """Each test starts with a healthy provider and leaves one behind."""
    sandbox.clear_faults()
    yield
    sandbox.clear_faults()
