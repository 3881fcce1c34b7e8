"""The pure rules of tracking: status ranks, transitions, when to ask next, the run's time budget."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from asanak import statuses
from asanak.statuses import FOUR_HOURS, MessageStatus

from sms_gateway.domain.model import Message, StatusChange
from sms_gateway.domain.tracking.schedule import (
    EXPIRED_NAME,
    EXPIRED_OUTCOME,
    EXPIRED_STATUS,
    next_check_at,
    outcome_of,
)

logger = logging.getLogger("sms_gateway.poll")

FINAL_RANK = 100
RANKS: Mapping[int, int] = {-1: 0, 1: 10, 4: 20, 2: 30, 10: 35, 11: 35, 7: 40, 9: 50, 12: 60, 13: 60}
"""Rank of each non-final status; every final status ranks :data:`FINAL_RANK`."""

WRITE_CONCURRENCY = 8
"""Conditional writes of one msgstatus answer in flight at once."""

SAFETY_MARGIN_SECONDS = 15.0
"""Time kept free before the function's timeout: one msgstatus call (10 s read timeout) and its writes."""

COUNT_MAX_PAGES = 25
"""Most index pages one count reads per shard, whatever the budget (a page is at most 1 MB)."""


# -- pure rules ------------------------------------------------------------------------------------
def run_budget(configured_seconds: float, remaining_seconds: float) -> float:
    """Seconds a run may start new work: the configured budget, but never into the safety margin."""
    return min(configured_seconds, remaining_seconds - SAFETY_MARGIN_SECONDS)


def accepted_at(message: Message) -> datetime:
    return message.accepted_at or message.created_at


def rank_of(code: int, age: timedelta) -> int | None:
    """Rank of ``code`` seen on a message ``age`` old; None for a code outside the manual."""
    if not statuses.status_info(code).known:
        return None
    if statuses.is_final(code, age):
        return FINAL_RANK
    return RANKS[code]


def expiry(message: Message) -> StatusChange:
    return StatusChange(
        status=EXPIRED_STATUS,
        status_name=EXPIRED_NAME,
        rank=FINAL_RANK,
        final=True,
        outcome=EXPIRED_OUTCOME,
        previous_status=message.status,
    )


def transition(
    message: Message, seen: MessageStatus | None, now: datetime, horizon: timedelta
) -> StatusChange | None:
    """The change ``seen`` (None: no answer) makes to ``message`` at ``now``, or None for no change.

    Higher rank → that status; past the horizon and still not final → expired; otherwise nothing
    (same or lower rank, unknown code, no answer).
    """
    if message.final:
        return None
    age = now - accepted_at(message)
    if seen is not None:
        rank = rank_of(seen.code, age)
        if rank is not None and rank > message.status_rank and (rank == FINAL_RANK or age < horizon):
            final = rank == FINAL_RANK
            return StatusChange(
                status=seen.code,
                status_name=seen.info.name,
                rank=rank,
                final=final,
                outcome=outcome_of(seen.code, final),
                previous_status=message.status,
                sent_at=seen.send_time,
                sent_at_raw=seen.send_time_raw,
                delivered_at=seen.deliver_time,
                delivered_at_raw=seen.deliver_time_raw,
            )
    if age >= horizon:
        return expiry(message)
    return None


def next_check_for(message: Message, status: int | None, now: datetime, horizon: timedelta) -> datetime:
    """When a message showing ``status`` is next asked about: by age
    (:mod:`sms_gateway.domain.tracking.schedule`), but never after the horizon, and right at 4 hours
    for a 12/13 that turns final then."""
    accepted = accepted_at(message)
    when = min(next_check_at(accepted, now), accepted + horizon)
    if status is not None and statuses.status_info(status).final is None and now - accepted < FOUR_HOURS:
        when = min(when, accepted + FOUR_HOURS)
    return max(when, now)


# -- the run ---------------------------------------------------------------------------------------
