"""DynamoDB Streams as Lambda's event source mapping reads them, for the local stack and the tests.

moto implements the stream (``describe_stream``, shard iterators, ``get_records``); this reader walks
every shard in order from ``TRIM_HORIZON``, remembers what was handed out and what was checkpointed,
and shapes records exactly as Lambda delivers them (``ApproximateCreationDateTime`` in epoch seconds,
``eventSourceARN``). :class:`StreamTrigger` then plays the mapping's behaviour around a handler:
batches, ``ReportBatchItemFailures`` (resume from the first failed record), bisecting a batch whose
invocation failed, a retry limit, and an on-failure destination (an SQS queue).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

logger = logging.getLogger("local_stack.streams")


def table_stream_arn(dynamodb: Any, table_name: str) -> str:
    return dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]


class StreamReader:
    """Every record of one table's stream, once each, in order per shard."""

    def __init__(self, streams: Any, stream_arn: str) -> None:
        self._streams = streams
        self._arn = stream_arn
        self._after: dict[str, str | None] = {}  # shard → last sequence number read

    def read(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Records not read before, at most ``limit``, shard by shard."""
        found: list[dict[str, Any]] = []
        description = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            after = self._after.get(shard_id)
            if after is None:
                iterator = self._streams.get_shard_iterator(
                    StreamArn=self._arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            else:
                iterator = self._streams.get_shard_iterator(
                    StreamArn=self._arn,
                    ShardId=shard_id,
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    SequenceNumber=after,
                )["ShardIterator"]
            records = self._streams.get_records(ShardIterator=iterator, Limit=max(1, limit - len(found)))[
                "Records"
            ]
            for record in records:
                found.append(self._lambda_shape(record))
                self._after[shard_id] = record["dynamodb"]["SequenceNumber"]
            if len(found) >= limit:
                break
        return found

    def _lambda_shape(self, record: dict[str, Any]) -> dict[str, Any]:
        shaped = json.loads(json.dumps(record, default=_jsonable))
        created = record["dynamodb"].get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            shaped["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
        shaped["eventSource"] = "aws:dynamodb"
        shaped["eventSourceARN"] = self._arn
        return shaped


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes | bytearray):
        return value.decode()
    if isinstance(value, set):
        return sorted(value)
    return str(value)


class StreamTrigger:
    """Lambda's DynamoDB event source mapping around ``handler``: batches in order, partial batch
    responses (processing resumes at the first failed record), bisection of a batch whose invocation
    failed, and, after ``max_retries`` failed deliveries of the same record, the records' description
    to ``on_failure`` (the OnFailure destination). A failed batch blocks its stream until the next
    :meth:`pump`, as Lambda retries a shard later rather than at once."""

    def __init__(
        self,
        reader: StreamReader,
        handler: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        batch_size: int = 100,
        max_retries: int = 10,
        on_failure: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._reader = reader
        self._handler = handler
        self._batch_size = batch_size
        self._max_retries = max_retries
        self._on_failure = on_failure
        self._pending: list[dict[str, Any]] = []
        self._attempts: dict[str, int] = {}  # first record of a failing batch → failed deliveries

    def pump(self) -> int:
        """Deliver what the stream holds now until done or a batch fails; return records checkpointed."""
        done = 0
        while True:
            if len(self._pending) < self._batch_size:
                self._pending += self._reader.read(self._batch_size - len(self._pending))
            if not self._pending:
                return done
            batch = self._pending[: self._batch_size]
            delivered = self._deliver(batch)
            del self._pending[:delivered]
            done += delivered
            if delivered < len(batch):
                return done  # the rest waits for the next pump (Lambda's retry)

    def _deliver(self, batch: list[dict[str, Any]]) -> int:
        """Records of ``batch`` handled, from its start (all of them, or up to the first failure)."""
        try:
            response = self._handler({"Records": batch}) or {}
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception:
            logger.exception("stream batch failed")
            if len(batch) > 1:  # BisectBatchOnFunctionError
                first = self._deliver(batch[: len(batch) // 2])
                return first if first < len(batch) // 2 else first + self._deliver(batch[len(batch) // 2 :])
            failed = {batch[0]["dynamodb"]["SequenceNumber"]}
        if not failed:
            return len(batch)
        # An identifier that is no record of the batch fails the whole batch, as Lambda does.
        first = min((i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed), default=0)
        key = batch[first]["dynamodb"]["SequenceNumber"]
        self._attempts[key] = self._attempts.get(key, 0) + 1
        if self._attempts[key] <= self._max_retries:
            return first
        if self._on_failure is not None:  # retries exhausted: described to the OnFailure destination
            self._on_failure({"records": [r["dynamodb"]["SequenceNumber"] for r in batch[first:]]})
        return len(batch)
