"""How big each benchmark is: the full run (``python -m bench``) and a quick one (``--quick``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    recipients: int  # provider calls: recipients of one text
    send_batches: int  # send cost: SQS batches of 10 distinct requests, timed
    in_flight: int  # poll cost: messages in flight (made by the send handler, 100 per request)
    finals: tuple[int, int]  # poll cost: final messages in the table, at two sizes (see poll_cost)
    cold_runs: int  # cold start: fresh interpreters per module
    burst: int  # throughput: recipients sent through the local stack (20 per request)
    naive_burst: int  # throughput: recipients the naive sender sends (its rate is constant)
    latency: float = 0.150  # seconds the sandbox takes to answer, where the issue asks for it


FULL = Scale(
    recipients=1000,
    send_batches=5,
    in_flight=1000,
    finals=(2_000, 20_000),
    cold_runs=9,
    burst=2000,
    naive_burst=40,
)
QUICK = Scale(
    recipients=200,
    send_batches=2,
    in_flight=200,
    finals=(1_000, 5_000),
    cold_runs=3,
    burst=400,
    naive_burst=20,
)
