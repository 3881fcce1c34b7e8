"""Moved to :mod:`emulator.template`. This module only keeps the old import path working for the unit tests on
main (``tests/unit``), which this branch may not edit; remove it once they import ``emulator.template``."""

from emulator.template import Stack, load_template, parameter_values

__all__ = ["Stack", "load_template", "parameter_values"]
