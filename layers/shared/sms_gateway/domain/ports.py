"""Ports: what the domain needs from the world, one abstract class each (fakes and adapters subclass).

===================  ====================  ======================================================
port                 used by               adapter
===================  ====================  ======================================================
``MessageStore``     sending               :mod:`sms_gateway.adapters.dynamodb.messages`
``TrackingStore``    tracking              :mod:`sms_gateway.adapters.dynamodb.tracking`
``DeferralStore``    deferral release      :mod:`sms_gateway.adapters.dynamodb.deferrals`
``RequestQueue``     deferral release      :mod:`sms_gateway.adapters.sqs`
``InboundStore``     inbound               :mod:`sms_gateway.adapters.dynamodb.inbound`
``SmsProvider``      sending, tracking     :mod:`sms_gateway.adapters.asanak_provider`
``EventPublisher``   publishing            :mod:`sms_gateway.adapters.eventbridge`
``Metrics``          every service         :mod:`sms_gateway.adapters.metrics`
===================  ====================  ======================================================

An adapter raises only the domain's errors (:mod:`sms_gateway.domain.errors`,
:class:`~sms_gateway.domain.provider_failures.ProviderFailure`), never its client library's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from asanak.batching import MAX_BATCH

if TYPE_CHECKING:
    from asanak.statuses import MessageStatus
    from asanak.templates import Template

    from sms_gateway.domain.events import Event
    from sms_gateway.domain.model import (
        Blocked,
        Count,
        Deferral,
        InboundRecord,
        Lease,
        Message,
        Outgoing,
        Rejections,
        StatusChange,
        StoredRequest,
    )


class MessageStore(ABC):
    """Port: what sending needs from storage. Every method that changes a recipient is one conditional
    write per recipient; see the state machine in :mod:`sms_gateway.domain.sending.service`."""

    @abstractmethod
    def stored_request(self, request_id: str) -> StoredRequest:
        """Every recipient stored for the request, by number, and a deferral waiting under its id
        (one strongly consistent read)."""

    def messages_of(self, request_id: str) -> dict[str, Message]:
        """Every recipient stored for the request, by number."""
        return self.stored_request(request_id).messages

    @abstractmethod
    def lease(self, messages: Sequence[Message], lease: Lease) -> Blocked:
        """absent → ``sending`` under ``lease``; a recipient whose item exists is blocked."""

    @abstractmethod
    def record(self, messages: Sequence[Message]) -> Blocked:
        """none → each message's settled state (a recipient rejected before any call, e.g. opted out)."""

    @abstractmethod
    def settle(self, messages: Sequence[Message], lease: Lease) -> Blocked:
        """``sending`` under ``lease`` → each message's state (accepted with its msgid, rejected, unknown)."""

    @abstractmethod
    def release(self, messages: Sequence[Message], lease: Lease) -> Blocked:
        """``sending`` under ``lease`` → absent: the provider certainly did not send them."""

    @abstractmethod
    def take_over(self, messages: Sequence[Message], now: datetime) -> Blocked:
        """``sending`` under an expired lease (the message's own ``lease_token``) → its state (unknown)."""

    @abstractmethod
    def reject(self, rejections: Rejections, expires_at: datetime) -> bool:
        """Store ``rejections`` unless an item with its key exists; True when this call created it."""

    @abstractmethod
    def opted_out(self, numbers: Iterable[str]) -> set[str]: ...

    @abstractmethod
    def park(self, body_key: str, request_id: str, expires_at: datetime) -> str:
        """Park ``request_id`` under an id-less request's body unless one is parked there already;
        return the request id parked there (ours, or the earlier one)."""

    @abstractmethod
    def defer(self, deferral: Deferral) -> bool:
        """Keep ``deferral`` until it is due, replacing the request's earlier deferral of the same
        content (an identical one — same due time and recipients — is kept as it is, token and all).
        False, with nothing written, when another content is deferred under the request id."""

    @abstractmethod
    def templates(self) -> list[Template] | None:
        """The account's template list as the poll function last stored it; None: never listed."""


class DeferralStore(ABC):
    """Port: deferred requests, as the release (the poll function's tick) needs them."""

    @abstractmethod
    def due(self, now: datetime, limit: int) -> list[Deferral]:
        """Up to ``limit`` deferrals due at ``now``, oldest first."""

    @abstractmethod
    def forget(self, deferral: Deferral) -> bool:
        """Forget ``deferral`` once its request is back on the queue; False (nothing done) when it was
        deferred again meanwhile (another token is stored)."""


class RequestQueue(ABC):
    """Port: the queue of SMS requests (the send function's)."""

    max_batch: int = 10

    @abstractmethod
    def enqueue(self, bodies: Sequence[str]) -> list[int]:
        """Put each body on the queue (at most :attr:`max_batch`); the positions that did not go."""


class TrackingStore(ABC):
    """Port: what tracking needs from storage.

    Every write is conditional; methods returning ``bool`` return ``False`` when the condition failed
    (another run got there first), never raise for it.
    """

    @abstractmethod
    def due(self, now: datetime, page_size: int) -> Iterator[Message]:
        """Messages in flight whose next check is at or before ``now``, oldest first, read lazily."""

    @abstractmethod
    def apply_change(
        self, message: Message, change: StatusChange, *, next_check: datetime | None, now: datetime
    ) -> bool:
        """Store ``change`` if ``message`` is still accepted at the rank it was read with; check it
        again at ``next_check``, or (None: it is final) take it out of the in-flight index."""

    @abstractmethod
    def reschedule(
        self, message: Message, *, next_check: datetime, now: datetime, unknown_code: int | None
    ) -> None:
        """No change: check again at ``next_check`` (recording ``unknown_code`` when one was seen)."""

    @abstractmethod
    def count_in_flight(self, *, stop: Callable[[], bool]) -> Count:
        """Messages in flight, counted on the index: one page per shard at least, further pages only
        while ``stop()`` is false and at most ``COUNT_MAX_PAGES`` per shard."""

    @abstractmethod
    def count_due(self, now: datetime, *, stop: Callable[[], bool]) -> Count:
        """Messages in flight due at ``now``, counted like :meth:`count_in_flight`."""

    @abstractmethod
    def claim_credit_check(self, now: datetime, interval: timedelta) -> bool:
        """True for the one run that may read the credit now (none did within ``interval``)."""

    @abstractmethod
    def record_credit(self, credit: Decimal, now: datetime) -> None: ...

    @abstractmethod
    def claim_template_refresh(self, now: datetime, interval: timedelta) -> bool:
        """True for the one run that may list the templates now (none did within ``interval``)."""

    @abstractmethod
    def record_templates(self, templates: Sequence[Template], now: datetime) -> None:
        """Store the account's template list (read by the send path before template sends)."""


class InboundStore(ABC):
    """Port: what receiving needs from storage."""

    @abstractmethod
    def create(self, record: InboundRecord) -> bool:
        """Store ``record`` unless its key exists; True when it was created by this call."""

    @abstractmethod
    def opt_out(self, number: str, keyword: str, at: datetime) -> None:
        """Put ``number`` on the opt-out list, unless an instruction newer than ``at`` is stored (an
        opt-in of the very same time loses: opt-out wins a tie)."""

    @abstractmethod
    def opt_in(self, number: str, keyword: str, at: datetime, expires_at: datetime) -> None:
        """Store an opt-in of ``number`` (a tombstone, kept until ``expires_at``) unless an instruction
        as new as ``at`` or newer is stored."""


class SmsProvider(ABC):
    """Port: the SMS provider. A failed call raises
    :class:`~sms_gateway.domain.provider_failures.ProviderFailure` (what it means is decided by the
    adapter, once); any other exception is a fault of ours (``internal``)."""

    max_batch: int = MAX_BATCH
    """Most destinations per :meth:`send` (items per :meth:`send_each`) and msgids per :meth:`status`."""

    texts_per_recipient: bool = False
    """Whether :meth:`send_each` takes a different text per recipient in one call."""

    templates: bool = False
    """Whether the provider sends approved templates (:meth:`send_template`, :meth:`template_list`)."""

    @abstractmethod
    def send(
        self, source: str, destinations: Sequence[str], text: str, *, to_blacklisted: bool = False
    ) -> list[str]:
        """Send ``text`` to every destination; one msgid per destination, in order. ``to_blacklisted``
        asks the provider to deliver to numbers on the national advertising blacklist too."""

    def send_each(self, items: Sequence[Outgoing]) -> list[str]:
        """Send each item's text to its destination, all in one call; one msgid per item, in order.
        Only where :attr:`texts_per_recipient`."""
        raise NotImplementedError("this provider takes one text per call")

    def send_template(self, destination: str, template_id: str, params: Mapping[str, str]) -> str:
        """Send approved template ``template_id`` with ``params`` to one destination; its msgid.
        Only where :attr:`templates`."""
        raise NotImplementedError("this provider sends no templates")

    def template_list(self) -> list[Template]:
        """The account's templates. Only where :attr:`templates`."""
        raise NotImplementedError("this provider sends no templates")

    @abstractmethod
    def status(self, msgids: Sequence[str]) -> list[MessageStatus]:
        """The provider's delivery statuses of ``msgids`` (match on ``msgid``: some may be missing)."""

    @abstractmethod
    def credit(self) -> Decimal: ...

    def rial_credit(self) -> Decimal | None:
        """The credit in rials; ``None`` where the provider's API does not tell it (v1rest)."""
        return None


class EventPublisher(ABC):
    """Port: the event bus."""

    @abstractmethod
    def publish(self, events: Sequence[Event]) -> None:
        """Publish every event or raise :class:`~sms_gateway.domain.errors.PublishError` naming those
        that did not go out."""


class Metrics(ABC):
    """Port: a metrics sink (units as CloudWatch names them: ``Count``, ``Milliseconds``)."""

    @abstractmethod
    def add_metric(self, name: str, unit: str, value: float) -> None: ...


class NoMetrics(Metrics):
    """A sink that drops everything (for code run outside a handler)."""

    def add_metric(self, name: str, unit: str, value: float) -> None:
        return None
