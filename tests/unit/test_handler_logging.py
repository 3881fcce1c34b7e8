"""Every handler's layer logs go through Powertools' logger: JSON, with their fields and the Lambda
context. Powertools configures only the loggers that exist when the handler module is imported, and
the layer builds its services lazily, so this is checked in a fresh interpreter per handler."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = """
import logging, functions.{name}.app
for layer in ("sms_gateway", "asanak"):
    handlers = logging.Logger.manager.loggerDict.get(layer)
    assert isinstance(handlers, logging.Logger) and handlers.handlers, layer + " logs are not Powertools'"
"""


@pytest.mark.parametrize("name", ["send", "poll", "receive", "publish"])
def test_given_a_fresh_handler_then_the_layers_loggers_write_through_powertools(name):
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'layers' / 'shared'}{os.pathsep}{ROOT}",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(name=name)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr[-800:]


# -- the metrics sink the builders hand to services --------------------------------------------------------
def test_given_no_metrics_sink_then_services_get_one_that_drops_everything():
    from sms_gateway.adapters.metrics import metrics_sink

    metrics_sink(None).add_metric("Accepted", "Count", 1)  # a builder called with metrics=None must work


def test_given_powertools_metrics_then_each_datapoint_reaches_it_by_keyword():
    from sms_gateway.adapters.metrics import metrics_sink

    class Powertools:  # Powertools' Metrics.add_metric takes keywords
        def __init__(self) -> None:
            self.added: list[tuple[str, str, float]] = []

        def add_metric(self, *, name: str, unit: str, value: float) -> None:
            self.added.append((name, unit, value))

    sink = Powertools()
    metrics_sink(sink).add_metric("ProviderLatency", "Milliseconds", 12.5)

    assert sink.added == [("ProviderLatency", "Milliseconds", 12.5)]
