"""DynamoDB adapter (pynamodb) of the tracking store: the only module of the poll path that touches it.

Due messages come from the sparse ``inflight`` index (hash ``track_shard``, range ``next_check``): one
``Query`` per shard with ``next_check <= now``, merged oldest first and read page by page as the run
goes — never a scan. Every write is a conditional ``UpdateItem``; a failed condition means another
run got there first and is reported as ``False`` (or ignored), never as an error.
"""

from __future__ import annotations

import heapq
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from asanak.templates import Template
from pynamodb.constants import COUNT, NONE
from pynamodb.exceptions import PynamoDBException, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from sms_gateway.adapters.dynamodb.items import (
    CREDIT_PK,
    CREDIT_SK,
    INFLIGHT_INDEX,
    TEMPLATES_PK,
    TEMPLATES_SK,
    CreditItem,
    MessageItem,
    TemplatesItem,
    bind_table,
    message_sk,
    request_pk,
)
from sms_gateway.adapters.dynamodb.messages import epoch, to_message
from sms_gateway.domain.errors import StoreError
from sms_gateway.domain.model import Count, Message, State, StatusChange
from sms_gateway.domain.ports import TrackingStore
from sms_gateway.domain.tracking.rules import COUNT_MAX_PAGES
from sms_gateway.domain.tracking.schedule import TRACK_SHARDS

logger = logging.getLogger("sms_gateway.dynamo_tracking")

CONDITION_FAILED = "ConditionalCheckFailedException"
COUNT_PAGE_SIZE = 1000
"""Items one counting Query evaluates (Select=COUNT), so a page's cost is known and bounded."""


def to_tracked(item: MessageItem) -> Message:
    message = to_message(item)
    message.previous_status = None if item.previous_status is None else int(item.previous_status)
    return message


def _still_at(rank: int) -> Condition:
    """The stored rank is still ``rank`` (an item written before ranks existed counts as 0)."""
    condition = MessageItem.status_rank == rank
    if rank == 0:
        condition = condition | MessageItem.status_rank.does_not_exist()
    return condition


class DynamoTrackingStore(TrackingStore):
    def __init__(self, table_name: str, *, count_page_size: int = COUNT_PAGE_SIZE) -> None:
        bind_table(table_name)
        self._count_page_size = count_page_size

    # -- reads ----------------------------------------------------------------------------------------
    def due(self, now: datetime, page_size: int) -> Iterator[Message]:
        upto = epoch(now)
        try:
            shards = [
                MessageItem.inflight.query(str(shard), MessageItem.next_check <= upto, page_size=page_size)
                for shard in range(TRACK_SHARDS)
            ]
            for item in heapq.merge(*shards, key=lambda item: item.next_check):
                yield to_tracked(item)
        except PynamoDBException as exc:
            raise StoreError("could not read the messages due for a check") from exc

    def count_in_flight(self, *, stop: Callable[[], bool]) -> Count:
        return self._count(None, stop, "count the messages in flight")

    def count_due(self, now: datetime, *, stop: Callable[[], bool]) -> Count:
        return self._count(MessageItem.next_check <= epoch(now), stop, "count the messages due")

    def _count(self, condition: Condition | None, stop: Callable[[], bool], what: str) -> Count:
        """Select=COUNT page by page on every shard: the first page always, more while ``stop()`` is
        false, at most :data:`~sms_gateway.domain.tracking.service.COUNT_MAX_PAGES` per shard."""
        total, exact = 0, True
        connection = MessageItem._get_connection()
        try:
            for shard in range(TRACK_SHARDS):
                start: dict | None = None
                for page in range(COUNT_MAX_PAGES):
                    if page and stop():
                        break
                    response = connection.query(
                        str(shard),
                        range_key_condition=condition,
                        index_name=INFLIGHT_INDEX,
                        select=COUNT,
                        limit=self._count_page_size,
                        exclusive_start_key=start,
                    )
                    total += int(response.get("Count", 0))
                    start = response.get("LastEvaluatedKey")
                    if not start:
                        break
                exact = exact and not start
        except PynamoDBException as exc:
            raise StoreError(f"could not {what}") from exc
        return Count(total, exact)

    # -- writes ---------------------------------------------------------------------------------------
    def apply_change(
        self, message: Message, change: StatusChange, *, next_check: datetime | None, now: datetime
    ) -> bool:
        actions: list[Action] = [
            MessageItem.status.set(change.status),
            MessageItem.status_name.set(change.status_name),
            MessageItem.status_rank.set(change.rank),
            MessageItem.final.set(change.final),
            MessageItem.updated_at.set(now),
            MessageItem.checks.add(1),
        ]
        if next_check is None:  # final: leave the in-flight index
            actions += [MessageItem.track_shard.remove(), MessageItem.next_check.remove()]
        else:
            actions.append(MessageItem.next_check.set(epoch(next_check)))
        if change.previous_status is None:
            actions.append(MessageItem.previous_status.remove())
        else:
            actions.append(MessageItem.previous_status.set(change.previous_status))
        if change.final:
            actions.append(MessageItem.state.set(State.FINAL))
        if change.sent_at is not None:
            actions.append(MessageItem.sent_at.set(change.sent_at))
        if change.sent_at_raw:
            actions.append(MessageItem.sent_at_raw.set(change.sent_at_raw))
        if change.delivered_at is not None:
            actions.append(MessageItem.delivered_at.set(change.delivered_at))
        if change.delivered_at_raw:
            actions.append(MessageItem.delivered_at_raw.set(change.delivered_at_raw))
        condition = (MessageItem.state == State.ACCEPTED) & _still_at(message.status_rank)
        return self._update(message, actions, condition, "store a status change")

    def reschedule(
        self, message: Message, *, next_check: datetime, now: datetime, unknown_code: int | None
    ) -> None:
        actions: list[Action] = [
            MessageItem.next_check.set(epoch(next_check)),
            MessageItem.updated_at.set(now),
            MessageItem.checks.add(1),
        ]
        if unknown_code is not None:
            actions.append(MessageItem.unknown_code.set(unknown_code))
        condition = (MessageItem.state == State.ACCEPTED) & _still_at(message.status_rank)
        self._update(message, actions, condition, "reschedule a check")

    def _update(self, message: Message, actions: list[Action], condition: Condition, what: str) -> bool:
        """One conditional UpdateItem that returns nothing (the run needs no item back)."""
        try:
            MessageItem._get_connection().update_item(
                request_pk(message.request_id),
                range_key=message_sk(message.to),
                actions=actions,
                condition=condition,
                return_values=NONE,
            )
        except UpdateError as exc:
            if exc.cause_response_code == CONDITION_FAILED:
                return False
            raise StoreError(
                f"could not {what} for msgid {message.msgid}: {exc.cause_response_code}"
            ) from exc
        except PynamoDBException as exc:
            raise StoreError(f"could not {what} for msgid {message.msgid}") from exc
        return True

    # -- credit ---------------------------------------------------------------------------------------
    def claim_credit_check(self, now: datetime, interval: timedelta) -> bool:
        return _claim(CreditItem(CREDIT_PK, CREDIT_SK), now, interval, "the credit check")

    def claim_template_refresh(self, now: datetime, interval: timedelta) -> bool:
        return _claim(TemplatesItem(TEMPLATES_PK, TEMPLATES_SK), now, interval, "the template list")

    def record_templates(self, templates: Sequence[Template], now: datetime) -> None:
        listed = [
            {"id": t.template_id, "title": t.title, "params": t.params, "active": t.active} for t in templates
        ]
        try:
            TemplatesItem(TEMPLATES_PK, TEMPLATES_SK).update(
                actions=[
                    TemplatesItem.templates.set(json.dumps(listed, ensure_ascii=False)),
                    TemplatesItem.listed_at.set(now),
                ],
                condition=TemplatesItem.checked_at == epoch(now),
            )
        except UpdateError as exc:
            if exc.cause_response_code != CONDITION_FAILED:  # a later run already listed them again
                raise StoreError(f"could not record the templates: {exc.cause_response_code}") from exc
        except PynamoDBException as exc:
            raise StoreError("could not record the templates") from exc

    def record_credit(self, credit: Decimal, now: datetime) -> None:
        try:
            CreditItem(CREDIT_PK, CREDIT_SK).update(
                actions=[CreditItem.credit.set(str(credit))], condition=CreditItem.checked_at == epoch(now)
            )
        except UpdateError as exc:
            if exc.cause_response_code != CONDITION_FAILED:  # a later check already recorded a newer value
                raise StoreError(f"could not record the credit: {exc.cause_response_code}") from exc
        except PynamoDBException as exc:
            raise StoreError("could not record the credit") from exc


def _claim(item: CreditItem | TemplatesItem, now: datetime, interval: timedelta, what: str) -> bool:
    """One run per ``interval`` may do ``what``: a conditional update of the item's ``checked_at``."""
    model = type(item)
    try:
        item.update(
            actions=[model.checked_at.set(epoch(now))],
            condition=model.pk.does_not_exist() | (model.checked_at <= epoch(now - interval)),
        )
    except UpdateError as exc:
        if exc.cause_response_code == CONDITION_FAILED:
            return False
        raise StoreError(f"could not claim {what}: {exc.cause_response_code}") from exc
    except PynamoDBException as exc:
        raise StoreError(f"could not claim {what}") from exc
    return True
