"""Approved templates (v2rest's ``template`` and ``templatelist``): what a template needs, and the
list as Asanak answers it.

Asanak does not document ``templatelist``'s shape; :func:`templates_of` reads the likely spellings
(``id``/``template_id``, ``params``/``parameters``/``variables`` or the ``%name%``/``{name}``
placeholders of ``content``/``text``/``message``, ``status``/``active``) and skips entries it cannot
read rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asanak._parse import ShapeError

_PLACEHOLDER = re.compile(r"%(\w+)%|\{\{?\s*(\w+)\s*\}?\}")
_INACTIVE = frozenset({"0", "false", "inactive", "disabled", "rejected", "pending", "deactive", "غیرفعال"})


@dataclass(frozen=True)
class Template:
    """One template of the account: its id (digits, as a string), the parameters it names and whether
    it may be sent. ``params`` is ``None`` when the list did not say (then none are checked)."""

    template_id: str
    title: str = ""
    params: tuple[str, ...] | None = None
    active: bool = True


def _first(entry: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if entry.get(name) is not None:
            return entry[name]
    return None


def _params(entry: Mapping[str, Any]) -> tuple[str, ...] | None:
    named = _first(entry, "params", "parameters", "variables", "vars")
    if isinstance(named, Mapping):
        return tuple(str(name) for name in named)
    if isinstance(named, list):
        return tuple(str(name) for name in named if isinstance(name, str | int))
    content = _first(entry, "content", "text", "message", "body")
    if isinstance(content, str):
        return tuple(dict.fromkeys(a or b for a, b in _PLACEHOLDER.findall(content)))
    return None


def _active(entry: Mapping[str, Any]) -> bool:
    flag = _first(entry, "active", "is_active", "status", "state")
    if flag is None:
        return True
    return str(flag).strip().casefold() not in _INACTIVE


def template_of(entry: Any) -> Template | None:
    """One list entry, or None when it names no template id."""
    if not isinstance(entry, Mapping):
        return None
    lowered = {str(key).lower(): value for key, value in entry.items()}
    raw_id = _first(lowered, "id", "template_id", "templateid", "template")
    if isinstance(raw_id, bool) or not str(raw_id or "").strip().isdigit():
        return None
    title = _first(lowered, "title", "name")
    return Template(str(int(str(raw_id).strip())), str(title or ""), _params(lowered), _active(lowered))


def templates_of(value: Any) -> list[Template]:
    """The templates of a loaded ``templatelist`` answer (v2's ``data``: a list, or an object holding
    one under ``templates``/``list``/``items``)."""
    if isinstance(value, Mapping):
        lowered = {str(key).lower(): item for key, item in value.items()}
        inner = _first(lowered, "templates", "list", "items", "data")
        if inner is None and lowered:  # an object of another shape: never read as "no templates"
            raise ShapeError(f"templatelist object without a list of templates: {sorted(lowered)[:5]}")
        value = inner or []
    if not isinstance(value, list):
        raise ShapeError(f"unexpected JSON {type(value).__name__} for templatelist")
    listed = [template for template in map(template_of, value) if template is not None]
    if value and not listed:  # entries, none readable: another shape, not an empty account
        raise ShapeError("templatelist entries without a readable template id")
    return listed


def missing_params(template: Template, values: Mapping[str, Any]) -> list[str]:
    """The parameters ``template`` names that ``values`` does not give (empty text counts as missing)."""
    if template.params is None:
        return []
    return [name for name in template.params if str(values.get(name, "")).strip() == ""]
