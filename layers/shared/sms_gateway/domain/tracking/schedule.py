"""Delivery-tracking cadence: when a message in flight is next asked about, and on which index shard.

Young messages are checked often, older ones less often: most SMS are delivered within a minute, and
the provider's four-hour rule (statuses 12/13) means nothing much changes in between. Each message
carries its own ``next_check`` time in the sparse ``inflight`` index, so a poll run reads only what is
due.

| age of the message (since accepted) | next check after |
|-------------------------------------|------------------|
| under 5 minutes                     | 30 seconds       |
| 5 minutes to 1 hour                 | 2 minutes        |
| 1 to 4 hours                        | 10 minutes       |
| 4 hours and more                    | 30 minutes       |
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from asanak import statuses

TRACK_SHARDS = 4  # hash spread of the in-flight index's key; a poll run queries each shard
FIRST_CHECK_AFTER = timedelta(seconds=20)
CADENCE: tuple[tuple[timedelta, timedelta], ...] = (
    (timedelta(minutes=5), timedelta(seconds=30)),
    (timedelta(hours=1), timedelta(minutes=2)),
    (timedelta(hours=4), timedelta(minutes=10)),
)
SLOW_CHECK = timedelta(minutes=30)


def first_check_at(accepted_at: datetime) -> datetime:
    return accepted_at + FIRST_CHECK_AFTER


def next_check_at(accepted_at: datetime, now: datetime) -> datetime:
    age = now - accepted_at
    for younger_than, interval in CADENCE:
        if age < younger_than:
            return now + interval
    return now + SLOW_CHECK


def shard_for(msgid: str) -> str:
    """A stable shard of the in-flight index for a msgid (spreads the index's hash key)."""
    digest = hashlib.blake2b(msgid.encode(), digest_size=2).digest()
    return str(int.from_bytes(digest, "big") % TRACK_SHARDS)


EXPIRED_STATUS = -100
"""Our status for a message closed without a final provider status after the tracking horizon."""
EXPIRED_NAME = "Expired"
EXPIRED_OUTCOME = "expired"


def outcome_of(status: int, final: bool) -> str:
    """The ``outcome`` of a status change event: pending until final, then what the status means."""
    if status == EXPIRED_STATUS:
        return EXPIRED_OUTCOME
    return statuses.status_info(status).outcome if final else statuses.PENDING
