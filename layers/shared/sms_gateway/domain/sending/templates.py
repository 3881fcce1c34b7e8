"""Template requests before any call: is the template one the account may send, with every
parameter it names?

The poll function lists the account's templates at most every few minutes and stores the list
(:meth:`~sms_gateway.domain.ports.TrackingStore.record_templates`); here that list is read once a
minute at most, and only when a batch holds a template request. A template missing from it may have
been approved since: it is asked for once more, from the provider (at most once a minute), before
anything is refused. A request whose template is not listed (or not active), or that leaves out a
parameter the list names, is rejected ``invalid_template`` before any provider call; one sent to a
stack on v1rest (no templates) is rejected ``template_unsupported``. No list (the poll function has
not run, or ``templatelist`` fails) checks nothing: Asanak decides, and its 1001 is a
``provider_rejected``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from asanak.templates import Template, missing_params

from sms_gateway.domain.events import Reason
from sms_gateway.domain.ports import MessageStore, SmsProvider
from sms_gateway.domain.provider_failures import ProviderFailure
from sms_gateway.domain.sending.requests import SmsRequest

CATALOG_MAX_AGE = timedelta(minutes=1)


class TemplateCatalog:
    """The stored template list, cached for :data:`CATALOG_MAX_AGE` (shared by the warm invocations),
    and the provider's own list when the stored one lacks a template (at most once per that age)."""

    def __init__(self, store: MessageStore, provider: SmsProvider, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._provider = provider
        self._clock = clock
        self._lock = threading.Lock()
        self._read_at: datetime | None = None
        self._asked_at: datetime | None = None
        self._known: dict[str, Template] | None = None

    def _stale(self, since: datetime | None, now: datetime) -> bool:
        return since is None or now - since >= CATALOG_MAX_AGE or now < since

    def lookup(self, template_id: str) -> tuple[bool, Template | None]:
        """``(checked, template)``: the listed template, or None when not listed even by the provider
        just now; ``checked`` False when no list can be read (then nothing is checked)."""
        with self._lock:
            now = self._clock()
            if self._stale(self._read_at, now):
                listed = self._store.templates()
                self._known = None if listed is None else {t.template_id: t for t in listed}
                self._read_at = now
            if self._known is None:
                return False, None
            if template_id not in self._known and self._stale(self._asked_at, now):
                self._asked_at = now
                try:
                    self._known = {t.template_id: t for t in self._provider.template_list()}
                except ProviderFailure:  # a stale list must not refuse what may be approved
                    return False, None
            return True, self._known.get(template_id)


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
    checked, listed = catalog.lookup(template.template_id)
    if not checked:
        return None
    problem = _problem(listed, template.values)
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
