"""The local stack as a process: start ``python -m local_stack``, read its endpoints, stop it, and
drive its Asanak sandbox through the sandbox's HTTP control plane.

Used by the end-to-end tests and the throughput benchmark, which see the stack only from outside,
the way a user does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from local_stack.endpoints import Endpoints

ROOT = Path(__file__).resolve().parent.parent

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


class StackProcess:
    """``python -m local_stack`` in a subprocess, with its own state directory and free ports."""

    def __init__(
        self,
        state_dir: Path,
        *,
        speed: float | None = None,
        retry_after: float | None = None,
        poll_every: float | None = None,
        api: str = "v1",
    ) -> None:
        self.state_dir = state_dir
        self.endpoints_file = state_dir / "endpoints.json"
        self.log_file = state_dir / "stack.log"
        self.args = [sys.executable, "-m", "local_stack", "--aws-port", "0", "--api-port", "0"]
        self.args += ["--sandbox-port", "0", "--state-dir", str(state_dir), "--api", api]
        for flag, value in (("--speed", speed), ("--retry-after", retry_after), ("--poll-every", poll_every)):
            if value is not None:
                self.args += [flag, f"{value:g}"]
        self.args.append("--quiet")  # warnings only: thousands of INFO lines would cost more than the sends
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
            raise RuntimeError(f"sandbox {method} {name}: HTTP {exc.code} {exc.read()!r}") from exc

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

    def set_latency(self, seconds: float) -> None:
        self._call("POST", "latency", {"latency": seconds})

    def set_credit(self, credit: int) -> None:
        self._call("POST", "credit", {"credit": str(credit)})

    def push_inbound(self, url: str, *, source: str, destination: str, text: str) -> int:
        """Have the provider push an inbound SMS to ``url``; the HTTP status the receiver answered."""
        body = {"url": url, "source": source, "destination": destination, "text": text}
        return int(self._call("POST", "inbound", body)["status"])
