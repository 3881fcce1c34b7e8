"""Fixtures of the integration tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from asanak_sandbox import AsanakSandbox


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
