"""``make demo``: a few requests through the running local stack, each message's lifecycle shown live.

Sends Persian text to several recipients, a request with one invalid number, a message the sandbox
will fail to deliver, and pushes an inbound reply; prints every event as it arrives and exits 0
once each message reached a final state (1 if something did not within the time limit).
"""

from __future__ import annotations

import sys

from emulator.tap import EventTap
from local_stack.feed import line
from local_stack.runtime import DEFAULT_SENDER, LocalStack
from smsctl.producer import build_request, send_request

TIME_LIMIT = 90.0
REPLY_FROM = "09121234567"


def run_demo(stack: LocalStack) -> int:
    endpoints = stack.endpoints
    assert endpoints is not None
    target = endpoints.target
    tap = EventTap(target.client("sqs"), target.client("events"), endpoints.bus_name)
    if stack.sandbox is not None:
        stack.sandbox.script("989351234567", [(0, 1), (5, 2), (15, 5)])  # this handset never gets it

    requests = [
        build_request(
            ["09121234567", "+98 935 123 4567"],
            "سلام! کد تأیید شما ۴۸۲۹۱۵ است.",
            request_id="demo-otp",
            meta={"user": 42},
        ),
        build_request(["0912 765 4321", "12345"], "Your order #1001 has shipped.", request_id="demo-order"),
    ]
    print("\nSending 2 requests (4 recipients, one of them invalid)…", flush=True)
    for request in requests:
        send_request(target, request)

    expected_final = 3  # three valid recipients reach a final delivery status
    replied = False
    printed = 0

    def progress(tap: EventTap) -> bool:
        nonlocal printed, replied
        for event in tap.seen[printed:]:
            print(line(event), flush=True)
        printed = len(tap.seen)
        if not replied and stack.sandbox is not None and tap.of("SMS Accepted"):
            status = stack.sandbox.push_inbound(
                endpoints.inbound_url, source=REPLY_FROM, destination=DEFAULT_SENDER, text="ممنون، رسید 🙏"
            )
            print(f"  (the sandbox pushed a reply from {REPLY_FROM}: HTTP {status})", flush=True)
            replied = True
        finals = [d for d in tap.of("SMS Status Changed") if d["final"]]
        received = tap.of("SMS Received") or stack.sandbox is None
        return len(finals) >= expected_final and bool(received)

    ok = tap.wait_for(progress, timeout=TIME_LIMIT)
    progress(tap)
    print_summary(tap)
    if not ok:
        print(f"Not every message reached a final state within {TIME_LIMIT:.0f} s.", file=sys.stderr)
        return 1
    return 0


def print_summary(tap: EventTap) -> None:
    accepted, rejected = len(tap.of("SMS Accepted")), len(tap.of("SMS Rejected"))
    finals = [d for d in tap.of("SMS Status Changed") if d["final"]]
    delivered = sum(1 for d in finals if d["status"] == 6)
    print(
        f"\nSummary: {accepted} accepted, {rejected} rejected, {delivered} delivered, "
        f"{len(finals) - delivered} failed, {len(tap.of('SMS Received'))} reply received.",
        flush=True,
    )
