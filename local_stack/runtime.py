"""The whole stack on one machine: moto's server, the Asanak sandbox and the three real handlers.

Everything binds 127.0.0.1. The functions run in this process from their real handler modules with
the environment the template gives them, driven the way Lambda drives them:

- send: an SQS event source polls the send queue — batch size, batching window and maximum
  concurrency come from the template's SQS event; successful records are deleted, the ones the
  handler reports in ``batchItemFailures`` stay and come back after the visibility timeout (or the
  ``retry_after`` given here, for quick local runs); the queue's redrive policy moves them to the DLQ.
- poll: the template's schedule expression (``rate(...)``) invokes it.
- receive: an HTTP listener turns each request into an API Gateway HTTP API (payload 2.0) event for
  the routes the template declares (``GET /inbound/{token}``) and returns the handler's response.

Each function runs in processes of its own (as many as invocations may overlap), with its own
environment from the template and the credentials of its own role: moto checks IAM (see
``local_stack.iam``), so a call outside the function's template role is denied here as on AWS. What
stands in for AWS itself (provisioning, the SQS event source, the schedule) acts as an administrator,
whose keys ``endpoints.json`` carries for producers and SDKs.

``speed`` runs time faster for the gateway and the sandbox alike (a demo watches a message go from
accepted to delivered in seconds, not minutes); 1.0 is real time.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.server
import importlib
import json
import logging
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from local_stack.iam import FUNCTIONS, enforce, function_credentials
from local_stack.lambda_events import LambdaContext, sqs_record
from local_stack.streams import StreamReader, StreamTrigger, table_stream_arn
from local_stack.template import ROOT, Stack, provision
from smsctl.producer import Target

log = logging.getLogger("local_stack")

DEFAULT_SENDER = "982164063188"
SANDBOX_USER = "local-user"
SANDBOX_PASSWORD = "local-password"


class SimClock:
    """UTC time that runs ``speed`` times faster than the wall clock, from the moment it was made."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._origin_real = time.time()
        self._origin = datetime.now(UTC)

    def now(self) -> datetime:
        if self.speed == 1.0:
            return datetime.now(UTC)
        elapsed = (time.time() - self._origin_real) * self.speed
        return datetime.fromtimestamp(self._origin.timestamp() + elapsed, tz=UTC)


def rate_seconds(expression: str) -> float:
    match = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        raise ValueError(f"only rate(...) schedules run locally, not {expression!r}")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return int(match.group(1)) * unit


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Endpoints:
    aws: str
    region: str
    queue_url: str
    dlq_url: str
    bus_name: str
    table_name: str
    secret_arn: str
    api: str
    inbound_url: str
    asanak: str
    sandbox: bool
    access_key_id: str  # an administrator of the emulation (moto checks IAM)
    secret_access_key: str

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)

    @classmethod
    def read(cls, path: Path) -> Endpoints:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    @property
    def target(self) -> Target:
        """Where producers send: the queue, table and bus on this stack's AWS endpoint."""
        return Target(
            self.queue_url,
            self.table_name,
            self.bus_name,
            self.aws,
            self.region,
            credentials=(self.access_key_id, self.secret_access_key),
        )

    @property
    def sandbox_url(self) -> str:
        """The sandbox's ``scheme://host:port``: its control plane is under ``/_sandbox/`` there."""
        parts = urllib.parse.urlsplit(self.asanak)
        return f"{parts.scheme}://{parts.netloc}"


class LocalStack:
    def __init__(
        self,
        *,
        aws_port: int = 4566,
        api_port: int = 3000,
        sandbox_port: int = 8085,
        speed: float = 1.0,
        retry_after: float | None = None,
        poll_every: float | None = None,
        real_asanak: dict[str, str] | None = None,
        state_dir: Path | None = None,
        sandbox_latency: float = 0.0,
        log_level: str | None = None,
    ) -> None:
        self.log_level = log_level
        self.aws_port = aws_port
        self.api_port = api_port or _free_port()
        self.sandbox_port = sandbox_port
        self.speed = speed
        self.retry_after = retry_after
        self.poll_every = poll_every
        self.real_asanak = real_asanak
        self.state_dir = state_dir or ROOT / ".local_stack"
        self.sandbox_latency = sandbox_latency
        self.clock = SimClock(speed)
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._moto: Any = None
        self.sandbox: Any = None
        self._api: http.server.ThreadingHTTPServer | None = None
        self.stack: Stack | None = None
        self.endpoints: Endpoints | None = None
        self._functions: dict[str, concurrent.futures.ProcessPoolExecutor] = {}
        self.invocations: dict[str, int] = dict.fromkeys(FUNCTIONS, 0)

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> Endpoints:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request at INFO
        aws = self._start_moto()

        if self.real_asanak:
            base_url = self.real_asanak["base_url"]
            secret = {"username": self.real_asanak["username"], "password": self.real_asanak["password"]}
        else:
            from asanak_sandbox import AsanakSandbox

            self.sandbox = AsanakSandbox(
                username=SANDBOX_USER,
                password=SANDBOX_PASSWORD,
                senders=(DEFAULT_SENDER, "98300012345"),
                port=self.sandbox_port,
                clock_speed=self.speed,
                latency=self.sandbox_latency,
            )
            self.sandbox.start()
            base_url = self.sandbox.base_url
            secret = {"username": SANDBOX_USER, "password": SANDBOX_PASSWORD}

        for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
            del os.environ[name]
        region = os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")
        admin = enforce(boto3.Session(region_name=region), aws)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": aws,
                "AWS_DEFAULT_REGION": region,
                "AWS_ACCESS_KEY_ID": admin["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": admin["aws_secret_access_key"],
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_NAMESPACE": "AsanakSms",
            }
        )
        session = boto3.Session(region_name=region, **admin)
        self.stack = provision(
            session,
            stack_name="local",
            endpoint_url=aws,
            overrides={
                "AsanakBaseUrl": base_url,
                "DefaultSender": os.environ.get("DEFAULT_SENDER", DEFAULT_SENDER),
                "AsanakSecret.value": json.dumps(secret),
            },
        )
        self._start_functions(function_credentials(session, self.stack, aws))
        self._start_api()
        api = f"http://127.0.0.1:{self.api_port}"
        self.endpoints = Endpoints(
            aws=aws,
            region=session.region_name,
            queue_url=self.stack.physical["SendQueue"],
            dlq_url=self.stack.physical["SendDeadLetterQueue"],
            bus_name=self.stack.physical["EventBus"],
            table_name=self.stack.physical["MessagesTable"],
            secret_arn=self.stack.physical["AsanakSecret"],
            api=api,
            inbound_url=f"{api}/inbound/{self.stack.secret_values['InboundSecret']['inbound_token']}",
            asanak=base_url,
            sandbox=self.sandbox is not None,
            access_key_id=admin["aws_access_key_id"],
            secret_access_key=admin["aws_secret_access_key"],
        )
        self._start_send_source()
        self._start_schedule()
        self._start_stream()
        self.state_dir.mkdir(exist_ok=True)
        (self.state_dir / "endpoints.json").write_text(self.endpoints.to_json())
        return self.endpoints

    def stop(self) -> None:
        self.stopping.set()
        if self._api is not None:
            self._api.shutdown()
            self._api.server_close()
        for thread in self._threads:
            thread.join(timeout=15)
        for pool in self._functions.values():
            pool.shutdown(wait=True, cancel_futures=True)
        if self.sandbox is not None:
            self.sandbox.stop()
        if self._moto is not None:
            self._moto.terminate()
            try:
                self._moto.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._moto.kill()
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / "endpoints.json").unlink()

    def _start_moto(self) -> str:
        """moto's server in a process of its own: the emulation and the functions use both cores."""
        port = self.aws_port or _free_port()
        self._moto = subprocess.Popen(
            [sys.executable, "-m", "local_stack.moto_server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._moto.poll() is not None:
                raise RuntimeError(
                    f"moto's server exited with {self._moto.returncode} (is port {port} free?)"
                )
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    return url
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto's server did not start on {url} within 30 s")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- functions -----------------------------------------------------------------------------------
    def _start_functions(self, credentials: dict[str, dict[str, str]]) -> None:
        """Processes for each function, with its environment and its role's credentials only."""
        assert self.stack is not None
        overlapping = {"send": self._send_pollers(), "poll": 1, "receive": 2, "publish": 1}
        for name, logical in FUNCTIONS.items():
            environment = {**self.stack.function_env(logical), **credentials[logical]}
            if self.log_level:
                environment["POWERTOOLS_LOG_LEVEL"] = self.log_level
                if self.log_level != "INFO":
                    environment["POWERTOOLS_METRICS_DISABLED"] = "true"  # no EMF lines on a quiet console
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=overlapping[name],
                mp_context=multiprocessing.get_context("spawn"),  # nothing inherited but the environment
                initializer=_function_process,
                initargs=(name, self.stack.function(logical)["Handler"], environment, self.clock),
            )
            self._functions[name] = pool
        for pool in self._functions.values():  # cold starts now, not on the first event
            pool.submit(os.getpid).result()

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        assert self.stack is not None
        logical = FUNCTIONS[name]
        context = LambdaContext(function_name=f"local-{name}", timeout_s=self.stack.function_timeout(logical))
        self.invocations[name] += 1
        return self._functions[name].submit(_invoke_handler, event, context).result()

    # -- send: the SQS event source mapping ------------------------------------------------------------
    def _send_pollers(self) -> int:
        """Batches handled at once: the SQS event's maximum concurrency (at most 4 on one machine)."""
        assert self.stack is not None
        props = self.stack.event_of_type("SendFunction", "SQS")
        return max(1, min(int(props.get("ScalingConfig", {}).get("MaximumConcurrency", 2)), 4))

    def _start_send_source(self) -> None:
        assert self.stack is not None
        props = self.stack.event_of_type("SendFunction", "SQS")
        batch_size = int(props.get("BatchSize", 10))
        window = float(props.get("MaximumBatchingWindowInSeconds", 0))
        for index in range(self._send_pollers()):
            self._spawn(lambda: self._poll_queue(batch_size, window), f"sqs-poller-{index}")

    def _poll_queue(self, batch_size: int, window: float) -> None:
        assert self.endpoints is not None
        sqs = boto3.client("sqs")
        queue_url, queue_arn = self.endpoints.queue_url, self.stack.arns["SendQueue"]  # type: ignore[union-attr]
        while not self.stopping.is_set():
            messages: list[dict[str, Any]] = []
            deadline = time.monotonic() + window
            while len(messages) < batch_size and not self.stopping.is_set():
                got = sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=batch_size - len(messages),
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                messages.extend(got)
                if time.monotonic() >= deadline or (not got and not messages):
                    break
                if not got:
                    time.sleep(0.05)
            if not messages:
                self.stopping.wait(0.2)
                continue
            event = {"Records": [self._sqs_record(m, queue_arn) for m in messages]}
            try:
                response = self.invoke("send", event)
                failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
            except Exception:
                log.exception("send function failed; the whole batch comes back after the visibility timeout")
                failed = {m["MessageId"] for m in messages}
            done = [m for m in messages if m["MessageId"] not in failed]
            for start in range(0, len(done), 10):
                sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done[start : start + 10])
                    ],
                )
            if failed and self.retry_after is not None:
                for m in messages:
                    if m["MessageId"] in failed:
                        sqs.change_message_visibility(
                            QueueUrl=queue_url,
                            ReceiptHandle=m["ReceiptHandle"],
                            VisibilityTimeout=int(self.retry_after),
                        )

    @staticmethod
    def _sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
        return sqs_record(
            message["Body"],
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            attributes=message.get("Attributes", {}),
            message_attributes=message.get("MessageAttributes", {}),
            md5_of_body=message.get("MD5OfBody", ""),
            queue_arn=queue_arn,
        )

    # -- publish: the DynamoDB stream event source mapping -------------------------------------------
    def _start_stream(self) -> None:
        assert self.stack is not None
        props = self.stack.event_of_type("PublishFunction", "DynamoDB")
        dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
        reader = StreamReader(
            boto3.client("dynamodbstreams"), table_stream_arn(dynamodb, self.stack.physical["MessagesTable"])
        )
        failure_queue = self.stack.physical["PublishFailureQueue"]
        trigger = StreamTrigger(
            reader,
            lambda event: self.invoke("publish", event),
            batch_size=int(props.get("BatchSize", 100)),
            on_failure=lambda batch: sqs.send_message(QueueUrl=failure_queue, MessageBody=json.dumps(batch)),
        )

        def relay() -> None:
            while not self.stopping.is_set():
                try:
                    trigger.pump()
                except Exception:
                    log.exception("reading the table's stream failed; trying again")
                self.stopping.wait(0.2)

        self._spawn(relay, "stream-poller")

    # -- poll: the schedule ----------------------------------------------------------------------------
    def _start_schedule(self) -> None:
        assert self.stack is not None
        expression = self.stack.event_of_type("PollFunction", "Schedule")["Schedule"]
        interval = self.poll_every or rate_seconds(expression) / self.speed
        self._spawn(lambda: self._tick(interval), "schedule")

    def _tick(self, interval: float) -> None:
        while not self.stopping.wait(interval):
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "123456789012",
                "time": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": os.environ["AWS_DEFAULT_REGION"],
                "resources": ["arn:aws:events:eu-west-1:123456789012:rule/local-poll"],
                "detail": {},
            }
            try:
                self.invoke("poll", event)
            except Exception:
                log.exception("poll run failed; the next scheduled run continues")

    # -- receive: the HTTP API -----------------------------------------------------------------------
    def _start_api(self) -> None:
        assert self.stack is not None
        route = self.stack.event_of_type("ReceiveFunction", "HttpApi")
        method, path = route["Method"].upper(), route["Path"]
        pattern = re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")
        stack = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # never log paths: they hold the token
                return None

            def _handle(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                match = pattern.match(parsed.path)
                if self.command != method or match is None:
                    self._reply(404, {"content-type": "application/json"}, '{"message":"Not Found"}')
                    return
                event = stack.http_event(
                    self.command,
                    path,
                    parsed,
                    match.groupdict(),
                    dict(self.headers),
                    body,
                    self.client_address[0],
                )
                try:
                    response = stack.invoke("receive", event)
                except Exception:
                    log.exception("receive function failed")
                    self._reply(
                        500, {"content-type": "application/json"}, '{"message":"Internal Server Error"}'
                    )
                    return
                self._reply(
                    int(response.get("statusCode", 200)),
                    response.get("headers") or {},
                    response.get("body") or "",
                )

            def _reply(self, status: int, headers: dict[str, str], body: str) -> None:
                data = body.encode()
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._api = http.server.ThreadingHTTPServer(("127.0.0.1", self.api_port), Handler)
        self.api_port = self._api.server_address[1]
        self._spawn(self._api.serve_forever, "http-api")

    def http_event(
        self,
        method: str,
        route_path: str,
        parsed: urllib.parse.SplitResult,
        path_parameters: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        source_ip: str,
    ) -> dict[str, Any]:
        """An API Gateway HTTP API payload 2.0 event, as API Gateway builds it."""
        query: dict[str, str] = {}
        for name, value in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        now = datetime.now(UTC)
        return {
            "version": "2.0",
            "routeKey": f"{method} {route_path}",
            "rawPath": parsed.path,
            "rawQueryString": parsed.query,
            "headers": {name.lower(): value for name, value in headers.items()},
            "queryStringParameters": query or None,
            "pathParameters": {k: urllib.parse.unquote(v) for k, v in path_parameters.items()},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "domainName": f"127.0.0.1:{self.api_port}",
                "domainPrefix": "127",
                "http": {
                    "method": method,
                    "path": parsed.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": source_ip,
                    "userAgent": headers.get("User-Agent", ""),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": f"{method} {route_path}",
                "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "body": body.decode("utf-8", errors="replace") if body else None,
            "isBase64Encoded": False,
        }


# -- inside a function's process -------------------------------------------------------------------------
_HANDLER: dict[str, Callable[[dict[str, Any], Any], Any]] = {}  # this process's function's handler


def _function_process(name: str, handler: str, environment: dict[str, str], clock: SimClock) -> None:
    """Become one function's execution environment: its variables and credentials, its handler."""
    os.environ.update(environment)
    from sms_gateway import wiring

    wiring.use_clock(clock.now)  # the whole local world runs on one clock
    module_name, function_name = handler.rsplit(".", 1)
    _HANDLER["handler"] = getattr(importlib.import_module(f"functions.{name}.{module_name}"), function_name)


def _invoke_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    try:
        return _HANDLER["handler"](event, context)
    except Exception as error:  # its traceback as text: not every exception survives pickling
        import traceback

        raise RuntimeError(f"the handler failed:\n{traceback.format_exc()}") from error
