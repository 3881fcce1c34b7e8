"""The transactional outbox: every event the gateway publishes follows from one stored state change.

send, poll and receive only write their state; the table's stream hands each change (the item before
and after) to the publish function, which asks :func:`events_for` what it means:

==========================================  =======================================================
change of an item                           event
==========================================  =======================================================
recipient: none/``sending`` → ``accepted``  ``SMS Accepted``
recipient: none/``sending`` → ``rejected``  ``SMS Rejected`` (its reason: ``provider_rejected``,
or ``unknown``                              ``outcome_unknown``)
recipient: status or finality changed       ``SMS Status Changed`` (previous status from the old item)
rejections item created                     one ``SMS Rejected`` per entry (poison, ``duplicate_id``,
                                            ``invalid_number``, ``opted_out``)
inbound item created                        ``SMS Received``
deferral stored (a new one, or the request  one ``SMS Deferred`` per deferred recipient
deferred again: a new token)
anything else (a lease, a release, a        nothing
reschedule, a TTL deletion)
==========================================  =======================================================

The stream delivers each change at least once and in order per item, so events are at least once;
every event carries ``event_id``, derived from the change itself (not from the delivery), so a
consumer can deduplicate. :func:`current_events` gives the events an item's present state stands for,
to re-publish from the table when the stream's 24 hours have passed (``smsctl republish``).
"""

from __future__ import annotations

from asanak import statuses

from sms_gateway.domain import events
from sms_gateway.domain.events import Event, Reason
from sms_gateway.domain.model import Deferral, InboundRecord, Message, Rejections, State
from sms_gateway.domain.tracking.schedule import outcome_of

Image = Message | Rejections | InboundRecord | Deferral | None

SETTLED_WITHOUT_MSGID = (State.REJECTED, State.UNKNOWN)


def events_for(old: Image, new: Image) -> list[Event]:
    """The events one stored change stands for (none for most writes)."""
    if isinstance(new, Message):
        return _recipient_events(old if isinstance(old, Message) else None, new)
    if isinstance(new, Deferral):
        if isinstance(old, Deferral) and old.token == new.token:
            return []
        return deferred_events(new)
    if old is not None or new is None:  # only creations publish rejections and inbound SMS
        return []
    if isinstance(new, Rejections):
        return rejection_events(new)
    return [received_event(new)]


def current_events(item: Image) -> list[Event]:
    """The events the item's present state stands for, as if it had just been written."""
    if isinstance(item, Message):
        found = _recipient_events(None, item)
        if item.status is not None and item.msgid is not None:
            found.append(_status_event(item, previous_status=item.previous_status))
        return found
    return events_for(None, item)


def _recipient_events(old: Message | None, new: Message) -> list[Event]:
    before = None if old is None else old.state
    found: list[Event] = []
    if before in (None, State.SENDING):
        if new.state in (State.ACCEPTED, State.FINAL) and new.msgid is not None:
            found.append(accepted_event(new))
        elif new.state in SETTLED_WITHOUT_MSGID:
            found.append(rejected_event(new))
    if (
        old is not None
        and new.msgid is not None
        and new.status is not None
        and (new.status, new.final) != (old.status, old.final)
    ):
        found.append(_status_event(new, previous_status=old.status))
    return found


def accepted_event(message: Message) -> Event:
    assert message.msgid is not None
    return events.sms_accepted(
        request_id=message.request_id,
        msgid=message.msgid,
        to=message.to,
        sender=message.sender,
        parts=message.parts,
        meta=message.meta,
        template_id=message.template_id,
    )


def rejected_event(message: Message) -> Event:
    return events.sms_rejected(
        request_id=message.request_id,
        to=message.to,
        reason=message.reason or Reason.OUTCOME_UNKNOWN,
        message=message.reason_message or "",
        meta=message.meta,
        template_id=message.template_id,
    )


def _status_event(message: Message, previous_status: int | None) -> Event:
    status = message.status if message.status is not None else 0
    return events.sms_status_changed(
        message,
        status_name=message.status_name or statuses.status_info(status).name,
        previous_status=previous_status,
        outcome=outcome_of(status, message.final),
    )


def rejection_events(rejections: Rejections) -> list[Event]:
    return [
        events.sms_rejected(
            request_id=rejections.request_id,
            to=entry.to,
            reason=entry.reason,
            message=entry.message,
            meta=rejections.meta,
            change=rejections.key,
            template_id=rejections.template_id,
        )
        for entry in rejections.entries
    ]


def deferred_events(deferral: Deferral) -> list[Event]:
    return [
        events.sms_deferred(
            request_id=deferral.request_id,
            to=number,
            reason=deferral.reason,
            message=deferral.message,
            due_at=deferral.due_at,
            deferral=deferral.token,
            meta=deferral.meta,
        )
        for number in deferral.numbers
    ]


def received_event(record: InboundRecord) -> Event:
    """``SMS Received`` for a stored inbound SMS (published from the item's creation)."""
    return events.sms_received(
        sender=record.sender,
        recipient=record.recipient,
        text=record.text,
        received_at=record.received_at,
        provider_time=record.provider_time,
        inbound_id=record.inbound_id,
        keyword=record.keyword,
    )
