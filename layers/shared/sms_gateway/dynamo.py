"""DynamoDB adapter (pynamodb) of the message store: the only module of the send path that touches it.

Every create and every state transition is a conditional write. Groups of up to 100 recipients are
written in one ``TransactWriteItems`` call (DynamoDB's limit is 100 actions), so recording the
intent of a full provider call costs one round trip, and either all of it is recorded or none.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from sms_gateway.models import (
    OPTOUT_SK,
    REQUEST_SK,
    MessageItem,
    OptOutItem,
    RequestItem,
    bind_table,
    message_sk,
    request_pk,
)
from sms_gateway.store import Claim, IntentConflict, Message, MessageStore, State, StoreError
from sms_gateway.tracking import shard_for

TRANSACTION_LIMIT = 100
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
        published=bool(item.published),
        accepted_at=item.accepted_at,
        sent_at=item.sent_at,
        sent_at_raw=item.sent_at_raw,
        delivered_at=item.delivered_at,
        delivered_at_raw=item.delivered_at_raw,
        updated_at=item.updated_at,
        checks=int(item.checks or 0),
        unknown_code=None if item.unknown_code is None else int(item.unknown_code),
        next_check=from_epoch(item.next_check),
        expires_at=item.expires_at,
    )


def to_item(message: Message) -> MessageItem:
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
        published=message.published,
        expires_at=message.expires_at,
    )


def key_of(message: Message) -> MessageItem:
    """An item carrying only the key (for updates and deletes)."""
    return MessageItem(request_pk(message.request_id), message_sk(message.to))


def in_transactions(messages: Sequence[Message], write: Callable[[TransactWrite, Message], None]) -> None:
    """Apply ``write`` to every message, up to 100 per transaction; errors become StoreError."""
    for start in range(0, len(messages), TRANSACTION_LIMIT):
        batch = messages[start : start + TRANSACTION_LIMIT]
        try:
            with TransactWrite(connection=MessageItem._get_connection().connection) as transaction:
                for message in batch:
                    write(transaction, message)
        except TransactWriteError as exc:
            reasons = [reason.code if reason else None for reason in (exc.cancellation_reasons or [])]
            if "ConditionalCheckFailed" in reasons:
                conflicting = [
                    m.to for m, code in zip(batch, reasons, strict=False) if code == "ConditionalCheckFailed"
                ]
                raise IntentConflict(f"{len(conflicting)} recipients were not in the expected state") from exc
            raise StoreError(f"transaction of {len(batch)} items failed: {exc.cause_response_code}") from exc
        except PynamoDBException as exc:
            raise StoreError(f"transaction of {len(batch)} items failed: {exc}") from exc


class DynamoMessageStore(MessageStore):
    def __init__(self, table_name: str) -> None:
        bind_table(table_name)

    def claim_request(
        self, *, request_id: str, owner: str, fingerprint: str, now: datetime, expires_at: datetime
    ) -> Claim:
        item = RequestItem(request_pk(request_id), REQUEST_SK)
        try:
            item.update(
                actions=[
                    RequestItem.request_id.set(request_id),
                    RequestItem.owner.set(owner),
                    RequestItem.fingerprint.set(fingerprint),
                    RequestItem.created_at.set(RequestItem.created_at | now),
                    RequestItem.expires_at.set(expires_at),
                    RequestItem.rejections_published.set(RequestItem.rejections_published | False),
                    RequestItem.attempts.add(1),
                ],
                condition=RequestItem.pk.does_not_exist() | (RequestItem.owner == owner),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return Claim(first_attempt=False, duplicate=True, rejections_published=True)
            raise StoreError(f"could not claim request {request_id}: {exc.cause_response_code}") from exc
        return Claim(
            first_attempt=int(item.attempts) == 1,
            duplicate=False,
            rejections_published=bool(item.rejections_published),
        )

    def messages_of(self, request_id: str) -> dict[str, Message]:
        try:
            items = MessageItem.query(
                request_pk(request_id), MessageItem.sk.startswith("TO#"), consistent_read=True
            )
            return {item.to: to_message(item) for item in items}
        except PynamoDBException as exc:
            raise StoreError(f"could not read request {request_id}") from exc

    def record_intents(self, messages: Sequence[Message]) -> None:
        in_transactions(
            messages, lambda tx, m: tx.save(to_item(m), condition=MessageItem.pk.does_not_exist())
        )

    def mark_accepted(self, messages: Sequence[Message]) -> None:
        def write(tx: TransactWrite, m: Message) -> None:
            assert m.msgid is not None and m.accepted_at is not None and m.next_check is not None
            tx.update(
                key_of(m),
                actions=[
                    MessageItem.state.set(State.ACCEPTED),
                    MessageItem.msgid.set(m.msgid),
                    MessageItem.accepted_at.set(m.accepted_at),
                    MessageItem.updated_at.set(m.accepted_at),
                    MessageItem.track_shard.set(shard_for(m.msgid)),
                    MessageItem.next_check.set(epoch(m.next_check)),
                ],
                condition=(MessageItem.state == State.SENDING) & (MessageItem.owner == m.owner),
            )

        in_transactions(messages, write)

    def mark_outcome(self, messages: Sequence[Message]) -> None:
        now = datetime.now(UTC)

        def write(tx: TransactWrite, m: Message) -> None:
            tx.update(
                key_of(m),
                actions=[
                    MessageItem.state.set(m.state),
                    MessageItem.final.set(m.final),
                    MessageItem.reason.set(m.reason or "unknown"),
                    MessageItem.reason_message.set((m.reason_message or "")[:500]),
                    MessageItem.published.set(False),
                    MessageItem.updated_at.set(now),
                ],
                condition=MessageItem.state == State.SENDING,
            )

        in_transactions(messages, write)

    def mark_published(self, messages: Sequence[Message]) -> None:
        in_transactions(
            messages,
            lambda tx, m: tx.update(
                key_of(m), actions=[MessageItem.published.set(True)], condition=MessageItem.pk.exists()
            ),
        )
        for message in messages:
            message.published = True

    def release_intents(self, messages: Sequence[Message]) -> None:
        in_transactions(
            messages,
            lambda tx, m: tx.delete(
                key_of(m), condition=(MessageItem.state == State.SENDING) & (MessageItem.owner == m.owner)
            ),
        )

    def mark_rejections_published(self, request_id: str) -> None:
        try:
            RequestItem(request_pk(request_id), REQUEST_SK).update(
                actions=[RequestItem.rejections_published.set(True)]
            )
        except PynamoDBException as exc:
            raise StoreError(f"could not update request {request_id}") from exc

    def opted_out(self, numbers: Iterable[str]) -> set[str]:
        keys = [(f"OPTOUT#{number}", OPTOUT_SK) for number in dict.fromkeys(numbers)]
        found: set[str] = set()
        try:
            for start in range(0, len(keys), BATCH_GET_LIMIT):
                for item in OptOutItem.batch_get(keys[start : start + BATCH_GET_LIMIT]):
                    found.add(item.number)
        except PynamoDBException as exc:
            raise StoreError("could not read the opt-out list") from exc
        return found
