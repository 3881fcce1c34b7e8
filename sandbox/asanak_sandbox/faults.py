"""Faults on demand: which call gets one, and what it does to that call's answer.

A fault either replaces the answer before the provider acts (an error page, a reset) or changes it
after the provider acted (a late answer, a lost msgid, a 500/502 once the SMS is queued). The
second kind is what makes exactly-once sending hard, so it is spelled out here on its own.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from asanak_sandbox.model import ACCEPT_THEN, DEFAULT_ERROR_TEXT, Fault
from asanak_sandbox.rendering import Reply, after_accept, error, html, numbered

_BLOCKED_PAGE = (
    "<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body><h1>Access denied</h1>"
    "<p>Your IP address is not allowed to access this service.</p></body></html>"
)


@dataclass
class RateFault:
    """A fault kind applied at random to a ``rate`` share of the calls to ``method`` (None = any)."""

    kind: str
    rate: float
    method: str | None
    rng: random.Random = field(repr=False)


class FaultBook:
    """The injected faults: one-shot ones (each for its next ``times`` calls) and random ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._uses: list[int] = []
        self._rates: list[RateFault] = []

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)
            self._uses.append(fault.times)

    def add_rate(self, kind: str, rate: float, method: str | None, seed: int) -> None:
        Fault(kind, method)  # validates kind and method
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        with self._lock:
            self._rates.append(RateFault(kind, rate, method, random.Random(seed)))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._uses.clear()
            self._rates.clear()

    def take(self, method: str) -> Fault | None:
        """The fault for one call to ``method``, or None.

        The oldest matching one-shot fault comes first (and is used up), then one drawn by rate.
        """
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.applies_to(method):
                    self._uses[index] -= 1
                    if self._uses[index] == 0:
                        del self._faults[index]
                        del self._uses[index]
                    return fault
            for rule in self._rates:
                candidate = Fault(rule.kind, rule.method)
                if candidate.applies_to(method) and rule.rng.random() < rule.rate:
                    return candidate
        return None


# Each makes a fresh Reply: the caller adds latency to it.
_CANNED: dict[str, Callable[[Fault], Reply]] = {
    "reset": lambda fault: Reply(0, reset=True),
    "http_500": lambda fault: html(500, "<html><body><h1>500 Internal Server Error</h1></body></html>"),
    "http_503": lambda fault: html(503, "<html><body><h1>503 Service Unavailable</h1></body></html>"),
    "http_429": lambda fault: error(429, "Too Many Requests", "rate limit exceeded, slow down"),
    "blocked_403": lambda fault: html(403, _BLOCKED_PAGE),
    "internal_error": lambda fault: error(
        500, "Internal Server Error", "internal error, please try again later"
    ),
    "html_200": lambda fault: html(200, "<html><body><h1>Down for maintenance</h1></body></html>"),
    "error_object": lambda fault: error(200, "Error", fault.message or "the request could not be processed"),
    "error_text_200": lambda fault: html(200, fault.message or DEFAULT_ERROR_TEXT),
    "numbered_error": lambda fault: numbered(fault.code, fault.message),
}


def canned_reply(fault: Fault) -> Reply | None:
    """The canned answer of a fault that stops the call before it acts; None when it acts."""
    make = _CANNED.get(fault.kind)
    return make(fault) if make is not None else None


def drops_last_msgid(fault: Fault | None) -> bool:
    """Whether ``sendsms`` accepts every destination but answers one msgid short."""
    return fault is not None and fault.kind == "missing_msgid"


def after_acting(fault: Fault | None, reply: Reply) -> Reply:
    """``reply`` as a fault that lets the call act changes it: later, or lost behind a 500/502."""
    if fault is not None and fault.kind == "slow_after_accept":
        reply.delay += fault.delay
    if fault is not None and fault.kind in ACCEPT_THEN and reply.status == 200:
        return after_accept(ACCEPT_THEN[fault.kind])
    return reply
