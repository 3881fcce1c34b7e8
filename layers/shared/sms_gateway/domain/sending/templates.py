"""Template requests before any call: is the template one the account may send, with every
parameter it names?

The poll function lists the account's templates at most every few minutes and stores the list
(:meth:`~sms_gateway.domain.ports.TrackingStore.record_templates`); here that list is read once a
minute at most, and only when a batch holds a template request; it only ever allows. Before a
refusal Asanak's own list is asked for (at most once a minute; its answer stands for five), since a
template may have been approved or changed since the poll function listed them. A request whose
template is not listed (or not active), or that leaves out a parameter the list names, is then
rejected ``invalid_template`` before any provider call; one sent to a stack on v1rest (no
templates) is rejected ``template_unsupported``. No list (the poll function has not run, or
``templatelist`` fails) checks nothing: Asanak decides, and its 1001 is a ``provider_rejected``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from asanak.templates import Template, missing_params

from sms_gateway.domain.events import Reason
from sms_gateway.domain.ports import MessageStore, SmsProvider
from sms_gateway.domain.provider_failures import ProviderFailure
from sms_gateway.domain.sending.requests import SmsRequest, TemplateRef

CATALOG_MAX_AGE = timedelta(
    minutes=1
)  # the stored list is read again after this; Asanak asked at most so often
FRESH_FOR = timedelta(minutes=5)  # Asanak's own answer stands for this long (the poll function's interval)


class TemplateCatalog:
    """Which templates the account may send, for the send path (shared by the warm invocations).

    The stored list (the poll function's) is read at most once a minute. It only ever *allows*: a
    refusal needs Asanak's own word of the last minute (``templatelist``, asked at most once a
    minute), and that answer then stands for :data:`FRESH_FOR`. When Asanak cannot be asked, nothing
    is refused: Asanak decides on the call itself. Calls come from the preparation threads: one lock.
    """

    def __init__(self, store: MessageStore, provider: SmsProvider, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._provider = provider
        self._clock = clock
        self._lock = threading.Lock()
        self._stored: dict[str, Template] | None = None
        self._read_at: datetime | None = None
        self._fresh: dict[str, Template] | None = None  # Asanak's answer (None: never, or it failed)
        self._asked_at: datetime | None = None

    def problem(self, template: TemplateRef) -> str | None:
        """Why the account's templates refuse ``template``, or None (it fits, or it cannot be told)."""
        with self._lock:
            now = self._clock()
            known = self._current(now)
            if known is None or _problem(known.get(template.template_id), template.values) is None:
                return None
            asked = self._ask(now)
            return None if asked is None else _problem(asked.get(template.template_id), template.values)

    def _current(self, now: datetime) -> dict[str, Template] | None:
        if self._fresh is not None and not _older(self._asked_at, now, FRESH_FOR):
            return self._fresh
        if _older(self._read_at, now, CATALOG_MAX_AGE):
            listed = self._store.templates()
            self._stored = None if listed is None else {t.template_id: t for t in listed}
            self._read_at = now
        return self._stored

    def _ask(self, now: datetime) -> dict[str, Template] | None:
        """Asanak's list of this minute: asked now unless asked within the minute (then that answer,
        or None when it failed)."""
        if _older(self._asked_at, now, CATALOG_MAX_AGE):
            self._asked_at = now
            try:
                self._fresh = {t.template_id: t for t in self._provider.template_list()}
            except ProviderFailure:  # a stale list must not refuse what may be approved
                self._fresh = None
        return self._fresh


def _older(since: datetime | None, now: datetime, age: timedelta) -> bool:
    return since is None or now - since >= age or now < since


def refusal(
    request: SmsRequest, *, provider_has_templates: bool, catalog: TemplateCatalog
) -> tuple[str, str] | None:
    """Why ``request`` cannot be sent as a template — ``(reason, message)`` — or None."""
    template = request.template
    if template is None:
        return None
    if not provider_has_templates:
        return (
            Reason.TEMPLATE_UNSUPPORTED,
            "templates are sent through Asanak's v2rest API; this stack's AsanakBaseUrl is v1rest",
        )
    problem = catalog.problem(template)
    if problem is None:
        return None
    return Reason.INVALID_TEMPLATE, f"template {template.template_id} {problem}; nothing was sent"


def _problem(listed: Template | None, values: dict[str, str]) -> str | None:
    if listed is None:
        return "is not in the account's template list"
    if not listed.active:
        return "is not active"
    missing = missing_params(listed, values)
    if missing:
        return f"needs parameter(s) {', '.join(missing)}"
    return None
