"""The receive function's trigger: an API Gateway HTTP API (payload 2.0) for the template's route.

An HTTP listener on 127.0.0.1 turns each request for the route the template declares
(``GET /inbound/{token}``) into the event API Gateway would build and answers with the handler's
response; any other request gets API Gateway's 404, a failed invocation its 500.
"""

from __future__ import annotations

import http.server
import logging
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emulator.template import ACCOUNT, Stack

log = logging.getLogger("emulator.triggers.http_api")
_JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as the template writes it: /inbound/{token}

    @classmethod
    def from_template(cls, stack: Stack) -> Route:
        route = stack.event_of_type("ReceiveFunction", "HttpApi")
        return cls(route["Method"].upper(), route["Path"])

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters when ``method`` and ``path`` are this route's, else None."""
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found and method == self.method else None


@dataclass(frozen=True)
class Request:
    """One HTTP request as the listener read it."""

    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]
    body: bytes
    source_ip: str
    host: str


def http_event(route: Route, request: Request, path_parameters: dict[str, str]) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event, as API Gateway builds it."""
    parsed = urllib.parse.urlsplit(request.target)
    query: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = datetime.now(UTC)
    return {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": parsed.path,
        "rawQueryString": parsed.query,
        "headers": {name.lower(): value for name, value in request.headers.items()},
        "queryStringParameters": query or None,
        "pathParameters": {k: urllib.parse.unquote(v) for k, v in path_parameters.items()},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": request.host,
            "domainPrefix": "127",
            "http": {
                "method": request.method,
                "path": parsed.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": request.body.decode("utf-8", errors="replace") if request.body else None,
        "isBase64Encoded": False,
    }


def respond(
    route: Route, request: Request, invoke: Callable[[dict[str, Any]], Any]
) -> tuple[int, dict[str, str], str]:
    """Status, headers and body API Gateway answers ``request`` with."""
    parameters = route.match(request.method, urllib.parse.urlsplit(request.target).path)
    if parameters is None:
        return 404, _JSON, '{"message":"Not Found"}'
    try:
        response = invoke(http_event(route, request, parameters))
    except Exception:
        log.exception("receive function failed")
        return 500, _JSON, '{"message":"Internal Server Error"}'
    return int(response.get("statusCode", 200)), response.get("headers") or {}, response.get("body") or ""


class _Listener(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # never log paths: they hold the token
        return None

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            method=self.command,
            target=self.path,
            headers=dict(self.headers),
            body=self.rfile.read(length) if length else b"",
            source_ip=self.client_address[0],
            host=f"127.0.0.1:{self.server.server_address[1]}",
        )
        status, headers, body = respond(self.server.route, request, self.server.invoke)
        data = body.encode()
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    route: Route
    invoke: Callable[[dict[str, Any]], Any]


class HttpApi:
    """The API on ``port`` of 127.0.0.1 (0: any free port), serving on a thread until :meth:`stop`."""

    def __init__(self, route: Route, invoke: Callable[[dict[str, Any]], Any], port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), _Listener)
        self._server.route = route
        self._server.invoke = invoke
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-api", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=15)
