"""DynamoDB adapter (pynamodb) of the inbound store: inbound SMS items and the opt-out list.

Every write is conditional: an inbound item is created only if its key is new. A number's opt-out
item holds its latest instruction by the provider's receive time: an opt-out or opt-in is written
(``UpdateItem``) only when it is newer than the stored one, and an opt-in is kept as a tombstone
(``state = opted_in``), never deleted, so an older opt-out arriving late cannot undo it. At the same
second an opt-out wins, whichever arrives first. Errors other than a failed condition become
:class:`~sms_gateway.domain.model.StoreError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pynamodb.exceptions import PutError, PynamoDBException, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from sms_gateway.adapters.dynamodb.items import (
    INBOUND_SK,
    OPTED_IN,
    OPTED_OUT,
    OPTOUT_SK,
    InboundItem,
    OptOutItem,
    bind_table,
)
from sms_gateway.domain.errors import StoreError
from sms_gateway.domain.model import InboundRecord
from sms_gateway.domain.ports import InboundStore

CONDITION_FAILED = "ConditionalCheckFailedException"


def inbound_pk(inbound_id: str) -> str:
    return f"IN#{inbound_id}"


def optout_pk(number: str) -> str:
    return f"OPTOUT#{number}"


def to_record(item: InboundItem) -> InboundRecord:
    assert item.expires_at is not None
    return InboundRecord(
        inbound_id=item.pk.removeprefix("IN#"),
        sender=item.sender,
        recipient=item.recipient,
        text=item.text,
        received_at=item.received_at,
        provider_time=item.provider_time,
        created_at=item.created_at,
        expires_at=item.expires_at,
        keyword=item.keyword,
    )


class DynamoInboundStore(InboundStore):
    def __init__(self, table_name: str) -> None:
        bind_table(table_name)

    def create(self, record: InboundRecord) -> bool:
        item = InboundItem(
            inbound_pk(record.inbound_id),
            INBOUND_SK,
            sender=record.sender,
            recipient=record.recipient,
            text=record.text,
            received_at=record.received_at,
            provider_time=record.provider_time,
            keyword=record.keyword,
            created_at=record.created_at,
            expires_at=record.expires_at,
        )
        try:
            item.save(condition=InboundItem.pk.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == CONDITION_FAILED:
                return False
            raise StoreError(
                f"could not store inbound {record.inbound_id}: {exc.cause_response_code}"
            ) from exc
        except PynamoDBException as exc:
            raise StoreError(f"could not store inbound {record.inbound_id}") from exc
        return True

    def opt_out(self, number: str, keyword: str, at: datetime) -> None:
        newer = OptOutItem.pk.does_not_exist() | (OptOutItem.at < at)
        ties_with_an_opt_in = (OptOutItem.at == at) & (OptOutItem.state == OPTED_IN)
        actions = [OptOutItem.expires_at.remove()]  # an opt-out is kept until reversed
        self._instruct(number, keyword, at, OPTED_OUT, newer | ties_with_an_opt_in, actions)

    def opt_in(self, number: str, keyword: str, at: datetime, expires_at: datetime) -> None:
        newer = OptOutItem.pk.does_not_exist() | (OptOutItem.at < at)
        self._instruct(number, keyword, at, OPTED_IN, newer, [OptOutItem.expires_at.set(expires_at)])

    @staticmethod
    def _instruct(
        number: str, keyword: str, at: datetime, state: str, condition: Condition, extra: Sequence[Action]
    ) -> None:
        actions: list[Action] = [
            OptOutItem.number.set(number),
            OptOutItem.keyword.set(keyword),
            OptOutItem.at.set(at),
            OptOutItem.state.set(state),
            *extra,
        ]
        try:
            OptOutItem(optout_pk(number), OPTOUT_SK).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == CONDITION_FAILED:
                return  # a newer instruction (or an opt-out of the same second) is already stored
            raise StoreError(f"could not store the {state} instruction: {exc.cause_response_code}") from exc
        except PynamoDBException as exc:
            raise StoreError(f"could not store the {state} instruction") from exc
