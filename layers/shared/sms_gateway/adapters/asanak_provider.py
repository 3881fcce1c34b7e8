"""The Asanak adapter: the REST client fed with credentials from the secret.

On a credentials refusal the secret is re-read once (bypassing the cache); if it changed, the call is
made again with the new credentials — so rotating the password in Secrets Manager just works. A 401
means the provider did nothing, so repeating the call cannot send twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Protocol, TypeVar

import urllib3
from asanak.client import AsanakClient
from asanak.errors import CredentialsError

from sms_gateway.adapters.secrets import Credentials, SecretCredentials

T = TypeVar("T")


class SmsProvider(Protocol):
    def send(self, source: str, destinations: Sequence[str], text: str) -> list[str]: ...

    def status(self, msgids: Sequence[str]) -> list: ...

    def credit(self) -> Decimal: ...


class AsanakProvider:
    def __init__(
        self,
        credentials: SecretCredentials,
        *,
        base_url: str,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int = 10,
    ) -> None:
        self._credentials = credentials
        self._base_url = base_url
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool_size = pool_size
        self._clients: dict[tuple[str, str], AsanakClient] = {}
        self._lock = threading.Lock()

    def _client(self, creds: Credentials) -> AsanakClient:
        key = (creds.username, creds.password)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                for stale in self._clients.values():
                    stale.close()
                self._clients.clear()
                pool = urllib3.PoolManager(maxsize=self._pool_size, retries=False)
                client = AsanakClient(
                    self._base_url,
                    creds.username,
                    creds.password,
                    connect_timeout=self._connect_timeout,
                    read_timeout=self._read_timeout,
                    pool=pool,
                )
                self._clients[key] = client
            return client

    def _call(self, action: Callable[[AsanakClient], T]) -> T:
        creds = self._credentials.get()
        try:
            return action(self._client(creds))
        except CredentialsError:
            fresh = self._credentials.refresh()
            if fresh == creds:
                raise
            return action(self._client(fresh))

    def send(self, source: str, destinations: Sequence[str], text: str) -> list[str]:
        return self._call(lambda client: client.send_sms(source, destinations, text))

    def status(self, msgids: Sequence[str]) -> list:
        return self._call(lambda client: client.msg_status(msgids))

    def credit(self) -> Decimal:
        return self._call(lambda client: client.get_credit())
