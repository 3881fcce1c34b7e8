"""The sandbox's HTTP plumbing: a threaded server on the loopback that can be stopped mid-reply.

Tests stop the sandbox while clients wait on slow answers or hold keep-alive connections, so
stopping cuts open connections and wakes pending replies instead of waiting them out. Only the
IPv4 loopback is ever bound.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import struct
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import SplitResult, parse_qsl, urlsplit

from asanak_sandbox.model import API_METHODS
from asanak_sandbox.rendering import Reply, html
from asanak_sandbox.v2 import API2_PREFIX, V2_METHODS, envelope

_log = logging.getLogger("asanak_sandbox")

API_PREFIX = "/webservice/v1rest"
CONTROL_PREFIX = "/_sandbox"
_NOT_FOUND_PAGE = "<html><body><h1>404 Not Found</h1></body></html>"


class LoopbackServer(ABC):
    """An HTTP service on the IPv4 loopback, served from a daemon thread; started, stopped, started again.

    Subclasses answer the requests: :meth:`serve_api` under ``/webservice/v1rest/`` and
    :meth:`control` under ``/_sandbox/``.
    """

    def __init__(self, host: str, port: int) -> None:
        if host == "localhost":
            host = "127.0.0.1"
        if not ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).version != 4:
            raise ValueError(f"the sandbox binds only the IPv4 loopback, not {host!r}")
        self._host = host
        self._port = port
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @abstractmethod
    def serve_api(
        self, method: str, http_method: str, params: Mapping[str, str], accept: str | None
    ) -> Reply:
        """Answer one call to the web service's ``method`` (``params`` with lower-case names)."""

    @abstractmethod
    def serve_api_v2(self, method: str, fields: Mapping[str, Any]) -> Reply:
        """Answer one v2rest call to ``method`` (the JSON body's fields, with lower-case names)."""

    @abstractmethod
    def control(self, http_method: str, name: str, payload: Any) -> tuple[int, Any]:
        """One ``/_sandbox/{name}`` request; returns (HTTP status, JSON value)."""

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        self._stopping.clear()
        server = Server((self._host, self._port), Handler)
        server.sandbox = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="asanak-sandbox", daemon=True
        )
        self._thread.start()
        _log.debug("Asanak sandbox listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and wake slow replies; safe to call twice."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the control plane lives under ``/_sandbox/``)."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The web service's base address, as ``https://panel.asanak.com/webservice/v1rest`` is."""
        return f"{self.url}{API_PREFIX}"

    @property
    def base_url_v2(self) -> str:
        """The v2rest base address, as ``https://sms.asanak.ir/webservice/v2rest`` is."""
        return f"{self.url}{API2_PREFIX}"

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, returning early when the sandbox stops."""
        if seconds > 0:
            self._stopping.wait(seconds)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for idle keep-alive connections
    sandbox: LoopbackServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AsanakSandbox/1.0"
    timeout = 30  # idle keep-alive connections end after this
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms delayed-ACK stalls
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        # Never the query string: it carries the password of GET calls.
        _log.debug("%s %s", self.command, urlsplit(self.path).path)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        body = self._read_body()
        if parts.path.startswith(CONTROL_PREFIX + "/"):
            self._control(parts.path[len(CONTROL_PREFIX) + 1 :].strip("/"), body)
        else:
            self._api(parts, body)

    def _control(self, name: str, body: bytes) -> None:
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            self._send(Reply(400, json.dumps({"error": "body must be JSON"})))
            return
        status, value = self.server.sandbox.control(self.command, name, payload)
        self._send(Reply(status, json.dumps(value, ensure_ascii=False)))

    def _api(self, parts: SplitResult, body: bytes) -> None:
        sandbox = self.server.sandbox
        if parts.path.startswith(API2_PREFIX + "/"):
            self._api_v2(parts.path[len(API2_PREFIX) + 1 :].strip("/").lower(), body)
            return
        method = (
            parts.path[len(API_PREFIX) + 1 :].strip("/").lower() if parts.path.startswith(API_PREFIX) else ""
        )
        if method not in API_METHODS or self.command not in ("GET", "POST"):
            self._send(html(404, _NOT_FOUND_PAGE))
            return
        pairs = parse_qsl(parts.query, keep_blank_values=True, encoding="utf-8", errors="replace")
        if self.command == "POST" and body:
            pairs += parse_qsl(
                body.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="replace"
            )
        params = {key.lower(): value for key, value in pairs}  # `Username` and `username` alike
        self._deliver(sandbox.serve_api(method, self.command, params, self.headers.get("Accept")))

    def _api_v2(self, method: str, body: bytes) -> None:
        if method not in V2_METHODS or self.command != "POST":
            self._send(html(404, _NOT_FOUND_PAGE))
            return
        try:
            fields = json.loads(body.decode("utf-8")) if body.strip() else {}
        except ValueError:
            fields = None
        if not isinstance(fields, dict):
            self._send(envelope(1008, "the body must be a JSON object", http=400))
            return
        self._deliver(
            self.server.sandbox.serve_api_v2(method, {str(k).lower(): v for k, v in fields.items()})
        )

    def _deliver(self, reply: Reply) -> None:
        """Send ``reply`` after its delay, or drop the connection when it is a reset."""
        sandbox = self.server.sandbox
        if reply.reset:
            self._reset()
            return
        sandbox.wait(reply.delay)
        if sandbox.stopping:
            self.close_connection = True  # stopped while this reply was pending: it never comes
            return
        self._send(reply)

    def _reset(self) -> None:
        """Drop the connection without a word (RST)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _send(self, reply: Reply) -> None:
        data = reply.body.encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client went away (e.g. after its read timeout)
