"""The sandbox's HTTP plumbing: a threaded server on the loopback that can be stopped mid-reply.

Tests stop the sandbox while clients wait on slow answers or hold keep-alive connections, so
stopping cuts open connections and wakes pending replies instead of waiting them out.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import SplitResult, parse_qsl, urlsplit

from asanak_sandbox.model import API_METHODS
from asanak_sandbox.rendering import Reply, html

_log = logging.getLogger("asanak_sandbox")

API_PREFIX = "/webservice/v1rest"
CONTROL_PREFIX = "/_sandbox"
_NOT_FOUND_PAGE = "<html><body><h1>404 Not Found</h1></body></html>"


class Backend(Protocol):
    """What the server serves (the :class:`AsanakSandbox`)."""

    @property
    def stopping(self) -> bool: ...

    def wait(self, seconds: float) -> None: ...

    def control(self, http_method: str, name: str, payload: Any) -> tuple[int, Any]: ...

    def serve_api(
        self, method: str, http_method: str, params: Mapping[str, str], accept: str | None
    ) -> Reply: ...


class Listener:
    """Serves a backend on ``host:port`` from a daemon thread; started, stopped, started again."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self._port = port
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, backend: Backend) -> None:
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        self._stopping.clear()
        server = Server((self.host, self._port), Handler)
        server.sandbox = backend
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="asanak-sandbox", daemon=True
        )
        self._thread.start()

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

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return int(self._server.server_address[1])

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, returning early when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for idle keep-alive connections
    sandbox: Backend

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
        reply = sandbox.serve_api(method, self.command, params, self.headers.get("Accept"))
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
