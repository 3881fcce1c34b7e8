"""Asanak credentials and the inbound token, from one Secrets Manager secret (JSON).

The secret holds ``{"username", "password", "inbound_token"}``. Values are read through Powertools
parameters with a cache (``max_age``); :meth:`SecretCredentials.refresh` forces a re-read, which is how
a rotated password is picked up after the provider refuses the old one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REQUIRED_KEYS = ("username", "password", "inbound_token")


class SecretError(RuntimeError):
    """The secret is missing a key or is not a JSON object (values are never included)."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    inbound_token: str = field(repr=False)


def _default_fetch(secret_id: str, max_age: int, force_fetch: bool) -> Any:
    from aws_lambda_powertools.utilities import parameters

    return parameters.get_secret(secret_id, transform="json", max_age=max_age, force_fetch=force_fetch)


class SecretCredentials:
    def __init__(
        self,
        secret_id: str,
        max_age: int,
        fetch: Callable[[str, int, bool], Any] = _default_fetch,
    ) -> None:
        self._secret_id = secret_id
        self._max_age = max_age
        self._fetch = fetch
        self._lock = threading.Lock()

    def get(self) -> Credentials:
        return self._load(force=False)

    def refresh(self) -> Credentials:
        return self._load(force=True)

    def _load(self, *, force: bool) -> Credentials:
        with self._lock:
            value = self._fetch(self._secret_id, self._max_age, force)
        if not isinstance(value, dict):
            raise SecretError(f"secret {self._secret_id} is not a JSON object")
        missing = [key for key in REQUIRED_KEYS if not str(value.get(key) or "").strip()]
        if missing:
            raise SecretError(f"secret {self._secret_id} lacks a value for: {', '.join(missing)}")
        return Credentials(
            username=str(value["username"]),
            password=str(value["password"]),
            inbound_token=str(value["inbound_token"]),
        )
