"""``python -m smsctl``: queue an SMS request on a gateway (local or deployed) and show its status.

Examples::

    python -m smsctl --local send --to 09121234567 --text "سلام" --id greet-1
    python -m smsctl --stack asanak-sms status --id greet-1
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import datetime

from smsctl.producer import Target, build_request, local_target, request_status, send_request, stack_target


def _aware_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-12-01T06:00:00Z")
    return moment


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    target = (
        local_target() if args.local else stack_target(args.stack) if args.stack else Target(args.queue_url)
    )
    if args.command == "send":
        return _send(target, args)
    if args.command == "republish":
        from smsctl.republish import republish

        counts = republish(target, args.since, dry_run=args.dry_run)
        print(json.dumps({"republished": not args.dry_run, "events": counts}, ensure_ascii=False))
        return 0
    return _status(target, args.request_id)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m smsctl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", action="store_true", help="the stack started by `make run`")
    where.add_argument("--stack", help="a deployed CloudFormation stack name")
    where.add_argument("--queue-url", help="a send queue URL (sending only)")
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send", help="queue one SMS request")
    send.add_argument("--to", action="append", required=True, help="recipient (repeatable)")
    send.add_argument("--text", required=True)
    send.add_argument("--from", dest="sender", help="sender number (default: the stack's DefaultSender)")
    send.add_argument(
        "--id",
        dest="request_id",
        help="client reference, also the deduplication key (default: a new random id, so a retry of this "
        "command is a new request but a redrive of it is not)",
    )
    send.add_argument("--meta", type=json.loads, help="JSON object echoed in every event")
    status = commands.add_parser("status", help="show every recipient of a request")
    status.add_argument("--id", dest="request_id", required=True)
    again = commands.add_parser(
        "republish", help="publish again the events of every item changed since a time (after an outage)"
    )
    again.add_argument(
        "--since", type=_aware_time, required=True, help="ISO 8601 with a zone, e.g. 2026-12-01T06:00:00Z"
    )
    again.add_argument("--dry-run", action="store_true", help="count the events, publish nothing")
    return parser


def _send(target: Target, args: argparse.Namespace) -> int:
    to = args.to[0] if len(args.to) == 1 else args.to
    request_id = args.request_id or f"smsctl-{uuid.uuid4()}"
    request = build_request(to, args.text, sender=args.sender, request_id=request_id, meta=args.meta)
    message_id = send_request(target, request)
    print(
        json.dumps(
            {"queued": True, "sqs_message_id": message_id, "request_id": request_id},
            ensure_ascii=False,
        )
    )
    return 0


def _status(target: Target, request_id: str) -> int:
    rows = request_status(target, request_id)
    if not rows:
        print(f"no message stored for request {request_id!r} (not processed yet, or rejected before sending)")
        return 1
    for row in sorted(rows, key=lambda r: r["to"]):
        print(
            f"{row['to']}  {row['state']:<9} msgid={row.get('msgid', '-'):<10} "
            f"status={row.get('status_name', '-')} {row.get('reason', '')}".rstrip()
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
