"""The send function's trigger: Lambda's SQS event source mapping on the send queue.

Batch size, batching window and maximum concurrency come from the template's SQS event. Records the
handler does not report in ``batchItemFailures`` are deleted; the ones it reports (or the whole batch,
when the invocation fails) stay, and come back after the queue's visibility timeout — or after
``retry_after`` seconds, for quick local runs — until the queue's redrive policy moves them to the DLQ.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.lambda_events import received_record
from emulator.template import Stack

log = logging.getLogger("emulator.triggers.sqs")
MAX_LOCAL_CONCURRENCY = 4  # batches at once on one machine, whatever the template allows


@dataclass(frozen=True)
class Mapping:
    """The event source mapping's settings."""

    queue_url: str
    queue_arn: str
    batch_size: int
    window: float  # MaximumBatchingWindowInSeconds
    concurrency: int  # batches handled at once

    @classmethod
    def from_template(cls, stack: Stack) -> Mapping:
        props = stack.event_of_type("SendFunction", "SQS")
        concurrency = int(props.get("ScalingConfig", {}).get("MaximumConcurrency", 2))
        return cls(
            queue_url=stack.physical["SendQueue"],
            queue_arn=stack.arns["SendQueue"],
            batch_size=int(props.get("BatchSize", 10)),
            window=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            concurrency=max(1, min(concurrency, MAX_LOCAL_CONCURRENCY)),
        )


class SqsEventSource:
    """One poller of the mapping: receive a batch, invoke, delete what succeeded."""

    def __init__(
        self,
        sqs: Any,
        mapping: Mapping,
        invoke: Callable[[dict[str, Any]], Any],
        retry_after: float | None = None,
    ) -> None:
        self._sqs = sqs
        self.mapping = mapping
        self._invoke = invoke
        self._retry_after = retry_after

    def run(self, stopping: threading.Event) -> None:
        """Poll until ``stopping`` is set."""
        while not stopping.is_set():
            try:
                messages = self.receive(stopping)
            except Exception:
                if not stopping.is_set():  # moto may be gone already when stopping
                    log.exception("receiving from the send queue failed; trying again")
                messages = []
            if messages:
                self.deliver(messages)
            else:
                stopping.wait(0.2)

    def receive(self, stopping: threading.Event) -> list[dict[str, Any]]:
        """Up to a batch of messages, gathered for at most the batching window."""
        size = self.mapping.batch_size
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.mapping.window
        while len(messages) < size and not stopping.is_set():
            got = self._sqs.receive_message(
                QueueUrl=self.mapping.queue_url,
                MaxNumberOfMessages=size - len(messages),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages.extend(got)
            if time.monotonic() >= deadline or (not got and not messages):
                break
            if not got:
                time.sleep(0.05)
        return messages

    def deliver(self, messages: list[dict[str, Any]]) -> set[str]:
        """Invoke the function with ``messages``; delete those it handled. The ids of those that failed."""
        event = {"Records": [received_record(m, self.mapping.queue_arn) for m in messages]}
        try:
            response = self._invoke(event)
            failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
        except Exception:
            log.exception("send function failed; the whole batch comes back after the visibility timeout")
            failed = {m["MessageId"] for m in messages}
        self._delete([m for m in messages if m["MessageId"] not in failed])
        if self._retry_after is not None:
            for message in messages:
                if message["MessageId"] in failed:
                    self._sqs.change_message_visibility(
                        QueueUrl=self.mapping.queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=int(self._retry_after),
                    )
        return failed

    def _delete(self, done: list[dict[str, Any]]) -> None:
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self.mapping.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
