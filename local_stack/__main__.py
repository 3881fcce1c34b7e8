"""``make run`` / ``python -m local_stack``: the whole gateway on this machine, until Ctrl-C.

While it runs it shows what the gateway does, one line per event it publishes: a request's recipient
accepted, a recipient rejected (with the reason), a delivery status change, an inbound SMS. The
functions' own output (JSON log lines, CloudWatch EMF metrics) goes to a file named at start
(``functions.log`` in the state directory); ``--verbose`` shows it here instead; ``--quiet`` shows
neither the events nor more than the functions' warnings.

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

from emulator.deploy import Asanak
from local_stack.endpoints import Endpoints
from local_stack.runtime import DEFAULT_SENDER, LocalStack, Options

LOG_FILE = "functions.log"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--demo", action="store_true", help="send sample requests, follow them, exit")
    add("--aws-port", type=int, default=4566, help="moto server port (0: any free port)")
    add("--api-port", type=int, default=3000, help="HTTP API port (0: any free port)")
    add("--sandbox-port", type=int, default=8085, help="Asanak sandbox port (0: any free port)")
    add("--api", choices=("v1", "v2"), default="v1", help="the sandbox API the stack uses: v1rest or v2rest")
    add(
        "--speed",
        type=float,
        help="run time this many times faster (gateway and sandbox); default 1, demo 20",
    )
    add(
        "--retry-after",
        type=float,
        help="seconds before a failed SQS record comes back "
        "(default: the queue's visibility timeout, as in AWS)",
    )
    add(
        "--poll-every",
        type=float,
        help="seconds between poll runs (default: the template's PollSchedule / speed)",
    )
    add("--state-dir", type=Path, help="where endpoints.json and functions.log go (default: .local_stack/)")
    add(
        "--verbose",
        action="store_true",
        help="the functions' JSON logs and metrics here, not in functions.log",
    )
    add(
        "--quiet",
        action="store_true",
        help="no event feed, and only warnings from the functions (no metrics), in functions.log "
        "(here with --verbose)",
    )
    return parser


def options(args: argparse.Namespace, real: Asanak | None) -> Options:
    state_dir = args.state_dir or Options.state_dir
    demo = args.demo
    return Options(
        aws_port=args.aws_port,
        api_port=args.api_port,
        sandbox_port=args.sandbox_port,
        speed=args.speed if args.speed is not None else (20.0 if demo else 1.0),
        retry_after=args.retry_after if args.retry_after is not None else (2.0 if demo else None),
        poll_every=args.poll_every if args.poll_every is not None else (0.5 if demo else None),
        real_asanak=real,
        state_dir=state_dir,
        log_level="WARNING" if (args.quiet or demo) else None,
        log_file=None if (args.verbose or demo) else state_dir / LOG_FILE,
        api=f"{args.api}rest",
    )


def real_asanak(parser: argparse.ArgumentParser) -> Asanak | None:
    """The real Asanak account named in the environment, if any."""
    if not os.environ.get("ASANAK_BASE_URL"):
        return None
    missing = [n for n in ("ASANAK_USERNAME", "ASANAK_PASSWORD") if not os.environ.get(n)]
    if missing:
        parser.error(f"ASANAK_BASE_URL is set: also set {', '.join(missing)}")
    return Asanak(
        os.environ["ASANAK_BASE_URL"],
        os.environ["ASANAK_USERNAME"],
        os.environ["ASANAK_PASSWORD"],
        os.environ.get("DEFAULT_SENDER", DEFAULT_SENDER),
    )


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    settings = options(args, real_asanak(cli))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if settings.log_file is not None:
        settings.state_dir.mkdir(exist_ok=True)
        settings.log_file.write_text("")  # this run's output only
    stack = LocalStack(settings)
    endpoints = stack.start()
    try:
        print_summary(endpoints, settings)
        if args.demo:
            from local_stack.demo import run_demo

            return run_demo(stack)
        return serve(endpoints, feed=not args.quiet)
    finally:
        stack.stop()


def serve(endpoints: Endpoints, *, feed: bool) -> int:
    """Run until Ctrl-C (or SIGTERM), showing the event feed when ``feed``."""
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    following = None
    if feed:
        from emulator.tap import EventTap
        from local_stack.feed import Feed

        target = endpoints.target
        tap = EventTap(target.client("sqs"), target.client("events"), endpoints.bus_name)
        following = Feed(tap, lambda text: print(text, flush=True))
    print("Running. Ctrl-C to stop.", flush=True)
    done.wait()
    print("\nStopping…", flush=True)
    if following is not None:
        following.stop()
    return 0


def print_summary(endpoints: Endpoints, settings: Options) -> None:
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
        f"  clock            {settings.speed:g}x real time",
    ]
    if settings.log_file is not None:
        lines.append(f"  function logs    {settings.log_file}  (--verbose: here instead)")
    lines.append("  send a message   .venv/bin/python -m smsctl --local send --to 09121234567 --text 'سلام'")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
