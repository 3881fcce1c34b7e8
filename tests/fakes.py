"""In-memory fakes of the send path's ports, with DynamoDB's semantics for conditional writes.

:class:`MemoryMessageStore` subclasses the real port and keeps every item as a copy, applying each
conditional write atomically (one lock), exactly as the DynamoDB adapter's conditions read; the
contract tests (tests/unit/test_store_contract.py) run the same cases against both stores, so the
simulation's results carry over to DynamoDB. ``before``/``after`` hooks let a test or the simulation
inject a crash or another delivery at every store boundary. Like the table's stream, ``stream`` records
every change (the item before and after) in order, for the outbox's publisher.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from asanak.errors import AsanakError, RetryableError
from asanak.templates import Template
from sms_gateway.adapters.asanak_provider import classify
from sms_gateway.domain.errors import StoreError
from sms_gateway.domain.events import Event
from sms_gateway.domain.inbound.service import OPT_IN, OPT_OUT
from sms_gateway.domain.model import (
    Blocked,
    Count,
    Deferral,
    InboundRecord,
    Lease,
    Message,
    Outgoing,
    Rejections,
    State,
    StatusChange,
    StoredRequest,
)
from sms_gateway.domain.ports import (
    DeferralStore,
    EventPublisher,
    InboundStore,
    MessageStore,
    RequestQueue,
    SmsProvider,
    TrackingStore,
)
from sms_gateway.domain.publishing.service import Change

Hook = Callable[[str, Sequence[Message]], None]


def _noop(point: str, messages: Sequence[Message]) -> None:
    return None


class MemoryMessageStore(MessageStore, DeferralStore):
    """The table as the send path and the release of deferrals see it (one table, like DynamoDB)."""

    def __init__(self, before: Hook = _noop, after: Hook = _noop) -> None:
        self.hook(before, after)
        self.items: dict[tuple[str, str], Message] = {}
        self.rejections: dict[str, Rejections] = {}
        self.stream: list[Change] = []
        self.opted: set[str] = set()
        self.parks: dict[str, str] = {}
        self.deferrals: dict[str, Deferral] = {}
        self.listed: list[Template] | None = None  # the template list, as poll stored it
        self.writes = 0
        self._lock = threading.RLock()

    def hook(self, before: Hook = _noop, after: Hook = _noop) -> None:
        """Call ``before(point, messages)``/``after(…)`` around every write (crash injection)."""
        self._before = before
        self._after = after

    def stored(self) -> dict[tuple[str, str], Message]:
        """Every recipient item, by (request id, number)."""
        with self._lock:
            return dict(self.items)

    # -- helpers -----------------------------------------------------------------------------------
    def _each(
        self,
        point: str,
        messages: Sequence[Message],
        allowed: Callable[[Message | None, Message], bool],
        apply: Callable[[Message], None],
        already_done: Callable[[Message, Message], bool],
    ) -> Blocked:
        self._before(point, messages)
        blocked: Blocked = {}
        for message in messages:
            with self._lock:
                key = (message.request_id, message.to)
                stored = self.items.get(key)
                self.writes += 1
                if allowed(stored, message):
                    apply(message)
                elif stored is None or not already_done(message, stored):
                    blocked[message.to] = None if stored is None else copy.deepcopy(stored)
        self._after(point, messages)
        return blocked

    def _put(self, message: Message) -> None:
        key = (message.request_id, message.to)
        old = self.items.get(key)
        self.items[key] = copy.deepcopy(message)
        self._record(old, self.items[key], f"{key[0]}|{key[1]}")

    def _record(self, old: Any, new: Any, key: str) -> None:
        change = Change(str(len(self.stream) + 1), copy.deepcopy(old), copy.deepcopy(new), key)
        self.stream.append(change)

    # -- the port ----------------------------------------------------------------------------------
    def stored_request(self, request_id: str) -> StoredRequest:
        with self._lock:
            messages = {
                to: copy.deepcopy(message) for (rid, to), message in self.items.items() if rid == request_id
            }
            deferral = self.deferrals.get(request_id)
        return StoredRequest(messages, None if deferral is None else deferral.fingerprint)

    def lease(self, messages: Sequence[Message], lease: Lease) -> Blocked:
        def apply(m: Message) -> None:
            m.state, m.lease_token, m.lease_until = State.SENDING, lease.token, lease.until
            self._put(m)

        blocked = self._each(
            "lease",
            messages,
            lambda stored, m: stored is None,
            apply,
            lambda m, stored: stored.state == State.SENDING and stored.lease_token == lease.token,
        )
        for m in messages:
            if m.to not in blocked:
                m.state, m.lease_token, m.lease_until = State.SENDING, lease.token, lease.until
        return blocked

    def record(self, messages: Sequence[Message]) -> Blocked:
        return self._each(
            "record",
            messages,
            lambda stored, m: stored is None,
            self._put,
            lambda m, stored: stored.state == m.state
            and stored.reason == m.reason
            and stored.owner == m.owner,
        )

    def settle(self, messages: Sequence[Message], lease: Lease) -> Blocked:
        for m in messages:
            m.lease_token = lease.token

        def apply(m: Message) -> None:
            stored = copy.deepcopy(m)
            stored.lease_until = None
            self._put(stored)

        return self._each(
            "settle",
            messages,
            lambda stored, m: stored is not None and _held(stored, lease.token),
            apply,
            _same_outcome,
        )

    def release(self, messages: Sequence[Message], lease: Lease) -> Blocked:
        def apply(m: Message) -> None:
            self._record(self.items.pop((m.request_id, m.to)), None, f"{m.request_id}|{m.to}")

        return self._each(
            "release",
            messages,
            lambda stored, m: stored is not None and _held(stored, lease.token),
            apply,
            lambda m, stored: False,
        )

    def take_over(self, messages: Sequence[Message], now: datetime) -> Blocked:
        def allowed(stored: Message | None, m: Message) -> bool:
            return (
                stored is not None
                and _held(stored, m.lease_token)
                and stored.lease_until is not None
                and stored.lease_until < now
            )

        def apply(m: Message) -> None:
            stored = copy.deepcopy(m)
            stored.lease_until = None
            self._put(stored)

        return self._each("take_over", messages, allowed, apply, _same_outcome)

    def reject(self, rejections: Rejections, expires_at: datetime) -> bool:
        self._before("reject", [])
        with self._lock:
            self.writes += 1
            created = rejections.key not in self.rejections
            if created:
                self.rejections[rejections.key] = rejections
                self._record(None, rejections, rejections.key)
        self._after("reject", [])
        return created

    def opted_out(self, numbers: Iterable[str]) -> set[str]:
        return set(numbers) & self.opted

    def park(self, body_key: str, request_id: str, expires_at: datetime) -> str:
        self._before("park", [])
        with self._lock:
            self.writes += 1
            parked = self.parks.setdefault(body_key, request_id)
        self._after("park", [])
        return parked

    def templates(self) -> list[Template] | None:
        return None if self.listed is None else list(self.listed)

    def defer(self, deferral: Deferral) -> bool:
        self._before("defer", [])
        with self._lock:
            self.writes += 1
            old = self.deferrals.get(deferral.request_id)
            same = old is not None and old.fingerprint == deferral.fingerprint
            if old is not None and not same:
                stored = False  # another content is deferred under this id
            elif same and (old.due_at, old.numbers) == (deferral.due_at, deferral.numbers):
                stored = True  # identical: kept as it is (its token, and no event)
            else:
                stored = True
                self.deferrals[deferral.request_id] = deferral
                self._record(old, deferral, f"REQ#{deferral.request_id}|#DEFERRED")
        self._after("defer", [])
        return stored

    # -- the deferral store (the poll function's release) ---------------------------------------------
    def due(self, now: datetime, limit: int) -> list[Deferral]:
        with self._lock:
            due = sorted((d for d in self.deferrals.values() if d.due_at <= now), key=lambda d: d.due_at)
        return due[:limit]

    def forget(self, deferral: Deferral) -> bool:
        self._before("forget", [])
        with self._lock:
            stored = self.deferrals.get(deferral.request_id)
            if stored is None or stored.token != deferral.token:
                return False
            del self.deferrals[deferral.request_id]
            self._record(stored, None, f"REQ#{deferral.request_id}|#DEFERRED")
        self._after("forget", [])
        return True


def _held(stored: Message, token: str | None) -> bool:
    return stored.state == State.SENDING and stored.lease_token == token


def _same_outcome(wanted: Message, stored: Message) -> bool:
    return (
        stored.state == wanted.state
        and stored.msgid == wanted.msgid
        and stored.lease_token == wanted.lease_token
    )


class RecordingMetrics:
    """A metrics sink that keeps every datapoint (name, value)."""

    def __init__(self) -> None:
        self.added: list[tuple[str, float]] = []

    def add_metric(self, name: str, unit: object, value: float) -> None:
        self.added.append((name, value))

    def total(self, name: str) -> float:
        return sum(value for metric, value in self.added if metric == name)


class MemoryQueue(RequestQueue):
    """The send queue: bodies in order; ``refuse(position)`` says which positions of a call fail."""

    def __init__(self, refuse: Callable[[int], bool] = lambda position: False) -> None:
        self.bodies: list[str] = []
        self._refuse = refuse

    def enqueue(self, bodies: Sequence[str]) -> list[int]:
        failed = [position for position in range(len(bodies)) if self._refuse(position)]
        self.bodies.extend(body for position, body in enumerate(bodies) if position not in failed)
        return failed


class MemoryPublisher(EventPublisher):
    """Records what was published; ``before``/``after`` hooks as the store's."""

    def __init__(self, before: Callable[[str], None] | None = None) -> None:
        self.events: list[Event] = []
        self._before = before or (lambda point: None)
        self._lock = threading.Lock()

    def publish(self, events: Sequence[Event]) -> None:
        self._before("publish")
        with self._lock:
            self.events.extend(events)


class ScriptedProvider(SmsProvider):
    """A provider whose answer to each ``send`` is decided by ``answer(destinations, text)``: return
    msgids or raise. Every call is recorded. An Asanak error raised by ``answer`` reaches the service
    as the Asanak adapter hands it over (classified into a ProviderFailure), so scripts are written in
    the provider's terms. With ``each(pairs)`` it also takes a text per recipient in one call
    (``send_each``, as p2psendsms), answering for (text, destination) pairs."""

    def __init__(
        self,
        answer: Callable[[Sequence[str], str], list[str]] | None = None,
        *,
        each: Callable[[list[tuple[str, str]]], list[str]] | None = None,
    ) -> None:
        self.calls: list[tuple[str, tuple[str, ...], str]] = []
        self.blacklist_flags: list[bool] = []  # each call's to_blacklisted
        self._answer = answer or (
            lambda destinations, text: [str(1000 + i) for i in range(len(destinations))]
        )
        self._each = each
        self.texts_per_recipient = each is not None
        self._lock = threading.Lock()
        self.templates = False  # set True: template requests go through send_template, answered by
        # ``answer([destination], "template <id> <params>")``
        self.listed_templates: list[Template] | None = []  # template_list's answer (None: it fails)
        self.template_lists = 0

    def template_list(self) -> list[Template]:
        self.template_lists += 1
        if self.listed_templates is None:
            self._classified(lambda: _raise(RetryableError("templatelist down", method="templatelist")))
        return list(self.listed_templates or [])

    def send_template(self, destination: str, template_id: str, params: Mapping[str, str]) -> str:
        assert self.templates, "this provider sends no templates"
        text = self.template_text(template_id, params)
        self._record("(template)", [destination], text, False)
        [msgid] = self._classified(lambda: self._answer([destination], text))
        return msgid

    def send(
        self, source: str, destinations: Sequence[str], text: str, *, to_blacklisted: bool = False
    ) -> list[str]:
        self._record(source, destinations, text, to_blacklisted)
        return self._classified(lambda: self._answer(destinations, text))

    def send_each(self, items: Sequence[Outgoing]) -> list[str]:
        assert self._each is not None, "this provider takes one text per call"
        self._record(
            items[0].source, [i.destination for i in items], "(a text each)", items[0].to_blacklisted
        )
        return self._classified(lambda: self._each([(i.text, i.destination) for i in items]))  # type: ignore[misc]

    @staticmethod
    def template_text(template_id: str, params: Mapping[str, str]) -> str:
        """The text a template call is recorded and answered under."""
        return f"template {template_id} {sorted(params.items())}"

    def _record(self, source: str, destinations: Sequence[str], text: str, flag: bool) -> None:
        with self._lock:
            self.calls.append((source, tuple(destinations), text))
            self.blacklist_flags.append(flag)

    @staticmethod
    def _classified(answer: Callable[[], list[str]]) -> list[str]:
        try:
            return answer()
        except AsanakError as error:
            raise classify(error) from error

    def status(self, msgids: Sequence[str]) -> list:
        return []

    def credit(self):  # pragma: no cover - not used by send
        raise NotImplementedError


def hooked_dynamo_store(table_name: str, client: Any, streams: Any) -> MessageStore:
    """The real DynamoDB adapter with the same hooks as :class:`MemoryMessageStore` around every write,
    a (test-only) scan of its recipient items, and its table's stream read as Lambda reads it: lets the
    simulation run on moto."""
    from sms_gateway.adapters.dynamodb.items import MessageItem
    from sms_gateway.adapters.dynamodb.messages import DynamoMessageStore, to_message
    from sms_gateway.adapters.dynamodb.stream import change_of

    from emulator.streams import StreamReader, table_stream_arn

    reader = StreamReader(streams, table_stream_arn(client, table_name))
    seen: list[Change] = []

    class Hooked(DynamoMessageStore):
        @property
        def stream(self) -> list[Change]:
            seen.extend(change_of(record) for record in reader.read())
            return seen

        def hook(self, before: Hook = _noop, after: Hook = _noop) -> None:
            self._before, self._after = before, after

        def stored(self) -> dict[tuple[str, str], Message]:
            found = {}
            for page in client.get_paginator("scan").paginate(TableName=table_name):
                for raw in page["Items"]:
                    if raw["sk"]["S"].startswith("TO#"):
                        message = to_message(MessageItem.from_raw_data(raw))
                        found[(message.request_id, message.to)] = message
            return found

    def wrap(name: str) -> None:
        real = getattr(DynamoMessageStore, name)

        def hooked(self: Any, *args: Any, **kwargs: Any) -> Any:
            messages = args[0] if args and isinstance(args[0], list) else []
            self._before(name, messages)
            result = real(self, *args, **kwargs)
            self._after(name, messages)
            return result

        setattr(Hooked, name, hooked)

    for name in ("lease", "record", "settle", "release", "take_over", "reject", "park"):
        wrap(name)
    store = Hooked(table_name)
    store.hook()
    return store


class MemoryTrackingStore(TrackingStore):
    """Just enough of the port for a run: every write succeeds; counting reads pages of ``page``."""

    def __init__(self, messages: list[Message], page: int = 1000) -> None:
        self.messages = {m.msgid: m for m in messages}
        self.page = page
        self.count_pages = 0
        self._lock = threading.Lock()

    def due(self, now: datetime, page_size: int) -> Iterator[Message]:
        yield from [replace(m) for m in self.messages.values() if not m.final]

    def apply_change(
        self, message: Message, change: StatusChange, *, next_check: datetime | None, now: datetime
    ) -> bool:
        with self._lock:
            stored = self.messages[message.msgid or ""]
            stored.status, stored.final = change.status, change.final
        return True

    def reschedule(self, message: Message, *, next_check, now, unknown_code) -> None:
        return None

    def _count(self, total: int, stop: Callable[[], bool]) -> Count:
        counted = 0
        while True:
            self.count_pages += 1
            counted = min(total, counted + self.page)
            if counted == total:
                return Count(counted)
            if stop():
                return Count(counted, exact=False)

    def count_in_flight(self, *, stop: Callable[[], bool]) -> Count:
        return self._count(sum(not m.final for m in self.messages.values()), stop)

    def count_due(self, now: datetime, *, stop: Callable[[], bool]) -> Count:
        return self._count(sum(not m.final for m in self.messages.values()), stop)

    def claim_credit_check(self, now: datetime, interval: timedelta) -> bool:
        return False

    def record_credit(self, credit: Decimal, now: datetime) -> None:
        return None

    def claim_template_refresh(self, now: datetime, interval: timedelta) -> bool:
        return False

    def record_templates(self, templates: Sequence[Template], now: datetime) -> None:
        return None


class MemoryInboundStore(InboundStore):
    """Receiving's store: records by key, and the latest opt-out/opt-in instruction per number."""

    def __init__(self) -> None:
        self.records: dict[str, InboundRecord] = {}
        self.instructions: dict[str, tuple[str, datetime, str]] = {}  # number → (kind, at, keyword)
        self.fail_create = 0

    def create(self, record: InboundRecord) -> bool:
        if self.fail_create:
            self.fail_create -= 1
            raise StoreError("simulated: the table is unreachable")
        if record.inbound_id in self.records:
            return False
        self.records[record.inbound_id] = record
        return True

    def opt_out(self, number: str, keyword: str, at: datetime) -> None:
        current = self.instructions.get(number)
        if current is None or current[1] < at or (current[1] == at and current[0] == OPT_IN):
            self.instructions[number] = (OPT_OUT, at, keyword)

    def opt_in(self, number: str, keyword: str, at: datetime, expires_at: datetime) -> None:
        current = self.instructions.get(number)
        if current is None or current[1] < at:
            self.instructions[number] = (OPT_IN, at, keyword)

    @property
    def opt_outs(self) -> dict[str, tuple[str, datetime]]:
        """The numbers a send must refuse: those whose latest instruction is an opt-out."""
        return {n: (word, at) for n, (kind, at, word) in self.instructions.items() if kind == OPT_OUT}


def _raise(error: BaseException) -> Any:
    raise error
