"""The simulation in ``make test``: a bounded number of schedules, and proof that it can fail."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sms_gateway.domain.model import Blocked, Lease, Message

from tests.fakes import MemoryMessageStore
from tests.sim.world import World

SCHEDULES = 1000  # per provider kind, about 25 s here; `make sim N=100000` runs many more


@pytest.mark.parametrize("p2p", [False, True], ids=["one text per call", "a text each (p2psendsms)"])
@pytest.mark.parametrize("block", range(5))
def test_given_many_seeded_schedules_then_no_message_is_duplicated_lost_or_misreported(block, p2p):
    per_block = SCHEDULES // 5
    violations = []
    for seed in range(block * per_block, (block + 1) * per_block):
        violations += World(seed, p2p=p2p).run()
    assert violations == [], "\n".join(map(str, violations[:10]))


class _SwapsMsgids(World):
    """A broken p2p call: the provider's msgids come back in another order than the messages."""

    def _answer_pairs(self, pairs: list[tuple[str, str]]) -> list[str]:
        msgids = super()._answer_pairs(pairs)
        return msgids[::-1] if len({text for text, _ in pairs}) > 1 else msgids


def test_given_p2p_msgids_mapped_to_the_wrong_recipients_then_the_simulation_reports_it():
    found = []
    for seed in range(200):
        found += _SwapsMsgids(seed, p2p=True).run()
        if found:
            break
    assert any("reported accepted as" in str(v) for v in found), found[:5]


class _IgnoresLeases(MemoryMessageStore):
    """A broken store: a lease always 'succeeds', overwriting whatever is there."""

    def lease(self, messages: Sequence[Message], lease: Lease) -> Blocked:
        for m in messages:
            self.items.pop((m.request_id, m.to), None)
        return super().lease(messages, lease)


class _ForgetsOutcomes(MemoryMessageStore):
    """A broken store: settling reports success but writes nothing."""

    def settle(self, messages: Sequence[Message], lease: Lease) -> Blocked:
        return {}


@pytest.mark.parametrize(
    ("broken", "symptom"),
    [(_IgnoresLeases, "times"), (_ForgetsOutcomes, "no durable outcome")],
)
def test_given_a_broken_store_then_the_simulation_reports_violations(broken, symptom):
    found = []
    for seed in range(400):
        found += World(seed, store=broken()).run()
        if any(symptom in str(v) for v in found):
            break
    assert found, "the simulation did not notice a broken store"
    assert any(symptom in str(v) for v in found), found[:5]


def test_given_dynamodb_itself_then_a_few_schedules_hold_the_same_invariants(stack):
    from sms_gateway.adapters.dynamodb.deferrals import DynamoDeferralStore

    from tests.fakes import hooked_dynamo_store

    violations = []
    for index, seed in enumerate(range(100_000, 100_008)):
        store = hooked_dynamo_store(
            stack.table_name, stack.client("dynamodb"), stack.client("dynamodbstreams")
        )
        deferrals = DynamoDeferralStore(stack.table_name)
        world = World(
            seed, steps=20, store=store, deferrals=deferrals, numbers_from=9120000000 + index * 10_000
        )
        violations += world.run()
    assert violations == [], "\n".join(map(str, violations[:10]))


class _ForgetsFirst(MemoryMessageStore):
    """A broken release order: the deferral is forgotten as soon as it is read, before its body is
    back on the queue (a tick dying in between loses the request)."""

    def due(self, now, limit):
        found = super().due(now, limit)
        for deferral in found:
            self.forget(deferral)
        return found


def test_given_a_release_that_forgets_before_enqueueing_then_the_simulation_reports_lost_requests():
    found = []
    for seed in range(400):
        found += World(seed, store=_ForgetsFirst()).run()
        if found:
            break
    assert any("0 distinct outcomes" in str(v) for v in found), found[:5]
