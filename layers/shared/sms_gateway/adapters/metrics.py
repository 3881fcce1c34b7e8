"""The :class:`~sms_gateway.domain.ports.Metrics` port on a Powertools ``Metrics`` (CloudWatch EMF)."""

from __future__ import annotations

from typing import Any

from sms_gateway.domain.ports import Metrics, NoMetrics


class PowertoolsMetrics(Metrics):
    def __init__(self, metrics: Any) -> None:
        self._metrics = metrics

    def add_metric(self, name: str, unit: str, value: float) -> None:
        self._metrics.add_metric(name=name, unit=unit, value=value)


def metrics_sink(metrics: Any) -> Metrics:
    """``metrics`` as the port: a sink already (a test's recorder) as it is, ``None`` a sink that
    drops everything, anything else (Powertools' ``Metrics``) wrapped."""
    if metrics is None:
        return NoMetrics()
    return metrics if isinstance(metrics, Metrics) else PowertoolsMetrics(metrics)
