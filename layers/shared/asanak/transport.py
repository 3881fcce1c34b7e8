"""One HTTP exchange with the web service: the form (or query string) with the account's credentials,
urllib3 with its retries off, and what a failure of the exchange itself means.

The password never leaves the request: errors and urllib3's own debug lines are scrubbed of it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, SSLError

from asanak import _parse
from asanak.answers import SENDING, classify_answer
from asanak.errors import AmbiguousError, AsanakError, RetryableError, scrub

USER_AGENT = "asanak-sms-gateway/0.1"
_FORM = "application/x-www-form-urlencoded"

_log = logging.getLogger("asanak")


class _ScrubUrllib3Log(logging.Filter):
    """Masks ``username=``/``password=`` in urllib3's own debug lines (they show GET URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        return True


_filter_lock = threading.Lock()


def _install_urllib3_log_filter() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    with _filter_lock:
        if not any(isinstance(existing, _ScrubUrllib3Log) for existing in logger.filters):
            logger.addFilter(_ScrubUrllib3Log())


class Transport:
    """Calls ``<base_url>/<method>`` of one account; a 2xx answer is returned as (status, text), any
    other answer or a failed exchange is raised as the :class:`~asanak.errors.AsanakError` it means."""

    def __init__(
        self,
        base_url: str,
        credentials: tuple[str, str],
        *,
        http_method: str,
        accept: str,
        timeout: urllib3.Timeout,
        pool: urllib3.PoolManager | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._username, self._password = credentials
        self.http_method = http_method
        self.accept = accept
        self._timeout = timeout
        self._owns_pool = pool is None
        self._pool = pool if pool is not None else urllib3.PoolManager(maxsize=10, retries=False)
        _install_urllib3_log_filter()

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._password,)

    def close(self) -> None:
        """Close the pooled connections (only when the transport made the pool itself)."""
        if self._owns_pool:
            self._pool.clear()

    def call(self, method: str, params: dict[str, str]) -> tuple[int, str]:
        """v1rest: POST (form) or GET (query string) one method; returns (status, body) of a 2xx
        answer, raises AsanakError otherwise."""
        fields = {"username": self._username, "password": self._password, **params}
        encoded = urlencode(fields, quote_via=quote)  # UTF-8, spaces as %20
        url = f"{self.base_url}/{method}"
        if self.http_method == "GET":
            return self._exchange(method, f"{url}?{encoded}", None, {})
        return self._exchange(method, url, encoded.encode("ascii"), {"Content-Type": _FORM})

    def call_json(self, method: str, fields: dict[str, Any]) -> tuple[int, str]:
        """v2rest: POST one method with a JSON body carrying the credentials; as :meth:`call`."""
        body = json.dumps({"username": self._username, "password": self._password, **fields})
        headers = {"Content-Type": "application/json"}
        return self._exchange(method, f"{self.base_url}/{method}", body.encode("utf-8"), headers)

    def _exchange(
        self, method: str, url: str, body: bytes | None, extra_headers: dict[str, str]
    ) -> tuple[int, str]:
        headers = {"User-Agent": USER_AGENT, **extra_headers}
        if self.accept:
            headers["Accept"] = self.accept
        http_method = "GET" if body is None else "POST"
        started = time.monotonic()
        try:
            response = self._pool.request(
                http_method,
                url,
                body=body,
                headers=headers,
                timeout=self._timeout,
                retries=False,
                redirect=False,
            )
        except HTTPError as exc:
            # Built here, raised outside the except block: the urllib3 exception (whose .url may
            # hold the password of a GET) must not ride along as __context__.
            error = self._transport_error(method, exc)
        else:
            elapsed_ms = (time.monotonic() - started) * 1000
            _log.debug("asanak %s %s -> HTTP %s in %.0f ms", http_method, method, response.status, elapsed_ms)
            text = _parse.decode_body(response.data, response.headers.get("Content-Type"))
            if 200 <= response.status < 300:
                return response.status, text
            error = classify_answer(method, response.status, text, self.secrets)
        _log.debug("asanak %s %s failed: %s", http_method, method, type(error).__name__)
        raise error

    def _transport_error(self, method: str, exc: HTTPError) -> AsanakError:
        detail = scrub(f"{type(exc).__name__}: {exc}", (self._password,))
        if _never_connected(exc):
            return RetryableError(f"could not connect: {detail}", method=method)
        if method in SENDING:
            return AmbiguousError(
                f"request sent but no answer, the SMS may be queued: {detail}", method=method
            )
        return RetryableError(f"no answer: {detail}", method=method)


def _never_connected(exc: BaseException) -> bool:
    """Whether the request certainly never left: the connection (or TLS verification) failed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NewConnectionError | ConnectTimeoutError):
            return True
        if isinstance(current, SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        current = current.__cause__ or current.__context__ or getattr(current, "original_error", None)
    return False
