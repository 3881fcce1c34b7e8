"""5. Throughput through the local stack: recipients per second, end to end, for a burst.

``python -m local_stack`` runs as its own process on free ports (moto, the sandbox, the three
handlers driven as Lambda drives them: the SQS event source with the template's batch size, batching
window and concurrency). The sandbox is set to answer in 150 ms and given enough credit. The burst is
queued the way a producer queues it (:func:`smsctl.producer.send_request`, one SQS message per
request of 20 distinct numbers, each request its own text, so nothing is grouped across requests).

The clock runs from the first ``SendMessage`` until the send queue is empty: a record leaves the
queue only once the handler reported it done, that is once every recipient's ``SMS Accepted`` event
was put on the bus. After the clock stops, every recipient is checked: accepted by the sandbox, and
``accepted`` in the table (:func:`smsctl.producer.request_status`).

No consumer is subscribed to the bus during the burst. In moto, an EventBridge rule delivering to an
SQS queue (:class:`emulator.tap.EventTap`) is expensive: with one on ``SMS Accepted``, 1,000
recipients took 34 s instead of 14 s to leave the queue on this machine, and draining the 1,000
delivered events took another 40 s. That measures moto; in AWS the delivery is EventBridge's work, not
the function's. The poll schedule is pushed out of the way (``--poll-every``): in AWS it runs in its
own Lambda, here it would share the process and moto with the send function.

The naive sender runs against the same moto and sandbox on the same kind of requests. Its
rate does not depend on the size of the burst (one sequential call per recipient), so it is measured
on the first ``naive_burst`` recipients only: at 150 ms a call, all 2,000 would take over 5 minutes.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.naive import NaiveSender
from bench.report import HIGHER, Row
from bench.scale import Scale
from bench.world import number, sqs_event
from local_stack.endpoints import Endpoints
from local_stack.process import SandboxControl, StackProcess

ROOT = Path(__file__).resolve().parent.parent
PER_REQUEST = 20
START_TIMEOUT = 90.0
# The poll function runs in its own Lambda in AWS; locally it would share the process and moto with the
# send function, so it is kept from running during the burst (it is not part of sending).
POLL_EVERY = 3600


def _queue_empty(sqs: Any, queue_url: str) -> bool:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return all(int(attributes.get(name, 0)) == 0 for name in names)


def _requests(count: int, offset: int) -> list[dict[str, Any]]:
    from smsctl.producer import build_request

    return [
        build_request(
            [number(offset + r * PER_REQUEST + k, "0919") for k in range(PER_REQUEST)],
            f"Burst request {offset + r}: your appointment is tomorrow at 10",
        )
        for r in range(count // PER_REQUEST)
    ]


def run(scale: Scale, log: Callable[[str], None], notes: list[str]) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        stack = StackProcess(Path(tmp), poll_every=POLL_EVERY)
        try:
            return _measure(scale, log, notes, stack.start(timeout=START_TIMEOUT))
        finally:
            stack.interrupt(timeout=30)


def _measure(scale: Scale, log: Callable[[str], None], notes: list[str], endpoints: Endpoints) -> list[Row]:
    sandbox = SandboxControl(endpoints.sandbox_url)
    sandbox.set_latency(scale.latency)
    sandbox.set_credit(10**9)
    log(f"throughput: {scale.burst:,} recipients through the local stack")
    accepted, elapsed, queued, messages = _burst(scale, notes, endpoints, sandbox)
    log(f"throughput: naive sender, {scale.naive_burst} recipients")
    sent, naive_seconds = _naive(scale, endpoints)
    notes.append(
        f"Throughput: {accepted:,} recipients in {elapsed:.1f} s end to end "
        f"(queuing the {messages} SQS messages took {queued:.1f} s of it); "
        f"the naive sender sent {sent} in {naive_seconds:.1f} s."
    )
    return [
        Row(
            f"throughput through the local stack: {scale.burst:,}-recipient burst, provider "
            f"{scale.latency * 1000:.0f} ms",
            accepted / elapsed,
            sent / naive_seconds,
            "recipients/s",
            better=HIGHER,
        )
    ]


def _burst(
    scale: Scale, notes: list[str], endpoints: Endpoints, sandbox: SandboxControl
) -> tuple[int, float, float, int]:
    """Recipients accepted, seconds until the queue was empty, seconds spent queuing, SQS messages."""
    from smsctl.producer import request_status, send_request

    target = endpoints.target  # moto checks IAM: the stack's administrator
    sqs = target.client("sqs")
    requests = _requests(scale.burst, 0)
    started = time.perf_counter()
    request_ids = [send_request(target, request, sqs) for request in requests]
    queued = time.perf_counter() - started
    deadline = started + max(120.0, scale.burst * 0.15)
    while not _queue_empty(sqs, target.queue_url) and time.perf_counter() < deadline:
        time.sleep(0.1)
    elapsed = time.perf_counter() - started

    dynamodb = target.client("dynamodb")
    states = Counter(
        row["state"] for request_id in request_ids for row in request_status(target, request_id, dynamodb)
    )
    provider_accepted = sum(
        call["count"] for call in sandbox.calls() if call["method"] == "sendsms" and call["status"] == 200
    )
    accepted = states["accepted"]
    if accepted != scale.burst or provider_accepted != scale.burst:
        notes.append(
            f"Throughput: of {scale.burst:,} recipients, {accepted:,} are accepted in the table and "
            f"{provider_accepted:,} by the sandbox when the queue was empty ({dict(states)})."
        )
    return accepted, elapsed, queued, len(requests)


def _naive(scale: Scale, endpoints: Endpoints) -> tuple[int, float]:
    """Recipients the naive sender sent through the same stack's sandbox and moto, and the seconds."""
    from asanak.client import AsanakClient

    from local_stack.runtime import DEFAULT_SENDER, SANDBOX_PASSWORD, SANDBOX_USER

    target = endpoints.target
    naive = NaiveSender(
        client=AsanakClient(endpoints.asanak, SANDBOX_USER, SANDBOX_PASSWORD),
        dynamodb=target.client("dynamodb"),
        events=target.client("events"),
        table=endpoints.table_name,
        bus=endpoints.bus_name,
        default_sender=DEFAULT_SENDER,
    )
    event = sqs_event(_requests(scale.naive_burst, scale.burst))
    started = time.perf_counter()
    sent = naive.handle(event)
    return sent, time.perf_counter() - started
