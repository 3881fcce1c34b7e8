"""DynamoDB Streams adapter: a stream record's images as the domain's items (see
:mod:`sms_gateway.domain.publishing.outbox`).

Only item types that publish events are read (recipients, rejections, inbound SMS, deferrals); every
other item (opt-outs, parked requests, the credit check) is ``None``, a change the outbox ignores.
"""

from __future__ import annotations

from typing import Any

from sms_gateway.adapters.dynamodb.inbound import to_record
from sms_gateway.adapters.dynamodb.items import (
    DEFERRED_SK,
    INBOUND_SK,
    REJECTED_SK,
    DeferredItem,
    InboundItem,
    MessageItem,
    RejectionItem,
)
from sms_gateway.adapters.dynamodb.messages import to_deferral, to_message, to_rejections
from sms_gateway.domain.publishing.outbox import Image
from sms_gateway.domain.publishing.service import Change, Unreadable


def image_of(raw: dict[str, Any] | None) -> Image:
    """The domain object an item image (DynamoDB JSON) stands for, or None."""
    if not raw or "sk" not in raw:
        return None
    sk = raw["sk"].get("S", "")
    if sk.startswith("TO#"):
        return to_message(MessageItem.from_raw_data(raw))
    if sk == REJECTED_SK:
        return to_rejections(RejectionItem.from_raw_data(raw))
    if sk == INBOUND_SK:
        return to_record(InboundItem.from_raw_data(raw))
    if sk == DEFERRED_SK:
        return to_deferral(DeferredItem.from_raw_data(raw))
    return None


def change_of(record: dict[str, Any]) -> Change:
    """A DynamoDB stream record (as Lambda delivers it) as a a ``Change``; an
    image that cannot be read becomes ``Unreadable`` (that change fails alone)."""
    stream = record["dynamodb"]
    keys = stream.get("Keys", {})
    return Change(
        id=str(stream["SequenceNumber"]),
        old=_readable(stream.get("OldImage")),
        new=_readable(stream.get("NewImage")),
        key=f"{keys.get('pk', {}).get('S', '')}|{keys.get('sk', {}).get('S', '')}",
    )


def _readable(raw: dict[str, Any] | None) -> Image | Unreadable:
    try:
        return image_of(raw)
    except Exception as exc:  # a bug or an item written by something else: keep it visible
        return Unreadable(f"{type(exc).__name__}: {exc}")
