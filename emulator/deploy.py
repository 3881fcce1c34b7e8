"""The stack from ``template.yaml`` on a moto server, and the environment each function gets.

:func:`deploy` provisions the template's resources, wired to an Asanak account (the sandbox's or the
real one). With ``iam`` (the default) moto checks IAM: the deployment's own calls act as an
administrator, and each function gets the credentials of its own template role
(:mod:`emulator.iam`), as Lambda puts them in its environment. Without it (the benchmarks, which
measure the functions' own cost) every call is allowed.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from typing import Any

import boto3

from emulator.iam import FUNCTIONS, enforce, function_credentials
from emulator.template import Stack, provision

REGION = "eu-west-1"
# Keys for an emulation that does not check IAM (any signature is accepted then).
UNCHECKED = {"aws_access_key_id": "emulation", "aws_secret_access_key": "emulation"}
# What Lambda's runtime gives every function, and what Powertools needs outside Lambda.
RUNTIME_ENV = {"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "AsanakSms"}


@dataclass(frozen=True)
class Asanak:
    """The Asanak account the stack is wired to."""

    base_url: str
    username: str
    password: str
    sender: str


@dataclass
class Deployment:
    """A provisioned stack on one moto server, its administrator and its functions' credentials."""

    stack: Stack
    endpoint: str
    admin: dict[str, str]  # aws_access_key_id / aws_secret_access_key
    credentials: dict[str, dict[str, str]]  # by the function's logical id (empty: IAM not checked)

    @functools.cached_property
    def session(self) -> Any:
        """The administrator's boto3 session."""
        return boto3.Session(region_name=self.stack.region, **self.admin)

    def client(self, service: str) -> Any:
        """An administrator's client (what AWS itself and the operator do)."""
        return self.session.client(service, endpoint_url=self.endpoint)

    def function_env(self, logical: str) -> dict[str, str]:
        """The function's variables from the template and its role's credentials."""
        return {**self.stack.function_env(logical), **self.credentials.get(logical, {})}

    def functions_env(self) -> dict[str, str]:
        """Every function's template variables in one mapping (for handlers run in one process)."""
        merged: dict[str, str] = {}
        for logical in FUNCTIONS.values():
            merged.update(self.stack.function_env(logical))
        return merged

    def process_env(self) -> dict[str, str | None]:
        """What this process needs to act on the emulation as its administrator (``None``: unset)."""
        stale = {name: None for name in os.environ if name.startswith("AWS_ENDPOINT_URL")}
        return {
            **stale,
            "AWS_SESSION_TOKEN": None,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": self.stack.region,
            "AWS_ACCESS_KEY_ID": self.admin["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": self.admin["aws_secret_access_key"],
            **RUNTIME_ENV,
        }

    def physical(self, logical: str) -> str:
        return self.stack.physical[logical]


def deploy(
    endpoint: str,
    asanak: Asanak,
    *,
    stack_name: str,
    iam: bool = True,
    roles: dict[str, dict[str, Any]] | None = None,
    region: str = REGION,
) -> Deployment:
    """Provision ``template.yaml`` on the moto server at ``endpoint`` (reset, when ``iam``: moto's
    access control is switched on here), wired to ``asanak``. ``roles`` replaces the template's role
    policy of some functions (by logical id)."""
    admin = enforce(boto3.Session(region_name=region), endpoint) if iam else dict(UNCHECKED)
    session = boto3.Session(region_name=region, **admin)
    secret = {"username": asanak.username, "password": asanak.password}
    stack = provision(
        session,
        stack_name=stack_name,
        endpoint_url=endpoint,
        overrides={
            "AsanakBaseUrl": asanak.base_url,
            "DefaultSender": asanak.sender,
            "AsanakSecret.value": json.dumps(secret),
        },
    )
    credentials = function_credentials(session, stack, endpoint, roles=roles) if iam else {}
    return Deployment(stack, endpoint, admin, credentials)
