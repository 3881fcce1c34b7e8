"""``/_sandbox/…``: a JSON control plane over :class:`AsanakSandbox`, for other processes.

The local stack, ``smsctl`` and load tests drive the sandbox through it, so its routes, bodies and
status codes are a contract. Each route is one small handler over the sandbox's public methods, so
the HTTP and Python ways of steering it cannot drift apart:

====================  =========================================================================
``GET  health``       ``{"ok": true, "base_url": …}``
``GET  sent``         every accepted SMS (``SentSms`` fields, times ISO 8601 UTC)
``GET  calls``        every API request (``Call`` fields; status 0 = connection reset)
``POST faults``       ``{"kind", "method"?, "times"?, "delay"?, "message"?}`` or
                      ``{"kind", "rate", "method"?, "seed"?}``; ``DELETE faults`` clears them
``GET|POST clock``    the sandbox time; POST ``{"advance": seconds}``
``POST inbound``      push an inbound SMS: ``{"url", "source", "destination", "text",
                      "receive_time"?, "param_name"?, "space"?, "double_encode"?}`` → ``{"status"}``
``POST script``       ``{"destination", "timeline": [[seconds, code], …]}``
``POST credentials``  ``{"username", "password"}``
``POST latency``      ``{"latency": seconds}``
``GET|POST credit``   the account's credit; POST ``{"credit": "100"}``
``GET  refusals``     the refused destinations: ``[{"destination", "named"}]``
``POST refusals``     ``{"destinations": [...], "named"?: true}``: refuse them (see
                      :meth:`AsanakSandbox.refuse_destinations`); ``DELETE refusals`` clears them
====================  =========================================================================

Answers are 200 with the handler's value, 404 for an unknown method and name, 400 with
``{"error": "<exception type>: <message>"}`` for a body the sandbox cannot use.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from asanak_sandbox.model import Fault
from asanak_sandbox.rendering import credit_text

if TYPE_CHECKING:
    from asanak_sandbox.server import AsanakSandbox

Body = dict[str, Any]
Handler = Callable[["AsanakSandbox", Body], Any]

_FAULT_FIELDS = ("kind", "method", "times", "delay", "message", "code")


def _health(sandbox: AsanakSandbox, body: Body) -> Any:
    return {"ok": True, "base_url": sandbox.base_url}


def _sent(sandbox: AsanakSandbox, body: Body) -> Any:
    return [sms.to_json() for sms in sandbox.sent]


def _calls(sandbox: AsanakSandbox, body: Body) -> Any:
    return [call.to_json() for call in sandbox.calls]


def _add_fault(sandbox: AsanakSandbox, body: Body) -> Any:
    if "rate" in body:
        sandbox.fault_rate(body["kind"], float(body["rate"]), body.get("method"), int(body.get("seed", 0)))
    else:
        sandbox.inject(Fault(**{key: body[key] for key in _FAULT_FIELDS if key in body}))
    return {"ok": True}


def _clear_faults(sandbox: AsanakSandbox, body: Body) -> Any:
    sandbox.clear_faults()
    return {"ok": True}


def _clock(sandbox: AsanakSandbox, body: Body) -> Any:
    return {"now": sandbox.clock.now().isoformat()}


def _advance_clock(sandbox: AsanakSandbox, body: Body) -> Any:
    return {"now": sandbox.clock.advance(float(body.get("advance", 0))).isoformat()}


def _inbound(sandbox: AsanakSandbox, body: Body) -> Any:
    status = sandbox.push_inbound(
        str(body["url"]),
        source=str(body["source"]),
        destination=str(body["destination"]),
        text=str(body["text"]),
        receive_time=body.get("receive_time"),
        param_name=str(body.get("param_name", "Msg Body")),
        space=str(body.get("space", "%20")),
        double_encode=bool(body.get("double_encode", False)),
    )
    return {"status": status}


def _script(sandbox: AsanakSandbox, body: Body) -> Any:
    sandbox.script(str(body["destination"]), [(float(step[0]), int(step[1])) for step in body["timeline"]])
    return {"ok": True}


def _credentials(sandbox: AsanakSandbox, body: Body) -> Any:
    sandbox.set_credentials(str(body["username"]), str(body["password"]))
    return {"ok": True}


def _latency(sandbox: AsanakSandbox, body: Body) -> Any:
    sandbox.latency = float(body["latency"])
    return {"ok": True}


def _refusals(sandbox: AsanakSandbox, body: Body) -> Any:
    return [{"destination": number, "named": named} for number, named in sandbox.refused_destinations.items()]


def _refuse(sandbox: AsanakSandbox, body: Body) -> Any:
    destinations = body["destinations"]
    if not isinstance(destinations, list):
        raise TypeError("destinations must be a list")
    sandbox.refuse_destinations([str(number) for number in destinations], named=bool(body.get("named", True)))
    return {"ok": True}


def _clear_refusals(sandbox: AsanakSandbox, body: Body) -> Any:
    sandbox.clear_refusals()
    return {"ok": True}


def _rules(sandbox: AsanakSandbox, body: Body) -> Any:
    limit = body.get("daily_limit")
    sandbox.set_rules(
        advertising=[str(sender) for sender in body.get("advertising", [])],
        promotional_hours=str(body.get("promotional_hours", "09:00-21:00")),
        daily_limit=None if limit is None else int(limit),
        template_only=[str(sender) for sender in body.get("template_only", [])],
    )
    return {"ok": True}


def _credit(sandbox: AsanakSandbox, body: Body) -> Any:
    return {"credit": credit_text(sandbox.credit)}


def _set_credit(sandbox: AsanakSandbox, body: Body) -> Any:
    sandbox.credit = Decimal(str(body["credit"]))
    return {"ok": True}


ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "health"): _health,
    ("GET", "sent"): _sent,
    ("GET", "calls"): _calls,
    ("POST", "faults"): _add_fault,
    ("DELETE", "faults"): _clear_faults,
    ("GET", "clock"): _clock,
    ("POST", "clock"): _advance_clock,
    ("POST", "inbound"): _inbound,
    ("POST", "script"): _script,
    ("POST", "credentials"): _credentials,
    ("POST", "latency"): _latency,
    ("GET", "refusals"): _refusals,
    ("POST", "refusals"): _refuse,
    ("DELETE", "refusals"): _clear_refusals,
    ("POST", "rules"): _rules,
    ("GET", "credit"): _credit,
    ("POST", "credit"): _set_credit,
}
"""(HTTP method, name under ``/_sandbox/``) → handler of the JSON body (``{}`` when not an object)."""


def control(sandbox: AsanakSandbox, http_method: str, name: str, payload: Any) -> tuple[int, Any]:
    """One ``/_sandbox/{name}`` request; returns (HTTP status, JSON value)."""
    handler = ROUTES.get((http_method, name))
    if handler is None:
        return 404, {"error": f"no such control endpoint {http_method} {name}"}
    try:
        return 200, handler(sandbox, payload if isinstance(payload, dict) else {})
    except (LookupError, TypeError, ValueError, InvalidOperation) as exc:
        return 400, {"error": f"{type(exc).__name__}: {exc}"}
