"""The DynamoDB single-table model (pynamodb). Every item type the gateway stores lives here.

| item          | pk                   | sk            | what it is                                   |
|---------------|----------------------|---------------|----------------------------------------------|
| message       | ``REQ#<request_id>`` | ``TO#<98…>``  | one recipient of a request: lease, msgid,     |
|               |                      |               | status, the request's fingerprint             |
| rejections    | ``REQ#<request_id>`` | ``#REJECTED`` | a request's invalid and opted-out numbers     |
|               | ``MSG#<sqs msg id>`` | ``#REJECTED`` | a whole message rejected (poison, reused id)  |
| inbound       | ``IN#<push key>``    | ``#INBOUND``  | one SMS pushed by Asanak                      |
| opt-out       | ``OPTOUT#<98…>``     | ``#OPTOUT``   | a number's latest opt-out/opt-in instruction  |
| parked        | ``PARK#<body hash>`` | ``#PARK``     | an id-less request on its way to the DLQ      |
| deferral      | ``REQ#<request_id>`` | ``#DEFERRED`` | a request waiting for its window (its body)   |
| credit check  | ``CREDIT``           | ``#CREDIT``   | when credit was last read, and its value      |
| templates     | ``TEMPLATES``        | ``#TEMPLATES``| the account's template list, when last listed |

Access patterns: a request and all its recipients are one ``Query`` on ``pk``; a recipient is one
``GetItem``; messages not yet final are found through the sparse GSI ``inflight`` (hash
``track_shard``, range ``next_check``): only messages in flight carry those two attributes, so the index
holds exactly the work the poller has to do and a poll run reads in proportion to it, never to the
table. Deferrals use the same sparse index under their own hash key ``track_shard = "DEFERRED"``
(range: when they are due), so the poll function's tick finds the due ones with one ``Query`` and
tracking, which queries only the numbered shards, never sees them. Every item carries ``expires_at``
(the table's TTL attribute).

The table name is bound at run time by :func:`bind_table` (called by the DynamoDB stores), never
at import time.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

UNBOUND = "unbound-table"
INFLIGHT_INDEX = "inflight"


class _Base(Model):
    class Meta:
        table_name = UNBOUND

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    expires_at = TTLAttribute(null=True)


class InflightIndex(GlobalSecondaryIndex["MessageItem"]):
    class Meta:
        index_name = INFLIGHT_INDEX
        projection = AllProjection()

    track_shard = UnicodeAttribute(hash_key=True)
    next_check = NumberAttribute(range_key=True)


class MessageItem(_Base):
    class Meta:
        table_name = UNBOUND

    request_id = UnicodeAttribute()
    to = UnicodeAttribute()
    sender = UnicodeAttribute()
    owner = UnicodeAttribute()
    state = UnicodeAttribute()  # sending | accepted | final | unknown | rejected
    parts = NumberAttribute()
    meta = UnicodeAttribute(null=True)  # the request's meta, as compact JSON
    msgid = UnicodeAttribute(null=True)
    status = NumberAttribute(null=True)
    status_name = UnicodeAttribute(null=True)
    status_rank = NumberAttribute(default=0)
    final = BooleanAttribute(default=False)
    reason = UnicodeAttribute(null=True)
    reason_message = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    accepted_at = UTCDateTimeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    sent_at_raw = UnicodeAttribute(null=True)
    delivered_at = UTCDateTimeAttribute(null=True)
    delivered_at_raw = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    checks = NumberAttribute(default=0)
    unknown_code = NumberAttribute(null=True)
    previous_status = NumberAttribute(null=True)  # the status before the last change (for its event)
    track_shard = UnicodeAttribute(null=True)
    next_check = NumberAttribute(null=True)
    lease_token = UnicodeAttribute(null=True)  # the send attempt that holds (or held) this recipient
    lease_until = NumberAttribute(null=True)  # epoch seconds; only while ``sending``
    fingerprint = UnicodeAttribute(null=True)  # the request's content fingerprint
    template_id = UnicodeAttribute(null=True)  # the approved template it was sent from
    inflight = InflightIndex()


class InboundItem(_Base):
    class Meta:
        table_name = UNBOUND

    sender = UnicodeAttribute()
    recipient = UnicodeAttribute()
    text = UnicodeAttribute()
    received_at = UTCDateTimeAttribute()
    provider_time = UnicodeAttribute()
    keyword = UnicodeAttribute(null=True)  # opt_out | opt_in, when the text was one
    created_at = UTCDateTimeAttribute()


OPTED_OUT = "opted_out"
OPTED_IN = "opted_in"


class OptOutItem(_Base):
    """A number's latest instruction, by the provider's receive time ``at``: an opt-out, or an opt-in
    kept as a tombstone (``state = opted_in``) so an older opt-out arriving late cannot undo it."""

    class Meta:
        table_name = UNBOUND

    number = UnicodeAttribute()
    keyword = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    state = UnicodeAttribute(null=True)  # OPTED_OUT or OPTED_IN; absent on items written before tombstones

    @property
    def is_opted_out(self) -> bool:
        return self.state != OPTED_IN


class RejectionItem(_Base):
    class Meta:
        table_name = UNBOUND

    request_id = UnicodeAttribute()
    meta = UnicodeAttribute(null=True)  # the request's meta, as compact JSON
    entries = UnicodeAttribute()  # JSON list of {"to", "reason", "message"}
    created_at = UTCDateTimeAttribute(null=True)
    template_id = UnicodeAttribute(null=True)


class ParkedItem(_Base):
    class Meta:
        table_name = UNBOUND

    request_id = UnicodeAttribute()


DEFERRED_SHARD = "DEFERRED"


class DueIndex(GlobalSecondaryIndex["DeferredItem"]):
    """The ``inflight`` index as deferrals use it (their own hash key)."""

    class Meta:
        index_name = INFLIGHT_INDEX
        projection = AllProjection()

    track_shard = UnicodeAttribute(hash_key=True)
    next_check = NumberAttribute(range_key=True)


class DeferredItem(_Base):
    class Meta:
        table_name = UNBOUND

    request_id = UnicodeAttribute()
    fingerprint = UnicodeAttribute()  # the request's content (another content under this id: reused)
    body = UnicodeAttribute()  # the SQS body as received
    numbers = UnicodeAttribute()  # JSON list of the deferred recipients
    reason = UnicodeAttribute()
    message = UnicodeAttribute()
    token = UnicodeAttribute()
    meta = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    track_shard = UnicodeAttribute(default=DEFERRED_SHARD)  # the sparse index: due deferrals
    next_check = NumberAttribute()  # epoch seconds: when it is due
    due = DueIndex()


class CreditItem(_Base):
    class Meta:
        table_name = UNBOUND

    checked_at = NumberAttribute(default=0)
    credit = UnicodeAttribute(null=True)


class TemplatesItem(_Base):
    """The account's approved templates as the poll function last listed them (the send path reads
    them with a ``Query`` on the key, before any template is sent)."""

    class Meta:
        table_name = UNBOUND

    checked_at = NumberAttribute(default=0)  # the claim: one run lists them per interval
    templates = UnicodeAttribute(null=True)  # JSON list of {"id", "title", "params", "active"}
    listed_at = UTCDateTimeAttribute(null=True)


ALL_MODELS: tuple[type[_Base], ...] = (
    MessageItem,
    RejectionItem,
    InboundItem,
    OptOutItem,
    ParkedItem,
    DeferredItem,
    CreditItem,
    TemplatesItem,
)


def bind_table(table_name: str) -> None:
    """Point every model at ``table_name`` and give them one shared connection.

    pynamodb builds a connection (a botocore client, ~50 ms of CPU and ~10 MB) per model class; all
    our item types live in one table, so one client serves them all. Cached connections are dropped
    first: endpoints may have changed (tests, the local stack).
    """
    for model in ALL_MODELS:
        model.Meta.table_name = table_name
        model._connection = None
    shared = MessageItem._get_connection()  # its schema is the superset: keys and the in-flight index
    for model in ALL_MODELS:
        model._connection = shared


def request_pk(request_id: str) -> str:
    return f"REQ#{request_id}"


def message_sk(number: str) -> str:
    return f"TO#{number}"


def park_pk(body_key: str) -> str:
    return f"PARK#{body_key}"


REJECTED_SK = "#REJECTED"
DEFERRED_SK = "#DEFERRED"
PARK_SK = "#PARK"
INBOUND_SK = "#INBOUND"
OPTOUT_SK = "#OPTOUT"
CREDIT_PK = "CREDIT"
CREDIT_SK = "#CREDIT"
TEMPLATES_PK = "TEMPLATES"
TEMPLATES_SK = "#TEMPLATES"
