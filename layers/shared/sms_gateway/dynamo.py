"""DynamoDB adapter (pynamodb) of the message store: the only module of the send path that touches it.

Every create and every state transition is a conditional write.
Each recipient is one item and one conditional write (see :func:`for_each`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, PynamoDBException, UpdateError

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
        expires_at=message.expires_at,
    )


def key_of(message: Message) -> MessageItem:
    """An item carrying only the key (for updates and deletes)."""
    return MessageItem(request_pk(message.request_id), message_sk(message.to))


def for_each(messages: Sequence[Message], write: Callable[[Message], object]) -> None:
    """Apply one conditional write per message, a few at a time; any failure becomes a StoreError.

    Single-item conditional writes rather than ``TransactWriteItems``: nothing here needs several
    items to change atomically (each recipient's state stands alone), a transaction costs twice the
    write units, and moto copies the whole table for every transaction item, which made the local
    stack quadratic in table size.
    """
    if not messages:
        return
    conflicts: list[str] = []
    failures: list[BaseException] = []
    written: list[Message] = []

    def run(message: Message) -> None:
        try:
            write(message)
            written.append(message)
        except (PutError, UpdateError, DeleteError) as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                conflicts.append(message.to)
            else:
                failures.append(exc)
        except PynamoDBException as exc:
            failures.append(exc)

    if len(messages) == 1:
        run(messages[0])
    else:
        with ThreadPoolExecutor(max_workers=min(WRITE_CONCURRENCY, len(messages))) as pool:
            list(pool.map(run, messages))
    if failures:
        raise StoreError(
            f"{len(failures)} of {len(messages)} writes failed: {failures[0]}", written
        ) from failures[0]
    if conflicts:
        raise IntentConflict(f"{len(conflicts)} recipients were not in the expected state", written)


def warm_connections(*models: type[Any]) -> None:
    """Build each model's botocore client now (no network), not lazily inside a thread pool, where
    every thread would race to build its own (~50 ms of CPU each)."""
    for model in models:
        _ = model._get_connection().connection.client


class DynamoMessageStore(MessageStore):
    def __init__(self, table_name: str) -> None:
        bind_table(table_name)
        warm_connections(MessageItem)  # the one connection every model shares (see bind_table)

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
                return self._duplicate_claim(request_id)
            raise StoreError(f"could not claim request {request_id}: {exc.cause_response_code}") from exc
        return Claim(
            first_attempt=int(item.attempts) == 1,
            duplicate=False,
            rejections_published=bool(item.rejections_published),
        )

    @staticmethod
    def _duplicate_claim(request_id: str) -> Claim:
        try:
            stored = RequestItem.get(request_pk(request_id), REQUEST_SK, consistent_read=True)
        except PynamoDBException as exc:
            raise StoreError(f"could not read request {request_id}") from exc
        return Claim(
            first_attempt=False,
            duplicate=True,
            rejections_published=bool(stored.rejections_published),
            fingerprint=stored.fingerprint,
        )

    def messages_of(self, request_id: str) -> dict[str, Message]:
        try:
            request = RequestItem.get(request_pk(request_id), REQUEST_SK, consistent_read=True)
            items = MessageItem.query(
                request_pk(request_id), MessageItem.sk.startswith("TO#"), consistent_read=True
            )
            messages = {item.to: to_message(item) for item in items}
        except PynamoDBException as exc:
            raise StoreError(f"could not read request {request_id}") from exc
        published = request.published_to or set()
        for number, message in messages.items():
            message.published = number in published
        return messages

    def record_intents(self, messages: Sequence[Message]) -> None:
        def write(m: Message) -> None:
            to_item(m).save(condition=MessageItem.pk.does_not_exist())

        for_each(messages, write)

    def mark_accepted(self, messages: Sequence[Message]) -> None:
        def write(m: Message) -> None:
            assert m.msgid is not None and m.accepted_at is not None and m.next_check is not None
            key_of(m).update(
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

        for_each(messages, write)

    def mark_outcome(self, messages: Sequence[Message]) -> None:
        now = datetime.now(UTC)

        def write(m: Message) -> None:
            key_of(m).update(
                actions=[
                    MessageItem.state.set(m.state),
                    MessageItem.final.set(m.final),
                    MessageItem.reason.set(m.reason or "unknown"),
                    MessageItem.reason_message.set((m.reason_message or "")[:500]),
                    MessageItem.updated_at.set(now),
                ],
                condition=MessageItem.state == State.SENDING,
            )

        for_each(messages, write)

    def mark_published(self, messages: Sequence[Message]) -> None:
        by_request: dict[str, set[str]] = {}
        for message in messages:
            by_request.setdefault(message.request_id, set()).add(message.to)

        def write(request_id: str) -> None:  # one write per request, not per recipient
            RequestItem(request_pk(request_id), REQUEST_SK).update(
                actions=[RequestItem.published_to.add(by_request[request_id])],
                condition=RequestItem.pk.exists(),
            )

        try:
            with ThreadPoolExecutor(max_workers=min(WRITE_CONCURRENCY, len(by_request) or 1)) as pool:
                list(pool.map(write, by_request))
        except PynamoDBException as exc:
            raise StoreError(f"could not mark {len(messages)} outcomes published") from exc
        for message in messages:
            message.published = True

    def release_intents(self, messages: Sequence[Message]) -> None:
        for_each(
            messages,
            lambda m: key_of(m).delete(
                condition=(MessageItem.state == State.SENDING) & (MessageItem.owner == m.owner)
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
