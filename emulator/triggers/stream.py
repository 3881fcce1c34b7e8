"""The publish function's trigger: Lambda's DynamoDB stream event source mapping.

:class:`StreamTrigger` plays the mapping's behaviour around a handler: batches, ``ReportBatchItemFailures``
(resume from the first failed record), bisecting a batch whose invocation failed, a retry limit, and
an on-failure destination (an SQS queue). :func:`from_template` builds it for a provisioned stack.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from emulator.streams import StreamReader, table_stream_arn
from emulator.template import Stack

logger = logging.getLogger("emulator.triggers.stream")


@dataclass
class StreamTrigger:
    """Lambda's DynamoDB event source mapping around ``handler``: batches in order, partial batch
    responses (processing resumes at the first failed record), bisection of a batch whose invocation
    failed, and, after ``max_retries`` failed deliveries of the same record, the records' description
    to ``on_failure`` (the OnFailure destination). A failed batch blocks its stream until the next
    :meth:`pump`, as Lambda retries a shard later rather than at once."""

    reader: StreamReader
    handler: Callable[[dict[str, Any]], dict[str, Any]]
    _: KW_ONLY
    batch_size: int = 100
    max_retries: int = 10
    on_failure: Callable[[dict[str, Any]], None] | None = None
    _pending: list[dict[str, Any]] = field(default_factory=list, init=False)
    _attempts: dict[str, int] = field(
        default_factory=dict, init=False
    )  # failing batch's first record → failures

    def pump(self) -> int:
        """Deliver what the stream holds now until done or a batch fails; return records checkpointed."""
        done = 0
        while True:
            if len(self._pending) < self.batch_size:
                self._pending += self.reader.read(self.batch_size - len(self._pending))
            if not self._pending:
                return done
            batch = self._pending[: self.batch_size]
            delivered = self._deliver(batch)
            del self._pending[:delivered]
            done += delivered
            if delivered < len(batch):
                return done  # the rest waits for the next pump (Lambda's retry)

    def _deliver(self, batch: list[dict[str, Any]]) -> int:
        """Records of ``batch`` handled, from its start (all of them, or up to the first failure)."""
        try:
            response = self.handler({"Records": batch}) or {}
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
        if self._attempts[key] <= self.max_retries:
            return first
        if self.on_failure is not None:  # retries exhausted: described to the OnFailure destination
            self.on_failure({"records": [r["dynamodb"]["SequenceNumber"] for r in batch[first:]]})
        return len(batch)


def from_template(
    stack: Stack,
    client: Callable[[str], Any],
    handler: Callable[[dict[str, Any]], Any],
    on_failure: Callable[[dict[str, Any]], None] | None = None,
) -> StreamTrigger:
    """The mapping the template declares for the publish function: its table's stream and batch size;
    a batch that failed every retry goes to ``on_failure`` (default: described on the template's
    ``PublishFailureQueue``). ``client`` makes an administrator's boto3 client: the mapping is AWS's."""
    props = stack.event_of_type("PublishFunction", "DynamoDB")
    reader = StreamReader(
        client("dynamodbstreams"), table_stream_arn(client("dynamodb"), stack.physical["MessagesTable"])
    )
    if on_failure is None:
        sqs, failure_queue = client("sqs"), stack.physical["PublishFailureQueue"]

        def on_failure(batch: dict[str, Any]) -> None:
            sqs.send_message(QueueUrl=failure_queue, MessageBody=json.dumps(batch))

    return StreamTrigger(reader, handler, batch_size=int(props.get("BatchSize", 100)), on_failure=on_failure)
