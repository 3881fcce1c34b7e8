"""What the simulation holds the send path to: no duplicate, one true outcome per recipient."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sms_gateway.domain.model import State

if TYPE_CHECKING:
    from tests.sim.world import World


def duplicates(world: World) -> list[str]:
    """A (text, number) the provider accepted more than once (each reported once)."""
    found = []
    for pair, count in world.accepted.items():
        if count > 1:
            found.append(f"{pair[1]} was sent {pair[0]!r} {count} times")
            world.accepted[pair] = 1  # report once
    return found


def at_quiescence(world: World) -> list[str]:
    """Once the queues drained and the stream was relayed: one true outcome per recipient, none leased,
    every accepted one tracked."""
    found: list[str] = []
    outcomes: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for event in world.publisher.events:
        detail = event.detail
        if "to" not in detail or event.detail_type == "SMS Deferred":  # "not now" is not an outcome
            continue
        value = detail.get("msgid") or detail.get("reason")
        outcomes.setdefault((detail["request_id"], detail["to"]), set()).add((event.detail_type, value))
    for request_id, request in world.requests.items():
        for to in request.recipients:
            found += _recipient(world, request_id, request.text, to, outcomes.get((request_id, to), set()))
    for message in world.store.stored().values():
        if message.state == State.SENDING:
            found.append(f"{message.to} of {message.request_id} is still leased at quiescence")
        if message.state == State.ACCEPTED and (message.msgid is None or message.next_check is None):
            found.append(f"{message.to} of {message.request_id} accepted but not tracked")
    return found


def _recipient(world: World, request_id: str, text: str, to: str, seen: set[tuple[str, str]]) -> list[str]:
    """The one outcome of a recipient, held against what the provider really did."""
    pair = (text, to)
    who = f"{to} of {request_id}"
    if len(seen) != 1:
        return [f"{who} has {len(seen)} distinct outcomes: {sorted(seen)}"]
    [(kind, value)] = seen
    if kind == "SMS Accepted":
        if world.msgids.get(pair) != value or not world.accepted[pair]:
            return [f"{who} reported accepted as {value} but the provider says {world.msgids.get(pair)}"]
    elif value == "provider_rejected":
        if pair not in world.refused or world.accepted[pair]:
            return [f"{who} reported provider_rejected but the provider did not refuse it"]
    elif value == "outcome_unknown":
        if pair not in world.maybe:
            return [f"{who} reported outcome_unknown though the provider never could have accepted it"]
    else:
        return [f"{who} rejected with unexpected reason {value}"]
    return []
