"""SQS adapter of the :class:`~sms_gateway.domain.ports.RequestQueue` port: the send queue, as the
release of deferred requests puts their bodies back.

One ``SendMessage`` per body: deferrals are few (a batch of them per Tehran midnight or window), and
``sqs:SendMessage`` is then the one action the poll role needs, the same in IAM and every emulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sms_gateway.domain.errors import StoreError
from sms_gateway.domain.ports import RequestQueue


class SqsRequestQueue(RequestQueue):
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def enqueue(self, bodies: Sequence[str]) -> list[int]:
        """Each body in order; the first refusal ends the call (its position and the rest are
        reported), an unreachable queue raises :class:`StoreError`."""
        for position, body in enumerate(bodies):
            try:
                self._client.send_message(QueueUrl=self._queue_url, MessageBody=body)
            except ClientError as exc:
                if position == 0:
                    raise StoreError(f"the send queue refused the request ({_code(exc)})") from exc
                return list(range(position, len(bodies)))
            except BotoCoreError as exc:
                raise StoreError(f"the send queue could not be reached ({type(exc).__name__})") from exc
        return []


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "?"))
