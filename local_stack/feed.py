"""What the gateway does, one readable line per event it publishes (``make run``'s and ``make demo``'s
output): a request accepted, a recipient rejected (with the reason) or deferred ("not now"), a status
change, an inbound SMS.

The lines come from the bus, through an event tap (a rule delivering every ``asanak.sms`` event to a
queue), exactly as any consumer sees the events; the fields are those of ``schemas/``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from emulator.tap import EventTap


def line(event: dict[str, Any]) -> str:
    d = event["detail"]
    kind = event["detail-type"]
    if kind == "SMS Accepted":
        return f"  ✓ accepted   {d['to']}  msgid={d['msgid']}  parts={d['parts']}  [{d['request_id']}]"
    if kind == "SMS Rejected":
        return (
            f"  ✗ rejected   {d.get('to', '-')}  reason={d['reason']}  ({d['message']})  [{d['request_id']}]"
        )
    if kind == "SMS Status Changed":
        mark = "■" if d["final"] else "→"
        return f"  {mark} status     {d['to']}  {d['status_name']} ({d['status']})  msgid={d['msgid']}"
    if kind == "SMS Received":
        return f"  ✉ received   from {d['from']} to {d['to']}: {d['text']}"
    if kind == "SMS Deferred":
        return f"  ⏸ deferred   {d['to']}  reason={d['reason']}  until {d['due_at']}  [{d['request_id']}]"
    return f"  ? {kind}: {d}"


class Feed:
    """Prints a line for each event on the bus, with the local time, every ``interval`` seconds
    until :meth:`stop` (which removes its tap)."""

    def __init__(self, tap: EventTap, write: Callable[[str], None], interval: float = 0.3) -> None:
        self._tap = tap
        self._write = write
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="feed", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stopping.wait(self._interval):
            self.show()

    def show(self) -> None:
        """Print what arrived since the last call."""
        for event in self._tap.drain():
            self._write(f"{datetime.now().astimezone():%H:%M:%S}{line(event)}")
        self._tap.seen.clear()  # a feed keeps nothing: it runs for as long as the stack

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        self.show()
        self._tap.close()
