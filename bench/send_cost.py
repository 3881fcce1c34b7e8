"""2. Send cost: handler wall time per message for SQS batches of 10 distinct requests.

The sandbox answers every call in 150 ms. Each batch holds 10 independent requests (one recipient and
one text each, so nothing can be grouped): ours sends them concurrently (bounded by
``SEND_CONCURRENCY`` from the template), the naive sender one after another. The first invocation of
each (clients built, secret read) is not timed; the figure is the median over the timed batches.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import Any

from bench.provider_calls import SENDING, naive_sender
from bench.report import Row
from bench.scale import Scale
from bench.world import DynamoTally, World, number, sqs_event

BATCH = 10
TARGET = 5.0
TARGET_V2 = 8.0  # one provider call per batch instead of ten
WRITES_TARGET = 2.5  # items written per recipient sent: one before the provider call, one after, some slack
BEFORE_OUTBOX = "before the outbox: 4 items written (+1 read) and 0.1 PutEvents per recipient"


def _bodies(numbers: count[int]) -> list[dict[str, Any]]:
    bodies = []
    for _ in range(BATCH):
        index = next(numbers)
        # Each with its own id, as producers are told to (and smsctl does): an id-less request also parks
        # its id for redrives, one more write (see the README's "Exactly once").
        bodies.append(
            {"to": number(index, "0935"), "text": f"Order {index} has shipped", "id": f"otp-{index}"}
        )
    return bodies


@dataclass
class Timing:
    per_message: float  # seconds, median over the timed batches
    before_first_call: float  # seconds from the start of a batch to its first sendsms (median)
    tally: DynamoTally


def _timed(world: World, action: Callable[[], object], batches: int) -> Timing:
    """Time ``batches`` calls of ``action`` (after one untimed warm-up)."""
    action()
    seconds, waits = [], []
    with DynamoTally.counting() as tally:
        for _ in range(batches):
            seen = len(world.sandbox.calls)
            began = world.sandbox.clock.now()
            started = time.perf_counter()
            action()
            seconds.append(time.perf_counter() - started)
            first = min(call.at for call in world.sandbox.calls[seen:] if call.method in SENDING)
            waits.append((first - began).total_seconds())
    return Timing(statistics.median(seconds) / BATCH, statistics.median(waits), tally)


def _cost_rows(ours: DynamoTally, naive: DynamoTally, sent: int) -> list[Row]:
    """What one-time-code traffic costs per recipient: DynamoDB items written (billed) and PutEvents."""
    return [
        Row(
            f"send: DynamoDB items written per recipient sent, one-time codes ({BEFORE_OUTBOX})",
            ours.items_written / sent,
            naive.items_written / sent,
            "items",
            target=f"≤ {WRITES_TARGET:g}",
            check=lambda row: row.ours <= WRITES_TARGET,
            ratio_as_share=True,
        ),
        Row(
            "send: PutEvents entries on the send path per recipient (events come from the stream)",
            ours.events_put / sent,
            naive.events_put / sent,
            "entries",
            target="0",
            check=lambda row: row.ours == 0,
        ),
    ]


def run(scale: Scale, log: Callable[[str], None], notes: list[str]) -> list[Row]:
    numbers = count()
    rows = []
    with World(latency=scale.latency) as world:
        naive = naive_sender(world)
        log("send cost: naive, sequential")
        baseline = _timed(world, lambda: naive.handle(sqs_event(_bodies(numbers))), scale.send_batches)
        template_concurrency = world.stack.function_env("SendFunction")["SEND_CONCURRENCY"]
        settings = [(template_concurrency, f"SEND_CONCURRENCY={template_concurrency} as in template.yaml")]
        if template_concurrency != str(BATCH):  # what a whole batch at once would give
            settings.append((str(BATCH), f"SEND_CONCURRENCY={BATCH}, what-if"))
        for concurrency, label in settings:
            log(f"send cost: ours, {label}")
            world.configure(SEND_CONCURRENCY=concurrency)
            ours = _timed(world, lambda: world.send(_bodies(numbers)), scale.send_batches)
            rows.append(_time_row(f"({label})", ours, baseline, scale, TARGET))
            sent = scale.send_batches * BATCH
            if concurrency == template_concurrency:
                rows += _cost_rows(ours.tally, baseline.tally, sent)
            notes.append(
                f"Send ({label}): the first provider call of a batch goes out "
                f"{ours.before_first_call * 1000:.0f} ms after the batch starts (median); DynamoDB requests "
                "per message: "
                + ", ".join(f"{op} {n / sent:.1f}" for op, n in sorted(ours.tally.operations.items()))
                + f" (naive: {baseline.tally.requests / sent:.1f} PutItem)."
            )
        world.configure(SEND_CONCURRENCY=template_concurrency)
        rows.append(_v2rest_row(world, numbers, baseline, scale, log))
    return rows


def _v2rest_row(
    world: World, numbers: count[int], baseline: Timing, scale: Scale, log: Callable[[str], None]
) -> Row:
    """The same batches on v2rest: their distinct texts go out in one p2psendsms per batch."""
    log("send cost: ours, v2rest (p2psendsms)")
    world.use_api("v2rest")
    ours = _timed(world, lambda: world.send(_bodies(numbers)), scale.send_batches)
    world.use_api("v1rest")
    return _time_row(", v2rest (one p2psendsms per batch)", ours, baseline, scale, TARGET_V2)


def _time_row(what: str, ours: Timing, baseline: Timing, scale: Scale, target: float) -> Row:
    """Handler time per message, ours against the sequential baseline, with its target ratio."""
    return Row(
        f"send: handler time per message, batches of {BATCH} distinct, provider "
        f"{scale.latency * 1000:.0f} ms {what}".replace(" ,", ","),
        ours.per_message * 1000,
        baseline.per_message * 1000,
        "ms/msg",
        target=f"≥ {target:g}× faster",
        check=lambda row: (row.ratio or 0) >= target,
    )
