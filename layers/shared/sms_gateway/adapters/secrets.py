"""The secrets adapter: the Asanak credentials and the inbound token, each from its own secret (JSON).

- ``AsanakSecret`` holds ``{"username", "password"}`` and is read by send and poll only
  (:class:`SecretCredentials`).
- ``InboundSecret`` holds ``{"inbound_token"}`` and is read by receive only (:class:`InboundToken`).

Values are read through Powertools parameters with a cache (``max_age``); :meth:`SecretCredentials.refresh`
forces a re-read, which is how a rotated password is picked up after the provider refuses the old one.
Errors leave this module as domain errors only: :class:`SecretUnavailable` when Secrets Manager cannot
be read (outage, throttling, access denied), :class:`~sms_gateway.domain.errors.SecretError` when the
value is malformed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sms_gateway.domain.errors import SecretError

CREDENTIAL_KEYS = ("username", "password")
INBOUND_KEYS = ("inbound_token",)


class SecretUnavailable(SecretError):
    """Secrets Manager could not be read: an outage, throttling or a denied call. Retry later."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


def _default_fetch(secret_id: str, max_age: int, force_fetch: bool) -> Any:
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.exceptions import (
        GetParameterError,
        GetSecretError,
        TransformParameterError,
    )

    try:
        return parameters.get_secret(secret_id, transform="json", max_age=max_age, force_fetch=force_fetch)
    except TransformParameterError as exc:
        raise SecretError(f"secret {secret_id} is not valid JSON") from exc
    except (GetParameterError, GetSecretError) as exc:  # Powertools wraps every client and botocore error
        raise SecretUnavailable(f"could not read secret {secret_id}: {exc}") from exc


class JsonSecret:
    """One JSON secret whose ``keys`` must all hold non-blank values."""

    def __init__(
        self,
        secret_id: str,
        max_age: int,
        keys: tuple[str, ...],
        fetch: Callable[[str, int, bool], Any] = _default_fetch,
    ) -> None:
        self._secret_id = secret_id
        self._max_age = max_age
        self._keys = keys
        self._fetch = fetch
        self._lock = threading.Lock()

    def read(self, *, force: bool = False) -> dict[str, str]:
        with self._lock:
            value = self._fetch(self._secret_id, self._max_age, force)
        if not isinstance(value, dict):
            raise SecretError(f"secret {self._secret_id} is not a JSON object")
        missing = [key for key in self._keys if not str(value.get(key) or "").strip()]
        if missing:
            raise SecretError(f"secret {self._secret_id} lacks a value for: {', '.join(missing)}")
        return {key: str(value[key]) for key in self._keys}


class SecretCredentials:
    """The Asanak web-service credentials (``AsanakSecret``)."""

    def __init__(
        self,
        secret_id: str,
        max_age: int,
        fetch: Callable[[str, int, bool], Any] = _default_fetch,
    ) -> None:
        self._secret = JsonSecret(secret_id, max_age, CREDENTIAL_KEYS, fetch)

    def get(self) -> Credentials:
        return Credentials(**self._secret.read())

    def refresh(self) -> Credentials:
        return Credentials(**self._secret.read(force=True))


class InboundToken:
    """The token of the inbound URL (``InboundSecret``)."""

    def __init__(
        self,
        secret_id: str,
        max_age: int,
        fetch: Callable[[str, int, bool], Any] = _default_fetch,
    ) -> None:
        self._secret = JsonSecret(secret_id, max_age, INBOUND_KEYS, fetch)

    def get(self) -> str:
        return self._secret.read()["inbound_token"]
