"""Fixtures shared by every tier: moto's server, the stack from template.yaml, the Asanak sandbox.

Every server is started by the tests on 127.0.0.1 and stopped after. Each pytest-xdist worker runs
its own moto server; each test gets a reset emulation with freshly provisioned resources.
"""

from __future__ import annotations

import logging
import os
import urllib.request
import uuid
from collections.abc import Iterator

import boto3
import pytest

from tests.harness import Harness, LambdaContext

# Test-process defaults that Lambda would get from the runtime. Set before any handler import.
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AsanakSms")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_DEV", "false")

# moto's server logs every request at INFO; pytest would capture and format each one.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

SANDBOX_USER = "gateway-user"
SANDBOX_PASSWORD = "s3cret-Pa55word-never-logged"
SANDBOX_SENDER = "982164063188"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def asanak() -> Iterator[object]:
    """The Asanak sandbox over real HTTP, with one account and sender."""
    from asanak_sandbox import AsanakSandbox

    with AsanakSandbox(
        username=SANDBOX_USER, password=SANDBOX_PASSWORD, senders=(SANDBOX_SENDER,)
    ) as sandbox:
        yield sandbox


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def stack(moto_endpoint: str, asanak: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """A fresh stack from template.yaml on moto, wired to the sandbox; function env set as Lambda's."""
    from sms_gateway import factories

    from local_stack.template import provision

    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    session = boto3.Session(region_name="eu-west-1")
    secret = {"username": SANDBOX_USER, "password": SANDBOX_PASSWORD}
    import json

    stack = provision(
        session,
        stack_name=f"t{uuid.uuid4().hex[:8]}",
        overrides={
            "AsanakBaseUrl": asanak.base_url,  # type: ignore[attr-defined]
            "DefaultSender": SANDBOX_SENDER,
            "AsanakSecret.value": json.dumps(secret),
        },
    )
    harness = Harness(stack, moto_endpoint)
    for name, value in harness.environment().items():
        monkeypatch.setenv(name, value)
    # Fast tests: a short read timeout so "slower than the timeout" cases take a fraction of a second.
    monkeypatch.setenv("ASANAK_READ_TIMEOUT", "1.0")
    factories.reset()
    yield harness
    factories.reset()
