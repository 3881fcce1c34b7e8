"""Fixtures shared by every tier: moto's server, the stack from template.yaml, the Asanak sandbox.

Every server is started by the tests on 127.0.0.1 and stopped after. Each pytest-xdist worker runs
its own moto server; each test gets a reset emulation with freshly provisioned resources.

moto checks IAM: the tests act as an administrator, and a test calling a function's
``app.lambda_handler`` runs it with that function's role from template.yaml only (the ``stack``
fixture installs the wrapper). The actions each role was asked for are collected over the whole run
(across pytest-xdist workers); a run of the whole integration tier fails if a role allows an action
its function never called (see ``emulator.iam.unused_permissions``).
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from emulator import gateway, moto_server
from emulator.deploy import Asanak, deploy
from emulator.iam import unused_permissions
from emulator.template import load_template
from tests.harness import ACTIONS, FUNCTIONS, Harness, LambdaContext

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


@pytest.fixture(scope="session", autouse=True)
def shared_service_models() -> Iterator[None]:
    """One botocore loader for every session of this process: each test builds clients from fresh
    sessions (its administrator, each function's credentials), and each fresh session would otherwise
    parse the service models again (most of a test's setup time)."""
    import botocore.loaders
    import botocore.session

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(
            botocore.session, "create_loader", functools.cache(botocore.loaders.create_loader)
        )
        yield


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = moto_server.MotoThread()
    endpoint = server.start()
    with pytest.MonkeyPatch.context() as monkeypatch:
        ACTIONS.install(monkeypatch)
        yield endpoint
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
def roles() -> dict[str, dict[str, Any]]:
    """Role policies to use instead of the template's, by the function's logical id (none: the
    template's). A test overrides this fixture to run a function with another role."""
    return {}


@pytest.fixture
def asanak_api() -> str:
    """The API the stack's AsanakBaseUrl names: ``v1rest`` (the default) or ``v2rest``; a test
    parametrizes this fixture to run on the other."""
    return "v1rest"


@pytest.fixture
def stack(
    moto_endpoint: str,
    asanak: object,
    asanak_api: str,
    monkeypatch: pytest.MonkeyPatch,
    roles: dict[str, dict[str, Any]],
) -> Iterator[Harness]:
    """A fresh stack from template.yaml on moto, wired to the sandbox; function env set as Lambda's,
    each handler running with its own role."""
    moto_server.reset(moto_endpoint)
    base_url = asanak.base_url_v2 if asanak_api == "v2rest" else asanak.base_url  # type: ignore[attr-defined]
    account = Asanak(base_url, SANDBOX_USER, SANDBOX_PASSWORD, SANDBOX_SENDER)
    deployment = deploy(moto_endpoint, account, stack_name=f"t{uuid.uuid4().hex[:8]}", roles=roles)
    # Between invocations the process acts as the administrator (test code, seeding, reading).
    for name, value in deployment.process_env().items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    harness = Harness(deployment)
    for name, value in harness.environment().items():
        monkeypatch.setenv(name, value)
    for name in FUNCTIONS:
        module = importlib.import_module(f"functions.{name}.app")
        monkeypatch.setattr(module, "lambda_handler", harness.handler(name, module.lambda_handler))
    # Fast tests: a short read timeout so "slower than the timeout" cases take a fraction of a second.
    monkeypatch.setenv("ASANAK_READ_TIMEOUT", "1.0")
    gateway.forget_services()
    yield harness
    gateway.forget_services()


# -- least privilege over the whole run -------------------------------------------------------------------
INTEGRATION = Path(__file__).resolve().parent / "integration"


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        items[0].config.stash[_PARTIAL] = True


_PARTIAL = pytest.StashKey[bool]()
_PROBLEMS = pytest.StashKey[list[str]]()


def _whole_integration_tier(session: pytest.Session) -> bool:
    """Whether this process ran every integration test (otherwise unused actions prove nothing)."""
    if session.config.stash.get(_PARTIAL, False) or any("::" in arg for arg in session.config.args):
        return False
    modules = {Path(str(item.path)) for item in session.items}
    return set(INTEGRATION.glob("test_*.py")) <= modules


def pytest_testnodedown(node: Any, error: Any) -> None:
    """(pytest-xdist, controller) Merge what a worker saw."""
    output = getattr(node, "workeroutput", {})
    ACTIONS.merge(json.loads(output.get("iam_actions", "{}")))
    if not output.get("iam_whole_tier", False):
        node.config.stash[_PARTIAL] = True


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand what it saw to the controller
        workeroutput["iam_actions"] = json.dumps(ACTIONS.as_json())
        workeroutput["iam_whole_tier"] = _whole_integration_tier(session)
        return
    distributed = config.pluginmanager.hasplugin("dsession")
    if distributed:
        complete = not config.stash.get(_PARTIAL, False) and bool(ACTIONS.used)
    else:
        complete = _whole_integration_tier(session)
    if not complete or session.testsfailed:
        return
    problems = unused_permissions(load_template(), ACTIONS.as_json())
    if problems:
        config.stash[_PROBLEMS] = problems
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    problems = config.stash.get(_PROBLEMS, [])
    if problems:
        terminalreporter.section("least privilege: permissions no function used", red=True)
        for line in problems:
            terminalreporter.line(line, red=True)
