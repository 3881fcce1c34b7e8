"""3. Poll cost: msgstatus calls, DynamoDB items read and run time of one poll run.

The messages in flight are made by the real send handler (requests of 100 recipients, SQS batches of
10), so they are exactly as the send path leaves them (``accepted``, ``track_shard``, ``next_check``);
the clock is then moved past their first check. The gateway and the sandbox share one frozen clock,
moved by hand, so both runs see the messages at the same ages (25 s and 60 s: each run finds a status
change for every one). The final messages — the bulk of a real table — are loaded with
BatchWriteItem (setup, not measured), each in the shape the gateway leaves it: ``final``, with a
status, out of the ``inflight`` index.

Our poller runs twice: at the smaller and at the larger number of final messages; the naive one runs
at the larger, first (it writes only its own attributes). The sandbox answers in 150 ms. Items read
are counted as DynamoDB bills them (see :class:`bench.world.DynamoTally`).

Table size: the issue asks for 100,000 final messages. moto makes that size impractical here — its
Scan walks the table from the start again for every page and its Query on a GSI walks the whole
table, so the naive run alone took 3.5 minutes at 100,000 on this machine — so the full run measures
at 2,000 and 20,000 final messages: our reads are the same at both (they depend on the messages in
flight only), while a Scan reads every item of the table, whatever its size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.naive import NaivePoller
from bench.report import Row
from bench.scale import Scale
from bench.world import SANDBOX_PASSWORD, SANDBOX_USER, DynamoTally, World, number

REQUEST_SIZE = 100
SQS_BATCH = 10
WRITE_BATCH = 25
LOADERS = 4
# What the sandbox answers for each message in flight, by age: a change at each of the two runs
# (at 25 s and at 60 s), never final, so both runs find the same messages in flight.
TIMELINE = ((0.0, 1), (15.0, 2), (45.0, 9))


@dataclass(frozen=True)
class Run:
    calls: int
    items_read: int
    seconds: float
    operations: dict[str, int]
    report: Any
    items_written: int = 0


def make_in_flight(world: World, count: int) -> None:
    numbers = [number(index, "0901") for index in range(count)]
    for to in numbers:
        world.sandbox.script(to, TIMELINE)
    bodies = [
        {"to": numbers[start : start + REQUEST_SIZE], "text": "Your parcel is on its way"}
        for start in range(0, count, REQUEST_SIZE)
    ]
    for start in range(0, len(bodies), SQS_BATCH):
        world.send(bodies[start : start + SQS_BATCH])


def final_items(start: int, count: int) -> Iterator[dict[str, Any]]:
    """Messages as the gateway leaves them once delivered (serialised by the gateway's own model)."""
    from asanak.statuses import status_info
    from sms_gateway.adapters.dynamodb.items import MessageItem, message_sk, request_pk

    accepted = datetime.now(UTC) - timedelta(days=1)
    template = MessageItem(
        "pk",
        "sk",
        request_id="r",
        to="t",
        sender="982164063188",
        owner="00000000-0000-0000-0000-000000000000",
        state="final",
        parts=1,
        meta='{"campaign":"autumn"}',
        msgid="0",
        status=6,
        status_name=status_info(6).name,
        status_rank=100,
        final=True,
        previous_status=9,
        created_at=accepted,
        accepted_at=accepted,
        sent_at=accepted + timedelta(seconds=5),
        sent_at_raw="",
        delivered_at=accepted + timedelta(seconds=30),
        delivered_at_raw="",
        updated_at=accepted + timedelta(seconds=40),
        checks=3,
        expires_at=accepted + timedelta(days=30),
    ).serialize()
    for index in range(start, start + count):
        request_id = f"done-{index // REQUEST_SIZE}"
        to = f"98936{index:07d}"
        item = dict(template)
        item["pk"] = {"S": request_pk(request_id)}
        item["sk"] = {"S": message_sk(to)}
        item["request_id"] = {"S": request_id}
        item["to"] = {"S": to}
        item["msgid"] = {"S": str(50_000_000 + index)}
        yield item


def load_final(world: World, start: int, count: int) -> None:
    """BatchWriteItem, 25 items a request, from a few threads (setup: not measured)."""
    items = list(final_items(start, count))
    batches = [items[i : i + WRITE_BATCH] for i in range(0, len(items), WRITE_BATCH)]

    def write(part: list[list[dict[str, Any]]]) -> None:
        client = world.client("dynamodb")
        for batch in part:
            request = {world.table_name: [{"PutRequest": {"Item": item}} for item in batch]}
            while request:
                request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    parts = [batches[i::LOADERS] for i in range(LOADERS)]
    with ThreadPoolExecutor(max_workers=LOADERS) as pool:
        list(pool.map(write, parts))


def measure(world: World, run: Callable[[], Any]) -> Run:
    before = world.calls("msgstatus")
    with DynamoTally.counting() as tally:
        started = time.perf_counter()
        report = run()
        seconds = time.perf_counter() - started
    return Run(
        world.calls("msgstatus") - before,
        tally.items_read,
        seconds,
        dict(tally.operations),
        report,
        tally.items_written,
    )


def run(scale: Scale, log: Callable[[str], None], notes: list[str]) -> list[Row]:
    results = _measure(scale, log, notes)
    small, large = scale.finals
    ours_small, ours_large = results[small]["ours"], results[large]["ours"]
    naive_large = results[large]["naive"]
    notes.extend(_notes(ours_small, ours_large, naive_large, scale))
    return _rows(ours_small, ours_large, naive_large, scale)


def _measure(scale: Scale, log: Callable[[str], None], notes: list[str]) -> dict[int, dict[str, Run]]:
    """Our run at both table sizes and the naive run at the larger, on the same messages in flight."""
    from asanak.client import AsanakClient

    n = scale.in_flight
    small, large = scale.finals
    results: dict[int, dict[str, Run]] = {}
    with World(clock_speed=0.0) as world:
        log(f"poll cost: {n:,} messages in flight, through the send handler")
        make_in_flight(world, n)
        world.poll()  # warm-up: builds clients and reads the credit; nothing is due yet
        naive = NaivePoller(
            client=AsanakClient(world.sandbox.base_url, SANDBOX_USER, SANDBOX_PASSWORD),
            dynamodb=world.client("dynamodb"),
            events=world.client("events"),
            table=world.table_name,
            bus=world.bus_name,
        )
        loaded = 0
        for size, age in ((small, 25.0), (large, 35.0)):
            log(f"poll cost: loading {size - loaded:,} final messages")
            load_final(world, loaded, size - loaded)
            loaded = size
            world.advance(age)  # every message in flight is due (first check 20 s after acceptance)
            world.sandbox.latency = scale.latency
            if size == large:
                log(f"poll cost: {size:,} final — naive run")
                results[size] = {"naive": measure(world, naive.run)}
            log(f"poll cost: {size:,} final — our run")
            ours = measure(world, world.poll)
            world.sandbox.latency = 0.0
            if ours.report.get("due") != n:
                notes.append(
                    f"Poll at {size:,} final: our run handled {ours.report.get('due')} due, not {n}."
                )
            results.setdefault(size, {})["ours"] = ours
    return results


def _rows(ours_small: Run, ours_large: Run, naive_large: Run, scale: Scale) -> list[Row]:
    n = scale.in_flight
    small, large = scale.finals
    target_calls = -(-n // 100)
    where = f"{n:,} in flight"
    return [
        Row(
            f"poll: msgstatus calls per run ({where}, {large:,} final)",
            ours_large.calls,
            naive_large.calls,
            "calls",
            target=f"≤ {target_calls}",
            check=lambda row: row.ours <= target_calls,
        ),
        Row(
            f"poll: DynamoDB items read per run ({where}, {small:,} final)",
            ours_small.items_read,
            None,
            "items",
        ),
        Row(
            f"poll: DynamoDB items read per run ({where}, {large:,} final)",
            ours_large.items_read,
            naive_large.items_read,
            "items",
            target=f"same as at {small:,} final (∝ in flight)",
            check=lambda row: abs(ours_large.items_read - ours_small.items_read)
            <= 0.02 * ours_small.items_read,
        ),
        Row(
            f"poll: run time ({where}, {large:,} final, provider {scale.latency * 1000:.0f} ms)",
            ours_large.seconds,
            naive_large.seconds,
            "s",
            target="≥ 3× faster (before the outbox: 1.08× slower)",
            check=lambda row: (row.ratio or 0) >= 3,
        ),
        Row(
            f"poll: DynamoDB items written per status change ({where}, before the outbox: 2.01)",
            ours_large.items_written / max(1, int(ours_large.report.get("changes") or 0)),
            naive_large.items_written / max(1, n),
            "items",
            target="≤ 1.2",
            check=lambda row: row.ours <= 1.2,
            ratio_as_share=True,
        ),
    ]


def _notes(ours_small: Run, ours_large: Run, naive_large: Run, scale: Scale) -> list[str]:
    small, large = scale.finals
    due = int(ours_large.report.get("due") or 0)
    notes = []
    notes.append(
        f"Poll: our run reads the {due:,} due messages from the `inflight` index and counts the index for "
        f"the InFlight metric (`Select=COUNT` queries, billed per item evaluated: the other "
        f"{ours_large.items_read - due:,}). DynamoDB requests of our run at {large:,} final: "
        + ", ".join(f"{op} {count}" for op, count in sorted(ours_large.operations.items()))
        + "; of the naive run: "
        + ", ".join(f"{op} {count}" for op, count in sorted(naive_large.operations.items()))
        + " (and one PutEvents per change)."
    )
    notes.append(
        f"Poll run time of ours at {small:,} final: {ours_small.seconds:.1f} s. Our run's time goes to its "
        "writes — a status change is one conditional UpdateItem (its event follows from the stream), a "
        "chunk's writes go out 8 at a time — not to msgstatus. moto evaluates every Query on a GSI by "
        "walking the whole table, so in moto our run time also grows with the final messages; in DynamoDB "
        "it does not (the items read are the figure that carries over)."
    )
    return notes
