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
