"""The sandbox's controllable clock: real time × speed, plus explicit jumps."""

from __future__ import annotations

import datetime
import threading
import time


class SandboxClock:
    """A clock that runs at ``speed`` × real time from ``start`` and can be advanced by hand.

    ``now()`` is always an aware UTC datetime. Delivery statuses in the sandbox move with this clock,
    so ``advance(30)`` makes a fresh message look 30 seconds older.
    """

    def __init__(self, speed: float = 1.0, start: datetime.datetime | None = None) -> None:
        if speed < 0:
            raise ValueError("clock speed must not be negative")
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._lock = threading.Lock()
        self._speed = speed
        self._origin = (start or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
        self._origin_monotonic = time.monotonic()
        self._advanced = 0.0

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime.datetime:
        """The sandbox's current time (aware UTC)."""
        with self._lock:
            elapsed = (time.monotonic() - self._origin_monotonic) * self._speed + self._advanced
        return self._origin + datetime.timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> datetime.datetime:
        """Jump ``seconds`` forward; returns the new time. Time never runs backwards."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._advanced += seconds
        return self.now()
