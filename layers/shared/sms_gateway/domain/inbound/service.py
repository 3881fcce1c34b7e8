"""Receiving: one SMS pushed by Asanak (an unsigned GET), checked, stored once (and so published once).

Asanak signs nothing, so the URL is the secret: ``/inbound/<token>``, where the token is compared in
constant time with ``inbound_token`` from the secret. The token is never logged, stored or published.

What happens to one push, in order (the first failing check answers; nothing is stored before step 5):

1. **Size.** A query string or body longer than :data:`MAX_REQUEST_BYTES` is refused
   (:class:`RequestTooLarge`) before anything is parsed or any secret read.
2. **Source.** When an allow-list of CIDRs is configured, the caller's address must be in it
   (:class:`Forbidden`).
3. **Token.** Constant-time comparison with the secret's token (:class:`Forbidden`).
4. **Parse.** The parameters are read from the raw query string when there is one (the only place
   where ``Msg Body`` vs ``MsgBody``, ``+`` vs ``%20`` and double encoding can be seen), else from the
   already-decoded parameters; :func:`asanak.inbound.parse_inbound` raises ``InboundParseError``.
5. **Opt-out / opt-in.** A text that is an opt-out keyword stores the sender on the opt-out list (the
   send path then rejects sends to it with ``opted_out``); an opt-in keyword reverses it. The latest
   instruction by the SMS's receive time wins, whatever order the pushes arrive in: the opt-in is
   stored as a tombstone with its time (not a delete), so an older opt-out arriving late is ignored.
   Both are idempotent.
6. **Store once.** The push key is derived from the push itself (:func:`push_key`): a retried push has
   the same key. The item is created with a conditional write; its creation reaches the table's
   stream, from which the publish function sends ``SMS Received``
   (:mod:`sms_gateway.domain.publishing.outbox`).

A push whose key is already stored does nothing more. If an attempt died before step 6, Asanak's retry
(it got no 200) runs both steps again. Events are at least once, like EventBridge itself: consumers
deduplicate on ``event_id`` (or ``inbound_id``). Nothing links a reply to a message we sent (the push
carries no msgid), so the event does not invent such a link.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from asanak.inbound import InboundSms, parse_inbound, parse_query
from asanak.numbers import to_ascii_digits

from sms_gateway.domain.errors import Forbidden, RequestTooLarge
from sms_gateway.domain.model import InboundRecord
from sms_gateway.domain.ports import InboundStore, Metrics, NoMetrics

logger = logging.getLogger("sms_gateway.receive")

MAX_REQUEST_BYTES = 10 * 1024  # API Gateway's own limit on the request line and headers
PUSH_KEY_LENGTH = 32  # hex characters of the SHA-256 (128 bits)

Keyword = Literal["opt_out", "opt_in"]
OPT_OUT: Keyword = "opt_out"
OPT_IN: Keyword = "opt_in"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Arabic letters that Persian keyboards and phones use interchangeably with the Persian ones.
_PERSIAN_LETTERS = str.maketrans({"\u064a": "\u06cc", "\u0649": "\u06cc", "\u0643": "\u06a9"})
_TATWEEL = "\u0640"  # kashida, stretches a word without changing it
_EDGE_PUNCTUATION = ".,;:!?-_'\"()[]«»؟،؛…*"


# -- the request, as the domain sees it (no Lambda event shapes here) --------------------------------
@dataclass(frozen=True)
class InboundRequest:
    token: str = field(repr=False)
    source_ip: str
    raw_query: str | None
    query: Mapping[str, str] | None
    body: str | None = None
    body_is_base64: bool = False


@dataclass(frozen=True)
class Receipt:
    """What became of one push."""

    inbound_id: str
    duplicate: bool
    keyword: Keyword | None


# -- pure functions ----------------------------------------------------------------------------------
def check_size(raw_query: str | None, body: str | None, *, body_is_base64: bool = False) -> None:
    """Raise :class:`RequestTooLarge` when the query or the body exceeds :data:`MAX_REQUEST_BYTES`."""
    if raw_query is not None and len(raw_query.encode("utf-8", "replace")) > MAX_REQUEST_BYTES:
        raise RequestTooLarge(f"query string of {len(raw_query)} characters")
    if body:
        size = len(body) * 3 // 4 if body_is_base64 else len(body.encode("utf-8", "replace"))
        if size > MAX_REQUEST_BYTES:
            raise RequestTooLarge(f"body of about {size} bytes")


def source_allowed(source_ip: str, networks: Collection[Network]) -> bool:
    """True when no allow-list is set, or ``source_ip`` (``a.b.c.d`` or ``a.b.c.d/32``) is in it."""
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(source_ip.split("/", 1)[0].strip())
    except ValueError:
        return False
    return any(address in network for network in networks)


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison (on UTF-8 bytes, so a non-ASCII path cannot raise)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def read_params(raw_query: str | None, query: Mapping[str, str] | None) -> dict[str, str]:
    """The push's parameters: from the raw query string when present, else the decoded mapping."""
    if raw_query:
        return parse_query(raw_query)
    return dict(query or {})


def push_key(sms: InboundSms) -> str:
    """The stable key of a push: the same SMS pushed again gets the same key.

    SHA-256 of the JSON array ``[sender, recipient, received_raw, text]`` (UTF-8, no escaping of
    non-ASCII), first 32 hex characters. JSON makes the fields unambiguous whatever they contain.
    """
    material = json.dumps(
        [sms.sender, sms.recipient, sms.received_raw, sms.text], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:PUSH_KEY_LENGTH]


def normalize_keyword(text: str) -> str:
    """``text`` reduced for keyword comparison.

    Compatibility forms folded (NFKC: Arabic presentation forms, full-width Latin), case folded,
    Persian/Arabic-Indic digits made ASCII, invisible marks (ZWNJ, ZWJ, bidi marks) and kashida
    dropped, Arabic ``ي``/``ى``/``ك`` read as Persian ``ی``/``ک``, every whitespace removed and
    punctuation trimmed from both ends: ``« لغـو ۱۱ »`` and ``لغو11`` are the same keyword.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = to_ascii_digits(folded).translate(_PERSIAN_LETTERS).replace(_TATWEEL, "")
    compact = "".join(char for char in folded if not char.isspace())
    return compact.strip(_EDGE_PUNCTUATION)


def normalize_keywords(keywords: Iterable[str]) -> frozenset[str]:
    return frozenset(word for word in map(normalize_keyword, keywords) if word)


def is_opt_out(text: str, keywords: Iterable[str]) -> bool:
    """True when the whole of ``text`` is one of ``keywords`` (both normalised alike)."""
    return bool(keywords) and normalize_keyword(text) in normalize_keywords(keywords)


def keyword_of(text: str, opt_out: frozenset[str], opt_in: frozenset[str]) -> Keyword | None:
    """``opt_out``, ``opt_in`` or None; keyword sets must already be normalised. Opt-out wins a tie."""
    word = normalize_keyword(text)
    if not word:
        return None
    if word in opt_out:
        return OPT_OUT
    if word in opt_in:
        return OPT_IN
    return None


# -- the service -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InboundPolicy:
    """The receive function's settings, as the domain needs them."""

    retention: timedelta  # how long inbound SMS and opt-in tombstones are kept
    opt_out_keywords: Iterable[str]
    opt_in_keywords: Iterable[str]
    allowed_sources: Collection[Network] = ()  # empty: any source (the token still decides)


class InboundService:
    def __init__(
        self,
        *,
        store: InboundStore,
        policy: InboundPolicy,
        clock: Callable[[], datetime],
        expected_token: Callable[[], str],
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._retention = policy.retention
        self._opt_out = normalize_keywords(policy.opt_out_keywords)
        self._opt_in = normalize_keywords(policy.opt_in_keywords)
        self._expected_token = expected_token
        self._allowed_sources = tuple(policy.allowed_sources)
        self._metrics = metrics or NoMetrics()

    def handle(self, request: InboundRequest) -> Receipt:
        """Check, parse and store one push (see the module's docstring for the order)."""
        check_size(request.raw_query, request.body, body_is_base64=request.body_is_base64)
        if not source_allowed(request.source_ip, self._allowed_sources):
            self._refuse("source not allowed", request)
        if not token_matches(request.token, self._expected_token()):
            self._refuse("wrong token", request)
        return self.receive(parse_inbound(read_params(request.raw_query, request.query)))

    def _refuse(self, why: str, request: InboundRequest) -> None:
        logger.warning("inbound push refused: %s", why, extra={"source_ip": request.source_ip})
        self._metrics.add_metric(name="InboundForbidden", unit="Count", value=1)
        raise Forbidden(why)

    def receive(self, sms: InboundSms) -> Receipt:
        """Apply the keyword of ``sms`` and store it once."""
        now = self._clock()
        inbound_id = push_key(sms)
        keyword = keyword_of(sms.text, self._opt_out, self._opt_in)
        record = InboundRecord(
            inbound_id=inbound_id,
            sender=sms.sender,
            recipient=sms.recipient,
            text=sms.text,
            received_at=sms.received_at,
            provider_time=sms.received_raw,
            created_at=now,
            expires_at=now + self._retention,
            keyword=keyword,
        )
        log = {"inbound_id": inbound_id, "from": sms.sender, "to": sms.recipient, "keyword": keyword}
        # The keyword first (idempotent, ordered by receive time), then the item: its creation is the
        # one write that publishes ``SMS Received`` (through the table's stream), so once it exists
        # everything this push asked for is done.
        self._apply_keyword(sms, keyword)
        if not self._store.create(record):
            logger.info("duplicate push: already stored", extra=log)
            self._metrics.add_metric(name="DuplicatePushes", unit="Count", value=1)
            return Receipt(inbound_id, duplicate=True, keyword=keyword)
        logger.info("sms received", extra=log)
        self._metrics.add_metric(name="Received", unit="Count", value=1)
        return Receipt(inbound_id, duplicate=False, keyword=keyword)

    def _apply_keyword(self, sms: InboundSms, keyword: Keyword | None) -> None:
        if keyword == OPT_OUT:
            self._store.opt_out(sms.sender, normalize_keyword(sms.text), sms.received_at)
            self._metrics.add_metric(name="OptOuts", unit="Count", value=1)
        elif keyword == OPT_IN:
            self._store.opt_in(
                sms.sender, normalize_keyword(sms.text), sms.received_at, self._clock() + self._retention
            )
            self._metrics.add_metric(name="OptIns", unit="Count", value=1)
