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


# A row each:   recipients, send_batches, in_flight, finals, cold_runs, burst, naive_burst
FULL = Scale(1000, 5, 1000, (2_000, 20_000), 9, 2000, 40)
QUICK = Scale(200, 2, 200, (1_000, 5_000), 3, 400, 20)
