"""The local stack as its users see it: a process, its endpoints, the bus, the queue and the sandbox.

Nothing here imports the gateway's handlers or touches moto directly. The stack runs as a subprocess
(``python -m local_stack``, as ``make run`` starts it); requests go in through SQS with
:mod:`smsctl.producer`, outcomes come back from the bus through an :class:`EventTap` (a rule on the
bus to a queue of our own), and the Asanak sandbox is driven and counted through its HTTP control
plane under ``/_sandbox/``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from local_stack.tap import EventTap
from smsctl.producer import Target

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
SOURCE = "asanak.sms"
SCHEMA_OF = {
    "SMS Accepted": "sms-accepted.schema.json",
    "SMS Rejected": "sms-rejected.schema.json",
    "SMS Status Changed": "sms-status-changed.schema.json",
    "SMS Received": "sms-received.schema.json",
}
# Printed once the stack serves and handles Ctrl-C (the endpoints file is written just before that).
READY_LINE = "Running. Ctrl-C to stop."
# Run a command so that it gets SIGTERM (the stack's clean stop) when the process that started it
# dies: prctl(PR_SET_PDEATHSIG) survives exec, and the parent is checked after setting it (it may have
# died just before). Without this, a test run killed from outside (a CI timeout, say) would leave its
# stack running. Linux only; elsewhere the command runs as it is.
_LAUNCHER = (
    "import ctypes, os, signal, sys; "
    "ctypes.CDLL(None).prctl(1, signal.SIGTERM); "  # 1: PR_SET_PDEATHSIG
    "os.getppid() == int(sys.argv[1]) or sys.exit('the test run is gone'); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


def _stopped_with_this_process(args: list[str]) -> list[str]:
    if sys.platform != "linux":
        return args
    return [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *args]


# The HTTP calls of the tests never go through a proxy: everything is on 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``predicate`` until it holds; fail the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# -- the stack process ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoints:
    """``endpoints.json`` as the stack writes it."""

    aws: str
    region: str
    queue_url: str
    dlq_url: str
    bus_name: str
    table_name: str
    inbound_url: str
    asanak: str

    @classmethod
    def read(cls, path: Path) -> Endpoints:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    @property
    def target(self) -> Target:
        return Target(self.queue_url, self.table_name, self.bus_name, self.aws, self.region)

    @property
    def sandbox_url(self) -> str:
        """The sandbox's ``scheme://host:port``: its control plane is under ``/_sandbox/`` there."""
        parts = urllib.parse.urlsplit(self.asanak)
        return f"{parts.scheme}://{parts.netloc}"


class StackProcess:
    """``python -m local_stack`` in a subprocess, with its own state directory and free ports."""

    def __init__(self, state_dir: Path, *, speed: float, retry_after: float, poll_every: float) -> None:
        self.state_dir = state_dir
        self.endpoints_file = state_dir / "endpoints.json"
        self.log_file = state_dir / "stack.log"
        self.args = [
            sys.executable,
            "-m",
            "local_stack",
            "--aws-port",
            "0",
            "--api-port",
            "0",
            "--sandbox-port",
            "0",
            "--speed",
            f"{speed:g}",
            "--retry-after",
            f"{retry_after:g}",
            "--poll-every",
            f"{poll_every:g}",
            "--state-dir",
            str(state_dir),
            "--quiet",  # warnings only: 2,000 recipients' INFO lines would cost more than the sends
        ]
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def environment() -> dict[str, str]:
        """This environment without what would point the stack elsewhere (the real Asanak, an AWS
        endpoint) or change its functions' settings; with the import path ``make run`` gives it."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AWS_ENDPOINT_URL", "ASANAK_", "POWERTOOLS_"))
            and name not in {"DEFAULT_SENDER", "PYTHONPATH"}
        }
        paths = [ROOT / "layers" / "shared", ROOT / "sandbox", ROOT]
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in paths)
        env["AWS_DEFAULT_REGION"] = "eu-west-1"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def output(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""

    def start(self, timeout: float = 60.0) -> Endpoints:
        """Start the stack and wait until it wrote its endpoints and serves (fails with its output)."""
        with self.log_file.open("wb") as log:
            self._process = subprocess.Popen(
                _stopped_with_this_process(self.args),
                cwd=ROOT,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: ``kill`` reaches moto's server too
            )
        deadline = time.monotonic() + timeout
        while not (self.endpoints_file.exists() and READY_LINE in self.output()):
            code = self._process.poll()
            if code is not None:
                raise RuntimeError(
                    f"the local stack exited with {code} before it was ready:\n{self.output()}"
                )
            if time.monotonic() >= deadline:
                self.kill()
                raise RuntimeError(f"the local stack was not ready within {timeout:g} s:\n{self.output()}")
            time.sleep(0.1)
        return Endpoints.read(self.endpoints_file)

    def interrupt(self, timeout: float) -> int | None:
        """Ctrl-C; the exit code, or None when it did not exit within ``timeout`` (then it is killed)."""
        if self._process is None:
            return None
        self._process.send_signal(signal.SIGINT)
        try:
            return self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """SIGKILL to the stack and what it started (moto's server runs in a process of its own)."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=10)


# -- the Asanak sandbox's control plane ---------------------------------------------------------------
class SandboxControl:
    """The sandbox's JSON control plane (``/_sandbox/…``) over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base = f"{base_url}/_sandbox"

    def _call(self, method: str, name: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        request = urllib.request.Request(f"{self.base}/{name}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with _OPENER.open(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"sandbox {method} {name}: HTTP {exc.code} {exc.read()!r}") from exc

    def sent(self) -> list[dict[str, Any]]:
        """Every SMS the provider accepted (one per destination, ``98…`` numbers)."""
        return list(self._call("GET", "sent"))

    def calls(self) -> list[dict[str, Any]]:
        """Every API request the provider saw, in order (``status`` 0: connection reset)."""
        return list(self._call("GET", "calls"))

    def inject(self, kind: str, *, method: str, times: int) -> None:
        self._call("POST", "faults", {"kind": kind, "method": method, "times": times})

    def fault_rate(self, kind: str, rate: float, *, method: str, seed: int) -> None:
        self._call("POST", "faults", {"kind": kind, "rate": rate, "method": method, "seed": seed})

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def set_credit(self, credit: int) -> None:
        self._call("POST", "credit", {"credit": str(credit)})

    def push_inbound(self, url: str, *, source: str, destination: str, text: str) -> int:
        """Have the provider push an inbound SMS to ``url``; the HTTP status the receiver answered."""
        body = {"url": url, "source": source, "destination": destination, "text": text}
        return int(self._call("POST", "inbound", body)["status"])


# -- the bus ----------------------------------------------------------------------------------------
def _validators() -> dict[str, Draft202012Validator]:
    validators = {}
    for detail_type, file_name in SCHEMA_OF.items():
        schema = json.loads((SCHEMAS / file_name).read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        validators[detail_type] = Draft202012Validator(schema, format_checker=FormatChecker())
    return validators


class BusWatch:
    """What the stack publishes, as a consumer sees it: one or more :class:`EventTap` on its bus.

    ``patterns`` narrow what is watched (EventBridge event patterns, e.g. some detail-types; an event
    matching any of them is seen); without them, every event is. Every event seen is held to the
    published contract: source ``asanak.sms``, a documented detail-type and a detail valid against
    its schema in ``schemas/`` (formats such as ``date-time`` included).

    ``split_by_request_id`` spreads the events over ten taps per pattern by the last character of the
    detail's ``request_id`` (so only events whose request id ends in a digit are seen). moto's SQS
    spends time in proportion to the messages a queue holds on every message sent to or received
    from it: one queue taking thousands of events falls behind quadratically, ten smaller ones keep
    up.

    Reading (``of``, ``about``) never fetches: ``drain`` and ``wait_for`` do.
    """

    def __init__(
        self,
        sqs: Any,
        events: Any,
        bus_name: str,
        *patterns: dict[str, Any],
        split_by_request_id: bool = False,
    ) -> None:
        rules = list(patterns) or [{}]
        if split_by_request_id:
            rules = [
                {**rule, "detail": {**rule.get("detail", {}), "request_id": [{"suffix": digit}]}}
                for rule in rules
                for digit in "0123456789"
            ]
        self._taps = [EventTap(sqs, events, bus_name, rule) for rule in rules]
        self._validators = _validators()
        self.seen: list[dict[str, Any]] = []

    def close(self) -> None:
        for tap in self._taps:
            tap.close()

    def drain(self) -> list[dict[str, Any]]:
        """Fetch and check what arrived since the last call (also kept in ``seen``)."""
        new = [event for tap in self._taps for event in tap.drain()]
        for event in new:
            assert event["source"] == SOURCE, event
            detail_type = event["detail-type"]
            assert detail_type in self._validators, f"undocumented detail-type {detail_type!r}"
            errors = [error.message for error in self._validators[detail_type].iter_errors(event["detail"])]
            assert not errors, f"{detail_type} does not match its schema: {errors}\n{event['detail']}"
        self.seen.extend(new)
        return new

    def of(self, detail_type: str) -> list[dict[str, Any]]:
        """Details of every ``detail_type`` event seen so far (it does not fetch: see ``drain``)."""
        return [event["detail"] for event in self.seen if event["detail-type"] == detail_type]

    def about(self, detail_type: str, request_ids: set[str]) -> list[dict[str, Any]]:
        """Details of ``detail_type`` events about the given requests seen so far."""
        return [detail for detail in self.of(detail_type) if detail.get("request_id") in request_ids]

    def wait_for(
        self, predicate: Callable[[BusWatch], bool], *, timeout: float, interval: float = 0.2
    ) -> bool:
        """Drain until ``predicate(self)`` holds (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while True:
            self.drain()
            if predicate(self):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)


# -- the queues -------------------------------------------------------------------------------------
def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages in the queue, visible, in flight or delayed."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())
