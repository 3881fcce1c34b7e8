"""DynamoDB adapter of the deferral store (the release, in the poll function): due deferrals from the
sparse index under ``track_shard = "DEFERRED"``, and the conditional delete that forgets one."""

from __future__ import annotations

from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from sms_gateway.adapters.dynamodb.items import (
    DEFERRED_SHARD,
    DEFERRED_SK,
    DeferredItem,
    bind_table,
    request_pk,
)
from sms_gateway.adapters.dynamodb.messages import _Conflict, conditional_write, epoch, to_deferral
from sms_gateway.domain.errors import StoreError
from sms_gateway.domain.model import Deferral
from sms_gateway.domain.ports import DeferralStore


class DynamoDeferralStore(DeferralStore):
    def __init__(self, table_name: str) -> None:
        bind_table(table_name)

    def due(self, now: datetime, limit: int) -> list[Deferral]:
        try:
            found = DeferredItem.due.query(
                DEFERRED_SHARD, DeferredItem.next_check <= epoch(now), limit=limit, page_size=min(limit, 100)
            )
            return [to_deferral(item) for item in found]
        except (ClientError, BotoCoreError, PynamoDBException) as exc:
            raise StoreError("could not read the deferred requests due") from exc

    def forget(self, deferral: Deferral) -> bool:
        item = DeferredItem(request_pk(deferral.request_id), DEFERRED_SK)
        still_ours = DeferredItem.token == deferral.token
        try:
            conditional_write("delete_item", item.get_delete_kwargs_from_instance(condition=still_ours))
        except _Conflict:
            return False
        except (ClientError, BotoCoreError, PynamoDBException) as exc:
            raise StoreError(f"could not forget the deferral of {deferral.request_id}") from exc
        return True
