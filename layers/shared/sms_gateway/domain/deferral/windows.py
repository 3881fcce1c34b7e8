"""When a deferred request may go out again, in Tehran time.

Asanak refuses with "not now" in two cases (``../shared/asanak-api.md``, sections 7 and 8):

* **1009, the daily limit**: sending is allowed again after midnight, Tehran time.
* **1013, outside the advertising hours**: advertising lines may send only inside a daytime window,
  which sources give differently (08:00–22:00, 09:00–21:00, 09:00–22:30); the ``PromotionalHours``
  setting says which one this account has, and the request goes out at the start of its next window.
  If Asanak says 1013 while our window says "open", the two disagree: the request is tried again
  after :attr:`SendWindows.probe_every` rather than waiting a whole day.

Iran has kept standard time (UTC+03:30) all year since 2022; ``zoneinfo`` knows it, and a runtime
without the time zone database falls back to that fixed offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAILY_LIMIT = "daily_limit"
OUTSIDE_HOURS = "outside_hours"
MIDNIGHT_MARGIN = timedelta(minutes=1)  # after the provider's day has certainly turned
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def tehran() -> tzinfo:
    try:
        return ZoneInfo("Asia/Tehran")
    except ZoneInfoNotFoundError:  # pragma: no cover - a runtime without tzdata
        return timezone(timedelta(hours=3, minutes=30), "+0330")


@dataclass(frozen=True)
class SendWindows:
    """The advertising window (local start and end; an end before the start spans midnight)."""

    start: time = time(9, 0)
    end: time = time(21, 0)
    zone: tzinfo | None = None  # None: Asia/Tehran
    probe_every: timedelta = timedelta(minutes=30)

    @classmethod
    def parse(cls, hours: str) -> SendWindows:
        """``"HH:MM-HH:MM"`` (Tehran time), e.g. ``"09:00-21:00"``."""
        found = _HOURS.match(hours.strip())
        if found is None:
            raise ValueError(f"promotional hours must look like 09:00-21:00, not {hours!r}")
        sh, sm, eh, em = (int(part) for part in found.groups())
        if (sh, sm) == (eh, em):
            raise ValueError("promotional hours must not start and end at the same minute")
        return cls(start=time(sh, sm), end=time(eh, em))

    @property
    def _zone(self) -> tzinfo:
        return self.zone or tehran()

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self._zone).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def due_after(self, reason: str, now: datetime) -> datetime:
        """When a request refused with ``reason`` at ``now`` may be tried again (UTC)."""
        local = now.astimezone(self._zone)
        if reason == DAILY_LIMIT:
            midnight = datetime.combine(local.date() + timedelta(days=1), time(0, 0), self._zone)
            return (midnight + MIDNIGHT_MARGIN).astimezone(now.tzinfo)
        if reason == OUTSIDE_HOURS and not self.is_open(now):
            start = datetime.combine(local.date(), self.start, self._zone)
            if start <= local:
                start = datetime.combine(local.date() + timedelta(days=1), self.start, self._zone)
            return start.astimezone(now.tzinfo)
        return now + self.probe_every
