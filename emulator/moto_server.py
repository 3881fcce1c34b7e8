"""moto's server on 127.0.0.1, with DynamoDB's per-request atomicity restored.

moto checks a write's condition and then applies it without a lock, and numbers a stream record before
appending it: two concurrent writes could both pass their conditions, or share a stream sequence
number (a stream reader resuming after it would be handed one record again and again). DynamoDB has
neither problem; one lock around every write gives the emulation the same guarantees (toolchain.md).

Two ways to run it, both stopped by whoever started them:

- :class:`MotoProcess`: ``python -m emulator.moto_server`` in a process of its own, so the emulation
  and the functions do not share one interpreter lock (the local stack, the benchmarks);
- :class:`MotoThread`: moto's ``ThreadedMotoServer`` in this process (the integration tests, which
  watch what moto authorises).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # all on 127.0.0.1


def serialize_dynamodb_writes() -> None:
    """Make every DynamoDB write of this process's moto backend atomic (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_writes_serialized", False):
        return

    lock = threading.RLock()
    for name in _WRITES:
        write = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, _write: Any = write, **kwargs: Any) -> Any:
            with lock:
                return _write(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)
    DynamoDBBackend._writes_serialized = True  # type: ignore[attr-defined]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reset(endpoint: str) -> None:
    """Forget every resource (and the IAM state) of the moto server at ``endpoint``."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with _OPENER.open(request, timeout=10) as response:
        response.read()


class MotoProcess:
    """``python -m emulator.moto_server`` on ``port`` of 127.0.0.1 (0: any free port).

    ``atomic_writes`` (the default) makes each DynamoDB write atomic, as DynamoDB's are, at the price
    of applying them one at a time; the benchmarks turn it off to measure as they always have (moto's
    plain server), closer to DynamoDB's writes in parallel."""

    def __init__(self, port: int = 0, *, atomic_writes: bool = True) -> None:
        self.port = port or free_port()
        self.atomic_writes = atomic_writes
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> str:
        """Start the server and wait until it answers; its endpoint URL."""
        module = "emulator.moto_server" if self.atomic_writes else "moto.server"
        args = [sys.executable, "-m", module, "-H", "127.0.0.1", "-p", str(self.port)]
        # A session of its own: Ctrl-C in a terminal reaches the whole foreground process group, and
        # moto's server must outlive the functions and triggers that still talk to it; stop() ends it.
        self._process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"moto's server exited with {self._process.returncode} (is port {self.port} free?)"
                )
            try:
                with _OPENER.open(f"{self.endpoint}/moto-api/", timeout=1):
                    return self.endpoint
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto's server did not start on {self.endpoint} within {timeout:g} s")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


class MotoThread:
    """moto's server on a thread of this process, on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self._server: Any = None
        self.endpoint = ""

    def start(self) -> str:
        from moto.server import ThreadedMotoServer

        serialize_dynamodb_writes()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


if __name__ == "__main__":
    serialize_dynamodb_writes()
    from moto.server import main

    main(sys.argv[1:])
