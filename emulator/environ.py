"""Changes to ``os.environ`` that can be undone: what a harness sets for the functions it runs."""

from __future__ import annotations

import os
from collections.abc import Mapping


class Environ:
    """Set (a value) or unset (``None``) variables of this process, and put them back as they were."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def apply(self, values: Mapping[str, str | None]) -> None:
        for name, value in values.items():
            self._saved.setdefault(name, os.environ.get(name))
            set_variable(name, value)

    def restore(self) -> None:
        for name, value in self._saved.items():
            set_variable(name, value)
        self._saved.clear()


def set_variable(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
