"""The poll function's trigger: the template's ``rate(...)`` schedule (moto never fires schedules)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from emulator.template import ACCOUNT, Stack

_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float:
    match = _RATE.fullmatch(expression.strip())
    if not match:
        raise ValueError(f"only rate(...) schedules run locally, not {expression!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def interval(stack: Stack, speed: float = 1.0) -> float:
    """Seconds between two runs of the poll function's schedule, with time ``speed`` times faster."""
    return rate_seconds(stack.event_of_type("PollFunction", "Schedule")["Schedule"]) / speed


def scheduled_event(
    time: datetime, region: str, rule: str = "local-poll", event_id: str | None = None
) -> dict[str, Any]:
    """The event EventBridge invokes a scheduled function with."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }
