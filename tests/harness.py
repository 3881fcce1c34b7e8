"""Test harness: the stack provisioned from template.yaml on moto's server, and handler invocation.

Handlers are invoked exactly as Lambda would: the function's environment comes from the template
(Globals + its own variables), events are realistic Lambda events, and a Lambda context is passed.
Each invocation runs with its function's role only: moto checks every request against the role
``emulator.iam`` built from the function's ``Policies`` (the credentials of ``sts:AssumeRole`` are
in the environment while it runs, as Lambda puts them there). The tests' own calls (provisioning,
reading the table, the event tap) use an administrator. Published events are captured through a real
EventBridge rule that targets an SQS queue.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from emulator import gateway
from emulator.deploy import Deployment
from emulator.environ import set_variable
from emulator.iam import FUNCTIONS
from emulator.lambda_events import LambdaContext, sqs_event, sqs_record  # noqa: F401 - the tests' imports
from emulator.tap import EventTap
from emulator.triggers import stream

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_FILES = {
    "SMS Accepted": "sms-accepted.schema.json",
    "SMS Rejected": "sms-rejected.schema.json",
    "SMS Status Changed": "sms-status-changed.schema.json",
    "SMS Received": "sms-received.schema.json",
    "SMS Deferred": "sms-deferred.schema.json",
}


def assert_matches_schema(event: dict[str, Any]) -> None:
    """An event as a consumer gets it: our source, a documented detail-type, a detail that fits its schema."""
    import jsonschema

    assert event["source"] == "asanak.sms"
    schema = json.loads((SCHEMAS / SCHEMA_FILES[event["detail-type"]]).read_text())
    jsonschema.validate(event["detail"], schema, format_checker=jsonschema.FormatChecker())


CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class ActionLog:
    """Every AWS action each function's role was asked for (by logical id), as moto checked it."""

    def __init__(self) -> None:
        self.used: dict[str, set[str]] = defaultdict(set)
        self._lock = threading.Lock()

    def install(self, monkeypatch: Any) -> None:
        """Record each request moto authorises (its server runs in this process, on a thread)."""
        from moto.iam.access_control import IAMRequestBase

        check = IAMRequestBase.check_action_permitted
        log = self

        def recorded(request: Any, resource: str) -> None:
            # emulator.iam assumes each role with the function's logical id as the session name.
            logical = getattr(request._access_key, "_session_name", None)
            if logical in FUNCTIONS.values():
                with log._lock:
                    log.used[logical].add(request._action)
            check(request, resource)

        monkeypatch.setattr(IAMRequestBase, "check_action_permitted", recorded)

    def merge(self, used: dict[str, list[str]]) -> None:
        for logical, actions in used.items():
            self.used[logical].update(actions)

    def as_json(self) -> dict[str, list[str]]:
        return {logical: sorted(actions) for logical, actions in self.used.items()}


ACTIONS = ActionLog()


class Harness:
    """One provisioned stack on moto, with helpers to read what the functions did."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.stack = deployment.stack
        self.endpoint = deployment.endpoint
        self.admin = deployment.admin
        self.function_credentials = deployment.credentials
        self.session = deployment.session
        self.tap = EventTap(self.client("sqs"), self.client("events"), self.bus_name)
        # The outbox: the table's stream drives the publish function as Lambda's mapping would.
        self.publish_failures: list[dict[str, Any]] = []
        self.stream = stream.from_template(
            self.stack, self.client, self._publish, on_failure=self.publish_failures.append
        )
        # The function whose credentials built what the layer has cached, and that cache as it was
        # when its last invocation ended: a warm start keeps it, anything else rebuilds it.
        self._warm: tuple[str, tuple[Any, ...]] | None = None

    def handler(self, name: str, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        """``handler`` as the function ``name`` runs on Lambda: with its role's credentials only."""

        @functools.wraps(handler)
        def invoke(event: Any, context: Any) -> Any:
            with self.running_as(FUNCTIONS[name]):
                return handler(event, context)

        return invoke

    @contextlib.contextmanager
    def running_as(self, logical: str) -> Iterator[None]:
        """The function's credentials in the environment while the block runs, every layer client
        built with them (a warm start of the same function keeps its clients); the administrator's
        again after it."""
        before = {name: os.environ.get(name) for name in CREDENTIAL_VARIABLES}
        os.environ.update(self.function_credentials[logical])
        if self._warm is None or self._warm != (logical, gateway.warm_state()):
            gateway.forget_connections()
        try:
            yield
        finally:
            self._warm = (logical, gateway.warm_state())
            for name, value in before.items():
                set_variable(name, value)

    def client(self, service: str) -> Any:
        return self.deployment.client(service)

    @staticmethod
    def _publish(event: dict[str, Any]) -> dict[str, Any]:
        return importlib.import_module("functions.publish.app").lambda_handler(event, LambdaContext())

    @property
    def table_name(self) -> str:
        return self.stack.physical["MessagesTable"]

    @property
    def bus_name(self) -> str:
        return self.stack.physical["EventBus"]

    @property
    def secret_arn(self) -> str:
        return self.stack.physical["AsanakSecret"]

    @property
    def inbound_token(self) -> str:
        return self.stack.secret_values["InboundSecret"]["inbound_token"]

    def environment(self) -> dict[str, str]:
        return self.deployment.functions_env()

    def events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        """Every event published so far (cumulative), optionally of one detail-type.

        Each event is checked against its JSON Schema in ``schemas/``: every test that looks at events
        is also a contract test. What the functions stored so far is published first (the stream).
        """
        self.stream.pump()
        for event in self.tap.drain():
            assert_matches_schema(event)
        return [e for e in self.tap.seen if detail_type is None or e["detail-type"] == detail_type]

    def details(self, detail_type: str) -> list[dict[str, Any]]:
        return [event["detail"] for event in self.events(detail_type)]

    def put_secret(self, logical: str = "AsanakSecret", **values: str) -> None:
        """The operator changes keys of one secret (by default the Asanak credentials)."""
        secret = dict(self.stack.secret_values[logical])
        secret.update(values)
        self.client("secretsmanager").put_secret_value(
            SecretId=self.stack.physical[logical], SecretString=json.dumps(secret)
        )
        self.stack.secret_values[logical] = secret

    def items(self, prefix: str = "") -> list[dict[str, Any]]:
        """Every table item whose pk starts with ``prefix`` (a scan: tests only)."""
        paginator = self.client("dynamodb").get_paginator("scan")
        found = []
        for page in paginator.paginate(TableName=self.table_name):
            for item in page["Items"]:
                if item["pk"]["S"].startswith(prefix):
                    found.append(item)
        return found
