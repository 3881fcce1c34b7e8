"""A local stand-in for Asanak's v1rest web service, faithful to the manual, with faults on demand.

``/webservice/v1rest/{sendsms,msgstatus,getcredit}`` answer GET and POST as the manual describes, in
the format the ``Accept`` header asks for (``text/html`` by default: JSON-looking text;
``application/json``; ``text/xml`` and ``application/xhtml``: the manual's ``<response>`` XML).
Failures use the shapes seen in the wild: a JSON object ``{"status": …, "message": …}`` with 400 or
401. Delivery statuses move with the sandbox clock along a timeline per destination.

``/_sandbox/…`` is a JSON control plane for other processes (the local stack, load tests); its
routes are listed in :mod:`asanak_sandbox.control`.

:class:`AsanakSandbox` is the one way in, from Python or over HTTP; the parts it puts together are
the provider's state (:mod:`~asanak_sandbox.state`), its answers (:mod:`~asanak_sandbox.api`,
written by :mod:`~asanak_sandbox.rendering`), faults (:mod:`~asanak_sandbox.faults`), inbound
pushes (:mod:`~asanak_sandbox.push`) and the HTTP server (:mod:`~asanak_sandbox.httpd`).

Only the loopback interface is ever bound.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from asanak_sandbox.api import MAX_BATCH, ApiCall, ProviderApi
from asanak_sandbox.clock import SandboxClock
from asanak_sandbox.control import control
from asanak_sandbox.faults import FaultBook
from asanak_sandbox.httpd import API_PREFIX, CONTROL_PREFIX, LoopbackServer
from asanak_sandbox.model import Call, Fault, SandboxTemplate, SentSms, normalize_sender
from asanak_sandbox.push import InboundPush, push
from asanak_sandbox.rendering import TEHRAN, TEHRAN_FORMAT, Reply, tehran_time
from asanak_sandbox.state import Account, ProviderState, SendingRules
from asanak_sandbox.v2 import V2Api

__all__ = [
    "API_PREFIX",
    "CONTROL_PREFIX",
    "MAX_BATCH",
    "TEHRAN",
    "TEHRAN_FORMAT",
    "AsanakSandbox",
    "tehran_time",
]


class AsanakSandbox(LoopbackServer):
    """An Asanak v1rest server on 127.0.0.1 for tests and the local stack.

    Use as a context manager, or call :meth:`start` and :meth:`stop` (the life cycle and addresses
    come from :class:`~asanak_sandbox.httpd.LoopbackServer`). Everything is thread-safe; ``sent``
    and ``calls`` return snapshots.
    """

    # A public signature (tests, local stack, bench, __main__); RUF100: pyproject ignores PLR0913.
    def __init__(  # noqa: PLR0913, RUF100
        self,
        username: str = "user",
        password: str = "pass",
        senders: Sequence[str] = ("982164063188", "98300012345"),
        credit: Decimal = Decimal("1000"),
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        clock_speed: float = 1.0,
        *,
        seed: int | None = None,
    ) -> None:
        super().__init__(host, port)  # refuses any host but the IPv4 loopback
        self._clock = SandboxClock(clock_speed)
        account = Account(
            username=username,
            password=password,
            senders=frozenset(normalize_sender(sender) for sender in senders),
            credit=Decimal(credit),
        )
        self._state = ProviderState(account, self._clock, seed=seed)
        self._faults = FaultBook()
        self._api = ProviderApi(self._state, self._faults, float(latency))
        self._api_v2 = V2Api(self._state, self._faults, lambda: self._api.latency)

    # --- inspection and control -------------------------------------------------------------------

    @property
    def clock(self) -> SandboxClock:
        """The sandbox time: statuses move with it; ``advance`` it to age messages."""
        return self._clock

    @clock.setter
    def clock(self, clock: SandboxClock) -> None:
        self._clock = self._state.clock = clock

    @property
    def sent(self) -> list[SentSms]:
        return self._state.sent

    @property
    def calls(self) -> list[Call]:
        return self._state.calls

    @property
    def latency(self) -> float:
        return self._api.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._api.latency = seconds

    @property
    def credit(self) -> Decimal:
        return self._state.credit

    @credit.setter
    def credit(self, value: Decimal) -> None:
        self._state.credit = value

    def set_rules(
        self,
        *,
        advertising: Sequence[str] = (),
        promotional_hours: str = "09:00-21:00",
        daily_limit: int | None = None,
        template_only: Sequence[str] = (),
    ) -> None:
        """The market's rules: ``advertising`` senders send only within ``promotional_hours`` (Tehran
        time, else 1013); at most ``daily_limit`` messages per Tehran day (else 1009); free text from
        ``template_only`` lines is held at status 20."""
        start, end = (datetime.time.fromisoformat(part) for part in promotional_hours.split("-"))
        self._state.rules = SendingRules(
            advertising=frozenset(normalize_sender(sender) for sender in advertising),
            hours=(start, end),
            daily_limit=daily_limit,
            template_only=frozenset(normalize_sender(sender) for sender in template_only),
        )

    def set_templates(self, templates: Sequence[SandboxTemplate]) -> None:
        """Replace the account's approved templates."""
        self._state.templates = {t.template_id: t for t in templates}

    def inject(self, fault: Fault) -> None:
        """Apply ``fault`` to the next ``fault.times`` matching API calls (in injection order)."""
        self._faults.inject(fault)

    def fault_rate(self, kind: str, rate: float, method: str | None = None, seed: int = 0) -> None:
        """Apply ``kind`` at random to a ``rate`` share of matching calls, until :meth:`clear_faults`."""
        self._faults.add_rate(kind, rate, method, seed)

    def clear_faults(self) -> None:
        self._faults.clear()

    def refuse_destinations(self, numbers: Sequence[str], *, named: bool = True) -> None:
        """Refuse every ``sendsms`` call that includes any of ``numbers`` (any form the sandbox reads).

        The whole call is refused and nothing is sent. When a refused number present in the call was
        registered ``named``, the answer is HTTP 406 with v2's body listing the named ones present, as
        the call wrote them: ``{"meta": {"status": 1010, "message": "destination list invalid"},
        "data": {"Invalids": [...]}}``; otherwise HTTP 400 ``{"status": "Bad Request", "message":
        "invalid destination"}``, naming none. Registering a number again replaces its ``named``.
        """
        self._state.refuse(numbers, named=bool(named))

    def clear_refusals(self) -> None:
        """Accept every destination again."""
        self._state.clear_refusals()

    @property
    def refused_destinations(self) -> dict[str, bool]:
        """The refused destinations (``98…`` form) and whether each is named in the refusal."""
        return self._state.refused

    def set_credentials(self, username: str, password: str) -> None:
        self._state.set_credentials(username, password)

    def script(self, destination: str, timeline: Sequence[tuple[float, int]]) -> None:
        """Statuses for one destination: (seconds since acceptance, code) pairs, e.g. ``[(0, 1), (10, 5)]``.

        Applies to that destination's messages, already sent or not, from the next ``msgstatus`` on.
        """
        self._state.script(destination, timeline)

    # A public signature (tests, the control plane's POST inbound); RUF100 as for __init__.
    def push_inbound(  # noqa: PLR0913, RUF100
        self,
        url: str,
        *,
        source: str,
        destination: str,
        text: str,
        receive_time: str | None = None,
        param_name: str = "Msg Body",
        space: str = "%20",
        double_encode: bool = False,
    ) -> int:
        """Push an inbound SMS the way Asanak does: one GET with the fields in the query string.

        ``GET {url}?Destination=…&Source=…&ReceiveTime=…&Msg%20Body=…``; ``space`` is how spaces are
        written (``%20`` or ``+``), ``double_encode`` URL-encodes the text twice. Returns the HTTP
        status of the receiver's answer.
        """
        when = receive_time if receive_time is not None else tehran_time(self.clock.now())
        inbound = InboundPush(
            url=url,
            source=source,
            destination=destination,
            text=text,
            receive_time=when,
            param_name=param_name,
            space=space,
            double_encode=double_encode,
        )
        return push(inbound)

    # --- serving ----------------------------------------------------------------------------------

    def serve_api(
        self, method: str, http_method: str, params: Mapping[str, str], accept: str | None
    ) -> Reply:
        """Answer one API call (and record it)."""
        return self._api.serve(ApiCall(method=method, http_method=http_method, params=params, accept=accept))

    def serve_api_v2(self, method: str, fields: Mapping[str, Any]) -> Reply:
        """Answer one v2rest call (and record it, with ``api`` ``v2rest``)."""
        return self._api_v2.serve(method, fields)

    def control(self, http_method: str, name: str, payload: Any) -> tuple[int, Any]:
        """One ``/_sandbox/{name}`` request; returns (HTTP status, JSON value)."""
        return control(self, http_method, name, payload)
