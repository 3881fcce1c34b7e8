"""Moved to :mod:`emulator.triggers.stream`. This module only keeps the old import path working for
the unit tests on main (``tests/unit``), which this branch may not edit; remove it once they import
``emulator.triggers.stream``."""

from emulator.triggers.stream import StreamTrigger

__all__ = ["StreamTrigger"]
