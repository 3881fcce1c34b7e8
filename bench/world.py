"""The world a benchmark runs in: moto's server, the Asanak sandbox and the stack from template.yaml.

Everything binds 127.0.0.1. The real handlers (``functions.<name>.app.lambda_handler``) run in this
process, invoked with realistic Lambda events and the function's environment from the template, like
the integration tests; the sandbox runs in this process too. moto's server runs in a process of its
own (as the local stack runs it): the emulation's CPU then does not compete with the handler's for
one interpreter lock, as DynamoDB's does not compete with a Lambda function's. The gateway runs on
the sandbox's clock (:mod:`emulator.gateway`), so :meth:`World.advance` ages the provider's statuses
and the gateway's "now" together.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from emulator import gateway, lambda_events
from emulator.deploy import Asanak, Deployment, deploy
from emulator.environ import Environ
from emulator.functions import handler
from emulator.lambda_events import LambdaContext
from emulator.moto_server import MotoProcess
from emulator.triggers.schedule import scheduled_event

REGION = "eu-west-1"
SANDBOX_USER = "bench-user"
SANDBOX_PASSWORD = "bench-Pa55word"
SENDER = "982164063188"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:123456789012:bench-send"


def number(index: int, prefix: str = "0912") -> str:
    """A distinct, valid Iranian mobile number for each ``index`` (below 10 million)."""
    return f"{prefix}{index:07d}"


def sqs_event(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping delivers it (one record per request body)."""
    return lambda_events.sqs_event(*bodies, queue_arn=QUEUE_ARN)


SCHEDULED_EVENT = scheduled_event(
    datetime(2026, 11, 24, 8, 30, tzinfo=UTC),
    REGION,
    rule="bench-poll",
    event_id="89d1a02d-5ec7-412e-82f5-13505f849b41",
)


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


class World:
    """moto + sandbox + the provisioned stack, with the function environment set in ``os.environ``.

    moto does not check IAM here: the handlers' own cost is measured, not the emulation's checks."""

    def __init__(self, *, latency: float = 0.0, clock_speed: float = 1.0) -> None:
        self.latency = latency
        self.clock_speed = clock_speed  # 0 freezes the gateway's and the provider's time (advance() moves it)
        self.moto = MotoProcess(atomic_writes=False)  # moto's plain server, as bench always measured
        self.sandbox: Any = None
        self.deployment: Deployment | None = None
        self.context = LambdaContext()
        self._environ = Environ()

    # -- life cycle --------------------------------------------------------------------------------
    def __enter__(self) -> World:
        from asanak_sandbox import AsanakSandbox

        self.moto.start()
        self.sandbox = AsanakSandbox(
            username=SANDBOX_USER,
            password=SANDBOX_PASSWORD,
            senders=(SENDER,),
            credit=Decimal(10**9),
            latency=self.latency,
            clock_speed=self.clock_speed,
        ).start()
        account = Asanak(self.sandbox.base_url, SANDBOX_USER, SANDBOX_PASSWORD, SENDER)
        self.deployment = deploy(self.endpoint, account, stack_name=f"b{uuid.uuid4().hex[:8]}", iam=False)
        self._environ.apply(self.deployment.process_env())
        self._environ.apply(self.deployment.functions_env())
        self.rebuild()
        return self

    def __exit__(self, *exc_info: object) -> None:
        gateway.forget()
        self.sandbox.stop()
        self.moto.stop()
        self._environ.restore()

    def configure(self, **variables: str) -> None:
        """Change function settings (e.g. ``SEND_CONCURRENCY``); the next invocation builds afresh."""
        self._environ.apply(variables)
        self.rebuild()

    def rebuild(self) -> None:
        """Forget cached settings, clients and services; run the gateway on the sandbox's clock."""
        gateway.run_on(self.sandbox.clock.now)

    # -- the functions -------------------------------------------------------------------------------
    def send(self, bodies: list[dict[str, Any]]) -> dict[str, Any]:
        response = handler(self.stack, "send")(sqs_event(bodies), LambdaContext())
        if response.get("batchItemFailures"):
            raise RuntimeError(f"send handler failed records: {response}")
        return dict(response)

    def poll(self) -> dict[str, Any]:
        return dict(handler(self.stack, "poll")(SCHEDULED_EVENT, LambdaContext()))

    def advance(self, seconds: float) -> None:
        self.sandbox.clock.advance(seconds)

    # -- what happened ---------------------------------------------------------------------------------
    def calls(self, *methods: str) -> int:
        """Provider calls of any of ``methods`` the sandbox answered so far."""
        return sum(1 for call in self.sandbox.calls if call.method in methods)

    def use_api(self, api: str) -> None:
        """Point the functions at the sandbox's ``v1rest`` or ``v2rest`` (AsanakBaseUrl alone changes)."""
        base_url = self.sandbox.base_url_v2 if api == "v2rest" else self.sandbox.base_url
        self.configure(ASANAK_BASE_URL=base_url)

    @property
    def endpoint(self) -> str:
        return self.moto.endpoint

    @property
    def stack(self) -> Any:
        assert self.deployment is not None
        return self.deployment.stack

    def client(self, service: str) -> Any:
        assert self.deployment is not None
        return self.deployment.client(service)

    @property
    def table_name(self) -> str:
        return str(self.stack.physical["MessagesTable"])

    @property
    def bus_name(self) -> str:
        return str(self.stack.physical["EventBus"])
