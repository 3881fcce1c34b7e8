"""1. Provider calls per 1,000 recipients: the sending calls (``sendsms``, ``p2psendsms``) the sandbox
answered.

Two shapes of one text: one request to every recipient, and many small requests that share a sender
and a text, delivered as SQS batches of 10 records (the template's batch size). And one-time codes:
one recipient and a text of its own per request, SQS batches of 10, on v1rest and on v2rest (where a
batch's texts go out in one ``p2psendsms``). Counted, not timed, so the sandbox answers at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.naive import NaiveSender
from bench.report import Row
from bench.scale import Scale
from bench.world import SANDBOX_PASSWORD, SANDBOX_USER, SENDER, World, number, sqs_event

SQS_BATCH = 10
SMALL_REQUEST = 10  # recipients per request in the "many small requests" shape


def naive_sender(world: World) -> NaiveSender:
    from asanak.client import AsanakClient

    return NaiveSender(
        client=AsanakClient(world.sandbox.base_url, SANDBOX_USER, SANDBOX_PASSWORD),
        dynamodb=world.client("dynamodb"),
        events=world.client("events"),
        table=world.table_name,
        bus=world.bus_name,
        default_sender=SENDER,
    )


def _batches(bodies: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [bodies[start : start + SQS_BATCH] for start in range(0, len(bodies), SQS_BATCH)]


SENDING = ("sendsms", "p2psendsms")
OTP_TARGET_V2 = 100  # one p2psendsms per SQS batch of 10
OTP_CODES = 200  # calls are counted per 1,000: 20 batches show it (1,000 codes take minutes of moto)


def _calls(world: World, sender: NaiveSender | None, batches: list[list[dict[str, Any]]]) -> int:
    before = world.calls(*SENDING)
    for batch in batches:
        if sender is None:
            world.send(batch)
        else:
            sender.handle(sqs_event(batch))
    return world.calls(*SENDING) - before


def _one_time_codes(world: World, naive: NaiveSender, n: int, log: Callable[[str], None]) -> list[Row]:
    """Distinct texts, one recipient each: v1rest needs a call per text, v2rest one per batch."""
    offset = 10 * n
    codes = [
        {"to": number(offset + i), "text": f"Your code is {100000 + i}", "id": f"code-{i}"} for i in range(n)
    ]
    log(f"provider calls: {n:,} one-time codes, naive")
    baseline = _calls(world, naive, _batches(codes))
    rows = []
    for api in ("v1rest", "v2rest"):
        log(f"provider calls: {n:,} one-time codes on {api}")
        world.use_api(api)
        ours = _calls(world, None, _batches([{**body, "id": f"{api}-{body['id']}"} for body in codes]))
        rows.append(
            Row(
                f"provider calls per 1,000 one-time codes (distinct texts, batches of {SQS_BATCH}), {api}",
                ours * 1000 / n,
                baseline * 1000 / n,
                "calls",
                target=f"≤ {OTP_TARGET_V2}" if api == "v2rest" else "",
                check=(lambda row: row.ours <= OTP_TARGET_V2) if api == "v2rest" else None,
            )
        )
    world.use_api("v1rest")
    return rows


def run(scale: Scale, log: Callable[[str], None], notes: list[str]) -> list[Row]:
    n = scale.recipients
    per_thousand = 1000 / n
    target_calls = -(-1000 // 100)  # the provider takes 100 destinations per call
    rows = []
    with World() as world:
        naive = naive_sender(world)
        shapes = {
            f"1 request × {n:,} recipients": [
                [{"to": [number(i) for i in range(n)], "text": "Campaign A: 20% off this week"}]
            ],
            f"{n // SMALL_REQUEST:,} requests × {SMALL_REQUEST}, SQS batches of {SQS_BATCH}": _batches(
                [
                    {
                        "to": [number(n + r * SMALL_REQUEST + k) for k in range(SMALL_REQUEST)],
                        "text": "Campaign B: your parcel is on its way",
                    }
                    for r in range(n // SMALL_REQUEST)
                ]
            ),
        }
        for label, batches in shapes.items():
            log(f"provider calls: {label}")
            ours = _calls(world, None, batches)
            baseline = _calls(world, naive, batches)
            rows.append(
                Row(
                    f"sendsms calls per 1,000 recipients of one text ({label})",
                    ours * per_thousand,
                    baseline * per_thousand,
                    "calls",
                    target=f"≤ {target_calls}",
                    check=lambda row: row.ours <= target_calls,
                )
            )
        rows += _one_time_codes(world, naive, min(n, OTP_CODES), log)
    return rows
