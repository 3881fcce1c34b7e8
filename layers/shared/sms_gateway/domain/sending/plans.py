"""The send path's nouns: a batch's records, the requests they carry, the calls they make.

Pure data and pure functions; :mod:`sms_gateway.domain.sending.service` orchestrates them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sms_gateway.domain.errors import Deferred, LeaseHeld, SendFailed
from sms_gateway.domain.model import Lease, Message, State
from sms_gateway.domain.ports import MessageStore, SmsProvider
from sms_gateway.domain.sending.requests import SmsRequest


@dataclass(frozen=True)
class Envelope:
    """One queued request, as the domain sees it (no Lambda event shapes here)."""

    message_id: str
    body: str
    receive_count: int = 1  # SQS's ApproximateReceiveCount of this delivery


@dataclass
class BatchOutcome:
    failures: dict[str, BaseException] = field(default_factory=dict)

    def check(self, message_id: str) -> None:
        """Raise the failure recorded for ``message_id`` (used to build the partial batch response)."""
        failure = self.failures.get(message_id)
        if failure is not None:
            raise SendFailed(f"record {message_id} will be retried: {failure}") from failure


@dataclass
class Plan:
    """One request of the batch, with the records (SQS messages) that carry it."""

    request: SmsRequest
    envelopes: list[Envelope]
    body_key: str | None  # the body's hash, for id-less requests (see parking)
    to_send: list[Message] = field(default_factory=list)
    failure: BaseException | None = None  # nothing of this request is sent in this attempt
    retry: BaseException | None = None  # what it can send is sent, but the record comes back
    deferral: Deferred | None = None  # the provider said "not now": the request waits for its window
    deferred: list[str] = field(default_factory=list)  # the recipients it said that to


@dataclass(frozen=True)
class Attempt:
    lease: Lease
    ends_at: float  # the invocation's deadline on the service's timer (real seconds, monotonic)


Call = list[tuple[Plan, Message]]
"""Recipients sent in one provider call: one sender and one text, each with the plan it belongs to."""


@dataclass(frozen=True)
class Context:
    """What every collaborator of one send service shares: the ports, the clock and the limits."""

    store: MessageStore
    provider: SmsProvider
    clock: Callable[[], datetime]
    retention: timedelta
    call_budget: timedelta  # a provider call's timeouts plus the writes after it
    timer: Callable[[], float]  # real seconds, monotonic: the time budget, whatever the clock

    def expires_at(self) -> datetime:
        return self.clock() + self.retention

    def has_time(self, attempt: Attempt) -> bool:
        """The invocation's remaining time covers one more provider call and its writes."""
        return attempt.ends_at - self.timer() >= self.call_budget.total_seconds()


def body_key(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def group_calls(plans: Sequence[Plan], max_batch: int, *, texts_per_recipient: bool = False) -> list[Call]:
    """Recipients grouped by (sender, text, blacklist option) across the batch, at most ``max_batch``
    per call and no number twice in one call (two requests may share a text and a recipient). A
    (request, recipient) is in one call at most: all calls of an attempt hold the same lease token,
    so a second one would pass for our own earlier write. With ``texts_per_recipient`` (a provider
    that takes a text per recipient in one call) recipients of different texts share calls too. A
    template goes to one destination per call, as the provider's ``template`` method takes it."""
    groups: dict[tuple[str, str | None, bool | str], list[Call]] = defaultdict(list)
    placed: set[tuple[str, str]] = set()
    for plan in plans:
        for message in plan.to_send:
            if (message.request_id, message.to) in placed:  # defence in depth: plans are per request
                plan.retry = plan.retry or LeaseHeld("this recipient is already being sent in this batch")
                continue
            placed.add((message.request_id, message.to))
            request = plan.request
            if request.template is not None:
                groups[("template", message.request_id, message.to)].append([(plan, message)])
                continue
            text = None if texts_per_recipient else request.text
            chunks = groups[(request.sender, text, request.to_blacklisted)]
            for chunk in chunks:
                if len(chunk) < max_batch and all(m.to != message.to for _, m in chunk):
                    chunk.append((plan, message))
                    break
            else:
                chunks.append([(plan, message)])
    return [chunk for chunks in groups.values() for chunk in chunks]


def new_recipient(plan: Plan, number: str, now: datetime, retention: timedelta) -> Message:
    """One recipient of the plan's request, as first stored (``sending`` until leased)."""
    request = plan.request
    return Message(
        request_id=request.request_id,
        to=number,
        sender=request.sender,
        owner=plan.envelopes[0].message_id,
        state=State.SENDING,
        parts=request.parts,
        meta=request.meta,
        created_at=now,
        expires_at=now + retention,
        fingerprint=request.fingerprint,
        template_id=None if request.template is None else request.template.template_id,
    )


def lease_expired(message: Message, now: datetime) -> bool:
    return message.lease_until is None or message.lease_until < now
