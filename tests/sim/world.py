"""A seeded, deterministic simulation that hunts for duplicate and lost SMS in the real send code.

One schedule = one seed. The world holds:

* **SQS** (a model): visibility timeout, redelivery, two deliveries of one message at once, the DLQ
  after ``maxReceiveCount`` receives, and redrives from the DLQ under a **new message id**; a
  delete with a stale receipt may or may not take effect, as on SQS.
* **Asanak** (a model), taking free text and approved templates (one destination a call): accepts;
  refuses calls holding numbers it considers invalid, naming them or not; answers 429/503 without
  acting; says "not now" (the daily limit: deferred to Tehran midnight; the advertising hours: a
  probe two minutes later); accepts and then times out or answers 500; answers 500 without acting.
* **The poll function's release of deferrals** (the real ``ReleaseService``), putting due requests
  back on the queue under new message ids, crashing between the enqueue and the forget like the rest.
* **Crashes** at every boundary the send code crosses: before and after each store write, before and
  after each provider call and each publish. A crashed invocation stops dead: no later write, call or
  batch response.
* **The real** :class:`sms_gateway.domain.sending.service.SendService`, on the in-memory store
  (proven equal to DynamoDB by tests/integration/test_store_contract.py) or on DynamoDB itself (moto);
* **the outbox's relay**: the real ``PublishService`` reading the store's
  stream in order, crashing like the senders, resuming from its last checkpoint as Lambda does.

Invariants, checked after every step and at quiescence (after a healing phase that redelivers and
redrives until every queue is empty):

1. no (request, recipient) is accepted by the provider twice;
2. every recipient of every valid request ends with exactly one final outcome: ``SMS Accepted`` with
   the provider's msgid, or ``SMS Rejected`` with a reason — ``provider_rejected`` only if the
   provider refused it and never accepted it, ``outcome_unknown`` only where the provider may really
   have accepted it (an ambiguous answer, or an attempt that died holding its lease);
3. no SQS message is deleted before each of its recipients has a durable outcome, or its request a
   stored deferral (which puts it back on the queue when due);
4. nothing stays leased (``sending``) or deferred at quiescence;
5. every accepted recipient is stored with its msgid and a next check: poll tracks it.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from asanak.errors import AmbiguousError, RejectedError, RetryableError
from sms_gateway.domain.deferral.release import ReleaseService
from sms_gateway.domain.deferral.windows import SendWindows
from sms_gateway.domain.model import Message, State
from sms_gateway.domain.ports import DeferralStore, MessageStore, RequestQueue
from sms_gateway.domain.publishing.service import Change, PublishService
from sms_gateway.domain.sending.service import Envelope, SendPolicy, SendService

from tests.fakes import MemoryMessageStore, MemoryPublisher, ScriptedProvider
from tests.sim.invariants import at_quiescence, duplicates

SENDER = "982164063188"
VISIBILITY = timedelta(seconds=360)
FUNCTION_TIMEOUT = timedelta(seconds=60)
MAX_RECEIVE = 4
CALL_TIMEOUT = timedelta(seconds=2)
# Advertising hours all day long: a 1013 then means "probe again in two minutes", so releases (and
# crashes in them) happen among the schedule's steps, not only while healing.
WINDOWS = SendWindows(start=time(0, 0), end=time(23, 59, 59), probe_every=timedelta(minutes=2))
TEXTS = ("code 1111", "code 2222", "your order shipped")


class Crash(BaseException):
    """The invocation died here (BaseException: no ``except Exception`` in the code survives it)."""


@dataclass
class SqsMessage:
    message_id: str
    body: str
    request: str  # the logical request this body is (its id, or its first message id)
    receive_count: int = 0
    visible_at: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    receipt: int = 0
    gone: bool = False  # deleted (or moved to the DLQ)


@dataclass
class Invocation:
    number: int
    crash_at: int | None  # crash at this boundary index (None: no crash planned)
    boundaries: int = 0
    dead: bool = False
    token: str | None = None


@dataclass
class Request:
    recipients: tuple[str, ...]
    text: str
    valid: bool = True


@dataclass
class Violation:
    seed: int
    what: str

    def __str__(self) -> str:
        return f"seed {self.seed}: {self.what}"


@dataclass
class World:
    seed: int
    steps: int = 30
    store: MessageStore | None = None  # default: the in-memory store; give a HookedDynamoStore for moto
    numbers_from: int = 9120000000
    rng: random.Random = field(init=False)
    now: datetime = field(default_factory=lambda: datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    queue: list[SqsMessage] = field(default_factory=list)
    dlq: list[SqsMessage] = field(default_factory=list)
    requests: dict[str, Request] = field(default_factory=dict)
    bad_numbers: set[str] = field(default_factory=set)
    accepted: Counter[tuple[str, str]] = field(default_factory=Counter)  # (text, to) → provider acceptances
    msgids: dict[tuple[str, str], str] = field(default_factory=dict)
    maybe: set[tuple[str, str]] = field(default_factory=set)  # the provider may have accepted it
    refused: set[tuple[str, str]] = field(default_factory=set)
    violations: list[Violation] = field(default_factory=list)
    healing: bool = False
    p2p: bool = False  # the provider takes a text per recipient in one call (v2rest's p2psendsms)
    deferrals: DeferralStore | None = None  # default: the store itself (the in-memory one is both)
    bodies: dict[str, str] = field(default_factory=dict)  # SQS body → its request id
    _stack: list[Invocation] = field(default_factory=list)
    _counter: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._number = self.numbers_from
        if self.store is None:
            self.store = MemoryMessageStore()
        self.store.hook(before=self._store_boundary, after=self._store_boundary)
        self.publisher = MemoryPublisher(before=lambda point: self._boundary(point))
        self.relay = PublishService(self.publisher)
        self._checkpoint = 0
        self.provider = ScriptedProvider(self._answer, each=self._answer_pairs if self.p2p else None)
        self.provider.templates = True
        if self.deferrals is None:
            assert isinstance(self.store, DeferralStore)
            self.deferrals = self.store
        self.releaser = ReleaseService(store=self.deferrals, queue=_WorldQueue(self), clock=lambda: self.now)
        self.service = SendService(
            store=self.store,
            provider=self.provider,
            # one worker at a time: deterministic (concurrency comes from nesting)
            policy=SendPolicy(
                SENDER, timedelta(days=30), concurrency=1, call_timeout=CALL_TIMEOUT, windows=WINDOWS
            ),
            clock=lambda: self.now,
            new_token=self._token,
            timer=lambda: self.now.timestamp(),
        )

    # -- ids ---------------------------------------------------------------------------------------
    def _token(self) -> str:
        self._counter += 1
        token = f"attempt-{self._counter}"
        if self._stack:
            self._stack[-1].token = token
        return token

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self.seed}-{self._counter}"

    def _numbers(self, count: int) -> tuple[str, ...]:
        numbers = []
        for _ in range(count):
            self._number += 1
            number = f"98{self._number}"
            if self.rng.random() < 0.15:
                self.bad_numbers.add(number)
            numbers.append(number)
        return tuple(numbers)

    # -- boundaries: crashes and concurrent deliveries ----------------------------------------------
    def _store_boundary(self, point: str, messages: Sequence[Message]) -> None:
        self._boundary(point)

    def _boundary(self, point: str) -> None:
        if not self._stack:
            return
        invocation = self._stack[-1]
        if invocation.dead:
            raise Crash(point)
        invocation.boundaries += 1
        if invocation.crash_at == invocation.boundaries:
            invocation.dead = True
            raise Crash(point)
        if not self.healing and len(self._stack) < 2 and self.rng.random() < 0.04:
            self._deliver_concurrently()

    def _deliver_concurrently(self) -> None:
        """SQS hands a message that this invocation holds to another invocation at the same time."""
        in_flight = [m for m in self.queue if not m.gone and m.receive_count > 0]
        if in_flight:
            self._invoke([self.rng.choice(in_flight)])

    # -- Asanak -------------------------------------------------------------------------------------
    def _answer(self, destinations: Sequence[str], text: str) -> list[str]:
        return self._answer_pairs([(text, to) for to in destinations])

    def _answer_pairs(self, pairs: list[tuple[str, str]]) -> list[str]:
        """One provider call for (text, destination) pairs: one text (sendsms) or a text each."""
        self._boundary("before provider call")
        self.now += timedelta(milliseconds=self.rng.randint(50, 1500))
        bad = [to for _, to in pairs if to in self.bad_numbers]
        roll = 1.0 if self.healing else self.rng.random()
        if bad:
            self.refused.update(pair for pair in pairs if pair[1] in bad)
            if self.rng.random() < 0.5:
                raise RejectedError(
                    "invalid destination", method="sendsms", reason="invalid_destination", destinations=bad
                )
            raise RejectedError("bad request", method="sendsms", reason="validation", http_status=400)
        if roll < 0.05:
            raise RetryableError("too many requests", method="sendsms", http_status=429)
        if 0.97 <= roll < 1.0:  # "not now", never while healing (roll 1.0)
            reason = "daily_limit" if roll < 0.975 else "outside_hours"  # due at midnight, or in minutes
            raise RejectedError("not now", method="sendsms", reason=reason, http_status=400)
        if roll < 0.08:
            self.maybe.update(pairs)
            raise AmbiguousError("500 without acting", method="sendsms", http_status=500)
        msgids = []
        for pair in pairs:
            self.accepted[pair] += 1
            self._counter += 1
            msgids.append(str(self._counter))
            self.msgids[pair] = msgids[-1]
        if roll < 0.16:
            self.maybe.update(pairs)
            self.now += CALL_TIMEOUT
            raise AmbiguousError("read timeout after sending", method="sendsms")
        if roll < 0.19:
            self.maybe.update(pairs)
            raise AmbiguousError("accepted, then HTTP 500", method="sendsms", http_status=500)
        self._boundary("after provider call")
        return msgids

    # -- producers ----------------------------------------------------------------------------------
    def produce(self) -> None:
        kind = self.rng.random()
        message_id = self._new_id("sqs")
        if kind < 0.06:
            body = self.rng.choice(['{"to": "0912", ', '{"to": "09121234567", "text": "\\ud800"}', "[]"])
            self.requests[message_id] = Request((), "", valid=False)
            self.queue.append(SqsMessage(message_id, body, message_id, visible_at=self.now))
            return
        recipients = self._numbers(self.rng.choice((1, 1, 2, 3, 5, 12)))
        text = self.rng.choice(TEXTS)
        payload: dict[str, object] = {"to": list(recipients), "text": text}
        if self.rng.random() < 0.2:  # an approved template: one call per recipient
            params = {"code": text[-4:]}
            payload = {"to": list(recipients), "template": {"id": "101", "params": params}}
            text = ScriptedProvider.template_text("101", params)
        request_id = message_id
        if self.rng.random() < 0.6:
            request_id = self._new_id("req")
            payload["id"] = request_id
        self.requests[request_id] = Request(recipients, text)
        body = json.dumps(payload)
        self.bodies[body] = request_id
        self.queue.append(SqsMessage(message_id, body, request_id, visible_at=self.now))
        if "id" in payload and self.rng.random() < 0.2:  # the producer's SendMessage was retried
            self.queue.append(SqsMessage(self._new_id("sqs"), body, request_id, visible_at=self.now))

    # -- SQS and Lambda ----------------------------------------------------------------------------
    def deliver(self) -> None:
        visible = [m for m in self.queue if not m.gone and m.visible_at <= self.now]
        if visible:
            self._invoke(visible[:10])

    def _invoke(self, batch: list[SqsMessage]) -> None:
        receipts = {}
        for message in batch:
            message.receive_count += 1
            message.receipt += 1
            message.visible_at = self.now + VISIBILITY
            receipts[message.message_id] = message.receipt
        crash_at = None
        if not self.healing and self.rng.random() < 0.35:
            crash_at = self.rng.randint(1, 12)
        invocation = Invocation(len(self._stack), crash_at)
        remaining = FUNCTION_TIMEOUT if self.rng.random() < 0.8 else timedelta(seconds=6)
        envelopes = [Envelope(m.message_id, m.body, m.receive_count) for m in batch]
        self._stack.append(invocation)
        try:
            outcome = self.service.send_batch(envelopes, remaining)
        except Crash:
            self._after_crash(invocation)
            return
        finally:
            self._stack.pop()
        for message in batch:
            failed = message.message_id in outcome.failures
            if message.gone:
                continue
            if not failed:
                stale = message.receipt != receipts[message.message_id]
                if not stale or self.rng.random() < 0.5:
                    self._delete(message)
            elif message.receive_count >= MAX_RECEIVE:
                message.gone = True
                self.dlq.append(message)

    def _after_crash(self, invocation: Invocation) -> None:
        """An attempt died: whatever it held leased may have reached the provider."""
        for message in self.store.stored().values():
            if message.state == State.SENDING and message.lease_token == invocation.token:
                self.maybe.add((self.requests_text(message.request_id), message.to))

    def requests_text(self, request_id: str) -> str:
        request = self.requests.get(request_id)
        return request.text if request else ""

    def _delete(self, message: SqsMessage) -> None:
        request = self.requests[message.request]
        recipients = self.store.messages_of(message.request) if request.recipients else {}
        for to in request.recipients:
            stored = recipients.get(to)
            if (stored is None or stored.state == State.SENDING) and not self._deferred(message.request):
                self._violate(
                    f"message {message.message_id} deleted while {to} of {message.request} has no durable "
                    f"outcome ({'none' if stored is None else stored.state})"
                )
        message.gone = True

    def pending_deferrals(self) -> list:
        assert self.deferrals is not None
        return self.deferrals.due(self.now + timedelta(days=3), 100_000)

    def _deferred(self, request_id: str) -> bool:
        return any(d.request_id == request_id for d in self.pending_deferrals())

    def release(self) -> None:
        """One tick of the poll function's release, which may die at any boundary."""
        crash_at = self.rng.choice((None, None, 1, 2, 3))  # while healing too: the next tick goes on
        invocation = Invocation(len(self._stack), crash_at)
        self._stack.append(invocation)
        try:
            self.releaser.run()
        except Crash:
            pass
        finally:
            self._stack.pop()

    def redrive(self) -> None:
        for message in self.dlq:
            self.queue.append(
                SqsMessage(self._new_id("sqs"), message.body, message.request, visible_at=self.now)
            )
        self.dlq.clear()

    # -- the outbox's relay -------------------------------------------------------------------------
    def stream(self) -> list[Change]:
        return self.store.stream  # type: ignore[attr-defined]

    def relay_stream(self) -> bool:
        """One invocation of the publish function on the next stream batch; False when none is left."""
        changes = self.stream()[self._checkpoint : self._checkpoint + self.rng.choice((1, 3, 10))]
        if not changes:
            return False
        invocation = Invocation(len(self._stack), None if self.healing else self.rng.choice((None, None, 1)))
        self._stack.append(invocation)
        try:
            outcome = self.relay.publish(changes)
        except Crash:
            return True  # nothing checkpointed: the batch comes again
        finally:
            self._stack.pop()
        failed = [i for i, change in enumerate(changes) if change.id in outcome.failed]
        self._checkpoint += failed[0] if failed else len(changes)
        return True

    # -- the schedule --------------------------------------------------------------------------------
    def run(self) -> list[Violation]:
        logging.disable(logging.CRITICAL)
        try:
            for _ in range(self.steps):
                self._step()
                self.violations += [Violation(self.seed, what) for what in duplicates(self)]
            self._heal()
            self.violations += [Violation(self.seed, what) for what in at_quiescence(self)]
        finally:
            logging.disable(logging.NOTSET)
        return self.violations

    def _step(self) -> None:
        roll = self.rng.random()
        if roll < 0.35:
            self.produce()
        elif roll < 0.75:
            self.deliver()
        elif roll < 0.8:
            self.redrive()
        elif roll < 0.88:
            self.relay_stream()
        elif roll < 0.92:
            self.release()
        else:
            self.now += timedelta(seconds=self.rng.choice((1, 30, 120, 400)))

    def _heal(self) -> None:
        self.healing = True
        for _ in range(200):
            waiting = self.pending_deferrals()
            if not any(not m.gone for m in self.queue) and not self.dlq and not waiting:
                break
            self.now += VISIBILITY + timedelta(seconds=1)
            if waiting:  # the ticks until the earliest window, at once
                self.now = max(self.now, min(d.due_at for d in waiting))
                self.release()
            while any(not m.gone and m.visible_at <= self.now for m in self.queue):
                self.deliver()
            self.redrive()
        if any(not m.gone for m in self.queue) or self.dlq or self.pending_deferrals():
            self._violate("the queues never drained (or a deferral was never released)")
        while self.relay_stream():
            pass

    # -- invariants ----------------------------------------------------------------------------------
    def _violate(self, what: str) -> None:
        self.violations.append(Violation(self.seed, what))


class _WorldQueue(RequestQueue):
    """The send queue as the release sees it: bodies back as new SQS messages (new message ids)."""

    def __init__(self, world: World) -> None:
        self._world = world

    def enqueue(self, bodies: Sequence[str]) -> list[int]:
        world = self._world
        world._boundary("before enqueue")
        for body in bodies:
            world.queue.append(
                SqsMessage(world._new_id("sqs"), body, world.bodies[body], visible_at=world.now)
            )
        world._boundary("after enqueue")
        return []
