"""The whole stack on one machine, until stopped: moto's server, the Asanak sandbox and the four real
functions, composed from :mod:`emulator`.

Everything binds 127.0.0.1. Each function runs in processes of its own with its environment from the
template and the credentials of its own role (moto checks IAM), driven the way Lambda drives it:
send by the SQS event source mapping (failed records back after the visibility timeout, or
``retry_after`` for quick local runs), poll by the template's schedule (or every ``poll_every``
seconds), receive by the HTTP API, publish by the table's stream. What stands in for AWS itself acts
as an administrator, whose keys ``endpoints.json`` carries for producers and SDKs.

``speed`` runs time faster for the gateway and the sandbox alike (a demo watches a message go from
accepted to delivered in seconds, not minutes); 1.0 is real time.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.deploy import Asanak, Deployment, deploy
from emulator.environ import Environ
from emulator.functions import FunctionProcesses
from emulator.gateway import SimClock
from emulator.iam import FUNCTIONS
from emulator.moto_server import MotoProcess
from emulator.template import ROOT
from emulator.triggers import Loops, schedule, sqs, stream
from emulator.triggers.http_api import HttpApi, Route
from local_stack.endpoints import Endpoints

DEFAULT_SENDER = "982164063188"
SANDBOX_USER = "local-user"
SANDBOX_PASSWORD = "local-password"


@dataclass
class Options:
    aws_port: int = 4566  # 0: any free port (likewise the others)
    api_port: int = 3000
    sandbox_port: int = 8085
    speed: float = 1.0
    retry_after: float | None = None  # seconds before a failed SQS record comes back
    poll_every: float | None = None  # seconds between poll runs (default: the template's schedule)
    real_asanak: Asanak | None = None  # the real provider instead of the sandbox
    state_dir: Path = ROOT / ".local_stack"  # where endpoints.json is written
    sandbox_latency: float = 0.0
    log_level: str | None = None  # the functions' POWERTOOLS_LOG_LEVEL (default: the template's)
    log_file: Path | None = None  # where the functions' output goes (default: this terminal)
    api: str = "v1rest"  # the sandbox's API the stack is pointed at: v1rest or v2rest


class LocalStack:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.clock = SimClock(options.speed)
        self.sandbox: Any = None
        self.endpoints: Endpoints | None = None
        self.deployment: Deployment | None = None
        self._moto = MotoProcess(options.aws_port)
        self._environ = Environ()
        self._loops = Loops()
        self._functions: FunctionProcesses | None = None
        self._api: HttpApi | None = None

    def start(self) -> Endpoints:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request at INFO
        aws = self._moto.start()
        asanak = self.options.real_asanak or self._start_sandbox()
        region = os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")
        self.deployment = deploy(aws, asanak, stack_name="local", region=region)
        self._environ.apply(self.deployment.process_env())
        mapping = sqs.Mapping.from_template(self.deployment.stack)
        self._functions = FunctionProcesses(
            self.deployment.stack,
            {logical: self._environment(logical) for logical in FUNCTIONS.values()},
            self.clock.now,
            overlap={"send": mapping.concurrency, "receive": 2},
            log_file=self.options.log_file,
        )
        route = Route.from_template(self.deployment.stack)
        self._api = HttpApi(route, self._invoker("receive"), self.options.api_port)
        self.endpoints = self._endpoints(asanak)
        self._start_triggers(mapping)
        self.options.state_dir.mkdir(exist_ok=True)
        (self.options.state_dir / "endpoints.json").write_text(self.endpoints.to_json())
        return self.endpoints

    def stop(self) -> None:
        self._loops.stopping.set()
        if self._api is not None:
            self._api.stop()
        self._loops.stop()
        if self._functions is not None:
            self._functions.stop()
        if self.sandbox is not None:
            self.sandbox.stop()
        self._moto.stop()
        self._environ.restore()
        with contextlib.suppress(FileNotFoundError):
            (self.options.state_dir / "endpoints.json").unlink()

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        assert self._functions is not None
        return self._functions.invoke(name, event)

    def _start_sandbox(self) -> Asanak:
        from asanak_sandbox import AsanakSandbox

        self.sandbox = AsanakSandbox(
            username=SANDBOX_USER,
            password=SANDBOX_PASSWORD,
            senders=(DEFAULT_SENDER, "98300012345"),
            port=self.options.sandbox_port,
            clock_speed=self.options.speed,
            latency=self.options.sandbox_latency,
        ).start()
        sender = os.environ.get("DEFAULT_SENDER", DEFAULT_SENDER)
        base_url = self.sandbox.base_url_v2 if self.options.api == "v2rest" else self.sandbox.base_url
        return Asanak(base_url, SANDBOX_USER, SANDBOX_PASSWORD, sender)

    def _environment(self, logical: str) -> dict[str, str]:
        assert self.deployment is not None
        environment = self.deployment.function_env(logical)
        level = self.options.log_level
        if level:
            environment["POWERTOOLS_LOG_LEVEL"] = level
            if level != "INFO":
                environment["POWERTOOLS_METRICS_DISABLED"] = "true"  # no EMF lines on a quiet console
        return environment

    def _start_triggers(self, mapping: sqs.Mapping) -> None:
        assert self.deployment is not None
        deployment, loops = self.deployment, self._loops
        for index in range(mapping.concurrency):
            source = sqs.SqsEventSource(
                deployment.client("sqs"), mapping, self._invoker("send"), self.options.retry_after
            )
            loops.spawn(functools.partial(source.run, loops.stopping), f"sqs-poller-{index}")
        every = self.options.poll_every or schedule.interval(deployment.stack, self.options.speed)
        loops.every(every, self._tick, "schedule", what="poll run")
        outbox = stream.from_template(deployment.stack, deployment.client, self._invoker("publish"))
        loops.every(0.2, outbox.pump, "stream-poller", what="reading the table's stream")

    def _invoker(self, name: str) -> Callable[[dict[str, Any]], Any]:
        return functools.partial(self.invoke, name)

    def _tick(self) -> None:
        assert self.deployment is not None
        self.invoke("poll", schedule.scheduled_event(self.clock.now(), self.deployment.stack.region))

    def _endpoints(self, asanak: Asanak) -> Endpoints:
        assert self.deployment is not None and self._api is not None
        physical, admin = self.deployment.physical, self.deployment.admin
        token = self.deployment.stack.secret_values["InboundSecret"]["inbound_token"]
        return Endpoints(
            aws=self.deployment.endpoint,
            region=self.deployment.stack.region,
            queue_url=physical("SendQueue"),
            dlq_url=physical("SendDeadLetterQueue"),
            bus_name=physical("EventBus"),
            table_name=physical("MessagesTable"),
            secret_arn=physical("AsanakSecret"),
            api=self._api.url,
            inbound_url=f"{self._api.url}/inbound/{token}",
            asanak=asanak.base_url,
            sandbox=self.sandbox is not None,
            access_key_id=admin["aws_access_key_id"],
            secret_access_key=admin["aws_secret_access_key"],
        )
