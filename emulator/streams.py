"""DynamoDB Streams as Lambda's event source mapping reads them.

moto implements the stream (``describe_stream``, shard iterators, ``get_records``); this reader walks
every shard in order from ``TRIM_HORIZON``, remembers what was handed out, and shapes records exactly
as Lambda delivers them (``ApproximateCreationDateTime`` in epoch seconds, ``eventSourceARN``). The
mapping's behaviour around a handler is :mod:`emulator.triggers.stream`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


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
