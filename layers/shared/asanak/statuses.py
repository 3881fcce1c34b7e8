"""Asanak delivery status codes: what each one means and whether polling can stop.

One table for all 13 codes of the manual (section 4). ``final`` is ``True`` when the code can no
longer change, ``False`` when the provider may still move the message on, and ``None`` for the two
codes that are final only once the message is at least :data:`FOUR_HOURS` old.

====  ================  ==========================================  ==========  =====================
code  name              meaning                                     final       why
====  ================  ==========================================  ==========  =====================
-1    NotFound          no such message                             no          a fresh msgid may not
                                                                                be indexed yet; the
                                                                                poller's horizon
                                                                                closes it
1     InQueue           queued for hand-over to the operator        no          still moving
4     Pending           being handed to the operator                no          still moving
2     Sent              handed to the operator, operator id known   no          awaiting delivery
7     NoResponse        operator did not acknowledge acceptance     no          becomes 12/13 after
                                                                                the 4-hour rule
10    PartiallySent     part of a multipart message handed over     no          other parts pending
9     SentToDest        being delivered to the handset              no          awaiting the report
11    NoMsgID           parts handed over, no operator id received  no          becomes 12/13 after
                                                                                the 4-hour rule
6     Success           delivered to the handset                    yes         delivered
5     Failed            not delivered to the handset                yes         operator gave up
8     Reject            operator rejected the message               yes         operator refused it
12    PartiallySuccess  some parts delivered                        after 4 h   before that a
                                                                                multipart message
                                                                                shows 12 while parts
                                                                                are still unknown
13    NoDelivery        no delivery report received at all          after 4 h   the manual's 4-hour
                                                                                rule sets it; reports
                                                                                may still arrive
====  ================  ==========================================  ==========  =====================

Outcomes: ``"delivered"`` (6), ``"failed"`` (5, 8), ``"partially_delivered"`` (12),
``"no_delivery_report"`` (13) and ``"pending"`` for every other code.

Codes outside the table do occur (20 was seen while an account was on hold). They are kept as the
code received, never mapped onto a known one: :func:`status_info` returns ``known=False``,
``final=False`` and outcome ``"pending"`` for them, so polling goes on and they are never taken as
delivered.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

FOUR_HOURS = datetime.timedelta(hours=4)
"""After this age missing delivery reports turn a message into 12 or 13 for good (manual, section 4)."""

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
PARTIALLY_DELIVERED = "partially_delivered"
NO_DELIVERY_REPORT = "no_delivery_report"


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """What one status code means.

    ``final`` is ``True``/``False``, or ``None`` when the code is final only after :data:`FOUR_HOURS`
    (use :func:`is_final` rather than reading it directly). ``known`` is ``False`` for codes outside
    the manual's table.
    """

    code: int
    name: str
    meaning: str
    final: bool | None
    outcome: str
    known: bool = True


@dataclass(frozen=True, slots=True)
class MessageStatus:
    """One entry of a ``msgstatus`` answer.

    Times are timezone-aware UTC, converted from the provider's Asia/Tehran local time; when the raw
    value is empty, a zero date or unparseable the time is ``None`` and the raw string is kept.
    """

    msgid: str
    code: int
    info: StatusInfo
    send_time: datetime.datetime | None
    deliver_time: datetime.datetime | None
    send_time_raw: str | None
    deliver_time_raw: str | None


_TABLE: dict[int, StatusInfo] = {
    info.code: info
    for info in (
        StatusInfo(-1, "NotFound", "no such message (yet)", False, PENDING),
        StatusInfo(1, "InQueue", "queued for hand-over to the operator", False, PENDING),
        StatusInfo(4, "Pending", "being handed to the operator", False, PENDING),
        StatusInfo(2, "Sent", "handed to the operator, operator id received", False, PENDING),
        StatusInfo(7, "NoResponse", "operator did not acknowledge acceptance", False, PENDING),
        StatusInfo(10, "PartiallySent", "part of a multipart message handed to the operator", False, PENDING),
        StatusInfo(9, "SentToDest", "being delivered to the handset", False, PENDING),
        StatusInfo(11, "NoMsgID", "parts handed to the operator but no operator id received", False, PENDING),
        StatusInfo(6, "Success", "delivered to the handset", True, DELIVERED),
        StatusInfo(5, "Failed", "not delivered to the handset", True, FAILED),
        StatusInfo(8, "Reject", "operator rejected the message", True, FAILED),
        StatusInfo(
            12,
            "PartiallySuccess",
            "some parts delivered, reports missing or undelivered for others",
            None,
            PARTIALLY_DELIVERED,
        ),
        StatusInfo(
            13, "NoDelivery", "no delivery report received from the operator", None, NO_DELIVERY_REPORT
        ),
    )
}

STATUS_TABLE: dict[int, StatusInfo] = dict(_TABLE)
"""Every documented code, keyed by code (a copy: changing it changes nothing here)."""


def status_info(code: int) -> StatusInfo:
    """The table entry for ``code``; an unknown code gets an ``"Unknown"`` entry that keeps the code."""
    info = _TABLE.get(code)
    if info is not None:
        return info
    return StatusInfo(
        code,
        "Unknown",
        f"code {code} is not in the provider's manual; keep polling, never treat as delivered",
        False,
        PENDING,
        known=False,
    )


def is_final(code: int, age: datetime.timedelta) -> bool:
    """Whether a message showing ``code`` at ``age`` (time since it was sent) can stop being polled."""
    final = status_info(code).final
    if final is None:
        return age >= FOUR_HOURS
    return final


def outcome_at(code: int, age: datetime.timedelta) -> str:
    """The outcome to record for ``code`` at ``age``: ``"pending"`` until :func:`is_final` is true."""
    if not is_final(code, age):
        return PENDING
    return status_info(code).outcome
