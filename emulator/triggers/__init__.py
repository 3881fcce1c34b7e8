"""Lambda's triggers, played against the emulation: one module each.

- :mod:`~emulator.triggers.sqs`: the send queue's event source mapping;
- :mod:`~emulator.triggers.schedule`: the poll function's ``rate(...)`` schedule;
- :mod:`~emulator.triggers.http_api`: the receive function's API Gateway HTTP API;
- :mod:`~emulator.triggers.stream`: the table's DynamoDB stream to the publish function.

Each long-running trigger is a loop on a thread of :class:`Loops`, stopped together.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("emulator.triggers")


class Loops:
    """Background threads that run until :meth:`stop` (daemon threads: they never hold up an exit)."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def every(self, interval: float, step: Callable[[], object], name: str, *, what: str) -> None:
        """Run ``step`` every ``interval`` seconds; a failing step is logged (``what`` failed) and the
        next one runs as usual."""

        def loop() -> None:
            while not self.stopping.wait(interval):
                try:
                    step()
                except Exception:
                    if not self.stopping.is_set():  # what it calls may be stopped already
                        log.exception("%s failed; trying again", what)

        self.spawn(loop, name)

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
