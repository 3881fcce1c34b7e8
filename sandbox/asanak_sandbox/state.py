"""What the fake provider knows: the account, what it accepted, what it was asked, what it refuses.

One lock guards it all, so a ``sendsms`` checks the sender and the credit, charges and records its
messages as one step, however many requests arrive at once. Answers are written elsewhere: this
module holds no HTTP or format.
"""

from __future__ import annotations

import datetime
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from asanak_sandbox.clock import SandboxClock
from asanak_sandbox.model import (
    DEFAULT_TEMPLATES,
    DEFAULT_TIMELINE,
    HELD_STATUS,
    Call,
    SandboxTemplate,
    SentSms,
    count_parts,
    normalize_destination,
)
from asanak_sandbox.rendering import TEHRAN


class NotAccepted(Exception):
    """The provider turns a ``sendsms`` down for this reason; nothing was sent or charged. ``code``
    is v2rest's numbered error for it."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class SendingRules:
    """The market's rules as Asanak enforces them: advertising lines send only inside the advertising
    hours (Tehran time; else 1013), and an account may have a daily sending limit (1009)."""

    advertising: frozenset[str] = frozenset()  # senders (98…) that are advertising lines
    hours: tuple[datetime.time, datetime.time] = (datetime.time(9, 0), datetime.time(21, 0))
    daily_limit: int | None = None  # messages per Tehran day, None: no limit
    template_only: frozenset[str] = frozenset()  # lines whose free text is held at status 20

    def refusal(self, sources: Sequence[str], count: int, sent_today: int, now: datetime.datetime) -> None:
        local = now.astimezone(TEHRAN).time()
        start, end = self.hours
        inside = start <= local < end if start < end else (local >= start or local < end)
        if not inside and any(source in self.advertising for source in sources):
            raise NotAccepted(
                "outside the hours allowed for advertising: only service lines may send now", 1013
            )
        if self.daily_limit is not None and sent_today + count > self.daily_limit:
            raise NotAccepted("daily web-service sending limit reached", 1009)


@dataclass(kw_only=True)
class Account:
    """The Asanak account the sandbox plays: its credentials, active senders (``98…``) and credit."""

    username: str
    password: str
    senders: frozenset[str]
    credit: Decimal


class ProviderState:
    """The account (credentials, senders, credit), the messages, the calls and the per-number rules."""

    def __init__(self, account: Account, clock: SandboxClock, *, seed: int | None = None) -> None:
        self._lock = threading.RLock()
        self._account = account
        self.clock = clock
        self._next_msgid = random.Random(seed).randint(1_000_000, 8_999_999)
        self._messages: dict[str, SentSms] = {}
        self._sent: list[SentSms] = []
        self._calls: list[Call] = []
        self._scripts: dict[str, tuple[tuple[float, int], ...]] = {}
        self._refused: dict[str, bool] = {}  # destination (98… form) → named in the refusal
        self.rules = SendingRules()
        self.templates: dict[int, SandboxTemplate] = {t.template_id: t for t in DEFAULT_TEMPLATES}
        self._sent_on: dict[datetime.date, int] = {}  # messages accepted per Tehran day

    # --- the account ------------------------------------------------------------------------------

    def set_credentials(self, username: str, password: str) -> None:
        with self._lock:
            self._account.username, self._account.password = username, password

    def authenticates(self, params: Mapping[str, str]) -> bool:
        with self._lock:
            username, password = self._account.username, self._account.password
        return params.get("username") == username and params.get("password") == password

    @property
    def credit(self) -> Decimal:
        with self._lock:
            return self._account.credit

    @credit.setter
    def credit(self, value: Decimal) -> None:
        with self._lock:
            self._account.credit = Decimal(value)

    # --- messages and calls -----------------------------------------------------------------------

    def accept(
        self, source: str, destinations: Sequence[str], text: str, *, to_blacklisted: bool = False
    ) -> list[int]:
        """Charge for and record one SMS per destination; their msgids, in order.

        Raises :class:`NotAccepted` when ``source`` is not a sender of the account or the credit
        does not cover every part to every destination.
        """
        return self.accept_each([(source, destination, text, to_blacklisted) for destination in destinations])

    def accept_each(self, items: Sequence[tuple[str, str, str, bool]]) -> list[int]:
        """(source, destination, text, blacklist flag) items, each its own SMS: all or none (as
        :meth:`accept`); their msgids, in order."""
        with self._lock:
            for source, _, _, _ in items:
                if source not in self._account.senders:
                    raise NotAccepted(f"source number {source} is not an active sender of this account", 1002)
            held = [source in self.rules.template_only for source, _, _, _ in items]
            charged = [text for (_, _, text, _), is_held in zip(items, held, strict=True) if not is_held]
            now = self._admit([item[0] for item in items], len(items), charged)
            return [
                self._keep(source, destination, text, now, to_blacklisted=flag, held=is_held)
                for (source, destination, text, flag), is_held in zip(items, held, strict=True)
            ]

    def _admit(self, sources: Sequence[str], count: int, charged: Sequence[str]) -> datetime.datetime:
        """The rules (advertising hours, the daily limit), then the credit for the ``charged`` texts:
        raises :class:`NotAccepted`, or charges and counts the day's ``count`` SMS (the lock held)."""
        now = self.clock.now()
        today = now.astimezone(TEHRAN).date()
        self.rules.refusal(sources, count, self._sent_on.get(today, 0), now)
        cost = Decimal(sum(count_parts(text) for text in charged))
        if self._account.credit < cost:
            raise NotAccepted("insufficient credit", 1006)
        self._account.credit -= cost
        self._sent_on[today] = self._sent_on.get(today, 0) + count
        return now

    def _keep(self, source: str, destination: str, text: str, now: datetime.datetime, **extra: Any) -> int:
        """Record one accepted SMS under the next msgid (the lock held); its msgid. ``extra``: the
        :class:`SentSms` flags (``to_blacklisted``, ``held``, ``template_id``)."""
        msgid = self._next_msgid
        self._next_msgid += 1
        sms = SentSms(str(msgid), source, destination, text, count_parts(text), now, **extra)
        self._messages[sms.msgid] = sms
        self._sent.append(sms)
        return msgid

    def accept_template(self, template_id: int, destination: str, values: Mapping[str, Any]) -> int:
        """One SMS from an approved template (sent from the account's first line); its msgid.
        :class:`NotAccepted` 1001 for a template that is unknown or not active, 1008 for a missing
        parameter; the daily limit and the credit as for free text (a template is never advertising)."""
        with self._lock:
            template = self.templates.get(template_id)
            if template is None or not template.active:
                raise NotAccepted(f"template {template_id} is not valid or not active", 1001)
            missing = [name for name in template.params if str(values.get(name, "")).strip() == ""]
            if missing:
                raise NotAccepted(f"template {template_id} needs parameter(s) {', '.join(missing)}", 1008)
            text = template.render(values)
            now = self._admit([], 1, [text])  # a template is never advertising
            source = sorted(self._account.senders)[0]
            return self._keep(source, destination, text, now, template_id=template_id)

    def record(self, method: str, http_method: str, status: int, count: int, api: str = "v1rest") -> None:
        with self._lock:
            self._calls.append(Call(method, http_method, status, count, self.clock.now(), api))

    @property
    def sent(self) -> list[SentSms]:
        with self._lock:
            return list(self._sent)

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    # --- delivery timelines -----------------------------------------------------------------------

    def script(self, destination: str, timeline: Sequence[tuple[float, int]]) -> None:
        number = normalize_destination(destination) or destination
        steps = tuple(sorted((float(seconds), int(code)) for seconds, code in timeline))
        if not steps:
            raise ValueError("a timeline needs at least one step")
        with self._lock:
            self._scripts[number] = steps

    def status_at(self, msgid: str, now: datetime.datetime) -> tuple[SentSms, int, float] | None:
        """The message, its status code at ``now`` and since when (seconds after acceptance).

        None for a msgid the sandbox never gave out. Statuses follow the destination's script, or
        :data:`DEFAULT_TIMELINE`; before the first step a message is InQueue (1).
        """
        with self._lock:
            sms = self._messages.get(msgid)
            if sms is None:
                return None
            if sms.held:
                return sms, HELD_STATUS, 0.0
            timeline = self._scripts.get(sms.destination, DEFAULT_TIMELINE)
        elapsed = (now - sms.accepted_at).total_seconds()
        code, since = 1, 0.0
        for seconds, step_code in timeline:
            if seconds <= elapsed:
                code, since = step_code, seconds
        return sms, code, since

    # --- refused destinations ---------------------------------------------------------------------

    def refuse(self, numbers: Sequence[str], *, named: bool) -> None:
        if isinstance(numbers, str):
            raise TypeError("numbers must be a list of numbers, not one string")
        with self._lock:
            for number in numbers:
                self._refused[normalize_destination(str(number)) or str(number).strip()] = named

    def clear_refusals(self) -> None:
        with self._lock:
            self._refused.clear()

    @property
    def refused(self) -> dict[str, bool]:
        with self._lock:
            return dict(self._refused)

    def refused_among(self, raw: Sequence[str], destinations: Sequence[str]) -> list[tuple[str, bool]]:
        """The refused destinations of one call, as the call wrote them, and whether each is named."""
        with self._lock:
            return [
                (given, self._refused[number])
                for given, number in zip(raw, destinations, strict=True)
                if number in self._refused
            ]
