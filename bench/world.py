"""The world a benchmark runs in: moto's server, the Asanak sandbox and the stack from template.yaml.

Everything binds 127.0.0.1. The real handlers (``functions.<name>.app.lambda_handler``) run in this
process, invoked with realistic Lambda events and the function's environment from the template, like
the integration tests; the sandbox runs in this process too. moto's server runs in a process of its
own (as the local stack runs it): the emulation's CPU then does not compete with the handler's for
one interpreter lock, as DynamoDB's does not compete with a Lambda function's. The gateway runs on
the sandbox's clock (``wiring.use_clock``), so :meth:`World.advance` ages the provider's statuses
and the gateway's "now" together.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import boto3

from emulator import lambda_events
from emulator.lambda_events import LambdaContext

ACCOUNT = "123456789012"
REGION = "eu-west-1"
SANDBOX_USER = "bench-user"
SANDBOX_PASSWORD = "bench-Pa55word"
SENDER = "982164063188"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:bench-send"

# What Lambda's runtime gives every function, and what tests set for Powertools outside Lambda.
PROCESS_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_TRACE_DISABLED": "true",  # in this process only: there is no X-Ray daemon here
}


def number(index: int, prefix: str = "0912") -> str:
    """A distinct, valid Iranian mobile number for each ``index`` (below 10 million)."""
    return f"{prefix}{index:07d}"


def sqs_event(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping delivers it (one record per request body)."""
    return lambda_events.sqs_event(*bodies, queue_arn=QUEUE_ARN)


SCHEDULED_EVENT = {
    "version": "0",
    "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": ACCOUNT,
    "time": "2026-11-24T08:30:00Z",
    "region": REGION,
    "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/bench-poll"],
    "detail": {},
}


class DynamoTally:
    """Counts DynamoDB requests and the items they read while active, for every client in this process.

    Items read are what DynamoDB evaluates (and bills): ``ScannedCount`` of each Query and Scan page
    (a ``Select=COUNT`` query included), one per item a GetItem or BatchGetItem returns. Counted by
    wrapping botocore's ``BaseClient._make_api_call``, through which boto3 and pynamodb both go.
    """

    def __init__(self) -> None:
        self.items_read = 0
        self.items_written = 0  # what DynamoDB bills writes by (a failed condition included)
        self.events_put = 0  # entries sent with PutEvents, by any client
        self.operations: Counter[str] = Counter()

    @property
    def requests(self) -> int:
        return sum(self.operations.values())

    def record(self, operation: str, parsed: dict[str, Any]) -> None:
        self.operations[operation] += 1
        if operation in ("Query", "Scan"):
            self.items_read += int(parsed.get("ScannedCount", parsed.get("Count", 0)))
        elif operation == "GetItem":
            self.items_read += 1 if "Item" in parsed else 0
        elif operation == "BatchGetItem":
            self.items_read += sum(len(items) for items in parsed.get("Responses", {}).values())

    def record_write(self, operation: str, params: dict[str, Any]) -> None:
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            self.items_written += 1
        elif operation == "BatchWriteItem":
            self.items_written += sum(len(requests) for requests in params.get("RequestItems", {}).values())
        elif operation == "TransactWriteItems":
            self.items_written += len(params.get("TransactItems", []))

    @classmethod
    @contextmanager
    def counting(cls) -> Iterator[DynamoTally]:
        from botocore.client import BaseClient

        counter = cls()
        original = BaseClient._make_api_call

        def counted(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            if service == "dynamodb":
                counter.record_write(operation_name, api_params)  # before: a failed condition is billed too
            elif service == "events" and operation_name == "PutEvents":
                counter.events_put += len(api_params.get("Entries", []))
            parsed = original(client, operation_name, api_params)
            if service == "dynamodb":
                counter.record(operation_name, parsed)
            return parsed

        BaseClient._make_api_call = counted  # type: ignore[method-assign]
        try:
            yield counter
        finally:
            BaseClient._make_api_call = original  # type: ignore[method-assign]


class MotoServer:
    """``python -m moto.server`` on a free port of 127.0.0.1, in a process of its own."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    def start(self) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto's server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    return self.endpoint
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto's server did not start on {self.endpoint}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


class World:
    """moto + sandbox + the provisioned stack, with the function environment set in ``os.environ``."""

    def __init__(self, *, latency: float = 0.0, clock_speed: float = 1.0) -> None:
        self.latency = latency
        self.clock_speed = clock_speed  # 0 freezes the gateway's and the provider's time (advance() moves it)
        self.moto: MotoServer | None = None
        self.sandbox: Any = None
        self.endpoint = ""
        self.stack: Any = None
        self.context = LambdaContext()
        self._saved_env: dict[str, str | None] = {}

    # -- life cycle --------------------------------------------------------------------------------
    def __enter__(self) -> World:
        from asanak_sandbox import AsanakSandbox

        from emulator.template import provision

        self.moto = MotoServer()
        self.endpoint = self.moto.start()
        self.sandbox = AsanakSandbox(
            username=SANDBOX_USER,
            password=SANDBOX_PASSWORD,
            senders=(SENDER,),
            credit=Decimal(10**9),
            latency=self.latency,
            clock_speed=self.clock_speed,
        ).start()

        self._set_env({name: None for name in os.environ if name.startswith("AWS_ENDPOINT_URL")})
        self._set_env({**PROCESS_ENV, "AWS_ENDPOINT_URL": self.endpoint})
        self.stack = provision(
            boto3.Session(region_name=REGION),
            stack_name=f"b{uuid.uuid4().hex[:8]}",
            overrides={
                "AsanakBaseUrl": self.sandbox.base_url,
                "DefaultSender": SENDER,
                "AsanakSecret.value": json.dumps({"username": SANDBOX_USER, "password": SANDBOX_PASSWORD}),
            },
        )
        env: dict[str, str | None] = {}
        for logical in ("SendFunction", "PollFunction", "ReceiveFunction"):
            env.update(self.stack.function_env(logical))
        self._set_env(env)
        self.rebuild()
        return self

    def __exit__(self, *exc_info: object) -> None:
        from sms_gateway import wiring

        wiring.use_clock(None)
        self.sandbox.stop()
        if self.moto is not None:
            self.moto.stop()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _set_env(self, values: dict[str, str | None]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def configure(self, **variables: str) -> None:
        """Change function settings (e.g. ``SEND_CONCURRENCY``); the next invocation builds afresh."""
        self._set_env(dict(variables))
        self.rebuild()

    def rebuild(self) -> None:
        """Forget cached settings, clients and services; run the gateway on the sandbox's clock."""
        from sms_gateway import wiring

        wiring.use_clock(self.sandbox.clock.now)

    # -- the functions -------------------------------------------------------------------------------
    def send(self, bodies: list[dict[str, Any]]) -> dict[str, Any]:
        from functions.send import app

        response = app.lambda_handler(sqs_event(bodies), LambdaContext())
        if response.get("batchItemFailures"):
            raise RuntimeError(f"send handler failed records: {response}")
        return response

    def poll(self) -> dict[str, Any]:
        from functions.poll import app

        return app.lambda_handler(SCHEDULED_EVENT, LambdaContext())

    def advance(self, seconds: float) -> None:
        self.sandbox.clock.advance(seconds)

    # -- what happened ---------------------------------------------------------------------------------
    def calls(self, method: str) -> int:
        """Provider calls of ``method`` the sandbox answered so far."""
        return sum(1 for call in self.sandbox.calls if call.method == method)

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)

    @property
    def table_name(self) -> str:
        return str(self.stack.physical["MessagesTable"])

    @property
    def bus_name(self) -> str:
        return str(self.stack.physical["EventBus"])
