"""What earlier attempts left behind: live leases are left to their holder, expired ones are taken
over and settled ``outcome_unknown`` (their holder died and may have called the provider)."""

from __future__ import annotations

import logging
from datetime import datetime

from sms_gateway.domain.events import Reason
from sms_gateway.domain.model import Message, State
from sms_gateway.domain.sending.plans import Context, lease_expired
from sms_gateway.domain.tally import Tally

logger = logging.getLogger("sms_gateway.send")


class Leases:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    def settle_stored(self, stored: list[Message], now: datetime, tally: Tally) -> int:
        """What earlier attempts left: take over expired leases (``outcome_unknown``) and leave live
        leases to their holder. Settled recipients need nothing more. Returns how many are held."""
        live = [m for m in stored if m.state == State.SENDING and not lease_expired(m, now)]
        expired = [m for m in stored if m.state == State.SENDING and lease_expired(m, now)]
        taken = self.take_over(expired, now, tally)
        return len(live) + len(expired) - len(taken)

    def take_over(self, expired: list[Message], now: datetime, tally: Tally) -> list[Message]:
        if not expired:
            return []
        for message in expired:
            message.state, message.final = State.UNKNOWN, True
            message.reason = Reason.OUTCOME_UNKNOWN
            message.reason_message = (
                "an earlier attempt stopped while asking Asanak to send; it may have been sent, so it is "
                "not sent again"
            )
            logger.error(
                "outcome unknown: an attempt died holding the lease",
                extra={"request_id": message.request_id, "to": message.to},
            )
        blocked = self._ctx.store.take_over(expired, now)
        taken = [m for m in expired if m.to not in blocked]
        tally.add("Rejected", len(taken))
        tally.add(f"Rejected_{Reason.OUTCOME_UNKNOWN}", len(taken))
        return taken
