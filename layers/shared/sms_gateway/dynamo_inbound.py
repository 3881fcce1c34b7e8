"""DynamoDB adapter (pynamodb) of the inbound store: inbound SMS items and the opt-out list.

Every write is conditional: an inbound item is created only if its key is new; an opt-out is written
only over an older one (or none); an opt-in deletes only an opt-out older than itself. Errors other
than a failed condition become :class:`~sms_gateway.store.StoreError`.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DeleteError, PutError, PynamoDBException

from sms_gateway.models import INBOUND_SK, OPTOUT_SK, InboundItem, OptOutItem, bind_table
from sms_gateway.receive import InboundRecord, InboundStore
from sms_gateway.store import StoreError

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
        item = OptOutItem(optout_pk(number), OPTOUT_SK, number=number, keyword=keyword, at=at)
        try:
            item.save(condition=OptOutItem.pk.does_not_exist() | (OptOutItem.at <= at))
        except PutError as exc:
            if exc.cause_response_code == CONDITION_FAILED:
                return  # a newer opt-out is already there
            raise StoreError(f"could not store the opt-out: {exc.cause_response_code}") from exc
        except PynamoDBException as exc:
            raise StoreError("could not store the opt-out") from exc

    def opt_in(self, number: str, at: datetime) -> None:
        try:
            OptOutItem(optout_pk(number), OPTOUT_SK).delete(condition=OptOutItem.at <= at)
        except DeleteError as exc:
            if exc.cause_response_code == CONDITION_FAILED:
                return  # not opted out, or opted out after this opt-in
            raise StoreError(f"could not remove the opt-out: {exc.cause_response_code}") from exc
        except PynamoDBException as exc:
            raise StoreError("could not remove the opt-out") from exc
