"""The sandbox as the caller: Asanak pushing an inbound SMS to the gateway's receive URL.

Asanak sends one GET with the fields in the query string, and its encoding varies (``%20`` or
``+`` for spaces, the text sometimes encoded twice), so each variant can be asked for.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True, kw_only=True)
class InboundPush:
    """One inbound SMS to push to ``url``; ``receive_time`` is Tehran wall-clock time, as sent."""

    url: str
    source: str
    destination: str
    text: str
    receive_time: str
    param_name: str = "Msg Body"
    space: str = "%20"
    double_encode: bool = False

    def _encode(self, value: str) -> str:
        return quote(value, safe="").replace("%20", self.space)

    def target(self) -> str:
        """``{url}?Destination=…&Source=…&ReceiveTime=…&Msg%20Body=…``."""
        body = self._encode(self.text)
        if self.double_encode:
            body = quote(body, safe="")
        query = "&".join(
            (
                f"Destination={self._encode(self.destination)}",
                f"Source={self._encode(self.source)}",
                f"ReceiveTime={self._encode(self.receive_time)}",
                f"{self._encode(self.param_name)}={body}",
            )
        )
        return f"{self.url}{'&' if '?' in self.url else '?'}{query}"


def push(inbound: InboundPush) -> int:
    """GET the push's target, never through a proxy; the HTTP status of the receiver's answer."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(inbound.target(), method="GET"), timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
