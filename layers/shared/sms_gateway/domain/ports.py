"""The metrics port: what the domain needs from a metrics sink (Powertools ``Metrics`` fits it)."""

from __future__ import annotations

from typing import Any, Protocol


class Metrics(Protocol):
    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


class NoMetrics:
    """A sink that drops everything (for code run outside a handler)."""

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        return None
