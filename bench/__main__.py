"""``make bench`` / ``python -m bench [--quick] [--only NAME ...]``: run the benchmarks, print the table.

The table goes to stdout and to ``bench/results.md`` (markdown, for the README's Performance section);
progress goes to stderr. The functions' own logs and metrics (JSON lines on stdout in Lambda) are
written to /dev/null here, so they cost what they cost without flooding the terminal.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import cold_start, poll_cost, provider_calls, send_cost, throughput
from bench.report import Row, text_table, write_markdown
from bench.scale import FULL, QUICK, Scale

RESULTS = Path(__file__).resolve().parent / "results.md"


def method(scale: Scale) -> list[str]:
    """How the figures were made (written with them to results.md)."""
    small, large = scale.finals
    return [
        "Naive baselines (`bench/naive.py`), on the same Asanak client, sandbox and moto: the sender makes "
        "one `sendsms` call per recipient, one after another, storing each (PutItem) and announcing it "
        "(PutEvents); the poller scans the whole table for messages not final and asks `msgstatus` 100 "
        "msgids a call, one call after another, storing and announcing each change.",
        "Ours: the real handlers, invoked with Lambda events and the template's settings, against moto's "
        "server (in its own process) and the Asanak sandbox on 127.0.0.1; the sandbox answers in "
        f"{scale.latency * 1000:.0f} ms where a time depends on it. moto's request costs are not DynamoDB's: "
        "counts (calls, items read) carry over to AWS, times are this machine's.",
        "Cold start: fresh interpreters laid out like Lambda's (the function's code, the layer's packages "
        f"only, the runtime's environment, tracing on), median of {scale.cold_runs}, the ratio taken within "
        "each round (boto3 and the handlers imported back to back); memory is the process's peak resident "
        "size.",
        f"Poll: {small:,} and {large:,} final messages rather than 100,000 — moto walks the whole table for "
        "every Scan page and every GSI Query, which makes 100,000 take minutes; our reads are the same at "
        "both sizes.",
        "Throughput: from the first SendMessage until the send queue is empty (a record leaves it only after "
        "its SMS Accepted events were put on the bus), every recipient then checked accepted; the naive rate "
        f"is measured on {scale.naive_burst} recipients (it does not depend on the burst).",
    ]


BENCHMARKS: dict[str, Callable[[Scale, Callable[[str], None], list[str]], list[Row]]] = {
    "provider_calls": provider_calls.run,
    "send_cost": send_cost.run,
    "poll_cost": poll_cost.run,
    "cold_start": cold_start.run,
    "throughput": throughput.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    names = args.only or list(BENCHMARKS)

    out = sys.stdout
    started = time.perf_counter()
    # A terminated run still stops what it started (servers, the local stack's process).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    rows: list[Row] = []
    notes: list[str] = []
    with open(os.devnull, "w") as devnull:
        sys.stdout = devnull  # the handlers' JSON logs and EMF metrics
        try:
            for name in names:
                rows += BENCHMARKS[name](scale, log, notes)
        finally:
            sys.stdout = out
    seconds = time.perf_counter() - started

    command = "make bench" + (" ARGS=--quick" if args.quick else "")
    print(text_table(rows))
    print()
    for note in notes:
        print(f"- {note}")
    print(f"\n{len(rows)} figures in {seconds:.0f} s ({command}); written to {RESULTS}")
    if args.only is None:
        write_markdown(RESULTS, rows, command=command, seconds=seconds, notes=[*method(scale), *notes])
    return 0


if __name__ == "__main__":
    sys.exit(main())
