"""``make run`` / ``python -m local_stack``: the whole gateway on this machine, until Ctrl-C.

With ``ASANAK_BASE_URL``, ``ASANAK_USERNAME`` and ``ASANAK_PASSWORD`` in the environment it talks to
the real Asanak instead of the sandbox (then it is a real single-machine gateway; set
``DEFAULT_SENDER`` to your own sender number). ``--demo`` sends a few requests, shows each message's
lifecycle, and exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--demo", action="store_true", help="send sample requests, follow them, exit")
    parser.add_argument("--aws-port", type=int, default=4566, help="moto server port (0: any free port)")
    parser.add_argument("--api-port", type=int, default=3000, help="HTTP API port (0: any free port)")
    parser.add_argument(
        "--sandbox-port", type=int, default=8085, help="Asanak sandbox port (0: any free port)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="run time this many times faster (gateway and sandbox); default 1, demo 20",
    )
    parser.add_argument(
        "--retry-after",
        type=float,
        default=None,
        help="seconds before a failed SQS record comes back (default: the queue's visibility "
        "timeout, as in AWS)",
    )
    parser.add_argument(
        "--poll-every",
        type=float,
        default=None,
        help="seconds between poll runs (default: the template's PollSchedule / speed)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where endpoints.json is written (default: .local_stack/ in the repo)",
    )
    parser.add_argument("--quiet", action="store_true", help="only warnings from the functions' logs")
    args = parser.parse_args(argv)

    speed = args.speed if args.speed is not None else (20.0 if args.demo else 1.0)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    real = None
    if os.environ.get("ASANAK_BASE_URL"):
        missing = [n for n in ("ASANAK_USERNAME", "ASANAK_PASSWORD") if not os.environ.get(n)]
        if missing:
            parser.error(f"ASANAK_BASE_URL is set: also set {', '.join(missing)}")
        real = {
            "base_url": os.environ["ASANAK_BASE_URL"],
            "username": os.environ["ASANAK_USERNAME"],
            "password": os.environ["ASANAK_PASSWORD"],
        }

    from local_stack.runtime import LocalStack

    stack = LocalStack(
        aws_port=args.aws_port,
        api_port=args.api_port,
        sandbox_port=args.sandbox_port,
        speed=speed,
        retry_after=args.retry_after if args.retry_after is not None else (2.0 if args.demo else None),
        poll_every=args.poll_every if args.poll_every is not None else (0.5 if args.demo else None),
        real_asanak=real,
        state_dir=args.state_dir,
        log_level="WARNING" if (args.quiet or args.demo) else None,
    )
    endpoints = stack.start()
    try:
        print_summary(endpoints, speed)
        if args.demo:
            from local_stack.demo import run_demo

            return run_demo(stack)
        done = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            done.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        print("Running. Ctrl-C to stop.", flush=True)
        done.wait()
        print("\nStopping…", flush=True)
        return 0
    finally:
        stack.stop()


def print_summary(endpoints, speed: float) -> None:  # type: ignore[no-untyped-def]
    asanak = f"{endpoints.asanak}  ({'sandbox' if endpoints.sandbox else 'REAL Asanak'})"
    lines = [
        "Asanak SMS gateway — local stack (all on 127.0.0.1)",
        f"  AWS endpoint     {endpoints.aws}   (export AWS_ENDPOINT_URL={endpoints.aws})",
        f"  AWS keys         AWS_ACCESS_KEY_ID={endpoints.access_key_id}"
        f" AWS_SECRET_ACCESS_KEY={endpoints.secret_access_key}  (moto checks IAM)",
        f"  send queue       {endpoints.queue_url}",
        f"  dead letters     {endpoints.dlq_url}",
        f"  event bus        {endpoints.bus_name}",
        f"  table            {endpoints.table_name}",
        f"  inbound URL      {endpoints.inbound_url}",
        f"  Asanak           {asanak}",
        f"  clock            {speed:g}x real time",
        "  send a message   .venv/bin/python -m smsctl --local send --to 09121234567 --text 'سلام'",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
