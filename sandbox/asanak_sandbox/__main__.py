"""``python -m asanak_sandbox``: run the Asanak sandbox in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
from decimal import Decimal
from types import FrameType

from asanak_sandbox.server import AsanakSandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m asanak_sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=8085, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--username", default="user")
    parser.add_argument("--password", default="pass")
    parser.add_argument(
        "--sender", action="append", help="an active sender number (repeatable); default: two examples"
    )
    parser.add_argument("--credit", type=Decimal, default=Decimal("1000"))
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API reply")
    parser.add_argument("--clock-speed", type=float, default=1.0, help="sandbox time per real second")
    args = parser.parse_args(argv)

    senders = tuple(args.sender) if args.sender else ("982164063188", "98300012345")
    sandbox = AsanakSandbox(
        username=args.username,
        password=args.password,
        senders=senders,
        credit=args.credit,
        port=args.port,
        latency=args.latency,
        clock_speed=args.clock_speed,
    )
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with sandbox:
        print(f"Asanak sandbox: {sandbox.base_url}  (control plane: {sandbox.url}/_sandbox/)", flush=True)
        print(f"senders: {', '.join(senders)}; Ctrl-C to stop", flush=True)
        while not done.wait(0.5):
            pass


if __name__ == "__main__":
    main()
