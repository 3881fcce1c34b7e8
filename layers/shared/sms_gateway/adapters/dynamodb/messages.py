"""DynamoDB adapter (pynamodb) of the message store: the only module of the send path that touches it.

Every create and every state transition is one conditional write per item (see :func:`for_each`).
A failed condition asks DynamoDB for the item as it was (``ReturnValuesOnConditionCheckFailure=
ALL_OLD``): that tells a real conflict apart from our own earlier write, whose response was lost and
which botocore's retry then found already done — without a second read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from asanak.templates import Template
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException
from pynamodb.expressions.update import Action

from sms_gateway.adapters.dynamodb.items import (
    DEFERRED_SK,
    OPTOUT_SK,
    PARK_SK,
    REJECTED_SK,
    TEMPLATES_PK,
    DeferredItem,
    MessageItem,
    OptOutItem,
    ParkedItem,
    RejectionItem,
    TemplatesItem,
    bind_table,
    message_sk,
    park_pk,
    request_pk,
)
from sms_gateway.domain.errors import StoreError
from sms_gateway.domain.model import (
    Blocked,
    Deferral,
    Lease,
    Message,
    Rejection,
    Rejections,
    State,
    StoredRequest,
    settled_alike,
)
from sms_gateway.domain.ports import MessageStore
from sms_gateway.domain.tracking.schedule import shard_for

WRITE_CONCURRENCY = 8
BATCH_GET_LIMIT = 100


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def dump_meta(meta: Any) -> str | None:
    return None if meta is None else json.dumps(meta, ensure_ascii=False, separators=(",", ":"))


def to_message(item: MessageItem) -> Message:
    return Message(
        request_id=item.request_id,
        to=item.to,
        sender=item.sender,
        owner=item.owner,
        state=item.state,
        parts=int(item.parts),
        meta=None if item.meta is None else json.loads(item.meta),
        created_at=item.created_at,
        msgid=item.msgid,
        status=None if item.status is None else int(item.status),
        status_name=item.status_name,
        status_rank=int(item.status_rank or 0),
        final=bool(item.final),
        reason=item.reason,
        reason_message=item.reason_message,
        accepted_at=item.accepted_at,
        sent_at=item.sent_at,
        sent_at_raw=item.sent_at_raw,
        delivered_at=item.delivered_at,
        delivered_at_raw=item.delivered_at_raw,
        updated_at=item.updated_at,
        checks=int(item.checks or 0),
        unknown_code=None if item.unknown_code is None else int(item.unknown_code),
        previous_status=None if item.previous_status is None else int(item.previous_status),
        next_check=from_epoch(item.next_check),
        expires_at=item.expires_at,
        lease_token=item.lease_token,
        lease_until=from_epoch(item.lease_until),
        fingerprint=item.fingerprint,
        template_id=item.template_id,
    )


def to_item(message: Message, lease: Lease | None = None) -> MessageItem:
    """A recipient as first written: leased (``sending``), or already settled (``lease`` None)."""
    return MessageItem(
        request_pk(message.request_id),
        message_sk(message.to),
        request_id=message.request_id,
        to=message.to,
        sender=message.sender,
        owner=message.owner,
        state=message.state,
        parts=message.parts,
        meta=dump_meta(message.meta),
        created_at=message.created_at,
        expires_at=message.expires_at,
        lease_token=None if lease is None else lease.token,
        lease_until=None if lease is None else epoch(lease.until),
        fingerprint=message.fingerprint,
        template_id=message.template_id,
        final=message.final,
        reason=message.reason,
        reason_message=None if message.reason_message is None else message.reason_message[:500],
        updated_at=None if lease is not None else message.created_at,
    )


def key_of(message: Message) -> MessageItem:
    """An item carrying only the key (for updates and deletes)."""
    return MessageItem(request_pk(message.request_id), message_sk(message.to))


class _Conflict(Exception):
    """A condition failed; ``old`` is the raw item as it was (None when there was none)."""

    def __init__(self, old: dict[str, Any] | None) -> None:
        super().__init__("conditional check failed")
        self.old = old


def _client() -> Any:
    return MessageItem._get_connection().connection.client


Write = Callable[[str, dict[str, Any]], dict[str, Any]]


def conditional_write(operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """One write through the shared botocore client, asking for the old item on a failed condition."""
    kwargs["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    try:
        return getattr(_client(), operation)(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise _Conflict(exc.response.get("Item")) from None
        raise


def for_each(
    messages: Sequence[Message],
    write: Callable[[Message], object],
    already_done: Callable[[Message, Message], bool],
) -> Blocked:
    """Apply one conditional write per message, a few at a time.

    Returns the recipients whose condition failed, each with the stored item (see :data:`Blocked`),
    except those where ``already_done(wanted, stored)`` says the stored item is our own earlier write.
    Any other failure becomes a :class:`StoreError` listing the writes that did take effect.
    """
    blocked: Blocked = {}
    failures: list[BaseException] = []
    written: list[Message] = []

    def run(message: Message) -> None:
        try:
            write(message)
        except _Conflict as conflict:
            stored = None if conflict.old is None else to_message(MessageItem.from_raw_data(conflict.old))
            if stored is not None and already_done(message, stored):
                written.append(message)
            else:
                blocked[message.to] = stored
        except (ClientError, BotoCoreError, PynamoDBException) as exc:
            failures.append(exc)
        else:
            written.append(message)

    if len(messages) == 1:
        run(messages[0])
    elif messages:
        with ThreadPoolExecutor(max_workers=min(WRITE_CONCURRENCY, len(messages))) as pool:
            list(pool.map(run, messages))
    if failures:
        raise StoreError(
            f"{len(failures)} of {len(messages)} writes failed: {failures[0]}", written
        ) from failures[0]
    return blocked


def warm_connections(*models: type[Any]) -> None:
    """Build each model's botocore client now (no network), not lazily inside a thread pool, where
    every thread would race to build its own (~50 ms of CPU each)."""
    for model in models:
        _ = model._get_connection().connection.client


def _held_by(lease: Lease) -> Any:
    return (MessageItem.state == State.SENDING) & (MessageItem.lease_token == lease.token)


def _same_outcome(wanted: Message, stored: Message) -> bool:
    return (
        stored.state == wanted.state
        and stored.msgid == wanted.msgid
        and stored.lease_token == wanted.lease_token
    )


class DynamoMessageStore(MessageStore):
    """``write`` performs each conditional write (a test passes one that loses responses)."""

    def __init__(self, table_name: str, *, write: Write = conditional_write) -> None:
        self._write = write
        bind_table(table_name)
        warm_connections(MessageItem)  # the one connection every model shares (see bind_table)

    def stored_request(self, request_id: str) -> StoredRequest:
        """One Query on the request's partition: its recipients (``TO#…``) and its deferral."""
        messages: dict[str, Message] = {}
        deferred: str | None = None
        try:
            for raw in (
                _client()
                .get_paginator("query")
                .paginate(
                    TableName=MessageItem.Meta.table_name,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": request_pk(request_id)}},
                    ConsistentRead=True,
                )
            ):
                for item in raw.get("Items", []):
                    sk = item["sk"]["S"]
                    if sk.startswith("TO#"):
                        message = to_message(MessageItem.from_raw_data(item))
                        messages[message.to] = message
                    elif sk == DEFERRED_SK:
                        deferred = DeferredItem.from_raw_data(item).fingerprint
        except (ClientError, BotoCoreError, PynamoDBException) as exc:
            raise StoreError(f"could not read request {request_id}") from exc
        return StoredRequest(messages, deferred)

    def lease(self, messages: Sequence[Message], lease: Lease) -> Blocked:
        def write(m: Message) -> None:
            kwargs = to_item(m, lease).get_save_kwargs_from_instance(
                condition=MessageItem.pk.does_not_exist()
            )
            self._write("put_item", kwargs)

        def mine(wanted: Message, stored: Message) -> bool:
            return stored.state == State.SENDING and stored.lease_token == lease.token

        blocked = for_each(messages, write, mine)
        for m in messages:
            if m.to not in blocked:
                m.state, m.lease_token, m.lease_until = State.SENDING, lease.token, lease.until
        return blocked

    def record(self, messages: Sequence[Message]) -> Blocked:
        def write(m: Message) -> None:
            item = to_item(m)
            self._write(
                "put_item", item.get_save_kwargs_from_instance(condition=MessageItem.pk.does_not_exist())
            )

        return for_each(messages, write, settled_alike)

    def settle(self, messages: Sequence[Message], lease: Lease) -> Blocked:
        now = datetime.now(UTC)

        def write(m: Message) -> None:
            actions: list[Action] = [
                MessageItem.state.set(m.state),
                MessageItem.updated_at.set(m.accepted_at or now),
                MessageItem.lease_until.remove(),
            ]
            if m.state == State.ACCEPTED:
                assert m.msgid is not None and m.accepted_at is not None and m.next_check is not None
                actions += [
                    MessageItem.msgid.set(m.msgid),
                    MessageItem.accepted_at.set(m.accepted_at),
                    MessageItem.track_shard.set(shard_for(m.msgid)),
                    MessageItem.next_check.set(epoch(m.next_check)),
                ]
            else:
                actions += [
                    MessageItem.final.set(True),
                    MessageItem.reason.set(m.reason or "unknown"),
                    MessageItem.reason_message.set((m.reason_message or "")[:500]),
                ]
            self._write(
                "update_item",
                key_of(m).get_update_kwargs_from_instance(actions=actions, condition=_held_by(lease)),
            )

        for m in messages:
            m.lease_token = lease.token
        return for_each(messages, write, _same_outcome)

    def release(self, messages: Sequence[Message], lease: Lease) -> Blocked:
        def write(m: Message) -> None:
            self._write("delete_item", key_of(m).get_delete_kwargs_from_instance(condition=_held_by(lease)))

        return for_each(messages, write, lambda wanted, stored: False)

    def take_over(self, messages: Sequence[Message], now: datetime) -> Blocked:
        def write(m: Message) -> None:
            assert m.lease_token is not None
            condition = (
                (MessageItem.state == State.SENDING)
                & (MessageItem.lease_token == m.lease_token)
                & (MessageItem.lease_until < epoch(now))
            )
            actions: list[Action] = [
                MessageItem.state.set(m.state),
                MessageItem.final.set(True),
                MessageItem.reason.set(m.reason or "unknown"),
                MessageItem.reason_message.set((m.reason_message or "")[:500]),
                MessageItem.updated_at.set(now),
                MessageItem.lease_until.remove(),
            ]
            self._write(
                "update_item", key_of(m).get_update_kwargs_from_instance(actions=actions, condition=condition)
            )

        return for_each(messages, write, _same_outcome)

    def reject(self, rejections: Rejections, expires_at: datetime) -> bool:
        item = RejectionItem(
            rejections.key,
            REJECTED_SK,
            request_id=rejections.request_id,
            meta=dump_meta(rejections.meta),
            entries=json.dumps(
                [{"to": e.to, "reason": e.reason, "message": e.message} for e in rejections.entries],
                ensure_ascii=False,
            ),
            expires_at=expires_at,
            created_at=datetime.now(UTC),
            template_id=rejections.template_id,
        )
        try:
            self._write(
                "put_item", item.get_save_kwargs_from_instance(condition=RejectionItem.pk.does_not_exist())
            )
        except _Conflict:
            return False  # stored by an earlier attempt: its event is on its way already
        except (ClientError, BotoCoreError, PynamoDBException) as exc:
            raise StoreError(f"could not store the rejection of {rejections.request_id}") from exc
        return True

    def opted_out(self, numbers: Iterable[str]) -> set[str]:
        keys = [(f"OPTOUT#{number}", OPTOUT_SK) for number in dict.fromkeys(numbers)]
        found: set[str] = set()
        try:
            for start in range(0, len(keys), BATCH_GET_LIMIT):
                for item in OptOutItem.batch_get(keys[start : start + BATCH_GET_LIMIT]):
                    if item.is_opted_out:  # an opt-in is kept as a tombstone (state opted_in)
                        found.add(item.number)
        except PynamoDBException as exc:
            raise StoreError("could not read the opt-out list") from exc
        return found

    def park(self, body_key: str, request_id: str, expires_at: datetime) -> str:
        item = ParkedItem(park_pk(body_key), PARK_SK, request_id=request_id, expires_at=expires_at)
        try:
            self._write(
                "put_item", item.get_save_kwargs_from_instance(condition=ParkedItem.pk.does_not_exist())
            )
        except _Conflict as conflict:  # parked before: that request id is the one to continue
            if conflict.old is None:
                raise StoreError("the parked request vanished while it was read") from None
            return str(ParkedItem.from_raw_data(conflict.old).request_id)
        except (ClientError, BotoCoreError, PynamoDBException) as exc:
            raise StoreError("could not park the request") from exc
        return request_id

    def templates(self) -> list[Template] | None:
        try:
            found = list(TemplatesItem.query(TEMPLATES_PK))
        except (ClientError, BotoCoreError, PynamoDBException) as exc:
            raise StoreError("could not read the template list") from exc
        if not found or found[0].templates is None:
            return None
        return [
            Template(
                str(entry["id"]),
                str(entry.get("title") or ""),
                None if entry.get("params") is None else tuple(entry["params"]),
                bool(entry.get("active", True)),
            )
            for entry in json.loads(found[0].templates)
        ]

    def defer(self, deferral: Deferral) -> bool:
        item = DeferredItem(
            request_pk(deferral.request_id),
            DEFERRED_SK,
            request_id=deferral.request_id,
            fingerprint=deferral.fingerprint,
            body=deferral.body,
            numbers=json.dumps(list(deferral.numbers)),
            reason=deferral.reason,
            message=deferral.message,
            token=deferral.token,
            meta=dump_meta(deferral.meta),
            created_at=deferral.created_at,
            next_check=epoch(deferral.due_at),
            expires_at=deferral.expires_at,
        )
        changed = (DeferredItem.next_check != item.next_check) | (DeferredItem.numbers != item.numbers)
        condition = DeferredItem.pk.does_not_exist() | (
            (DeferredItem.fingerprint == deferral.fingerprint) & changed
        )
        try:
            self._write("put_item", item.get_save_kwargs_from_instance(condition=condition))
        except _Conflict as conflict:  # the same deferral stored already, or another content's
            old = None if conflict.old is None else DeferredItem.from_raw_data(conflict.old)
            return old is not None and old.fingerprint == deferral.fingerprint
        except (ClientError, BotoCoreError, PynamoDBException) as exc:
            raise StoreError(f"could not defer the request {deferral.request_id}") from exc
        return True


def to_deferral(item: DeferredItem) -> Deferral:
    return Deferral(
        request_id=item.request_id,
        fingerprint=item.fingerprint,
        body=item.body,
        numbers=tuple(json.loads(item.numbers)),
        reason=item.reason,
        message=item.message,
        due_at=datetime.fromtimestamp(item.next_check, tz=UTC),
        token=item.token,
        meta=None if item.meta is None else json.loads(item.meta),
        created_at=item.created_at,
        expires_at=item.expires_at or item.created_at,
    )


def to_rejections(item: RejectionItem) -> Rejections:
    return Rejections(
        key=item.pk,
        request_id=item.request_id,
        meta=None if item.meta is None else json.loads(item.meta),
        entries=tuple(
            Rejection(entry.get("to"), entry["reason"], entry.get("message", ""))
            for entry in json.loads(item.entries)
        ),
        template_id=item.template_id,
    )
