"""The Asanak adapter of the :class:`~sms_gateway.domain.ports.SmsProvider` port: the REST client fed
with credentials from the secret, its errors turned into the domain's
:class:`~sms_gateway.domain.provider_failures.ProviderFailure` (:func:`classify`, the one place).

On a credentials refusal the secret is re-read once (bypassing the cache); if it changed, the call is
made again with the new credentials — so rotating the password in Secrets Manager just works. A 401
means the provider did nothing, so repeating the call cannot send twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TypeVar

import urllib3
from asanak.batching import MAX_BATCH
from asanak.client import API_V2, AsanakClient, P2PMessage, api_of
from asanak.errors import (
    AmbiguousError,
    AsanakError,
    BlockedError,
    CredentialsError,
    RejectedError,
    RetryableError,
)
from asanak.statuses import MessageStatus
from asanak.templates import Template

from sms_gateway.adapters.secrets import Credentials, SecretCredentials
from sms_gateway.domain.model import Outgoing
from sms_gateway.domain.ports import SmsProvider
from sms_gateway.domain.provider_failures import FailureKind, ProviderFailure

T = TypeVar("T")

# Refusals that an operator fixes (top up credit, activate the sender): nothing was sent; the request
# is kept and retried, never dropped.
ACCOUNT_REASONS = frozenset({"inactive_sender", "out_of_credit"})
# Refusals that say "not now" (tomorrow's limit, the advertising hours): nothing was sent; the request
# waits for the window (deferred).
DEFERRED_REASONS = frozenset({"daily_limit", "outside_hours"})

_REASON_KINDS = {
    **dict.fromkeys(ACCOUNT_REASONS, FailureKind.ACCOUNT),
    **dict.fromkeys(DEFERRED_REASONS, FailureKind.DEFERRED),
}

_KINDS: tuple[tuple[type[AsanakError], FailureKind], ...] = (
    (AmbiguousError, FailureKind.AMBIGUOUS),
    (BlockedError, FailureKind.BLOCKED),
    (RetryableError, FailureKind.UNAVAILABLE),
)


def classify(error: BaseException) -> ProviderFailure:
    """What a failed call means (the table in :mod:`sms_gateway.domain.provider_failures`)."""
    if not isinstance(error, AsanakError):
        return ProviderFailure.internal(error)
    if isinstance(error, CredentialsError):  # a RejectedError too: asked first
        return ProviderFailure(FailureKind.CREDENTIALS, error, reason="credentials")
    if isinstance(error, RejectedError):
        kind = _REASON_KINDS.get(error.reason or "", FailureKind.REJECTED)
        named = error.destinations if kind is FailureKind.REJECTED else ()
        return ProviderFailure(kind, error, reason=error.reason, destinations=named)
    for cls, kind in _KINDS:
        if isinstance(error, cls):
            return ProviderFailure(kind, error)
    return ProviderFailure(FailureKind.AMBIGUOUS, error)  # a future error class: never re-send


class AsanakProvider(SmsProvider):
    max_batch = MAX_BATCH

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
        """``action`` on the client; an Asanak error raised as the domain's ProviderFailure (any
        other error, the secret unreadable, say, is passed on: the service counts it ``internal``)."""
        try:
            return self._call_with_rotation(action)
        except AsanakError as error:
            raise classify(error) from error

    def _call_with_rotation(self, action: Callable[[AsanakClient], T]) -> T:
        creds = self._credentials.get()
        try:
            return action(self._client(creds))
        except CredentialsError:
            fresh = self._credentials.refresh()
            if fresh == creds:
                raise
            return action(self._client(fresh))

    def send(
        self, source: str, destinations: Sequence[str], text: str, *, to_blacklisted: bool = False
    ) -> list[str]:
        return self._call(
            lambda client: client.send_sms(source, destinations, text, to_blacklisted=to_blacklisted)
        )

    def status(self, msgids: Sequence[str]) -> list[MessageStatus]:
        return self._call(lambda client: client.msg_status(msgids))

    def credit(self) -> Decimal:
        return self._call(lambda client: client.get_credit())

    @property
    def texts_per_recipient(self) -> bool:  # type: ignore[override]
        """On v2rest: p2psendsms sends a different text per recipient in one call."""
        return api_of(self._base_url) == API_V2

    def send_each(self, items: Sequence[Outgoing]) -> list[str]:
        messages = [P2PMessage(i.source, i.destination, i.text, i.to_blacklisted) for i in items]
        return self._call(lambda client: client.p2p_send(messages))

    @property
    def templates(self) -> bool:  # type: ignore[override]
        """On v2rest: approved templates (``template``, ``templatelist``)."""
        return api_of(self._base_url) == API_V2

    def send_template(self, destination: str, template_id: str, params: Mapping[str, str]) -> str:
        return self._call(lambda client: client.send_template(template_id, destination, params))

    def template_list(self) -> list[Template]:
        return self._call(lambda client: client.template_list())

    def rial_credit(self) -> Decimal | None:
        if api_of(self._base_url) != API_V2:
            return None  # v1rest has no getrialcredit
        return self._call(lambda client: client.get_rial_credit())
