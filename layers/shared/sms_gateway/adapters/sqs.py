"""SQS adapter of the :class:`~sms_gateway.domain.ports.RequestQueue` port: the send queue, as the
release of deferred requests puts their bodies back (``SendMessageBatch``, ten at a time)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sms_gateway.domain.errors import StoreError
from sms_gateway.domain.ports import RequestQueue

SEND_MESSAGE_BATCH = 10  # most entries per SendMessageBatch call


class SqsRequestQueue(RequestQueue):
    max_batch = SEND_MESSAGE_BATCH

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def enqueue(self, bodies: Sequence[str]) -> list[int]:
        if not bodies:
            return []
        if len(bodies) > SEND_MESSAGE_BATCH:
            raise ValueError(f"at most {SEND_MESSAGE_BATCH} bodies per call")
        entries = [{"Id": str(position), "MessageBody": body} for position, body in enumerate(bodies)]
        try:
            response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"the send queue refused the requests ({type(exc).__name__})") from exc
        return sorted(int(entry["Id"]) for entry in response.get("Failed", []))
